"""_supervise against real processes."""

import os
import subprocess
import threading

from ansible_collections.kubedebug.lab.plugins.module_utils import _supervise


def test_children_include_those_forked_by_another_thread():
    # dlv forks its target from the OS thread its ptrace goroutine is locked to; /proc/PID/task/PID/children
    # alone misses such a child.
    started, release = threading.Event(), threading.Event()
    box = {}

    def fork_here():
        box["child"] = subprocess.Popen(["sleep", "30"])
        started.set()
        release.wait(30)

    t = threading.Thread(target=fork_here)
    t.start()
    try:
        assert started.wait(30)
        pid = box["child"].pid
        with open("/proc/%d/task/%d/children" % (os.getpid(), os.getpid())) as f:
            assert str(pid) not in f.read().split()  # the case the old reader missed
        assert pid in _supervise.children(os.getpid())
    finally:
        release.set()
        t.join()
        box["child"].kill()
        box["child"].wait()


def test_children_of_a_missing_process_are_none():
    p = subprocess.Popen(["true"])
    p.wait()
    assert _supervise.children(p.pid) == []
