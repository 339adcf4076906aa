# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""A debug session: which kind, its record, its journal entry, its version check - for every mode.

A session is of one KIND, each with its record in the state directory:

  ``COMPONENT.json``             process mode: the original process, relaunched under dlv
                                 (written while it happens by _relaunch: it holds the original's
                                 argv, environment and the steps done, for a restore after a crash)
  ``COMPONENT.systemd.json``     systemd mode: a drop-in on the component's unit
  ``COMPONENT.static-pod.json``  static-pod mode: a rewritten kubelet manifest (how: pod), or the
                                 manifest moved out and a host unit running the container's
                                 arguments (how: host)

What this module decides, once for every kind:
- ``choose_mode``: which kind a run uses;
- ``check_version``: that the debug build is the version the component runs;
- ``begin`` / ``end``: the record and the journal entry, written before anything on the host changes
  and removed after it was undone (the only writer of both; ``read_records`` / ``read_journal`` the
  only readers). The journal (``journal.json``) keeps the order sessions were started so a restore
  undoes them newest first; within one component ``RESTORE_ORDER`` is the order.

The kwok and operator kinds to come are rows of KINDS with a record builder like
``systemd_record`` / ``static_pod_record``.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

MODES = ("auto", "process", "systemd", "static_pod")
# kind: (record file suffix, what the session replaced). Also the order a component's sessions are undone in.
KINDS = {
    "process": (".json", "the running process (relaunched under dlv)"),
    "systemd": (".systemd.json", "the unit's ExecStart (a drop-in runs dlv)"),
    "static_pod": (".static-pod.json", "the kubelet's manifest (rewritten, or moved out for a host unit)"),
}
RECORD_SUFFIXES = tuple((kind, suffix) for kind, (suffix, _what) in KINDS.items())
RESTORE_ORDER = tuple(KINDS)
RECORD_VERSION = 1
FALLBACK_RESTORE_ORDER = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-apiserver")
DROPIN_MARK = "Written by kubedebug.lab"
JOURNAL = "journal.json"
JOURNAL_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_UNIT = re.compile(r"[^/]+\.service$")


def check_component(name):
    if not _NAME.match(name or "") or name in (".", ".."):
        raise KubedebugError(
            "component name %r is not a plain name" % name,
            hint="Use the component's executable name, for example kube-apiserver",
        )
    return name


def record_paths(state_dir, component):
    """{mode: path of that mode's record} for a component."""
    return {mode: os.path.join(state_dir, component + suffix) for mode, suffix in RECORD_SUFFIXES}


def read_records(state_dir, component):
    """{mode: record} for the records that exist. The process-mode record is only reported as present
    (True): it holds the original's environment, which may carry secrets."""
    out = {}
    for mode, path in record_paths(state_dir, component).items():
        if mode == "process":
            if os.path.exists(path):
                out[mode] = True
            continue
        record = _files.read_json_record(
            path, "the %s-mode record %%s" % mode.replace("_", "-"),
            "It records how to restore the component: inspect it, fix or move it away, then run again",
        )
        if record is not None:
            if not isinstance(record, dict):
                raise KubedebugError(
                    "the %s-mode record %s is not a JSON object" % (mode.replace("_", "-"), path),
                    hint="Move it away if it is not ours, then run again",
                )
            out[mode] = record
    return out


def record_problems(kind, rec):
    """What is wrong with a systemd or static-pod record the role is about to act on (types, paths); [] when
    nothing is. A record is ours and written by ``begin``; a damaged one must stop the run, not half-restore."""
    problems = []

    def need(field, ok):
        if not ok:
            problems.append("%s is %r" % (field, rec.get(field)) if field in rec else "%s is missing" % field)

    def abspath(v):
        return isinstance(v, str) and v.startswith("/") and "\n" not in v

    if kind == "systemd":
        need("unit", isinstance(rec.get("unit"), str) and bool(_UNIT.fullmatch(rec["unit"])))
        need("dropin", abspath(rec.get("dropin")) and rec["dropin"].endswith(".conf"))
        need("dropin_dir_created", isinstance(rec.get("dropin_dir_created", False), bool))
    elif kind == "static_pod":
        need("manifest", abspath(rec.get("manifest")))
        need("backup_dir", abspath(rec.get("backup_dir")))
        need("listen", isinstance(rec.get("listen"), str) and bool(re.fullmatch(r".+:\d{1,5}", rec["listen"])))
        need("how", rec.get("how", "pod") in ("pod", "host"))
        if rec.get("how") == "host":
            need("unit", isinstance(rec.get("unit"), str) and bool(_UNIT.fullmatch(rec["unit"])))
    return problems


def check_record(kind, rec, path):
    problems = record_problems(kind, rec)
    if problems:
        raise KubedebugError(
            "the %s-mode record %s is damaged (%s)" % (kind.replace("_", "-"), path, "; ".join(problems)),
            hint="It records how to restore the component: fix the field (begin() writes it as in docs/architecture.md) or move the "
            "file away and undo the session by hand (a drop-in, a host unit, the manifest from static_pod_debug's backup set), "
            "then run again; nothing was changed",
        )


def unit_of(cgroups):
    """The systemd service a process's cgroup names (``''`` when none): the path of the named systemd
    hierarchy on cgroup v1/hybrid, or the unified one on v2."""
    for c in cgroups or []:
        if c.get("controllers") in ("", "name=systemd"):
            m = _UNIT.search(c.get("path") or "")
            if m:
                return m.group(0)
    return ""


def static_pod_wanted(requested, records, manifest_exists):
    return requested == "static_pod" or (requested == "auto" and ("static_pod" in records or manifest_exists))


def needs_process(state, requested, records, manifest_exists):
    """Whether a run has to read the running process: debug runs without a process-mode record (which
    already holds the original), outside static-pod mode (which reads the manifest, not the process)."""
    return state == "debug" and "process" not in records and not static_pod_wanted(requested, records, manifest_exists)


def choose_mode(requested, records, manifest_exists, process_pid=None, unit_main_pid=None):
    """The mode a run uses.

    An explicit mode wins; ``auto`` takes static-pod mode when the kubelet runs the component from a
    manifest (or a static-pod session is recorded), carries on the mode of an existing record, takes
    systemd mode when the process is its unit's main process, and process mode otherwise.
    """
    if requested not in MODES:
        raise KubedebugError("mode %r is not one of %s" % (requested, ", ".join(MODES)), hint="Set debug_component_mode to one of them")
    if static_pod_wanted(requested, records, manifest_exists):
        return "static_pod"
    if requested != "auto":
        return requested
    if "process" in records:
        return "process"
    if "systemd" in records:
        return "systemd"
    if process_pid is not None and unit_main_pid == process_pid:
        return "systemd"
    return "process"


# ------------------------------------------------------------------ journal


def journal_path(state_dir):
    return os.path.join(state_dir, JOURNAL)


def read_journal(state_dir):
    """The sessions in the journal (oldest first); [] when there is none."""
    path = journal_path(state_dir)
    doc = _files.read_json_record(path, "the journal %s", "It only orders restores: move it away and run again")
    if doc is None:
        return []
    sessions = doc.get("sessions") if isinstance(doc, dict) else None
    if not isinstance(sessions, list) or not all(isinstance(s, dict) and isinstance(s.get("component"), str) for s in sessions):
        raise KubedebugError("the journal %s is not a kubedebug journal" % path, hint="It only orders restores: move it away and run again")
    return sessions


def journal_after(sessions, op, component, mode=None):
    """The sessions after adding (``add``, at the end, once) or removing (``remove``) a component."""
    others = [s for s in sessions if s.get("component") != component]
    if op == "add":
        if len(others) != len(sessions):
            return list(sessions)
        return list(sessions) + [{"component": component, "mode": mode}]
    if op == "remove":
        return others
    raise KubedebugError("journal operation %r is not add or remove" % op)


def restore_order(sessions, fallback=None):
    """The components to restore: the journal's newest session first, then ``fallback`` (default
    FALLBACK_RESTORE_ORDER: records older than the journal, the node's components before the control plane's)
    without those."""
    journal = [s["component"] for s in reversed(sessions)]
    fallback = FALLBACK_RESTORE_ORDER if fallback is None else fallback
    return journal + [c for c in fallback if c not in journal]


def render_journal(sessions):
    return json.dumps({"version": JOURNAL_VERSION, "sessions": sessions}, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def update_journal(state_dir, op, component, mode=None, check_mode=False):
    """Apply ``op`` to the journal file: written atomically, removed with its last session.
    Returns (changed, before_text, after_text, sessions)."""
    path = journal_path(state_dir)
    exists = os.path.exists(path)
    before = read_journal(state_dir)
    after = journal_after(before, op, component, mode)
    before_text = render_journal(before) if exists else ""
    after_text = render_journal(after) if after else ""
    changed = (after != before) or (exists and not after)
    if changed and not check_mode:
        if after:
            os.makedirs(state_dir, mode=0o700, exist_ok=True)
            _files.atomic_write(path, after_text.encode("utf-8"), 0o600)
        else:
            os.unlink(path)
            _files.fsync_dir(state_dir)
    return changed, before_text, after_text, after


# ------------------------------------------------------------------ records


def render_record(record):
    """A record as the role wrote them (to_nice_json): sorted keys, 4 spaces, a final newline."""
    return json.dumps(record, indent=4, sort_keys=True, separators=(",", ": ")) + "\n"


def systemd_record(component, unit, dropin, old=None, dropin_dir_exists=True):
    """The systemd-mode record. ``dropin_dir_created`` is kept from the first run's record: the second
    run finds the directory the first one made."""
    created = (old or {}).get("dropin_dir_created", not dropin_dir_exists)
    return {"version": RECORD_VERSION, "mode": "systemd", "component": component, "unit": unit, "dropin": dropin,
            "dropin_dir_created": bool(created)}


def static_pod_record(component, manifest, backup_dir, listen, how="pod", unit=None):
    """The static-pod record: where the manifest and its original are, where dlv listens; in host mode the
    unit that runs the component on the host."""
    record = {"version": RECORD_VERSION, "mode": "static_pod", "component": component, "manifest": manifest,
              "backup_dir": backup_dir, "listen": listen}
    if how == "host":
        record.update(how="host", unit=unit)
    return record


def check_dropin_ours(path):
    """An existing drop-in of our name must carry our mark: never overwrite a file someone else wrote."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except FileNotFoundError:
        return
    if DROPIN_MARK.encode() not in head:
        raise KubedebugError(
            "%s exists and was not written by kubedebug.lab" % path,
            hint="Move it away (it is not ours, and the debug drop-in would replace it), then run again",
        )


def _diff(path, before, after):
    return {"before": before, "after": after, "before_header": path, "after_header": path}


def begin(state_dir, component, mode, record=None, check_mode=False):
    """Note a session before the host changes: its record (kinds other than process, whose record
    _relaunch writes while it relaunches) and its journal entry. Returns (changed, diffs)."""
    if mode not in KINDS:
        raise KubedebugError("session kind %r is not one of %s" % (mode, ", ".join(KINDS)))
    diffs = []
    if not check_mode:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
    if record is not None:
        path = record_paths(state_dir, component)[mode]
        text = render_record(record)
        try:
            with open(path, encoding="utf-8") as f:
                before = f.read()
        except FileNotFoundError:
            before = ""
        if before != text:
            diffs.append(_diff(path, before, text))
            if not check_mode:
                _files.atomic_write(path, text.encode("utf-8"), 0o600)
    changed, before, after, _sessions = update_journal(state_dir, "add", component, mode, check_mode=check_mode)
    if changed:
        diffs.append(_diff(journal_path(state_dir), before, after))
    return bool(diffs), diffs


def end(state_dir, component, modes, check_mode=False):
    """After the host was given back: remove the records of ``modes`` (kinds other than process) and the
    component's journal entry. Returns (changed, diffs)."""
    diffs = []
    paths = record_paths(state_dir, component)
    for mode in modes:
        path = paths[mode]
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                diffs.append(_diff(path, f.read(), ""))
            if not check_mode:
                os.unlink(path)
                _files.fsync_dir(state_dir)
    changed, before, after, _sessions = update_journal(state_dir, "remove", component, check_mode=check_mode)
    if changed:
        diffs.append(_diff(journal_path(state_dir), before, after))
    return bool(diffs), diffs


# ------------------------------------------------------------------ version

_TAG = re.compile(r":(v\d+\.\d+\.\d+)")


def image_version(pod, component):
    """The version a static pod runs ``component`` at: the tag of its container image named
    ``.../COMPONENT:vX.Y.Z``; ``''`` when no image says."""
    spec = (pod or {}).get("spec") if isinstance(pod, dict) else None
    for c in (spec or {}).get("containers") or []:
        image = c.get("image") if isinstance(c, dict) else None
        if isinstance(image, str) and ("/" + component + ":") in image:
            m = _TAG.search(image)
            return m.group(1) if m else ""
    return ""


def check_version(component, binary, build, running, where, force=False):
    """The debug build must be the version the component runs (``running``, read from ``where``): an
    apiserver of another version serves other APIs and the breakpoints land in other code. ``None`` or
    ``''`` is an unknown version; ``force`` takes the mismatch knowingly."""
    if force or (build or None) == (running or None):
        return
    raise KubedebugError(
        "the debug binary %s is %s but the running %s is %s (%s)" % (
            binary, build or "of unknown version", component, running or "of unknown version", where),
        hint="Build the version the cluster runs (kubedebug.lab.k8s_build with k8s_source_version=%s), or set "
             "force_version_mismatch: true (debug_component_force_version_mismatch) knowingly" % (running or "THE_VERSION"),
    )
