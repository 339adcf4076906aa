"""Helpers for the Go module proxy tests: a local mirror, and role runs through ansible-playbook.

The mirror is what a company's GOPROXY mirror does: it answers the module
proxy protocol for the go command and forwards what it does not hold to the
upstream proxy, the checksum database's /sumdb/ paths included. Zips already
in the machine's shared module cache are served from there (a caching
mirror), so a test through the mirror does not download a toolchain again. It
can serve a tampered zip (a valid zip with one file added) to prove that the
go command, not the mirror, decides what is genuine.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UPSTREAM = "https://proxy.golang.org"
# The module cache the roles use by default; tests share it so nothing is downloaded twice.
SHARED_MODCACHE = "/var/cache/kubedebug/gomod"
DEBIAN_GO = "/usr/lib/go-1.19/bin/go"


class Mirror:
    """A GOPROXY on 127.0.0.1 that forwards to ``upstream``; ``tamper``: zip paths it answers with a modified copy."""

    def __init__(self, upstream=UPSTREAM, local_caches=(SHARED_MODCACHE,), tamper=()):
        self.upstream = upstream.rstrip("/")
        self.local_caches = [c for c in local_caches if c]
        self.tamper = set(tamper)
        self.requests = []
        self._tampered = {}
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                path = self.path.split("?", 1)[0]
                mirror.requests.append(path)
                status, body, ctype = mirror.answer(path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _local(self, path):
        if "/@v/" not in path or not path.endswith((".zip", ".mod", ".info")) or path.startswith("/sumdb/"):
            return None
        for cache in self.local_caches:
            f = os.path.join(cache, "cache", "download", path.lstrip("/"))
            if os.path.isfile(f):
                with open(f, "rb") as fh:
                    return fh.read()
        return None

    def _upstream(self, path):
        try:
            with urllib.request.urlopen(self.upstream + path, timeout=300) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "text/plain")

    def answer(self, path):
        if path in self.tamper:
            if path not in self._tampered:
                self._tampered[path] = self._make_tampered(path)
            return 200, self._tampered[path], "application/zip"
        body = self._local(path)
        if body is not None:
            return 200, body, "application/octet-stream"
        return self._upstream(path)

    def _make_tampered(self, path):
        body = self._local(path)
        if body is None:
            status, body, dummy = self._upstream(path)
            assert status == 200, "upstream has no %s (%d)" % (path, status)
        # /golang.org/toolchain/@v/v0.0.1-go1.26.10.linux-amd64.zip -> golang.org/toolchain@v0.0.1-go1.26.10.linux-amd64/
        module, version = path.lstrip("/").rsplit("/@v/", 1)
        prefix = "%s@%s/" % (module, version[: -len(".zip")])
        with tempfile.NamedTemporaryFile(suffix=".zip") as f:
            f.write(body)
            f.flush()
            with zipfile.ZipFile(f.name, "a") as zf:
                zf.writestr(prefix + "bin/kubedebug-tampered", "#!/bin/sh\necho this file is not in the release\n")
            with open(f.name, "rb") as fh:
                return fh.read()

    def asked(self, fragment):
        return [p for p in self.requests if fragment in p]


def run_roles(tmp_path, roles, extra_vars=None, check=False, diff=False, env=None, facts=(), name="play"):
    """Run ``roles`` ([(role, vars)]) on localhost; return (rc, output, facts dict).

    ``facts`` are written to a JSON file after the roles (also in check mode).
    """
    out = tmp_path / ("%s-facts.json" % name)
    if out.exists():
        out.unlink()
    tasks = [{"name": "Role %s" % role, "ansible.builtin.include_role": {"name": role}, "vars": rvars} for role, rvars in roles]
    tasks.append({
        "name": "Dump facts",
        "ansible.builtin.copy": {"content": "{{ kdbg_facts | to_json }}", "dest": str(out), "mode": "0600"},
        "check_mode": False,
        "changed_when": False,  # the test's own record, not part of what the roles change
        "vars": {"kdbg_facts": "{{ dict(kdbg_names | zip(kdbg_names | map('extract', vars))) }}", "kdbg_names": list(facts)},
    })
    play = [{"name": "goproxy roles", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    pb = tmp_path / ("%s.yml" % name)
    pb.write_text(yaml.safe_dump(play, sort_keys=False))
    evf = tmp_path / ("%s-vars.json" % name)
    evf.write_text(json.dumps(extra_vars or {}))
    penv = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    penv.update(env or {})
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + str(evf),
            "-e", "ansible_python_interpreter=" + shutil.which("python3"), str(pb)]
    if check:
        args.append("--check")
    if diff:
        args.append("--diff")
    p = subprocess.run(args, capture_output=True, text=True, env=penv, cwd=ROOT, check=False)
    output = p.stdout + p.stderr
    result = json.loads(out.read_text()) if out.exists() else None
    return p.returncode, output, result


def snapshot(root):
    """What a test compares before and after a run: every entry under root (links with their targets)."""
    found = {}
    if not os.path.lexists(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        # an installed Go tree has thousands of files: its top level and stamp are what a failed run could touch
        if rel.count(os.sep) >= 1 and rel != ".":
            dirnames[:] = []
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            found[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else os.path.getsize(p) if os.path.isfile(p) else "dir"
    return found
