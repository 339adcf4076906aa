# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Options of the modules that relaunch a process under dlv in process mode
    # (argspec: PROCESS_ARG_SPEC in module_utils/_relaunch.py).
    DOCUMENTATION = r"""
options:
  pick:
    description: Which process when several match.
    type: str
    choices: [only, newest, oldest]
    default: only
  pid_namespace:
    description:
      - V(same) only relaunches a process of the module's own PID namespace; processes the host sees in
        containers (a kubeadm or kind node, a pod) are skipped when matched by name or pattern and refused
        when named by pid or pidfile. dlv started from here could not put them back into their container.
      - V(any) matches them too.
    type: str
    choices: [any, same]
    default: same
  continue_when:
    description:
      - When the target under dlv may start running, in the overlapped relaunch (dlv reads the binary while the
        original shuts down).
      - V(exited) - once the original has exited. Nothing of the original overlaps with the target.
      - V(released) - once the original has closed every TCP socket it listened on (it can no longer serve;
        the target can bind the same ports), while it finishes its graceful shutdown. Saves the rest of the
        original's shutdown (an apiserver drains for about a second). Only for components made to run as several
        replicas at once (kube-apiserver; leader-elected kube-scheduler and kube-controller-manager), never for a
        kubelet or etcd. The module still waits for the original to exit (SIGKILL after O(stop_timeout)) before it
        returns. An original that listens on nothing is waited for until it exits.
    type: str
    choices: [exited, released]
    default: exited
  ssh_destination:
    description: C(user@host) for the C(ssh -L) tunnel command the module returns.
    type: str
  binary:
    description:
      - The debug-built binary dlv runs. Defaults to the running executable.
      - Before anything is stopped, the Go that built it (its C(.go.buildinfo)) is checked against the Delve release
        of O(dlv_path) and the Go that built dlv (a dlv built with Go before 1.25 cannot read the DWARF 5 of Go 1.25
        and later); a dlv that cannot debug it fails the task. Versions that cannot be read, and Delve releases newer
        than the collection's table, are left to dlv.
    type: path
  version_check:
    description:
      - Compare the Kubernetes version of the debug binary and of the running executable (read from their symbol
        tables, or C(BINARY --version) for stripped binaries).
    type: bool
    default: true
  force_version_mismatch:
    description: Go on when the versions differ.
    type: bool
    default: false
  supervisor:
    description:
      - How dlv is kept running. V(auto) picks V(systemd) when systemd is PID 1, else V(detached).
    type: str
    choices: [auto, systemd, detached]
    default: auto
  state_dir:
    description: Where state records, pidfiles and the journal are kept.
    type: path
    default: /var/lib/kubedebug
  log_dir:
    description: Where dlv's and restarted components' logs go.
    type: path
    default: /var/log/kubedebug
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL.
    type: float
    default: 30
  start_timeout:
    description: Seconds to wait for dlv to listen with the target running.
    type: float
    default: 120
"""
