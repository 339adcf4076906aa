#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_up_cluster_info
short_description: Report the cluster M(kubedebug.lab.local_up_cluster) started, its components and their debug sessions
version_added: 0.1.0
description:
  - Reads the record M(kubedebug.lab.local_up_cluster) keeps of the running C(hack/local-up-cluster.sh) and finds each
    component of that cluster running now - as the script started it, restored from a debug session, or under dlv
    (matched by name and exact arguments, whatever the binary path).
  - Lists the components that a kubedebug process-mode debug record names.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
options:
  run_dir:
    description: Where M(kubedebug.lab.local_up_cluster) keeps its record.
    type: path
    default: /run/kubedebug
  debug_state_dir:
    description: Where kubedebug.lab debug records are.
    type: path
    default: /var/lib/kubedebug
notes:
  - Run as root (O(ignore:become=true)) to read other users' processes.
seealso:
  - module: kubedebug.lab.local_up_cluster
"""

EXAMPLES = r"""
- name: The running local-up-cluster
  kubedebug.lab.local_up_cluster_info:
  become: true
  register: cluster

- name: The apiserver's pid
  ansible.builtin.debug:
    msg: "{{ cluster.components['kube-apiserver'].pid }}"
"""

RETURN = r"""
running:
  description: The script runs.
  returned: always
  type: bool
pid:
  description: Pid of the script.
  returned: when running
  type: int
argv:
  description: The script's command line.
  returned: when there is a record
  type: list
  elements: str
go_out:
  description: Directory the components' binaries are taken from.
  returned: when there is a record
  type: str
start_mode:
  description: The START_MODE used.
  returned: when there is a record
  type: str
cert_dir:
  description: CERT_DIR.
  returned: when there is a record
  type: str
log_dir:
  description: LOG_DIR (components' logs).
  returned: when there is a record
  type: str
log:
  description: The script's own output.
  returned: when there is a record
  type: str
kubeconfig:
  description: The admin kubeconfig written by the script.
  returned: when there is a record
  type: str
url:
  description: The apiserver's URL.
  returned: when there is a record
  type: str
recorded:
  description: The exact argv of each component as the script started it.
  returned: when there is a record
  type: dict
components:
  description: Components running now, by name - pid, argv0, under_dlv, original_argv (argv exactly as recorded).
  returned: when there is a record
  type: dict
  sample: {"kube-apiserver": {"pid": 4242, "argv0": "/var/cache/kubedebug/build/bin/kube-apiserver", "under_dlv": true, "original_argv": false}}
debug_sessions:
  description: Components of this cluster named by a kubedebug process-mode debug record.
  returned: when there is a record
  type: list
  elements: str
state_file:
  description: The record read.
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._cluster import localup as _localup
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            run_dir=dict(type="path", default="/run/kubedebug"),
            debug_state_dir=dict(type="path", default="/var/lib/kubedebug"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        _rec, result = _localup.status(os.path.join(p["run_dir"], "local-up-cluster.json"), p["debug_state_dir"])
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
