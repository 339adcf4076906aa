#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: debug_journal
short_description: Keep the order components were put under dlv on a host, for restore
version_added: 0.1.0
description:
  - The journal (C(STATE_DIR/journal.json)) lists the components under dlv on a host, oldest session first, with
    their mode. The C(kubedebug.lab.restore) playbook undoes them newest first.
  - V(present) adds a component at the end (once - a component already listed keeps its place);
    V(absent) removes it. The file is written atomically and removed with its last session.
  - V(query) changes nothing. It returns the sessions and RV(restore_order), the order the C(kubedebug.lab.restore)
    playbook undoes them in.
  - A file that is not a kubedebug journal is never overwritten; the module fails and names it.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
options:
  component:
    description: Component name, for example C(kube-apiserver). Required unless O(state=query).
    type: str
  mode:
    description: The session's mode, noted with it. Required with O(state=present).
    type: str
    choices: [process, systemd, static_pod]
  state:
    description: V(present) to note the session, V(absent) to drop it, V(query) to read the journal.
    type: str
    choices: [present, absent, query]
    default: present
  fallback_order:
    description:
      - Components that follow the journal's in RV(restore_order) when the journal does not list them (records
        written before the journal existed), in this order.
    type: list
    elements: str
    default: [kubelet, kube-controller-manager, kube-scheduler, kube-apiserver]
  state_dir:
    description: Where the journal is.
    type: path
    default: /var/lib/kubedebug
attributes:
  check_mode:
    support: full
    details: Reports the change without writing.
  diff_mode:
    support: full
    details: The journal before and after.
seealso:
  - module: kubedebug.lab.debug_session
"""

EXAMPLES = r"""
- name: Note that the apiserver runs under dlv
  kubedebug.lab.debug_journal:
    component: kube-apiserver
    mode: process
  become: true

- name: The order the restore playbook undoes the sessions in
  kubedebug.lab.debug_journal:
    state: query
  become: true
  register: journal

- name: Drop it after the restore
  kubedebug.lab.debug_journal:
    component: kube-apiserver
    state: absent
  become: true
"""

RETURN = r"""
sessions:
  description: The sessions in the journal afterwards, oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"component": "kube-apiserver", "mode": "process"}]
path:
  description: The journal file.
  returned: always
  type: str
restore_order:
  description: The components to restore, newest session first, then O(fallback_order) without those.
  returned: always
  type: list
  elements: str
  sample: [kube-scheduler, kube-apiserver, kubelet, kube-controller-manager]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._session import model as _session


def main():
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str"),
            mode=dict(type="str", choices=["process", "systemd", "static_pod"]),
            state=dict(type="str", default="present", choices=["present", "absent", "query"]),
            state_dir=dict(type="path", default="/var/lib/kubedebug"),
            fallback_order=dict(type="list", elements="str", default=list(_session.FALLBACK_RESTORE_ORDER)),
        ),
        required_if=[("state", "present", ("component", "mode")), ("state", "absent", ("component",))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        if p["state"] == "query":
            changed, before, after, sessions = False, "", "", _session.read_journal(p["state_dir"])
        else:
            changed, before, after, sessions = _session.update_journal(
                p["state_dir"], "add" if p["state"] == "present" else "remove", _session.check_component(p["component"]), p["mode"],
                check_mode=module.check_mode,
            )
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    result = dict(changed=changed, sessions=sessions, path=_session.journal_path(p["state_dir"]),
                  restore_order=_session.restore_order(sessions, p["fallback_order"]))
    if module._diff and changed:
        result["diff"] = {"before": before, "after": after, "before_header": result["path"], "after_header": result["path"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
