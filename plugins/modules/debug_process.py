#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: debug_process
short_description: Relaunch a running component under dlv with its exact argv, and restore it
version_added: 0.1.0
description:
  - Process mode of the collection, for components started by hand or by C(hack/local-up-cluster.sh).
  - With O(state=debug) it reads the running process exactly (argv, executable, working directory, environment,
    user), refuses early when the dlv port is taken, the process is already traced or the debug binary's version
    differs, writes a state record, stops the process and starts
    C(dlv exec DEBUG_BINARY --headless ... -- SAME ARGS) as a systemd unit (when systemd is PID 1) or as a
    detached process with a pidfile and a log file. If dlv does not come up, the original is started again.
  - With O(continue=true) and O(accept_multiclient=true), and dlv running as the module's user, dlv is started
    B(before) the original is stopped and without C(--continue); it forks the target stopped at its first
    instruction and reads the binary's debug info while the original shuts down gracefully; once the original
    has exited (or, with O(continue_when=released), once it has closed its listening sockets) the module sends
    dlv C(continue) over its API and disconnects (what dlv's own C(--continue) does). The target can therefore
    bind the original's ports.
  - With O(state=restored) it stops dlv and its target and starts the original from the record with a
    byte-identical command line, executable, working directory, environment and user, then removes the record.
  - The record is written before anything is stopped, so an interrupted run can always be restored.
deprecated:
  removed_in: 2.0.0
  why: It is a second way to relaunch a process under dlv beside M(kubedebug.lab.debug_session), which does the same in
    process mode (the same code) and also chooses the mode, checks the version in every mode and keeps the journal.
  alternative: Use M(kubedebug.lab.debug_session) with O(kubedebug.lab.debug_session#module:mode=process).
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab.dlv
  - kubedebug.lab.process_mode
options:
  component:
    description: Name of the debug session (state file, unit and log names), usually the component name.
    type: str
    required: true
  state:
    description: V(debug) to run the component under dlv, V(restored) to bring back the original.
    type: str
    choices: [debug, restored]
    default: debug
  name:
    description: Executable basename of the running component (see M(kubedebug.lab.process_args)).
    type: str
  pattern:
    description: Regular expression over the command line of the running component.
    type: str
  pid:
    description: Pid of the running component.
    type: int
  pidfile:
    description: Pidfile of the running component.
    type: path
attributes:
  check_mode:
    support: full
    details: Reports what it would stop and start; changes nothing.
  diff_mode:
    support: full
    details: Shows the command line before and after.
notes:
  - Run with O(ignore:become=true); the environment of the original process is kept in the state record (mode 0600)
    and never returned.
seealso:
  - module: kubedebug.lab.process_args
  - module: kubedebug.lab.dlv_breakpoint_check
"""

EXAMPLES = r"""
- name: Run the local-up-cluster apiserver under dlv with the debug build
  kubedebug.lab.debug_process:
    component: kube-apiserver
    name: kube-apiserver
    binary: /var/lib/kubedebug/build/v1.20.2/kube-apiserver
  become: true

- name: Bring the original back
  kubedebug.lab.debug_process:
    component: kube-apiserver
    state: restored
  become: true
"""

RETURN = r"""
state_file:
  description: The state record.
  returned: always
  type: str
dlv_argv:
  description: The dlv invocation that runs (without C(--continue) when the module continued the target itself).
  returned: state=debug
  type: list
  elements: str
timings:
  description:
    - Seconds from just after the state record was written until dlv was started, the original had closed its
      listening sockets (V(original_released), with O(continue_when=released)), the target was running and the
      original had exited (V(dlv_started), V(original_released), V(target_running), V(original_stopped)).
  returned: state=debug and changed, not in check mode
  type: dict
original:
  description: The recorded original (argv, exe, cwd, uid, gid, pid), without its environment.
  returned: when there is a record
  type: dict
dlv_pid:
  description: Pid of dlv.
  returned: state=debug
  type: int
target_pid:
  description: Pid of the component under dlv.
  returned: state=debug
  type: int
target_cmdline_identical:
  description: The target's arguments after argv[0] equal the original's, byte for byte.
  returned: when dlv was started
  type: bool
debug:
  description: How dlv is supervised (kind, unit or pidfile, log).
  returned: state=debug
  type: dict
pid:
  description: Pid of the restored original.
  returned: state=restored and changed
  type: int
cmdline_identical:
  description: The restored process's /proc/PID/cmdline equals the recorded argv.
  returned: state=restored and changed
  type: bool
listen:
  description: The address dlv listens on.
  returned: state=debug
  type: str
  sample: 127.0.0.1:2345
host:
  description: Host part of RV(listen).
  returned: state=debug
  type: str
port:
  description: Port of RV(listen).
  returned: state=debug
  type: int
exposure:
  description: V(loopback) or V(network).
  returned: state=debug
  type: str
ssh_tunnel_command:
  description: The C(ssh -N -L) command to reach a loopback listener from a workstation (null when dlv listens on the network).
  returned: state=debug
  type: str
connect_command:
  description: The C(dlv connect) command to run on the workstation.
  returned: state=debug
  type: str
ide_remote:
  description: Host and port an IDE's remote-attach configuration uses (through the tunnel for loopback).
  returned: state=debug
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch


def main():
    spec = dict(
        component=dict(type="str", required=True),
        state=dict(type="str", default="debug", choices=["debug", "restored"]),
        name=dict(type="str"),
        pattern=dict(type="str"),
        pid=dict(type="int"),
        pidfile=dict(type="path"),
    )
    spec.update(_relaunch.PROCESS_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, mutually_exclusive=[("name", "pattern", "pid", "pidfile")], supports_check_mode=True)
    try:
        result = _relaunch.run_module(module, module.params)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
