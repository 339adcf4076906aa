# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""The runs of static_pod_debug: a session on one manifest (lock, leftover temp files, the checks that need
the directory), debug in pod mode and host mode, restore - each run read-only first and for real only when
it would change something (``_two_passes``)."""

from __future__ import annotations

import datetime
import fcntl
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.manifest import (
    DEFAULT_BACKUP_DIR,
    HEADER,
    RAW_LISTEN,
    RECORD_SUFFIX,
    SHA_SUFFIX,
    container_argv,
    parse,
    raw_marker,
    select_container,
    sha256,
)
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.podyaml import render_yaml
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.rewrite import plan_debug
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.store import Store, env_fault_hook, prefixed, read_file


class Session:
    def __init__(self, p, hook=None, check_mode=False):
        self.p = p
        self.path = p["path"]
        self.dir = os.path.dirname(self.path) or "."
        self.base = os.path.basename(self.path)
        self.store = Store(p.get("backup_dir") or DEFAULT_BACKUP_DIR, self.path)
        self.hook = hook if hook is not None else env_fault_hook
        self.check_mode = check_mode
        self.steps = []
        self.warnings = []
        self._lock_fd = None

    def step(self, name):
        self.steps.append(name)
        self.hook(name)

    def check_layout(self):
        if not os.path.isabs(self.path):
            raise KubedebugError("path %r is not absolute" % self.path,
                                 hint="Give the manifest's full path, e.g. /etc/kubernetes/manifests/kube-apiserver.yaml")
        mdir = os.path.realpath(self.dir)
        bdir = os.path.realpath(self.store.dir)
        if bdir == mdir or bdir.startswith(mdir.rstrip("/") + "/"):
            raise KubedebugError(
                "backup_dir %s is inside the manifest directory %s" % (self.store.dir, self.dir),
                hint="The kubelet runs every non-hidden file there as a static pod (kubernetes#136962): use a directory outside it, "
                "e.g. %s" % DEFAULT_BACKUP_DIR,
            )

    def lock(self, create):
        if self.check_mode or (not create and not os.path.isdir(self.store.dir)):
            return
        os.makedirs(self.store.dir, 0o700, exist_ok=True)
        fd = os.open(self.store.lockfile, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KubedebugError("another run is working on %s (it holds %s)" % (self.path, self.store.lockfile),
                                 hint="Wait for it to finish, then run again") from None
        self._lock_fd = fd
        self.step("locked")

    def unlock(self):
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def temp_files(self):
        """Temp files of this manifest's writers that a killed run left behind."""
        pat = re.compile(r"^\.%s(%s|%s)?\.kubedebug-tmp\.\d+$" % (re.escape(self.base), re.escape(SHA_SUFFIX), re.escape(RECORD_SUFFIX)))
        found = []
        for d in sorted({self.dir, self.store.dir}):
            try:
                names = os.listdir(d)
            except OSError:
                continue
            found.extend(os.path.join(d, n) for n in sorted(names) if pat.match(n))
        return found

    def cleanup_temps(self):
        """Remove leftover temp files (dot-named: the kubelet never read them). Call under the lock."""
        removed = []
        for path in self.temp_files():
            try:
                os.unlink(path)
                removed.append(path)
            except FileNotFoundError:
                pass
        return removed

    def sibling_warnings(self):
        """Copies of this manifest inside the manifest directory are pods too."""
        stem = self.base.split(".")[0]
        try:
            names = sorted(os.listdir(self.dir))
        except OSError:
            return
        suspects = [n for n in names if n != self.base and not n.startswith(".") and
                    (n.startswith(self.base) or (n.startswith(stem) and re.search(r"(\.old|\.bak|\.orig|\.backup|\.save|~)$", n)))]
        if suspects:
            self.warnings.append(
                "%s also holds %s: the kubelet runs every non-hidden file there as a static pod whatever its extension "
                "(kubernetes#136962), so these copies run too. Move them out of the directory" % (self.dir, ", ".join(suspects))
            )

    def listen_conflicts(self, listen):
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for n in sorted(names):
            if n == self.base or n.startswith("."):
                continue
            raw = _read_quiet(os.path.join(self.dir, n))
            m = RAW_LISTEN.search(raw or b"")
            if m and m.group(1).decode("utf-8", "replace") == listen:
                raise KubedebugError(
                    "%s is already in debug form with dlv on %s" % (os.path.join(self.dir, n), listen),
                    hint="Give this component another listen port (e.g. 127.0.0.1:2346)",
                )


def _read_quiet(path):
    try:
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read(1 << 20)
    except OSError:
        return None


def _text(raw):
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _stat_record(st):
    return {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid}


def _validate_binaries(p, info, fresh):
    """Debug binary: a Go ELF with DWARF; both binaries statically linked (the images are distroless)."""
    for what, path in (("debug binary", p["binary"]), ("dlv", p["dlv_host_path"])):
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise KubedebugError(
                "%s %s does not exist or is not executable" % (what, path),
                hint="Build the debug binary with the kubedebug.lab build role; install a static dlv (CGO_ENABLED=0)" if what == "dlv" else
                "Build it with GOGCFLAGS='all=-N -l' and no '-s -w' (the kubedebug.lab build role)",
            )
        if p.get("require_static", True):
            interp = _elf.interpreter(path)
            if interp:
                raise KubedebugError(
                    "%s %s is dynamically linked (interpreter %s): it cannot start inside the component's container image, which has no "
                    "libc or loader (the Kubernetes control-plane images are distroless)" % (what, path, interp),
                    hint="Use a statically linked build (CGO_ENABLED=0 go build ...; Debian's /usr/bin/dlv is dynamic), or set "
                    "require_static: false if the image has this loader",
                )
    verdict = _elf.debuggability(p["binary"])
    if verdict["reasons"]:
        raise KubedebugError("; ".join(verdict["reasons"]),
                             hint="Build it with GOGCFLAGS='all=-N -l' and no '-s -w' (the kubedebug.lab build role); nothing was changed",
                             debug_info=verdict)
    if fresh and p.get("port_check", True) and info["exposure"] == "loopback":
        if info["port"] in _supervise.listening_ports():
            raise KubedebugError(
                "something on this host already listens on port %d; dlv in the pod (host network) could not bind %s" % (info["port"], info["listen"]),
                hint="Pick a free port for listen, or stop what uses it",
            )


def _two_passes(p, hook, check_mode, body, create_lock):
    """Run body read-only first; only when it would change something, lock and run it for real.

    A run that changes nothing (a second debug, a restore with nothing to do, a
    failure) creates no backup directory, lock file or anything else.
    """
    s = Session(p, hook, check_mode=True)
    s.check_layout()
    temps = s.temp_files()
    result = body(s)
    if not check_mode and (result["changed"] or temps):
        s = Session(p, hook, check_mode=False)
        try:
            s.lock(create=create_lock)
            removed = s.cleanup_temps()
            result = body(s)
        finally:
            s.unlock()
        if removed:
            result["removed_temp_files"] = removed
    result.setdefault("warnings", []).extend(s.warnings)
    result["steps"] = s.steps
    return result


def debug(p, hook=None, check_mode=False):
    """``state: debug``. Returns the module result (with ``diff_data``)."""
    return _two_passes(p, hook, check_mode, _debug_host if p.get("mode") == "host" else _debug_static, True)


def _load(s, restoring=False):
    raw, st = read_file(s.path)
    loaded = s.store.load()
    if loaded["damaged"] and not restoring:
        raise KubedebugError(
            "the record %s of the backup set is damaged (%s); nothing was changed" % (s.store.record, loaded["damaged"]),
            hint="Run state=restored: it puts the original back from %s, checked against %s; then debug again"
            % (s.store.backup, s.store.sha), **s.store.paths())
    if loaded["damaged"] and loaded["sha"] is None and loaded["backup"] is not None:
        raise KubedebugError(
            "the record %s is damaged (%s) and there is no %s: the backup %s cannot be checked" % (
                s.store.record, loaded["damaged"], s.store.sha, s.store.backup),
            hint="Compare the backup with your own copies; once it is the original, write its sha256 into %s (sha256sum format) "
            "and run again" % s.store.sha, **s.store.paths())
    original = s.store.verified(loaded)
    return raw, st, loaded, original


def _mismatch(s, raw, original, rec):
    """Error for a manifest that is neither the backed-up original nor a debug form of it."""
    if raw_marker(raw) == sha256(original):
        return KubedebugError(
            "%s is a debug form that was edited after kubedebug.lab wrote it" % s.path,
            hint="Run state=restored with force: true (it keeps the edited file next to the backup), then debug again",
            **s.store.paths(),
        )
    return KubedebugError(
        "%s differs from the backup %s of an earlier debug session (sha256 %s now, %s in the backup)" % (s.path, s.store.backup, sha256(raw), sha256(original)),
        hint="The manifest changed since (kubeadm upgrade? edited by hand?). If the manifest in place is the original you want, move "
        "%s, %s and %s away and run again; if the backup is, run state=restored with force: true" % (s.store.backup, s.store.sha, s.store.record),
        **s.store.paths(),
    )


def _debug_static(s):
    p = s.p
    raw, st, loaded, original = _load(s)
    rec = loaded["record"]
    if raw is None:
        if original is not None:
            how = " (mode=host moved it out)" if rec and rec.get("mode") == "host" else ""
            raise KubedebugError("%s is absent but a backup of it exists at %s%s" % (s.path, s.store.backup, how),
                                 hint="Run state=restored to put the original back first", **s.store.paths())
        raise KubedebugError("no static-pod manifest at %s" % s.path, hint="Check path (kubeadm writes /etc/kubernetes/manifests/COMPONENT.yaml)")
    cur = sha256(raw)
    if original is None:
        marker = raw_marker(raw)
        if marker:
            raise KubedebugError(
                "%s is already in debug form (original sha256 %s) but %s holds no backup of it" % (s.path, marker, s.store.dir),
                hint="Run with the backup_dir of the earlier session. If the backup is lost, regenerate the manifest "
                "(kubeadm init phase control-plane COMPONENT) and run again",
                **s.store.paths(),
            )
        source, source_st, fresh = raw, st, True
    elif cur == sha256(original):
        source, source_st, fresh = raw, st, True  # an earlier run stopped before the rewrite
    elif rec and rec.get("mode") == "static" and cur in rec.get("debug_sha256", []):
        source, source_st, fresh = original, None, False  # our debug form: render again from the original
    else:
        raise _mismatch(s, raw, original, rec)
    osha = sha256(source)
    pod = parse(source, s.store.backup if not fresh else s.path)
    plan = plan_debug(pod, p, osha, s.store.backup)
    info = plan["info"]
    text = render_yaml(plan["pod"], [
        "%s of %s." % (HEADER, s.path),
        "The original (sha256 %s) is kept at %s; state=restored puts it back." % (osha, s.store.backup),
    ])
    new_raw = text.encode("utf-8")
    new_sha = sha256(new_raw)
    if p.get("validate", True):
        _validate_binaries(p, info, fresh)
    if fresh:
        s.listen_conflicts(info["listen"])
        s.sibling_warnings()
    s.warnings.extend(plan["warnings"])
    changed = new_raw != raw
    result = {
        "changed": changed,
        "path": s.path,
        "state": "debug",
        "mode": "static",
        "changes": plan["changes"],
        "original_sha256": osha,
        "manifest_sha256": new_sha,
        "backup": s.store.paths(),
        "diff_data": {"before": _text(raw), "after": text, "before_header": s.path, "after_header": s.path + " (debug form)"},
    }
    result.update(info)
    if s.check_mode:
        return result
    if fresh:
        orig_stat = _stat_record(source_st)
    else:
        orig_stat = {k: rec["original"][k] for k in ("mode", "uid", "gid")}
    shas = list(rec.get("debug_sha256", [])) if rec and rec.get("mode") == "static" else []
    if new_sha not in shas:
        shas.append(new_sha)
    record = {
        "original": dict(orig_stat, path=s.path, sha256=osha, size=len(source)),
        "mode": "static",
        "container": info["container"],
        "debug_sha256": shas,
        "created": (rec or {}).get("created") or _now(),
    }
    s.store.write(source, record, s.step, loaded)
    if changed:
        _files.atomic_write(s.path, new_raw, st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid, hook=prefixed(s.step, "manifest"))
    s.step("done")
    return result


def _debug_host(s):
    raw, st, loaded, original = _load(s)
    rec = loaded["record"]
    if raw is None:
        if original is not None and rec and rec.get("mode") == "host":
            pod = parse(original, s.store.backup)
            _i, c = select_container(pod, s.p.get("container"))
            return _host_result(s, c, sha256(original), False, original)
        if original is not None:
            raise KubedebugError("%s is absent but a backup of it exists at %s" % (s.path, s.store.backup),
                                 hint="Run state=restored to put the original back first", **s.store.paths())
        raise KubedebugError("no static-pod manifest at %s" % s.path, hint="Check path (kubeadm writes /etc/kubernetes/manifests/COMPONENT.yaml)")
    if original is not None and sha256(raw) != sha256(original):
        if rec and rec.get("mode") == "static" and sha256(raw) in rec.get("debug_sha256", []):
            raise KubedebugError("%s is in static-pod debug form" % s.path, hint="Run state=restored first, then mode=host", **s.store.paths())
        raise _mismatch(s, raw, original, rec)
    if original is None and raw_marker(raw):
        raise KubedebugError("%s is in debug form but %s holds no backup of it" % (s.path, s.store.dir),
                             hint="Run with the backup_dir of the earlier session", **s.store.paths())
    pod = parse(raw, s.path)
    _i, c = select_container(pod, s.p.get("container"))
    _command, _args, argv = container_argv(c)
    if argv and os.path.basename(argv[0]).startswith("dlv"):
        raise KubedebugError("container %r already runs %s: this manifest was changed by hand" % (c["name"], argv[0]),
                             hint="Put the original manifest back first, then run again")
    s.sibling_warnings()
    result = _host_result(s, c, sha256(raw), True, raw)
    if s.check_mode:
        return result
    record = {
        "original": dict(_stat_record(st), path=s.path, sha256=sha256(raw), size=len(raw)),
        "mode": "host",
        "container": c["name"],
        "debug_sha256": [],
        "created": (rec or {}).get("created") or _now(),
    }
    s.store.write(raw, record, s.step, loaded)
    os.unlink(s.path)
    _files.fsync_dir(s.dir)
    s.step("manifest:removed")
    s.step("done")
    return result


def _host_result(s, c, osha, changed, raw):
    command, args, argv = container_argv(c)
    return {
        "changed": changed,
        "path": s.path,
        "state": "debug",
        "mode": "host",
        "container": c["name"],
        "original_sha256": osha,
        "original_argv": argv,
        "original_command": command,
        "original_args": args,
        "container_spec": c,
        "backup": s.store.paths(),
        "diff_data": {"before": _text(raw) if changed else "", "after": "", "before_header": s.path,
                      "after_header": "%s (moved to %s)" % (s.path, s.store.backup)},
    }


def restore(p, hook=None, check_mode=False):
    """``state: restored``: the exact original bytes back (sha256 verified), then the backup set removed."""
    return _two_passes(p, hook, check_mode, _restore, False)


def _restore(s):
    raw, st, loaded, original = _load(s, restoring=True)
    rec = loaded["record"]
    if loaded["damaged"] and original is not None:
        s.warnings.append("the record %s was damaged (%s): the original comes from %s, checked against %s; it is written "
                          "with mode 0600, owned by the user the module runs as (root with become): the record's owner and mode are not trusted" % (
                              s.store.record, loaded["damaged"], s.store.backup, s.store.sha))
    base = {"path": s.path, "state": "restored", "backup": s.store.paths()}
    if original is None:
        if raw is None:
            raise KubedebugError("no manifest at %s and no backup in %s: nothing to restore from" % (s.path, s.store.dir),
                                 hint="Check path and backup_dir (they must be the ones the debug run used)")
        marker = raw_marker(raw)
        if marker:
            raise KubedebugError(
                "%s is in debug form (original sha256 %s) but %s holds no backup of it" % (s.path, marker, s.store.dir),
                hint="Run with the backup_dir of the debug run. If the backup is lost, regenerate the manifest "
                "(kubeadm init phase control-plane COMPONENT)",
                **s.store.paths(),
            )
        return dict(base, changed=False, msg="nothing to restore: %s is not in debug form and has no backup" % s.path, original_sha256=sha256(raw))
    osha = sha256(original)
    base["original_sha256"] = osha
    if raw is not None and sha256(raw) == osha:
        # The original is in place (an earlier restore stopped before removing the backup set, or debug never wrote).
        if not s.check_mode:
            s.store.remove(s.step)
            s.step("done")
        return dict(base, changed=True, msg="the original is in place; removed the leftover backup set")
    known = raw is None or bool(rec and sha256(raw) in rec.get("debug_sha256", []))
    if loaded["damaged"] and raw is not None and raw_marker(raw) == osha:
        known = True  # without a record, the debug form's own mark of the original's sha256 is what is left to go by
    replaced = None
    if not known:
        if not s.p.get("force"):
            if raw_marker(raw) == osha:
                what = "is a debug form that was edited after kubedebug.lab wrote it"
            else:
                what = "is neither the original nor the debug form kubedebug.lab wrote (sha256 %s)" % sha256(raw)
            raise KubedebugError(
                "%s %s; not overwriting it" % (s.path, what),
                hint="Set force: true to restore the original anyway (the file in place is kept next to the backup), "
                "or compare it with the backup %s first" % s.store.backup,
                **s.store.paths(),
            )
        replaced = "%s.replaced-%s" % (s.store.backup, datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ"))
    result = dict(
        base,
        changed=True,
        msg="restored the original %s" % s.path,
        diff_data={"before": _text(raw), "after": _text(original),
                   "before_header": s.path if raw is not None else "%s (absent)" % s.path, "after_header": s.path + " (original)"},
    )
    if replaced:
        result["replaced_file"] = replaced
    if s.check_mode:
        return result
    if replaced:
        _files.atomic_write(replaced, raw, 0o600, hook=prefixed(s.step, "replaced"))
    if rec:
        o = rec["original"]
        mode, uid, gid = o["mode"], o["uid"], o["gid"]
    else:
        mode, uid, gid = 0o600, os.getuid(), os.getgid()
    _files.atomic_write(s.path, original, mode, uid=uid, gid=gid, hook=prefixed(s.step, "manifest"))
    back = read_file(s.path)[0]
    if back is None or sha256(back) != osha:
        raise KubedebugError("%s does not read back as the original after writing it" % s.path,
                             hint="The backup %s is kept; check the filesystem and run again" % s.store.backup, **s.store.paths())
    s.step("verified")
    s.store.remove(s.step)
    s.step("done")
    return result


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
