"""hack/lab_guard.py: a running lab must survive `make test`; a stale record is no running lab.

The script runs as hack/test.sh runs it, against a state directory and HOME of the test's own.
"""

import json
import os
import subprocess
import sys

import pytest

GUARD = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "hack", "lab_guard.py")


def _guard(tmp_path, cmd):
    env = dict(os.environ, KUBEDEBUG_LAB_STATE_DIR=str(tmp_path / "state"), HOME=str(tmp_path / "home"))
    return subprocess.run([sys.executable, GUARD, cmd, str(tmp_path / "snap.json")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def _record(tmp_path, pid):
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "kube-apiserver.json").write_text(json.dumps({"debug": {"pid": pid}, "original": {"argv": []}}))
    (state / "kube-apiserver.dlv.pid").write_text("%d\n" % pid)


def _dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@pytest.fixture
def live():
    p = subprocess.Popen(["sleep", "60"])
    yield p
    p.kill()
    p.wait()


def test_stale_record_is_no_session_to_keep(tmp_path):
    # a lab record left from before a reboot: its dlv pid is gone before the tests ran (the CI failure)
    pid = _dead_pid()
    _record(tmp_path, pid)
    snap = _guard(tmp_path, "snapshot")
    assert snap.returncode == 0, snap.stderr
    assert "stale records" in snap.stdout and str(pid) in snap.stdout
    ver = _guard(tmp_path, "verify")
    assert ver.returncode == 0, ver.stderr
    assert "no dlv of theirs was running" in ver.stdout


def test_stale_record_changed_by_the_tests_fails(tmp_path):
    _record(tmp_path, _dead_pid())
    assert _guard(tmp_path, "snapshot").returncode == 0
    (tmp_path / "state" / "kube-apiserver.dlv.pid").write_text("1\n")
    ver = _guard(tmp_path, "verify")
    assert ver.returncode == 1
    assert "kube-apiserver.dlv.pid changed" in ver.stderr


def test_running_dlv_that_dies_fails(tmp_path, live):
    _record(tmp_path, live.pid)
    snap = _guard(tmp_path, "snapshot")
    assert "dlv {'kube-apiserver.json': %d}" % live.pid in snap.stdout
    live.kill()
    live.wait()
    ver = _guard(tmp_path, "verify")
    assert ver.returncode == 1
    assert "dlv pid %d before the tests" % live.pid in ver.stderr and "alive: False" in ver.stderr


def test_running_dlv_kept_passes(tmp_path, live):
    # no launch.json in this HOME: no breakpoint check, the process and the files are what is kept
    _record(tmp_path, live.pid)
    assert _guard(tmp_path, "snapshot").returncode == 0
    ver = _guard(tmp_path, "verify")
    assert ver.returncode == 0, ver.stderr
    assert "lab session kept (dlv {'kube-apiserver.json': %d})" % live.pid in ver.stdout


def test_no_lab(tmp_path):
    assert "none in" in _guard(tmp_path, "snapshot").stdout
    ver = _guard(tmp_path, "verify")
    assert ver.returncode == 0 and "nothing to keep" in ver.stdout
