#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: background_process
short_description: Keep a process running detached, with a pidfile and a log, on hosts without systemd
version_added: 0.1.0
description:
  - Starts O(argv) in its own session with output appended to O(log), and records its pid in O(pidfile).
  - Idempotent. A process is "the same" when the pidfile's pid is alive with exactly O(argv) as its
    C(/proc/PID/cmdline); then nothing changes. A pidfile whose process is gone, or whose process runs other
    arguments, is replaced (the other process is stopped first, unless O(replace=false)).
  - Meant for labs on hosts where systemd is not PID 1 (containers, CI machines); on systemd hosts prefer units.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
options:
  argv:
    description: The command, executable first (an absolute path).
    type: list
    elements: str
  pidfile:
    description: Where the pid is recorded.
    type: path
    required: true
  log:
    description: Log file (stdout and stderr appended). Required with O(state=started).
    type: path
  env:
    description: Extra environment variables.
    type: dict
    default: {}
  chdir:
    description: Working directory.
    type: path
    default: /
  state:
    description: V(started) or V(stopped).
    type: str
    choices: [started, stopped]
    default: started
  replace:
    description: Stop a process recorded in O(pidfile) that runs other arguments, then start O(argv).
    type: bool
    default: true
  wait_port:
    description: After starting, wait until this TCP port listens (on any address).
    type: int
  timeout:
    description: Seconds to wait for O(wait_port), and for a process to stop.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    details: Reports whether it would start or stop.
  diff_mode:
    support: none
    details: Manages a process, not a file (the pidfile is bookkeeping).
"""

EXAMPLES = r"""
- name: Etcd for the local lab
  kubedebug.lab.background_process:
    argv: [/usr/bin/etcd, --data-dir=/var/lib/kubedebug/etcd, --listen-client-urls=http://127.0.0.1:2379,
           --advertise-client-urls=http://127.0.0.1:2379]
    pidfile: /run/kubedebug/etcd.pid
    log: /var/log/kubedebug/etcd.log
    wait_port: 2379
"""

RETURN = r"""
pid:
  description: Pid of the running process (absent when stopped).
  returned: success
  type: int
action:
  description: V(none), V(adopted) (a process with exactly O(argv) already ran), V(started), V(restarted) or V(stopped).
  returned: success
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._process.relaunch import cmdline_of, encode_argv, tail


def recorded_pid(pidfile):
    try:
        with open(pidfile) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and _supervise.alive(int(text)) else None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            argv=dict(type="list", elements="str"),
            pidfile=dict(type="path", required=True),
            log=dict(type="path"),
            env=dict(type="dict", default={}),
            chdir=dict(type="path", default="/"),
            state=dict(type="str", default="started", choices=["started", "stopped"]),
            replace=dict(type="bool", default=True),
            wait_port=dict(type="int"),
            timeout=dict(type="float", default=60),
        ),
        required_if=[("state", "started", ("argv", "log"))],
        supports_check_mode=True,
    )
    p = module.params
    try:
        pid = recorded_pid(p["pidfile"])
        if p["state"] == "stopped":
            if pid is None:
                module.exit_json(changed=False, action="none")
            if not module.check_mode:
                _supervise.stop(pid, p["timeout"])
                os.unlink(p["pidfile"])
            module.exit_json(changed=True, action="stopped")
        argv = p["argv"]
        if not os.path.isabs(argv[0]) or not os.access(argv[0], os.X_OK):
            raise KubedebugError("%s is not an executable absolute path" % argv[0], hint="Give the full path of an installed binary")
        if pid is not None and cmdline_of(pid) == encode_argv(argv):
            module.exit_json(changed=False, action="none", pid=pid)
        if pid is None:
            # Started by something else with exactly these arguments (a restore): adopt it.
            same = _relaunch.find_exact(argv)
            if same:
                if not module.check_mode:
                    _files.atomic_write(p["pidfile"], ("%d\n" % same).encode(), 0o644)
                module.exit_json(changed=False, action="adopted", pid=same)
        if pid is not None and not p["replace"]:
            raise KubedebugError(
                "pidfile %s names pid %d, which runs other arguments" % (p["pidfile"], pid),
                hint="Stop it, or set replace: true",
            )
        action = "restarted" if pid is not None else "started"
        if module.check_mode:
            module.exit_json(changed=True, action=action)
        if pid is not None:
            _supervise.stop(pid, p["timeout"])
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ") if k in os.environ}
        env = ["%s=%s" % kv for kv in dict(base, **{k: str(v) for k, v in p["env"].items()}).items()]
        new = _supervise.start_detached(argv, env=env, cwd=p["chdir"], log_path=p["log"], pidfile=p["pidfile"])
        if p["wait_port"] and not _supervise.wait_listening(p["wait_port"], p["timeout"], new):
            if _supervise.alive(new):
                what = "did not listen on port %d within %s s" % (p["wait_port"], p["timeout"])
            else:
                what = "exited before it listened on port %d" % p["wait_port"]
            raise KubedebugError("%s %s" % (argv[0], what), hint="Read its log %s" % p["log"], log=tail(p["log"]))
        if not _supervise.alive(new):
            raise KubedebugError("%s exited right after it started" % argv[0], hint="Read its log %s" % p["log"], log=tail(p["log"]))
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(changed=True, action=action, pid=new)


if __name__ == "__main__":
    main()
