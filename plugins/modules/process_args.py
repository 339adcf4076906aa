#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: process_args
short_description: Read a running process's exact argv and facts from /proc
version_added: 0.1.0
description:
  - Finds a running process (by executable name, command-line regex, pid, pidfile or systemd unit)
    and returns its exact argument vector from C(/proc/PID/cmdline) (NUL-separated, so arguments
    with spaces, quotes, C($) or empty arguments survive), its resolved executable, working directory,
    parent, user, cgroups and whether it runs in a container.
  - Use the result with M(kubedebug.lab.dlv_command) to relaunch the same process under Delve with
    byte-identical arguments. C(ps) output cannot do this, because it loses argument boundaries.
  - The module's own process and its ancestors never match.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
options:
  name:
    description:
      - Basename of the executable, for example C(kube-apiserver). Matches the basename of
        C(/proc/PID/exe) or of C(argv[0]).
    type: str
  pattern:
    description:
      - Python regular expression searched in the command line (arguments joined by single spaces).
    type: str
  pid:
    description: Process id.
    type: int
  pidfile:
    description: Path of a file holding the pid.
    type: path
  systemd_unit:
    description: A systemd unit whose C(MainPID) is the process.
    type: str
  pick:
    description:
      - What to do when several processes match.
      - V(only) fails and lists the matches; V(newest)/V(oldest) pick by start time.
    type: str
    choices: [only, newest, oldest]
    default: only
  pid_namespace:
    description:
      - V(any) matches processes wherever they run, including in containers whose processes this host
        sees (a kubeadm or kind node, a pod).
      - V(same) only counts processes in the module's own PID namespace. Matched by O(name) or O(pattern),
        the others are skipped (the error lists them when nothing else matches). Named by O(pid),
        O(pidfile) or O(systemd_unit), a process of another namespace is refused.
    type: str
    choices: [any, same]
    default: any
  require_debuggable:
    description:
      - Also check that the process's executable is a Go ELF binary with DWARF debug info
        (what dlv needs) and fail with the reason if not.
      - Leave V(false) when you will relaunch with a separately built debug binary.
    type: bool
    default: false
  proc_path:
    description: Where procfs is mounted.
    type: path
    default: /proc
notes:
  - Reading another user's C(/proc/PID/exe) and C(cwd) needs root; use O(ignore:become=true).
seealso:
  - module: kubedebug.lab.dlv_command
"""

EXAMPLES = r"""
- name: Read the running kube-apiserver
  kubedebug.lab.process_args:
    name: kube-apiserver
  become: true
  register: apiserver

- name: Show its exact arguments
  ansible.builtin.debug:
    var: apiserver.process.argv

- name: The kubelet of a systemd host
  kubedebug.lab.process_args:
    systemd_unit: kubelet.service
  become: true
  register: kubelet

- name: Several schedulers run; take the newest one matching a flag
  kubedebug.lab.process_args:
    pattern: 'kube-scheduler .*--secure-port=10259'
    pick: newest
  become: true
"""

RETURN = r"""
process:
  description: The matched process.
  returned: success
  type: dict
  contains:
    pid:
      description: Process id.
      type: int
      sample: 4242
    ppid:
      description: Parent process id.
      type: int
      sample: 1
    comm:
      description: Kernel command name (15 bytes at most).
      type: str
      sample: kube-apiserver
    uid:
      description: Real user id.
      type: int
      sample: 0
    argv:
      description: Exact argument vector including argv[0].
      type: list
      elements: str
      sample:
        - /usr/local/bin/kube-apiserver
        - --cors-allowed-origins=/127.0.0.1(:[0-9]+)?$
    exe:
      description: Resolved executable path.
      type: str
      sample: /usr/local/bin/kube-apiserver
    exe_deleted:
      description: The executable file was replaced or removed after the process started.
      type: bool
    cwd:
      description: Working directory.
      type: str
      sample: /
    start_ticks:
      description: Start time in clock ticks after boot.
      type: int
    traced_by:
      description: Pid of a tracer (a debugger) or 0.
      type: int
    cgroup:
      description: Parsed /proc/PID/cgroup lines.
      type: list
      elements: dict
    in_container:
      description: The cgroups name a container runtime or kubepods.
      type: bool
    container_runtime:
      description: V(cri-containerd), V(containerd), V(crio), V(docker), V(libpod) or V(kubepods).
      type: str
    container_id:
      description: Container id from the cgroup path, when present.
      type: str
    pid_ns:
      description: The PID namespace (C(readlink /proc/PID/ns/pid)), when readable.
      type: str
      sample: pid:[4026531836]
argv:
  description: Same as RV(process.argv).
  returned: success
  type: list
  elements: str
binary:
  description: The executable to relaunch (RV(process.exe), or argv[0] when exe cannot be read).
  returned: success
  type: str
args:
  description: The arguments without argv[0].
  returned: success
  type: list
  elements: str
flags:
  description: Ordered, lossless flag view of RV(args) (kind, name, value, sep).
  returned: success
  type: list
  elements: dict
shell:
  description: The argv as one POSIX shell line (shlex round-trips it).
  returned: success
  type: str
matches:
  description: Every process that matched the selector (pid, exe, first arguments).
  returned: always
  type: list
  elements: dict
parent_exe:
  description: Executable of the parent process (for example C(dlv) when it already runs under Delve).
  returned: success
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build.elf import debuggability
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs
from ansible_collections.kubedebug.lab.plugins.module_utils._process.argv import split_flags, to_shell


def main_pid_of(module):
    def lookup(unit):
        return _procfs.main_pid_lookup(module.run_command, module.get_bin_path("systemctl", required=True))(unit)

    return lookup


def run(module):
    p = module.params
    proc = p["proc_path"]
    chosen, matches = _procfs.select(p, p["pick"], proc, main_pid_of(module), same_pid_namespace=p["pid_namespace"] == "same")
    if p["require_debuggable"]:
        if not chosen["exe"]:
            raise KubedebugError("cannot resolve the executable of process %d" % chosen["pid"], hint="Run with become: true")
        verdict = debuggability(chosen["exe"])
        if verdict["reasons"]:
            raise KubedebugError("; ".join(verdict["reasons"]), hint="Relaunch with a debug build (the dlv_command binary option)")
    parent_exe = None
    if chosen["ppid"]:
        try:
            parent_exe = os.readlink(os.path.join(proc, str(chosen["ppid"]), "exe"))
        except OSError:
            parent_exe = None
    args = chosen["argv"][1:]
    return dict(
        changed=False,
        process=chosen,
        argv=chosen["argv"],
        binary=chosen["exe"] or chosen["argv"][0],
        args=args,
        flags=split_flags(args),
        shell=to_shell(chosen["argv"]),
        matches=matches,
        parent_exe=parent_exe,
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str"),
            pattern=dict(type="str"),
            pid=dict(type="int"),
            pidfile=dict(type="path"),
            systemd_unit=dict(type="str"),
            pick=dict(type="str", default="only", choices=["only", "newest", "oldest"]),
            pid_namespace=dict(type="str", default="any", choices=["any", "same"]),
            require_debuggable=dict(type="bool", default=False),
            proc_path=dict(type="path", default="/proc"),
        ),
        mutually_exclusive=[("name", "pattern", "pid", "pidfile", "systemd_unit")],
        required_one_of=[("name", "pattern", "pid", "pidfile", "systemd_unit")],
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
