"""_supervise against real processes."""

import os
import socket as so
import subprocess
import threading

from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise


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


def test_listening_sockets_are_those_the_process_holds():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    other = socket.socket()  # bound but not listening: not counted
    other.bind(("127.0.0.1", 0))
    try:
        assert _supervise.listening_sockets(os.getpid()) == set()
        s.listen()
        held = _supervise.listening_sockets(os.getpid())
        assert held == {os.fstat(s.fileno()).st_ino}
        assert held <= _supervise.listen_inodes()
    finally:
        s.close()
        other.close()
    assert _supervise.listening_sockets(os.getpid()) == set()
    assert _supervise.listening_sockets(2 ** 22 + 7) == set()  # no such process


LINGERER = """
import signal, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
def term(*_):
    s.close(); time.sleep(float(sys.argv[1])); sys.exit(0)
signal.signal(signal.SIGTERM, term)
print(s.getsockname()[1], flush=True)
while True:
    time.sleep(1)
"""


def test_stop_until_released_returns_when_the_port_is_closed_not_at_the_exit():
    import time

    p = subprocess.Popen(["python3", "-c", LINGERER, "3"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        t = time.monotonic()
        assert _supervise.stop_until_released(p.pid, 30) == "released"
        released = time.monotonic() - t
        assert _supervise.alive(p.pid) and port not in _supervise.listening_ports()
        assert not _supervise.wait_gone(p.pid, 0.5)  # still shutting down
        assert _supervise.wait_gone(p.pid, 30)
        assert released < time.monotonic() - t - 2  # returned seconds before the exit
    finally:
        p.kill()
        p.wait()


def test_stop_until_released_without_listeners_waits_for_the_exit():
    p = subprocess.Popen(["sleep", "60"])
    try:
        assert _supervise.stop_until_released(p.pid, 30) == "terminated"
        assert not _supervise.alive(p.pid)
    finally:
        p.kill()
        p.wait()


def test_port_in_use_counts_listeners_not_time_wait():
    """Found when an IDE had been attached to a dlv that restore then stopped: the server side of that connection sat
    in TIME_WAIT and the next debug run refused the port, though dlv (SO_REUSEADDR, as Go listens) could listen."""
    srv = so.socket()
    srv.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    assert _supervise.port_in_use("127.0.0.1", port)
    cli = so.create_connection(("127.0.0.1", port))
    conn, _addr = srv.accept()
    conn.close()  # the server closes first: its end goes to TIME_WAIT
    cli.recv(1)
    cli.close()
    srv.close()
    ss = subprocess.run(["ss", "-Htan", "sport = :%d" % port], capture_output=True, text=True, check=False).stdout
    assert "TIME-WAIT" in ss, ss  # the state this test is about
    assert not _supervise.port_in_use("127.0.0.1", port)
    # And a Go-like listener can take it, as dlv will.
    again = so.socket()
    again.setsockopt(so.SOL_SOCKET, so.SO_REUSEADDR, 1)
    again.bind(("127.0.0.1", port))
    again.close()
