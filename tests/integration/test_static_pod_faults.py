"""kill -9 of static_pod_debug at every step of a rewrite, a move-out and a restore.

The real module runs as its own process (exactly as AnsiballZ runs it, and once
through ansible-playbook); KUBEDEBUG_TEST_KILL_AT makes it SIGKILL itself at the
named step. The steps come from a clean run's own ``steps`` result, so a new
step is covered without touching this file. After each kill:

* the manifest directory's visible files are the original or the complete debug
  form (nothing else the kubelet would read; leftover temp files start with a dot);
* the original is recoverable: ``state: restored`` gives it back byte-exact, and
  ``state: debug`` carries on to the complete debug form.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.integration.conftest import ROOT, run_play

FIXTURE = os.path.join(ROOT, "tests", "testdata", "staticpods", "kube-apiserver.yaml")
MODULE = os.path.join(ROOT, "plugins", "modules", "static_pod_debug.py")
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
FAULT_ENV = "KUBEDEBUG_TEST_KILL_AT"


class Lab:
    def __init__(self, d):
        self.d = d
        self.mdir = os.path.join(d, "manifests")
        self.bdir = os.path.join(d, "backup")
        os.makedirs(self.mdir)
        self.path = os.path.join(self.mdir, "kube-apiserver.yaml")
        shutil.copy(FIXTURE, self.path)
        os.chmod(self.path, 0o600)
        with open(FIXTURE, "rb") as f:
            self.original = f.read()

    def args(self, **kw):
        a = dict(path=self.path, backup_dir=self.bdir, binary="/opt/kubedebug/kube-apiserver", dlv_path="/opt/kubedebug/dlv",
                 validate=False, _ansible_diff=True)
        a.update(kw)
        return a

    def run(self, kill_at=None, **kw):
        """Run the module as a process; returns (returncode, result or None)."""
        argsfile = os.path.join(self.d, "args.json")
        with open(argsfile, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": self.args(**kw)}, f)
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        env.pop(FAULT_ENV, None)
        if kill_at:
            env[FAULT_ENV] = kill_at
        p = subprocess.run([sys.executable, MODULE, argsfile], capture_output=True, env=env, check=False)
        result = json.loads(p.stdout) if p.returncode == 0 else None
        return p.returncode, result

    def visible(self):
        return sorted(n for n in os.listdir(self.mdir) if not n.startswith("."))

    def read(self):
        with open(self.path, "rb") as f:
            return f.read()

    def backup_files(self):
        return sorted(n for n in os.listdir(self.bdir) if not n.startswith(".")) if os.path.isdir(self.bdir) else []


def steps_and_forms(tmp_path, mode):
    probe = Lab(str(tmp_path / ("probe-" + mode)))
    rc, debug = probe.run(mode=mode)
    assert rc == 0 and debug["changed"], debug
    rc, restore = probe.run(state="restored")
    assert rc == 0 and restore["changed"] and probe.read() == probe.original
    return debug["steps"], restore["steps"]


def complete_debug_form(lab, mode):
    if mode == "host":
        return None
    rc, r = lab.run(mode=mode, _ansible_check_mode=True)
    assert rc == 0 and r["changed"]
    return r["diff"]["after"].encode()


def assert_invariant(lab, debug_form):
    if lab.visible() == []:
        with open(os.path.join(lab.bdir, "kube-apiserver.yaml"), "rb") as f:
            assert f.read() == lab.original, "moved out: the backup holds the original"
        return
    assert lab.visible() == ["kube-apiserver.yaml"], lab.visible()
    now = lab.read()
    assert now in (lab.original, debug_form), "half-written manifest"
    if now != lab.original:
        with open(os.path.join(lab.bdir, "kube-apiserver.yaml"), "rb") as f:
            assert f.read() == lab.original


@pytest.mark.parametrize("mode", ["static", "host"])
def test_kill_9_at_every_step(tmp_path, mode):
    debug_steps, restore_steps = steps_and_forms(tmp_path, mode)
    expected = ["locked", "backup:tmp-written", "backup:renamed", "sha256:tmp-written", "sha256:renamed",
                "record:tmp-written", "record:renamed"]
    assert debug_steps[:7] == expected
    assert debug_steps[7:] == (["manifest:tmp-written", "manifest:renamed", "done"] if mode == "static" else ["manifest:removed", "done"])
    assert restore_steps == ["locked", "manifest:tmp-written", "manifest:renamed", "verified", "record:removed", "sha256:removed",
                             "backup:removed", "done"]
    killed = 0
    for i, step in enumerate(debug_steps):
        lab = Lab(str(tmp_path / ("debug-%s-%d" % (mode, i))))
        form = complete_debug_form(lab, mode)
        rc, _r = lab.run(kill_at=step, mode=mode)
        assert rc == -signal.SIGKILL, "the module was not killed at %s" % step
        killed += 1
        assert_invariant(lab, form)
        if i % 2:  # carry on with debug, then restore
            rc, r = lab.run(mode=mode)
            assert rc == 0, r
            assert_invariant(lab, form)
            assert lab.visible() == ([] if mode == "host" else ["kube-apiserver.yaml"])
            if mode == "static":
                assert lab.read() == form
        rc, r = lab.run(state="restored")
        assert rc == 0 and lab.read() == lab.original, (step, r)
        assert lab.backup_files() == [] and lab.visible() == ["kube-apiserver.yaml"]
        assert [n for n in os.listdir(lab.mdir) if n.startswith(".")] == [], "temp files left behind"
        rc, r = lab.run(state="restored")
        assert rc == 0 and r["changed"] is False
    for i, step in enumerate(restore_steps):
        lab = Lab(str(tmp_path / ("restore-%s-%d" % (mode, i))))
        form = complete_debug_form(lab, mode)
        rc, r = lab.run(mode=mode)
        assert rc == 0 and r["changed"]
        rc, _r = lab.run(kill_at=step, state="restored")
        assert rc == -signal.SIGKILL
        killed += 1
        assert_invariant(lab, form)
        rc, r = lab.run(state="restored")
        assert rc == 0 and lab.read() == lab.original, (step, r)
        assert lab.backup_files() == []
        assert os.stat(lab.path).st_mode & 0o7777 == 0o600
    assert killed == len(debug_steps) + len(restore_steps)


def test_kill_9_through_ansible_playbook_then_recover(tmp_path):
    """SIGKILL of the module under ansible-playbook: the task fails, the manifest stays whole, the next play recovers."""
    lab = Lab(str(tmp_path / "lab"))
    args = lab.args()
    args.pop("_ansible_diff")
    t = [dict({"name": "Debug", "kubedebug.lab.static_pod_debug": args, "register": "r", "ignore_errors": True},
              environment={FAULT_ENV: "manifest:tmp-written"})]
    (tmp_path / "p1").mkdir()
    rc, out, res = run_play(tmp_path / "p1", t, {"kdbg_dump": ["r"]})
    assert res["r"]["failed"] is True
    assert lab.read() == lab.original and lab.visible() == ["kube-apiserver.yaml"]
    assert [n for n in os.listdir(lab.mdir) if n.startswith(".kube-apiserver.yaml.kubedebug-tmp.")], "the kill left its dot-named temp file"
    t = [{"name": "Debug", "kubedebug.lab.static_pod_debug": args, "register": "r"},
         {"name": "Restore", "kubedebug.lab.static_pod_debug": {"path": lab.path, "backup_dir": lab.bdir, "state": "restored"}, "register": "back"}]
    (tmp_path / "p2").mkdir()
    res = run_play(tmp_path / "p2", t, {"kdbg_dump": ["r", "back"]})[2]
    assert res["r"]["changed"] and res["r"]["removed_temp_files"]
    assert res["back"]["changed"] and lab.read() == lab.original
    assert sorted(os.listdir(lab.mdir)) == ["kube-apiserver.yaml"]
