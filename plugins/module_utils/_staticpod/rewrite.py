# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""How a static-pod manifest is rewritten to run one container under dlv: ``plan_debug``.

The debug form is made by named steps, each a function below, in this order - each step records what it
changes (``Plan.change``: kind, field, before, after, reason) for the module's diff and report:

  the target argv -> --leader-elect=false (when asked) -> the container's command: dlv exec --headless ...
  -- the original args -> hostPath mounts of dlv and the debug binary -> ptrace (CAP_SYS_PTRACE, seccomp)
  -> probes (removed or stretched) -> warnings about the pod -> the annotations that mark the debug form.

This file is pure: a Pod (dict) in, the debug form and its changes out. A change to how a manifest is
rewritten is a change here and in its tests (tests/unit/plugins/module_utils/_staticpod/test_staticpod.py);
flow.py writes the result.
"""

from __future__ import annotations

import copy
import math
import os

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv
from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv as _dlv
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.manifest import (
    ANN_BACKUP,
    ANN_CONTAINER,
    ANN_LISTEN,
    ANN_RUNTIME_DEFAULT,
    ANN_SECCOMP_CONTAINER,
    ANN_SECCOMP_POD,
    ANN_SHA,
    DEFAULT_CONTAINER_DIR,
    LEADER_ELECT_COMPONENTS,
    PROBES,
    VOL_BIN,
    VOL_DLV,
    container_argv,
    dict_at,
    list_at,
    seccomp_type,
    select_container,
    set_key,
)

MAX_DEPTH = 100


def unshared(obj, depth=0, path=()):
    """A copy of a parsed manifest in which no mapping or list appears twice.

    YAML anchors and aliases make one object appear in several places (``copy.deepcopy`` keeps that
    sharing): editing the target container's securityContext or volumeMounts in place would then change
    every object that shares it - the pod's securityContext, a sidecar. Each occurrence gets its own copy,
    so the debug changes reach the target container only. A self-referencing alias or nesting deeper than
    MAX_DEPTH levels (no Pod comes near it) is refused."""
    if isinstance(obj, (dict, list)):
        if id(obj) in path:
            raise KubedebugError("the manifest refers to itself through a YAML alias", hint="Fix the manifest; nothing was changed")
        if depth > MAX_DEPTH:
            raise KubedebugError("the manifest nests more than %d levels deep" % MAX_DEPTH, hint="Fix the manifest; nothing was changed")
        inner = path + (id(obj),)
        if isinstance(obj, dict):
            return {k: unshared(v, depth + 1, inner) for k, v in obj.items()}
        return [unshared(v, depth + 1, inner) for v in obj]
    return obj


class Plan:
    """The debug form being made: a deep copy of the pod, the chosen container, the changes and warnings."""

    def __init__(self, pod, opts):
        self.opts = opts
        self.pod = unshared(pod)
        self.spec = self.pod["spec"]
        self.idx, self.c = select_container(self.pod, opts.get("container"))
        self.name = self.c["name"]
        self.where = "spec.containers[%d] (%s)" % (self.idx, self.name)
        self.changes = []
        self.warnings = []

    def change(self, kind, field, before, after, reason):
        self.changes.append({"change": kind, "field": field, "before": before, "after": after, "reason": reason})


def plan_debug(pod, opts, original_sha, backup_path):
    """The debug form of pod and the list of named changes that make it.

    opts: container, binary (host path), dlv_host_path, container_dir, probes
    (remove|stretch|keep), probe_stretch_seconds, seccomp (auto|unconfined|keep),
    leader_elect_false, and the dlv options of _dlv.build_dlv_argv.
    Returns dict(pod, changes, info, warnings).
    """
    plan = Plan(pod, opts)
    command, args, argv = container_argv(plan.c)
    target, component = _target(plan, command, args)
    target = _leader_elect(plan, target, component)
    run = _dlv_command(plan, target, command, args)
    _mounts(plan, run)
    _ptrace(plan)
    _probes(plan)
    _pod_warnings(plan, run["built"])
    _annotations(plan, original_sha, backup_path, run["built"]["listen"])
    built = run["built"]
    info = {
        "container": plan.name,
        "container_index": plan.idx,
        "component": component,
        "original_argv": argv,
        "original_command": command,
        "original_args": args,
        "debug_argv": run["command"] + (run["args"] or []),
        "target_args": target,
        "listen": built["listen"],
        "host": built["host"],
        "port": built["port"],
        "exposure": built["exposure"],
        "dlv_in_container": run["dlv_in"],
        "binary_in_container": run["bin_in"],
    }
    return {"pod": plan.pod, "changes": plan.changes, "info": info, "warnings": plan.warnings}


def _target(plan, command, args):
    """The argv dlv hands the debug binary (the original's minus argv[0]) and the component's name."""
    if command and os.path.basename(command[0]).startswith("dlv"):
        raise KubedebugError(
            "container %r already runs %s, but not in a debug form written by kubedebug.lab (no %s annotation)" % (plan.name, command[0], ANN_SHA),
            hint="This manifest was changed by hand. Put the original manifest back first (a copy such as NAME.yaml.old inside the "
            "manifest directory is run by the kubelet too: move it out), then run again",
        )
    if command:
        return command[1:] + (args or []), os.path.basename(command[0])
    plan.warnings.append(
        "container %r has no command: the image's entrypoint is taken to be the component; dlv runs the debug binary "
        "with the container's args unchanged" % plan.name
    )
    return list(args or []), plan.name


def _leader_elect(plan, target, component):
    """--leader-elect=false, only when asked (a paused scheduler/controller-manager loses its lease and exits)."""
    if not plan.opts.get("leader_elect_false"):
        return target
    items = _argv.split_flags(target, bool_flags=("--leader-elect",))
    before = _argv.flag_values(items, "--leader-elect")
    if not before and component not in LEADER_ELECT_COMPONENTS:
        raise KubedebugError(
            "leader_elect_false: %s has no --leader-elect flag and is not one of %s" % (component, ", ".join(LEADER_ELECT_COMPONENTS)),
            hint="Leader election applies to kube-scheduler and kube-controller-manager; leave leader_elect_false off for %s" % component,
        )
    new_target = _argv.join_flags(_argv.set_flag(items, "--leader-elect", "false"))
    if new_target != target:
        plan.change("leader-elect", plan.where + " args", before or None, ["false"],
                    "a paused %s loses its lease and exits with 'leaderelection lost'; only safe with a single control-plane node" % component)
    return new_target


def _dlv_command(plan, target, command, args):
    """dlv exec <debug binary> --headless ... -- <original args>, as the container's command and args."""
    opts, c = plan.opts, plan.c
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
    plan.warnings.extend(built["warnings"])
    dlv_argv = built["argv"]
    if target:
        sep = dlv_argv.index("--")
        new_command, new_args = dlv_argv[: sep + 1], dlv_argv[sep + 1:]
    else:
        new_command, new_args = dlv_argv, None
    set_key(c, "command", new_command)
    if new_args:
        set_key(c, "args", new_args)
    else:
        c.pop("args", None)
    plan.change("command", plan.where + " command/args", {"command": command, "args": args}, {"command": new_command, "args": new_args},
                "run the debug binary under dlv exec --headless; everything after -- is the original argv minus argv[0]")
    return {"built": built, "command": new_command, "args": new_args, "cdir": cdir, "dlv_in": dlv_in, "bin_in": bin_in,
            "host_dlv": host_dlv, "host_bin": host_bin}


def _mounts(plan, run):
    """hostPath mounts of dlv and the debug binary, read-only."""
    cdir = run["cdir"]
    volumes = list_at(plan.spec, "volumes", "spec.volumes")
    mounts = list_at(plan.c, "volumeMounts", plan.where + " volumeMounts")
    for i, v in enumerate(volumes):
        if not isinstance(v, dict) or not isinstance(v.get("name"), str):
            raise KubedebugError("spec.volumes[%d] is not a volume with a name (a string)" % i, hint="Fix the manifest; nothing was changed")
    vol_names = {v["name"] for v in volumes}
    for vol in (VOL_DLV, VOL_BIN):
        if vol in vol_names:
            raise KubedebugError("the pod already has a volume named %s but no %s annotation" % (vol, ANN_SHA),
                                 hint="Rename that volume; kubedebug.lab uses this name for its own mounts")
    for i, m in enumerate(mounts):
        if not isinstance(m, dict) or not isinstance(m.get("mountPath", ""), str):
            raise KubedebugError("%s volumeMounts[%d] is not a mount with a mountPath (a string)" % (plan.where, i),
                                 hint="Fix the manifest; nothing was changed")
        mp = (m.get("mountPath") or "").rstrip("/")
        if mp and (mp == cdir or cdir.startswith(mp + "/") or mp.startswith(cdir + "/")):
            raise KubedebugError("container_dir %s overlaps the existing mount %s of container %r" % (cdir, m.get("mountPath"), plan.name),
                                 hint="Set container_dir to a path no volume uses, e.g. /kubedebug-%s" % plan.name)
    for vol, host, inside, what in ((VOL_DLV, run["host_dlv"], run["dlv_in"], "dlv"), (VOL_BIN, run["host_bin"], run["bin_in"], "the debug binary")):
        volumes.append({"hostPath": {"path": host, "type": "File"}, "name": vol})
        mounts.append({"mountPath": inside, "name": vol, "readOnly": True})
        plan.change("volume-" + ("dlv" if vol == VOL_DLV else "binary"), "spec.volumes[%s] + %s volumeMounts" % (vol, plan.where), None,
                    {"hostPath": host, "mountPath": inside, "readOnly": True}, "%s from the host, read-only" % what)


def _is_ptrace(cap):
    return isinstance(cap, str) and cap.upper().replace("CAP_", "") == "SYS_PTRACE"


def _ptrace(plan):
    """ptrace: CAP_SYS_PTRACE; seccomp Unconfined where the pod uses RuntimeDefault."""
    c, where = plan.c, plan.where
    sc = c.get("securityContext")
    if sc is not None and not isinstance(sc, dict):
        raise KubedebugError("%s securityContext is not a mapping" % where, hint="Fix the manifest; nothing was changed")
    psc = plan.spec.get("securityContext") if isinstance(plan.spec.get("securityContext"), dict) else {}
    if (sc or {}).get("privileged") is True:
        plan.warnings.append("container %r is privileged: ptrace is allowed already, capabilities and seccomp left as they are" % plan.name)
        return
    sc = dict_at(c, "securityContext", where + " securityContext")
    caps = dict_at(sc, "capabilities", where + " securityContext.capabilities")
    add = list_at(caps, "add", where + " capabilities.add")
    if not any(_is_ptrace(a) for a in add):
        before = list(add)
        add.append("SYS_PTRACE")
        plan.change("sys-ptrace", where + " securityContext.capabilities.add", before or None, list(add), "dlv traces the component with ptrace")
    drop = caps.get("drop")
    if isinstance(drop, list) and any(_is_ptrace(d) for d in drop):
        kept = [d for d in drop if not _is_ptrace(d)]
        plan.change("sys-ptrace-drop", where + " securityContext.capabilities.drop", list(drop), kept, "a dropped SYS_PTRACE would win over the added one")
        caps["drop"] = kept
    _seccomp(plan, sc, psc)
    for ctx, label in ((sc, "container"), (psc, "pod")):
        uid = ctx.get("runAsUser")
        if ctx.get("runAsNonRoot") is True or (isinstance(uid, int) and uid != 0):
            plan.warnings.append("the %s securityContext runs as a non-root user (runAsUser %r, runAsNonRoot %r): an added capability is not "
                                 "effective for a non-root process, so dlv may fail to trace" % (label, uid, ctx.get("runAsNonRoot")))


def _seccomp(plan, sc, psc):
    """seccomp Unconfined for this container where its effective profile is RuntimeDefault (seccomp: auto)."""
    mode = plan.opts.get("seccomp", "auto")
    if mode == "keep":
        return
    pod, c = plan.pod, plan.c
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if not isinstance(ann, dict):
        raise KubedebugError("metadata.annotations is not a mapping", hint="Fix the manifest; nothing was changed")
    cann_key = ANN_SECCOMP_CONTAINER + c["name"]
    # Effective profile: container field > container annotation > pod field > pod annotation.
    eff, source = None, None
    candidates = ((seccomp_type(sc), "field"), (ann.get(cann_key), "annotation"), (seccomp_type(psc), "field"), (ann.get(ANN_SECCOMP_POD), "annotation"))
    for value, src in candidates:
        if value:
            eff, source = value, src
            break
    runtime_default = eff in ("RuntimeDefault",) + ANN_RUNTIME_DEFAULT
    if eff in ("Unconfined", "unconfined"):
        return
    if mode == "auto" and not runtime_default:
        if eff:
            plan.warnings.append("container %r uses the seccomp profile %r, left as it is (seccomp: auto only replaces RuntimeDefault); "
                                 "if dlv fails with 'operation not permitted', set seccomp: unconfined" % (c["name"], eff))
        return
    before = copy.deepcopy(sc.get("seccompProfile"))
    set_key(sc, "seccompProfile", {"type": "Unconfined"})
    plan.change("seccomp", plan.where + " securityContext.seccompProfile", before, {"type": "Unconfined"},
                "the pod uses %s; dlv needs ptrace and personality(), which it may block (only this container is changed)" % (eff or "no profile"))
    if source == "annotation" or cann_key in ann:
        # Pre-1.19 clusters read the annotation; 1.19+ require field and annotation to agree.
        meta_ann = pod["metadata"]["annotations"]
        plan.change("seccomp-annotation", "metadata.annotations[%s]" % cann_key, meta_ann.get(cann_key), "unconfined",
                    "the pod sets seccomp through annotations; field and annotation must agree")
        set_key(meta_ann, cann_key, "unconfined")


def _probes(plan):
    """probes: a process held at a breakpoint fails them and is killed."""
    c, mode = plan.c, plan.opts.get("probes", "remove")
    stretch = int(plan.opts.get("probe_stretch_seconds") or 3600)
    for key, kind in PROBES:
        if key not in c or mode == "keep":
            continue
        before = c[key]
        if mode == "remove":
            del c[key]
            plan.change(kind, plan.where + " " + key, before, None,
                        "a process paused at a breakpoint fails the probe and the kubelet would kill or unready it")
        elif isinstance(before, dict):
            for field in ("periodSeconds", "failureThreshold"):
                value = before.get(field)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise KubedebugError("%s %s.%s is %r, not a whole number" % (plan.where, key, field, value),
                                         hint="Write it as a number (the kubelet refuses the manifest as it is); nothing was changed")
            period = before.get("periodSeconds") or 10
            need = int(math.ceil(stretch / float(period)))
            if (before.get("failureThreshold") or 3) < need:
                after = dict(before)
                set_key(after, "failureThreshold", need)
                c[key] = after
                plan.change(kind, plan.where + " " + key, before, after, "stretched to tolerate %d s paused at a breakpoint" % stretch)


def _pod_warnings(plan, built):
    if not plan.spec.get("hostNetwork"):
        plan.warnings.append("the pod is not on the host network: dlv listens on %s inside the pod's network namespace, not the host's; "
                             "reach it with kubectl port-forward" % built["listen"])
    c = plan.c
    limits = (c.get("resources") or {}).get("limits") if isinstance(c.get("resources"), dict) else None
    if isinstance(limits, dict) and "memory" in limits:
        plan.warnings.append("container %r has a memory limit (%s): dlv and an unoptimised build need more memory" % (plan.name, limits["memory"]))


def _annotations(plan, original_sha, backup_path, listen):
    """Mark the debug form and where its original is kept."""
    meta = dict_at(plan.pod, "metadata", "metadata")
    ann = meta.get("annotations")
    if ann is None:
        ann = {}
        set_key(meta, "annotations", ann)
    elif not isinstance(ann, dict):
        raise KubedebugError("metadata.annotations is not a mapping", hint="Fix the manifest; nothing was changed")
    marks = {ANN_SHA: original_sha, ANN_BACKUP: backup_path, ANN_CONTAINER: plan.name, ANN_LISTEN: listen}
    for k, v in marks.items():
        set_key(ann, k, v)
    plan.change("annotations", "metadata.annotations", None, marks, "mark the debug form and where its original is kept")
