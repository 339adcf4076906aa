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
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
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

import glob
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _cgroup, _file_edit, _runtimes, _toml_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError


class Facts(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.errors = []

    def bin(self, *names):
        for name in names:
            found = self.module.get_bin_path(name, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"])
            if found:
                return found
        return None

    def read(self, path):
        try:
            return _file_edit.read(path)
        except KubedebugError as err:
            self.errors.append(str(err))
            return False, ""

    def docker(self, mode, systemd_pid1, procs):
        cli, daemon = self.bin("docker"), self.bin("dockerd")
        out = {"present": bool(cli or daemon), "running": False, "driver": None, "source": None}
        if not out["present"]:
            return out
        existed, text = self.read(self.p["docker_daemon_json"])
        try:
            out["configured_driver"] = _runtimes.docker_daemon_json_driver(text, self.p["docker_daemon_json"]) if existed else None
        except KubedebugError as err:
            self.errors.append(str(err))
            out["configured_driver"] = None
        out["flag_exec_opts"] = [o for argv in procs.get("dockerd", []) for o in _runtimes.dockerd_flag_exec_opts(argv)]
        if cli:
            rc, stdout, stderr = self.module.run_command([cli, "info", "--format", "{{json .}}"])
            info = _runtimes.parse_docker_info_json(stdout)
            if info is None and rc == 0:  # a CLI without --format: read the text by key
                rc, stdout, stderr = self.module.run_command([cli, "info"])
                info = _runtimes.parse_docker_info_text(stdout) if rc == 0 else None
            if info and info["running"]:
                out.update(running=True, driver=info["driver"], source="docker info",
                           cgroup_version=info["cgroup_version"], server_version=info["server_version"])
                return out
            out["error"] = (info or {}).get("error") or stderr.strip() or "docker info failed"
        flag = [o.split("=", 1)[1] for o in out["flag_exec_opts"] if o.lower().startswith(_runtimes.EXEC_OPT + "=")]
        if flag:
            out.update(driver=flag[-1], source="dockerd --exec-opt (docker not answering)")
        elif out["configured_driver"]:
            out.update(driver=out["configured_driver"], source="%s (docker not answering)" % self.p["docker_daemon_json"])
        else:
            out.update(driver=_runtimes.docker_default_driver(mode, systemd_pid1), source="Docker default (docker not answering)")
        return out

    def containerd(self):
        binary = self.bin("containerd")
        path = self.p["containerd_config"]
        out = {"present": bool(binary), "driver": None, "source": None, "config_path": path}
        if not binary:
            return out
        existed, text = self.read(path)
        try:
            info = _runtimes.containerd_driver(_toml_edit.loads(text, path), path)
            out.update(config_driver=info["driver"], key=info["key"], cri_disabled=info["cri_disabled"],
                       driver=info["driver"], source=path if existed else "containerd default (no %s)" % path)
        except KubedebugError as err:
            self.errors.append(str(err))
            return out
        # the effective config, with imports and defaults merged by containerd itself
        rc, stdout, _stderr = self.module.run_command([binary, "--config", path, "config", "dump"] if existed else [binary, "config", "dump"])
        if rc == 0:
            try:
                info = _runtimes.containerd_driver(_toml_edit.loads(stdout, "containerd config dump"))
                out.update(driver=info["driver"], source="containerd config dump")
            except KubedebugError:
                pass
        return out

    def crio(self):
        binary = self.bin("crio")
        main = self.p["crio_config"]
        out = {"present": bool(binary), "driver": None, "source": None}
        if not binary:
            return out
        docs = []
        for path in [main] + sorted(glob.glob(main + ".d/*.conf")):
            existed, text = self.read(path)
            if existed:
                try:
                    docs.append((path, _toml_edit.loads(text, path)))
                except KubedebugError as err:
                    self.errors.append(str(err))
        out.update(_runtimes.crio_driver(docs))
        return out

    def kubelet(self, procs, docker_present):
        running = procs.get("kubelet", [])
        argv = running[0] if running else []
        binary = self.bin("kubelet") or (argv[0] if argv and os.path.isabs(argv[0]) and os.path.exists(argv[0]) else None)
        config_path = self.p["kubelet_config"] or ((_runtimes.flag_values(argv, "config") or [None])[-1]) or "/var/lib/kubelet/config.yaml"
        existed, text = self.read(config_path)
        out = {"present": bool(binary or running or existed), "running": bool(running), "config_path": config_path,
               "driver": None, "source": None, "runtime": None, "version": None}
        if not out["present"]:
            return out
        config = {}
        if existed:
            try:
                config = _runtimes.read_kubelet_config(text, config_path)
            except KubedebugError as err:
                self.errors.append(str(err))
        flags = list(argv[1:])
        flag_source = "kubelet command line"
        if not running:
            flag_source = "kubelet flag files"
            for path in self.p["kubelet_flags_files"]:
                f_existed, f_text = self.read(path)
                if f_existed:
                    try:
                        for args in _runtimes.read_env_file(f_text, path).values():
                            flags.extend(args)
                    except KubedebugError as err:
                        self.errors.append(str(err))
        flag = (_runtimes.flag_values(flags, "cgroup-driver") or [None])[-1]
        out.update(config_driver=config.get("cgroupDriver"), flag_driver=flag)
        if flag:
            out.update(driver=flag, source="--cgroup-driver (%s)" % flag_source)
        elif config.get("cgroupDriver"):
            out.update(driver=config["cgroupDriver"], source=config_path)
        else:
            out.update(driver="cgroupfs", source="kubelet default")
        if binary:
            rc, stdout, _stderr = self.module.run_command([binary, "--version"])
            version = _runtimes.parse_kubelet_version(stdout) if rc == 0 else None
            out["version"] = "%d.%d" % version if version else None
        else:
            version = None
        out["runtime"] = _runtimes.kubelet_runtime(flags, config, version, docker_present)
        return out

    def gather(self):
        mode = _cgroup.detect_mode(self.p["cgroup_root"])
        pid1 = _cgroup.pid1_name()
        systemd_pid1 = pid1 == "systemd"
        procs = _cgroup.processes({"dockerd", "kubelet"})
        runtimes = {
            "docker": self.docker(mode["mode"], systemd_pid1, procs),
            "containerd": self.containerd(),
            "crio": self.crio(),
        }
        kubelet = self.kubelet(procs, runtimes["docker"]["present"])
        facts = dict(mode, pid1=pid1, systemd_pid1=systemd_pid1, runtimes=runtimes, kubelet=kubelet)
        facts.update(_cgroup.verdict(mode["mode"], systemd_pid1, runtimes, kubelet))
        facts["errors"] = self.errors
        if self.errors:
            facts["consistent"] = False
            facts["reason"] = "Cannot tell, a config file is unreadable: %s. %s" % ("; ".join(self.errors), facts["reason"])
        return facts


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
    facts = Facts(module).gather()
    module.exit_json(changed=False, ansible_facts={"kubedebug_cgroup": facts})


if __name__ == "__main__":
    main()
