"""Helpers for the k8s_source/k8s_build integration tests: run playbooks the way a user does."""

import json
import os
import re
import socket
import subprocess
import tempfile

from tests.toolchains import debian_go

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
CACHE = os.environ.get("KUBEDEBUG_CACHE", "/var/cache/kubedebug")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class PlaybookRun:
    def __init__(self, proc, result_file):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.recap = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
                      for m in RECAP.finditer(proc.stdout)}
        self.result = None
        if result_file and os.path.exists(result_file) and os.path.getsize(result_file):
            with open(result_file) as f:
                self.result = json.load(f)

    @property
    def changed(self):
        return sum(h["changed"] for h in self.recap.values())

    def __repr__(self):
        return "<PlaybookRun rc=%s recap=%s>\n%s" % (self.rc, self.recap, self.out[-6000:])


def write_inventory(path, extra_hosts=None):
    hosts = {"buildhost": {}, "localhost": {}}
    hosts.update(extra_hosts or {})
    inv = {"all": {"hosts": {}}}
    for name, hv in hosts.items():
        inv["all"]["hosts"][name] = dict({"ansible_connection": "local",
                                          "ansible_python_interpreter": "{{ ansible_playbook_python }}"}, **hv)
    with open(path, "w") as f:
        json.dump(inv, f)
    return path


def run_playbook(playbook, extra_vars, inventory=None, args=(), timeout=5400):
    """ansible-playbook PLAYBOOK with extra vars from a JSON file; returns a PlaybookRun."""
    with tempfile.TemporaryDirectory(prefix="kd-it-") as tmp:
        inv = inventory or write_inventory(os.path.join(tmp, "inv.json"))
        result_file = extra_vars.get("result_file") or os.path.join(tmp, "result.json")
        ev = dict(extra_vars, result_file=result_file)
        evf = os.path.join(tmp, "vars.json")
        with open(evf, "w") as f:
            json.dump(ev, f)
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")
        proc = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(PLAYBOOKS, playbook), "-e", "@" + evf] + list(args),
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        return PlaybookRun(proc, result_file)


def free_ports(n):
    socks, ports = [], []
    for _i in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def go_bin():
    """The Go that builds v1.20.2 in these tests: Debian's (its binaries pair with Debian's dlv 1.20.2)."""
    return debian_go()
