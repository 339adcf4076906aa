"""dlv_breakpoint_check against a real Go program under Debian's dlv."""

import os
import subprocess
import time

import pytest

from tests.integration.conftest import free_port, kill_tree, run_play


def dlv_exec(binary, port, env=None, args=()):
    p = subprocess.Popen(
        ["dlv", "exec", binary, "--headless", "--listen=127.0.0.1:%d" % port, "--api-version=2", "--accept-multiclient", "--continue", "--"]
        + list(args),
        env=dict(os.environ, **(env or {})), start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    line = p.stdout.readline().decode()
    assert "API server listening at" in line, line
    return p


def child_of(pid):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.1)
    raise AssertionError("dlv started no child")


@pytest.fixture
def under_dlv(argvprint_dir):
    started = []

    def start(env=None):
        d, tag = argvprint_dir
        port = free_port()
        p = dlv_exec(str(d / ("kdbg-bp-" + tag)), port, env)
        started.append(p)
        return p, port

    yield start
    for p in started:
        kill_tree(p.pid)
        p.wait()


def test_breakpoint_hit_reported_and_target_keeps_running(tmp_path, under_dlv):
    dlv, port = under_dlv()
    target = child_of(dlv.pid)
    tasks = [
        {"name": "By function", "register": "by_func",
         "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:%d" % port, "function": "main.tick", "trigger_command": ["true"]}},
        {"name": "By file and line", "register": "by_line",
         "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:%d" % port, "file": "{{ by_func.location.file }}",
                                                "line": "{{ by_func.location.line }}", "hold": 2}},
        {"name": "Check mode", "register": "checked", "check_mode": True,
         "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:%d" % port, "function": "main.tick"}},
    ]
    res = run_play(tmp_path, tasks, {"kdbg_dump": ["by_func", "by_line", "checked"]})[2]
    f = res["by_func"]
    assert f["hit"] and not f["changed"]
    assert f["location"]["function"] == "main.tick"
    assert f["location"]["file"].endswith("tests/testdata/argvprint/main.go")
    assert [s["function"] for s in f["stack"]][:2] == ["main.tick", "main.main"]
    assert f["trigger"] == {"rc": 0, "stdout": "", "stderr": ""}
    assert f["running_after"]
    ln = res["by_line"]
    assert ln["hit"] and ln["location"]["line"] == f["location"]["line"] and ln["held_seconds"] == 2
    assert res["checked"]["state"] == {"running": True, "exited": False}
    # The same target process still runs, not traced-and-stopped.
    state = open("/proc/%d/stat" % target).read().rsplit(")", 1)[1].split()[0]
    assert state in ("S", "R"), state


def test_bad_input_and_failures_are_clear(tmp_path, under_dlv):
    dlv, port = under_dlv()
    dead, dead_port = under_dlv(env={"ARGVPRINT_EXIT": "1"})
    closed = free_port()
    cases = {
        "never_hit": ({"function": "main.record", "timeout": 2}, "was not hit within 2"),
        "no_such_function": ({"function": "main.doesNotExist"}, "cannot set a breakpoint at main.doesNotExist"),
        "refused": ({"function": "main.tick", "address": "127.0.0.1:%d" % closed}, "cannot connect to dlv"),
        "exited": ({"function": "main.tick", "address": "127.0.0.1:%d" % dead_port}, "the debugged process exited"),
        "bad_address": ({"function": "main.tick", "address": "localhost"}, "not host:port"),
        "both": ({"function": "main.tick", "file": "x.go", "line": 1}, "mutually exclusive"),
    }
    tasks = []
    for name, (args, _msg) in cases.items():
        args = dict({"address": "127.0.0.1:%d" % port}, **args)
        tasks.append({"name": name, "register": "r_" + name, "ignore_errors": True, "kubedebug.lab.dlv_breakpoint_check": args})
    tasks.append({"name": "Still running", "register": "after", "check_mode": True,
                  "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:%d" % port, "function": "main.tick"}})
    res = run_play(tmp_path, tasks, {"kdbg_dump": ["r_" + n for n in cases] + ["after"]})[2]
    for name, (_args, msg) in cases.items():
        r = res["r_" + name]
        assert r.get("failed"), (name, r)
        assert msg in r["msg"], (name, r["msg"])
        assert "Traceback" not in r.get("exception", ""), (name, r)
    assert res["r_exited"]["exited"] is True
    # A failed check never leaves the target stopped.
    assert res["after"]["state"] == {"running": True, "exited": False}
