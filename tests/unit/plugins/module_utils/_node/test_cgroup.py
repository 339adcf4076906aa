"""cgroup mode from statfs magic numbers, PID 1, and the driver verdict."""

import os
import subprocess

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._node import cgroup as c

V2, TMPFS, V1 = c.CGROUP2_SUPER_MAGIC, c.TMPFS_MAGIC, c.CGROUP_SUPER_MAGIC


@pytest.mark.parametrize("root, unified, mode", [
    (V2, None, "unified"),        # cgroup v2 only (Debian 11+, Fedora 31+, Ubuntu 21.10+)
    (TMPFS, V2, "hybrid"),        # systemd's hybrid layout: v1 controllers + /sys/fs/cgroup/unified
    (TMPFS, None, "legacy"),      # v1 only: no unified directory
    (TMPFS, TMPFS, "legacy"),     # a unified directory that is not cgroup2 does not count
    (TMPFS, V1, "legacy"),
    (None, None, "unavailable"),  # no /sys/fs/cgroup at all
])
def test_mode_from_types(root, unified, mode):
    assert c.mode_from_types(root, unified) == mode


@pytest.mark.parametrize("types, mode, version", [
    ({"/x": V2}, "unified", 2),
    ({"/x": TMPFS, "/x/unified": V2}, "hybrid", 1),
    ({"/x": TMPFS}, "legacy", 1),
    ({}, "unavailable", None),
])
def test_detect_mode_with_injected_statfs(types, mode, version):
    calls = []

    def fake(path):
        calls.append(path)
        return types.get(path)

    got = c.detect_mode("/x", statfs=fake)
    assert got["mode"] == mode and got["version"] == version
    # unified: /x/unified is not looked at (containerd does the same)
    assert ("/x/unified" in calls) == (mode not in ("unified", "unavailable"))


def test_statfs_type_reads_real_magic_numbers():
    # /proc is procfs on every Linux: PROC_SUPER_MAGIC 0x9fa0
    assert c.statfs_type("/proc") == 0x9FA0
    assert c.statfs_type("/nonexistent/path") is None


def test_fs_name():
    assert c.fs_name(V2) == "cgroup2" and c.fs_name(TMPFS) == "tmpfs"
    assert c.fs_name(0xEF53) == "0xef53" and c.fs_name(None) is None


def test_pid1_and_processes_from_a_fake_proc(tmp_path):
    for pid, comm, argv in (("1", "systemd", ["/lib/systemd/systemd"]), ("42", "kubelet", ["/usr/bin/kubelet", "--config=/k.yaml"]),
                            ("43", "bash", ["bash"])):
        os.makedirs(tmp_path / pid)
        (tmp_path / pid / "comm").write_text(comm + "\n")
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir()
    assert c.pid1_name(str(tmp_path)) == "systemd"
    assert c.processes({"kubelet", "dockerd"}, str(tmp_path)) == {"kubelet": [["/usr/bin/kubelet", "--config=/k.yaml"]]}
    assert c.pid1_name(str(tmp_path / "nothing")) is None


def rt(driver, present=True, source="test"):
    return {"present": present, "driver": driver, "source": source}


def test_verdict_docker_cgroupfs_kubelet_systemd_on_hybrid():
    v = c.verdict("hybrid", True, {"docker": rt("cgroupfs"), "containerd": rt("cgroupfs")},
                  {"present": True, "driver": "systemd", "source": "config.yaml", "runtime": "docker"})
    assert v["consistent"] is False
    assert v["compared"] == ["docker", "kubelet"]
    assert v["recommended_driver"] == "cgroupfs"
    assert "disagree" in v["reason"] and "hybrid host" in v["reason"]


def test_verdict_unified_with_systemd_recommends_systemd_even_if_runtime_uses_cgroupfs():
    v = c.verdict("unified", True, {"containerd": rt("cgroupfs")},
                  {"present": True, "driver": "cgroupfs", "source": "flag", "runtime": "containerd"})
    assert v["consistent"] is True
    assert v["recommended_driver"] == "systemd"
    assert "cgroup v2" in v["reason"]


def test_verdict_unified_without_systemd_follows_runtime():
    v = c.verdict("unified", False, {"containerd": rt("cgroupfs")}, {"present": False})
    assert v["recommended_driver"] == "cgroupfs" and v["consistent"] is True
    assert "nothing to disagree with" in v["reason"]


def test_verdict_kubelet_runtime_unknown_uses_docker_first():
    v = c.verdict("legacy", False, {"docker": rt("systemd"), "containerd": rt("cgroupfs")},
                  {"present": True, "driver": "systemd", "source": "x", "runtime": None})
    assert v["primary_runtime"] == "docker" and v["consistent"] is True


def test_verdict_without_kubelet_compares_all_runtimes():
    v = c.verdict("legacy", False, {"docker": rt("systemd"), "containerd": rt("cgroupfs"), "crio": rt(None, False)}, {"present": False})
    assert v["consistent"] is False and v["compared"] == ["containerd", "docker"]


@pytest.mark.parametrize("pid1, expect", [(True, "systemd"), (False, "cgroupfs")])
def test_verdict_nothing_installed(pid1, expect):
    v = c.verdict("legacy", pid1, {}, {"present": False})
    assert v["consistent"] is True and v["recommended_driver"] == expect


# ---- gather_facts: the cgroup_facts module, with stand-in runtime binaries ----------------------------

class Host:
    """What NodeFacts uses of an AnsibleModule: real commands, binaries found only in ``bin_dir``."""

    def __init__(self, tmp_path, **params):
        self.bin_dir = tmp_path / "bin"
        self.bin_dir.mkdir(exist_ok=True)
        self.params = dict(cgroup_root="/sys/fs/cgroup", docker_daemon_json=str(tmp_path / "daemon.json"),
                           containerd_config=str(tmp_path / "config.toml"), crio_config=str(tmp_path / "crio.conf"),
                           kubelet_config=None, kubelet_flags_files=[str(tmp_path / "kubeadm-flags.env")])
        self.params.update(params)

    def tool(self, name, script):
        path = self.bin_dir / name
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)

    def get_bin_path(self, name, opt_dirs=()):
        path = self.bin_dir / name
        return str(path) if path.exists() else None

    def run_command(self, args):
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr


def test_facts_docker_not_answering_falls_back_to_daemon_json(tmp_path):
    host = Host(tmp_path)
    host.tool("docker", "echo 'Cannot connect to the Docker daemon' >&2; exit 1\n")
    (tmp_path / "daemon.json").write_text('{"exec-opts": ["native.cgroupdriver=systemd"]}\n')
    got = c.NodeFacts(host).docker("unified", True, {})
    assert got["present"] is True and got["running"] is False
    assert (got["driver"], got["source"]) == ("systemd", "%s (docker not answering)" % host.params["docker_daemon_json"])
    assert "Cannot connect" in got["error"]


def test_facts_dockerd_flag_wins_over_daemon_json_when_docker_is_silent(tmp_path):
    host = Host(tmp_path)
    host.tool("dockerd", "exit 0\n")
    (tmp_path / "daemon.json").write_text('{"exec-opts": ["native.cgroupdriver=systemd"]}\n')
    procs = {"dockerd": [["/usr/bin/dockerd", "--exec-opt", "native.cgroupdriver=cgroupfs"]]}
    got = c.NodeFacts(host).docker("legacy", False, procs)
    assert (got["driver"], got["configured_driver"]) == ("cgroupfs", "systemd")
    assert got["source"] == "dockerd --exec-opt (docker not answering)"


def test_facts_kubelet_flag_file_wins_over_its_config(tmp_path):
    host = Host(tmp_path, kubelet_config=str(tmp_path / "config.yaml"))
    (tmp_path / "config.yaml").write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n")
    flags = "--cgroup-driver=cgroupfs --container-runtime-endpoint=unix:///run/containerd/containerd.sock"
    (tmp_path / "kubeadm-flags.env").write_text('KUBELET_KUBEADM_ARGS="%s"\n' % flags)
    facts = c.NodeFacts(host)
    got = facts.kubelet({}, docker_present=False)
    assert (got["present"], got["running"], got["driver"], got["config_driver"]) == (True, False, "cgroupfs", "systemd")
    assert got["source"] == "--cgroup-driver (kubelet flag files)" and got["runtime"] == "containerd"
    assert facts.errors == []


def test_facts_running_kubelet_config_from_its_argv(tmp_path):
    (tmp_path / "k.yaml").write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\n")
    host = Host(tmp_path)
    got = c.NodeFacts(host).kubelet({"kubelet": [["kubelet", "--config", str(tmp_path / "k.yaml")]]}, docker_present=False)
    assert (got["running"], got["config_path"], got["driver"], got["source"]) == (True, str(tmp_path / "k.yaml"), "systemd", str(tmp_path / "k.yaml"))


def test_facts_unreadable_config_makes_the_verdict_unsure(tmp_path):
    host = Host(tmp_path)
    host.tool("containerd", "exit 1\n")
    (tmp_path / "config.toml").write_text("[plugins\n")
    facts = c.gather_facts(host)
    assert facts["runtimes"]["containerd"]["present"] is True and facts["runtimes"]["containerd"]["driver"] is None
    assert facts["consistent"] is False and any(host.params["containerd_config"] in e for e in facts["errors"])
    assert facts["reason"].startswith("Cannot tell, a config file is unreadable: ")
    assert facts["mode"] in c.MODES and facts["runtimes"]["crio"] == {"present": False, "driver": None, "source": None}
