# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""cgroup mode, init system, and the cgroup-driver verdict for a node.

The mode is read the way runc and containerd's ``cgroups.Mode()`` read it:
from the filesystem *type* (``statfs(2)`` ``f_type``) of ``/sys/fs/cgroup``
and ``/sys/fs/cgroup/unified``, not from mount options or the kernel command
line:

- ``/sys/fs/cgroup`` is cgroup2 (``CGROUP2_SUPER_MAGIC``)         -> ``unified``
- otherwise, ``/sys/fs/cgroup/unified`` is cgroup2                  -> ``hybrid``
- otherwise (tmpfs with v1 controllers under it)                  -> ``legacy``
- ``/sys/fs/cgroup`` cannot be stat'ed                             -> ``unavailable``

``os.statvfs`` does not expose ``f_type``, so :func:`statfs_type` calls libc's
``statfs`` through ctypes. The decision itself (:func:`mode_from_types`) is
pure and unit-tested with injected values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

CGROUP2_SUPER_MAGIC = 0x63677270
CGROUP_SUPER_MAGIC = 0x0027E0EB
TMPFS_MAGIC = 0x01021994

FS_NAMES = {
    CGROUP2_SUPER_MAGIC: "cgroup2",
    CGROUP_SUPER_MAGIC: "cgroup",
    TMPFS_MAGIC: "tmpfs",
    0x62656572: "sysfs",
    0x794C7630: "overlay",
    0x9FA0: "proc",
}

MODES = ("unified", "hybrid", "legacy", "unavailable")

_libc = None


def _load_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def statfs_type(path):
    """``f_type`` of the filesystem holding ``path`` (an int), or None if it cannot be stat'ed.

    ``struct statfs`` starts with ``f_type`` on every Linux ABI; it is a
    ``long`` (``__fsword_t``) except on s390x, where it is an ``unsigned int``.
    The buffer is larger than any ``struct statfs``.
    """
    buf = ctypes.create_string_buffer(512)
    if _load_libc().statfs(os.fsencode(path), buf) != 0:
        return None
    ctype = ctypes.c_uint if platform.machine() == "s390x" else ctypes.c_ulong
    return ctype.from_buffer(buf).value & 0xFFFFFFFF


def fs_name(ftype):
    if ftype is None:
        return None
    return FS_NAMES.get(ftype, "0x%x" % ftype)


def mode_from_types(root_type, unified_type):
    """The cgroup mode from the two ``f_type`` values (None: could not stat)."""
    if root_type is None:
        return "unavailable"
    if root_type == CGROUP2_SUPER_MAGIC:
        return "unified"
    if unified_type == CGROUP2_SUPER_MAGIC:
        return "hybrid"
    return "legacy"


def detect_mode(root="/sys/fs/cgroup", statfs=statfs_type):
    """Mode and the evidence for it, for ``root`` (``/sys/fs/cgroup`` on a node)."""
    unified = os.path.join(root, "unified")
    root_type = statfs(root)
    unified_type = statfs(unified) if root_type not in (None, CGROUP2_SUPER_MAGIC) else None
    mode = mode_from_types(root_type, unified_type)
    return {
        "mode": mode,
        "version": {"unified": 2, "hybrid": 1, "legacy": 1}.get(mode),
        "fs_types": {root: fs_name(root_type), unified: fs_name(unified_type)},
    }


def read_text(path, default=None):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return default


def pid1_name(proc="/proc"):
    """Name of PID 1 (in this PID namespace): ``systemd`` when booted with systemd."""
    comm = read_text(os.path.join(proc, "1", "comm"))
    return comm.strip() if comm else None


def processes(names, proc="/proc"):
    """``{name: [argv, ...]}`` for running processes whose comm is in ``names``."""
    found = {}
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return found
    for pid in pids:
        comm = read_text(os.path.join(proc, pid, "comm"))
        if not comm or comm.strip() not in names:
            continue
        raw = read_text(os.path.join(proc, pid, "cmdline"), "")
        argv = [a for a in raw.split("\0") if a != ""]
        if argv:
            found.setdefault(comm.strip(), []).append(argv)
    return found


def _describe(name, info):
    return "%s=%s (%s)" % (name, info.get("driver"), info.get("source"))


def verdict(mode, systemd_pid1, runtimes, kubelet):
    """Are the runtime(s) and the kubelet on one cgroup driver, and which should they use?

    ``runtimes``: ``{name: {"present": bool, "driver": str|None, "source": str}}``;
    ``kubelet``: ``{"present": bool, "driver": ..., "source": ..., "runtime": name|None}``.

    Compared: the kubelet and the runtime it talks to when both are known;
    without a kubelet, every runtime present. Recommended: ``systemd`` when
    systemd is PID 1 on a cgroup v2 (unified) host; otherwise the driver the
    runtime already uses (changing the kubelet is cheaper than the runtime),
    else the kubelet's, else ``systemd`` if systemd is PID 1 and ``cgroupfs``
    if not.
    """
    present = {n: r for n, r in runtimes.items() if r.get("present") and r.get("driver")}
    primary = None
    if kubelet.get("present") and kubelet.get("runtime") in present:
        primary = kubelet["runtime"]
    elif present:
        # docker first: with docker installed, containerd is usually its backend
        primary = "docker" if "docker" in present else sorted(present)[0]

    compared = {}
    if kubelet.get("present") and kubelet.get("driver"):
        compared["kubelet"] = kubelet
        if primary:
            compared[primary] = present[primary]
    else:
        compared.update(present)

    drivers = set(c["driver"] for c in compared.values())
    consistent = len(drivers) <= 1
    conflicts = [] if consistent else sorted(_describe(n, c) for n, c in compared.items())

    if mode == "unified" and systemd_pid1:
        recommended = "systemd"
        reason = "cgroup v2 (unified) with systemd as PID 1: systemd must own the cgroup tree, so use the systemd driver"
    elif primary:
        recommended = present[primary]["driver"]
        reason = "%s host: keep the driver the container runtime (%s) already uses, %s" % (
            mode, primary, recommended)
    elif kubelet.get("present") and kubelet.get("driver"):
        recommended = kubelet["driver"]
        reason = "%s host with no container runtime found: keep the kubelet's %s" % (mode, recommended)
    elif systemd_pid1:
        recommended = "systemd"
        reason = "%s host, nothing configured yet, systemd is PID 1: systemd" % mode
    else:
        recommended = "cgroupfs"
        reason = "%s host, nothing configured yet, systemd is not PID 1: cgroupfs" % mode

    if consistent and len(compared) > 1:
        why = "%s agree on %s" % (" and ".join(sorted(compared)), drivers.pop())
    elif consistent:
        why = "only %s found: nothing to disagree with" % (", ".join(sorted(compared)) or "no runtime or kubelet")
    else:
        why = "disagree: " + ", ".join(conflicts)
    return {
        "consistent": consistent,
        "compared": sorted(compared),
        "conflicts": conflicts,
        "primary_runtime": primary,
        "recommended_driver": recommended,
        "reason": "%s. Recommended %s: %s" % (why, recommended, reason),
    }
