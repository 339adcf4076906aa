#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dlv_command
short_description: Render the exact dlv invocation that relaunches a process under Delve
version_added: 0.1.0
description:
  - From the result of M(kubedebug.lab.process_args), or an explicit argv, builds
    C(dlv exec BINARY --headless --listen=ADDR --api-version=2 [--accept-multiclient] [--continue] -- ARGS)
    where C(ARGS) are the process's original arguments, unchanged.
  - Returns the invocation as an argv list, a POSIX shell line, a systemd C(ExecStart=) value and a JSON list,
    each of which reproduces exactly the same arguments, plus the C(ssh -L) and C(dlv connect) commands to
    type on a workstation.
  - Changes nothing on the host.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab.dlv
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
options:
  process:
    description:
      - The RV(kubedebug.lab.process_args#module:process) dict of a read process (its C(argv) and C(exe) are used),
        or the whole registered result of M(kubedebug.lab.process_args).
    type: dict
  argv:
    description: An explicit argv (executable first). Mutually exclusive with O(process).
    type: list
    elements: str
  binary:
    description:
      - The binary dlv executes, normally the debug-built component (full DWARF, C(-N -l)).
      - Defaults to the process's executable (or argv[0]).
    type: path
  validate:
    description:
      - Check on the host that O(binary) is a Go ELF binary with DWARF debug info, and that O(dlv_path) exists,
        failing with the reason and the fix otherwise.
      - Turn off to render commands for another host.
    type: bool
    default: true
  ssh_destination:
    description: C(user@host) used in the printed C(ssh -L) command. Defaults to a placeholder.
    type: str
  local_port:
    description: Workstation-side port of the SSH tunnel. Defaults to the dlv port.
    type: int
seealso:
  - module: kubedebug.lab.process_args
"""

EXAMPLES = r"""
- name: Read the running apiserver
  kubedebug.lab.process_args:
    name: kube-apiserver
  become: true
  register: apiserver

- name: Render the dlv relaunch with the debug build
  kubedebug.lab.dlv_command:
    process: "{{ apiserver.process }}"
    binary: /opt/kubedebug/bin/kube-apiserver
    ssh_destination: "root@{{ inventory_hostname }}"
  register: dlv

- name: Show how to attach
  ansible.builtin.debug:
    msg:
      - "{{ dlv.ssh_tunnel_command }}"
      - "{{ dlv.connect_command }}"
"""

RETURN = r"""
argv:
  description: The dlv invocation as an argv list.
  returned: success
  type: list
  elements: str
  sample: [/usr/bin/dlv, exec, /opt/kubedebug/bin/kube-apiserver, --headless, --listen=127.0.0.1:2345, --api-version=2,
           --accept-multiclient, --continue, --, --secure-port=6443]
shell:
  description: RV(argv) as one POSIX shell line; C(shlex.split) gives RV(argv) back exactly.
  returned: success
  type: str
systemd:
  description: RV(argv) as a systemd C(ExecStart=) value (C($) and C(%) escaped, C-style quoting).
  returned: success; null when the dlv path is not absolute (systemd needs one)
  type: str
json:
  description: RV(argv) as a JSON list, usable as a pod's C(command) in YAML.
  returned: success
  type: str
target_argv:
  description: The argv the component receives under dlv (dlv passes the binary path as argv[0]).
  returned: success
  type: list
  elements: str
binary:
  description: The binary dlv executes.
  returned: success
  type: str
listen:
  description: Normalised listen address.
  returned: success
  type: str
  sample: 127.0.0.1:2345
host:
  description: Listen host.
  returned: success
  type: str
port:
  description: Listen port.
  returned: success
  type: int
exposure:
  description: V(loopback) when only local users can reach dlv, V(network) otherwise.
  returned: success
  type: str
ssh_tunnel_command:
  description: The C(ssh -L) command to run on the workstation (null when dlv listens on the network).
  returned: success
  type: str
  sample: ssh -N -L 2345:127.0.0.1:2345 root@node1
connect_command:
  description: The C(dlv connect) command to run on the workstation (through the tunnel when loopback).
  returned: success
  type: str
  sample: dlv connect 127.0.0.1:2345
ide_remote:
  description: Host and port an IDE remote-attach configuration points at.
  returned: success
  type: dict
notes:
  description: Things to know when attaching (same-user rule of dlv).
  returned: success
  type: list
  elements: str
debug_info:
  description: Result of the binary check (go, dwarf, symbols, reasons) when O(validate) is on.
  returned: when validate
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build.elf import debuggability
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process.argv import check_argv, to_json_list, to_shell, to_systemd
from ansible_collections.kubedebug.lab.plugins.module_utils._process.dlv import DLV_ARG_SPEC, attach_commands, build_dlv_argv, resolve_dlv_path


def source_argv(params):
    if params["process"] is not None:
        proc = params["process"]
        if "process" in proc and isinstance(proc["process"], dict):
            proc = proc["process"]  # a whole registered process_args result
        if "argv" not in proc:
            raise KubedebugError(
                "process has no argv key",
                hint="Pass the 'process' value registered from kubedebug.lab.process_args",
            )
        argv = check_argv(proc["argv"], "process.argv")
        return argv, proc.get("exe") or argv[0]
    argv = check_argv(params["argv"], "argv")
    return argv, argv[0]


def run(module):
    p = module.params
    argv, exe = source_argv(p)
    binary = p["binary"] or exe
    dlv_path = p["dlv_path"]
    result = {}
    if p["validate"]:
        if not os.path.isabs(dlv_path):
            dlv_path = resolve_dlv_path(dlv_path, module.get_bin_path)
        elif not os.access(dlv_path, os.X_OK):
            raise KubedebugError("dlv_path %s is not an executable file" % dlv_path, hint="Install Delve with the kubedebug.lab.delve role")
        verdict = debuggability(binary)
        result["debug_info"] = verdict
        if verdict["reasons"]:
            raise KubedebugError("; ".join(verdict["reasons"]), debug_info=verdict)
    built = build_dlv_argv(
        binary,
        argv[1:],
        listen=p["listen"],
        continue_after_start=p["continue_after_start"],
        accept_multiclient=p["accept_multiclient"],
        api_version=p["api_version"],
        dlv_path=dlv_path,
        dlv_flags=p["dlv_flags"],
        dlv_log=p["dlv_log"],
        dlv_log_output=p["dlv_log_output"],
        dlv_log_dest=p["dlv_log_dest"],
    )
    for w in built["warnings"]:
        module.warn(w)
    attach = attach_commands(built["host"], built["port"], built["exposure"], p["ssh_destination"], p["local_port"])
    systemd = None
    if os.path.isabs(dlv_path):
        systemd = to_systemd(built["argv"])
    result.update(
        changed=False,
        argv=built["argv"],
        shell=to_shell(built["argv"]),
        systemd=systemd,
        json=to_json_list(built["argv"]),
        target_argv=[binary] + argv[1:],
        binary=binary,
        listen=built["listen"],
        host=built["host"],
        port=built["port"],
        exposure=built["exposure"],
        **attach
    )
    return result


def main():
    spec = dict(
        process=dict(type="dict"),
        argv=dict(type="list", elements="str"),
        binary=dict(type="path"),
        validate=dict(type="bool", default=True),
        ssh_destination=dict(type="str"),
        local_port=dict(type="int"),
    )
    spec.update(DLV_ARG_SPEC)
    module = AnsibleModule(
        argument_spec=spec,
        mutually_exclusive=[("process", "argv")],
        required_one_of=[("process", "argv")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
