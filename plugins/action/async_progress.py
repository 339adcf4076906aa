# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for an async job and print progress (elapsed time, the log to tail) while it runs."""

from __future__ import annotations

import json
import shlex
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()


def _fmt(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return "%ds" % seconds
    return "%dm%02ds" % (seconds // 60, seconds % 60)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("jid", "what", "log", "interval", "timeout", "started", "check_every"))

    def _running(self, jid, async_dir):
        """True while the job's status file says started and not finished (one cheap `cat`, no module run)."""
        path = self._connection._shell.join_path(async_dir, jid)
        res = self._low_level_execute_command("cat %s" % shlex.quote(path), sudoable=True)
        if res.get("rc") != 0:
            return None  # not there (yet): let async_status decide
        try:
            data = json.loads(res.get("stdout") or "")
        except ValueError:
            return True  # being rewritten
        return bool(data.get("started")) and data.get("finished") in (False, 0)

    def _status(self, jid, async_dir, task_vars, mode="status"):
        return self._execute_module(
            module_name="ansible.legacy.async_status",
            module_args={"jid": jid, "mode": mode, "_async_dir": async_dir},
            task_vars=task_vars,
        )

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _ok, args = self.validate_argument_spec(
            argument_spec={
                "jid": {"type": "str", "required": True},
                "what": {"type": "str", "default": "job"},
                "log": {"type": "str"},
                "interval": {"type": "int", "default": 30},
                "timeout": {"type": "int", "default": 7200},
                "started": {"type": "float"},
                "check_every": {"type": "int", "default": 2},
            },
        )
        if args["interval"] < 1 or args["timeout"] < 1:
            raise AnsibleActionFail("interval and timeout must be at least 1 second")
        async_dir = self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async"))
        t0 = time.monotonic()
        offset = (time.time() - args["started"]) if args["started"] else 0.0
        host = task_vars.get("inventory_hostname", "") if task_vars else ""
        tail = " (follow it: tail -f %s)" % args["log"] if args["log"] else ""
        status = {}
        last_line = None
        missing = 0
        while True:
            running = self._running(args["jid"], async_dir)
            elapsed = time.monotonic() - t0 + offset
            if running is None:
                missing += 1
            if running is False or (running is None and missing > 3):
                status = self._status(args["jid"], async_dir, task_vars)
                if status.get("finished") or status.get("failed"):
                    break
            if elapsed > args["timeout"]:
                result.update(failed=True, elapsed=int(elapsed), ansible_job_id=args["jid"],
                              msg="%s: still running after %s (timeout %ds); it keeps running in the background%s" % (
                                  args["what"], _fmt(elapsed), args["timeout"], tail))
                return result
            if last_line is None or time.monotonic() - last_line >= args["interval"]:
                display.display("[%s] %s: running for %s%s" % (host, args["what"], _fmt(elapsed), tail))
                last_line = time.monotonic()
            time.sleep(max(1, min(args["check_every"], args["interval"])))
        elapsed = time.monotonic() - t0 + offset
        self._status(args["jid"], async_dir, task_vars, mode="cleanup")
        for key in ("rc", "stdout", "stderr", "stdout_lines", "stderr_lines", "cmd", "start", "end", "delta", "msg"):
            if key in status:
                result[key] = status[key]
        result["elapsed"] = int(elapsed)
        result["ansible_job_id"] = args["jid"]
        result["changed"] = bool(status.get("changed", False))
        if status.get("failed") or status.get("rc", 0) != 0:
            result["failed"] = True
            result["msg"] = "%s failed after %s (rc=%s)%s%s" % (
                args["what"], _fmt(elapsed), status.get("rc"), "; log: %s" % args["log"] if args["log"] else "",
                ": %s" % status["msg"] if status.get("msg") else "")
        else:
            display.display("[%s] %s: done in %s" % (host, args["what"], _fmt(elapsed)))
        return result
