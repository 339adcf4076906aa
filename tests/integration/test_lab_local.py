"""Issue 4 acceptance on this machine, for real: `make lab`'s playbook sets up
the tools, takes the lab's release (inventories/local: v1.37.2 from the Go
module proxy, its Go and Delve) and builds a debug kube-apiserver, starts etcd and the apiserver, relaunches the apiserver
under dlv, and a breakpoint in the GET handler is hit by `kubectl get namespace
default`. A second run changes nothing; restore brings back the original with a
byte-identical /proc/PID/cmdline; the apiserver serves throughout."""

import json
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests.integration.conftest import playbook, recap_changed

STATE = "/var/lib/kubedebug/kube-apiserver.json"
LCP = "/var/lib/kubedebug/local-control-plane"


def token():
    with open(os.path.join(LCP, "tokens.csv")) as f:
        return f.read().split(",")[0]


def healthz():
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token(),
                        "https://127.0.0.1:6443/healthz"], capture_output=True, text=True, check=False)
    return p.stdout


def wait_healthy(timeout=180):
    """/healthz right after a (re)start can be 500 while post-start hooks finish."""
    deadline = time.monotonic() + timeout
    while healthz() != "200" and time.monotonic() < deadline:
        time.sleep(1)
    return healthz()


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def lab():
    rc, out = playbook("playbooks/lab-local.yml")
    yield out
    # Leave the machine as the lab found it: restore, then stop what the lab started.
    playbook("playbooks/restore.yml", check=False)


def test_first_run_debugs_the_apiserver_and_hits_the_breakpoint(lab):
    m = re.search(r"goroutine (\d+) stopped at (\S+) \((\S+):(\d+)\) and runs on", lab)
    assert m, lab[-4000:]
    assert m.group(2).endswith("k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1")
    assert "dlv connect 127.0.0.1:2345" in lab and "ssh -N -L 2345:127.0.0.1:2345" in lab
    state = json.load(open(STATE))
    assert state["mode"] == "process"
    dlv_argv = state["dlv_argv"]
    assert dlv_argv[dlv_argv.index("--") + 1:] == state["original"]["argv"][1:]
    assert "--listen=127.0.0.1:2345" in dlv_argv
    assert wait_healthy() == "200"  # serving after the check
    ss = subprocess.run(["ss", "-Hltn", "sport = :2345"], capture_output=True, text=True, check=True).stdout
    assert "127.0.0.1:2345" in ss and "0.0.0.0:2345" not in ss


def test_ide_configurations_match_the_binary(lab):
    ide = os.path.expanduser("~/.kubedebug/localhost")
    launch = json.load(open(os.path.join(ide, ".vscode", "launch.json")))
    conf = [c for c in launch["configurations"] if c["name"] == "kube-apiserver on localhost"][0]
    assert conf["mode"] == "remote" and conf["request"] == "attach" and conf["port"] == 2345
    recorded = re.search(r"stopped at \S+ \((\S+):\d+\)", lab).group(1)  # a path dlv read from the DWARF
    assert recorded.startswith(conf["substitutePath"][0]["to"] + "/")
    run_xml = os.path.join(ide, ".run", "kube-apiserver_on_localhost.run.xml")
    c = ET.parse(run_xml).getroot().find("configuration")
    assert c.get("type") == "GoRemoteDebugConfigurationType" and c.get("port") == "2345"


def test_second_run_changes_nothing(lab):
    rc, out = playbook("playbooks/lab-local.yml")
    assert recap_changed(out) == 0


def test_component_not_running_fails_clearly(lab, tmp_path):
    rc, out = playbook("playbooks/debug-scheduler.yml", check=False)
    assert rc != 0
    assert "no running process matches name=kube-scheduler" in out
    assert "Traceback" not in out


def test_restore_brings_back_the_original_byte_identical(lab, tmp_path):
    original = json.load(open(STATE))["original"]
    rc, out = playbook("playbooks/restore.yml")
    assert not os.path.exists(STATE)
    want = b"".join(a.encode() + b"\0" for a in original["argv"])
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    same = [p for p in pids if _safe_cmdline(p) == want]
    assert len(same) == 1, "the original apiserver is not back with its exact command line"
    assert wait_healthy() == "200"
    # And debugging again works from the restored state (the lab adopts the restored process).
    rc, out = playbook("playbooks/lab-local.yml")
    assert "stopped at" in out and os.path.exists(STATE)


def _safe_cmdline(pid):
    try:
        return cmdline(pid)
    except OSError:
        return None


def apiserver_pid(argv):
    want = b"".join(a.encode() + b"\0" for a in argv)
    same = [int(p) for p in os.listdir("/proc") if p.isdigit() and _safe_cmdline(int(p)) == want]
    assert len(same) == 1, same
    return same[0]


def test_debug_playbook_on_its_own_after_the_lab(lab):
    """What a user runs after `make lab`: debug-apiserver.yml alone (no install roles in that run) takes the dlv
    the lab installed for its release; a dlv that cannot debug the binary's Go is refused before anything stops."""
    original = json.load(open(STATE))["original"]
    playbook("playbooks/restore.yml")
    pid = apiserver_pid(original["argv"])
    rc, out = playbook("playbooks/debug-apiserver.yml", "-e", "debug_component_dlv_path=/usr/bin/dlv", check=False)
    assert rc != 0
    assert "/usr/bin/dlv (Delve 1.20.2) cannot debug" in out and "Nothing was stopped" in out, out[-3000:]
    assert "Traceback" not in out
    assert apiserver_pid(original["argv"]) == pid and not os.path.exists(STATE)
    assert wait_healthy() == "200"
    rc, out = playbook("playbooks/debug-apiserver.yml", "-e", "debug_component_smoke=true")
    assert "stopped at" in out
    record = json.load(open(STATE))
    assert os.path.realpath(record["dlv_argv"][0]).startswith("/opt/kubedebug/delve/"), record["dlv_argv"][0]
    assert wait_healthy() == "200"
