"""Issue 4 acceptance on this machine, for real: `make lab`'s playbook sets up
the tools, takes the lab's release (inventories/local: v1.37.2 from the Go
module proxy, its Go and Delve) and builds a debug kube-apiserver, starts etcd and the apiserver, relaunches the apiserver
under dlv, and a breakpoint in the GET handler is hit by `kubectl get namespace
default`. A second run changes nothing; restore brings back the original with a
byte-identical /proc/PID/cmdline; the apiserver serves throughout."""

import json
import os
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from tests import dap_client
from tests.integration.conftest import free_port, pids_mentioning, playbook, recap_changed

# This test's lab is a lab of its own: its own state, records, IDE files and ports, so a user's lab made by
# `make lab` on this machine (/var/lib/kubedebug, 6443, 2345, ~/.kubedebug) is never touched by `make test`.
LAB = {}


def _two_free_ports():
    """A port p with p+1 free too (etcd's peer port is the client port + 1)."""
    for _attempt in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise AssertionError("no two consecutive free ports")


def _isolated(d):
    ports = dict(secure=free_port(), etcd=_two_free_ports(), dlv=free_port())
    ev = {
        "local_control_plane_dir": str(d / "lcp"),
        "local_control_plane_log_dir": str(d / "log"),
        "local_control_plane_run_dir": str(d / "run"),
        "local_control_plane_etcd_port": ports["etcd"],
        "local_control_plane_secure_port": ports["secure"],
        # systemd units have fixed names (the user's lab's): this lab's processes are detached ones.
        "local_control_plane_supervisor": "detached",
        "debug_component_state_dir": str(d / "state"),
        "debug_component_log_dir": str(d / "dlvlog"),
        "debug_component_listen": "127.0.0.1:%d" % ports["dlv"],
        "debug_component_ide_dir": str(d / "ide"),
    }
    f = d / "lab-vars.json"
    f.write_text(json.dumps(ev))
    return ports, ev, "@" + str(f)


def lab_playbook(name, *args, check=True):
    return playbook(name, "-e", LAB["ev_file"], *args, check=check)


def state_file():
    return os.path.join(LAB["ev"]["debug_component_state_dir"], "kube-apiserver.json")


def token():
    with open(os.path.join(LAB["ev"]["local_control_plane_dir"], "tokens.csv")) as f:
        return f.read().split(",")[0]


def url(path):
    return "https://127.0.0.1:%d%s" % (LAB["ports"]["secure"], path)


def healthz():
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token(),
                        url("/healthz")], capture_output=True, text=True, check=False)
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
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("lab")
    LAB["dir"] = d
    LAB["ports"], LAB["ev"], LAB["ev_file"] = _isolated(d)
    try:
        rc, out = lab_playbook("playbooks/lab-local.yml")
        yield out
    finally:
        # Leave the machine as the lab found it: restore, then stop what this lab started (its processes name its
        # directory in their arguments).
        lab_playbook("playbooks/restore.yml", check=False)
        _stop(pids_mentioning(str(d)))


def _stop(pids, grace=30):
    """SIGTERM, then SIGKILL what is left after grace seconds (an apiserver whose etcd went first can hang)."""
    for sig in (15, 9):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_safe_cmdline(p) for p in pids):
            time.sleep(0.5)


def test_first_run_debugs_the_apiserver_and_hits_the_breakpoint(lab):
    m = re.search(r"goroutine (\d+) stopped at (\S+) \((\S+):(\d+)\) and runs on", lab)
    assert m, lab[-4000:]
    assert m.group(2).endswith("k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1")
    dlv = LAB["ports"]["dlv"]
    assert "dlv connect 127.0.0.1:%d" % dlv in lab and "ssh -N -L %d:127.0.0.1:%d" % (dlv, dlv) in lab
    state = json.load(open(state_file()))
    assert state["mode"] == "process"
    dlv_argv = state["dlv_argv"]
    assert dlv_argv[dlv_argv.index("--") + 1:] == state["original"]["argv"][1:]
    assert "--listen=127.0.0.1:%d" % dlv in dlv_argv
    assert wait_healthy() == "200"  # serving after the check
    ss = subprocess.run(["ss", "-Hltn", "sport = :%d" % dlv], capture_output=True, text=True, check=True).stdout
    assert "127.0.0.1:%d" % dlv in ss and "0.0.0.0:%d" % dlv not in ss


def test_ide_configurations_match_the_binary(lab):
    ide = LAB["ev"]["debug_component_ide_dir"]
    launch = json.load(open(os.path.join(ide, ".vscode", "launch.json")))
    conf = [c for c in launch["configurations"] if c["name"] == "kube-apiserver on localhost"][0]
    assert conf["mode"] == "remote" and conf["request"] == "attach" and conf["port"] == LAB["ports"]["dlv"]
    recorded = re.search(r"stopped at \S+ \((\S+):\d+\)", lab).group(1)  # a path dlv read from the DWARF
    assert recorded.startswith(conf["substitutePath"][-1]["to"] + "/")
    run_xml = os.path.join(ide, ".run", "kube-apiserver_on_localhost.run.xml")
    c = ET.parse(run_xml).getroot().find("configuration")
    assert c.get("type") == "GoRemoteDebugConfigurationType" and c.get("port") == str(LAB["ports"]["dlv"])


def test_second_run_changes_nothing(lab):
    rc, out = lab_playbook("playbooks/lab-local.yml")
    assert recap_changed(out) == 0


def test_component_not_running_fails_clearly(lab, tmp_path):
    rc, out = lab_playbook("playbooks/debug-scheduler.yml", check=False)
    assert rc != 0
    assert "no running process matches name=kube-scheduler" in out
    assert "Traceback" not in out


def test_restore_brings_back_the_original_byte_identical(lab, tmp_path):
    original = json.load(open(state_file()))["original"]
    rc, out = lab_playbook("playbooks/restore.yml")
    assert not os.path.exists(state_file())
    want = b"".join(a.encode() + b"\0" for a in original["argv"])
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    same = [p for p in pids if _safe_cmdline(p) == want]
    assert len(same) == 1, "the original apiserver is not back with its exact command line"
    assert wait_healthy() == "200"
    # And debugging again works from the restored state (the lab adopts the restored process).
    rc, out = lab_playbook("playbooks/lab-local.yml")
    assert "stopped at" in out and os.path.exists(state_file())


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
    original = json.load(open(state_file()))["original"]
    lab_playbook("playbooks/restore.yml")
    pid = apiserver_pid(original["argv"])
    rc, out = lab_playbook("playbooks/debug-apiserver.yml", "-e", "debug_component_dlv_path=/usr/bin/dlv", check=False)
    assert rc != 0
    assert "/usr/bin/dlv (Delve 1.20.2) cannot debug" in out and "Nothing was stopped" in out, out[-3000:]
    assert "Traceback" not in out
    assert apiserver_pid(original["argv"]) == pid and not os.path.exists(state_file())
    assert wait_healthy() == "200"
    rc, out = lab_playbook("playbooks/debug-apiserver.yml", "-e", "debug_component_smoke=true")
    assert "stopped at" in out
    record = json.load(open(state_file()))
    assert os.path.realpath(record["dlv_argv"][0]).startswith("/opt/kubedebug/delve/"), record["dlv_argv"][0]
    assert wait_healthy() == "200"


@pytest.mark.parametrize("where, rel, pattern, offset", [
    ("staging", "staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go", r"^func getResourceHandler\(", 2),
    ("main tree", "pkg/registry/core/namespace/storage/storage.go", r"^func \(r \*REST\) Get\(", 1),
])
def test_vscode_attach_binds_breakpoints_by_the_checkout_paths(lab, tmp_path, where, rel, pattern, offset):
    """The launch.json as VS Code's Go extension takes it (dlv-dap, remote attach, its substitutePath, the checkout
    opened at another path than the build's): a breakpoint set by the checkout's path binds, `GET namespace default`
    stops there, the stopped frame is the checkout's file, and the lab's apiserver serves on after the client left."""
    src = re.search(r"stopped at \S+ \((\S+)/staging/src/k8s.io/apiserver/", lab).group(1)  # the build's tree
    checkout = tmp_path / "checkout"
    checkout.symlink_to(src)  # the user's checkout: the same files at another path
    line = dap_client.line_after(os.path.join(src, rel), pattern, offset)
    launch = os.path.join(LAB["ev"]["debug_component_ide_dir"], ".vscode", "launch.json")
    conf = [c for c in json.load(open(launch))["configurations"] if c["name"] == "kube-apiserver on localhost"][0]
    trigger = ["curl", "-sk", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token(),
               url("/api/v1/namespaces/default")]
    report = dap_client.check(conf["host"], conf["port"], conf, str(checkout), {str(checkout / rel): [line]}, trigger)
    assert report["error"] is None, report
    [bp] = report["breakpoints"][str(checkout / rel)]
    assert bp["verified"], (where, bp)
    assert report["stopped"]["reason"] == "breakpoint", report
    assert (report["stopped"]["path"], report["stopped"]["line"]) == (str(checkout / rel), line), report
    assert report["trigger"]["rc"] == 0 and report["trigger"]["output"] == "200", report
    assert wait_healthy() == "200"
