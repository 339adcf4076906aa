#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: kubelet_config
short_description: Set the kubelet's cgroup driver in its config file and in the flag files that override it
version_added: 0.1.0
description:
  - Sets C(cgroupDriver) in the kubelet's config file (a KubeletConfiguration in YAML or JSON), changing only
    that line (or appending it when absent).
  - A C(--cgroup-driver) flag wins over the config file, so wherever the flag appears in O(flags_files)
    (kubeadm's C(kubeadm-flags.env), C(/etc/default/kubelet), C(/etc/sysconfig/kubelet)) its value is set too.
    The flag is never added where it is not.
  - The managed host needs no YAML library; the config reader understands the top-level keys of a YAML mapping and
    refuses (leaving the file untouched) what it cannot read, such as a C(cgroupDriver) value spread over lines.
  - Does not restart the kubelet; notify a handler when the task reports a change.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes.full_posix
  - kubedebug.lab._attributes
  - ansible.builtin.action_common_attributes
  - kubedebug.lab.cgroup_driver_file
options:
  path:
    description:
      - The kubelet's config file (its C(--config)).
    type: path
    default: /var/lib/kubelet/config.yaml
  create:
    description:
      - When O(path) does not exist, write a minimal KubeletConfiguration holding the driver.
      - When V(false), a missing O(path) is an error.
    type: bool
    default: false
  flags_files:
    description:
      - Environment files whose variables end up on the kubelet's command line. Missing files are skipped.
    type: list
    elements: path
    default: [/var/lib/kubelet/kubeadm-flags.env, /etc/default/kubelet, /etc/sysconfig/kubelet]
"""

EXAMPLES = r"""
- name: Node | kubelet uses the systemd cgroup driver
  kubedebug.lab.kubelet_config:
    cgroup_driver: systemd
  notify: Restart kubelet
"""

RETURN = r"""
path:
  description: The config file.
  returned: always
  type: str
  sample: /var/lib/kubelet/config.yaml
previous_driver:
  description: C(cgroupDriver) in the config file before, null when unset.
  returned: always
  type: str
  sample: cgroupfs
cgroup_driver:
  description: The driver now configured.
  returned: always
  type: str
  sample: systemd
backup_file:
  description: The backup of the config file taken before the change.
  returned: when the config file was changed and O(backup=true)
  type: str
  sample: /var/lib/kubelet/config.yaml.4242.2026-11-26@10:01:02~
files:
  description: Every file checked, with C(changed) and C(backup_file) for each.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/lib/kubelet/config.yaml, changed: true}, {path: /var/lib/kubelet/kubeadm-flags.env, changed: false}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._node import file_edit as _file_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._node import runtimes as _runtimes


def run(module):
    path = module.params["path"]
    driver = module.params["cgroup_driver"]
    existed, before = _file_edit.read(path)
    if not existed and not module.params["create"]:
        raise KubedebugError(
            "The kubelet config %s does not exist" % path,
            "Pass the kubelet's --config path as path, or create: true to write a minimal KubeletConfiguration",
            path=path,
        )
    base = before if existed else _runtimes.KUBELET_CONFIG_TEMPLATE
    previous = _runtimes.read_kubelet_config(base, path).get("cgroupDriver")
    plans = [(path, existed, before, _runtimes.set_kubelet_config_driver(base, driver, path))]
    # every file is read and checked before anything is written
    for flags_file in module.params["flags_files"]:
        f_existed, f_before = _file_edit.read(flags_file)
        if f_existed and os.path.isfile(flags_file):
            plans.append((flags_file, True, f_before, _runtimes.set_env_flag(f_before, "cgroup-driver", driver, flags_file)))
    files = []
    for p, was, old, new in plans:
        files.append(_file_edit.write(module, p, old, new, was, backup=module.params["backup"]))
    result = dict(path=path, previous_driver=previous, cgroup_driver=driver, changed=any(f["changed"] for f in files))
    diffs = [f.pop("diff") for f in files if "diff" in f]
    if diffs:
        result["diff"] = diffs
    if "backup_file" in files[0]:
        result["backup_file"] = files[0]["backup_file"]
    result["files"] = files
    return result


def main():
    argument_spec = dict(
        path=dict(type="path", default="/var/lib/kubelet/config.yaml"),
        create=dict(type="bool", default=False),
        flags_files=dict(type="list", elements="path",
                         default=["/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet", "/etc/sysconfig/kubelet"]),
    )
    argument_spec.update(_file_edit.DRIVER_FILE_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module)
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
