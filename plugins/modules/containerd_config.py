#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: containerd_config
short_description: Set containerd's CRI cgroup driver (SystemdCgroup) in config.toml, keeping everything else
version_added: 0.1.0
description:
  - Sets C(SystemdCgroup) in the options of the CRI plugin's default runtime (C(default_runtime_name), C(runc)
    unless set), for containerd config versions 1, 2 and 3; for a runtime of the legacy type
    C(io.containerd.runtime.v1.linux) it sets the CRI plugin's C(systemd_cgroup) instead.
  - The file is parsed with Python's C(tomllib); the value is located by its full key path (never by a pattern,
    so another runtime's C(SystemdCgroup) is never touched) and the edited text is parsed again and must equal
    the original with exactly that key changed. Comments and layout are kept.
  - When it creates the runtime's table it also writes C(runtime_type = "io.containerd.runc.v2"), because containerd
    replaces its built-in runtime entry with the table it reads, and an entry with only C(options) has no type.
  - A file that is not TOML, or whose layout would need rewriting (inline tables), is refused and left untouched.
  - A missing file means containerd's defaults (C(cgroupfs)); for V(systemd) it is created as a version 2
    config holding only this setting.
  - Does not restart containerd; notify a handler when the task reports a change.
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
      - Path of containerd's configuration.
    type: path
    default: /etc/containerd/config.toml
requirements:
  - Python 3.11 (C(tomllib)) or the C(tomli) package on the managed host.
"""

EXAMPLES = r"""
- name: Node | containerd's runc uses the systemd cgroup driver
  kubedebug.lab.containerd_config:
    cgroup_driver: systemd
  notify: Restart containerd
"""

RETURN = r"""
path:
  description: The file that was checked.
  returned: always
  type: str
  sample: /etc/containerd/config.toml
key:
  description: Full TOML key path of the setting.
  returned: always
  type: list
  elements: str
  sample: [plugins, io.containerd.grpc.v1.cri, containerd, runtimes, runc, options, SystemdCgroup]
version:
  description: The config file's C(version).
  returned: always
  type: int
  sample: 2
runtime:
  description: The CRI default runtime whose options are set.
  returned: always
  type: str
  sample: runc
previous_driver:
  description: The driver the file gave before (C(cgroupfs) when the key was absent, containerd's default).
  returned: always
  type: str
  sample: cgroupfs
cgroup_driver:
  description: The driver the file gives now.
  returned: always
  type: str
  sample: systemd
backup_file:
  description: The backup taken before the change.
  returned: when the file was changed and O(backup=true)
  type: str
  sample: /etc/containerd/config.toml.4242.2026-11-26@10:01:02~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._node import file_edit as _file_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._node import runtimes as _runtimes
from ansible_collections.kubedebug.lab.plugins.module_utils._node import toml_edit as _toml_edit


def run(module):
    path = module.params["path"]
    driver = module.params["cgroup_driver"]
    existed, before = _file_edit.read(path)
    info = _runtimes.containerd_driver(_toml_edit.loads(before, path), path)
    after = _runtimes.set_containerd_driver(before, driver, path)
    if info["cri_disabled"]:
        module.warn("%s disables the CRI plugin (disabled_plugins): a kubelet cannot use this containerd until "
                    "it is removed from that list" % path)
    result = _file_edit.write(module, path, before, after, existed, backup=module.params["backup"])
    new = _runtimes.containerd_driver(_toml_edit.loads(after, path), path)
    result.update(previous_driver=info["driver"], cgroup_driver=new["driver"],
                  key=new["key"], version=new["version"], runtime=new["runtime"])
    return result


def main():
    argument_spec = dict(path=dict(type="path", default="/etc/containerd/config.toml"))
    argument_spec.update(_file_edit.DRIVER_FILE_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module)
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
