"""Shared fixtures for integration tests: real Go builds, real ansible-playbook runs."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess

import pytest
import yaml

from tests.toolchains import debian_go

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTDATA = os.path.join(ROOT, "tests", "testdata")


def playbook(*args, check=True):
    """ansible-playbook ARGS from the repo root; (rc, stdout + stderr). check: assert it succeeded."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    p = subprocess.run(["ansible-playbook", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    out = p.stdout + p.stderr
    if check:
        assert p.returncode == 0, out[-8000:]
    return p.returncode, out


def recap_changed(out, host="localhost"):
    """changed= of host in a play recap."""
    m = re.search(r"%s\s+:\s+ok=\d+\s+changed=(\d+)" % re.escape(host), out)
    assert m, out[-3000:]
    return int(m.group(1))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pids_mentioning(text):
    """Processes (not this one) whose command line contains text: a test's private directory names its processes."""
    out = []
    for n in os.listdir("/proc"):
        if n.isdigit() and int(n) != os.getpid():
            try:
                with open("/proc/%s/cmdline" % n, "rb") as f:
                    raw = f.read()
            except OSError:
                continue
            if text.encode() in raw:
                out.append(int(n))
    return out


def descendants(pid):
    """All descendant pids of pid (children first found by walking /proc ppid links)."""
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(name))
    out = []
    todo = [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def kill_tree(pid):
    """SIGKILL pid and every descendant (dlv puts its target in its own process group)."""
    for p in [pid] + descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def go_build(src, out, gcflags="all=-N -l", ldflags=None):
    """Build the Go program in src into out with the given flags, by Debian's Go: the tests debug what it
    builds with Debian's dlv 1.20.2 (Go 1.18-1.20), whatever Go comes first on PATH."""
    cmd = [debian_go(), "build", "-o", out]
    if gcflags:
        cmd.append("-gcflags=" + gcflags)
    if ldflags is not None:
        cmd.append("-ldflags=" + ldflags)
    env = dict(os.environ, GOFLAGS="-mod=mod", GO111MODULE="on", GOPROXY="off", CGO_ENABLED="0")
    subprocess.run(cmd + ["."], cwd=src, env=env, check=True)
    return out


@pytest.fixture(scope="session")
def seed_args():
    with open(os.path.join(TESTDATA, "seed_args.yml")) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="session")
def argvprint_dir(tmp_path_factory):
    """argvprint built with full debug info, under a unique component-like name."""
    d = tmp_path_factory.mktemp("argvprint")
    tag = secrets.token_hex(3)
    debug = go_build(os.path.join(TESTDATA, "argvprint"), str(d / ("kdbg-apiserver-" + tag)))
    for name in ("kdbg-kubelet-" + tag, "kdbg-twin-" + tag, "kdbg-bp-" + tag, "kdbg-proc-" + tag, "kdbg-debugbuild-" + tag):
        shutil.copy2(debug, str(d / name))
    go_build(os.path.join(TESTDATA, "argvprint"), str(d / ("kdbg-stripped-" + tag)), gcflags=None, ldflags="-s -w")
    go_build(os.path.join(TESTDATA, "argvprint"), str(d / ("kdbg-v121-" + tag)), ldflags="-X main.version=v1.21.0")
    return d, tag


def run_play(tmp_path, tasks, extra_vars=None, check=True):
    """Run a localhost play with the given task list; return (rc, output, results).

    Tasks that register a variable listed in ``kdbg_dump`` get their results
    written as JSON so the test reads real module results, not log text.
    """
    out = tmp_path / "results.json"
    play = [
        {
            "name": "integration",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": tasks
            + [
                {
                    "name": "Dump results",
                    "ansible.builtin.copy": {
                        "content": "{{ kdbg_results | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                    "vars": {"kdbg_results": "{{ dict(kdbg_dump | zip(kdbg_dump | map('extract', vars))) }}"},
                }
            ],
        }
    ]
    pb = tmp_path / "play.yml"
    pb.write_text(yaml.safe_dump(play, sort_keys=False))
    ev = dict(extra_vars or {})
    ev.setdefault("kdbg_dump", [])
    evf = tmp_path / "vars.json"
    evf.write_text(json.dumps(ev))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"), ANSIBLE_NOCOLOR="1")
    p = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "@" + str(evf),
         "-e", "ansible_python_interpreter=" + shutil.which("python3"), str(pb)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    output = p.stdout + p.stderr
    if check:
        assert p.returncode == 0, output
    results = json.loads(out.read_text()) if out.exists() else None
    return p.returncode, output, results
