"""Process mode for real: a running component replaced by dlv running the debug
build with the same argv, environment and cwd; restored byte-identical."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import free_port, kill_tree, run_play


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return [e for e in f.read().split(b"\0") if e]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _lab(tmp_path, argvprint_dir, seed_args, extra_env=None):
    d, tag = argvprint_dir
    name = "kdbg-proc-" + tag
    work = tmp_path / "work"
    work.mkdir()
    env = {"PATH": os.environ["PATH"], "KDBG_SECRET": "s3cr3t $HOME %h", "ARGVPRINT_OUT": str(tmp_path / "orig.argv")}
    env.update(extra_env or {})
    p = subprocess.Popen([str(d / name)] + seed_args["kube-apiserver"], env=env, cwd=str(work), start_new_session=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(env["ARGVPRINT_OUT"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    vars_ = {
        "comp": name, "binary": str(d / ("kdbg-debugbuild-" + tag)), "state_dir": str(tmp_path / "state"), "log_dir": str(tmp_path / "log"),
        "port": free_port(), "v121": str(d / ("kdbg-v121-" + tag)),
    }
    info = {"pid": p.pid, "cmdline": cmdline(p.pid), "environ": environ(p.pid), "cwd": str(work), "vars": vars_, "tmp": tmp_path}
    yield info
    p.kill()
    p.wait()
    # Whatever the test left running under this name.
    for pid in [int(x) for x in os.listdir("/proc") if x.isdigit()]:
        try:
            if os.path.basename(os.readlink("/proc/%d/exe" % pid)).startswith(("kdbg-proc-", "kdbg-debugbuild-")) or (
                    b"--listen=127.0.0.1:%d" % vars_["port"]) in cmdline(pid):
                kill_tree(pid)
        except OSError:
            pass


@pytest.fixture
def lab(tmp_path, argvprint_dir, seed_args):
    yield from _lab(tmp_path, argvprint_dir, seed_args)


@pytest.fixture
def serving_lab(tmp_path, argvprint_dir, seed_args):
    """The stand-in serves a port and, on SIGTERM, closes it first and takes 3 s more to exit (as an
    apiserver's graceful shutdown does)."""
    port = free_port()
    yield from _lab(tmp_path, argvprint_dir, seed_args, {"ARGVPRINT_LISTEN": "127.0.0.1:%d" % port, "ARGVPRINT_LINGER": "3s"})


DEBUG = {"kubedebug.lab.debug_process": {
    "component": "{{ comp }}", "name": "{{ comp }}", "binary": "{{ binary }}", "supervisor": "detached",
    "state_dir": "{{ state_dir }}", "log_dir": "{{ log_dir }}", "listen": "127.0.0.1:{{ port }}"}}
RESTORE = {"kubedebug.lab.debug_process": {
    "component": "{{ comp }}", "state": "restored", "supervisor": "detached", "state_dir": "{{ state_dir }}", "log_dir": "{{ log_dir }}"}}


def test_debug_then_restore_round_trip(tmp_path, lab):
    v = lab["vars"]
    tasks = [
        dict(DEBUG, name="Debug", register="first"),
        dict(DEBUG, name="Debug again", register="second"),
        {"name": "Breakpoint", "register": "bp",
         "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:{{ port }}", "function": "main.tick"}},
    ]
    res = run_play(tmp_path, tasks, dict(v, kdbg_dump=["first", "second", "bp"]))[2]
    first, second = res["first"], res["second"]
    assert first["changed"] and not second["changed"]
    assert first["stopped"] == "terminated" and not alive(lab["pid"])
    assert first["target_cmdline_identical"]
    target = first["target_pid"]
    assert cmdline(target) == (v["binary"].encode() + b"\0" + lab["cmdline"].split(b"\0", 1)[1])
    # dlv hands its own environment to the target; it adds only its cgo build flags.
    extra = set(environ(target)) - set(lab["environ"])
    assert set(lab["environ"]) <= set(environ(target)), set(lab["environ"]) - set(environ(target))
    assert {e.split(b"=", 1)[0] for e in extra} <= {b"CGO_CFLAGS", b"PWD"}, extra
    assert os.readlink("/proc/%d/cwd" % target) == lab["cwd"]
    assert second["target_pid"] == target and second["dlv_pid"] == first["dlv_pid"]
    assert "env" not in first["original"]  # the environment may hold secrets: never returned
    state = json.loads((tmp_path / "state" / (v["comp"] + ".json")).read_text())
    assert oct((tmp_path / "state" / (v["comp"] + ".json")).stat().st_mode & 0o777) == "0o600"
    assert "KDBG_SECRET=s3cr3t $HOME %h" in state["original"]["env"]
    assert res["bp"]["hit"] and res["bp"]["running_after"]

    res = run_play(tmp_path, [dict(RESTORE, name="Restore", register="r1"), dict(RESTORE, name="Restore again", register="r2")],
                   dict(v, kdbg_dump=["r1", "r2"]))[2]
    r1, r2 = res["r1"], res["r2"]
    assert r1["changed"] and r1["cmdline_identical"] and not r2["changed"]
    assert cmdline(r1["pid"]) == lab["cmdline"]  # byte-identical /proc/PID/cmdline
    assert sorted(environ(r1["pid"])) == sorted(lab["environ"])
    assert os.readlink("/proc/%d/cwd" % r1["pid"]) == lab["cwd"]
    assert not alive(first["dlv_pid"]) and not alive(target)
    assert not (tmp_path / "state" / (v["comp"] + ".json")).exists()


def test_refusals_touch_nothing(tmp_path, lab):
    v = lab["vars"]
    import socket
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cases = {
        "port_in_use": ({"listen": "127.0.0.1:%d" % busy.getsockname()[1]}, "already in use"),
        "version": ({"binary": v["v121"]}, "the debug binary %s is v1.21.0 but the running %s is v1.20.2" % (v["v121"], v["comp"])),
        "no_dlv": ({"dlv_path": "dlv-not-installed"}, "is not installed"),
        "no_binary": ({"binary": "/nonexistent/kube-apiserver"}, "does not exist or is not executable"),
        "nothing_running": ({"name": "kdbg-not-running"}, "no running process matches"),
    }
    tasks = []
    for key, (override, _msg) in cases.items():
        args = dict(DEBUG["kubedebug.lab.debug_process"], **override)
        tasks.append({"name": key, "register": "r_" + key, "ignore_errors": True, "kubedebug.lab.debug_process": args})
    res = run_play(tmp_path, tasks, dict(v, kdbg_dump=["r_" + k for k in cases]))[2]
    busy.close()
    for key, (_o, msg) in cases.items():
        r = res["r_" + key]
        assert r.get("failed") and msg in r["msg"], (key, r.get("msg"))
    # Nothing was stopped, nothing recorded.
    assert alive(lab["pid"]) and cmdline(lab["pid"]) == lab["cmdline"]
    assert not (tmp_path / "state" / (v["comp"] + ".json")).exists()


def test_target_crash_under_dlv_is_reported_and_restorable(tmp_path, lab):
    v = lab["vars"]
    res = run_play(tmp_path, [dict(DEBUG, name="Debug", register="d")], dict(v, kdbg_dump=["d"]))[2]
    target, dlv = res["d"]["target_pid"], res["d"]["dlv_pid"]
    os.kill(target, signal.SIGKILL)  # the component dies; dlv (--accept-multiclient) stays
    time.sleep(1)
    assert alive(dlv)
    res = run_play(tmp_path, [dict(DEBUG, name="Debug", register="d2", ignore_errors=True), dict(RESTORE, name="Restore", register="r")],
                   dict(v, kdbg_dump=["d2", "r"]))[2]
    assert res["d2"]["failed"] and res["d2"]["crashed"]
    assert "exited while running under dlv" in res["d2"]["msg"]
    assert res["r"]["changed"] and cmdline(res["r"]["pid"]) == lab["cmdline"]
    assert not alive(dlv)


def test_interrupted_run_is_restored(tmp_path, lab):
    """Ctrl-C while the module waits for dlv (the original already stopped): restore still brings the original back."""
    v = lab["vars"]
    pb = tmp_path / "debug.yml"
    pb.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [dict(DEBUG, name="Debug")]}]))
    evf = tmp_path / "v.json"
    evf.write_text(json.dumps(v))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(os.getcwd(), ".build", "collections"))
    import shutil
    p = subprocess.Popen(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + str(evf), "-e",
                          "ansible_python_interpreter=" + shutil.which("python3"), str(pb)],
                         start_new_session=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    state = tmp_path / "state" / (v["comp"] + ".json")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        # dlv starts before the original is stopped (it reads the binary meanwhile): wait for both.
        if state.exists() and json.loads(state.read_text()).get("debug") and not alive(lab["pid"]):
            break
        time.sleep(0.02)
    os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal does to the foreground group
    p.communicate(timeout=60)
    assert not alive(lab["pid"])  # the original had been stopped
    res = run_play(tmp_path, [dict(RESTORE, name="Restore", register="r")], dict(v, kdbg_dump=["r"]))[2]
    assert res["r"]["changed"] and cmdline(res["r"]["pid"]) == lab["cmdline"]
    assert not state.exists()


def test_run_interrupted_before_the_continue_is_finished(tmp_path, lab):
    """Interrupted after dlv started (target paused at its first instruction) but before the original was
    stopped: the next debug run stops the original and lets the target run; restore then works as usual."""
    from ansible_collections.kubedebug.lab.plugins.module_utils import _files
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv as _dlv
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise

    v = lab["vars"]
    running = _procfs.read_process(lab["pid"])
    original = {"argv": running["argv"], "exe": running["exe"], "cwd": running["cwd"], "env": _supervise.read_environ(lab["pid"]),
                "uid": running["uid"], "gid": running["gid"], "pid": lab["pid"], "start_ticks": running["start_ticks"]}
    launch = _dlv.build_dlv_argv(v["binary"], original["argv"][1:], listen="127.0.0.1:%d" % v["port"], continue_after_start=False)["argv"]
    sup = _relaunch.Supervisor("detached", None, v["state_dir"], v["log_dir"])
    os.makedirs(v["state_dir"])
    state_path = os.path.join(v["state_dir"], v["comp"] + ".json")
    record = {"component": v["comp"], "mode": "process", "original": original, "dlv_argv": launch, "debug": None, "continue_pending": True}
    _files.write_state(state_path, record)
    record["debug"] = sup.start(v["comp"], launch, original["env"], original["cwd"], original["uid"], original["gid"])
    _files.write_state(state_path, record)  # ... and here the run was interrupted
    assert _supervise.wait_listening(v["port"], 60, record["debug"]["pid"])
    res = run_play(tmp_path, [dict(DEBUG, name="Debug", register="d"), dict(DEBUG, name="Debug again", register="d2")],
                   dict(v, kdbg_dump=["d", "d2"]))[2]
    d = res["d"]
    assert d["changed"] and "interrupted relaunch was finished" in d["msg"], d
    assert d["stopped"] == "terminated" and not alive(lab["pid"])
    assert _relaunch.traced_stop(d["target_pid"]) is False  # running, not paused
    assert not res["d2"]["changed"] and res["d2"]["target_pid"] == d["target_pid"]
    assert "continue_pending" not in json.loads(open(state_path).read())
    res = run_play(tmp_path, [dict(RESTORE, name="Restore", register="r")], dict(v, kdbg_dump=["r"]))[2]
    assert res["r"]["changed"] and cmdline(res["r"]["pid"]) == lab["cmdline"]
    assert not alive(d["dlv_pid"]) and not alive(d["target_pid"])


def listening_pids(port):
    out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % port], capture_output=True, text=True, check=False).stdout
    return sorted({int(x) for x in __import__("re").findall(r"pid=(\d+)", out)})


@pytest.mark.parametrize("continue_when", ["released", "exited"])
def test_target_runs_once_the_original_released_its_port(tmp_path, serving_lab, continue_when):
    """continue_when=released: the target under dlv runs (and binds the very port) as soon as the original has
    closed its listener, while the original still shuts down for 3 s; the module returns only after the
    original has exited. continue_when=exited waits the 3 s first."""
    v = serving_lab["vars"]
    port = int(dict(e.split(b"=", 1) for e in serving_lab["environ"])[b"ARGVPRINT_LISTEN"].rsplit(b":", 1)[1])
    assert listening_pids(port) == [serving_lab["pid"]]
    task = {"kubedebug.lab.debug_process": dict(DEBUG["kubedebug.lab.debug_process"], continue_when=continue_when)}
    res = run_play(tmp_path, [dict(task, name="Debug", register="d")], dict(v, kdbg_dump=["d"]))[2]
    d = res["d"]
    t = d["timings"]
    assert d["stopped"] == "terminated" and not alive(serving_lab["pid"])
    assert d["target_cmdline_identical"]
    # The target under dlv serves the original's port (it exits 1 when the port is taken).
    deadline = time.monotonic() + 30
    while listening_pids(port) != [d["target_pid"]] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listening_pids(port) == [d["target_pid"]] and alive(d["target_pid"])
    if continue_when == "released":
        assert t["original_released"] < t["target_running"] < t["original_stopped"], t
        assert t["original_stopped"] - t["original_released"] > 2.0, t  # the original lingered while the target ran
    else:
        assert "original_released" not in t and t["original_stopped"] < t["target_running"], t
        assert t["original_stopped"] - t["dlv_started"] > 2.5, t
    res = run_play(tmp_path, [dict(RESTORE, name="Restore", register="r")], dict(v, kdbg_dump=["r"]))[2]
    assert res["r"]["changed"] and cmdline(res["r"]["pid"]) == serving_lab["cmdline"]
    deadline = time.monotonic() + 30
    while listening_pids(port) != [res["r"]["pid"]] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listening_pids(port) == [res["r"]["pid"]]


def test_released_without_listeners_waits_for_the_exit(tmp_path, lab):
    """An original that listens on nothing: continue_when=released waits for its exit like exited does."""
    v = lab["vars"]
    task = {"kubedebug.lab.debug_process": dict(DEBUG["kubedebug.lab.debug_process"], continue_when="released")}
    d = run_play(tmp_path, [dict(task, name="Debug", register="d")], dict(v, kdbg_dump=["d"]))[2]["d"]
    assert d["stopped"] == "terminated" and "original_released" not in d["timings"]
    assert d["timings"]["original_stopped"] < d["timings"]["target_running"]
    run_play(tmp_path, [dict(RESTORE, name="Restore")], v)


SESSION = {"kubedebug.lab.debug_session": {
    "component": "{{ comp }}", "selector": {"name": "{{ comp }}"}, "binary": "{{ binary }}", "supervisor": "detached",
    "state_dir": "{{ state_dir }}", "log_dir": "{{ log_dir }}", "listen": "127.0.0.1:{{ port }}", "manifest_dir": "{{ state_dir }}/manifests"}}


def test_debug_session_does_process_mode_with_check_diff_and_journal(tmp_path, lab):
    """debug_session (the role's first step): check mode changes nothing and shows the diff; the real run
    relaunches and notes the journal; a second run changes nothing; restore brings back the original and
    removes the journal with its last session."""
    v = lab["vars"]
    journal = tmp_path / "state" / "journal.json"
    check = dict(SESSION, name="Check", register="c", check_mode=True, diff=True)
    res = run_play(tmp_path, [check], dict(v, kdbg_dump=["c"]))[2]["c"]
    assert res["changed"] and res["handled"] and res["mode"] == "process"
    assert res["process"]["pid"] == lab["pid"] and alive(lab["pid"])
    assert not (tmp_path / "state" / (v["comp"] + ".json")).exists() and not journal.exists()
    diffs = res["diff"]
    assert "--listen=127.0.0.1:%d" % v["port"] in diffs[0]["after"] and diffs[1]["before"] == "" and v["comp"] in diffs[1]["after"]
    res = run_play(tmp_path, [dict(SESSION, name="Debug", register="d"), dict(SESSION, name="Again", register="d2")],
                   dict(v, kdbg_dump=["d", "d2"]))[2]
    d, d2 = res["d"], res["d2"]
    assert d["changed"] and d["handled"] and d["target_cmdline_identical"] and not alive(lab["pid"])
    assert d["main_package_dir"] and d["ide_remote"] == {"host": "127.0.0.1", "port": v["port"]}
    assert not d2["changed"] and d2["target_pid"] == d["target_pid"]
    assert json.loads(journal.read_text())["sessions"] == [{"component": v["comp"], "mode": "process"}]
    restore = {"kubedebug.lab.debug_session": dict(SESSION["kubedebug.lab.debug_session"], state="restored")}
    res = run_play(tmp_path, [dict(restore, name="Restore", register="r"), dict(restore, name="Restore again", register="r2")],
                   dict(v, kdbg_dump=["r", "r2"]))[2]
    assert res["r"]["changed"] and res["r"]["handled"] and cmdline(res["r"]["pid"]) == lab["cmdline"]
    assert not res["r2"]["changed"] and not res["r2"]["handled"]
    assert not journal.exists() and not (tmp_path / "state" / (v["comp"] + ".json")).exists()


def test_restore_does_not_keep_an_original_that_was_told_to_stop(tmp_path, serving_lab):
    """A run interrupted after the original was told to stop (it still drains, 3 s here): restore must not take
    the dying original for the restored one; it lets it end and starts the original afresh."""
    from ansible_collections.kubedebug.lab.plugins.module_utils import _files
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch
    from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise

    v = serving_lab["vars"]
    running = _procfs.read_process(serving_lab["pid"])
    original = {"argv": running["argv"], "exe": running["exe"], "cwd": running["cwd"], "env": _supervise.read_environ(serving_lab["pid"]),
                "uid": running["uid"], "gid": running["gid"], "pid": serving_lab["pid"], "start_ticks": running["start_ticks"]}
    os.makedirs(v["state_dir"])
    state_path = os.path.join(v["state_dir"], v["comp"] + ".json")
    _files.write_state(state_path, {"component": v["comp"], "mode": "process", "original": original, "dlv_argv": [],
                                    "debug": {"kind": "detached", "pid": 0}, "continue_pending": True, "original_stopping": True})
    os.kill(serving_lab["pid"], signal.SIGTERM)  # ... and here the run was interrupted
    assert _relaunch.find_exact(original["argv"]) == serving_lab["pid"]  # still there, draining
    r = run_play(tmp_path, [dict(RESTORE, name="Restore", register="r")], dict(v, kdbg_dump=["r"]))[2]["r"]
    assert r["changed"] and r["pid"] != serving_lab["pid"] and not alive(serving_lab["pid"])
    assert cmdline(r["pid"]) == serving_lab["cmdline"]
    time.sleep(1)
    assert alive(r["pid"]) and not os.path.exists(state_path)
