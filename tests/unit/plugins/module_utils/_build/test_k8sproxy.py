"""_k8sproxy: the pure parts of rebuilding a Kubernetes tree from the Go module proxy."""

import json
import os
import stat
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8sproxy as kp
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

GO_WORK = """// This is a generated file. Do not edit directly.

go 1.26.0

godebug default=go1.26

use (
\t.
\t./staging/src/k8s.io/api
\t./staging/src/k8s.io/apimachinery // a comment
\t./staging/src/k8s.io/sample-controller
)
"""

# The shape of k8s.io/apiserver@v0.37.2's go.mod as the proxy serves it (published form).
PUBLISHED_GO_MOD = """// This is a generated file. Do not edit directly.

module k8s.io/apiserver

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/google/uuid v1.6.0
\tk8s.io/api v0.37.2
\tk8s.io/apimachinery v0.37.2
\tk8s.io/klog/v2 v2.140.0
\tk8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad
)

require (
\tgithub.com/beorn7/perks v1.0.1 // indirect
\tk8s.io/component-base v0.37.2 // indirect
)
"""


@pytest.mark.parametrize("version,staging", [
    ("v1.37.2", "v0.37.2"),
    ("v1.33.13", "v0.33.13"),
    ("v1.38.0-beta.0", "v0.38.0-beta.0"),
    ("v1.30.0-rc.1", "v0.30.0-rc.1"),
])
def test_staging_version(version, staging):
    assert kp.staging_version(version) == staging


@pytest.mark.parametrize("bad", ["1.37.2", "v2.0.0", "v1.37", "latest", "", "v1.37.2-gke.1", None])
def test_parse_release_refuses_what_is_not_a_release(bad):
    with pytest.raises(KubedebugError) as e:
        kp.parse_release(bad)
    assert "v1.37.2" in str(e.value)  # the message shows the expected shape


def test_workspace_modules_and_staging_repos():
    assert kp.workspace_modules(GO_WORK) == [".", "./staging/src/k8s.io/api", "./staging/src/k8s.io/apimachinery",
                                             "./staging/src/k8s.io/sample-controller"]
    assert kp.staging_repos(GO_WORK) == ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/sample-controller"]
    assert kp.staging_repos("go 1.22\nuse ./staging/src/k8s.io/api\nuse .\n") == ["k8s.io/api"]
    assert kp.staging_repos("go 1.19\n") == []


def test_drop_from_go_work_drops_only_those_lines():
    out = kp.drop_from_go_work(GO_WORK, ["k8s.io/sample-controller"])
    assert kp.staging_repos(out) == ["k8s.io/api", "k8s.io/apimachinery"]
    assert out == GO_WORK.replace("\t./staging/src/k8s.io/sample-controller\n", "")


def test_in_tree_go_mod_rewrites_siblings_and_adds_replaces():
    siblings = {"k8s.io/api", "k8s.io/apimachinery", "k8s.io/component-base", "k8s.io/apiserver"}
    text, required = kp.in_tree_go_mod(PUBLISHED_GO_MOD, siblings, "v0.37.2")
    assert required == ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/component-base"]
    assert "\tk8s.io/api v0.0.0\n" in text and "\tk8s.io/apimachinery v0.0.0\n" in text
    assert "\tk8s.io/component-base v0.0.0 // indirect\n" in text
    # not siblings: untouched, pseudo-versions included
    assert "\tk8s.io/klog/v2 v2.140.0\n" in text and "k8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad" in text
    assert text.endswith("replace (\n\tk8s.io/api => ../api\n\tk8s.io/apimachinery => ../apimachinery\n"
                         "\tk8s.io/component-base => ../component-base\n)\n")
    # idempotent: a tree go.mod stays as it is
    again, req2 = kp.in_tree_go_mod(text, siblings, "v0.37.2")
    assert again == text and req2 == []


def test_in_tree_go_mod_keeps_existing_replaces_and_single_line_require():
    src = "module k8s.io/x\n\ngo 1.26.0\n\nrequire k8s.io/api v0.37.2\n\nreplace k8s.io/api => ../api\n"
    text, required = kp.in_tree_go_mod(src, {"k8s.io/api"}, "v0.37.2")
    assert required == ["k8s.io/api"]
    assert "require k8s.io/api v0.0.0\n" in text
    assert text.count("=> ../api") == 1


def test_in_tree_go_mod_leaves_other_versions_alone():
    # A sibling at another version is not the published form of this release: left for the go command to judge.
    text, required = kp.in_tree_go_mod("module k8s.io/x\n\nrequire (\n\tk8s.io/api v0.36.0\n)\n", {"k8s.io/api"}, "v0.37.2")
    assert required == [] and "k8s.io/api v0.36.0" in text


def test_in_tree_go_sum():
    src = ("github.com/google/uuid v1.6.0 h1:x=\n"
           "k8s.io/api v0.37.2 h1:a=\n"
           "k8s.io/api v0.37.2/go.mod h1:b=\n"
           "k8s.io/api v0.36.0/go.mod h1:c=\n"
           "k8s.io/klog/v2 v2.140.0 h1:d=\n")
    out = kp.in_tree_go_sum(src, {"k8s.io/api"}, "v0.37.2")
    assert out == "github.com/google/uuid v1.6.0 h1:x=\nk8s.io/api v0.36.0/go.mod h1:c=\nk8s.io/klog/v2 v2.140.0 h1:d=\n"


_mod_path = st.from_regex(r"\A[a-z]{2,8}\.(io|com|org)/[a-z][a-z0-9-]{0,12}\Z")
_version = st.from_regex(r"\Av[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}\Z")


@given(st.lists(st.tuples(_mod_path, _version, st.booleans()), min_size=1, max_size=12, unique_by=lambda t: t[0]),
       st.sets(st.sampled_from(["k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"])))
def test_in_tree_go_mod_properties(others, k8s):
    """Only sibling lines at the published version change; every other requirement is kept byte for byte."""
    lines = ["\t%s %s%s\n" % (p, v, " // indirect" if ind else "") for p, v, ind in others]
    lines += ["\t%s v0.37.2\n" % p for p in sorted(k8s)]
    src = "module k8s.io/x\n\ngo 1.26.0\n\nrequire (\n" + "".join(lines) + ")\n"
    text, required = kp.in_tree_go_mod(src, set(k8s), "v0.37.2")
    assert required == sorted(k8s)
    for p, v, ind in others:
        if p not in k8s:
            assert "\t%s %s%s\n" % (p, v, " // indirect" if ind else "") in text
    for p in k8s:
        assert "\t%s v0.0.0\n" % p in text and "\t%s => ../%s\n" % (p, p.split("/", 1)[1]) in text
    assert kp.in_tree_go_mod(text, set(k8s), "v0.37.2")[0] == text


def test_version_file_text_is_what_version_sh_reads():
    text = kp.version_file_text("v1.37.2")
    assert "KUBE_GIT_VERSION='v1.37.2'\n" in text and "KUBE_GIT_MAJOR='1'\n" in text and "KUBE_GIT_MINOR='37'\n" in text
    assert "KUBE_GIT_TREE_STATE='clean'\n" in text


def test_existing_tree(tmp_path):
    dest = tmp_path / "kubernetes-v1.37.2"
    assert kp.existing_tree(str(dest), "v1.37.2") == "absent"
    dest.mkdir()
    with pytest.raises(KubedebugError, match="never writes over"):
        kp.existing_tree(str(dest), "v1.37.2")
    (dest / kp.MARKER).write_text(json.dumps({"method": "goproxy", "complete": True, "version": "v1.37.2"}))
    assert kp.existing_tree(str(dest), "v1.37.2") == "ours"
    with pytest.raises(KubedebugError, match="not v1.36.3"):
        kp.existing_tree(str(dest), "v1.36.3")
    # an incomplete record is not ours
    (dest / kp.MARKER).write_text(json.dumps({"method": "goproxy", "version": "v1.37.2"}))
    with pytest.raises(KubedebugError):
        kp.existing_tree(str(dest), "v1.37.2")


def test_copy_module_tree_modes(tmp_path):
    src = tmp_path / "mod"
    (src / "hack" / "lib").mkdir(parents=True)
    (src / "hack" / "build.sh").write_text("#!/usr/bin/env bash\necho\n")
    (src / "hack" / "lib" / "util.go").write_text("package lib\n")
    (src / "README").write_text("#! not quite, but a shebang all the same\n")
    for p in (src / "hack" / "build.sh", src / "hack" / "lib" / "util.go", src / "README"):
        p.chmod(0o444)
    (src / "hack" / "lib").chmod(0o555)
    dst = tmp_path / "tree"
    kp.copy_module_tree(str(src), str(dst))

    def mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)
    assert mode(dst / "hack" / "build.sh") == 0o755
    assert mode(dst / "README") == 0o755
    assert mode(dst / "hack" / "lib" / "util.go") == 0o644
    assert mode(dst / "hack" / "lib") == 0o755
    (src / "hack" / "lib").chmod(0o755)


def test_vendoring_problems(tmp_path):
    assert kt.vendoring_problems(str(tmp_path)) == ["vendor/modules.txt is missing"]
    v = tmp_path / "vendor"
    (v / "github.com" / "a" / "b").mkdir(parents=True)
    (v / "github.com" / "a" / "b" / "b.go").write_text("package b\n")
    (v / "github.com" / "a" / "c").mkdir(parents=True)
    (v / "modules.txt").write_text("# github.com/a v1.0.0\n## explicit; go 1.20\ngithub.com/a/b\ngithub.com/a/c\ngithub.com/a/d\n"
                                   "# k8s.io/api v0.0.0 => ./staging/src/k8s.io/api\n## workspace\n")
    assert kt.vendoring_problems(str(tmp_path)) == ["vendor/github.com/a/c", "vendor/github.com/a/d"]


def test_tree_go_version(tmp_path):
    (tmp_path / "go.mod").write_text("module k8s.io/kubernetes\n\ngo 1.26.0\n")
    assert kp.tree_go_version(str(tmp_path)) == "1.26.0"
    (tmp_path / ".go-version").write_text("1.26.10\n")
    assert kp.tree_go_version(str(tmp_path)) == "1.26.10"


def _fake_go(d, version):
    d.mkdir()
    g = d / "go"
    g.write_text("#!/bin/sh\necho go version go%s linux/amd64\n" % version)
    g.chmod(0o755)
    return str(g)


def test_find_go_skips_a_go_that_cannot_switch_toolchains(tmp_path):
    old = _fake_go(tmp_path / "old", "1.19.8")
    new = _fake_go(tmp_path / "new", "1.26.10")
    assert kp.find_go(path_env=os.pathsep.join([os.path.dirname(old), os.path.dirname(new)]), candidates=()) == new
    assert kp.find_go(given="/x/go") == "/x/go"
    assert kp.find_go(path_env=str(tmp_path / "none"), candidates=()) is None


def _small_tree(root):
    (root / "hack").mkdir(parents=True)
    (root / "hack" / "x.sh").write_text("#!/bin/sh\necho x\n")
    (root / "hack" / "x.sh").chmod(0o755)
    (root / "go.mod").write_text("module k8s.io/kubernetes\n")
    (root / ".gitignore").write_text("/_output\n")
    (root / "_output").mkdir()
    (root / "_output" / "junk").write_text("build output\n")
    (root / kp.MARKER).write_text("{}\n")
    return str(root)


def test_commit_tree_is_a_clean_checkout_of_the_tag_and_deterministic(tmp_path, monkeypatch):
    # The user's own git configuration (signing, hooks) must not get in: it is not read.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[commit]\n\tgpgsign = true\n[user]\n\tname = Someone Else\n")
    monkeypatch.setenv("HOME", str(home))
    a = kp.commit_tree(_small_tree(tmp_path / "a"), "v1.37.2", "2026-10-27T12:01:04Z")
    b = kp.commit_tree(_small_tree(tmp_path / "b"), "v1.37.2", "2026-10-27T12:01:04Z")
    assert a and a == b  # the same files and release date give the same commit on every machine
    git = ["git", "-C", str(tmp_path / "a")]
    assert subprocess.run(git + ["describe", "--tags", "--exact-match"], capture_output=True, text=True, check=True).stdout.strip() == "v1.37.2"
    assert subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True, check=True).stdout == ""  # marker excluded
    files = subprocess.run(git + ["ls-files", "-s"], capture_output=True, text=True, check=True).stdout
    assert "100755" in [line.split()[0] for line in files.splitlines() if line.endswith("hack/x.sh")]
    assert "_output" not in files and kp.MARKER not in files
    body = subprocess.run(git + ["log", "--format=%an <%ae>%n%B"], capture_output=True, text=True, check=True).stdout
    assert body.startswith("kubedebug.lab <kubedebug@localhost>") and "Not the upstream commit" in body
    c = kp.commit_tree(_small_tree(tmp_path / "c"), "v1.37.2", "2026-10-28T00:00:00Z")
    assert c != a  # the date is part of it


def test_commit_tree_without_git(tmp_path):
    assert kp.commit_tree(_small_tree(tmp_path / "t"), "v1.37.2", "2026-10-27T12:01:04Z", base_env={"PATH": str(tmp_path)}) is None


def test_release_time(tmp_path):
    info = tmp_path / "v1.37.2.info"
    info.write_text('{"Version":"v1.37.2","Time":"2026-10-27T12:01:04Z"}')
    assert kp._release_time(str(info)) == "2026-10-27T12:01:04Z"
    assert kp._release_time(str(tmp_path / "none")) == "1970-01-01T00:00:00Z"
