"""playbooks/lab.yml's build-host play, for real, on this machine.

The node plays (prereqs, cgroup driver, firewall) change a host and run in
Molecule (molecule/default). Here the inventory has a build host only, so
lab.yml runs exactly the toolchain + k8s_source + k8s_build path: Debian's
Go and Delve packages, Debian's v1.20.2 tree, the kube-apiserver built by
test_k8s_build.py (same state dir, so the build is a stamp no-op when that
test ran first; a cold build otherwise).
"""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8sbuild_helpers import CACHE, REPO  # noqa: E402

from tests.integration.conftest import recap_changed  # noqa: E402

STATE = os.path.join(CACHE, "test-build")
HOST = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
VARS = {"k8s_source_method": "debian", "go_install_method": "package", "delve_install_method": "package",
        "kubedebug_lab_build_components": ["kube-apiserver"], "k8s_build_state_dir": STATE,
        "k8s_build_poll_interval": 20}


def lab(tmp_path, build_hosts, extra=None):
    inv = {"all": {"children": {"kubedebug_build": {"hosts": {h: HOST for h in build_hosts}},
                                "kubedebug_control_plane": {"hosts": {}}, "kubedebug_workers": {"hosts": {}}}}}
    (tmp_path / "inv.json").write_text(json.dumps(inv))
    (tmp_path / "vars.json").write_text(json.dumps(dict(VARS, **(extra or {}))))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(["ansible-playbook", "-i", str(tmp_path / "inv.json"), "playbooks/lab.yml",
                           "-e", "@" + str(tmp_path / "vars.json")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=5400, check=False)


def test_build_host_builds_once_and_names_what_it_distributes(tmp_path):
    first = lab(tmp_path, ["buildhost"])
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr
    # The build host's play: the toolchain, the tree, the verified debug build.
    assert "Lab | debug build of kube-apiserver" in first.stdout
    assert "Binaries to distribute from %s/bin: kube-apiserver" % STATE in first.stdout
    binary = os.path.join(STATE, "bin", "kube-apiserver")
    assert os.access(binary, os.X_OK)
    second = lab(tmp_path, ["buildhost"])
    assert second.returncode == 0, second.stdout[-5000:]
    assert recap_changed(second.stdout, "buildhost") == 0, second.stdout[-5000:]


@pytest.mark.parametrize("hosts", [["b1", "b2"]])
def test_more_than_one_build_host_is_refused_before_anything_runs(tmp_path, hosts):
    run = lab(tmp_path, hosts, {"kubedebug_lab_build_components": ["kube-apiserver"]})
    assert run.returncode != 0
    assert "needs exactly one host in kubedebug_build (found 2)" in run.stdout
    assert "Lab | Kubernetes source" not in run.stdout.split("exactly one host")[0]
