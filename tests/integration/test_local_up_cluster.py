"""Issue 4, local-up-cluster mode, for real: the tree's own hack/local-up-cluster.sh -O (unedited) runs the
debug-built v1.20.2 binaries in the background; debug-apiserver.yml relaunches its apiserver under dlv; a
breakpoint in the GET handler is hit by `kubectl get namespace default`; the controller-manager and scheduler
keep running; restore brings back a byte-identical /proc/PID/cmdline; stopping leaves nothing behind.

The apiserver, etcd (client and peer) and dlv get free ports. The controller-manager's and scheduler's ports
(10251/10252/10257/10259) are fixed by the script, so runs of this test on one host take a lock.
"""

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from tests import dap_client
from tests.integration.conftest import free_port, pids_mentioning, playbook, recap_changed, run_play

FIXED_PORTS = (10251, 10252, 10257, 10259)
DEBUG_BINARY = "/var/cache/kubedebug/build/bin/kube-apiserver"  # k8s_build's default output
GET_HANDLER = "k8s.io/apiserver/pkg/endpoints/handlers.getResourceHandler.func1"


def listening(port):
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return None


def argv_of(pid):
    raw = cmdline(pid)
    return [a.decode() for a in raw[:-1].split(b"\0")] if raw else None


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lock = open("/tmp/kubedebug-local-up-cluster-test.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # one such cluster per host: its fixed ports
    busy = [p for p in FIXED_PORTS if listening(p)]
    if busy:
        pytest.fail("ports %s are in use: hack/local-up-cluster.sh's controller-manager and scheduler need them "
                    "(ss -ltnp) - stop what listens there" % busy)
    d = tmp_path_factory.mktemp("luc")
    ports = dict(secure=free_port(), etcd=free_port(), peer=free_port(), dlv=free_port())
    assert len(set(ports.values())) == 4
    ev = {
        # The local inventory's default release is the current one; this test is v1.20.2's (Debian's tree,
        # Go and Delve): its builds land in k8s_build's default state dir, where DEBUG_BINARY is.
        "kubedebug_lab_version": "v1.20.2",
        "local_up_cluster_start_mode": "nokubelet",
        "local_up_cluster_secure_port": ports["secure"],
        "local_up_cluster_etcd_port": ports["etcd"],
        "local_up_cluster_etcd_peer_port": ports["peer"],
        "local_up_cluster_cert_dir": str(d / "certs"),
        "local_up_cluster_log_dir": str(d / "logs"),
        "local_up_cluster_service_account_key": str(d / "sa.key"),
        "local_up_cluster_run_dir": str(d / "run"),
        "local_up_cluster_debug_state_dir": str(d / "state"),
        "debug_component_cluster": "local-up-cluster",
        "debug_component_state_dir": str(d / "state"),
        "debug_component_log_dir": str(d / "dlvlogs"),
        "debug_component_listen": "127.0.0.1:%d" % ports["dlv"],
        "debug_component_ide_dir": str(d / "ide"),
        "debug_component_smoke": True,
    }
    evf = d / "vars.json"
    evf.write_text(json.dumps(ev))
    ctx = {"dir": d, "ports": ports, "ev": "@" + str(evf), "vars": ev}
    try:
        rc, out = playbook("playbooks/local-up-cluster.yml", "-e", ctx["ev"])
        ctx["start_out"] = out
        ctx["record"] = json.loads((d / "run" / "local-up-cluster.json").read_text())
        yield ctx
    finally:
        playbook("playbooks/local-up-cluster.yml", "-e", ctx["ev"], "-e", "local_up_cluster_state=stopped", check=False)
        for pid in pids_mentioning(str(d)):  # only if stopping failed: never leave a cluster behind
            subprocess.run(["kill", "-9", str(pid)], check=False)
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def kubectl(lab, *args):
    rec = lab["record"]
    return subprocess.run([os.path.join(rec["go_out"], "kubectl"), "--kubeconfig", os.path.join(rec["cert_dir"], "admin.kubeconfig"),
                           *args], capture_output=True, text=True, timeout=60, check=False)


def wait_serving(lab, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        p = kubectl(lab, "get", "--raw", "/healthz")
        if p.returncode == 0 and p.stdout.strip() == "ok" or time.monotonic() > deadline:
            return p


def test_the_script_runs_the_cluster(lab):
    rec = lab["record"]
    comps = rec["components"]
    assert set(comps) >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    assert "kubelet" not in comps  # START_MODE=nokubelet
    tree_out = os.path.realpath(rec["go_out"])
    for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert os.path.realpath(os.path.dirname(comps[c][0])) == tree_out  # -O: the tree's _output
    api = comps["kube-apiserver"]
    assert "--secure-port=%d" % lab["ports"]["secure"] in api and "--bind-address=127.0.0.1" in api
    assert "" in api  # the script passes empty arguments; they must survive every relaunch
    assert rec["argv"][1].endswith("/hack/local-up-cluster.sh") and rec["argv"][2] == "-O"
    assert alive(rec["pid"])
    p = kubectl(lab, "get", "namespace", "default", "-o", "name")
    assert p.returncode == 0 and p.stdout.strip() == "namespace/default", p.stderr
    assert listening(lab["ports"]["peer"])  # etcd's peer port moved through its environment


def test_starting_again_changes_nothing(lab):
    rc, out = playbook("playbooks/local-up-cluster.yml", "-e", lab["ev"])
    assert recap_changed(out) == 0


def _pid_of(lab, component):
    want = lab["record"]["components"][component]
    for n in os.listdir("/proc"):
        if n.isdigit():
            a = argv_of(int(n))
            if a and os.path.basename(a[0]) == component and a[1:] == want[1:] and alive(int(n)):
                return int(n)
    return None


def test_debug_apiserver_hits_the_breakpoint_and_the_cluster_runs_on(lab):
    others = {c: _pid_of(lab, c) for c in ("kube-controller-manager", "kube-scheduler", "etcd")}
    assert all(others.values()), others
    rc, out = playbook("playbooks/debug-apiserver.yml", "-e", lab["ev"])
    m = re.search(r"goroutine (\d+) stopped at (\S+) \((\S+):(\d+)\) and runs on", out)
    assert m, out[-4000:]
    assert m.group(2).endswith(GET_HANDLER)
    state = json.loads((lab["dir"] / "state" / "kube-apiserver.json").read_text())
    assert state["mode"] == "process"
    assert state["original"]["argv"] == lab["record"]["components"]["kube-apiserver"]
    dlv_argv = state["dlv_argv"]
    assert dlv_argv[dlv_argv.index("--") + 1:] == state["original"]["argv"][1:]
    assert "--listen=127.0.0.1:%d" % lab["ports"]["dlv"] in dlv_argv
    # The target under dlv has the original arguments, byte for byte (empty ones included).
    target = _pid_of(lab, "kube-apiserver")
    assert target and argv_of(target)[0] == DEBUG_BINARY  # the verified debug build, not the tree's copy
    with open("/proc/%d/stat" % target) as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    with open("/proc/%d/comm" % ppid) as f:
        assert f.read().strip() == "dlv"
    # Nothing else was torn down: same controller-manager, scheduler, etcd and script.
    assert {c: _pid_of(lab, c) for c in others} == others
    assert alive(lab["record"]["pid"])
    assert wait_serving(lab).returncode == 0
    p = kubectl(lab, "get", "namespace", "default", "-o", "name")
    assert p.returncode == 0 and p.stdout.strip() == "namespace/default"


@pytest.mark.parametrize("rel", ["staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go",
                                 "vendor/k8s.io/apiserver/pkg/endpoints/handlers/get.go"])
def test_vscode_attach_binds_staging_and_vendor_paths(lab, tmp_path, rel):
    """v1.20's GOPATH layout records staging code under vendor/k8s.io/apiserver: through the generated launch.json
    (a DAP client as VS Code's Go extension, the checkout opened at another path) a breakpoint binds by the staging
    path a developer edits as well as by the vendor link, and the stopped frame opens the staging file."""
    tree = _tree(lab)
    checkout = tmp_path / "checkout"
    checkout.symlink_to(tree)
    line = dap_client.line_after(os.path.join(tree, rel), r"^func getResourceHandler\(", 2)
    launch = json.loads((lab["dir"] / "ide" / ".vscode" / "launch.json").read_text())
    conf = [c for c in launch["configurations"] if c["name"] == "kube-apiserver on localhost"][0]
    rec = lab["record"]
    trigger = [os.path.join(rec["go_out"], "kubectl"), "--kubeconfig", os.path.join(rec["cert_dir"], "admin.kubeconfig"),
               "get", "namespace", "default", "-o", "name"]
    report = dap_client.check(conf["host"], conf["port"], conf, str(checkout), {str(checkout / rel): [line]}, trigger)
    assert report["error"] is None, report
    [bp] = report["breakpoints"][str(checkout / rel)]
    assert bp["verified"], bp
    assert report["stopped"]["reason"] == "breakpoint", report
    staging = str(checkout / "staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go")
    assert (report["stopped"]["path"], report["stopped"]["line"]) == (staging, line), report
    assert report["trigger"]["rc"] == 0 and "namespace/default" in report["trigger"]["output"], report
    assert wait_serving(lab).returncode == 0


def test_second_debug_run_changes_nothing(lab):
    rc, out = playbook("playbooks/debug-apiserver.yml", "-e", lab["ev"])
    assert recap_changed(out) == 0


def test_restore_brings_back_the_original_byte_identical(lab):
    original = lab["record"]["components"]["kube-apiserver"]
    others = {c: _pid_of(lab, c) for c in ("kube-controller-manager", "kube-scheduler", "etcd")}
    rc, out = playbook("playbooks/restore.yml", "-e", lab["ev"], "-e", "debug_component_name=kube-apiserver")
    assert not (lab["dir"] / "state" / "kube-apiserver.json").exists()
    want = b"".join(a.encode() + b"\0" for a in original)
    same = [int(n) for n in os.listdir("/proc") if n.isdigit() and cmdline(int(n)) == want]
    assert len(same) == 1, "the original apiserver is not back with its exact command line"
    assert wait_serving(lab).returncode == 0
    assert {c: _pid_of(lab, c) for c in others} == others


def test_scheduler_under_dlv_while_the_apiserver_serves(lab):
    others = {c: _pid_of(lab, c) for c in ("kube-apiserver", "kube-controller-manager", "etcd")}
    # No pod to schedule here: no smoke check (scheduleOne would never be reached).
    rc, out = playbook("playbooks/debug-scheduler.yml", "-e", lab["ev"], "-e", "debug_component_smoke=false")
    state = json.loads((lab["dir"] / "state" / "kube-scheduler.json").read_text())
    assert state["original"]["argv"] == lab["record"]["components"]["kube-scheduler"]
    target = _pid_of(lab, "kube-scheduler")
    assert target and argv_of(target)[0] == "/var/cache/kubedebug/build/bin/kube-scheduler"
    assert {c: _pid_of(lab, c) for c in others} == others
    # Left under dlv on purpose: stopping the cluster must restore it first.


def test_stopping_leaves_nothing(lab):
    rec = lab["record"]
    assert (lab["dir"] / "state" / "kube-scheduler.json").exists()
    rc, out = playbook("playbooks/local-up-cluster.yml", "-e", lab["ev"], "-e", "local_up_cluster_state=stopped")
    assert recap_changed(out) >= 1
    assert list((lab["dir"] / "state").iterdir()) == []  # no debug record left behind
    assert not alive(rec["pid"])
    assert pids_mentioning(str(lab["dir"])) == []
    for port in list(lab["ports"].values()) + list(FIXED_PORTS):
        assert not listening(port), port
    assert not (lab["dir"] / "run" / "local-up-cluster.json").exists()
    rc, out = playbook("playbooks/local-up-cluster.yml", "-e", lab["ev"], "-e", "local_up_cluster_state=stopped")
    assert recap_changed(out) == 0


# ------------------------------------------------------------------ bad input (nothing is started)


def _module_task(**args):
    return [{"name": "start", "kubedebug.lab.local_up_cluster": args, "register": "r", "ignore_errors": True}]


def _tree(lab):
    return os.path.dirname(os.path.dirname(lab["record"]["argv"][1]))


def test_tree_without_built_binaries_fails_naming_the_build(lab, tmp_path):
    tree = tmp_path / "kubernetes"
    (tree / "hack").mkdir(parents=True)
    shutil.copy2(os.path.join(_tree(lab), "hack", "local-up-cluster.sh"), tree / "hack")
    rc, out, res = run_play(tmp_path, _module_task(source_dir=str(tree), start_mode="nokubelet", run_dir=str(tmp_path / "run"),
                                                   cert_dir=str(tmp_path / "certs"), log_dir=str(tmp_path / "logs")),
                            {"kdbg_dump": ["r"]})
    r = res["r"]
    assert r["failed"] and "Traceback" not in out
    assert "no built kube-apiserver in %s/_output" % tree in r["msg"]
    assert "kubedebug.lab.k8s_build" in r["msg"]
    assert not (tmp_path / "run" / "local-up-cluster.json").exists() and pids_mentioning(str(tmp_path)) == []


def test_etcd_missing_from_path_fails_naming_the_fix(lab, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("cfssl", "cfssljson", "openssl", "curl", "sudo", "ss"):
        found = shutil.which(tool)
        assert found, tool
        os.symlink(found, bindir / tool)
    rc, out, res = run_play(tmp_path, _module_task(source_dir=_tree(lab), start_mode="nokubelet",
                                                   path_dirs=[str(bindir)], secure_port=free_port(), etcd_port=free_port(),
                                                   etcd_peer_port=free_port(), run_dir=str(tmp_path / "run"),
                                                   cert_dir=str(tmp_path / "certs"), log_dir=str(tmp_path / "logs")),
                            {"kdbg_dump": ["r"]})
    r = res["r"]
    assert r["failed"] and "Traceback" not in out
    assert "etcd is not on the PATH the script gets (%s)" % bindir in r["msg"]
    assert "kubedebug.lab.etcd" in r["msg"]
    assert [p["problem"] for p in r["problems"] if "PATH" in p["problem"]] == ["etcd is not on the PATH the script gets (%s)" % bindir]
    assert pids_mentioning(str(tmp_path)) == []


def test_debug_without_a_cluster_fails_clearly(tmp_path):
    rc, out = playbook("playbooks/debug-apiserver.yml", "-e", "debug_component_cluster=local-up-cluster",
                       "-e", "local_up_cluster_run_dir=%s" % tmp_path, check=False)
    assert rc != 0 and "Traceback" not in out
    assert "No local-up-cluster is recorded in %s: start one with playbooks/local-up-cluster.yml" % tmp_path in out


def test_port_taken_fails_naming_it(lab, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        rc, out, res = run_play(tmp_path, _module_task(source_dir=_tree(lab), start_mode="nokubelet",
                                                       secure_port=port, etcd_port=free_port(), etcd_peer_port=free_port(),
                                                       run_dir=str(tmp_path / "run"), cert_dir=str(tmp_path / "certs"),
                                                       log_dir=str(tmp_path / "logs")),
                                {"kdbg_dump": ["r"]})
    finally:
        s.close()
    r = res["r"]
    assert r["failed"] and "port %d for kube-apiserver (local_up_cluster_secure_port) is already in use" % port in r["msg"]
    assert pids_mentioning(str(tmp_path)) == []
