# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""What the debug_component role needs to know before it touches anything, and its journal.

A component can be under dlv in one of three modes, each with its own record in
the state directory:

  ``COMPONENT.json``             process mode (kubedebug.lab.debug_process)
  ``COMPONENT.systemd.json``     systemd mode (a drop-in on the component's unit)
  ``COMPONENT.static-pod.json``  static-pod mode (a rewritten kubelet manifest)

``choose_mode`` is the one place that decides which mode a run uses; the
journal (``journal.json``) keeps the order sessions were started so restore can
undo them newest first.
"""

from __future__ import annotations

import json
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils import _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

MODES = ("auto", "process", "systemd", "static_pod")
RECORD_SUFFIXES = (("process", ".json"), ("systemd", ".systemd.json"), ("static_pod", ".static-pod.json"))
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
        record = _supervise.read_json_record(
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
    doc = _supervise.read_json_record(path, "the journal %s", "It only orders restores: move it away and run again")
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
            _supervise.atomic_write(path, after_text.encode("utf-8"), 0o600)
        else:
            os.unlink(path)
            _supervise.fsync_dir(state_dir)
    return changed, before_text, after_text, after
