#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: async_progress
short_description: Wait for an async task and show that it is alive (elapsed time, the log to tail)
version_added: 0.1.0
description:
  - "Waits for a job started with C(async: N) and C(poll: 0) until it finishes, printing a line such as
    C([host] make WHAT=cmd/kube-apiserver: running for 3m30s (follow it: tail -f /var/cache/kubedebug/build/logs/build.log))
    every O(interval) seconds, instead of a silent task or a wall of C(FAILED - RETRYING) lines."
  - Returns the job's result (C(rc), C(stdout), C(stderr)...) and fails when the job failed, timed out or vanished.
  - Cleans the job's status file up once the job has finished.
  - This is an action plugin. It runs on the controller and looks at the host's async status file, then collects the
    result through M(ansible.builtin.async_status).
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
options:
  jid:
    description: The C(ansible_job_id) of the async task.
    type: str
    required: true
  what:
    description: What the job does, for the progress lines and messages.
    type: str
    default: job
  log:
    description: Log file on the host that the job writes to; shown so the user can C(tail -f) it.
    type: str
  interval:
    description: Seconds between progress lines.
    type: int
    default: 30
  check_every:
    description:
      - Seconds between looks at the job's status file (a C(cat) over the connection, no module run), so the task
        ends within this many seconds of the job.
    type: int
    default: 2
  timeout:
    description: Give up waiting after this many seconds (the job itself keeps running).
    type: int
    default: 7200
  started:
    description: Epoch time the job started (C(ansible_date_time.epoch) or C(now().timestamp())), so elapsed time counts from there.
    type: float
attributes:
  check_mode:
    support: none
    details: There is no job to wait for in check mode; skip the task there.
  diff_mode:
    support: none
    details: Changes nothing itself.
  action:
    support: full
    description: Runs on the controller.
  async:
    support: none
    description: It waits for async jobs; it is not one.
seealso:
  - module: ansible.builtin.async_status
"""

EXAMPLES = r"""
- name: Build in the background
  ansible.builtin.command:
    cmd: make WHAT=cmd/kube-apiserver
    chdir: /src/kubernetes
  async: 7200
  poll: 0
  register: build_job

- name: Wait, showing progress
  kubedebug.lab.async_progress:
    jid: "{{ build_job.ansible_job_id }}"
    what: build kube-apiserver
    log: /var/cache/kubedebug/build/logs/build.log
    interval: 20
  register: build
"""

RETURN = r"""
rc:
  description: The job's exit code (for command/shell jobs).
  returned: when the job returned one
  type: int
stdout:
  description: The job's standard output.
  returned: when the job returned one
  type: str
stderr:
  description: The job's standard error.
  returned: when the job returned one
  type: str
elapsed:
  description: Seconds waited (from O(started) when given).
  returned: always
  type: int
"""
