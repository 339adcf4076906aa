#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: firewall_ports
short_description: Open ports (dlv, Kubernetes) to listed source networks only, and remove exactly those openings again
version_added: 0.1.0
description:
  - Adds one accept rule per (source network, port) with firewalld (rich rules, runtime and permanent), ufw, or
    nftables (rules inserted at the top of an existing chain, tagged with a C(kubedebug.lab) comment).
  - Every rule names a source network. With no O(sources) nothing is opened; a Delve headless port is remote code
    execution, and tunnelling over SSH needs no firewall change at all.
  - The rules it added are recorded in O(state_file). A later run removes recorded rules that are no longer wanted,
    and O(state=absent) removes exactly the recorded ones. A matching rule the host had before is never recorded,
    so it is never removed.
  - Sources and ports are validated before anything is changed; a source that is not a CIDR is refused.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes.full_posix
  - kubedebug.lab._attributes
  - ansible.builtin.action_common_attributes
options:
  state:
    description:
      - V(present) opens O(ports) to O(sources) (and removes what an earlier run opened that is no longer listed);
        V(absent) removes every rule this module recorded as added.
    type: str
    choices: [present, absent]
    default: present
  sources:
    description:
      - Source networks in CIDR notation (V(192.0.2.0/24), V(192.0.2.10/32), V(2001:db8::/64)).
      - V(0.0.0.0/0) opens to the world; it is accepted only when written out, and warned about.
    type: list
    elements: str
    default: []
  ports:
    description:
      - Ports as V(2345), V(2345/tcp) or V(2379-2380/tcp); the protocol defaults to tcp.
    type: list
    elements: str
    default: []
  backend:
    description:
      - V(auto) takes the first usable one of O(backend_order) (firewalld only when it is running).
    type: str
    choices: [auto, firewalld, ufw, nftables]
    default: auto
  backend_order:
    description: The order in which V(auto) looks for a backend.
    type: list
    elements: str
    default: [firewalld, ufw, nftables]
  zone:
    description: firewalld zone; default, the zone firewalld reports as default.
    type: str
  nftables_family:
    description: nftables table family.
    type: str
    choices: [inet, ip, ip6]
    default: inet
  nftables_table:
    description: nftables table holding O(nftables_chain); it must exist.
    type: str
    default: filter
  nftables_chain:
    description: nftables base chain on the input hook to insert the rules into; it must exist.
    type: str
    default: input
  state_file:
    description: Where the rules added by this module are recorded.
    type: path
    default: /var/lib/kubedebug/firewall-rules.json
notes:
  - nftables rules are added to the running ruleset only; they are gone after a reboot or a reload of
    C(/etc/nftables.conf), and the next run adds them again. firewalld rules are runtime and permanent;
    ufw rules are persistent by nature.
  - ufw rules are written even when ufw is inactive, but are not enforced until it is enabled (a warning says so).
"""

EXAMPLES = r"""
- name: Firewall | dlv reachable from the lab network only
  kubedebug.lab.firewall_ports:
    sources: [192.0.2.0/24]
    ports: [2345/tcp]

- name: Firewall | remove what was opened
  kubedebug.lab.firewall_ports:
    state: absent
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: when a backend was needed
  type: str
  sample: firewalld
added:
  description: Rules added, as C(family source ports/proto).
  returned: always
  type: list
  elements: str
  sample: [ipv4 192.0.2.0/24 2345/tcp]
removed:
  description: Rules removed.
  returned: always
  type: list
  elements: str
  sample: []
rules:
  description: The rules recorded as ours after this run.
  returned: always
  type: list
  elements: str
  sample: [ipv4 192.0.2.0/24 2345/tcp]
preexisting:
  description: Wanted rules the host already had; left alone, not recorded.
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._node import firewall as fw


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            sources=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="str", default=[]),
            backend=dict(type="str", choices=["auto"] + list(fw.BACKENDS), default="auto"),
            backend_order=dict(type="list", elements="str", default=list(fw.BACKENDS)),
            zone=dict(type="str"),
            nftables_family=dict(type="str", choices=["inet", "ip", "ip6"], default="inet"),
            nftables_table=dict(type="str", default="filter"),
            nftables_chain=dict(type="str", default="input"),
            state_file=dict(type="path", default="/var/lib/kubedebug/firewall-rules.json"),
        ),
        supports_check_mode=True,
    )
    try:
        result = fw.run_module(module)
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
