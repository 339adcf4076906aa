#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: dlv_breakpoint_check
short_description: Prove a component under dlv really stops at a breakpoint, then let it run on
version_added: 0.1.0
description:
  - Connects to a headless Delve server (JSON-RPC, API version 2) in pure Python, sets a breakpoint at a
    function or C(file:line), optionally triggers it with an HTTP request or a command, waits for the hit,
    reports the goroutine, location and stack, clears the breakpoint and resumes the target.
  - The target is always left running, whether the breakpoint was hit or not; if it exited while under dlv
    (dlv stays alive with C(--accept-multiclient), so a supervisor never notices), that is reported as a failure.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
options:
  address:
    description: C(host:port) of the Delve server.
    type: str
    default: 127.0.0.1:2345
  function:
    description:
      - Fully qualified function, for example C(k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1).
    type: str
  file:
    description: Source file as recorded in the binary's DWARF (see the substitute-path mapping), with O(line).
    type: str
  line:
    description: Line in O(file).
    type: int
  trigger_url:
    description: URL requested once the breakpoint is armed (the request completes after the target resumes).
    type: str
  trigger_method:
    description: HTTP method of O(trigger_url).
    type: str
    default: GET
  trigger_headers:
    description: HTTP headers of O(trigger_url), for example an C(Authorization) bearer token.
    type: dict
    default: {}
  trigger_validate_certs:
    description: Validate the server certificate of O(trigger_url).
    type: bool
    default: true
  trigger_ca_path:
    description: CA bundle to validate O(trigger_url) with.
    type: path
  trigger_client_cert:
    description: Client certificate for O(trigger_url).
    type: path
  trigger_client_key:
    description: Client key for O(trigger_url).
    type: path
  trigger_command:
    description: A command (argv list, no shell) run once the breakpoint is armed, for example C(kubectl get namespace default).
    type: list
    elements: str
  timeout:
    description: Seconds to wait for the hit.
    type: float
    default: 60
  ready_timeout:
    description:
      - With a trigger, first run it without a breakpoint until it succeeds (exit code 0, or an HTTP status below 500),
        for at most this many seconds, so the component is serving before dlv stops it. Halting a Go program in the
        first seconds of its start-up can wedge dlv.
      - V(0) skips the wait.
    type: float
    default: 180
  hold:
    description: Seconds to stay stopped at the breakpoint before resuming (to prove probes do not kill a paused component).
    type: float
    default: 0
  stack_depth:
    description: Frames of the stack to report.
    type: int
    default: 10
attributes:
  check_mode:
    support: partial
    details:
      - Read-mostly; it sets and clears a breakpoint in the running target and changes no file.
      - In check mode it only connects and reports whether the target runs; no breakpoint is set.
  diff_mode:
    support: none
    details: Changes no file.
notes:
  - dlv closes connections from a different user (C(--only-same-user)); run this task as the user dlv runs as.
seealso:
  - module: kubedebug.lab.dlv_command
"""

EXAMPLES = r"""
- name: Break in the apiserver's GET handler while kubectl reads a namespace
  kubedebug.lab.dlv_breakpoint_check:
    address: 127.0.0.1:2345
    function: k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1
    trigger_command: [kubectl, --kubeconfig, /etc/kubernetes/admin.conf, get, namespace, default]
  become: true
  register: bp

- name: Show where it stopped
  ansible.builtin.debug:
    msg: "goroutine {{ bp.goroutine_id }} at {{ bp.location.function }} ({{ bp.location.file }}:{{ bp.location.line }})"
"""

RETURN = r"""
hit:
  description: The breakpoint was hit.
  returned: success
  type: bool
goroutine_id:
  description: Goroutine that hit the breakpoint.
  returned: success
  type: int
location:
  description: Function, file and line where the target stopped.
  returned: success
  type: dict
stack:
  description: Stack of the stopped goroutine (function, file, line per frame).
  returned: success
  type: list
  elements: dict
breakpoint:
  description: The breakpoint that was set and cleared.
  returned: success
  type: dict
waited_seconds:
  description: Time from arming the breakpoint to the hit.
  returned: success
  type: float
held_seconds:
  description: Time the target was kept stopped at the breakpoint.
  returned: success
  type: float
trigger:
  description: Result of the trigger (C(status) for HTTP, C(rc)/C(stdout)/C(stderr) for a command, or C(error)).
  returned: success
  type: dict
ready_seconds:
  description: Time the trigger took to first succeed without a breakpoint (see O(ready_timeout)).
  returned: success
  type: float
running_after:
  description: The target runs again after the check.
  returned: success
  type: bool
state:
  description: In check mode, the Delve state (C(running), C(exited)).
  returned: check mode
  type: dict
"""

import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process.dlv import parse_listen
from ansible_collections.kubedebug.lab.plugins.module_utils._process.dlv_rpc import DelveClient, breakpoint_check


def make_trigger(p):
    if p["trigger_url"]:

        def http():
            try:
                resp = open_url(
                    p["trigger_url"], method=p["trigger_method"], headers=p["trigger_headers"], validate_certs=p["trigger_validate_certs"],
                    ca_path=p["trigger_ca_path"], client_cert=p["trigger_client_cert"], client_key=p["trigger_client_key"],
                    timeout=p["timeout"] + 30,
                )
                return {"status": resp.getcode()}
            except Exception as e:  # an HTTP error status is still a request that reached the code
                return {"status": getattr(e, "code", None), "error": str(e)}

        return http
    if p["trigger_command"]:

        def command():
            r = subprocess.run(p["trigger_command"], capture_output=True, text=True, timeout=p["timeout"] + 30, check=False)
            return {"rc": r.returncode, "stdout": r.stdout[-2000:], "stderr": r.stderr[-2000:]}

        return command
    return None


def trigger_ok(result):
    if "rc" in result:
        return result["rc"] == 0
    return result.get("status") is not None and result["status"] < 500


def wait_ready(trigger, timeout):
    """Run the trigger until it succeeds; return (ok, last result, seconds)."""
    t0 = time.monotonic()
    last = {}
    while True:
        last = trigger()
        if trigger_ok(last):
            return True, last, time.monotonic() - t0
        if time.monotonic() - t0 >= timeout:
            return False, last, time.monotonic() - t0
        time.sleep(2)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", default="127.0.0.1:2345"),
            function=dict(type="str"),
            file=dict(type="str"),
            line=dict(type="int"),
            trigger_url=dict(type="str"),
            trigger_method=dict(type="str", default="GET"),
            trigger_headers=dict(type="dict", default={}),
            trigger_validate_certs=dict(type="bool", default=True),
            trigger_ca_path=dict(type="path"),
            trigger_client_cert=dict(type="path"),
            trigger_client_key=dict(type="path", no_log=False),
            trigger_command=dict(type="list", elements="str"),
            timeout=dict(type="float", default=60),
            ready_timeout=dict(type="float", default=180),
            hold=dict(type="float", default=0),
            stack_depth=dict(type="int", default=10),
        ),
        required_one_of=[("function", "file")],
        mutually_exclusive=[("function", "file"), ("trigger_url", "trigger_command")],
        required_together=[("file", "line")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        host, port, _exposure = parse_listen(p["address"])
        if module.check_mode:
            client = DelveClient(host, port)
            try:
                st = client.state()
            finally:
                client.close()
            result = dict(changed=False, state={"running": bool(st.get("Running")), "exited": bool(st.get("exited"))})
        else:
            trigger = make_trigger(p)
            ready_seconds = 0.0
            if trigger is not None and p["ready_timeout"] > 0:
                ok, last, ready_seconds = wait_ready(trigger, p["ready_timeout"])
                if not ok:
                    raise KubedebugError(
                        "the trigger did not succeed within %s s, before any breakpoint was set: %s" % (p["ready_timeout"], last),
                        hint="Is the component serving (check its log)? Fix the trigger (kubeconfig, URL, token), or set ready_timeout: 0",
                        trigger=last,
                    )
            result = breakpoint_check(
                host, port, function=p["function"], file=p["file"], line=p["line"], trigger=trigger,
                timeout=p["timeout"], hold=p["hold"], stack_depth=p["stack_depth"],
            )
            result["changed"] = False
            result["ready_seconds"] = round(ready_seconds, 3)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
