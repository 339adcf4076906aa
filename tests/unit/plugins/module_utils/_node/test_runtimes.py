"""Readers and writers of the runtimes' and the kubelet's cgroup-driver settings."""

import json
import os
import tomllib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import runtimes as r
from tests.paths import TESTDATA

FIX = os.path.join(TESTDATA, "runtimes")


def fixture(name):
    with open(os.path.join(FIX, name)) as f:
        return f.read()


# ---- docker info ------------------------------------------------------------

def seed_pipeline(text):
    """Seed 001's `docker info | grep "Cgroup Driver:" | cut -d' ' -f3`, in Python."""
    line = [ln for ln in text.splitlines() if "Cgroup Driver:" in ln][0]
    return line.split(" ")[2]


def test_seed_pipeline_breaks_on_docker_19_but_the_reader_does_not():
    old, new = fixture("docker_info_18.09.txt"), fixture("docker_info_19.03.txt")
    assert seed_pipeline(old) == "cgroupfs"
    assert seed_pipeline(new) == "Driver:"  # the bug: Docker 19.03 indented its output
    assert r.parse_docker_info_text(old)["driver"] == "cgroupfs"
    assert r.parse_docker_info_text(new)["driver"] == "systemd"
    assert r.parse_docker_info_text(new)["server_version"] == "19.03.8"


def test_docker_info_text_from_this_host():
    got = r.parse_docker_info_text(fixture("docker_info_20.10_host.txt"))
    assert got["driver"] == "cgroupfs" and got["cgroup_version"] == "1" and got["running"] is True


@pytest.mark.parametrize("name, running, driver, version", [
    ("docker_info_20.10_host.json", True, "cgroupfs", "1"),
    ("docker_info_19.03.json", True, "systemd", None),        # no CgroupVersion before 20.10
    ("docker_info_daemon_down_cli28.json", False, None, None),  # CLI prints JSON with empty fields
])
def test_docker_info_json(name, running, driver, version):
    got = r.parse_docker_info_json(fixture(name))
    assert (got["running"], got["driver"], got["cgroup_version"]) == (running, driver, version)
    if not running:
        assert "did not answer" in got["error"]


def test_docker_info_json_server_errors_and_garbage():
    got = r.parse_docker_info_json(json.dumps({"ServerVersion": "", "ServerErrors": ["Cannot connect to the Docker daemon"]}))
    assert got["running"] is False and "Cannot connect" in got["error"]
    assert r.parse_docker_info_json("Cannot connect to the Docker daemon") is None
    assert r.parse_docker_info_json("[1, 2]") is None


def test_rootless_docker_reports_none():
    got = r.parse_docker_info_text(" Server Version: 19.03.1\n Cgroup Driver: none\n")
    assert got["driver"] == "none"


# ---- daemon.json ------------------------------------------------------------

DAEMON = '''{
    "log-driver": "json-file",
    "log-opts": {"max-size": "10m"},
    "exec-opts": ["native.cgroupdriver=cgroupfs", "native.foo=bar"],
    "storage-driver": "overlay2"
}
'''


def test_daemon_json_merge_keeps_other_keys_and_order():
    new = r.set_docker_daemon_json_driver(DAEMON, "systemd")
    obj = json.loads(new)
    assert list(obj) == ["log-driver", "log-opts", "exec-opts", "storage-driver"]
    assert obj["exec-opts"] == ["native.cgroupdriver=systemd", "native.foo=bar"]
    assert obj["log-opts"] == {"max-size": "10m"}
    assert new.startswith('{\n    "log-driver"')  # the file's 4-space indentation is kept
    assert r.docker_daemon_json_driver(new) == "systemd"
    assert r.set_docker_daemon_json_driver(new, "systemd") is new


@pytest.mark.parametrize("text, expect_opts", [
    ("", ["native.cgroupdriver=systemd"]),
    ("{}", ["native.cgroupdriver=systemd"]),
    ('{"exec-opts": []}', ["native.cgroupdriver=systemd"]),
    # duplicates and odd spelling collapse into one entry at the first position
    ('{"exec-opts": ["Native.CgroupDriver = cgroupfs", "x=y", "native.cgroupdriver=systemd"]}', ["native.cgroupdriver=systemd", "x=y"]),
])
def test_daemon_json_cases(text, expect_opts):
    assert json.loads(r.set_docker_daemon_json_driver(text, "systemd"))["exec-opts"] == expect_opts


@pytest.mark.parametrize("text, words", [
    ('{"exec-opts": ["native.cgroupdriver=cgroupfs"],}', ["not valid JSON", "line 1", "nothing was changed"]),
    ("exec-opts: [x]", ["not valid JSON"]),
    ("[1]", ["JSON list, not an object"]),
    ('{"exec-opts": "native.cgroupdriver=systemd"}', ["exec-opts must be a list of strings"]),
])
def test_daemon_json_refusals(text, words):
    with pytest.raises(KubedebugError) as err:
        r.set_docker_daemon_json_driver(text, "systemd", "/etc/docker/daemon.json")
    for w in words:
        assert w in str(err.value)
    assert "/etc/docker/daemon.json" in str(err.value)


@settings(max_examples=200, deadline=None)
@given(obj=st.dictionaries(st.text(max_size=8).filter(lambda k: k != "exec-opts"),
                           st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                                        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                                        max_leaves=8), max_size=5),
       opts=st.lists(st.sampled_from(["native.cgroupdriver=cgroupfs", "native.cgroupdriver=systemd", "a=b", "c=d"]), max_size=4),
       driver=st.sampled_from(r.DRIVERS), indent=st.sampled_from([None, 2, 4, "\t"]))
def test_property_daemon_json_only_the_driver_changes(obj, opts, driver, indent):
    doc = dict(obj, **{"exec-opts": opts})
    text = json.dumps(doc, indent=indent)
    new = json.loads(r.set_docker_daemon_json_driver(text, driver))
    assert {k: v for k, v in new.items() if k != "exec-opts"} == obj
    assert [o for o in new["exec-opts"] if "cgroupdriver" in o] == ["native.cgroupdriver=" + driver]
    assert [o for o in new["exec-opts"] if "cgroupdriver" not in o] == [o for o in opts if "cgroupdriver" not in o]


def test_dockerd_flag_exec_opts():
    argv = ["/usr/bin/dockerd", "-H", "fd://", "--exec-opt", "native.cgroupdriver=systemd", "--exec-opt=x=y"]
    assert r.dockerd_flag_exec_opts(argv) == ["native.cgroupdriver=systemd", "x=y"]


def test_docker_default_driver():
    assert r.docker_default_driver("unified", True) == "systemd"
    assert r.docker_default_driver("unified", False) == "cgroupfs"
    assert r.docker_default_driver("hybrid", True) == "cgroupfs"


# ---- containerd -------------------------------------------------------------

DEBIAN_CONTAINERD = '''version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
'''

V1_LEGACY = '''[plugins.cri]
  systemd_cgroup = true
  [plugins.cri.containerd.runtimes.runc]
    runtime_type = "io.containerd.runtime.v1.linux"
'''

V3 = '''version = 3
[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "crun"
[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.crun.options]
    BinaryName = "/usr/bin/crun"
    SystemdCgroup = true
'''

DOCKER_CE = 'disabled_plugins = ["cri"]\n'


@pytest.mark.parametrize("text, version, driver, runtime, value, disabled", [
    (DEBIAN_CONTAINERD, 2, "cgroupfs", "runc", None, False),
    (V1_LEGACY, 1, "systemd", "runc", True, False),
    (V3, 3, "systemd", "crun", True, False),
    (DOCKER_CE, 1, "cgroupfs", "runc", None, True),  # docker-ce's containerd.io: CRI off
    ("", 1, "cgroupfs", "runc", None, False),
])
def test_containerd_driver(text, version, driver, runtime, value, disabled):
    got = r.containerd_driver(tomllib.loads(text))
    assert (got["version"], got["driver"], got["runtime"], got["systemd_cgroup"], got["cri_disabled"]) == (version, driver, runtime, value, disabled)


def test_set_containerd_driver_debian_adds_runtime_type():
    new = r.set_containerd_driver(DEBIAN_CONTAINERD, "systemd")
    runc = tomllib.loads(new)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc == {"runtime_type": "io.containerd.runc.v2", "options": {"SystemdCgroup": True}}
    assert r.set_containerd_driver(new, "systemd") is new
    back = r.set_containerd_driver(new, "cgroupfs")
    assert tomllib.loads(back)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"] == {"SystemdCgroup": False}
    # cgroupfs is containerd's default: an unset key is already right
    assert r.set_containerd_driver(DEBIAN_CONTAINERD, "cgroupfs") is DEBIAN_CONTAINERD


def test_set_containerd_driver_legacy_and_v3_and_empty():
    assert tomllib.loads(r.set_containerd_driver(V1_LEGACY, "cgroupfs"))["plugins"]["cri"]["systemd_cgroup"] is False
    v3 = tomllib.loads(r.set_containerd_driver(V3, "cgroupfs"))
    assert v3["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["crun"]["options"] == {
        "BinaryName": "/usr/bin/crun", "SystemdCgroup": False}
    empty = tomllib.loads(r.set_containerd_driver("", "systemd"))
    assert empty["version"] == 2
    assert empty["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


@pytest.mark.parametrize("text, words", [
    ("version = 2\n[plugins\n", ["not valid TOML", "line 2"]),
    ("version = 7\n", ["version = 7", "1, 2 and 3"]),
])
def test_containerd_refusals(text, words):
    with pytest.raises(KubedebugError) as err:
        r.set_containerd_driver(text, "systemd", "/etc/containerd/config.toml")
    for w in words:
        assert w in str(err.value)


# ---- CRI-O ------------------------------------------------------------------

def test_crio_driver_drop_ins_override():
    main = tomllib.loads('[crio.runtime]\ncgroup_manager = "cgroupfs"\nconmon_cgroup = "pod"\n')
    drop = tomllib.loads('[crio.runtime]\ncgroup_manager = "systemd"\n')
    assert r.crio_driver([("crio.conf", main)]) == {"driver": "cgroupfs", "source": "crio.conf"}
    assert r.crio_driver([("crio.conf", main), ("crio.conf.d/10.conf", drop)]) == {"driver": "systemd", "source": "crio.conf.d/10.conf"}
    assert r.crio_driver([]) == {"driver": "systemd", "source": "CRI-O default"}


# ---- kubelet ----------------------------------------------------------------

KUBEADM_KUBELET = '''apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
cgroupDriver: cgroupfs   # set by hand
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
rotateCertificates: true
staticPodPath: /etc/kubernetes/manifests
'''


def test_kubelet_config_read_and_set():
    cfg = r.read_kubelet_config(KUBEADM_KUBELET)
    assert cfg["cgroupDriver"] == "cgroupfs" and cfg["kind"] == "KubeletConfiguration"
    new = r.set_kubelet_config_driver(KUBEADM_KUBELET, "systemd")
    assert "cgroupDriver: systemd   # set by hand\n" in new
    before, after = yaml.safe_load(KUBEADM_KUBELET), yaml.safe_load(new)
    assert after == dict(before, cgroupDriver="systemd")
    assert r.set_kubelet_config_driver(new, "systemd") is new


@pytest.mark.parametrize("text, expect", [
    ("kind: KubeletConfiguration\n", "kind: KubeletConfiguration\ncgroupDriver: systemd\n"),
    ("kind: KubeletConfiguration", "kind: KubeletConfiguration\ncgroupDriver: systemd\n"),
    ("---\ncgroupDriver: 'cgroupfs'\n", "---\ncgroupDriver: systemd\n"),
    ('"cgroupDriver": "cgroupfs"\n', '"cgroupDriver": systemd\n'),
    ("", "cgroupDriver: systemd\n"),
])
def test_kubelet_config_cases(text, expect):
    new = r.set_kubelet_config_driver(text, "systemd")
    assert new == expect
    assert yaml.safe_load(new)["cgroupDriver"] == "systemd"


def test_kubelet_config_json():
    text = json.dumps({"kind": "KubeletConfiguration", "cgroupDriver": "cgroupfs", "maxPods": 10}, indent=2)
    new = r.set_kubelet_config_driver(text, "systemd")
    assert json.loads(new) == {"kind": "KubeletConfiguration", "cgroupDriver": "systemd", "maxPods": 10}


@pytest.mark.parametrize("text, words", [
    ("cgroupDriver: systemd\ncgroupDriver: cgroupfs\n", ["set twice", "line 2"]),
    ("cgroupDriver:\n  systemd\n", ["goes on over the next lines"]),
    ("cgroupDriver: [systemd]\n", ["cannot read the value"]),
    ("kind: A\n---\nkind: B\n", ["more than one YAML document"]),
    ("- just\n- a list\n", ["not a 'key: value' line"]),
    ("{not json", ["not valid JSON"]),
])
def test_kubelet_config_refusals(text, words):
    with pytest.raises(KubedebugError) as err:
        r.set_kubelet_config_driver(text, "systemd", "/var/lib/kubelet/config.yaml")
    for w in words:
        assert w in str(err.value)


SCALAR = st.one_of(st.text(alphabet="abc :#'\"-\\", max_size=6), st.integers(), st.booleans(), st.none())
VALUE = st.recursive(SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text("abcXY", min_size=1, max_size=4), c, max_size=3), max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(doc=st.dictionaries(st.text(alphabet="abcdXY", min_size=1, max_size=6).filter(lambda k: k != "cgroupDriver"), VALUE, max_size=5),
       driver=st.sampled_from([None, "systemd", "cgroupfs", "weird value: #x"]), flow=st.sampled_from([False, None]),
       want=st.sampled_from(r.DRIVERS))
def test_property_kubelet_yaml_agrees_with_pyyaml(doc, driver, flow, want):
    if driver is not None:
        doc = dict(doc, cgroupDriver=driver)
    text = yaml.safe_dump(doc, default_flow_style=flow, sort_keys=False)
    try:
        got = r.read_kubelet_config(text)
    except KubedebugError:
        return  # refusing is allowed; guessing is not
    assert got.get("cgroupDriver") == driver
    assert set(got) == set(doc)
    new = r.set_kubelet_config_driver(text, want)
    assert yaml.safe_load(new) == dict(doc, cgroupDriver=want)


# ---- flags ------------------------------------------------------------------

KUBEADM_FLAGS = 'KUBELET_KUBEADM_ARGS="--cgroup-driver=cgroupfs --network-plugin=cni --pod-infra-container-image=k8s.gcr.io/pause:3.2"\n'


def test_env_file_flag_read_and_set():
    env = r.read_env_file(KUBEADM_FLAGS)
    assert r.flag_values(env["KUBELET_KUBEADM_ARGS"], "cgroup-driver") == ["cgroupfs"]
    new = r.set_env_flag(KUBEADM_FLAGS, "cgroup-driver", "systemd")
    assert new == KUBEADM_FLAGS.replace("--cgroup-driver=cgroupfs", "--cgroup-driver=systemd")
    assert r.set_env_flag(new, "cgroup-driver", "systemd") is new
    # never added where it is not
    assert r.set_env_flag("KUBELET_EXTRA_ARGS=\n", "cgroup-driver", "systemd") == "KUBELET_EXTRA_ARGS=\n"
    # the two-word form is normalised
    assert r.set_env_flag("KUBELET_EXTRA_ARGS='--cgroup-driver cgroupfs --v=2'\n", "cgroup-driver", "systemd") == \
        'KUBELET_EXTRA_ARGS="--cgroup-driver=systemd --v=2"\n'


def test_env_file_refusals():
    with pytest.raises(KubedebugError) as err:
        r.read_env_file('A="--x=1\n', "/etc/default/kubelet")
    assert "cannot split A" in str(err.value)
    with pytest.raises(KubedebugError):
        r.set_env_flag('A="--cgroup-driver=x --label=a$b"\n', "cgroup-driver", "systemd")


@pytest.mark.parametrize("flags, config, version, docker, expect", [
    (["--container-runtime=remote", "--container-runtime-endpoint=unix:///run/containerd/containerd.sock"], {}, None, True, "containerd"),
    (["--container-runtime-endpoint", "unix:///var/run/crio/crio.sock"], {}, None, False, "crio"),
    ([], {"containerRuntimeEndpoint": "unix:///var/run/cri-dockerd.sock"}, (1, 28), True, "docker"),
    (["--container-runtime=docker"], {}, None, True, "docker"),
    ([], {}, (1, 20), True, "docker"),      # dockershim, the default before 1.24
    ([], {}, (1, 20), False, None),
    ([], {}, (1, 29), False, "containerd"),  # the built-in default endpoint
    ([], {}, None, False, None),
])
def test_kubelet_runtime(flags, config, version, docker, expect):
    assert r.kubelet_runtime(flags, config, version, docker) == expect


def test_parse_kubelet_version():
    assert r.parse_kubelet_version("Kubernetes v1.20.2\n") == (1, 20)
    assert r.parse_kubelet_version("") is None
