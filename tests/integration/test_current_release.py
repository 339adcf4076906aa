"""Issue 11 on the current release, for real: the tree rebuilt from the Go module
proxy, the Go it asks for and a Delve for that Go from the proxy, the debug
build with the tree's own `make ... DBG=1`, and the git method cloning a local
repository at the tag.

The release is the lab's default (inventories/local/group_vars/all.yml,
kubedebug_lab_version); `playbooks/k8s-debug-build.yml` against the local
inventory is exactly the build `make lab` does, so this file builds
kube-apiserver once for the whole CI run (test_lab_local and the Molecule
kubeadm scenario find it through the stamps). Order matters: pytest runs the
file top to bottom.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8sbuild_helpers import CACHE, REPO, run_playbook  # noqa: E402

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as di  # noqa: E402
from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf  # noqa: E402
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8sproxy as kp  # noqa: E402
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt  # noqa: E402
from tests.integration.conftest import playbook, recap_changed  # noqa: E402

with open(os.path.join(REPO, "inventories", "local", "group_vars", "all.yml")) as _f:
    LAB = yaml.safe_load(_f)
VERSION = LAB["kubedebug_lab_version"]
MINOR = VERSION.split(".")[1]
TREE = os.path.join(CACHE, "src", "kubernetes-" + VERSION)
STATE = os.path.join(CACHE, "build", VERSION)
VERSION_VARS = ("gitVersion", "gitMajor", "gitMinor", "gitTreeState", "gitCommit")


def stamp(component):
    with open(os.path.join(STATE, "stamps", component + ".json")) as f:
        return json.load(f)


def version_stamp(binary):
    """The -X values the tree's build linked into a binary (k8s.io/component-base/version)."""
    with _elf.ElfFile(binary) as elf:
        return {v: elf.go_string_var("k8s.io/component-base/version." + v) for v in VERSION_VARS}


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return str(tmp_path_factory.mktemp("current"))


@pytest.fixture(scope="module")
def built():
    """The lab's build of the current release: k8s_source goproxy, go toolchain, delve source, k8s_build."""
    rc, out = playbook("playbooks/k8s-debug-build.yml")
    return out


# --- the tree ----------------------------------------------------------------------------------------------------

def test_the_lab_default_is_a_current_release():
    minor = int(MINOR)
    assert VERSION.startswith("v1.") and minor >= 33
    assert LAB["k8s_source_method"].startswith("{{") and "goproxy" in LAB["k8s_source_method"]


def test_goproxy_tree_is_what_a_checkout_of_the_tag_holds(built):
    assert os.path.islink(os.path.join(TREE, "Makefile")) and os.readlink(os.path.join(TREE, "Makefile")) == "build/root/Makefile"
    marker = kp.read_marker(TREE)
    assert marker["method"] == "goproxy" and marker["complete"] and marker["version"] == VERSION
    assert marker["modules"]["k8s.io/kubernetes"]["sum"].startswith("h1:")
    with open(os.path.join(TREE, "go.work")) as f:
        repos = kp.staging_repos(f.read())
    assert "k8s.io/apiserver" in repos and "k8s.io/client-go" in repos
    assert set(marker["omitted_modules"]) <= set(kp.EXAMPLE_REPOS)
    for repo in repos:
        assert marker["modules"][repo]["version"] == kp.staging_version(VERSION)
        with open(os.path.join(TREE, "staging", "src", repo, "go.mod")) as f:
            gomod = f.read()
        assert "module %s\n" % repo in gomod
        # in-tree form: siblings at v0.0.0, replaced by ../<repo>; never the published v0.Y.Z
        assert kp.staging_version(VERSION) + "\n" not in gomod
        for sib in re.findall(r"^\t(k8s\.io/[a-z-]+) v0\.0\.0(?: //.*)?$", gomod, re.M):
            assert "\t%s => ../%s\n" % (sib, sib.split("/", 1)[1]) in gomod, (repo, sib)
    assert kt.vendoring_problems(TREE) == []
    assert os.access(os.path.join(TREE, "hack", "make-rules", "build.sh"), os.X_OK)
    assert not os.access(os.path.join(TREE, "go.mod"), os.X_OK)
    # A checkout of the tag: one commit (this tree's, and its message says it is not upstream's), tagged, clean.
    v = kt.tree_version(TREE)
    assert v["version"] == VERSION and v["source"] == "git" and v["dirty"] is False and v["commit"] == marker["git_commit"]
    log = subprocess.run(["git", "-C", TREE, "log", "--format=%an%n%B"], capture_output=True, text=True, check=True).stdout
    assert log.startswith("kubedebug.lab\n") and "Not the upstream commit" in log
    assert not os.path.exists(os.path.join(TREE, kt.VERSION_FILE))


def test_build_is_the_tree_own_dbg_build_and_verified(built):
    s = stamp("kube-apiserver")
    assert s["version"] == VERSION and s["mode"] == "dbg" and "DBG=1" in s["make_args"]
    assert s["debuggable"] and not s["stripped"] and s["dwarf_present"]
    assert s["unoptimized_share"] >= 0.95
    # The Go the tree asks for (.go-version), installed by the go role's toolchain method.
    with open(os.path.join(TREE, ".go-version")) as f:
        assert s["go_version"] == "go" + f.read().strip()
    # Workspace-mode trees record absolute paths into the tree, staging code under staging/src (no GOPATH layout).
    assert s["source_prefix"] == os.path.realpath(TREE)
    assert "_output/local/go/src" not in s["main_package_dir"]
    r = di.analyze(s["path"])
    assert r["debuggable"] and r["go_version"] == s["go_version"]
    with _elf.ElfFile(s["path"]) as elf:
        files = elf.section(".debug_line") is not None
    assert files
    out = subprocess.run([s["path"], "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "Kubernetes " + VERSION
    assert version_stamp(s["path"])["gitVersion"] == VERSION


def test_rerun_of_the_build_changes_nothing(built):
    rc, out = playbook("playbooks/k8s-debug-build.yml")
    assert recap_changed(out) == 0


# --- bad input -------------------------------------------------------------------------------------------------

def test_version_the_proxy_does_not_have_fails_before_anything_changes(work):
    dest = os.path.join(work, "kubernetes-v1.%s.99" % MINOR)
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "goproxy", "k8s_source_version": "v1.%s.99" % MINOR,
                                          "k8s_source_dir": dest})
    assert run.rc != 0
    assert "does not have k8s.io/kubernetes@v1.%s.99" % MINOR in run.out and VERSION in run.out  # the versions it has
    assert "Traceback" not in run.out
    assert not os.path.exists(dest) and not [n for n in os.listdir(work) if n.startswith(".kubernetes")]


def test_gosumdb_off_is_refused(work):
    dest = os.path.join(work, "kubernetes-nosumdb")
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "goproxy", "k8s_source_version": VERSION,
                                          "k8s_source_dir": dest, "k8s_source_gosumdb": "off"})
    assert run.rc != 0 and "would skip the checksum database" in run.out and "GOSUMDB=off" in run.out
    assert not os.path.exists(dest)


def test_a_directory_it_did_not_make_is_never_written_over(work):
    dest = os.path.join(work, "mine")
    os.makedirs(dest)
    with open(os.path.join(dest, "notes.txt"), "w") as f:
        f.write("my edits\n")
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "goproxy", "k8s_source_version": VERSION, "k8s_source_dir": dest})
    assert run.rc != 0 and "never writes over a directory it did not make" in run.out
    assert os.listdir(dest) == ["notes.txt"]


def test_check_mode_downloads_and_writes_nothing(work):
    dest = os.path.join(work, "kubernetes-check")
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "goproxy", "k8s_source_version": VERSION, "k8s_source_dir": dest},
                       args=["--check"])
    assert not os.path.exists(dest), run


def test_incomplete_vendoring_fails_before_the_build(built, work):
    """A copy of the tree (hard links: cheap) with one vendored package gone."""
    copy = os.path.join(work, "kubernetes-broken")
    subprocess.run(["cp", "-al", TREE, copy], check=True)
    shutil.rmtree(os.path.join(copy, "_output"), ignore_errors=True)
    victim = os.path.join(copy, "vendor", "github.com", "google", "uuid")
    shutil.rmtree(victim)
    state = os.path.join(work, "state-broken")
    s = stamp("kube-apiserver")
    run = run_playbook("k8s_build.yml", {"k8s_build_source_dir": copy, "k8s_build_components": ["kube-apiserver"],
                                         "k8s_build_state_dir": state, "k8s_build_go_bin": os.path.join(
                                             "/opt/kubedebug/go", s["go_version"].removeprefix("go"), "bin", "go"),
                                         "k8s_build_check_dlv": False})
    assert run.rc != 0
    assert "vendor/github.com/google/uuid" in run.out and "is incomplete" in run.out and "go work vendor" in run.out
    assert not os.path.exists(os.path.join(copy, "_output")) and not os.path.exists(os.path.join(state, "bin", "kube-apiserver"))


# --- the git method ----------------------------------------------------------------------------------------------

def test_git_method_clones_a_local_repository_at_the_tag_and_builds_the_same_version(built, work):
    """Users with GitHub access run the git method; here its remote is a local repository: the goproxy
    tree itself, which is a git checkout of its tag. kubectl built from the clone carries exactly the
    version stamp of the goproxy tree's kube-apiserver (commit included: it is the same commit)."""
    dest = os.path.join(work, "kubernetes-" + VERSION)
    v = {"k8s_source_method": "git", "k8s_source_version": VERSION, "k8s_source_git_repo": "file://" + TREE, "k8s_source_dir": dest}
    run = run_playbook("k8s_source.yml", v)
    assert run.rc == 0, run
    assert run.result["version"] == VERSION and run.result["version_source"] == "git" and run.result["is_git"]
    assert not os.path.exists(os.path.join(dest, kt.VERSION_FILE))  # a checkout's version comes from git describe
    assert os.path.islink(os.path.join(dest, "Makefile")) and kt.vendoring_problems(dest) == []
    s = stamp("kube-apiserver")
    state = os.path.join(work, "state-git")
    b = run_playbook("k8s_build.yml", {"k8s_build_source_dir": dest, "k8s_build_components": ["kubectl"],
                                       "k8s_build_state_dir": state, "k8s_build_check_dlv": False,
                                       "k8s_build_go_bin": os.path.join("/opt/kubedebug/go", s["go_version"].removeprefix("go"),
                                                                        "bin", "go")})
    assert b.rc == 0, b
    from_git = version_stamp(os.path.join(state, "bin", "kubectl"))
    from_proxy = version_stamp(s["path"])
    assert from_git == from_proxy
    assert from_git["gitVersion"] == VERSION and from_git["gitMajor"] == "1" and from_git["gitMinor"] == MINOR
    assert from_git["gitTreeState"] == "clean" and from_git["gitCommit"] == kp.read_marker(TREE)["git_commit"]
    again = run_playbook("k8s_source.yml", v)
    assert again.rc == 0 and again.changed == 0, again
