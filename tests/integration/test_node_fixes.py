"""Node fixes against the real thing: the cgroup mode of this host and of
containers (real statfs calls), the file-editing modules on real files (checked
by containerd's own parser), and bad input refused with the files untouched.

Modules run through `ansible` (the way users run them), results read with the
json callback."""

import hashlib
import json
import os
import secrets
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_module(module, args, check=False, diff=False, host="localhost", connection="local"):
    """Run one module with ad-hoc `ansible`; return its result dict."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER="auto_silent", ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    cmd = ["ansible", host, "-i", host + ",", "-c", connection, "-m", "kubedebug.lab." + module]
    if args:
        cmd += ["-a", json.dumps(args)]
    if connection == "local":  # the controller's Python (interpreter discovery may find a broken pyenv shim)
        cmd += ["-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("no JSON from ansible (rc %d): %s %s" % (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])) from None
    return out["plays"][0]["tasks"][0]["hosts"][host]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def mode_from_stat(types):
    """The mode from `stat -f -c %T` names, independently of the module's magic numbers."""
    if not types or types[0] == "":
        return "unavailable"
    if types[0] == "cgroup2fs":
        return "unified"
    return "hybrid" if len(types) > 1 and types[1] == "cgroup2fs" else "legacy"


def stat_types(prefix=()):
    proc = subprocess.run(list(prefix) + ["stat", "-f", "-c", "%T", "/sys/fs/cgroup", "/sys/fs/cgroup/unified"],
                          capture_output=True, text=True, check=False)
    lines = proc.stdout.splitlines()
    return lines if proc.returncode == 0 else lines[:1]


# ---- cgroup mode ------------------------------------------------------------

def test_cgroup_facts_on_this_host():
    facts = run_module("cgroup_facts", {})["ansible_facts"]["kubedebug_cgroup"]
    expected = mode_from_stat(stat_types())
    print("this host's cgroup mode: %s (%s)" % (facts["mode"], facts["fs_types"]))
    assert facts["mode"] == expected
    assert facts["fs_types"]["/sys/fs/cgroup"] in ("tmpfs", "cgroup2")
    assert facts["recommended_driver"] in ("systemd", "cgroupfs") and facts["reason"]


@pytest.fixture(scope="module")
def docker_image():
    for script in ("dockerd.sh", "systemd-image.sh"):
        subprocess.run([os.path.join(ROOT, "hack", script)], check=True)
    return "local/debian-systemd:bookworm"


# Three mount layouts, three modes, one image: what docker gives a container on
# this host, the host's own tree bind-mounted, and only the cgroup2 tree.
LAYOUTS = {
    "docker-default": [],
    "host-tree": ["--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro"],
    "v2-only": ["-v", "/sys/fs/cgroup/unified:/sys/fs/cgroup:ro"],
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_cgroup_facts_in_a_container_reports_its_mounts(docker_image, layout):
    if layout == "v2-only" and not os.path.isdir("/sys/fs/cgroup/unified"):
        pytest.skip("no /sys/fs/cgroup/unified on this host")
    name = "kd-i6-cgroup-%s-%s" % (layout, secrets.token_hex(3))
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name] + LAYOUTS[layout] + [docker_image, "sleep", "600"],
                   check=True, capture_output=True)
    try:
        expected = mode_from_stat(stat_types(["docker", "exec", name]))
        facts = run_module("cgroup_facts", {}, host=name, connection="community.docker.docker")["ansible_facts"]["kubedebug_cgroup"]
        print("%s: %s %s" % (layout, facts["mode"], facts["fs_types"]))
        assert facts["mode"] == expected
        if layout == "v2-only":
            assert facts["mode"] == "unified"
        assert facts["systemd_pid1"] is False and facts["pid1"] == "sleep"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


# ---- the file modules on real files ------------------------------------------

DAEMON_JSON = '{\n  "log-driver": "json-file",\n  "exec-opts": ["native.cgroupdriver=cgroupfs"],\n  "data-root": "/srv/docker"\n}\n'

DEBIAN_CONTAINERD = '''version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
'''


def backups(path):
    d, base = os.path.split(str(path))
    return sorted(f for f in os.listdir(d) if f.startswith(base + ".") and f.endswith("~"))


def test_docker_daemon_json_check_diff_apply_idempotent(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(DAEMON_JSON)
    before = digest(path)
    res = run_module("docker_daemon_json", {"path": str(path), "cgroup_driver": "systemd"}, check=True, diff=True)
    assert res["changed"] and "native.cgroupdriver=systemd" in res["diff"]["after"]
    assert digest(path) == before and backups(path) == []  # check mode wrote nothing
    res = run_module("docker_daemon_json", {"path": str(path), "cgroup_driver": "systemd"})
    assert res["changed"] and res["previous_driver"] == "cgroupfs"
    assert json.loads(path.read_text()) == {"log-driver": "json-file", "exec-opts": ["native.cgroupdriver=systemd"], "data-root": "/srv/docker"}
    assert len(backups(path)) == 1 and (tmp_path / backups(path)[0]).read_text() == DAEMON_JSON
    assert run_module("docker_daemon_json", {"path": str(path), "cgroup_driver": "systemd"})["changed"] is False


@pytest.mark.skipif(not shutil.which("containerd"), reason="containerd is not installed")
def test_containerd_config_edit_is_what_containerd_reads(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(DEBIAN_CONTAINERD)
    res = run_module("containerd_config", {"path": str(path), "cgroup_driver": "systemd"}, diff=True)
    assert res["changed"] and res["previous_driver"] == "cgroupfs" and res["cgroup_driver"] == "systemd"
    assert res["key"][-1] == "SystemdCgroup" and res["runtime"] == "runc" and len(backups(path)) == 1
    # containerd itself parses the result: the runc runtime keeps its type and gets SystemdCgroup
    dump = subprocess.run(["containerd", "--config", str(path), "config", "dump"], capture_output=True, text=True, check=True).stdout
    import tomllib
    runc = tomllib.loads(dump)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2" and runc["options"]["SystemdCgroup"] is True
    assert tomllib.loads(dump)["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"] == "/usr/lib/cni"
    assert run_module("containerd_config", {"path": str(path), "cgroup_driver": "systemd"})["changed"] is False


def test_kubelet_config_and_flags_file(tmp_path):
    cfg, flags = tmp_path / "config.yaml", tmp_path / "kubeadm-flags.env"
    cfg.write_text("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\nclusterDNS:\n- 10.96.0.10\n")
    flags.write_text('KUBELET_KUBEADM_ARGS="--cgroup-driver=systemd --network-plugin=cni"\n')
    args = {"path": str(cfg), "flags_files": [str(flags), str(tmp_path / "missing")], "cgroup_driver": "cgroupfs"}
    res = run_module("kubelet_config", args, diff=True)
    assert res["changed"] and res["previous_driver"] == "systemd" and len(res["diff"]) == 2
    assert "cgroupDriver: cgroupfs\n" in cfg.read_text() and "- 10.96.0.10" in cfg.read_text()
    assert flags.read_text() == 'KUBELET_KUBEADM_ARGS="--cgroup-driver=cgroupfs --network-plugin=cni"\n'
    assert len(backups(cfg)) == 1 and len(backups(flags)) == 1
    assert run_module("kubelet_config", args)["changed"] is False


# ---- bad input: clear failure, nothing touched ------------------------------

@pytest.mark.parametrize("module, name, text, words", [
    ("docker_daemon_json", "daemon.json", '{"exec-opts": ["native.cgroupdriver=cgroupfs"],,}', ["is not valid JSON", "line 1", "nothing was changed"]),
    ("containerd_config", "config.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"\n", ["is not valid TOML", "line 2", "nothing was changed"]),
    ("kubelet_config", "config.yaml", "cgroupDriver:\n  systemd\n", ["goes on over the next lines", "nothing was changed"]),
])
def test_unparseable_files_are_refused_and_untouched(tmp_path, module, name, text, words):
    path = tmp_path / name
    path.write_text(text)
    before, listing = digest(path), sorted(os.listdir(tmp_path))
    res = run_module(module, {"path": str(path), "cgroup_driver": "systemd", "flags_files": []} if module == "kubelet_config"
                     else {"path": str(path), "cgroup_driver": "systemd"})
    assert res.get("failed") is True and res["changed"] is False
    assert str(path) in res["msg"]
    for w in words:
        assert w in res["msg"]
    assert "Traceback" not in json.dumps(res)
    assert digest(path) == before and sorted(os.listdir(tmp_path)) == listing


@pytest.mark.parametrize("source, words", [
    ("192.0.2.10", ["is not a CIDR (no /prefix)", "192.0.2.10/32"]),
    ("10.0.0.1/8", ["host bits set", "10.0.0.0/8"]),
    ("everyone", ["is not a CIDR"]),
])
def test_firewall_bad_source_refused_before_anything(tmp_path, source, words):
    state = tmp_path / "rules.json"
    res = run_module("firewall_ports", {"sources": ["192.0.2.0/24", source], "ports": ["2345"], "state_file": str(state)})
    assert res.get("failed") is True and res["changed"] is False
    for w in words:
        assert w in res["msg"]
    assert not state.exists()


@pytest.mark.parametrize("backend, binary", [("firewalld", "firewall-cmd"), ("ufw", "ufw")])
def test_firewall_missing_backend_is_named(tmp_path, backend, binary):
    if shutil.which(binary) or os.path.exists("/usr/sbin/" + binary):
        pytest.skip("%s is installed here" % binary)
    state = tmp_path / "rules.json"
    res = run_module("firewall_ports", {"sources": ["192.0.2.0/24"], "ports": ["2345"], "backend": backend, "state_file": str(state)})
    assert res.get("failed") is True
    assert "The firewall backend %s is not installed (no %s found)" % (backend, binary) in res["msg"]
    assert not state.exists()


def test_firewall_no_sources_opens_nothing_and_needs_no_backend(tmp_path):
    res = run_module("firewall_ports", {"sources": [], "ports": ["2345"], "backend": "firewalld", "state_file": str(tmp_path / "r.json")})
    assert res["changed"] is False and "tunnel to dlv over SSH" in res["msg"]
