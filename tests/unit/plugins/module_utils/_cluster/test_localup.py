"""hack/local-up-cluster.sh support: where -O finds binaries, what the script needs, its environment, records."""

import json
import os

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._cluster import localup as _localup
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise


def touch_exe(path, mtime=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o755)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def params(tmp_path, **kw):
    p = dict(source_dir=str(tmp_path / "k"), go_out=None, container_runtime="docker", secure_port=16443, bind_address="127.0.0.1",
             etcd_port=12379, etcd_peer_port=12380, cert_dir="/c", log_dir="/l", service_account_key="/s/sa.key",
             path_dirs=[str(tmp_path / "bin")], env={})
    p.update(kw)
    return p


def tree(tmp_path, components=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")):
    t = tmp_path / "k"
    touch_exe(str(t / "hack" / "local-up-cluster.sh"))
    out = t / "_output" / "local" / "bin" / "linux" / "amd64"
    for c in components:
        touch_exe(str(out / c))
    for tool in _localup.TOOLS:
        touch_exe(str(tmp_path / "bin" / tool))
    return str(out)


def test_dash_o_takes_the_newest_apiserver(tmp_path):
    t = str(tmp_path)
    assert _localup.find_built_binary_dir(t) is None
    touch_exe(os.path.join(t, "_output/local/bin/linux/amd64/kube-apiserver"), 1000)
    touch_exe(os.path.join(t, "_output/dockerized/bin/linux/amd64/kube-apiserver"), 2000)
    assert _localup.find_built_binary_dir(t) == os.path.join(t, "_output/dockerized/bin/linux/amd64")
    touch_exe(os.path.join(t, "_output/local/go/bin/kube-apiserver"), 3000)
    assert _localup.find_built_binary_dir(t) == os.path.join(t, "_output/local/go/bin")


@pytest.mark.parametrize("mode,started,extra", [
    ("nokubelet", {"kube-proxy"}, set()),  # v1.20: nokubelet still starts kube-proxy
    ("nokubeproxy", {"kubelet"}, {"kubelet"}),
    ("all", {"kubelet", "kube-proxy"}, {"kubelet", "kube-proxy"}),
])
def test_components_per_mode(mode, started, extra):
    s, r = _localup.components_for(mode)
    base = {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    assert set(s) == base | started
    assert set(r) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} | extra


def test_a_complete_host_has_no_problems(tmp_path):
    out = tree(tmp_path)
    assert _localup.problems(params(tmp_path), "nokubelet", out, set()) == []
    _localup.check(params(tmp_path), "nokubelet", out, set())


def test_not_a_tree(tmp_path):
    found = _localup.problems(params(tmp_path), "nokubelet", None, set())
    assert len(found) == 1 and "has no hack/local-up-cluster.sh" in found[0][0] and "k8s_source" in found[0][1]


def test_missing_binaries_name_the_build(tmp_path):
    out = tree(tmp_path, components=("kube-apiserver",))
    (msg, fix), = _localup.problems(params(tmp_path), "nokubelet", out, set())
    assert msg == "kube-controller-manager, kube-scheduler, kubectl is missing from %s, where the script takes its binaries" % out
    assert "kubedebug.lab.k8s_build" in fix
    (msg, _fix), = _localup.problems(params(tmp_path), "nokubelet", None, set())
    assert msg.startswith("no built kube-apiserver in")


def test_a_kubelet_mode_needs_a_kubelet(tmp_path):
    out = tree(tmp_path)
    msgs = [m for m, _f in _localup.problems(params(tmp_path), "all", out, set())]
    assert msgs == ["kubelet, kube-proxy is missing from %s, where the script takes its binaries" % out]


def test_missing_tools_and_busy_ports(tmp_path):
    out = tree(tmp_path)
    os.unlink(str(tmp_path / "bin" / "etcd"))
    os.unlink(str(tmp_path / "bin" / "sudo"))
    with pytest.raises(KubedebugError) as e:
        _localup.check(params(tmp_path), "nokubelet", out, {16443, 10257, 2380})
    text = str(e.value)
    assert "etcd is not on the PATH" in text and "kubedebug.lab.etcd" in text
    assert "sudo is not on the PATH" in text and "sudo kill" in text
    assert "port 16443 for kube-apiserver" in text
    assert "port 10257 for kube-controller-manager" in text
    assert "2380" not in text  # not our etcd peer port (12380)
    assert len(e.value.details["problems"]) == 4


def test_environment_without_a_kubelet(tmp_path):
    env = _localup.script_env(params(tmp_path, env={"LOG_LEVEL": 5, "API_BIND_ADDR": "0.0.0.0"}), "nokubelet", {"HOME": "/root"})
    assert env["HOME"] == "/root" and env["ENABLE_DAEMON"] == "false" and env["START_MODE"] == "nokubelet"
    assert env["CONTAINER_RUNTIME"] == "remote" and env["KUBE_ENABLE_CLUSTER_DNS"] == "false"
    assert env["API_SECURE_PORT"] == "16443" and env["ETCD_PORT"] == "12379"
    assert env["ETCD_LISTEN_PEER_URLS"] == "http://127.0.0.1:12380" and env["ETCD_INITIAL_CLUSTER"] == "default=http://127.0.0.1:12380"
    assert env["LOG_LEVEL"] == "5" and env["API_BIND_ADDR"] == "0.0.0.0"  # the user's env wins
    assert env["PATH"] == str(tmp_path / "bin")
    assert "KUBECTL" not in env
    env = _localup.script_env(params(tmp_path, go_out="/o"), "all", {})
    assert env["CONTAINER_RUNTIME"] == "docker" and "KUBE_ENABLE_CLUSTER_DNS" not in env and env["KUBECTL"] == "/o/kubectl"


def test_script_argv():
    assert _localup.script_argv("/t", None) == ["/bin/bash", "/t/hack/local-up-cluster.sh", "-O"]
    assert _localup.script_argv("/t", "/o") == ["/bin/bash", "/t/hack/local-up-cluster.sh", "-o", "/o"]


def test_same_component_ignores_only_the_binary_path():
    rec = ["/t/_output/bin/kube-apiserver", "--a", "", "--b=1"]
    assert _localup.same_component(["/var/cache/kubedebug/build/bin/kube-apiserver", "--a", "", "--b=1"], rec)
    assert not _localup.same_component(["/x/kube-apiserver", "--a", "--b=1"], rec)  # the empty argument matters
    assert not _localup.same_component(["/x/kube-scheduler", "--a", "", "--b=1"], rec)
    assert not _localup.same_component([], rec)


def test_debug_sessions_of_this_cluster_only(tmp_path):
    ours = ["/t/kube-apiserver", "--secure-port=16443"]
    (tmp_path / "kube-apiserver.json").write_text(json.dumps({"component": "kube-apiserver", "original": {"argv": ours}}))
    (tmp_path / "kube-scheduler.json").write_text(json.dumps({"component": "kube-scheduler", "original": {"argv": ["/x/kube-scheduler"]}}))
    (tmp_path / "kubelet.systemd.json").write_text(json.dumps({"unit": "kubelet.service"}))
    (tmp_path / "broken.json").write_text("{")
    assert _localup.debug_sessions({"kube-apiserver": ours}, str(tmp_path)) == ["kube-apiserver"]
    assert _localup.debug_sessions({"kube-apiserver": ours}, str(tmp_path / "absent")) == []


def test_records_round_trip_and_refuse_foreign_files(tmp_path):
    path = str(tmp_path / "local-up-cluster.json")
    assert _localup.read_record(path) is None
    _localup.write_record(path, {"argv": ["/bin/bash"], "pid": 1})
    assert _localup.read_record(path)["kind"] == "local-up-cluster"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    (tmp_path / "other.json").write_text(json.dumps({"argv": []}))
    with pytest.raises(KubedebugError, match="not a kubedebug local-up-cluster record"):
        _localup.read_record(str(tmp_path / "other.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(KubedebugError, match="not valid JSON"):
        _localup.read_record(str(tmp_path / "bad.json"))


# --- run_module: a tree whose hack/local-up-cluster.sh only says it is up and waits --------------------------

FAKE_SCRIPT = """#!/bin/bash
trap 'kill $child; exit 0' TERM
echo "Local Kubernetes cluster is running"
/bin/sleep 300 &
child=$!
wait
"""


class Host:
    """What run_module uses of an AnsibleModule."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, msg):
        self.warnings.append(msg)

    def get_bin_path(self, name):
        return None

    def run_command(self, args):
        raise AssertionError("no command expected: %r" % (args,))


def module_params(tmp_path, **kw):
    p = params(tmp_path, state="started", start_mode="auto", cert_dir=str(tmp_path / "certs"), log_dir=str(tmp_path / "logs"),
               service_account_key=str(tmp_path / "sa" / "sa.key"), run_dir=str(tmp_path / "run"),
               debug_state_dir=str(tmp_path / "state"), timeout=30.0, stop_timeout=10.0)
    p.update(kw)
    return p


def test_run_module_stopped_without_a_record_does_nothing(tmp_path):
    res = _localup.run_module(Host(module_params(tmp_path, state="stopped")), healthz=None)
    assert res == {"changed": False, "action": "none", "running": False, "state_file": str(tmp_path / "run" / "local-up-cluster.json")}


def test_run_module_check_mode_reports_the_start(tmp_path):
    go_out = tree(tmp_path)
    res = _localup.run_module(Host(module_params(tmp_path), check_mode=True), healthz=None)
    assert (res["changed"], res["action"], res["start_mode"], res["go_out"]) == (True, "started", "nokubelet", go_out)
    assert not (tmp_path / "run").exists()


def test_run_module_starts_keeps_and_stops_the_script(tmp_path):
    busy = sorted({16443, 12379, 12380, 10252, 10257, 10251, 10259} & set(_supervise.listening_ports()))
    if busy:
        pytest.skip("ports %s are in use on this host" % busy)
    tree(tmp_path)
    (tmp_path / "k" / "hack" / "local-up-cluster.sh").write_text(FAKE_SCRIPT)
    asked = []

    def healthz(url, cert_dir):
        asked.append((url, cert_dir))
        return 200

    p = module_params(tmp_path)
    res = _localup.run_module(Host(dict(p)), healthz)
    try:
        assert (res["changed"], res["action"], res["running"], res["healthy"]) == (True, "started", True, True)
        assert res["argv"] == ["/bin/bash", str(tmp_path / "k" / "hack" / "local-up-cluster.sh"), "-O"]
        assert asked == [("https://127.0.0.1:16443", str(tmp_path / "certs"))]
        assert "Local Kubernetes cluster is running" in (tmp_path / "logs" / "local-up-cluster.log").read_text()

        again = _localup.run_module(Host(dict(p)), healthz)
        assert (again["changed"], again["action"], again["pid"]) == (False, "none", res["pid"])
    finally:
        stopped = _localup.run_module(Host(dict(p, state="stopped")), healthz)
    assert (stopped["changed"], stopped["action"], stopped["running"], stopped["stopped"]) == (True, "stopped", False, [])
    assert not _supervise.alive(res["pid"])
    assert not (tmp_path / "run" / "local-up-cluster.json").exists()


def test_run_module_failed_start_is_stopped_again_and_names_the_log(tmp_path):
    tree(tmp_path)
    (tmp_path / "k" / "hack" / "local-up-cluster.sh").write_text("#!/bin/bash\necho 'etcd: cannot bind'\nexit 1\n")
    with pytest.raises(KubedebugError) as err:
        _localup.run_module(Host(module_params(tmp_path)), healthz=lambda url, cert_dir: 200)
    assert "exited before the cluster was up" in str(err.value)
    assert err.value.details["log"] == ["etcd: cannot bind"]
    assert not (tmp_path / "run" / "local-up-cluster.json").exists()
