#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: debug_session
short_description: Start or end a component's debug session - choose the mode, and run process mode itself
version_added: 0.1.0
description:
  - The first step of the M(kubedebug.lab.debug_component) role. It reads what the run starts from - the
    component's session records in O(state_dir) (process, systemd and static-pod mode), whether the kubelet runs
    it from a static-pod manifest, the running process (as M(kubedebug.lab.process_args) reads it, when the run
    needs it) and the systemd service whose main process it is - and chooses the mode (RV(mode)).
  - In process mode it does the work itself, as M(kubedebug.lab.debug_process) does (RV(handled) is true) - relaunch
    under dlv with O(state=debug), restore with O(state=restored) - and keeps the journal of sessions
    (C(STATE_DIR/journal.json), see M(kubedebug.lab.debug_journal)). The other modes are the role's tasks;
    for them the module only reports (RV(handled) is false).
  - Mode choice with O(mode=auto) - static-pod mode when the manifest exists or a static-pod session is recorded;
    the mode of an existing record; systemd mode when the process is the main process of its cgroup's service;
    process mode otherwise.
  - The process is read when O(state=debug), no process-mode record holds the original already, and the component
    does not run from a static-pod manifest. A selector that matches nothing or several processes fails with the
    matches.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab.dlv
  - kubedebug.lab.process_mode
options:
  component:
    description: Component name (records, units and logs are named after it), for example C(kube-apiserver).
    type: str
    required: true
  state:
    description: V(debug) to put the component under dlv, V(restored) to bring back the original.
    type: str
    choices: [debug, restored]
    default: debug
  mode:
    description: The mode asked for; V(auto) lets the module choose.
    type: str
    choices: [auto, process, systemd, static_pod]
    default: auto
  manifest_dir:
    description: The kubelet's static-pod directory; the manifest is C(COMPONENT.yaml) in it.
    type: path
    default: /etc/kubernetes/manifests
  selector:
    description:
      - How to find the running process - one of C(name), C(pattern), C(pid), C(pidfile), C(systemd_unit)
        (the options of M(kubedebug.lab.process_args)).
      - Defaults to C(name=COMPONENT).
    type: dict
attributes:
  check_mode:
    support: full
    description: Reports what process mode would do; changes nothing.
  diff_mode:
    support: full
    description: Process mode - the command line before and after, and the journal.
notes:
  - Run as root (O(ignore:become=true)) to read other users' processes and the records.
seealso:
  - module: kubedebug.lab.debug_process
  - module: kubedebug.lab.debug_journal
  - module: kubedebug.lab.process_args
"""

EXAMPLES = r"""
- name: Put the apiserver under dlv (process mode is done here; other modes are reported)
  kubedebug.lab.debug_session:
    component: kube-apiserver
    selector:
      pattern: 'kube-apiserver .*--secure-port=6443'
    binary: /var/cache/kubedebug/build/bin/kube-apiserver
  become: true
  register: session

- name: The mode it chose
  ansible.builtin.debug:
    msg: "{{ session.mode }} ({{ 'done' if session.handled else 'left to the role' }})"
"""

RETURN = r"""
handled:
  description:
    - True when the module did the work (process mode); the keys of M(kubedebug.lab.debug_process)'s result
      (dlv_pid, target_pid, listen, ssh_tunnel_command, connect_command, ide_remote, original...) are then returned too.
  returned: always
  type: bool
mode:
  description: The mode the run uses - V(process), V(systemd) or V(static_pod).
  returned: always
  type: str
records:
  description: Which session records exist, by mode (V(process), V(systemd), V(static_pod)).
  returned: always
  type: dict
  sample: {"process": true, "systemd": false, "static_pod": false}
systemd_record:
  description: The systemd-mode record (unit, drop-in path, whether the drop-in directory was created), when there is one.
  returned: when it exists
  type: dict
static_pod_record:
  description: The static-pod record (manifest, backup directory, how, listen, unit), when there is one.
  returned: when it exists
  type: dict
manifest:
  description: Path of the component's static-pod manifest and whether it exists.
  returned: always
  type: dict
  sample: {"path": "/etc/kubernetes/manifests/kube-apiserver.yaml", "exists": false}
process:
  description: The running process, as RV(kubedebug.lab.process_args#module:process) (argv, exe, cwd, cgroup, pid_ns...).
  returned: when the run needs it
  type: dict
unit:
  description: The systemd service named by the process's cgroup, when its main process was looked up (else empty).
  returned: always
  type: str
unit_main_pid:
  description: C(MainPID) of RV(unit), 0 when not looked up or not running.
  returned: always
  type: int
main_package_dir:
  description:
    - Process mode, when dlv was started - where the debug binary's DWARF says its main package's sources are
      (as RV(kubedebug.lab.go_debug_info#module:main_package_dir)), read while dlv loaded the binary.
  returned: when dlv was started and the binary could be read
  type: str
  sample: _output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver
main_path:
  description: With RV(main_package_dir), the main package's import path from the build info (empty for GOPATH builds).
  returned: when dlv was started and the binary could be read
  type: str
  sample: k8s.io/kubernetes/cmd/kube-apiserver
main_module:
  description: With RV(main_package_dir), the main module's path from the build info (empty for GOPATH builds).
  returned: when dlv was started and the binary could be read
  type: str
  sample: k8s.io/kubernetes
journal:
  description: The debug sessions on this host, oldest first (component and mode), after this run.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _debuginfo, _debugproc, _procfs, _session
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


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
    unit, unit_main_pid = "", 0
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
        records={m: m in records for m, _suffix in _session.RECORD_SUFFIXES},
        manifest={"path": manifest, "exists": manifest_exists},
        unit=unit,
        unit_main_pid=unit_main_pid,
    )
    if "systemd" in records:
        result["systemd_record"] = records["systemd"]
    if "static_pod" in records:
        result["static_pod_record"] = records["static_pod"]
    if process is not None:
        result["process"] = process
    return result


def source_dir(binary):
    """The binary's recorded main-package directory and build-info paths (for the IDE path mapping), read while
    dlv loads it."""
    info = _debuginfo.analyze(binary)
    return {"main_package_dir": info["main_package_dir"], "main_path": info["main_path"] or "",
            "main_module": (info["main_module"] or {}).get("path", "")}


def process_mode(module, p, component, session):
    """Relaunch or restore in process mode, and note it in the journal."""
    sel = {} if session["records"]["process"] or p["state"] == "restored" else {"pid": session["process"]["pid"]}
    args = dict({k: p[k] for k in _debugproc.PROCESS_ARG_SPEC}, component=component, state=p["state"], **sel)
    result = _debugproc.run_module(module, args, while_loading=source_dir)
    if p["state"] == "debug" or result.get("changed"):
        op = "add" if p["state"] == "debug" else "remove"
        changed, before, after, _sessions = _session.update_journal(p["state_dir"], op, component, "process", check_mode=module.check_mode)
        if changed:
            result["changed"] = True
            if module._diff:
                journal = _session.journal_path(p["state_dir"])
                diffs = [result["diff"]] if isinstance(result.get("diff"), dict) else []
                result["diff"] = diffs + [{"before": before, "after": after, "before_header": journal, "after_header": journal}]
    return result


def run(module):
    p = module.params
    component = _session.check_component(p["component"])
    session = survey(module, p, component)
    # A process-mode record is restored whatever else the host has (a manifest, another mode's record).
    if (p["state"] == "debug" and session["mode"] == "process") or (p["state"] == "restored" and session["records"]["process"]):
        result = process_mode(module, p, component, session)
        result.update({k: v for k, v in session.items() if k != "changed"}, handled=True)
        result["changed"] = bool(result.get("changed"))
    else:
        result = session
    result["journal"] = _session.read_journal(p["state_dir"])
    return result


def main():
    spec = dict(
        component=dict(type="str", required=True),
        state=dict(type="str", default="debug", choices=["debug", "restored"]),
        mode=dict(type="str", default="auto", choices=list(_session.MODES)),
        manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
        selector=dict(type="dict"),
    )
    spec.update(_debugproc.PROCESS_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        result = run(module)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
