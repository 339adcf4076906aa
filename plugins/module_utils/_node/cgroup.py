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

:func:`gather_facts` is the cgroup_facts module: it asks each container
runtime present and the kubelet which driver they use (running daemon first,
then their config files) and adds :func:`verdict`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import platform

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import file_edit as _file_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._node import runtimes as _runtimes
from ansible_collections.kubedebug.lab.plugins.module_utils._node import toml_edit as _toml_edit

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


# ----------------------------------------------------------- this host's facts


class NodeFacts(object):
    """Reads each runtime's and the kubelet's cgroup driver; ``module`` gives run_command, get_bin_path, params.

    A config file that cannot be read or parsed is an entry in ``errors``, not
    an exception: the facts say what could be read, and ``consistent`` is then
    false.
    """

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.errors = []

    def bin(self, *names):
        for name in names:
            found = self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"])
            if found:
                return found
        return None

    def read(self, path):
        try:
            return _file_edit.read(path)
        except KubedebugError as err:
            self.errors.append(str(err))
            return False, ""

    def docker(self, mode, systemd_pid1, procs):
        cli, daemon = self.bin("docker"), self.bin("dockerd")
        out = {"present": bool(cli or daemon), "running": False, "driver": None, "source": None}
        if not out["present"]:
            return out
        existed, text = self.read(self.p["docker_daemon_json"])
        try:
            out["configured_driver"] = _runtimes.docker_daemon_json_driver(text, self.p["docker_daemon_json"]) if existed else None
        except KubedebugError as err:
            self.errors.append(str(err))
            out["configured_driver"] = None
        out["flag_exec_opts"] = [o for argv in procs.get("dockerd", []) for o in _runtimes.dockerd_flag_exec_opts(argv)]
        if cli:
            rc, stdout, stderr = self.module.run_command([cli, "info", "--format", "{{json .}}"])
            info = _runtimes.parse_docker_info_json(stdout)
            if info is None and rc == 0:  # a CLI without --format: read the text by key
                rc, stdout, stderr = self.module.run_command([cli, "info"])
                info = _runtimes.parse_docker_info_text(stdout) if rc == 0 else None
            if info and info["running"]:
                out.update(running=True, driver=info["driver"], source="docker info",
                           cgroup_version=info["cgroup_version"], server_version=info["server_version"])
                return out
            out["error"] = (info or {}).get("error") or stderr.strip() or "docker info failed"
        flag = [o.split("=", 1)[1] for o in out["flag_exec_opts"] if o.lower().startswith(_runtimes.EXEC_OPT + "=")]
        if flag:
            out.update(driver=flag[-1], source="dockerd --exec-opt (docker not answering)")
        elif out["configured_driver"]:
            out.update(driver=out["configured_driver"], source="%s (docker not answering)" % self.p["docker_daemon_json"])
        else:
            out.update(driver=_runtimes.docker_default_driver(mode, systemd_pid1), source="Docker default (docker not answering)")
        return out

    def containerd(self):
        binary = self.bin("containerd")
        path = self.p["containerd_config"]
        out = {"present": bool(binary), "driver": None, "source": None, "config_path": path}
        if not binary:
            return out
        existed, text = self.read(path)
        try:
            info = _runtimes.containerd_driver(_toml_edit.loads(text, path), path)
            out.update(config_driver=info["driver"], key=info["key"], cri_disabled=info["cri_disabled"],
                       driver=info["driver"], source=path if existed else "containerd default (no %s)" % path)
        except KubedebugError as err:
            self.errors.append(str(err))
            return out
        # the effective config, with imports and defaults merged by containerd itself
        rc, stdout, _stderr = self.module.run_command([binary, "--config", path, "config", "dump"] if existed else [binary, "config", "dump"])
        if rc == 0:
            try:
                info = _runtimes.containerd_driver(_toml_edit.loads(stdout, "containerd config dump"))
                out.update(driver=info["driver"], source="containerd config dump")
            except KubedebugError:
                pass
        return out

    def crio(self):
        binary = self.bin("crio")
        main = self.p["crio_config"]
        out = {"present": bool(binary), "driver": None, "source": None}
        if not binary:
            return out
        docs = []
        for path in [main] + sorted(glob.glob(main + ".d/*.conf")):
            existed, text = self.read(path)
            if existed:
                try:
                    docs.append((path, _toml_edit.loads(text, path)))
                except KubedebugError as err:
                    self.errors.append(str(err))
        out.update(_runtimes.crio_driver(docs))
        return out

    def kubelet(self, procs, docker_present):
        running = procs.get("kubelet", [])
        argv = running[0] if running else []
        binary = self.bin("kubelet") or (argv[0] if argv and os.path.isabs(argv[0]) and os.path.exists(argv[0]) else None)
        config_path = self.p["kubelet_config"] or ((_runtimes.flag_values(argv, "config") or [None])[-1]) or "/var/lib/kubelet/config.yaml"
        existed, text = self.read(config_path)
        out = {"present": bool(binary or running or existed), "running": bool(running), "config_path": config_path,
               "driver": None, "source": None, "runtime": None, "version": None}
        if not out["present"]:
            return out
        config = {}
        if existed:
            try:
                config = _runtimes.read_kubelet_config(text, config_path)
            except KubedebugError as err:
                self.errors.append(str(err))
        flags = list(argv[1:])
        flag_source = "kubelet command line"
        if not running:
            flag_source = "kubelet flag files"
            for path in self.p["kubelet_flags_files"]:
                f_existed, f_text = self.read(path)
                if f_existed:
                    try:
                        for args in _runtimes.read_env_file(f_text, path).values():
                            flags.extend(args)
                    except KubedebugError as err:
                        self.errors.append(str(err))
        flag = (_runtimes.flag_values(flags, "cgroup-driver") or [None])[-1]
        out.update(config_driver=config.get("cgroupDriver"), flag_driver=flag)
        if flag:
            out.update(driver=flag, source="--cgroup-driver (%s)" % flag_source)
        elif config.get("cgroupDriver"):
            out.update(driver=config["cgroupDriver"], source=config_path)
        else:
            out.update(driver="cgroupfs", source="kubelet default")
        if binary:
            rc, stdout, _stderr = self.module.run_command([binary, "--version"])
            version = _runtimes.parse_kubelet_version(stdout) if rc == 0 else None
            out["version"] = "%d.%d" % version if version else None
        else:
            version = None
        out["runtime"] = _runtimes.kubelet_runtime(flags, config, version, docker_present)
        return out

    def gather(self):
        mode = detect_mode(self.p["cgroup_root"])
        pid1 = pid1_name()
        systemd_pid1 = pid1 == "systemd"
        procs = processes({"dockerd", "kubelet"})
        runtimes = {
            "docker": self.docker(mode["mode"], systemd_pid1, procs),
            "containerd": self.containerd(),
            "crio": self.crio(),
        }
        kubelet = self.kubelet(procs, runtimes["docker"]["present"])
        facts = dict(mode, pid1=pid1, systemd_pid1=systemd_pid1, runtimes=runtimes, kubelet=kubelet)
        facts.update(verdict(mode["mode"], systemd_pid1, runtimes, kubelet))
        facts["errors"] = self.errors
        if self.errors:
            facts["consistent"] = False
            facts["reason"] = "Cannot tell, a config file is unreadable: %s. %s" % ("; ".join(self.errors), facts["reason"])
        return facts


def gather_facts(module):
    """cgroup_facts: the ``kubedebug_cgroup`` fact (mode, PID 1, each runtime, the kubelet, the verdict)."""
    return NodeFacts(module).gather()
