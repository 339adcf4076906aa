"""_relaunch against real processes."""

import os
import subprocess
import sys
import time

from ansible_collections.kubedebug.lab.plugins.module_utils._process import relaunch as _relaunch
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise

# A stand-in for dlv: first the x/telemetry child (`dlv "** telemetry **"`, as Delve >= 1.24 forks it before it
# starts the target), then the target; it prints both pids and waits.
FAKE_DLV = r"""
import os, subprocess, sys, time
telemetry = subprocess.Popen([sys.executable, "** telemetry **"], cwd=sys.argv[1])
target = subprocess.Popen(["sleep", "60"])
print(telemetry.pid, target.pid, flush=True)
time.sleep(60)
"""


def test_the_target_is_not_the_telemetry_child(tmp_path):
    # python runs the file named like x/telemetry's marker argument: its argv[1] is "** telemetry **".
    (tmp_path / "** telemetry **").write_text("import time\ntime.sleep(60)\n")
    dlv = subprocess.Popen([sys.executable, "-c", FAKE_DLV, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        telemetry, target = (int(x) for x in dlv.stdout.readline().split())
        deadline = time.monotonic() + 10
        while set(_supervise.children(dlv.pid)) != {telemetry, target} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(_supervise.children(dlv.pid)) == sorted([telemetry, target])
        assert _relaunch.is_telemetry_child(telemetry) and not _relaunch.is_telemetry_child(target)
        assert _relaunch.dlv_target(dlv.pid) == target
        # The target gone, dlv (kept alive by --accept-multiclient) has only the telemetry child: no target.
        os.kill(target, 9)
        deadline = time.monotonic() + 10
        while _relaunch.dlv_target(dlv.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _relaunch.dlv_target(dlv.pid) is None
    finally:
        for pid in _supervise.children(dlv.pid):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        dlv.kill()
        dlv.wait()


def test_a_missing_process_is_not_the_telemetry_child():
    p = subprocess.Popen(["true"])
    p.wait()
    assert not _relaunch.is_telemetry_child(p.pid)
