# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Process mode: replace a running component with the same argv under dlv, and back.

Order of operations for ``debug`` (each step only after the previous held):
  1. read the running process exactly (argv, exe, cwd, environment, user);
  2. refuse early (port in use, already traced, version mismatch) - nothing touched yet;
  3. write the state record (the original, in full) atomically;
  4. start dlv, the target paused at its first instruction, and stop the original
     meanwhile (or, when dlv cannot be continued from here, stop first, then start dlv);
  5. let the target run once the original has exited (or has released its
     listening sockets, continue_when=released), then wait for the original's exit;
  6. if dlv or the target did not come up, start the original again from the
     record and fail with dlv's log.
``restore`` stops dlv and its target, starts the original from the record with
the same argv[0..n], executable, cwd, environment and user, checks its
/proc/PID/cmdline, and only then removes the record.

Supervision is injected (``Supervisor`` below) so the systemd and detached
paths share this logic.
"""

from __future__ import annotations

import os
import re
import signal
import time

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as _debuginfo
from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf
from ansible_collections.kubedebug.lab.plugins.module_utils._build import goversion as _goversion
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as _k8stree
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv_rpc as _dlv_rpc
from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._process.argv import to_shell, to_systemd, to_systemd_environment
from ansible_collections.kubedebug.lab.plugins.module_utils._process.dlv import DLV_ARG_SPEC, attach_commands, build_dlv_argv, parse_listen, resolve_dlv_path
from ansible_collections.kubedebug.lab.plugins.module_utils._session import model as _session

_VERSION = re.compile(r"Kubernetes (v\d+\.\d+\.\d+\S*)")
VERSION_VAR = "k8s.io/component-base/version.gitVersion"


def kube_version(exe, run):
    """The Kubernetes version a component binary reports (``v1.20.2``), or None.

    Read from the binary (the string ``-ldflags -X`` set in .../version.gitVersion, what ``--version``
    prints) when it has a symbol table: no need to run a 150 MB binary whose package initialisation
    takes a noticeable part of a second. Stripped binaries are asked: ``run([exe, "--version"])``.
    """
    try:
        with _elf.ElfFile(exe) as elf:
            version = elf.go_string_var(VERSION_VAR)
    except (KubedebugError, _elf.ElfFormatError, OSError):
        version = None
    if version and _VERSION.match("Kubernetes " + version):
        return version
    rc, out, err = run([exe, "--version"])
    m = _VERSION.search(out + err) if rc == 0 else None
    return m.group(1) if m else None


def go_of(exe):
    """The Go release that built exe (``1.26.10``, from its .go.buildinfo), or None."""
    try:
        with _elf.ElfFile(exe) as elf:
            version, _mod = _debuginfo.read_buildinfo(elf)
        return str(_goversion.GoVersion.parse((version or "").split()[0]))
    except (KubedebugError, _elf.ElfFormatError, OSError, IndexError, ValueError):
        return None


def check_dlv(dlv, binary, run):
    """Fail now, before anything is stopped, when dlv cannot debug binary (its Delve release, or the Go that built
    dlv, against the Go that built binary). What cannot be read is left to dlv."""
    if not os.path.isabs(dlv):
        return
    rc, out, _err = run([dlv, "version"])
    delve = _k8stree.parse_dlv_version(out) if rc == 0 else None
    _goversion.check_dlv_for_program(dlv, _goversion.delve_str(delve[:3]) if delve else None, go_of(dlv), binary, go_of(binary))


def unit_name(component):
    return "kubedebug-%s.service" % "".join(c if c.isalnum() or c in "-_." else "-" for c in component)


def render_unit(component, dlv_argv, env, cwd, uid, gid):
    """A systemd unit running dlv_argv with the original environment, cwd and user."""
    lines = [
        "# Written by kubedebug.lab: %s under dlv. Removed by the restore step." % component,
        "[Unit]",
        "Description=kubedebug: %s under dlv" % component,
        "",
        "[Service]",
        "Type=simple",
        "WorkingDirectory=%s" % (cwd or "/").replace("%", "%%"),
    ]
    if uid not in (None, 0):
        lines.append("User=%d" % uid)
    if gid not in (None, 0):
        lines.append("Group=%d" % gid)
    for assignment in env:
        lines.append("Environment=%s" % to_systemd_environment([assignment]))
    lines += ["ExecStart=%s" % to_systemd(dlv_argv), "Restart=no", ""]
    return "\n".join(lines)


#: golang.org/x/telemetry re-executes the program it runs in as ``PROGRAM "** telemetry **"`` (crash reports,
#: uploads) for as long as the program runs. Delve >= 1.24 starts it unless Go telemetry is off: such a dlv has
#: two children, that one (forked first) and the target.
TELEMETRY_CHILD_ARG = b"** telemetry **"


def is_telemetry_child(pid):
    """Is pid x/telemetry's child process (argv[1] is its marker)?"""
    try:
        argv = cmdline_of(pid).split(b"\0")
    except OSError:
        return False
    return len(argv) > 1 and argv[1] == TELEMETRY_CHILD_ARG


def dlv_target(dlv_pid):
    """The process dlv runs (its child that is not x/telemetry's), or None."""
    kids = [k for k in _supervise.children(dlv_pid) if _supervise.alive(k) and not is_telemetry_child(k)]
    return kids[0] if kids else None


def cmdline_of(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def encode_argv(argv):
    return b"".join(a.encode("utf-8", "surrogateescape") + b"\0" for a in argv)


class Supervisor:
    """How dlv is started and stopped: a systemd unit or a detached process."""

    def __init__(self, kind, run, state_dir, log_dir, unit_dir="/run/systemd/system"):
        self.kind = kind  # "systemd" or "detached"
        self.run = run  # run(argv) -> (rc, out, err)
        self.state_dir = state_dir
        self.log_dir = log_dir
        self.unit_dir = unit_dir

    def _systemctl(self, *args, check=True):
        rc, out, err = self.run(["systemctl"] + list(args))
        if check and rc != 0:
            raise KubedebugError("systemctl %s failed: %s" % (" ".join(args), (err or out).strip()))
        return rc, out

    def start(self, component, dlv_argv, env, cwd, uid, gid):
        log = os.path.join(self.log_dir, "%s.dlv.log" % component)
        if self.kind == "systemd":
            unit = unit_name(component)
            path = os.path.join(self.unit_dir, unit)
            _files.atomic_write(path, render_unit(component, dlv_argv, env, cwd, uid, gid).encode("utf-8"), 0o644)
            self._systemctl("daemon-reload")
            self._systemctl("start", unit)
            _rc, out = self._systemctl("show", "-p", "MainPID", "--value", unit)
            return {"kind": "systemd", "unit": unit, "unit_path": path, "pid": int(out.strip() or 0), "log": "journalctl -u %s" % unit}
        pidfile = os.path.join(self.state_dir, "%s.dlv.pid" % component)
        pid = _supervise.start_detached(dlv_argv, env=env, cwd=cwd, log_path=log, pidfile=pidfile)
        return {"kind": "detached", "pid": pid, "pidfile": pidfile, "log": log}

    def pid(self, debug):
        if debug.get("kind") == "systemd":
            rc, out = self._systemctl("show", "-p", "MainPID", "--value", debug["unit"], check=False)
            pid = int(out.strip() or 0) if rc == 0 else 0
        else:
            pid = debug.get("pid") or 0
        return pid if pid and _supervise.alive(pid) else 0

    def stop(self, debug, timeout):
        pid = self.pid(debug)
        target = dlv_target(pid) if pid else None
        if debug.get("kind") == "systemd":
            self._systemctl("stop", debug["unit"], check=False)
            try:
                os.unlink(debug["unit_path"])
            except FileNotFoundError:
                pass
            self._systemctl("daemon-reload", check=False)
            self._systemctl("reset-failed", debug["unit"], check=False)
        else:
            # The target first, gracefully, then dlv (which would otherwise kill it). A target still paused
            # by dlv (an interrupted relaunch) cannot act on SIGTERM: dlv kills it when it exits.
            if target and not traced_stop(target):
                _supervise.stop(target, timeout)
            if pid:
                _supervise.stop(pid, timeout)
            if debug.get("pidfile"):
                try:
                    os.unlink(debug["pidfile"])
                except FileNotFoundError:
                    pass
        if target:
            deadline = time.monotonic() + timeout
            while _supervise.alive(target) and time.monotonic() < deadline:
                time.sleep(0.1)


def tail(path, n=20):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").splitlines()[-n:]
    except OSError:
        return []


def start_original(original, log_dir, component):
    """Start the original component from the record, exactly; return its pid."""
    log = os.path.join(log_dir, "%s.log" % component)
    pid = _supervise.start_detached(
        original["argv"], executable=original["exe"], env=original["env"], cwd=original["cwd"], log_path=log,
    )
    return pid, log


def debug(params, sup, main_pid_of=None, version_of=None, while_loading=None, dlv_check=None):
    """Replace the selected process with dlv running the debug binary. Returns a result dict.

    ``while_loading(binary)`` (optional) runs once dlv has started, while it reads the binary; what it returns is
    added to the result (work that would otherwise compete with the component's start for CPU)."""
    component = params["component"]
    state_path = os.path.join(params["state_dir"], "%s.json" % component)
    state = _files.read_state(state_path)
    dlv_opts = {k: params[k] for k in ("listen", "continue_after_start", "accept_multiclient", "api_version", "dlv_path", "dlv_flags",
                                       "dlv_log", "dlv_log_output", "dlv_log_dest")}
    if state is not None:
        done = _already_running(params, sup, state, state_path)
        if done is not None:
            return done
        # A record without a live dlv: an interrupted run, or dlv ended. Start again from the record.
        original, running = state["original"], None
    else:
        running, original = _read_original(params, main_pid_of)
    binary = params["binary"] or original["exe"]
    built = build_dlv_argv(binary, original["argv"][1:], **dlv_opts)
    _preflight(params, binary, original, built, version_of, dlv_check)
    # Overlap: dlv reads the binary's DWARF (seconds for a 150 MB apiserver) while the original shuts down
    # gracefully. dlv forks the target stopped at its first instruction and only lets it run when told to,
    # so it is started WITHOUT --continue and continued here over its API once the original has exited
    # (dlv's own --continue does exactly that: a client sends "continue" and disconnects), or, with
    # continue_when=released, once the original has closed its listening sockets (it drains meanwhile; the
    # target can bind the same ports). Only when the module can talk to dlv: dlv's --only-same-user
    # refuses connections from another user.
    overlap = running is not None and params["continue_after_start"] and params["accept_multiclient"] and (
        original["uid"] in (None, os.geteuid()))
    launch = build_dlv_argv(binary, original["argv"][1:], **dict(dlv_opts, continue_after_start=False))["argv"] if overlap else built["argv"]
    result = dict(changed=True, state_file=state_path, dlv_argv=launch, original=_public(original), warnings=built["warnings"],
                  listen=built["listen"], exposure=built["exposure"])
    if params.get("check_mode"):
        result["msg"] = "would relaunch %s under dlv" % component
        return result
    record = {"component": component, "mode": "process", "original": original, "dlv_argv": launch, "debug": None,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if not overlap and running is not None:
        record["original_stopping"] = True  # stopped right after this record is written
    _files.write_state(state_path, record)
    times = result["timings"] = {}
    t0 = time.monotonic()
    run = {"params": params, "sup": sup, "record": record, "state_path": state_path, "running": running, "state": state,
           "result": result, "times": times, "t0": t0}
    info = _start_overlapped(run) if overlap else _start_after_stop(run)
    if while_loading is not None:
        try:
            result.update(while_loading(binary))
        except Exception:  # pylint: disable=broad-except  # extras never fail a relaunch
            pass
    ok, pid, target, continued = _wait_running(run, info, built, overlap)
    if not (ok and pid and target and continued is not False):
        log = tail(info.get("log") if info["kind"] == "detached" else "")
        sup.stop(info, params["stop_timeout"])
        opid, olog = start_original(original, params["log_dir"], component)
        os.unlink(state_path)  # the original runs again: nothing left to restore
        raise KubedebugError(
            "dlv did not start %s (listening: %s, dlv alive: %s, target alive: %s%s); the original was started again (pid %d, log %s)"
            % (component, ok, bool(pid), bool(target), ", target continued: False" if continued is False else "", opid, olog),
            hint="Read dlv's output below; a common cause is a binary dlv cannot load or a Go version dlv does not support",
            dlv_log=log,
        )
    if record.pop("continue_pending", None):
        _files.write_state(state_path, record)
    # dlv passes the binary's absolute path as argv[0]; everything after it must be the original's.
    expected = encode_argv([os.path.abspath(binary)] + original["argv"][1:])
    result.update(dlv_pid=pid, target_pid=target, debug=info, target_cmdline_identical=cmdline_of(target) == expected)
    result["msg"] = "%s runs under dlv, listening on %s" % (component, built["listen"])
    return result


def _already_running(params, sup, state, state_path):
    """The result of a run that finds its dlv serving (or finishes an interrupted continue); None when the
    record's dlv is gone."""
    component = params["component"]
    pid = sup.pid(state.get("debug") or {})
    if not pid:
        return None
    target = dlv_target(pid)
    if target is None:
        raise KubedebugError(
            "%s exited while running under dlv (pid %d); dlv stays alive because of --accept-multiclient, so "
            "nothing restarted it" % (component, pid),
            hint="Read its log (%s), then run the restore playbook to bring back the original" % state["debug"].get("log"),
            crashed=True, log=tail(state["debug"].get("log") or ""),
        )
    if state.get("continue_pending"):
        return finish_continue(params, state, state_path, pid, target)
    return dict(changed=False, state_file=state_path, dlv_pid=pid, target_pid=target, debug=state["debug"],
                original=_public(state["original"]), dlv_argv=state["dlv_argv"], listen=listen_of(state["dlv_argv"]),
                msg="%s already runs under dlv" % component)


def _read_original(params, main_pid_of):
    """(the running process, the original to record) of the selected process."""
    sel = {k: params.get(k) for k in _procfs.SELECTOR_KEYS}
    running, _matches = _procfs.select(sel, params.get("pick") or "only", "/proc", main_pid_of,
                                       same_pid_namespace=params.get("pid_namespace", "same") == "same")
    if running["traced_by"]:
        raise KubedebugError(
            "process %d is already traced by pid %d (another debugger)" % (running["pid"], running["traced_by"]),
            hint="Detach that debugger first, or restore with the kubedebug.lab restore playbook if it is ours",
        )
    original = {
        "argv": running["argv"], "exe": running["exe"] or running["argv"][0], "cwd": running["cwd"] or "/",
        "env": _supervise.read_environ(running["pid"]), "uid": running["uid"], "gid": running["gid"],
        "pid": running["pid"], "start_ticks": running["start_ticks"],
    }
    return running, original


def _preflight(params, binary, original, built, version_of, dlv_check):
    """Refusals before anything is touched: version, dlv for this binary's Go, the port."""
    if version_of is not None and params.get("version_check", True) and binary != original["exe"]:
        _session.check_version(params["component"], binary, version_of(binary), version_of(original["exe"]),
                               "its executable %s" % original["exe"], params.get("force_version_mismatch"))
    if dlv_check is not None:
        dlv_check(params.get("dlv_path") or "dlv", binary)
    if _supervise.port_in_use(built["host"], built["port"]):
        raise KubedebugError(
            "port %s is already in use: dlv could not listen there" % built["listen"],
            hint="Choose another listen port, or stop what listens there (ss -ltnp 'sport = :%d')" % built["port"],
        )


def _start_overlapped(run):
    """dlv first (it loads the binary, the target paused), then the original stopped meanwhile."""
    params, record, result, times, t0 = run["params"], run["record"], run["result"], run["times"], run["t0"]
    original, running = record["original"], run["running"]
    # continue_pending: an interrupted run (dlv up, target paused, original maybe still running) is
    # finished by the next debug run, or undone by restore.
    record["continue_pending"] = True
    info = run["sup"].start(params["component"], record["dlv_argv"], original["env"], original["cwd"], original["uid"], original["gid"])
    record["debug"] = info
    record["original_stopping"] = True  # from here on the original is being stopped: restore must not keep it
    _files.write_state(run["state_path"], record)
    times["dlv_started"] = time.monotonic() - t0
    if params.get("continue_when") == "released":
        result["stopped"] = _supervise.stop_until_released(running["pid"], params["stop_timeout"])
        times["original_released" if result["stopped"] == "released" else "original_stopped"] = time.monotonic() - t0
    else:
        result["stopped"] = _supervise.stop(running["pid"], params["stop_timeout"])
        times["original_stopped"] = time.monotonic() - t0
    return info


def _start_after_stop(run):
    """The original stopped first (or found again after an interrupted run), then dlv."""
    params, record, result, times, t0 = run["params"], run["record"], run["result"], run["times"], run["t0"]
    original, running = record["original"], run["running"]
    if running is not None:
        result["stopped"] = _supervise.stop(running["pid"], params["stop_timeout"])
    elif run["state"] is not None:
        # Interrupted earlier: the original may still run.
        again = find_exact(original["argv"])
        if again:
            result["stopped"] = _supervise.stop(again, params["stop_timeout"])
    times["original_stopped"] = time.monotonic() - t0
    info = run["sup"].start(params["component"], record["dlv_argv"], original["env"], original["cwd"], original["uid"], original["gid"])
    record["debug"] = info
    _files.write_state(run["state_path"], record)
    times["dlv_started"] = time.monotonic() - t0
    return info


def _wait_running(run, info, built, overlap):
    """dlv listening, its target there (and continued, with overlap); the released original let finish.
    Returns (listening, dlv pid, target pid, continued)."""
    params, result, times, t0, running = run["params"], run["result"], run["times"], run["t0"], run["running"]
    deadline = time.monotonic() + params["start_timeout"]
    ok = _supervise.wait_listening(built["port"], params["start_timeout"], info["pid"] or None)
    pid = run["sup"].pid(info)
    target = dlv_target(pid) if pid else None
    # dlv listens before it launches the target (net.Listen, then the debugger starts the process): on a
    # loaded host the port can be up while the target does not exist yet.
    while ok and pid and target is None and _supervise.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
        target = dlv_target(pid)
    continued = None
    if ok and pid and target and overlap:
        continued = continue_target(built["host"], built["port"], target, max(deadline - time.monotonic(), 1.0))
    times["target_running"] = time.monotonic() - t0
    if result.get("stopped") == "released":
        # The original closed its listeners and the target runs; let the original finish its shutdown
        # (a second SIGTERM would make a Kubernetes component exit at once), SIGKILL after stop_timeout.
        if not _supervise.wait_gone(running["pid"], params["stop_timeout"]):
            result["stopped"] = _supervise.stop(running["pid"], 0.0, signal.SIGKILL)
        else:
            result["stopped"] = "terminated"
        times["original_stopped"] = time.monotonic() - t0
    return ok, pid, target, continued


def listen_of(dlv_argv):
    """The --listen address of a dlv command line."""
    for a in dlv_argv:
        if a == "--":
            break
        if a.startswith("--listen="):
            return a[len("--listen="):]
    return None


def traced_stop(pid):
    """True while pid sits in a ptrace stop (state t), False when it runs, None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None
    if state in ("Z", "X"):
        return None
    return state in ("t", "T")


def continue_target(host, port, target, timeout):
    """Let dlv's paused target run: what ``dlv exec --continue`` does itself, sent from here.

    Waits until dlv answers (it accepts connections only once it has loaded the binary), sends
    ``continue`` and disconnects (dlv runs with --accept-multiclient, so the target keeps running),
    then waits until the target has left its ptrace stop. True when it runs, False otherwise.
    """
    deadline = time.monotonic() + timeout
    try:
        client = _dlv_rpc.DelveClient("127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host, port, timeout=timeout)
        try:
            state = client.call("State", {"NonBlocking": True}, timeout=timeout).get("State") or {}
            if state.get("exited"):
                return False
        finally:
            client.disconnect_running()
    except KubedebugError:
        return False
    while time.monotonic() < deadline:
        stopped = traced_stop(target)
        if stopped is None:
            return False
        if not stopped:
            return True
        time.sleep(0.05)
    return False


def same_process(pid, start_ticks):
    """True when pid is still the process that started at start_ticks (not a reused pid)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return _supervise.alive(pid) and _procfs.parse_stat_starttime(stat) == start_ticks


def finish_continue(params, state, state_path, dlv_pid, target):
    """A run interrupted between starting dlv (target paused) and continuing it: stop the original if it
    still runs, then let the target run."""
    original = state["original"]
    result = dict(changed=True, state_file=state_path, dlv_pid=dlv_pid, target_pid=target, debug=state["debug"],
                  original=_public(original), dlv_argv=state["dlv_argv"], listen=listen_of(state["dlv_argv"]))
    if params.get("check_mode"):
        result["msg"] = "would finish the interrupted relaunch of %s" % state["component"]
        return result
    if original.get("pid") and same_process(original["pid"], original.get("start_ticks")):
        result["stopped"] = _supervise.stop(original["pid"], params["stop_timeout"])
    host, port, _exposure = parse_listen(params["listen"])
    if not continue_target(host, port, target, params["start_timeout"]):
        raise KubedebugError(
            "%s under dlv (pid %d) could not be continued after an interrupted run" % (state["component"], dlv_pid),
            hint="Run the restore playbook to bring back the original, then debug again",
        )
    state.pop("continue_pending", None)
    _files.write_state(state_path, state)
    result["msg"] = "%s runs under dlv (an interrupted relaunch was finished)" % state["component"]
    return result


def find_exact(argv):
    """pid of a running process whose /proc/PID/cmdline is exactly argv, if any."""
    want = encode_argv(argv)
    for pid in _procfs.pids():
        try:
            if cmdline_of(pid) == want and pid != os.getpid():
                return pid
        except OSError:
            continue
    return None


def _public(original):
    """The record of the original without its environment (which may hold secrets)."""
    return {k: v for k, v in original.items() if k != "env"}


def restore(params, sup):
    """Stop dlv and start the original from the record. Returns a result dict."""
    component = params["component"]
    state_path = os.path.join(params["state_dir"], "%s.json" % component)
    state = _files.read_state(state_path)
    if state is None:
        return dict(changed=False, state_file=state_path, msg="nothing to restore for %s" % component)
    original = state["original"]
    result = dict(changed=True, state_file=state_path, original=_public(original))
    if params.get("check_mode"):
        result["msg"] = "would stop dlv and start the original %s" % component
        return result
    if state.get("debug"):
        sup.stop(state["debug"], params["stop_timeout"])
    running = find_exact(original["argv"])
    if running and state.get("original_stopping") and running == original.get("pid") and same_process(running, original.get("start_ticks")):
        # The recorded original, told to stop by an interrupted run and maybe still draining: it is not the
        # process to keep. Let it finish (or stop it), then start the original afresh.
        _supervise.stop(running, params["stop_timeout"])
        running = None
    if running:
        pid, log = running, None
    else:
        pid, log = start_original(original, params["log_dir"], component)
        time.sleep(0.5)
        if not _supervise.alive(pid):
            raise KubedebugError(
                "the original %s exited right after it was started again (pid %d)" % (component, pid),
                hint="Read %s; the state record %s is kept so you can retry" % (log, state_path),
                log=tail(log),
            )
    identical = cmdline_of(pid) == encode_argv(original["argv"])
    if not identical:
        raise KubedebugError(
            "the restarted %s (pid %d) does not have the recorded command line" % (component, pid),
            hint="The state record %s is kept; compare it with /proc/%d/cmdline" % (state_path, pid),
        )
    os.unlink(state_path)
    result.update(pid=pid, log=log, cmdline_identical=identical, msg="%s restored (pid %d)" % (component, pid))
    return result


# ------------------------------------------------------------------ the modules' side

# Options of the modules that run process mode (documentation: the kubedebug.lab.process_mode fragment).
PROCESS_ARG_SPEC = dict(
    pick=dict(type="str", default="only", choices=["only", "newest", "oldest"]),
    pid_namespace=dict(type="str", default="same", choices=["any", "same"]),
    continue_when=dict(type="str", default="exited", choices=["exited", "released"]),
    ssh_destination=dict(type="str"),
    binary=dict(type="path"),
    version_check=dict(type="bool", default=True),
    force_version_mismatch=dict(type="bool", default=False),
    supervisor=dict(type="str", default="auto", choices=["auto", "systemd", "detached"]),
    state_dir=dict(type="path", default="/var/lib/kubedebug"),
    log_dir=dict(type="path", default="/var/log/kubedebug"),
    stop_timeout=dict(type="float", default=30),
    start_timeout=dict(type="float", default=120),
)
PROCESS_ARG_SPEC.update(DLV_ARG_SPEC)


def run_module(module, p, while_loading=None):
    """Process mode for a module: ``p`` holds the PROCESS_ARG_SPEC options, component, state and the
    selector keys. Returns the result (attach commands, diff); raises KubedebugError."""
    p = dict(p, check_mode=module.check_mode, systemd_unit=None)
    kind = p["supervisor"]
    if kind == "auto":
        kind = "systemd" if os.path.isdir("/run/systemd/system") else "detached"
    sup = Supervisor(kind, module.run_command, p["state_dir"], p["log_dir"])
    if p["state"] == "debug":
        if not any(p.get(k) for k in ("name", "pattern", "pid", "pidfile")) and not os.path.exists(
                os.path.join(p["state_dir"], p["component"] + ".json")):
            raise KubedebugError("no running process selected", hint="Give name, pattern, pid or pidfile of the component to debug")
        if p["dlv_path"]:
            p["dlv_path"] = resolve_dlv_path(p["dlv_path"], module.get_bin_path)
        if p["binary"] and not os.access(p["binary"], os.X_OK):
            raise KubedebugError("debug binary %s does not exist or is not executable" % p["binary"],
                                 hint="Build it with the kubedebug.lab.k8s_build role")
        result = debug(p, sup, main_pid_of=None, version_of=lambda exe: kube_version(exe, module.run_command), while_loading=while_loading,
                       dlv_check=lambda dlv, binary: check_dlv(dlv, binary, module.run_command))
    else:
        result = restore(p, sup)
    for w in result.pop("warnings", []):
        module.warn(w)
    if p["state"] == "debug" and result.get("listen"):
        host, port, exposure = parse_listen(result["listen"])
        result.update(host=host, port=port, exposure=exposure)
        result.update({k: v for k, v in attach_commands(host, port, exposure, p["ssh_destination"]).items() if k != "notes"})
    if module._diff and result.get("changed"):
        orig = result.get("original") or {}
        before = to_shell(orig["argv"]) + "\n" if orig.get("argv") else ""
        after = to_shell(result["dlv_argv"]) + "\n" if result.get("dlv_argv") else before
        if p["state"] == "restored":
            before, after = "dlv (debug session of %s)\n" % p["component"], before
        result["diff"] = {"before": before, "after": after, "before_header": "running", "after_header": "running"}
    return result
