# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""A small client of Delve's JSON-RPC API (version 2) and a breakpoint check.

Delve's headless server speaks JSON-RPC 1.0 over a raw TCP stream: requests
``{"method": "RPCServer.X", "params": [ARGS], "id": N}``, responses
``{"id": N, "result": ..., "error": ...}``, back to back with no framing.
The server answers requests of one connection concurrently, so a blocking
``continue`` and a ``halt`` can both be in flight; responses are matched by id.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

_EXITED = re.compile(r"Process \d+ has exited with status (-?\d+)")


class DelveError(KubedebugError):
    """Delve answered with an error."""


class DelveClient:
    def __init__(self, host, port, timeout=10.0):
        self.addr = "%s:%s" % (host, port)
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise KubedebugError(
                "cannot connect to dlv at %s: %s" % (self.addr, e.strerror or e),
                hint="Is the component running under dlv (dlv exec --headless --listen=%s)? "
                "From a workstation, open the ssh -L tunnel first" % self.addr,
            ) from e
        self.sock.settimeout(None)
        self._buf = b""
        self._decoder = json.JSONDecoder()
        self._next_id = 0
        self._responses = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- transport

    def send(self, method, args):
        """Send a request; return its id without waiting for the answer."""
        with self._lock:
            rid = self._next_id
            self._next_id += 1
        msg = json.dumps({"method": "RPCServer." + method, "params": [args], "id": rid}).encode()
        self.sock.sendall(msg)
        return rid

    def _read_one(self, deadline):
        while True:
            text = self._buf.lstrip()
            if text:
                try:
                    obj, end = self._decoder.raw_decode(text.decode("utf-8"))
                except ValueError:
                    obj = None
                if obj is not None:
                    consumed = len(text.decode("utf-8")[:end].encode("utf-8"))
                    self._buf = text[consumed:]
                    return obj
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError()
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError() from e
            finally:
                self.sock.settimeout(None)
            if not chunk:
                raise KubedebugError(
                    "dlv at %s closed the connection" % self.addr,
                    hint="dlv may have exited, or refused the connection (--only-same-user: connect as the user dlv runs as)",
                )
            self._buf += chunk

    def wait(self, rid, timeout=None):
        """Wait for the answer to request rid; raise TimeoutError after timeout seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while rid not in self._responses:
            obj = self._read_one(deadline)
            self._responses[obj.get("id")] = obj
        obj = self._responses.pop(rid)
        if obj.get("error"):
            m = _EXITED.search(str(obj["error"]))
            if m:
                raise exited_error({"exitStatus": int(m.group(1))}, "under dlv")
            raise DelveError("dlv: %s" % obj["error"])
        return obj.get("result") or {}

    def call(self, method, args, timeout=30.0):
        try:
            return self.wait(self.send(method, args), timeout)
        except TimeoutError as e:
            raise KubedebugError("dlv did not answer %s within %s s" % (method, timeout)) from e

    def close(self):
        if not self._closed:
            self._closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -- API v2 calls

    def state(self):
        return self.call("State", {"NonBlocking": True})["State"]

    def halt(self):
        return self.call("Command", {"name": "halt"})["State"]

    def find_location(self, spec, timeout=120.0):
        """Resolve a location spec the way dlv's own ``break`` command does.

        Function names match by suffix, so ``k8s.io/apiserver/...handlers.getResourceHandler.func1``
        finds the vendored ``k8s.io/kubernetes/vendor/k8s.io/apiserver/...`` of a GOPATH build,
        and ``file:line`` accepts the tail of the recorded path.
        """
        args = {"Scope": {"GoroutineID": -1, "Frame": 0}, "Loc": spec, "IncludeNonExecutableLines": False}
        return self.call("FindLocation", args, timeout=timeout).get("Locations") or []

    def create_breakpoint(self, function=None, file=None, line=None, timeout=120.0):
        # On a large binary (a debug kube-apiserver is ~200 MB) dlv reads DWARF on
        # first use, which can take a while on a busy host: hence the long timeout.
        spec = function if function else "%s:%d" % (file, int(line))
        locs = self.find_location(spec, timeout)
        if not locs:
            raise DelveError("no location matches %s" % spec)
        if len(locs) > 1:
            names = sorted({(lc.get("function") or {}).get("name") or "%s:%s" % (lc.get("file"), lc.get("line")) for lc in locs})
            raise DelveError("%s is ambiguous: it matches %s" % (spec, ", ".join(names[:8])))
        loc = locs[0]
        bp = {"addr": loc["pc"], "addrs": loc.get("pcs") or [loc["pc"]]}
        return self.call("CreateBreakpoint", {"Breakpoint": bp}, timeout=timeout)["Breakpoint"]

    def clear_breakpoint(self, bp_id):
        return self.call("ClearBreakpoint", {"Id": bp_id})

    def stacktrace(self, goroutine_id, depth=10):
        return self.call("Stacktrace", {"Id": goroutine_id, "Depth": depth, "Full": False})["Locations"]

    def continue_async(self):
        return self.send("Command", {"name": "continue"})

    def disconnect_running(self):
        """Resume the target and disconnect, leaving it running (``exit -c``)."""
        try:
            self.continue_async()
        except OSError:
            pass
        self.close()


def _loc(obj):
    fn = (obj.get("function") or {}).get("name")
    return {"function": fn, "file": obj.get("file"), "line": obj.get("line")}


def exited_error(state, where):
    return KubedebugError(
        "the debugged process exited (status %s) %s; dlv is still alive because of --accept-multiclient, so its "
        "supervisor did not notice" % (state.get("exitStatus"), where),
        hint="Read the component's log for the crash, then restore it (kubedebug.lab restore playbook) or relaunch",
        exited=True,
        exit_status=state.get("exitStatus"),
    )


def breakpoint_hit(state, bp_id):
    """(thread, goroutine_id) of a thread stopped at breakpoint bp_id, or (None, None)."""
    threads = list(state.get("Threads") or [])
    cur = state.get("currentThread")
    if cur:
        threads.insert(0, cur)
    for t in threads:
        bp = t.get("breakPoint") or {}
        if bp.get("id") == bp_id:
            return t, t.get("goroutineID")
    return None, None


def breakpoint_check(host, port, function=None, file=None, line=None, trigger=None, timeout=60.0, hold=0.0, stack_depth=10,
                     connect_timeout=10.0):
    """Set a breakpoint, optionally trigger it, wait for the hit, report, clear it, resume.

    ``trigger`` is a callable run in a thread once the breakpoint is armed; its
    return value is reported (it runs until the target resumes). The target is
    always left running when this returns, hit or not, unless it exited.
    """
    if bool(function) == bool(file):
        raise KubedebugError("give either a function or a file and line for the breakpoint")
    client = DelveClient(host, port, connect_timeout)
    trigger_result = {}
    trigger_thread = None
    bp = None
    try:
        bp = _arm(client, function, file, line, timeout)
        rid = client.continue_async()
        if trigger is not None:

            def run_trigger():
                try:
                    trigger_result.update(trigger() or {})
                except Exception as e:  # reported, not raised: the check's verdict is the breakpoint
                    trigger_result.update(error=str(e))

            trigger_thread = threading.Thread(target=run_trigger, daemon=True)
            trigger_thread.start()
        t0 = time.monotonic()
        thread, gid = _wait_for_hit(client, rid, bp["id"], function or "%s:%s" % (file, line), timeout, trigger_result)
        waited = time.monotonic() - t0
        stack = [_loc(f) for f in client.stacktrace(gid, stack_depth)] if gid else []
        if hold:
            time.sleep(hold)
        client.clear_breakpoint(bp["id"])
        bp_id = bp["id"]
        bp = None
        result = {
            "hit": True,
            "breakpoint": {"id": bp_id, "function": function, "file": file, "line": line},
            "goroutine_id": gid,
            "location": _loc(thread),
            "stack": stack,
            "waited_seconds": round(waited, 3),
            "held_seconds": hold,
        }
    finally:
        if bp is not None and not client._closed:
            try:
                client.clear_breakpoint(bp["id"])
            except (KubedebugError, OSError):
                pass
        client.disconnect_running()
    if trigger_thread is not None:
        trigger_thread.join(timeout)
    result["trigger"] = trigger_result
    result["running_after"] = _running_after(host, port, connect_timeout)
    return result


def _arm(client, function, file, line, timeout):
    """Stop the target (when it runs) and set the breakpoint; returns it."""
    st = client.state()
    if st.get("exited"):
        raise exited_error(st, "before the check")
    if st.get("Running", False):
        st = client.halt()
        if st.get("exited"):
            raise exited_error(st, "before the check")
    try:
        return client.create_breakpoint(function, file, line, timeout=max(120.0, timeout))
    except DelveError as e:
        raise KubedebugError(
            "cannot set a breakpoint at %s: %s" % (function or "%s:%s" % (file, line), e.msg),
            hint="For file:line use the path recorded in the binary (see the substitute-path mapping); "
            "for a function use its full name, e.g. k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1",
        ) from e


def _wait_for_hit(client, rid, bp_id, where, timeout, trigger_result):
    """Wait for the continue ``rid`` to stop at breakpoint ``bp_id``; returns (thread, goroutine_id).

    Not hit within ``timeout``: the target is halted (so the breakpoint can be
    cleared) and KubedebugError raised with ``hit=False``.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            st = client.wait(rid, max(0.0, deadline - time.monotonic()))["State"]
        except TimeoutError:
            halt_id = client.send("Command", {"name": "halt"})
            client.wait(rid, 30)
            client.wait(halt_id, 30)
            raise KubedebugError(
                "the breakpoint at %s was not hit within %s s" % (where, timeout),
                hint="Make sure the trigger reaches that code path; breakpoints in optimised code may not bind "
                "(check the binary with kubedebug.lab.go_debug_info)",
                hit=False,
                trigger=trigger_result,
            ) from None
        if st.get("exited"):
            raise exited_error(st, "while waiting for the breakpoint")
        thread, gid = breakpoint_hit(st, bp_id)
        if thread is not None:
            return thread, gid
        # Stopped for another reason (a halt still pending from before, another
        # client's breakpoint): resume and keep waiting.
        rid = client.continue_async()


def _running_after(host, port, connect_timeout):
    """The target runs again (asked over a fresh connection); an exit raises."""
    after = DelveClient(host, port, connect_timeout)
    try:
        for _attempt in range(50):
            st = after.state()
            if st.get("Running") or st.get("exited"):
                break
            time.sleep(0.1)
        if st.get("exited"):
            raise exited_error(st, "right after the check")
        return bool(st.get("Running"))
    finally:
        after.close()
