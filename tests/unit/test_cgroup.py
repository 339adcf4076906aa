"""cgroup mode from statfs magic numbers, PID 1, and the driver verdict."""

import os

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _cgroup as c

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
