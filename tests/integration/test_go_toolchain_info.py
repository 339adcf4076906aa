"""go_toolchain_info through real ansible-playbook runs on localhost.

Covers what the Molecule scenario does not: reading the version of the real
Go on this machine (go env GOVERSION), trees shaped like each Kubernetes
generation, and that bad input ends in one clear failure (no traceback).
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.toolchains import current_go, debian_go, go_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_module(tmp_path, args, check_mode=False):
    """Run kubedebug.lab.go_toolchain_info once (in check mode if asked); return (rc, task result)."""
    play = [
        {
            "name": "go_toolchain_info",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [{"name": "call", "kubedebug.lab.go_toolchain_info": args, "check_mode": check_mode}],
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return proc.returncode, result


def tree(tmp_path, files):
    root = tmp_path / "kubernetes"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return str(root)


def test_kubernetes_120_tree_and_newest_delve(tmp_path):
    k8s = tree(tmp_path, {"build/build-image/cross/VERSION": "v1.15.5-1\n", "go.mod": "module k8s.io/kubernetes\n\ngo 1.15\n"})
    rc, r = run_module(tmp_path, {"k8s_tree": k8s, "delve_releases": ["1.7.3", "1.9.1", "1.20.2", "1.22.1"]})
    assert rc == 0, r
    assert r["go_version"] == "1.15.5"
    assert r["go_version_source"] == os.path.join(k8s, "build/build-image/cross/VERSION")
    assert r["go_version_raw"] == "v1.15.5-1"
    assert (r["delve_version"], r["delve_go_min"], r["delve_go_max"]) == ("1.7.3", "1.15", "1.17")
    assert r["changed"] is False


def test_go_mod_language_version_takes_newest_known_patch(tmp_path):
    k8s = tree(tmp_path, {"go.mod": "module k8s.io/kubernetes\n\ngo 1.19\n"})
    rc, r = run_module(tmp_path, {"k8s_tree": k8s, "go_releases": ["1.15.5", "1.19.8", "1.19.13"]})
    assert rc == 0, r
    assert r["go_version"] == "1.19.13"
    assert "newest known 1.19.x" in r["go_version_source"]


def test_version_of_the_real_go_on_this_machine(tmp_path):
    """Debian's Go 1.19 (the package method's go_bin) pairs with Debian's Delve 1.20.2."""
    go = debian_go()
    expected = go_env(go, "GOVERSION").removeprefix("go")
    rc, r = run_module(tmp_path, {"go_bin": go, "delve_version": "1.20.2"})
    assert rc == 0, r
    assert r["go_version"] == expected and expected.startswith("1.19.")
    assert r["go_version_source"] == "go_bin %s" % go
    assert r["delve_version_source"] == "delve_version"


def test_current_go_on_this_machine_is_refused_for_delve_1_20(tmp_path):
    """The machine's current Go is read from the binary too; Debian's Delve 1.20.2 cannot debug what it builds."""
    go = current_go()
    version = go_env(go, "GOVERSION").removeprefix("go")
    rc, r = run_module(tmp_path, {"go_bin": go, "delve_version": "1.20.2"})
    assert rc != 0
    assert "Delve 1.20.2 is too old for Go %s" % version in r["msg"] and "1.18 to 1.20" in r["msg"], r


@pytest.mark.parametrize(
    "args, words",
    [
        ({"go_version": "1.22.1", "delve_version": "1.20.2"}, ["Delve 1.20.2 is too old for Go 1.22.1", "1.18 to 1.20", "delve_version"]),
        ({"go_version": "1.15.5", "delve_version": "1.24.1"}, ["Go 1.15.5 is too old for Delve 1.24.1", "1.21 to 1.24"]),
        ({"go_version": "latest"}, ["'latest' is not a Go version", "1.19.8"]),
        ({"go_version": "1.19.8", "delve_version": "1.21.0"}, ["No supported Go range is known for Delve 1.21.0", "delve_go_compat"]),
        ({"go_version": "1.12.17", "delve_releases": ["1.20.2", "1.7.3"]}, ["None of the Delve releases 1.20.2, 1.7.3 supports Go 1.12.17"]),
        ({"go_bin": "/nonexistent/bin/go"}, ["go_bin /nonexistent/bin/go does not exist", "kubedebug.lab.go"]),
    ],
)
def test_bad_input_fails_clearly(tmp_path, args, words):
    rc, r = run_module(tmp_path, args)
    assert rc != 0
    assert r.get("failed") is True
    for w in words:
        assert w in r["msg"], r["msg"]


def test_missing_tree(tmp_path):
    rc, r = run_module(tmp_path, {"k8s_tree": str(tmp_path / "nope")})
    assert rc != 0
    assert "is not a directory" in r["msg"] and "go_k8s_tree" in r["msg"]


def test_extra_compat_rows_admit_a_newer_delve(tmp_path):
    rc, r = run_module(
        tmp_path,
        {"go_version": "1.28.0", "delve_version": "1.28.1", "delve_go_compat": [{"delve": "1.28.*", "go_min": "1.26", "go_max": "1.28"}]},
    )
    assert rc == 0, r
    assert (r["delve_go_min"], r["delve_go_max"]) == ("1.26", "1.28")


def test_missing_builder_go_in_check_mode_is_left_to_the_real_run(tmp_path):
    """molecule/install's check.yml: the go role has not installed the builder yet, so only the real run can read it."""
    args = {"go_version": "1.26.10", "delve_version": "1.27.2", "build_go_bin": str(tmp_path / "go" / "bin" / "go"),
            "delve_build_go_min": {"1.27.2": "1.25.0"}}
    rc, r = run_module(tmp_path, args, check_mode=True)
    assert rc == 0, r
    assert r["delve_version"] == "1.27.2" and "build_go_version" not in r
    assert any("is not there (check mode" in w for w in r.get("warnings", [])), r
    rc, r = run_module(tmp_path, args)
    assert rc != 0 and "does not exist" in r["msg"], r
