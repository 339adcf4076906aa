#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: cgroup_facts
short_description: cgroup mode, container runtimes and kubelet cgroup drivers, and whether they agree
version_added: 0.1.0
description:
  - Reads the cgroup mode (C(unified), C(hybrid), C(legacy) or C(unavailable)) from the C(statfs) filesystem type of
    O(cgroup_root) and O(cgroup_root)C(/unified) (cgroup2 magic C(0x63677270); C(os.statvfs) does not expose
    the type, so libc's C(statfs) is called through ctypes).
  - Tells whether systemd is PID 1.
  - Finds Docker, containerd and CRI-O and reads each one's cgroup driver from structured sources
    (C(docker info --format '{{json .}}'), else C(daemon.json); C(containerd config dump), else C(config.toml);
    CRI-O's C(crio.conf) and drop-ins).
  - Finds the kubelet's C(cgroupDriver) in its config file, overridden by a C(--cgroup-driver) flag from its
    running command line or its flag files, and which runtime it talks to.
  - Returns a C(consistent) verdict for the kubelet and its runtime, the recommended driver and why.
  - Never fails because of a broken config file; the problem is reported in C(errors) and C(consistent) is false.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes.read_only
  - kubedebug.lab._attributes
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  facts:
    support: full
  platform:
    platforms: posix
options:
  cgroup_root:
    description: Where the cgroup hierarchy is mounted.
    type: path
    default: /sys/fs/cgroup
  docker_daemon_json:
    description: Docker's daemon configuration.
    type: path
    default: /etc/docker/daemon.json
  containerd_config:
    description: containerd's configuration.
    type: path
    default: /etc/containerd/config.toml
  crio_config:
    description: CRI-O's main configuration; C(<crio_config>.d/*.conf) drop-ins are read after it.
    type: path
    default: /etc/crio/crio.conf
  kubelet_config:
    description:
      - The kubelet's config file. Default, the C(--config) of the running kubelet, else
        C(/var/lib/kubelet/config.yaml).
    type: path
  kubelet_flags_files:
    description: Environment files whose variables end up on the kubelet's command line, in the order it reads them.
    type: list
    elements: path
    default: [/var/lib/kubelet/kubeadm-flags.env, /etc/default/kubelet, /etc/sysconfig/kubelet]
"""

EXAMPLES = r"""
- name: Node | read cgroup facts
  kubedebug.lab.cgroup_facts:

- name: Node | the runtime and the kubelet must agree
  ansible.builtin.assert:
    that: ansible_facts.kubedebug_cgroup.consistent
    fail_msg: "{{ ansible_facts.kubedebug_cgroup.reason }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    kubedebug_cgroup:
      description: cgroup facts of the node.
      returned: always
      type: dict
      contains:
        mode:
          description: C(unified) (cgroup v2), C(hybrid) (v1 controllers plus a v2 tree at C(unified)), C(legacy) (v1), C(unavailable).
          type: str
          sample: hybrid
        version:
          description: 2 for C(unified), 1 for C(hybrid) and C(legacy), null when unavailable.
          type: int
          sample: 1
        fs_types:
          description: Filesystem type found at each path that was looked at.
          type: dict
          sample: {/sys/fs/cgroup: tmpfs, /sys/fs/cgroup/unified: cgroup2}
        pid1:
          description: Name of PID 1.
          type: str
          sample: systemd
        systemd_pid1:
          description: Whether systemd is PID 1.
          type: bool
          sample: true
        runtimes:
          description:
            - One entry per runtime (C(docker), C(containerd), C(crio)) with C(present), C(driver), C(source) and
              runtime-specific keys (C(running), C(configured_driver), C(flag_exec_opts) for docker;
              C(config_driver), C(key), C(cri_disabled) for containerd).
          type: dict
          sample: {docker: {present: true, running: true, driver: cgroupfs, source: docker info}}
        kubelet:
          description: C(present), C(running), C(driver), C(source), C(config_path), C(config_driver), C(flag_driver), C(runtime), C(version).
          type: dict
          sample: {present: true, driver: systemd, source: /var/lib/kubelet/config.yaml, runtime: docker}
        consistent:
          description: Whether the kubelet and its runtime (or, without a kubelet, all runtimes found) use one driver.
          type: bool
          sample: false
        compared:
          description: Components the verdict compared.
          type: list
          elements: str
          sample: [docker, kubelet]
        conflicts:
          description: The disagreeing components with their drivers and sources.
          type: list
          elements: str
          sample: ["docker=cgroupfs (docker info)", "kubelet=systemd (/var/lib/kubelet/config.yaml)"]
        primary_runtime:
          description: The runtime the kubelet uses (or the one that matters most when unknown).
          type: str
          sample: docker
        recommended_driver:
          description: C(systemd) when systemd is PID 1 on a unified host, otherwise the runtime's current driver.
          type: str
          sample: cgroupfs
        reason:
          description: The verdict and the recommendation in words.
          type: str
        errors:
          description: Config files that could not be read, with the reason.
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._node import cgroup as _cgroup


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cgroup_root=dict(type="path", default="/sys/fs/cgroup"),
            docker_daemon_json=dict(type="path", default="/etc/docker/daemon.json"),
            containerd_config=dict(type="path", default="/etc/containerd/config.toml"),
            crio_config=dict(type="path", default="/etc/crio/crio.conf"),
            kubelet_config=dict(type="path"),
            kubelet_flags_files=dict(type="list", elements="path",
                                     default=["/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet", "/etc/sysconfig/kubelet"]),
        ),
        supports_check_mode=True,
    )
    facts = _cgroup.gather_facts(module)
    module.exit_json(changed=False, ansible_facts={"kubedebug_cgroup": facts})


if __name__ == "__main__":
    main()
