"""_dlv_rpc against a real dlv (Debian's 1.20.2) debugging a real Go program (tests/testdata/argvprint)."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv_rpc as _dlv_rpc
from tests.paths import TESTDATA
from tests.toolchains import debian_go

ARGVPRINT = os.path.join(TESTDATA, "argvprint")


def dlv_path():
    """Debian's dlv (it debugs what Debian's Go builds); hack/bootstrap.sh installs it."""
    found = shutil.which("dlv") or "/usr/bin/dlv"
    if not os.access(found, os.X_OK):
        pytest.fail("dlv is needed (hack/bootstrap.sh installs Debian's delve)")
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("dlvrpc") / "kdbg-rpc")
    env = dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on", GOPROXY="off", CGO_ENABLED="0",
               GOCACHE=str(tmp_path_factory.mktemp("gocache")))
    subprocess.run([debian_go(), "build", "-o", out, "-gcflags=all=-N -l", "."], cwd=ARGVPRINT, env=env, check=True)
    return out


@pytest.fixture
def under_dlv(program):
    started = []

    def start(env=None):
        port = free_port()
        p = subprocess.Popen([dlv_path(), "exec", program, "--headless", "--listen=127.0.0.1:%d" % port, "--api-version=2",
                              "--accept-multiclient", "--continue"],
                             env=dict(os.environ, **(env or {})), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started.append(p)
        line = p.stdout.readline().decode()
        assert "API server listening at" in line, line
        # As a component under dlv is when it is checked: running. Just after dlv starts, before its
        # --continue took effect, State says "not running" while the target is about to run.
        client = _dlv_rpc.DelveClient("127.0.0.1", port)
        try:
            deadline = time.monotonic() + 10
            while not client.state().get("Running") and not (env or {}).get("ARGVPRINT_EXIT") and time.monotonic() < deadline:
                time.sleep(0.05)
            while (env or {}).get("ARGVPRINT_EXIT") and time.monotonic() < deadline:
                try:
                    client.state()
                except KubedebugError as e:  # dlv answers State with "Process N has exited"
                    assert e.details.get("exited"), e
                    break
                time.sleep(0.05)
        finally:
            client.close()
        return port

    yield start
    for p in started:
        targets = []
        for task in os.listdir("/proc/%d/task" % p.pid):  # dlv forks the target from any of its threads
            with open("/proc/%d/task/%s/children" % (p.pid, task)) as f:
                targets += [int(pid) for pid in f.read().split()]
        for pid in [p.pid] + targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait()


def test_no_dlv_listening_is_named():
    with pytest.raises(KubedebugError) as err:
        _dlv_rpc.DelveClient("127.0.0.1", free_port(), timeout=2)
    assert "cannot connect to dlv at 127.0.0.1:" in str(err.value) and "ssh -L tunnel" in str(err.value)


def test_breakpoint_by_function_then_by_file_line_target_runs_on(under_dlv):
    port = under_dlv()
    got = _dlv_rpc.breakpoint_check("127.0.0.1", port, function="main.tick", timeout=30)
    assert got["hit"] is True and got["running_after"] is True
    assert got["location"]["function"] == "main.tick" and got["location"]["file"].endswith("argvprint/main.go")
    assert got["stack"][0]["function"] == "main.tick" and got["stack"][1]["function"] == "main.main"
    again = _dlv_rpc.breakpoint_check("127.0.0.1", port, file=got["location"]["file"], line=got["location"]["line"], timeout=30)
    assert again["hit"] is True and again["location"]["line"] == got["location"]["line"]
    client = _dlv_rpc.DelveClient("127.0.0.1", port)
    try:
        assert client.state()["Running"] is True
        client.halt()  # what dlv resolves needs a stopped target
        assert client.find_location("tick")[0]["function"]["name"] == "main.tick"  # by suffix, as dlv's break does
        assert all(b["id"] < 0 for b in client.call("ListBreakpoints", {})["Breakpoints"])  # only dlv's own are left
    finally:
        client.disconnect_running()


def test_trigger_result_is_reported(under_dlv):
    port = under_dlv()
    got = _dlv_rpc.breakpoint_check("127.0.0.1", port, function="main.tick", trigger=lambda: {"rc": 0}, timeout=30)
    assert got["trigger"] == {"rc": 0}


def test_no_such_function_is_refused_and_target_keeps_running(under_dlv):
    port = under_dlv()
    with pytest.raises(KubedebugError) as err:
        _dlv_rpc.breakpoint_check("127.0.0.1", port, function="main.nosuchfunc", timeout=10)
    assert "cannot set a breakpoint at main.nosuchfunc" in str(err.value)
    client = _dlv_rpc.DelveClient("127.0.0.1", port)
    try:
        for _attempt in range(50):
            if client.state().get("Running"):
                break
        assert client.state()["Running"] is True
    finally:
        client.close()


def test_exited_target_is_reported(under_dlv):
    port = under_dlv({"ARGVPRINT_EXIT": "1"})
    with pytest.raises(KubedebugError) as err:
        _dlv_rpc.breakpoint_check("127.0.0.1", port, function="main.tick", timeout=10)
    assert err.value.details["exited"] is True and err.value.details["exit_status"] == 0


def test_function_or_file_not_both():
    with pytest.raises(KubedebugError):
        _dlv_rpc.breakpoint_check("127.0.0.1", 1, function="main.tick", file="main.go", line=3)


def test_breakpoint_hit_reads_current_and_other_threads():
    state = {"currentThread": {"id": 1, "breakPoint": None, "goroutineID": 1},
             "Threads": [{"id": 2, "breakPoint": {"id": 7}, "goroutineID": 9}]}
    assert _dlv_rpc.breakpoint_hit(state, 7) == (state["Threads"][0], 9)
    assert _dlv_rpc.breakpoint_hit(state, 8) == (None, None)
