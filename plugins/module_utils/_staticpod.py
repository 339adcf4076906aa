# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Static-pod manifests: run one container under dlv, keep the original safe, put it back byte-exact.

The kubelet runs every file in its static-pod directory whose name does not
start with a dot, whatever the extension (kubernetes#136962, #55596,
kubeadm#2823): a ``kube-apiserver.yaml.old`` next to the manifest is a second
pod. So the original is kept in a backup directory *outside* the manifest
directory, and every file written into the manifest directory goes through a
dot-named temp file, fsync and rename (``_supervise.atomic_write``).

Files of one session, for manifest ``NAME`` in ``backup_dir``:

* ``NAME``                  the original, byte for byte;
* ``NAME.sha256``           its sha256 (``sha256sum -c`` format);
* ``NAME.kubedebug.json``   the record: original path, sha256, mode, owner,
                            session mode, and the sha256 of every debug form
                            written in this session.

Write order for ``debug``: backup, sha256, record, then the manifest. Removal
order for ``restored``: manifest written back and verified, then record,
sha256, backup. Whatever step a run is killed at, the manifest directory holds
either the original or a complete debug form, and a later run (either state)
recognises where it stopped. A backup is never overwritten: an existing one
must hold exactly the current original, or the run fails naming the files.

Manifests are read and written by ``_podyaml``: read as the kubelet reads them
(YAML needs PyYAML on the managed host, JSON does not), written as block YAML
by the collection's own emitter. Restoring needs no YAML at all: it copies bytes.
"""

from __future__ import annotations

import copy
import datetime
import fcntl
import hashlib
import math
import os
import re
import signal

from ansible_collections.kubedebug.lab.plugins.module_utils import _argv, _dlv, _elf, _podyaml, _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._podyaml import render_yaml

ANN_SHA = "kubedebug.lab/original-sha256"
ANN_BACKUP = "kubedebug.lab/original-backup"
ANN_CONTAINER = "kubedebug.lab/container"
ANN_LISTEN = "kubedebug.lab/listen"
VOL_DLV = "kubedebug-dlv"
VOL_BIN = "kubedebug-debug-binary"
HEADER = "kubedebug.lab static_pod_debug: debug form"
RECORD_SUFFIX = ".kubedebug.json"
SHA_SUFFIX = ".sha256"
DEFAULT_BACKUP_DIR = "/var/lib/kubedebug/static-pods"
DEFAULT_CONTAINER_DIR = "/kubedebug/bin"
# Test hook: a run whose environment names one of its steps here is SIGKILLed
# at that step (tests/integration/test_static_pod_faults.py). Never set it otherwise.
FAULT_ENV = "KUBEDEBUG_TEST_KILL_AT"
LEADER_ELECT_COMPONENTS = ("kube-scheduler", "kube-controller-manager", "cloud-controller-manager")
PROBES = (("livenessProbe", "liveness-probe"), ("readinessProbe", "readiness-probe"), ("startupProbe", "startup-probe"))

_RAW_MARKER = re.compile(rb'kubedebug\.lab/original-sha256:[ \t]*"?([0-9a-f]{64})"?[ \t]*\r?$', re.M)
_RAW_LISTEN = re.compile(rb'kubedebug\.lab/listen:[ \t]*"?([^"\s]+)"?[ \t]*\r?$', re.M)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def raw_marker(raw):
    """The original's sha256 recorded in a debug form written by this module, found without parsing."""
    m = _RAW_MARKER.search(raw or b"")
    return m.group(1).decode("ascii") if m else None


# ------------------------------------------------------------------ parse


def parse(raw, path="manifest"):
    """The Pod (a dict) a manifest's bytes hold, read as the kubelet reads it (see _podyaml)."""
    pod = _podyaml.load(raw, path)
    check_pod(pod, path)
    return pod


def check_pod(pod, path="manifest"):
    if not isinstance(pod, dict):
        raise KubedebugError("%s holds a %s, not a Pod mapping" % (path, type(pod).__name__), hint="A static-pod manifest is one Pod object")
    if pod.get("kind") != "Pod" or pod.get("apiVersion") != "v1":
        raise KubedebugError(
            "%s is apiVersion %r kind %r, not a v1 Pod" % (path, pod.get("apiVersion"), pod.get("kind")),
            hint="Static-pod manifests are 'apiVersion: v1' 'kind: Pod'",
        )
    if pod.get("metadata") is not None and not isinstance(pod["metadata"], dict):
        raise KubedebugError("%s: metadata is not a mapping" % path)
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers:
        raise KubedebugError("%s has no spec.containers" % path, hint="A Pod needs at least one container; nothing was changed")
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c.get("name"):
            raise KubedebugError("%s: spec.containers[%d] is not a container with a name" % (path, i))


def select_container(pod, name=None):
    """(index, container) of the container to debug."""
    containers = pod["spec"]["containers"]
    names = [c["name"] for c in containers]
    if name:
        if name not in names:
            raise KubedebugError("no container named %r in this pod (it has %s)" % (name, ", ".join(names)),
                                 hint="Set container to one of those names", containers=names)
        i = names.index(name)
        return i, containers[i]
    if len(containers) > 1:
        raise KubedebugError(
            "the pod has %d containers (%s); which one to debug?" % (len(containers), ", ".join(names)),
            hint="Set container to one of those names",
            containers=names,
        )
    return 0, containers[0]


def _str_list(c, key):
    v = c.get(key)
    if v is None or v == []:
        return None
    if not isinstance(v, list):
        raise KubedebugError("container %r: %s is not a list" % (c["name"], key), hint="Write %s as a YAML list of strings" % key)
    # A null element reaches the process as an empty string (the kubelet's JSON decoder leaves the string empty).
    return _argv.check_argv(["" if a is None else a for a in v], "container %r %s" % (c["name"], key))


def container_argv(c):
    """(command, args, argv) of a container; argv is None when the image's entrypoint is used."""
    command, args = _str_list(c, "command"), _str_list(c, "args")
    argv = (command or []) + (args or []) if command else None
    return command, args, argv


# ------------------------------------------------------------------- plan


def _set_key(d, key, value):
    """Set d[key]; a new key goes to its alphabetical place when d's keys are sorted (kubeadm's order)."""
    if key in d or list(d) != sorted(d):
        d[key] = value
        return
    items = list(d.items()) + [(key, value)]
    d.clear()
    d.update(sorted(items))


def _dict_at(d, key, what):
    v = d.get(key)
    if v is None:
        v = {}
        _set_key(d, key, v)
    elif not isinstance(v, dict):
        raise KubedebugError("%s is not a mapping" % what)
    return v


def _list_at(d, key, what):
    v = d.get(key)
    if v is None:
        v = []
        _set_key(d, key, v)
    elif not isinstance(v, list):
        raise KubedebugError("%s is not a list" % what)
    return v


def _seccomp_type(sc):
    if isinstance(sc, dict) and isinstance(sc.get("seccompProfile"), dict):
        return sc["seccompProfile"].get("type")
    return None


_ANN_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
_ANN_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
_ANN_RUNTIME_DEFAULT = ("runtime/default", "docker/default")


def plan_debug(pod, opts, original_sha, backup_path):
    """The debug form of pod and the list of named changes that make it.

    opts: container, binary (host path), dlv_host_path, container_dir, probes
    (remove|stretch|keep), probe_stretch_seconds, seccomp (auto|unconfined|keep),
    leader_elect_false, and the dlv options of _dlv.build_dlv_argv.
    Returns dict(pod, changes, info, warnings).
    """
    new = copy.deepcopy(pod)
    spec = new["spec"]
    idx, c = select_container(new, opts.get("container"))
    name = c["name"]
    where = "spec.containers[%d] (%s)" % (idx, name)
    changes = []
    warnings = []

    def change(kind, field, before, after, reason):
        changes.append({"change": kind, "field": field, "before": before, "after": after, "reason": reason})

    command, args, argv = container_argv(c)
    if command and os.path.basename(command[0]).startswith("dlv"):
        raise KubedebugError(
            "container %r already runs %s, but not in a debug form written by kubedebug.lab (no %s annotation)" % (name, command[0], ANN_SHA),
            hint="This manifest was changed by hand. Put the original manifest back first (a copy such as NAME.yaml.old inside the "
            "manifest directory is run by the kubelet too: move it out), then run again",
        )
    if command:
        target = command[1:] + (args or [])
        component = os.path.basename(command[0])
    else:
        target = list(args or [])
        component = name
        warnings.append(
            "container %r has no command: the image's entrypoint is taken to be the component; dlv runs the debug binary "
            "with the container's args unchanged" % name
        )

    # --leader-elect=false, only when asked (a paused scheduler/controller-manager loses its lease and exits).
    if opts.get("leader_elect_false"):
        items = _argv.split_flags(target, bool_flags=("--leader-elect",))
        before = _argv.flag_values(items, "--leader-elect")
        if not before and component not in LEADER_ELECT_COMPONENTS:
            raise KubedebugError(
                "leader_elect_false: %s has no --leader-elect flag and is not one of %s" % (component, ", ".join(LEADER_ELECT_COMPONENTS)),
                hint="Leader election applies to kube-scheduler and kube-controller-manager; leave leader_elect_false off for %s" % component,
            )
        new_target = _argv.join_flags(_argv.set_flag(items, "--leader-elect", "false"))
        if new_target != target:
            change("leader-elect", where + " args", before or None, ["false"],
                   "a paused %s loses its lease and exits with 'leaderelection lost'; only safe with a single control-plane node" % component)
        target = new_target

    # dlv exec <debug binary> --headless ... -- <original args>
    cdir = (opts.get("container_dir") or DEFAULT_CONTAINER_DIR).rstrip("/")
    if not cdir.startswith("/") or "\n" in cdir:
        raise KubedebugError("container_dir %r is not an absolute path" % opts.get("container_dir"), hint="Use e.g. %s" % DEFAULT_CONTAINER_DIR)
    host_bin = opts.get("binary")
    host_dlv = opts.get("dlv_host_path")
    for what, p in (("binary", host_bin), ("dlv_path", host_dlv)):
        if not isinstance(p, str) or not p.startswith("/"):
            raise KubedebugError("%s must be an absolute path on the host, got %r" % (what, p), hint="It is mounted into the pod with a hostPath volume")
    dlv_in = cdir + "/dlv"
    bin_name = os.path.basename(host_bin)
    bin_in = cdir + "/" + (bin_name if bin_name != "dlv" else "debug-dlv")
    built = _dlv.build_dlv_argv(
        bin_in,
        target,
        listen=opts.get("listen", _dlv.DEFAULT_LISTEN),
        continue_after_start=opts.get("continue_after_start", True),
        accept_multiclient=opts.get("accept_multiclient", True),
        api_version=opts.get("api_version", 2),
        dlv_path=dlv_in,
        dlv_flags=opts.get("dlv_flags") or (),
        dlv_log=opts.get("dlv_log", False),
        dlv_log_output=opts.get("dlv_log_output"),
        dlv_log_dest=opts.get("dlv_log_dest"),
    )
    warnings.extend(built["warnings"])
    dlv_argv = built["argv"]
    if target:
        sep = dlv_argv.index("--")
        new_command, new_args = dlv_argv[: sep + 1], dlv_argv[sep + 1:]
    else:
        new_command, new_args = dlv_argv, None
    _set_key(c, "command", new_command)
    if new_args:
        _set_key(c, "args", new_args)
    else:
        c.pop("args", None)
    change("command", where + " command/args", {"command": command, "args": args}, {"command": new_command, "args": new_args},
           "run the debug binary under dlv exec --headless; everything after -- is the original argv minus argv[0]")

    # hostPath mounts of dlv and the debug binary, read-only
    volumes = _list_at(spec, "volumes", "spec.volumes")
    mounts = _list_at(c, "volumeMounts", where + " volumeMounts")
    vol_names = {v.get("name") for v in volumes if isinstance(v, dict)}
    for vol in (VOL_DLV, VOL_BIN):
        if vol in vol_names:
            raise KubedebugError("the pod already has a volume named %s but no %s annotation" % (vol, ANN_SHA),
                                 hint="Rename that volume; kubedebug.lab uses this name for its own mounts")
    for m in mounts:
        mp = (m.get("mountPath") or "").rstrip("/") if isinstance(m, dict) else ""
        if mp and (mp == cdir or cdir.startswith(mp + "/") or mp.startswith(cdir + "/")):
            raise KubedebugError("container_dir %s overlaps the existing mount %s of container %r" % (cdir, m.get("mountPath"), name),
                                 hint="Set container_dir to a path no volume uses, e.g. /kubedebug-%s" % name)
    for vol, host, inside, what in ((VOL_DLV, host_dlv, dlv_in, "dlv"), (VOL_BIN, host_bin, bin_in, "the debug binary")):
        volumes.append({"hostPath": {"path": host, "type": "File"}, "name": vol})
        mounts.append({"mountPath": inside, "name": vol, "readOnly": True})
        change("volume-" + ("dlv" if vol == VOL_DLV else "binary"), "spec.volumes[%s] + %s volumeMounts" % (vol, where), None,
               {"hostPath": host, "mountPath": inside, "readOnly": True}, "%s from the host, read-only" % what)

    # ptrace: CAP_SYS_PTRACE; seccomp Unconfined where the pod uses RuntimeDefault
    sc = c.get("securityContext")
    if sc is not None and not isinstance(sc, dict):
        raise KubedebugError("%s securityContext is not a mapping" % where)
    psc = spec.get("securityContext") if isinstance(spec.get("securityContext"), dict) else {}
    if (sc or {}).get("privileged") is True:
        warnings.append("container %r is privileged: ptrace is allowed already, capabilities and seccomp left as they are" % name)
    else:
        sc = _dict_at(c, "securityContext", where + " securityContext")
        caps = _dict_at(sc, "capabilities", where + " securityContext.capabilities")
        add = _list_at(caps, "add", where + " capabilities.add")
        if not any(isinstance(a, str) and a.upper().replace("CAP_", "") == "SYS_PTRACE" for a in add):
            before = list(add)
            add.append("SYS_PTRACE")
            change("sys-ptrace", where + " securityContext.capabilities.add", before or None, list(add), "dlv traces the component with ptrace")
        drop = caps.get("drop")
        if isinstance(drop, list) and any(isinstance(d, str) and d.upper().replace("CAP_", "") == "SYS_PTRACE" for d in drop):
            kept = [d for d in drop if not (isinstance(d, str) and d.upper().replace("CAP_", "") == "SYS_PTRACE")]
            change("sys-ptrace-drop", where + " securityContext.capabilities.drop", list(drop), kept, "a dropped SYS_PTRACE would win over the added one")
            caps["drop"] = kept
        _plan_seccomp(new, c, sc, psc, opts.get("seccomp", "auto"), where, change, warnings)
        for ctx, label in ((sc, "container"), (psc, "pod")):
            uid = ctx.get("runAsUser")
            if ctx.get("runAsNonRoot") is True or (isinstance(uid, int) and uid != 0):
                warnings.append("the %s securityContext runs as a non-root user (runAsUser %r, runAsNonRoot %r): an added capability is not "
                                "effective for a non-root process, so dlv may fail to trace" % (label, uid, ctx.get("runAsNonRoot")))

    # probes: a process held at a breakpoint fails them and is killed
    mode = opts.get("probes", "remove")
    stretch = int(opts.get("probe_stretch_seconds") or 3600)
    for key, kind in PROBES:
        if key not in c or mode == "keep":
            continue
        before = c[key]
        if mode == "remove":
            del c[key]
            change(kind, where + " " + key, before, None, "a process paused at a breakpoint fails the probe and the kubelet would kill or unready it")
        elif isinstance(before, dict):
            period = before.get("periodSeconds") or 10
            need = int(math.ceil(stretch / float(period)))
            if (before.get("failureThreshold") or 3) < need:
                after = dict(before)
                _set_key(after, "failureThreshold", need)
                c[key] = after
                change(kind, where + " " + key, before, after, "stretched to tolerate %d s paused at a breakpoint" % stretch)

    if not spec.get("hostNetwork"):
        warnings.append("the pod is not on the host network: dlv listens on %s inside the pod's network namespace, not the host's; "
                        "reach it with kubectl port-forward" % built["listen"])
    limits = (c.get("resources") or {}).get("limits") if isinstance(c.get("resources"), dict) else None
    if isinstance(limits, dict) and "memory" in limits:
        warnings.append("container %r has a memory limit (%s): dlv and an unoptimised build need more memory" % (name, limits["memory"]))

    meta = _dict_at(new, "metadata", "metadata")
    ann = meta.get("annotations")
    if ann is None:
        ann = {}
        _set_key(meta, "annotations", ann)
    elif not isinstance(ann, dict):
        raise KubedebugError("metadata.annotations is not a mapping")
    marks = {ANN_SHA: original_sha, ANN_BACKUP: backup_path, ANN_CONTAINER: name, ANN_LISTEN: built["listen"]}
    for k, v in marks.items():
        _set_key(ann, k, v)
    change("annotations", "metadata.annotations", None, marks, "mark the debug form and where its original is kept")

    info = {
        "container": name,
        "container_index": idx,
        "component": component,
        "original_argv": argv,
        "original_command": command,
        "original_args": args,
        "debug_argv": new_command + (new_args or []),
        "target_args": target,
        "listen": built["listen"],
        "host": built["host"],
        "port": built["port"],
        "exposure": built["exposure"],
        "dlv_in_container": dlv_in,
        "binary_in_container": bin_in,
    }
    return {"pod": new, "changes": changes, "info": info, "warnings": warnings}


def _plan_seccomp(pod, c, sc, psc, mode, where, change, warnings):
    if mode == "keep":
        return
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    cann_key = _ANN_SECCOMP_CONTAINER + c["name"]
    # Effective profile: container field > container annotation > pod field > pod annotation.
    eff, source = None, None
    candidates = ((_seccomp_type(sc), "field"), (ann.get(cann_key), "annotation"), (_seccomp_type(psc), "field"), (ann.get(_ANN_SECCOMP_POD), "annotation"))
    for value, src in candidates:
        if value:
            eff, source = value, src
            break
    runtime_default = eff in ("RuntimeDefault",) + _ANN_RUNTIME_DEFAULT
    if eff in ("Unconfined", "unconfined"):
        return
    if mode == "auto" and not runtime_default:
        if eff:
            warnings.append("container %r uses the seccomp profile %r, left as it is (seccomp: auto only replaces RuntimeDefault); "
                            "if dlv fails with 'operation not permitted', set seccomp: unconfined" % (c["name"], eff))
        return
    before = copy.deepcopy(sc.get("seccompProfile"))
    _set_key(sc, "seccompProfile", {"type": "Unconfined"})
    change("seccomp", where + " securityContext.seccompProfile", before, {"type": "Unconfined"},
           "the pod uses %s; dlv needs ptrace and personality(), which it may block (only this container is changed)" % (eff or "no profile"))
    if source == "annotation" or cann_key in ann:
        # Pre-1.19 clusters read the annotation; 1.19+ require field and annotation to agree.
        meta_ann = pod["metadata"]["annotations"]
        change("seccomp-annotation", "metadata.annotations[%s]" % cann_key, meta_ann.get(cann_key), "unconfined",
               "the pod sets seccomp through annotations; field and annotation must agree")
        _set_key(meta_ann, cann_key, "unconfined")


# ---------------------------------------------------------------- backups


class Store:
    """The backup set of one manifest in backup_dir."""

    def __init__(self, backup_dir, manifest_path):
        base = os.path.basename(manifest_path)
        self.manifest = manifest_path
        self.dir = backup_dir
        self.backup = os.path.join(backup_dir, base)
        self.sha = self.backup + SHA_SUFFIX
        self.record = self.backup + RECORD_SUFFIX
        self.lockfile = os.path.join(backup_dir, ".%s.lock" % base)

    def paths(self):
        return {"backup": self.backup, "sha256_file": self.sha, "record": self.record}

    def load(self):
        backup = _read(self.backup)[0]
        sha = None
        raw_sha = _read(self.sha)[0]
        if raw_sha is not None:
            tok = raw_sha.split()[0].decode("ascii", "replace") if raw_sha.split() else ""
            if not re.fullmatch(r"[0-9a-f]{64}", tok):
                raise KubedebugError("%s does not hold a sha256" % self.sha,
                                     hint="It belongs to the backup %s: inspect both; nothing was changed" % self.backup, **self.paths())
            sha = tok
        record = _supervise.read_state(self.record)
        return {"backup": backup, "sha": sha, "record": record}

    def verified(self, loaded):
        """The original's bytes when a backup exists (checked against every sha256 we hold), else None."""
        b, sha, rec = loaded["backup"], loaded["sha"], loaded["record"]
        if b is None:
            if sha or rec:
                raise KubedebugError(
                    "the backup %s is missing but its %s exists" % (self.backup, "record" if rec else "sha256 file"),
                    hint="Something removed the backup of the original manifest. If you have the original elsewhere, put it at %s; "
                    "otherwise remove %s and %s and regenerate the manifest (kubeadm init phase control-plane)" % (self.backup, self.sha, self.record),
                    **self.paths(),
                )
            return None
        actual = sha256(b)
        expected = [("sha256 file " + self.sha, sha)]
        if rec:
            expected.append(("record " + self.record, (rec.get("original") or {}).get("sha256")))
        for what, exp in expected:
            if exp is not None and exp != actual:
                raise KubedebugError(
                    "the backup %s no longer matches its %s: sha256 %s expected, %s found" % (self.backup, what, exp, actual),
                    hint="The backup was modified after it was taken; nothing was changed. Compare it with the manifest and your own copies; "
                    "once you have the right original at %s, write its sha256 into %s (sha256sum format) and run again" % (self.backup, self.sha),
                    expected_sha256=exp, actual_sha256=actual, **self.paths(),
                )
        if rec:
            rpath = (rec.get("original") or {}).get("path")
            if rpath and os.path.realpath(rpath) != os.path.realpath(self.manifest):
                raise KubedebugError(
                    "%s holds a backup of %s, not of %s" % (self.backup, rpath, self.manifest),
                    hint="Two manifests with the same file name: give this one its own backup_dir", **self.paths(),
                )
        return b

    def write(self, original, record, step, had):
        """Write the missing parts of the set, then the record when it differs; in that order."""
        os.makedirs(self.dir, 0o700, exist_ok=True)
        if had["backup"] is None:
            _supervise.atomic_write(self.backup, original, 0o600, hook=_prefixed(step, "backup"))
        if had["sha"] is None:
            line = "%s  %s\n" % (sha256(original), os.path.basename(self.backup))
            _supervise.atomic_write(self.sha, line.encode("utf-8"), 0o600, hook=_prefixed(step, "sha256"))
        if had["record"] != dict(record, version=_supervise.STATE_VERSION):
            _supervise.write_state(self.record, record, hook=_prefixed(step, "record"))

    def remove(self, step):
        for path, name in ((self.record, "record"), (self.sha, "sha256"), (self.backup, "backup")):
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            _supervise.fsync_dir(self.dir)
            step(name + ":removed")


def _prefixed(step, prefix):
    return lambda s: step("%s:%s" % (prefix, s))


def _read(path):
    """(bytes, stat) of a regular file, (None, None) when absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        raise KubedebugError("cannot stat %s: %s" % (path, e.strerror), hint="Check the path and permissions") from None
    if os.path.islink(path):
        raise KubedebugError("%s is a symbolic link (to %s)" % (path, os.readlink(path)), hint="Give the path of the file itself; nothing was changed")
    if not os.path.isfile(path):
        raise KubedebugError("%s is not a regular file" % path, hint="Give the path of a manifest file; nothing was changed")
    try:
        with open(path, "rb") as f:
            return f.read(), st
    except OSError as e:
        raise KubedebugError("cannot read %s: %s" % (path, e.strerror), hint="Run with become: true") from None


def env_fault_hook(step):
    """The test hook: SIGKILL this process at the step named in KUBEDEBUG_TEST_KILL_AT."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


# ---------------------------------------------------------------- session


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
            m = _RAW_LISTEN.search(raw or b"")
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
        raise KubedebugError("; ".join(verdict["reasons"]), debug_info=verdict)
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


def _load(s):
    raw, st = _read(s.path)
    loaded = s.store.load()
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
        _supervise.atomic_write(s.path, new_raw, st.st_mode & 0o7777, uid=st.st_uid, gid=st.st_gid, hook=_prefixed(s.step, "manifest"))
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
    _supervise.fsync_dir(s.dir)
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
    raw, st, loaded, original = _load(s)
    rec = loaded["record"]
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
        _supervise.atomic_write(replaced, raw, 0o600, hook=_prefixed(s.step, "replaced"))
    if rec:
        o = rec["original"]
        mode, uid, gid = o["mode"], o["uid"], o["gid"]
    else:
        mode, uid, gid = 0o600, os.getuid(), os.getgid()
    _supervise.atomic_write(s.path, original, mode, uid=uid, gid=gid, hook=_prefixed(s.step, "manifest"))
    back = _read(s.path)[0]
    if back is None or sha256(back) != osha:
        raise KubedebugError("%s does not read back as the original after writing it" % s.path,
                             hint="The backup %s is kept; check the filesystem and run again" % s.store.backup, **s.store.paths())
    s.step("verified")
    s.store.remove(s.step)
    s.step("done")
    return result


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
