#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: docker_daemon_json
short_description: Set Docker's cgroup driver in daemon.json without dropping other keys
version_added: 0.1.0
description:
  - Makes C(exec-opts) in Docker's C(daemon.json) hold exactly one C(native.cgroupdriver=<driver>) entry.
  - Every other key and every other C(exec-opts) entry is kept, in its order; the file's indentation is kept.
  - A C(daemon.json) that is not a JSON object is refused and left untouched.
  - Refuses when the running C(dockerd) has C(--exec-opt) on its command line as well, because Docker
    will not start when a directive is given both as a flag and in C(daemon.json).
  - Does not restart Docker; notify a handler when the task reports a change.
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
      - Path of Docker's daemon configuration; created when missing.
    type: path
    default: /etc/docker/daemon.json
"""

EXAMPLES = r"""
- name: Node | docker uses the systemd cgroup driver
  kubedebug.lab.docker_daemon_json:
    cgroup_driver: systemd
  notify: Restart docker
"""

RETURN = r"""
path:
  description: The file that was checked.
  returned: always
  type: str
  sample: /etc/docker/daemon.json
previous_driver:
  description: The driver C(exec-opts) named before, or null when it named none (Docker's default applies).
  returned: always
  type: str
  sample: cgroupfs
cgroup_driver:
  description: The driver the file names now.
  returned: always
  type: str
  sample: systemd
backup_file:
  description: The backup taken before the change.
  returned: when the file was changed and O(backup=true)
  type: str
  sample: /etc/docker/daemon.json.4242.2026-11-26@10:01:02~
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._node import cgroup as _cgroup
from ansible_collections.kubedebug.lab.plugins.module_utils._node import file_edit as _file_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._node import runtimes as _runtimes


def run(module):
    path = module.params["path"]
    driver = module.params["cgroup_driver"]
    existed, before = _file_edit.read(path)
    previous = _runtimes.docker_daemon_json_driver(before, path)
    after = _runtimes.set_docker_daemon_json_driver(before, driver, path)
    if after != before or not existed:
        for argv in _cgroup.processes({"dockerd"}).get("dockerd", []):
            flags = _runtimes.dockerd_flag_exec_opts(argv)
            if flags:
                raise KubedebugError(
                    "dockerd runs with --exec-opt %s on its command line; Docker refuses to start when exec-opts is "
                    "set both as a flag and in %s" % (" --exec-opt ".join(flags), path),
                    "Remove --exec-opt from dockerd's unit (systemctl edit docker) and run again; nothing was changed",
                    path=path,
                )
    result = _file_edit.write(module, path, before, after, existed, backup=module.params["backup"])
    result.update(previous_driver=previous, cgroup_driver=driver)
    return result


def main():
    argument_spec = dict(path=dict(type="path", default="/etc/docker/daemon.json"))
    argument_spec.update(_file_edit.DRIVER_FILE_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = run(module)
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
