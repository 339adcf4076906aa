#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: debug_session_info
short_description: What a debug run of one component starts from - its records, manifest, process, unit and mode
version_added: 0.1.0
description:
  - Everything the M(kubedebug.lab.debug_component) role reads before it touches a host, in one step - the
    session records of the component in O(state_dir) (process, systemd and static-pod mode), whether the kubelet
    runs it from a static-pod manifest, the running process (as M(kubedebug.lab.process_args) reads it, when a
    run needs it), the systemd service whose main process it is, the journal of debug sessions, and the mode the
    run uses (RV(mode)).
  - The process is read when O(state=debug), no process-mode record holds the original already, and the component
    does not run from a static-pod manifest. A selector that matches nothing or several processes fails with the
    matches, as M(kubedebug.lab.process_args) does.
  - Mode choice with O(mode=auto) - static-pod mode when the manifest exists or a static-pod session is recorded;
    the mode of an existing record; systemd mode when the process is the main process of its cgroup's service;
    process mode otherwise.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  component:
    description: Component name (the records are named after it), for example C(kube-apiserver).
    type: str
    required: true
  state:
    description: V(debug) for a debug run (reads the process when needed), V(restored) for a restore (never does).
    type: str
    choices: [debug, restored]
    default: debug
  mode:
    description: The mode asked for; V(auto) lets the module choose.
    type: str
    choices: [auto, process, systemd, static_pod]
    default: auto
  state_dir:
    description: Where the session records and the journal are.
    type: path
    default: /var/lib/kubedebug
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
  pick:
    description: Which process when several match.
    type: str
    choices: [only, newest, oldest]
    default: only
  pid_namespace:
    description:
      - V(same) only counts processes of the module's own PID namespace (processes the host sees in containers
        cannot be relaunched from here); V(any) counts them too.
    type: str
    choices: [any, same]
    default: same
attributes:
  check_mode:
    support: full
    description: Reads only.
  diff_mode:
    support: none
    description: Reads only.
notes:
  - Run as root (O(ignore:become=true)) to read other users' processes and the records.
seealso:
  - module: kubedebug.lab.process_args
  - module: kubedebug.lab.debug_journal
"""

EXAMPLES = r"""
- name: Where the apiserver debug run starts from
  kubedebug.lab.debug_session_info:
    component: kube-apiserver
    selector:
      pattern: 'kube-apiserver .*--secure-port=6443'
  become: true
  register: session

- name: The mode it will use
  ansible.builtin.debug:
    msg: "{{ session.mode }}"
"""

RETURN = r"""
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
journal:
  description: The debug sessions on this host, oldest first (component and mode).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _procfs, _session
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


def run(module):
    p = module.params
    component = _session.check_component(p["component"])
    records = _session.read_records(p["state_dir"], component)
    manifest = os.path.join(p["manifest_dir"], component + ".yaml")
    manifest_exists = os.path.exists(manifest)
    process = None
    unit, unit_main_pid = "", 0
    if _session.needs_process(p["state"], p["mode"], records, manifest_exists):
        sel = selector_of(p)

        def main_pid_of(name):
            rc, out, err = module.run_command(["systemctl", "show", "-p", "MainPID", "--value", name])
            if rc != 0:
                raise KubedebugError("systemctl show %s failed: %s" % (name, err.strip()), hint="Is systemd PID 1 on this host, and is the unit name right?")
            return _procfs.parse_main_pid(out, name)

        process, _matches = _procfs.select(sel, p["pick"], "/proc", main_pid_of, same_pid_namespace=p["pid_namespace"] == "same")
        guess = _session.unit_of(process["cgroup"])
        if p["mode"] == "auto" and "systemd" not in records and guess and module.get_bin_path("systemctl"):
            rc, out, _err = module.run_command(["systemctl", "show", "-p", "MainPID", "--value", guess])
            unit = guess
            unit_main_pid = int(out.strip()) if rc == 0 and out.strip().isdigit() else 0
    mode = _session.choose_mode(p["mode"], records, manifest_exists, process["pid"] if process else None, unit_main_pid or None)
    result = dict(
        changed=False,
        mode=mode,
        records={m: m in records for m, _suffix in _session.RECORD_SUFFIXES},
        manifest={"path": manifest, "exists": manifest_exists},
        unit=unit,
        unit_main_pid=unit_main_pid,
        journal=_session.read_journal(p["state_dir"]),
    )
    if "systemd" in records:
        result["systemd_record"] = records["systemd"]
    if "static_pod" in records:
        result["static_pod_record"] = records["static_pod"]
    if process is not None:
        result["process"] = process
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True),
            state=dict(type="str", default="debug", choices=["debug", "restored"]),
            mode=dict(type="str", default="auto", choices=list(_session.MODES)),
            state_dir=dict(type="path", default="/var/lib/kubedebug"),
            manifest_dir=dict(type="path", default="/etc/kubernetes/manifests"),
            selector=dict(type="dict"),
            pick=dict(type="str", default="only", choices=["only", "newest", "oldest"]),
            pid_namespace=dict(type="str", default="same", choices=["any", "same"]),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
