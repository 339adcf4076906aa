# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""The debug_session module's run: the start and the end of every debug session (_session's model).

``run_module(module)``:
- ``state=debug``: survey (records, manifest, process, unit), choose the mode, check the debug build's
  version against what runs, then either do process mode (_relaunch) or note the session the role is
  about to make - its record and journal entry, written before the role changes anything;
- ``state=restored``: survey; process mode is restored here, the other modes' records are returned
  for the role to undo;
- ``state=ended``: after the role undid a systemd or static-pod session, remove its records and its
  journal entry.
"""

from __future__ import annotations

import os

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as _debuginfo
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv as _dlv
from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs
from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch
from ansible_collections.kubedebug.lab.plugins.module_utils._session import model as _session
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod import podyaml as _podyaml

SPEC = dict(
    component=dict(type="str", required=True),
    state=dict(type="str", default="debug", choices=["debug", "restored", "ended"]),
    mode=dict(type="str", default="auto", choices=list(_session.MODES)),
    manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
    selector=dict(type="dict"),
    dropin_name=dict(type="str", default="90-kubedebug.conf"),
    static_pod_how=dict(type="str", default="pod", choices=["pod", "host"]),
    backup_dir=dict(type="path", default="/var/lib/kubedebug/static-pods"),
    host_unit=dict(type="str"),
)
SPEC.update(_relaunch.PROCESS_ARG_SPEC)


def selector_of(params):
    sel = params["selector"] or {"name": params["component"]}
    given = {k: v for k, v in sel.items() if v not in (None, "")}
    unknown = sorted(set(given) - set(_procfs.SELECTOR_KEYS))
    if unknown or len(given) != 1:
        raise KubedebugError(
            "selector %r must have exactly one of %s%s" % (sel, ", ".join(_procfs.SELECTOR_KEYS), " (unknown: %s)" % ", ".join(unknown) if unknown else ""),
            hint="For example selector: {pattern: 'kube-apiserver .*--secure-port=6443'}",
        )
    return {k: given.get(k) for k in _procfs.SELECTOR_KEYS}


def survey(module, p, component):
    """Records, manifest, process and unit; the chosen mode."""
    records = _session.read_records(p["state_dir"], component)
    manifest = os.path.join(p["manifest_dir"], component + ".yaml")
    manifest_exists = os.path.exists(manifest)
    process = None
    unit, unit_main_pid, guess = "", 0, ""
    if _session.needs_process(p["state"], p["mode"], records, manifest_exists):
        sel = selector_of(p)
        process, _matches = _procfs.select(sel, p["pick"], "/proc", _procfs.main_pid_lookup(module.run_command),
                                           same_pid_namespace=p["pid_namespace"] == "same")
        guess = _session.unit_of(process["cgroup"])
        if p["mode"] == "auto" and "systemd" not in records and guess and module.get_bin_path("systemctl"):
            rc, out, _err = module.run_command(["systemctl", "show", "-p", "MainPID", "--value", guess])
            unit = guess
            unit_main_pid = int(out.strip()) if rc == 0 and out.strip().isdigit() else 0
    mode = _session.choose_mode(p["mode"], records, manifest_exists, process["pid"] if process else None, unit_main_pid or None)
    result = dict(
        changed=False,
        handled=False,
        mode=mode,
        records={m: m in records for m in _session.KINDS},
        manifest={"path": manifest, "exists": manifest_exists},
        unit=unit,
        unit_main_pid=unit_main_pid,
    )
    paths = _session.record_paths(p["state_dir"], component)
    for kind in ("systemd", "static_pod"):
        if kind in records:
            if p["state"] != "ended":
                _session.check_record(kind, records[kind], paths[kind])
            result[kind + "_record"] = records[kind]
    if process is not None:
        result["process"] = process
    return result, guess


def source_dir(binary):
    """The binary's recorded main-package directory and build-info paths (for the IDE path mapping), read while
    dlv loads it."""
    info = _debuginfo.analyze(binary)
    return {"main_package_dir": info["main_package_dir"], "main_path": info["main_path"] or "",
            "main_module": (info["main_module"] or {}).get("path", "")}


def _with_diffs(module, result, changed, diffs):
    if changed:
        result["changed"] = True
        if module._diff:
            result["diff"] = ([result["diff"]] if isinstance(result.get("diff"), dict) else list(result.get("diff") or [])) + diffs
    return result


def process_mode(module, p, component, session):
    """Relaunch or restore in process mode, and note it in the journal."""
    sel = {} if session["records"]["process"] or p["state"] == "restored" else {"pid": session["process"]["pid"]}
    args = dict({k: p[k] for k in _relaunch.PROCESS_ARG_SPEC}, component=component, state=p["state"], **sel)
    result = _relaunch.run_module(module, args, while_loading=source_dir)
    if p["state"] == "debug":
        changed, diffs = _session.begin(p["state_dir"], component, "process", check_mode=module.check_mode)
    elif result.get("changed"):
        changed, diffs = _session.end(p["state_dir"], component, (), check_mode=module.check_mode)
    else:
        changed, diffs = False, []
    return _with_diffs(module, result, changed, diffs)


def version_check(module, p, component, session):
    """One check for every mode: the debug build against the running executable (systemd mode), or the tag of
    the image the manifest runs (static-pod mode; a manifest whose image names no version is not checked).
    Process mode checks inside _relaunch, where it reads the original."""
    if not p["version_check"] or not p["binary"]:
        return
    run = module.run_command
    if session["mode"] == "systemd" and session.get("process"):
        exe = session["process"]["exe"] or session["process"]["argv"][0]
        if exe != p["binary"]:
            _session.check_version(component, p["binary"], _relaunch.kube_version(p["binary"], run),
                                   _relaunch.kube_version(exe, run), "its executable %s" % exe, p["force_version_mismatch"])
    elif session["mode"] == "static_pod" and session["manifest"]["exists"]:
        path = session["manifest"]["path"]
        with open(path, "rb") as f:
            pod = _podyaml.load(f.read(), path)
        running = _session.image_version(pod, component)
        if running:
            _session.check_version(component, p["binary"], _relaunch.kube_version(p["binary"], run), running,
                                   "the image tag in %s" % path, p["force_version_mismatch"])


def record_for(p, component, session, guess):
    """The record of the session the role is about to make (systemd or static-pod mode)."""
    if session["mode"] == "systemd":
        old = session.get("systemd_record") or {}
        unit = old.get("unit") or session["unit"] or guess
        if not unit:
            raise KubedebugError(
                "%s does not run as a systemd service this host knows (its cgroup names none)" % component,
                hint="Use debug_component_mode: process, or start it from a unit first",
            )
        dropin = "/etc/systemd/system/%s.d/%s" % (unit, p["dropin_name"])
        _session.check_dropin_ours(dropin)
        session["systemd"] = {"unit": unit, "dropin": dropin}
        return _session.systemd_record(component, unit, dropin, old, os.path.isdir(os.path.dirname(dropin)))
    host, port, _exposure = _dlv.parse_listen(p["listen"])
    manifest = session["manifest"]["path"]
    unit = p["host_unit"] or "kubedebug-%s.service" % component
    return _session.static_pod_record(component, manifest, p["backup_dir"], _dlv.hostport(host, port), p["static_pod_how"], unit)


def run_module(module):
    p = module.params
    component = _session.check_component(p["component"])
    session, guess = survey(module, p, component)
    if p["state"] == "ended":
        changed, diffs = _session.end(p["state_dir"], component, ("systemd", "static_pod"), check_mode=module.check_mode)
        result = _with_diffs(module, session, changed, diffs)
        result["journal"] = _session.read_journal(p["state_dir"])
        return result
    # A process-mode record is restored whatever else the host has (a manifest, another mode's record).
    if (p["state"] == "debug" and session["mode"] == "process") or (p["state"] == "restored" and session["records"]["process"]):
        result = process_mode(module, p, component, session)
        result.update({k: v for k, v in session.items() if k != "changed"}, handled=True)
        result["changed"] = bool(result.get("changed"))
    elif p["state"] == "debug":
        version_check(module, p, component, session)
        changed, diffs = _session.begin(p["state_dir"], component, session["mode"], record_for(p, component, session, guess),
                                        check_mode=module.check_mode)
        result = _with_diffs(module, session, changed, diffs)
    else:
        result = session
    result["journal"] = _session.read_journal(p["state_dir"])
    return result
