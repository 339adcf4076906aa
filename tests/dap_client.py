"""A Debug Adapter Protocol client speaking to a headless dlv the way VS Code's
Go extension does (`debugAdapter: dlv-dap`, `request: attach`, `mode: remote`),
so the launch.json the collection writes is tested as the IDE takes it.

Standard library only: the tests import it, and the Molecule scenarios copy it
into their instances and run it there (`python3 dap_client.py ...`, one JSON
report on stdout), where the dlv port is loopback-only.

What one check does, in the order VS Code does it:
  initialize -> attach {mode: remote, substitutePath from the configuration,
  ${workspaceFolder} set to the checkout} -> `initialized` -> setBreakpoints by
  the checkout's paths -> configurationDone -> (a trigger command makes the
  target hit one) -> `stopped` -> stackTrace of the stopped goroutine (its
  source path, mapped back by dlv through substitutePath) -> the breakpoints
  cleared -> continue -> disconnect {terminateDebuggee: false}.
A headless multi-client dlv keeps the target in whatever state the client left
it in, so the check always clears its breakpoints and continues before it
disconnects: the target keeps serving and later clients find no stray
breakpoint.
"""

import argparse
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time


class DapError(Exception):
    pass


class DapClient:
    def __init__(self, host, port, timeout=60.0):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(None)
        self.timeout = timeout
        self.seq = 0
        self.events = queue.Queue()
        self.responses = {}
        self.cond = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()

    # --- wire -----------------------------------------------------------------
    def _read_exact(self, buf, n):
        while len(buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("dlv closed the connection")
            buf += chunk
        return buf

    def _read_loop(self):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise EOFError
                    buf += chunk
                head, buf = buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"Content-Length:\s*(\d+)", head, re.I)
                if not m:
                    raise DapError("a DAP message without Content-Length: %r" % head)
                n = int(m.group(1))
                buf = self._read_exact(buf, n)
                body, buf = buf[:n], buf[n:]
                msg = json.loads(body)
                if msg.get("type") == "response":
                    with self.cond:
                        self.responses[msg["request_seq"]] = msg
                        self.cond.notify_all()
                elif msg.get("type") == "event":
                    self.events.put(msg)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def send(self, command, arguments=None):
        self.seq += 1
        msg = {"seq": self.seq, "type": "request", "command": command}
        if arguments is not None:
            msg["arguments"] = arguments
        data = json.dumps(msg).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        return self.seq

    def request(self, command, arguments=None, timeout=None, ok=True):
        seq = self.send(command, arguments)
        deadline = time.monotonic() + (timeout or self.timeout)
        with self.cond:
            while seq not in self.responses:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise DapError("no response to %s from dlv%s" % (command, " (connection closed)" if self.closed else ""))
                self.cond.wait(left)
            resp = self.responses.pop(seq)
        if ok and not resp.get("success"):
            raise DapError("%s failed: %s" % (command, resp.get("message") or resp.get("body")))
        return resp

    def wait_event(self, name, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DapError("no %r event within %.0f s (saw %s)" % (name, timeout or self.timeout, seen or "none"))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev.get("event") == name:
                return ev
            seen.append(ev.get("event"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def expand(value, workspace):
    """What VS Code does to a launch.json string before the adapter sees it (the variable we use)."""
    return value.replace("${workspaceFolder}", workspace) if isinstance(value, str) else value


def line_after(path, pattern, offset=1):
    """The line ``offset`` lines after the first line of ``path`` matching ``pattern`` (a regular expression):
    where a breakpoint goes in a function that may move between releases."""
    with open(path, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            if re.search(pattern, text):
                return n + offset
    raise DapError("%s not found in %s" % (pattern, path))


def attach_arguments(configuration, workspace):
    """The attach request vscode-go sends for a `mode: remote` configuration with dlv-dap."""
    if configuration.get("request") != "attach" or configuration.get("mode") != "remote":
        raise DapError("not a remote attach configuration: request=%r mode=%r"
                       % (configuration.get("request"), configuration.get("mode")))
    if configuration.get("debugAdapter") != "dlv-dap":
        raise DapError("debugAdapter is %r; this client speaks dlv-dap" % configuration.get("debugAdapter"))
    args = {k: v for k, v in configuration.items() if k not in ("host", "port", "debugAdapter", "type", "name")}
    args["substitutePath"] = [{"from": expand(r["from"], workspace), "to": expand(r["to"], workspace)}
                              for r in configuration.get("substitutePath", [])]
    return args


def check(host, port, configuration, workspace, breakpoints, trigger=None, hit_timeout=120.0):
    """Attach, set `breakpoints` ({path: [line, ...]}, checkout paths), run `trigger` (argv) and report the stop
    (without a trigger: the first stop of code the target runs by itself).

    Returns {"breakpoints": {path: [{line, verified, message}]}, "stopped": {path, line, name} or None,
    "error": None or a message}. Leaves the target running with none of these breakpoints."""
    report = {"breakpoints": {}, "stopped": None, "error": None, "trigger": None}
    c = DapClient(host, port)
    set_paths = []
    proc = None
    tid = None
    try:
        c.request("initialize", {"clientID": "vscode", "clientName": "kubedebug.lab dap_client", "adapterID": "go",
                                 "pathFormat": "path", "linesStartAt1": True, "columnsStartAt1": True,
                                 "supportsVariableType": True, "supportsRunInTerminalRequest": False})
        c.request("attach", attach_arguments(configuration, workspace))
        c.wait_event("initialized")
        for path, lines in breakpoints.items():
            resp = c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines]})
            set_paths.append(path)
            report["breakpoints"][path] = [{"line": b.get("line"), "verified": bool(b.get("verified")),
                                            "message": b.get("message", "")} for b in resp["body"]["breakpoints"]]
        c.request("configurationDone")
        if any(b["verified"] for bs in report["breakpoints"].values() for b in bs):
            # no trigger: code the target runs by itself (the kubelet's sync loop)
            if trigger:
                proc = subprocess.Popen(trigger, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            ev = c.wait_event("stopped", timeout=hit_timeout)
            tid = ev["body"].get("threadId")
            frames = c.request("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 1})["body"]["stackFrames"]
            top = frames[0] if frames else {}
            report["stopped"] = {"reason": ev["body"].get("reason"), "path": (top.get("source") or {}).get("path"),
                                 "line": top.get("line"), "name": top.get("name")}
    except DapError as e:
        report["error"] = str(e)
    finally:
        try:
            for path in set_paths:
                c.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []}, ok=False)
            if report["stopped"] is not None:
                c.request("continue", {"threadId": tid}, ok=False)
            c.request("disconnect", {"terminateDebuggee": False}, ok=False, timeout=30)
        except DapError as e:
            report["error"] = report["error"] or "cleanup: %s" % e
        c.close()
        if proc is not None:
            try:
                out = proc.communicate(timeout=60)[0]
            except subprocess.TimeoutExpired:
                proc.kill()
                out = proc.communicate()[0]
            report["trigger"] = {"rc": proc.returncode, "output": out[-2000:]}
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--launch-json", required=True, help="the .vscode/launch.json the collection wrote")
    ap.add_argument("--name", required=True, help="the configuration's name")
    ap.add_argument("--workspace", required=True, help="the checkout VS Code has open (${workspaceFolder})")
    ap.add_argument("--break", dest="breaks", action="append", default=[], metavar="PATH:LINE",
                    help="a breakpoint by checkout path (relative to --workspace or absolute); repeatable")
    ap.add_argument("--trigger", help="a command (JSON argv list) that makes the target hit a breakpoint")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args(argv)
    with open(a.launch_json, encoding="utf-8") as f:
        confs = [c for c in json.load(f).get("configurations", []) if c.get("name") == a.name]
    if len(confs) != 1:
        sys.exit("%d configurations named %r in %s" % (len(confs), a.name, a.launch_json))
    bps = {}
    for spec in a.breaks:
        path, line = spec.rsplit(":", 1)
        bps.setdefault(os.path.join(a.workspace, path), []).append(int(line))
    trigger = json.loads(a.trigger) if a.trigger else None
    conf = confs[0]
    report = check(conf.get("host", "127.0.0.1"), conf["port"], conf, a.workspace, bps, trigger, a.timeout)
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0 if report["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
