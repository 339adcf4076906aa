# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Read running processes from /proc, exactly.

``ps`` output loses the boundaries between arguments; ``/proc/PID/cmdline``
keeps them (NUL-separated, empty arguments included). Everything here takes
the proc root as a parameter so tests can point it at a fixture tree.
"""

from __future__ import annotations

import errno
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

PROC = "/proc"

# cgroup path fragments that mean "this process runs in a container", with the
# runtime they point at. Order matters: the first match names the runtime.
_CONTAINER_PATTERNS = (
    ("cri-containerd", re.compile(r"cri-containerd[-:]([0-9a-f]{64})")),
    ("crio", re.compile(r"crio[-:]([0-9a-f]{64})")),
    ("docker", re.compile(r"docker[-/]([0-9a-f]{64})")),
    ("libpod", re.compile(r"libpod[-/]([0-9a-f]{64})")),
    ("containerd", re.compile(r"containerd[-/]([0-9a-f]{64})")),
    ("kubepods", re.compile(r"kubepods[^\n]*?([0-9a-f]{64})")),
)
_KUBEPODS = re.compile(r"kubepods")


class ProcessGone(KubedebugError):
    """The process exited while it was being read."""


def _read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def _gone(pid, err):
    return ProcessGone(
        "process %s exited while it was being read (%s)" % (pid, err.strerror or err),
        hint="It may be restarting or crash-looping: check its logs, then run again",
        pid=pid,
    )


def parse_cmdline(raw):
    """argv (list of bytes) from the raw bytes of /proc/PID/cmdline.

    Each argument is NUL-terminated, so an empty argument stays an empty
    element. A kernel thread or zombie has an empty cmdline: ``[]``.
    A process that rewrote its argv without the final NUL (setproctitle)
    still gives its text as the last element.
    """
    if not raw:
        return []
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return raw.split(b"\0")


def parse_status(text):
    """Selected fields of /proc/PID/status as a dict of strings."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def parse_stat_starttime(text):
    """Start time in clock ticks after boot (field 22 of /proc/PID/stat)."""
    # comm (field 2) is in parentheses and may contain spaces or ')'.
    rest = text[text.rindex(")") + 2:].split()
    return int(rest[19])


def parse_cgroup(text):
    """Lines of /proc/PID/cgroup as [{"hierarchy", "controllers", "path"}]."""
    out = []
    for line in text.splitlines():
        if not line:
            continue
        hid, _sep, rest = line.partition(":")
        controllers, _sep, path = rest.partition(":")
        out.append({"hierarchy": hid, "controllers": controllers, "path": path})
    return out


def container_of(cgroups):
    """(in_container, runtime, container_id) from parsed cgroup lines."""
    paths = "\n".join(c["path"] for c in cgroups)
    for runtime, pat in _CONTAINER_PATTERNS:
        m = pat.search(paths)
        if m:
            return True, runtime, m.group(1)
    if _KUBEPODS.search(paths):
        return True, "kubepods", None
    return False, None, None


def decode_argv(argv_bytes):
    """(argv as str, exact) where exact is False if some argument is not UTF-8.

    Undecodable bytes are kept as surrogate escapes so nothing is lost.
    """
    exact = True
    out = []
    for a in argv_bytes:
        try:
            out.append(a.decode("utf-8"))
        except UnicodeDecodeError:
            exact = False
            out.append(a.decode("utf-8", "surrogateescape"))
    return out, exact


def read_process(pid, proc=PROC):
    """Facts about one process. Raises ProcessGone or KubedebugError."""
    pid = int(pid)
    base = os.path.join(proc, str(pid))
    try:
        raw = _read(os.path.join(base, "cmdline"))
        status = parse_status(_read(os.path.join(base, "status"), "r"))
        stat = _read(os.path.join(base, "stat"), "r")
        cgroup_text = _read(os.path.join(base, "cgroup"), "r")
    except (FileNotFoundError, ProcessLookupError) as e:
        raise _gone(pid, e) from e
    except PermissionError as e:
        raise KubedebugError(
            "cannot read /proc/%s: %s" % (pid, e.strerror),
            hint="Run the task with become: true",
            pid=pid,
        ) from e
    argv_bytes = parse_cmdline(raw)
    argv, exact = decode_argv(argv_bytes)
    exe, exe_deleted = _readlink_exe(base, pid)
    cwd = _readlink(os.path.join(base, "cwd"), pid)
    cgroups = parse_cgroup(cgroup_text)
    in_container, runtime, cid = container_of(cgroups)
    pid_ns = pid_namespace(pid, proc)
    uid = status.get("Uid", "").split()
    gid = status.get("Gid", "").split()
    kernel_thread = not argv_bytes and status.get("State", "").split()[:1] != ["Z"]
    return {
        "pid": pid,
        "ppid": int(status.get("PPid", "0") or 0),
        "comm": status.get("Name", ""),
        "state": status.get("State", ""),
        "uid": int(uid[0]) if uid else None,
        "euid": int(uid[1]) if len(uid) > 1 else None,
        "gid": int(gid[0]) if gid else None,
        "traced_by": int(status.get("TracerPid", "0") or 0),
        "argv": argv,
        "argv_exact": exact,
        "exe": exe,
        "exe_deleted": exe_deleted,
        "cwd": cwd,
        "start_ticks": parse_stat_starttime(stat),
        "cgroup": cgroups,
        "in_container": in_container,
        "container_runtime": runtime,
        "container_id": cid,
        "pid_ns": pid_ns,
        "kernel_thread": kernel_thread,
    }


def pid_namespace(pid, proc=PROC):
    """The PID namespace of pid (``pid:[4026531836]``), or None when it cannot be read."""
    try:
        return os.readlink(os.path.join(proc, str(pid), "ns", "pid"))
    except OSError:
        return None


def _readlink(path, pid):
    try:
        return os.readlink(path)
    except (FileNotFoundError, ProcessLookupError) as e:
        raise _gone(pid, e) from e
    except PermissionError:
        return None
    except OSError as e:  # kernel threads: ENOENT handled above
        if e.errno == errno.ENOENT:
            raise _gone(pid, e) from e
        return None


def _readlink_exe(base, pid):
    try:
        target = os.readlink(os.path.join(base, "exe"))
    except FileNotFoundError:
        # Kernel threads have no exe link; a vanished pid has no directory.
        if not os.path.isdir(base):
            raise _gone(pid, FileNotFoundError(errno.ENOENT, "No such process")) from None
        return None, False
    except PermissionError:
        return None, False
    deleted = target.endswith(" (deleted)")
    if deleted:
        target = target[: -len(" (deleted)")]
    return target, deleted


# ----------------------------------------------------------------- listing


def pids(proc=PROC):
    """All process ids (thread group leaders) under proc, ascending."""
    return sorted(int(n) for n in os.listdir(proc) if n.isdigit())


def ancestors(pid, proc=PROC):
    """pid and its ancestors up to 1 (best effort: a vanished link ends the chain)."""
    chain = []
    seen = set()
    while pid and pid not in seen:
        seen.add(pid)
        chain.append(pid)
        try:
            st = parse_status(_read(os.path.join(proc, str(pid), "status"), "r"))
        except OSError:
            break
        pid = int(st.get("PPid", "0") or 0)
    return chain


def _comm_match(name):
    # /proc/PID/comm holds at most 15 bytes of the executable's basename.
    return name.encode()[:15]


def find_by_name(name, proc=PROC, exclude=()):
    """pids whose executable basename (or argv[0] basename) is ``name``.

    Fast path: /proc/PID/comm is the first 15 bytes of the basename, so only
    processes whose comm matches are read further.
    """
    want_comm = _comm_match(name)
    exclude = set(exclude)
    out = []
    for entry in os.scandir(proc):
        n = entry.name
        if not n.isdigit():
            continue
        pid = int(n)
        if pid in exclude:
            continue
        try:
            with open(os.path.join(entry.path, "comm"), "rb") as f:
                comm = f.read().rstrip(b"\n")
        except OSError:
            continue
        if comm != want_comm:
            continue
        try:
            exe = os.readlink(os.path.join(entry.path, "exe"))
        except OSError:
            exe = None
        if exe is not None:
            if exe.endswith(" (deleted)"):
                exe = exe[: -len(" (deleted)")]
            if os.path.basename(exe) == name:
                out.append(pid)
                continue
        try:
            argv = parse_cmdline(_read(os.path.join(entry.path, "cmdline")))
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode("utf-8", "surrogateescape")) == name:
            out.append(pid)
    return sorted(out)


def find_by_pattern(pattern, proc=PROC, exclude=()):
    """pids whose command line (args joined by single spaces) matches ``pattern``
    (``re.search``). Kernel threads never match."""
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise KubedebugError(
            "pattern %r is not a valid regular expression: %s" % (pattern, e),
            hint="Use Python re syntax, e.g. 'kube-apiserver.*--secure-port=6443'",
        ) from e
    exclude = set(exclude)
    out = []
    for entry in os.scandir(proc):
        n = entry.name
        if not n.isdigit() or int(n) in exclude:
            continue
        try:
            raw = _read(os.path.join(entry.path, "cmdline"))
        except OSError:
            continue
        if not raw:
            continue
        line = " ".join(a.decode("utf-8", "surrogateescape") for a in parse_cmdline(raw))
        if rx.search(line):
            out.append(int(n))
    return sorted(out)


def read_pidfile(path):
    """The pid in a pidfile, validated."""
    try:
        text = _read(path, "r").strip()
    except FileNotFoundError:
        raise KubedebugError(
            "pidfile %s does not exist" % path,
            hint="Is the component running? Give its name or pid instead",
        ) from None
    except OSError as e:
        raise KubedebugError("cannot read pidfile %s: %s" % (path, e.strerror), hint="Check its permissions or run with become: true") from e
    if not text.isdigit() or int(text) <= 0:
        raise KubedebugError(
            "pidfile %s does not hold a pid (content %r)" % (path, text[:40]),
            hint="Point pidfile at the file the component writes its pid to",
        )
    return int(text)


def parse_main_pid(systemctl_show_output, unit):
    """MainPID from ``systemctl show -p MainPID --value UNIT`` (or ``MainPID=N``)."""
    text = systemctl_show_output.strip()
    if text.startswith("MainPID="):
        text = text[len("MainPID="):]
    if not text.isdigit():
        raise KubedebugError("unexpected MainPID for unit %s: %r" % (unit, text))
    pid = int(text)
    if pid == 0:
        raise KubedebugError(
            "systemd unit %s has no main process (MainPID=0): it is not running" % unit,
            hint="Start it first (systemctl start %s) or check 'systemctl status %s'" % (unit, unit),
        )
    return pid


def main_pid_lookup(run_command, systemctl="systemctl"):
    """``main_pid_of(unit)`` for select(): the unit's MainPID through ``run_command([systemctl, "show", ...])``."""
    def lookup(unit):
        rc, out, err = run_command([systemctl, "show", "-p", "MainPID", "--value", unit])
        if rc != 0:
            raise KubedebugError(
                "systemctl show %s failed: %s" % (unit, err.strip()),
                hint="Is systemd PID 1 on this host, and is the unit name right?",
            )
        return parse_main_pid(out, unit)

    return lookup


def pick(processes, how):
    """One process from a list of read processes: ``only``, ``newest`` or ``oldest``."""
    if how == "newest":
        return max(processes, key=lambda p: (p["start_ticks"], p["pid"]))
    if how == "oldest":
        return min(processes, key=lambda p: (p["start_ticks"], p["pid"]))
    if len(processes) != 1:
        raise KubedebugError(
            "%d processes match" % len(processes),
            hint="Narrow the selector (pattern, pid, pidfile, systemd_unit) or set pick: newest or pick: oldest",
            matches=[summary(p) for p in processes],
        )
    return processes[0]


def summary(p):
    """A short description of a read process for messages and results."""
    return {"pid": p["pid"], "exe": p["exe"], "argv": p["argv"][:6] + (["..."] if len(p["argv"]) > 6 else [])}


# ---------------------------------------------------------------- selection


def _where(p):
    if p.get("container_runtime"):
        return "%s container %s" % (p["container_runtime"], (p.get("container_id") or "?")[:12])
    return "a container"


SELECTOR_KEYS = ("name", "pattern", "pid", "pidfile", "systemd_unit")


def selector_text(sel):
    for key in SELECTOR_KEYS:
        if sel.get(key) is not None:
            return "%s=%s" % (key, sel[key])
    return "?"


def select(sel, pick_how="only", proc=PROC, main_pid_of=None, same_pid_namespace=False):
    """The one process a selector names, read; plus every match.

    ``sel`` has one of name, pattern, pid, pidfile, systemd_unit.
    ``main_pid_of(unit)`` returns a unit's MainPID (the caller runs systemctl).
    This process and its ancestors never match by name or pattern.
    ``same_pid_namespace``: only processes in this process's PID namespace count (a relaunch from
    here cannot put a process of another container back where it was); by name or pattern the
    others are skipped, named explicitly they are refused.
    Returns (process, matches).
    """
    explicit = sel.get("name") is None and sel.get("pattern") is None
    if sel.get("pid") is not None:
        pids = [int(sel["pid"])]
    elif sel.get("pidfile"):
        pids = [read_pidfile(sel["pidfile"])]
    elif sel.get("systemd_unit"):
        if main_pid_of is None:
            raise KubedebugError("cannot look up a systemd unit here", hint="Select the process by name, pattern or pid")
        pids = [main_pid_of(sel["systemd_unit"])]
    else:
        exclude = ancestors(os.getpid(), proc)
        if sel.get("name"):
            pids = find_by_name(sel["name"], proc, exclude)
        else:
            pids = find_by_pattern(sel["pattern"], proc, exclude)
    if explicit and not os.path.isdir(os.path.join(proc, str(pids[0]))):
        raise KubedebugError(
            "no running process has pid %d (from %s)" % (pids[0], selector_text(sel)),
            hint="The process is not running: start it, or fix the pid/pidfile",
            matches=[],
        )
    read = []
    vanished = []
    for pid in pids:
        try:
            read.append(read_process(pid, proc))
        except ProcessGone:
            if explicit:
                raise
            vanished.append(pid)
    elsewhere = []
    mine = pid_namespace(os.getpid(), proc) if same_pid_namespace else None
    if mine is not None:
        elsewhere = [p for p in read if p["pid_ns"] is not None and p["pid_ns"] != mine]
        if explicit and elsewhere:
            p = elsewhere[0]
            raise KubedebugError(
                "process %d (%s) runs in another PID namespace (%s): it cannot be relaunched from here"
                % (p["pid"], p["comm"], _where(p)),
                hint="Run against the host or container it belongs to; a kubelet's static pod is debugged in static-pod mode",
                matches=[summary(p)],
            )
        read = [p for p in read if p not in elsewhere]
    if not read:
        raise KubedebugError(
            "no running process matches %s%s%s" % (
                selector_text(sel), " (pids %s exited while being read)" % vanished if vanished else "",
                " in this PID namespace; %d match%s in other PID namespaces: %s" % (
                    len(elsewhere), "" if len(elsewhere) == 1 else "es",
                    ", ".join("pid %d (%s)" % (p["pid"], _where(p)) for p in elsewhere)) if elsewhere else ""),
            hint="Check that the component is running (ps -e, systemctl status, crictl ps) and the selector is right"
            + ("; processes in containers are debugged from inside them, or in static-pod mode" if elsewhere else ""),
            matches=[summary(p) for p in elsewhere],
        )
    chosen = pick(read, pick_how)
    if not chosen["argv"]:
        raise KubedebugError(
            "process %d (%s) has an empty command line: it is a kernel thread or a zombie, nothing to relaunch" % (chosen["pid"], chosen["comm"]),
            hint="Select the user-space component process instead",
            matches=[summary(x) for x in read],
        )
    if not chosen["argv_exact"]:
        raise KubedebugError(
            "the arguments of process %d are not valid UTF-8, so they cannot be relaunched byte-exactly" % chosen["pid"],
            hint="Start the component with UTF-8 arguments",
        )
    return chosen, [summary(x) for x in read]
