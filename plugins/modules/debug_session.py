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
    (C(STATE_DIR/journal.json), see M(kubedebug.lab.debug_journal)). The other modes are the role's tasks
    (RV(handled) is false); for them, with O(state=debug), the module checks the debug build's version and writes
    the session's record and journal entry before the role changes anything (C(COMPONENT.systemd.json),
    C(COMPONENT.static-pod.json) in O(state_dir)); with O(state=restored) it returns the records for the role to
    undo, and O(state=ended) removes them and the journal entry once the role has.
  - One version check for every mode - the debug build (O(binary)) must be the Kubernetes version the component
    runs - read from the running executable (process and systemd mode) or from the tag of the image the manifest
    runs (static-pod mode; a manifest whose image names no version is not checked). O(version_check=false) skips
    it, O(force_version_mismatch=true) takes a mismatch knowingly.
  - Systemd mode refuses to go on when a drop-in of the name O(dropin_name) exists on the unit and was not written
    by this collection.
  - Mode choice with O(mode=auto) - static-pod mode when the manifest exists or a static-pod session is recorded;
    the mode of an existing record; systemd mode when the process is the main process of its cgroup's service;
    process mode otherwise.
  - The process is read when O(state=debug), no process-mode record holds the original already, and the component
    does not run from a static-pod manifest. A selector that matches nothing or several processes fails with the
    matches.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab.dlv
  - kubedebug.lab.process_mode
options:
  component:
    description: Component name (records, units and logs are named after it), for example C(kube-apiserver).
    type: str
    required: true
  state:
    description:
      - V(debug) to put the component under dlv, V(restored) to bring back the original.
      - V(ended) - after the role undid a systemd or static-pod session, remove its records and journal entry.
    type: str
    choices: [debug, restored, ended]
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
  dropin_name:
    description: Systemd mode - the file name of the drop-in on the component's unit.
    type: str
    default: 90-kubedebug.conf
  static_pod_how:
    description: Static-pod mode - V(pod) (the manifest rewritten to run dlv in the pod) or V(host) (the manifest moved
      out, the component run on the host by the unit O(host_unit)); recorded in the session record.
    type: str
    choices: [pod, host]
    default: pod
  backup_dir:
    description: Static-pod mode - where M(kubedebug.lab.static_pod_debug) keeps the original manifest (recorded).
    type: path
    default: /var/lib/kubedebug/static-pods
  host_unit:
    description: Static-pod host mode - the unit that runs the component on the host. Defaults to
      C(kubedebug-COMPONENT.service).
    type: str
attributes:
  check_mode:
    support: full
    details: Reports what process mode would do and which record it would write; changes nothing.
  diff_mode:
    support: full
    details: The command line before and after (process mode), the session record and the journal.
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

- name: After the role removed its drop-in and restarted the unit - the session is over
  kubedebug.lab.debug_session:
    component: kube-apiserver
    state: ended
  become: true
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
systemd:
  description: Systemd mode, O(state=debug) - the unit and the path of the drop-in the role writes (recorded).
  returned: in systemd mode with state=debug
  type: dict
  sample: {"unit": "kube-apiserver.service", "dropin": "/etc/systemd/system/kube-apiserver.service.d/90-kubedebug.conf"}
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._session import run as _session_run


def main():
    module = AnsibleModule(argument_spec=_session_run.SPEC, supports_check_mode=True)
    try:
        result = _session_run.run_module(module)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
