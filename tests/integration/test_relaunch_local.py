"""Issue 2 acceptance on this host: a real process with the seeds' tricky args is
read back by process_args through ansible-playbook, relaunched for real under
Debian's dlv from the rendered shell line, and receives a byte-identical argv."""

import os
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import free_port, kill_tree, run_play


def wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.1)
    raise AssertionError("%s did not appear within %d s" % (path, timeout))


def tracer_of(pid):
    """The process (thread group) tracing pid: TracerPid names the tracing thread."""
    def field(p, name):
        with open("/proc/%d/status" % p) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        return 0
    tid = field(pid, "TracerPid")
    return field(tid, "Tgid") if tid else 0


@pytest.fixture
def started(tmp_path):
    procs = []

    def start(binary, args, out_name):
        out = str(tmp_path / out_name)
        p = subprocess.Popen([binary] + args, env=dict(os.environ, ARGVPRINT_OUT=out), start_new_session=True)
        procs.append(p)
        wait_for(out)
        return p, out

    yield start
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


READ_AND_RENDER = [
    {"name": "Read", "kubedebug.lab.process_args": {"name": "{{ comp }}"}, "register": "proc"},
    {"name": "Render", "register": "dlv",
     "kubedebug.lab.dlv_command": {"process": "{{ proc.process }}", "listen": "127.0.0.1:{{ port }}", "ssh_destination": "root@node1"}},
]


@pytest.mark.parametrize("component", ["kube-apiserver", "kubelet"])
def test_real_process_relaunched_under_dlv_gets_identical_argv(tmp_path, argvprint_dir, seed_args, started, component):
    bindir, tag = argvprint_dir
    name = {"kube-apiserver": "kdbg-apiserver-", "kubelet": "kdbg-kubelet-"}[component] + tag
    binary = str(bindir / name)
    args = seed_args[component]
    orig = started(binary, args, "orig.argv")[0]
    with open("/proc/%d/cmdline" % orig.pid, "rb") as f:
        orig_cmdline = f.read()
    assert orig_cmdline == b"".join(a.encode() + b"\0" for a in [binary] + args)

    port = free_port()
    res = run_play(tmp_path, READ_AND_RENDER, {"comp": name, "port": port, "kdbg_dump": ["proc", "dlv"]})[2]
    proc, dlv = res["proc"], res["dlv"]
    assert proc["process"]["pid"] == orig.pid
    assert proc["argv"] == [binary] + args
    assert dlv["listen"] == "127.0.0.1:%d" % port and dlv["exposure"] == "loopback"
    assert dlv["ssh_tunnel_command"] == "ssh -N -L %d:127.0.0.1:%d root@node1" % (port, port)
    assert dlv["argv"][-len(args) - 1:] == ["--"] + args
    assert os.path.isabs(dlv["argv"][0])  # dlv resolved on the host, usable in systemd too
    assert dlv["systemd"]

    # Launch the rendered shell line for real: dlv exec ... --continue runs the target.
    debug_out = str(tmp_path / "debug.argv")
    shell = subprocess.Popen(["bash", "-c", "exec " + dlv["shell"]], env=dict(os.environ, ARGVPRINT_OUT=debug_out),
                             start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(debug_out)
        with open(debug_out, "rb") as f:
            assert f.read() == orig_cmdline, "the target under dlv received a different argv"
        # It really runs under the debugger: its tracer is the dlv we started.
        # (dlv forks the target from its ptrace thread: read every thread's children)
        children = [int(p) for t in os.listdir("/proc/%d/task" % shell.pid)
                    for p in open("/proc/%d/task/%s/children" % (shell.pid, t)).read().split()]
        assert len(children) == 1
        assert tracer_of(children[0]) == shell.pid
        with open("/proc/%d/cmdline" % children[0], "rb") as f:
            assert f.read() == orig_cmdline
    finally:
        kill_tree(shell.pid)
        shell.wait()


BAD = [
    ("no_such", {"kubedebug.lab.process_args": {"name": "kdbg-no-such-component"}}),
    ("several", {"kubedebug.lab.process_args": {"name": "{{ twin }}"}}),
    ("dead_pid", {"kubedebug.lab.process_args": {"pid": "{{ dead_pid }}"}}),
    ("vanished", {"kubedebug.lab.process_args": {"name": "kube-apiserver", "proc_path": "{{ vanished_proc }}"}}),
    ("kthread", {"kubedebug.lab.process_args": {"pid": 7, "proc_path": "{{ kthread_proc }}"}}),
    ("bad_regex", {"kubedebug.lab.process_args": {"pattern": "kube-apiserver("}}),
    ("non_go", {"kubedebug.lab.dlv_command": {"argv": ["/bin/sleep", "1"]}}),
    ("stripped", {"kubedebug.lab.dlv_command": {"argv": ["{{ stripped }}", "--v=2"]}}),
    ("listen", {"kubedebug.lab.dlv_command": {"argv": ["{{ debug }}"], "listen": "2345"}}),
    ("no_dlv", {"kubedebug.lab.dlv_command": {"argv": ["{{ debug }}"], "dlv_path": "dlv-not-installed"}}),
    ("both", {"kubedebug.lab.process_args": {"name": "a", "pid": 1}}),
]


def test_bad_input_fails_clearly(tmp_path, argvprint_dir, started):
    bindir, tag = argvprint_dir
    twin = "kdbg-twin-" + tag
    started(str(bindir / twin), ["--one"], "t1.argv")
    started(str(bindir / twin), ["--two"], "t2.argv")
    dead = subprocess.Popen(["true"])
    dead.wait()
    # A proc tree where the process is listed but gone before it could be read.
    vanished = tmp_path / "vproc" / "4242"
    vanished.mkdir(parents=True)
    (vanished / "comm").write_text("kube-apiserver\n")
    (vanished / "cmdline").write_bytes(b"/usr/bin/kube-apiserver\0")
    os.symlink("/usr/bin/kube-apiserver", vanished / "exe")
    # A kernel thread: empty cmdline.
    kt = tmp_path / "kproc" / "7"
    kt.mkdir(parents=True)
    (kt / "cmdline").write_bytes(b"")
    (kt / "status").write_text("Name:\tkworker/0:1\nState:\tI (idle)\nPPid:\t2\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n")
    (kt / "stat").write_text("7 (kworker/0:1) I 2 " + " ".join(["0"] * 17) + " 5 0\n")
    (kt / "cgroup").write_text("0::/\n")
    os.symlink("/", kt / "cwd")

    tasks = [dict(task, name=key, register="bad_" + key, ignore_errors=True) for key, task in BAD]
    rc_, output, res = run_play(tmp_path, tasks, {
        "twin": twin, "dead_pid": dead.pid, "vanished_proc": str(tmp_path / "vproc"), "kthread_proc": str(tmp_path / "kproc"),
        "stripped": str(bindir / ("kdbg-stripped-" + tag)), "debug": str(bindir / ("kdbg-apiserver-" + tag)), "kdbg_dump": ["bad_" + key for key, _task in BAD],
    })
    expect = {
        "no_such": "no running process matches name=kdbg-no-such-component",
        "several": "2 processes match",
        "dead_pid": "no running process has pid %d" % dead.pid,
        "vanished": "exited while being read",
        "kthread": "kernel thread",
        "bad_regex": "not a valid regular expression",
        "non_go": "not a Go binary",
        "stripped": "no DWARF debug info",
        "listen": "not host:port",
        "no_dlv": "is not installed",
        "both": "mutually exclusive",
    }
    for key, text in expect.items():
        r = res["bad_" + key]
        assert r.get("failed"), (key, r)
        assert text in r["msg"], (key, r["msg"])
        # ansible-core 2.19 always sets "exception"; a real one carries a traceback
        assert "Traceback" not in r.get("exception", "") and "module_stderr" not in r, (key, r)
    assert len(res["bad_several"]["matches"]) == 2
    assert "pick: newest" in res["bad_several"]["msg"]
    assert "kubedebug.lab.delve" in res["bad_no_dlv"]["msg"]
    assert "k8s_build" in res["bad_stripped"]["msg"]
    assert "Traceback" not in output
