# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Process control: stop a process, start one detached, its children, its listening sockets.

The durable record of what was replaced (written *before* anything is stopped) is _files'.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

# -------------------------------------------------------------- processes


def read_environ(pid, proc="/proc"):
    """The environment of pid as a list of "KEY=VALUE" strings (order kept)."""
    try:
        with open(os.path.join(proc, str(pid), "environ"), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return []
    return [e.decode("utf-8", "surrogateescape") for e in raw.split(b"\0") if e]


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def children(pid):
    """Child pids of pid, whichever of its threads forked them.

    /proc/PID/task/TID/children lists the children of one thread only: dlv forks
    its target from the OS thread its ptrace goroutine is locked to, which is
    not always the main thread.
    """
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return []
    kids = []
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            continue
    return kids


def stop(pid, timeout=30.0, sig=signal.SIGTERM, until=None):
    """SIGTERM pid, wait up to timeout seconds, then SIGKILL. Returns how it ended.

    ``until()``, asked while waiting, may end the wait early by returning what to report.
    """
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return "gone"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return "terminated"
        early = until() if until is not None else None
        if early:
            return early
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return "terminated"
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return "killed"


def wait_gone(pid, timeout):
    """Wait up to timeout seconds for pid to end (no signal sent); True when it has."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _listen_entries(net_dir):
    """(port, inode) of every TCP socket in LISTEN state in ``net_dir``/tcp and tcp6 (a /proc/.../net)."""
    for name in ("tcp", "tcp6"):
        try:
            with open(os.path.join(net_dir, name)) as f:
                next(f, None)
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == "0A":
                        yield int(fields[1].rsplit(":", 1)[1], 16), int(fields[9])
        except OSError:
            continue


def listen_inodes(pid="self", proc="/proc"):
    """Inodes of the TCP sockets in LISTEN state in pid's network namespace."""
    return {inode for _port, inode in _listen_entries(os.path.join(proc, str(pid), "net"))}


def listening_sockets(pid, proc="/proc"):
    """Inodes of the listening TCP sockets pid holds open (empty when it holds none or is gone)."""
    held = set()
    fd_dir = os.path.join(proc, str(pid), "fd")
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return set()
    for fd in fds:
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:[") and link.endswith("]"):
            held.add(int(link[8:-1]))
    return held & listen_inodes(pid, proc) if held else set()


def stop_until_released(pid, timeout, sig=signal.SIGTERM):
    """Signal pid and return as soon as it has closed every TCP socket it listened on, or has exited.

    Returns ``released`` (it still shuts down: wait for it with wait_gone), ``terminated``, ``gone`` or
    ``killed`` (SIGKILL after timeout). A process that listens on nothing is waited for until it exits.
    """
    sockets = listening_sockets(pid)
    return stop(pid, timeout, sig, until=(lambda: None if sockets & listen_inodes(pid) else "released") if sockets else None)


def start_detached(argv, executable=None, env=None, cwd=None, log_path=None, pidfile=None):
    """Start argv in its own session, output appended to log_path; write pidfile. Returns the pid.

    ``executable`` lets argv[0] stay exactly what the original process had.
    """
    out = subprocess.DEVNULL
    if log_path:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        out = open(log_path, "ab")
    try:
        env_map = None
        if env is not None:
            env_map = {}
            for e in env:
                k, _sep, v = e.partition("=")
                env_map[k] = v
        try:
            p = subprocess.Popen(
                argv, executable=executable, env=env_map, cwd=cwd or "/", stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
            )
        except OSError as e:
            raise KubedebugError("cannot start %s: %s" % (executable or argv[0], e.strerror), hint="Check that the binary exists and is executable") from e
    finally:
        if out is not subprocess.DEVNULL:
            out.close()
    if pidfile:
        _files.atomic_write(pidfile, ("%d\n" % p.pid).encode(), 0o644)
    return p.pid


def port_in_use(host, port):
    """True when something already listens on host:port (TCP).

    SO_REUSEADDR as dlv's own listener has it (Go sets it): connections of a
    closed server left in TIME_WAIT (an IDE was attached to the dlv a restore
    just stopped) do not stop dlv from listening, so they must not count as in
    use; a socket listening there still does."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return True
        if e.errno == errno.EADDRNOTAVAIL:
            raise KubedebugError("address %s is not an address of this host" % host, hint="Listen on 127.0.0.1 or an address of this host") from e
        raise
    finally:
        s.close()
    return False


def listening_ports(proc="/proc"):
    """TCP ports in LISTEN state on this host (from /proc/net/tcp and tcp6), without connecting.

    Connecting to probe would take the only client slot of a dlv started
    without --accept-multiclient.
    """
    return {port for port, _inode in _listen_entries(os.path.join(proc, "net"))}


def wait_listening(port, timeout, pid=None):
    """Wait until something listens on port; give up early when pid dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port in listening_ports():
            return True
        if pid is not None and not alive(pid):
            return False
        time.sleep(0.2)
    return False
