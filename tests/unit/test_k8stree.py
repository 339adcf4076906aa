"""_k8stree on small fixture trees shaped like the Kubernetes releases that matter.

The golang.sh fragments below are written for these tests: they keep only the
lines that decide a debug build (how DBG, GOLDFLAGS and -trimpath are handled)
in the shapes Kubernetes used over time. The real v1.20.2 tree is checked in
tests/integration/test_k8s_build.py.
"""

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _k8stree as kt
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

REFLECT2_DEBIAN = "/usr/share/gocode/src/github.com/modern-go/reflect2"

# v1.20 shape: ${GOLDFLAGS=-s -w} default, compiler -trimpath=${KUBE_ROOT}, GOPATH symlink, no DBG.
GOLANG_V120 = r'''
readonly KUBE_GOPATH="${KUBE_OUTPUT}/go"
kube::golang::create_gopath_tree() { :; }
kube::golang::verify_go_version() {
  local minimum_go_version
  minimum_go_version=go1.15.0
}
kube::golang::build_binaries() {
    # If GOLDFLAGS is unset, then set it to the a default of "-s -w".
    goldflags="${GOLDFLAGS=-s -w -buildid=} $(kube::version::ldflags)"
    goasmflags="-trimpath=${KUBE_ROOT}"
    gogcflags="${GOGCFLAGS:-} -trimpath=${KUBE_ROOT}"
}
'''

# Older shape: -s -w always appended, GOLDFLAGS cannot remove it.
GOLANG_HARDCODED = r'''
kube::golang::build_binaries() {
    goldflags="${GOLDFLAGS:-} -s -w $(kube::version::ldflags)"
    goasmflags="-trimpath=${KUBE_ROOT}"
    gogcflags="${GOGCFLAGS:-} -trimpath=${KUBE_ROOT}"
}
'''

# v1.24 shape: DBG=1 adds all=-N -l; otherwise -s -w and go's -trimpath.
GOLANG_DBG_ELSE = r'''
kube::golang::build_binaries() {
  local minimum_go_version
  minimum_go_version=go1.18.0
  goflags=()
  gogcflags="${GOGCFLAGS:-}"
  goldflags="all=$(kube::version::ldflags) ${GOLDFLAGS:-}"
  if [[ "${DBG:-}" == 1 ]]; then
      # Debugging - disable optimizations and inlining
      gogcflags="${gogcflags} all=-N -l"
  else
      # Not debugging - disable symbols and DWARF, trim embedded paths
      goldflags="${goldflags} -s -w"
      goflags+=("-trimpath")
  fi
}
'''

# Later shape: paths trimmed for everybody, the DBG branch assigns the flags afresh.
GOLANG_DBG_RESET = r'''
kube::golang::build_binaries() {
    local trimroot
    trimroot=$(pwd)
    goasmflags="all=-trimpath=${trimroot}"
    gogcflags="all=-trimpath=${trimroot} ${GOGCFLAGS:-}"
    if [[ "${DBG:-}" == 1 ]]; then
        gogcflags="${GOGCFLAGS:-} all=-N -l"
        goasmflags=""
    fi
    goldflags="all=$(kube::version::ldflags) ${GOLDFLAGS:-}"
    if [[ "${DBG:-}" != 1 ]]; then
        goldflags="${goldflags} -s -w"
    fi
    if [[ -n "${FORCE_HOST_GO:-}" ]]; then :; fi
}
'''

# A locally edited tree: DBG appends to flags that are already trimmed.
GOLANG_DBG_KEEPS_TRIM = r'''
kube::golang::build_binaries() {
    gogcflags="all=-trimpath=${trimroot} ${GOGCFLAGS:-}"
    if [[ "${DBG:-}" == 1 ]]; then
        gogcflags="${gogcflags} -N -l"
    fi
    goldflags="all=$(kube::version::ldflags) ${GOLDFLAGS:-}"
    if [[ "${DBG:-}" != 1 ]]; then
        goldflags="${goldflags} -s -w"
    fi
}
'''

VERSION_SH_ARCHIVE = r'''
kube::version::get_version_vars() {
  if [[ '%' == "%" ]]; then
    KUBE_GIT_COMMIT='faecb196815e248d3ecfb03c680a4507229c2a56'
    KUBE_GIT_TREE_STATE="archive"
    if [[ 'tag: v1.20.2' =~ tag:\ (v[^ ,]+) ]]; then
     KUBE_GIT_VERSION="${BASH_REMATCH[1]}"
    fi
  fi
}
'''

VERSION_SH_UNEXPORTED = r'''
  if [[ '$Format:%%$' == "%" ]]; then
    KUBE_GIT_COMMIT='$Format:%H$'
  fi
'''


def make_tree(root, golang_sh=GOLANG_V120, go_mod="1.15", version_sh=VERSION_SH_ARCHIVE, reflect2="v1.0.1",
              components=("kube-apiserver", "kubelet", "kubectl"), makefile=True, extra=None):
    os.makedirs(os.path.join(root, "hack/lib"), exist_ok=True)
    if makefile:
        os.makedirs(os.path.join(root, "build/root"), exist_ok=True)
        with open(os.path.join(root, "build/root/Makefile"), "w") as f:
            f.write("all:\n\thack/make-rules/build.sh $(WHAT)\n")
        os.symlink("build/root/Makefile", os.path.join(root, "Makefile"))
    if golang_sh is not None:
        with open(os.path.join(root, "hack/lib/golang.sh"), "w") as f:
            f.write(golang_sh)
    if version_sh is not None:
        with open(os.path.join(root, "hack/lib/version.sh"), "w") as f:
            f.write(version_sh)
    if go_mod:
        with open(os.path.join(root, "go.mod"), "w") as f:
            f.write("module k8s.io/kubernetes\n\ngo %s\n\nrequire (\n\tgithub.com/modern-go/reflect2 %s\n)\n" % (go_mod, reflect2 or "v1.0.2"))
    for c in components:
        os.makedirs(os.path.join(root, "cmd", c), exist_ok=True)
        with open(os.path.join(root, "cmd", c, "main.go"), "w") as f:
            f.write("package main\n\nfunc main() {}\n")
    if reflect2:
        vdir = os.path.join(root, kt.REFLECT2_VENDOR_DIR)
        os.makedirs(vdir, exist_ok=True)
        for n in ("reflect2.go", "go_above_17.go", "go_below_19.go", "reflect2_amd64.s", "BUILD"):
            with open(os.path.join(vdir, n), "w") as f:
                f.write("// old %s\npackage reflect2\n" % n)
        with open(os.path.join(root, "vendor/modules.txt"), "w") as f:
            f.write("# github.com/modern-go/concurrent v0.0.0-2018\ngithub.com/modern-go/concurrent\n"
                    "# github.com/modern-go/reflect2 %s => github.com/modern-go/reflect2 %s\ngithub.com/modern-go/reflect2\n"
                    "# github.com/modern-go/reflect2 => github.com/modern-go/reflect2 %s\n" % (reflect2, reflect2, reflect2))
        cdir = os.path.join(root, "vendor/github.com/modern-go/concurrent")
        os.makedirs(cdir, exist_ok=True)
        with open(os.path.join(cdir, "map.go"), "w") as f:
            f.write("package concurrent\n")
    else:
        os.makedirs(os.path.join(root, "vendor"), exist_ok=True)
        with open(os.path.join(root, "vendor/modules.txt"), "w") as f:
            f.write("# nothing vendored\n")
    for rel, text in (extra or {}).items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
    return str(root)


@pytest.fixture
def tree120(tmp_path):
    return make_tree(tmp_path / "kubernetes-1.20.2", extra={"build/build-image/cross/VERSION": "v1.15.5-1\n"})


@pytest.fixture
def replacement(tmp_path):
    """reflect2 1.0.2 sources: Debian's package when installed (CI installs it), else a small stand-in."""
    if os.path.isdir(REFLECT2_DEBIAN):
        return REFLECT2_DEBIAN
    d = tmp_path / "reflect2-1.0.2"
    d.mkdir()
    for n in ("reflect2.go", "go_above_118.go", "go_below_118.go", "reflect2_amd64.s", "reflect2_test.go"):
        (d / n).write_text("// new %s\npackage reflect2\n" % n)
    return str(d)


# --- features -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script,expect", [
    (GOLANG_V120, {"dbg": False, "strip_flags": "overridable", "trimpath": "kube_root", "gopath_symlink": True,
                   "minimum_go": (1, 15, 0), "force_host_go": False}),
    (GOLANG_HARDCODED, {"dbg": False, "strip_flags": "hardcoded", "trimpath": "kube_root", "gopath_symlink": False}),
    (GOLANG_DBG_ELSE, {"dbg": True, "strip_flags": "dbg", "trimpath": "other", "trimpath_under_dbg": False,
                       "minimum_go": (1, 18, 0)}),
    (GOLANG_DBG_RESET, {"dbg": True, "strip_flags": "dbg", "trimpath": "other", "trimpath_under_dbg": False,
                        "force_host_go": True}),
    (GOLANG_DBG_KEEPS_TRIM, {"dbg": True, "strip_flags": "dbg", "trimpath": "other", "trimpath_under_dbg": True}),
    ("", {"dbg": False, "strip_flags": "none", "trimpath": "none"}),
])
def test_build_features(script, expect):
    feats = kt.build_features(script)
    for k, v in expect.items():
        assert feats[k] == v, (k, feats)


def test_comments_do_not_count():
    script = '# make DBG=1 is nice\n# goldflags="${GOLDFLAGS:-} -s -w"\ngoldflags="${GOLDFLAGS:-}"\n'
    feats = kt.build_features(script)
    assert feats["dbg"] is False and feats["strip_flags"] == "none"


# --- versions -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("v1.20.2", (1, 20, 2)), ("1.20", (1, 20, 0)), ("1.20.5+really1.20.2", (1, 20, 2)),
    ("v1.30.0-rc.1", (1, 30, 0)), ("v1.28.3+k3s1", (1, 28, 3)), ("garbage", None), ("", None), (None, None),
])
def test_parse_version(text, want):
    assert kt.parse_version(text) == want


@pytest.mark.parametrize("text,want", [
    ("go version go1.19.8 linux/amd64", (1, 19, 8)), ("go version go1.22 linux/arm64", (1, 22, 0)),
    ("go1.21rc2", (1, 21, 0)), ("1.19.8", (1, 19, 8)), ("nope", None),
])
def test_parse_go_version(text, want):
    assert kt.parse_go_version(text) == want


def test_version_from_git_archive_values(tree120):
    v = kt.tree_version(tree120)
    assert v == {"version": "v1.20.2", "commit": "faecb196815e248d3ecfb03c680a4507229c2a56",
                 "source": "hack/lib/version.sh", "dirty": None}


def test_version_from_debian_name(tmp_path):
    root = make_tree(tmp_path / "t", version_sh=VERSION_SH_UNEXPORTED)
    assert kt.tree_version(root)["version"] is None
    v = kt.tree_version(root, "kubernetes_1.20.5+really1.20.2.orig.tar.gz")
    assert v["version"] == "v1.20.2" and v["source"].startswith("name:")
    root2 = make_tree(tmp_path / "kubernetes-1.19.7", version_sh=None)
    assert kt.tree_version(root2)["version"] == "v1.19.7"


def test_version_file_wins(tree120):
    with open(os.path.join(tree120, kt.VERSION_FILE), "w") as f:
        f.write("KUBE_GIT_VERSION='v1.20.2-kubedebug'\nKUBE_GIT_COMMIT='abc'\n")
    v = kt.tree_version(tree120)
    assert v["version"] == "v1.20.2-kubedebug" and v["source"] == kt.VERSION_FILE


def test_version_from_git_checkout(tmp_path):
    root = make_tree(tmp_path / "k", version_sh=VERSION_SH_UNEXPORTED)
    git = ["git", "-C", root, "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    subprocess.run(git + ["tag", "v1.99.1"], check=True)
    v = kt.tree_version(root)
    assert v["version"] == "v1.99.1" and v["source"] == "git" and v["dirty"] is False and len(v["commit"]) == 40
    with open(os.path.join(root, "go.mod"), "a") as f:
        f.write("// edit\n")
    assert kt.tree_version(root)["dirty"] is True


def test_go_bounds(tmp_path):
    extra = {".go-version": "1.22.5\n", "build/build-image/cross/VERSION": "v1.30.0-go1.22.5-bullseye.0\n"}
    root = make_tree(tmp_path / "t", go_mod="1.22.0", extra=extra)
    b = kt.go_bounds(root, kt.build_features(GOLANG_DBG_ELSE))
    assert b["go_mod"] == (1, 22, 0) and b["script_minimum"] == (1, 18, 0)
    assert b["minimum"] == (1, 22, 0) and b["recommended"] == (1, 22, 5) and b["cross_version"] == (1, 22, 5)


def test_inspect_v120(tree120):
    t = kt.inspect_tree(tree120)
    assert t["root"] == os.path.realpath(tree120)
    assert t["version"]["version"] == "v1.20.2"
    assert t["go"]["minimum"] == (1, 15, 0) and t["go"]["recommended"] == (1, 15, 5)
    assert t["components_present"] == ["kube-apiserver", "kubectl", "kubelet"]
    assert t["reflect2_vendored"] == "v1.0.1"


def test_no_makefile(tmp_path):
    root = make_tree(tmp_path / "t", makefile=False)
    with pytest.raises(KubedebugError) as e:
        kt.inspect_tree(root)
    assert "has no Makefile" in str(e.value) and "k8s_source" in str(e.value)


def test_makefile_without_golang_sh(tmp_path):
    root = make_tree(tmp_path / "t", golang_sh=None)
    with pytest.raises(KubedebugError, match="no hack/lib/golang.sh"):
        kt.inspect_tree(root)


def test_missing_dir(tmp_path):
    with pytest.raises(KubedebugError, match="does not exist"):
        kt.inspect_tree(str(tmp_path / "nope"))


def test_components(tree120):
    t = kt.inspect_tree(tree120)
    kt.check_components(t, ["kube-apiserver", "kubelet"])
    with pytest.raises(KubedebugError) as e:
        kt.check_components(t, ["kube-apiserver", "kube-apiservr"])
    assert "kube-apiservr" in str(e.value) and "kube-scheduler" in str(e.value)
    with pytest.raises(KubedebugError, match="kube-proxy"):
        kt.check_components(t, ["kube-proxy"])


# --- plan ---------------------------------------------------------------------------------------------------

def test_plan_v120_with_go119(tree120, replacement):
    t = kt.inspect_tree(tree120)
    plan = kt.plan_build(t, (1, 19, 8), reflect2_source=replacement)
    assert plan["mode"] == "flags"
    assert plan["make_args"] == ["GOGCFLAGS=all=-N -l", "GOLDFLAGS="]
    assert [p["name"] for p in plan["patches"]] == ["reflect2"]
    assert plan["reflect2"]["needed"] and not plan["reflect2"]["applied"]
    assert plan["env"]["GOTOOLCHAIN"] == "local" and "FORCE_HOST_GO" not in plan["env"]


def test_plan_reflect2_not_needed_with_old_go_or_new_reflect2(tree120, tmp_path, replacement):
    t = kt.inspect_tree(tree120)
    assert kt.plan_build(t, (1, 17, 13), reflect2_source=replacement)["patches"] == []
    t2 = kt.inspect_tree(make_tree(tmp_path / "n", reflect2="v1.0.2"))
    assert kt.plan_build(t2, (1, 19, 8), reflect2_source=replacement)["patches"] == []
    never = kt.plan_build(t, (1, 19, 8), reflect2="never", reflect2_source=replacement)
    assert never["patches"] == [] and any("NOT applied" in n for n in never["notes"])


def test_plan_reflect2_source_missing(tree120, tmp_path):
    t = kt.inspect_tree(tree120)
    plan = kt.plan_build(t, (1, 19, 8), reflect2_source=str(tmp_path / "none"))
    assert [p["name"] for p in plan["patches"]] == ["reflect2"] and plan["reflect2"]["source_present"] is False
    with pytest.raises(KubedebugError) as e:
        kt.apply_patch(tree120, "reflect2", str(tmp_path / "b"), str(tmp_path / "none"))
    assert "golang-github-modern-go-reflect2-dev" in str(e.value)


def test_plan_go_too_old(tmp_path):
    t = kt.inspect_tree(make_tree(tmp_path / "t", go_mod="1.99"))
    with pytest.raises(KubedebugError) as e:
        kt.plan_build(t, (1, 19, 8))
    msg = str(e.value)
    assert "Go 1.19.8 is too old" in msg and ">= 1.99.0" in msg and "k8s_build_go_bin" in msg


def test_plan_dbg_tree(tmp_path, replacement):
    t = kt.inspect_tree(make_tree(tmp_path / "t", golang_sh=GOLANG_DBG_RESET, go_mod="1.22", reflect2="v1.0.2"))
    plan = kt.plan_build(t, (1, 22, 5), reflect2_source=replacement)
    assert plan["mode"] == "dbg" and plan["make_args"] == ["DBG=1"] and plan["patches"] == []
    assert plan["env"]["FORCE_HOST_GO"] == "y"
    # absolute paths: DBG drops trimming, but this tree has no GOPATH symlink either -> nothing to do
    assert kt.plan_build(t, (1, 22, 5), absolute_paths=True, reflect2_source=replacement)["patches"] == []


def test_plan_hardcoded_strip(tmp_path, replacement):
    t = kt.inspect_tree(make_tree(tmp_path / "t", golang_sh=GOLANG_HARDCODED, reflect2=None))
    plan = kt.plan_build(t, (1, 19, 8), reflect2_source=replacement)
    assert [p["name"] for p in plan["patches"]] == ["strip_flags"]


def test_plan_absolute_paths(tree120, tmp_path, replacement):
    t = kt.inspect_tree(tree120)
    plan = kt.plan_build(t, (1, 19, 8), absolute_paths=True, reflect2_source=replacement)
    assert [p["name"] for p in plan["patches"]] == ["trimpath_rewrite", "reflect2"]
    # once patched, the tree still plans the same patch (applied) and asks to revert it when paths go back to trimmed
    kt.apply_patch(tree120, "trimpath_rewrite", str(tmp_path / "b"))
    t1 = kt.inspect_tree(tree120)
    assert t1["features"]["trimpath"] == "kube_root_rewritten"
    again = kt.plan_build(t1, (1, 19, 8), absolute_paths=True, reflect2_source=replacement)
    assert [(p["name"], p["applied"]) for p in again["patches"]][0] == ("trimpath_rewrite", True)
    back = kt.plan_build(t1, (1, 19, 8), absolute_paths=False, reflect2_source=replacement)
    assert [p["name"] for p in back["revert"]] == ["trimpath_rewrite"]
    assert plan["revert"] == []
    t2 = kt.inspect_tree(make_tree(tmp_path / "k", golang_sh=GOLANG_DBG_KEEPS_TRIM, reflect2=None))
    with pytest.raises(KubedebugError, match="substitutePath"):
        kt.plan_build(t2, (1, 19, 8), absolute_paths=True)


def test_stamp_key_changes_with_inputs(tree120, replacement):
    t = kt.inspect_tree(tree120)
    plan = kt.plan_build(t, (1, 19, 8), reflect2_source=replacement)
    fp = kt.fingerprint(tree120)
    k1 = kt.stamp_key(t, plan, (1, 19, 8), "kube-apiserver", fp)
    assert k1 == kt.stamp_key(t, plan, (1, 19, 8), "kube-apiserver", kt.fingerprint(tree120))
    assert k1 != kt.stamp_key(t, plan, (1, 19, 9), "kube-apiserver", fp)
    assert k1 != kt.stamp_key(t, plan, (1, 19, 8), "kubelet", fp)
    plan2 = kt.plan_build(t, (1, 19, 8), absolute_paths=True, reflect2_source=replacement)
    assert k1 != kt.stamp_key(t, plan2, (1, 19, 8), "kube-apiserver", fp)
    json.dumps(k1)


# --- fingerprint --------------------------------------------------------------------------------------------

def test_fingerprint_tracks_edits_not_output(tree120):
    a = kt.fingerprint(tree120)
    os.makedirs(os.path.join(tree120, "_output/local/go/cache"))
    with open(os.path.join(tree120, "_output/local/go/cache/x"), "w") as f:
        f.write("cache")
    assert kt.fingerprint(tree120) == a
    p = os.path.join(tree120, "cmd/kubelet/main.go")
    with open(p, "a") as f:
        f.write("// debug print\n")
    b = kt.fingerprint(tree120)
    assert b != a and b["files"] == a["files"]
    os.unlink(os.path.join(tree120, "cmd/kubectl/main.go"))
    assert kt.fingerprint(tree120)["files"] == a["files"] - 1


# --- patches ------------------------------------------------------------------------------------------------

def test_reflect2_patch_roundtrip(tree120, tmp_path, replacement):
    backup = str(tmp_path / "backup")
    vdir = os.path.join(tree120, kt.REFLECT2_VENDOR_DIR)
    before = {n: open(os.path.join(vdir, n)).read() for n in os.listdir(vdir)}
    dry = kt.apply_patch(tree120, "reflect2", backup, replacement, check_mode=True)
    assert dry["changed"] and {n: open(os.path.join(vdir, n)).read() for n in os.listdir(vdir)} == before
    r = kt.apply_patch(tree120, "reflect2", backup, replacement)
    assert r["changed"]
    assert kt.dir_matches(vdir, replacement, kt.source_files)
    assert not any(n.endswith("_test.go") for n in os.listdir(vdir))
    assert os.path.exists(os.path.join(vdir, "BUILD"))  # non-Go files stay
    assert kt.reflect2_status(tree120, (1, 19, 8), replacement)["applied"] is True
    assert kt.apply_patch(tree120, "reflect2", backup, replacement)["changed"] is False
    # vendor/modules.txt still says v1.0.1 (go -mod=vendor checks it against go.mod)
    assert kt.vendored_module_version(tree120, kt.REFLECT2_MODULE) == "v1.0.1"
    rv = kt.revert_patch(tree120, "reflect2", backup)
    assert rv["changed"]
    assert {n: open(os.path.join(vdir, n)).read() for n in os.listdir(vdir)} == before
    assert kt.revert_patch(tree120, "reflect2", backup)["changed"] is False


def test_golang_sh_patches(tree120, tmp_path):
    backup = str(tmp_path / "backup")
    path = os.path.join(tree120, "hack/lib/golang.sh")
    original = open(path).read()
    r = kt.apply_patch(tree120, "trimpath_rewrite", backup)
    assert r["changed"] and r["diff"]["before"] == original
    text = open(path).read()
    assert 'gogcflags="${GOGCFLAGS:-} -trimpath=${KUBE_GOPATH}/src/${KUBE_GO_PACKAGE}=>${KUBE_ROOT}"' in text
    assert 'goasmflags="-trimpath=${KUBE_GOPATH}/src/${KUBE_GO_PACKAGE}=>${KUBE_ROOT}"' in text
    assert kt.apply_patch(tree120, "trimpath_rewrite", backup)["changed"] is False
    assert kt.revert_patch(tree120, "trimpath_rewrite", backup)["changed"] is True
    assert open(path).read() == original


def test_strip_flags_patch_removes_only_hardcoded(tmp_path):
    root = make_tree(tmp_path / "t", golang_sh=GOLANG_HARDCODED, reflect2=None)
    kt.apply_patch(root, "strip_flags", str(tmp_path / "b"))
    text = open(os.path.join(root, "hack/lib/golang.sh")).read()
    assert 'goldflags="${GOLDFLAGS:-} $(kube::version::ldflags)"' in text
    assert kt.build_features(text)["strip_flags"] == "none"
    # the ${GOLDFLAGS=-s -w} default is left alone (GOLDFLAGS="" handles it)
    root2 = make_tree(tmp_path / "u", reflect2=None)
    assert kt.apply_patch(root2, "strip_flags", str(tmp_path / "b2"))["changed"] is False


def test_unknown_patch(tree120, tmp_path):
    with pytest.raises(KubedebugError, match="unknown patch"):
        kt.apply_patch(tree120, "nope", str(tmp_path))


def test_backup_is_kept_from_the_first_run(tree120, tmp_path):
    backup = str(tmp_path / "backup")
    path = os.path.join(tree120, "hack/lib/golang.sh")
    original = open(path).read()
    kt.apply_patch(tree120, "trimpath_rewrite", backup)
    kt.revert_patch(tree120, "trimpath_rewrite", backup)
    kt.apply_patch(tree120, "trimpath_rewrite", backup)
    assert open(os.path.join(backup, "trimpath_rewrite", "hack/lib/golang.sh")).read() == original
    shutil.rmtree(backup)


# --- delve / go ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dlv,go,ok", [
    ((1, 20, 2), (1, 19, 8), True), ((1, 20, 2), (1, 21, 0), False), ((1, 20, 2), (1, 17, 13), False),
    ((1, 25, 0), (1, 25, 0), False), ((1, 25, 1), (1, 25, 0), True), ((1, 9, 1), (1, 19, 8), True), ((1, 7, 2), (1, 19, 8), False),
    ((1, 5, 0), (1, 19, 8), False),
    ((1, 99, 0), (1, 19, 8), None),
])
def test_dlv_go_compatible(dlv, go, ok):
    assert kt.dlv_go_compatible(dlv, go)[0] is ok


def test_parse_dlv_version():
    assert kt.parse_dlv_version("Delve Debugger\nVersion: 1.20.2\nBuild: $Id: e0c2 $\n") == (1, 20, 2)
    assert kt.parse_dlv_version("nothing") is None


def test_plan_uncompressed_dwarf(tree120, tmp_path, replacement):
    t = kt.inspect_tree(tree120)
    plan = kt.plan_build(t, (1, 19, 8), reflect2_source=replacement, compress_dwarf=False)
    assert plan["make_args"] == ["GOGCFLAGS=all=-N -l", "GOLDFLAGS=-compressdwarf=false"]
    dbg = kt.inspect_tree(make_tree(tmp_path / "dbg", golang_sh=GOLANG_DBG_ELSE, go_mod="1.21"))
    assert kt.plan_build(dbg, (1, 21, 0), compress_dwarf=False)["make_args"] == ["DBG=1", "GOLDFLAGS=-compressdwarf=false"]
    assert kt.plan_build(dbg, (1, 21, 0))["make_args"] == ["DBG=1"]


def test_plan_refuses_incomplete_vendoring(tree120):
    # A vendored package whose directory went missing (a partial copy, a bad rsync): refused before any build.
    shutil.rmtree(os.path.join(tree120, "vendor/github.com/modern-go/concurrent"))
    tree = kt.inspect_tree(tree120)
    with pytest.raises(KubedebugError) as e:
        kt.plan_build(tree, (1, 19, 8))
    assert "vendor/github.com/modern-go/concurrent" in str(e.value) and "go work vendor" in str(e.value)
    os.remove(os.path.join(tree120, "vendor/modules.txt"))
    with pytest.raises(KubedebugError, match="vendor/modules.txt is missing"):
        kt.plan_build(kt.inspect_tree(tree120), (1, 19, 8))


def test_patched_and_restored_files_keep_their_mode_whatever_the_umask(tree120, tmp_path):
    path = os.path.join(tree120, "hack/lib/golang.sh")
    os.chmod(path, 0o755)
    old = os.umask(0o077)
    try:
        assert kt.apply_patch(tree120, "trimpath_rewrite", str(tmp_path / "backup"))["changed"]
        assert os.stat(path).st_mode & 0o7777 == 0o755
        assert kt.revert_patch(tree120, "trimpath_rewrite", str(tmp_path / "backup"))["changed"]
        assert os.stat(path).st_mode & 0o7777 == 0o755
    finally:
        os.umask(old)
    assert not [n for n in os.listdir(os.path.dirname(path)) if "kubedebug-tmp" in n]


# --- tree_info: the k8s_tree_info module, with stand-in go and dlv -------------------------------------------

class Host:
    """What tree_info uses of an AnsibleModule: real commands."""

    def __init__(self, **params):
        self.params = dict(path=None, name_hint=None, components=[], go_bin=None, dlv_bin=None, absolute_paths=False,
                           compress_dwarf=True, reflect2="auto", reflect2_source=REFLECT2_DEBIAN, stamp_dir=None,
                           output_dir=None, fingerprint=True)
        self.params.update(params)
        self.warnings = []

    def run_command(self, args, cwd=None, environ_update=None):
        done = subprocess.run(args, cwd=cwd, env=environ_update, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    def warn(self, msg):
        self.warnings.append(msg)


def stand_in(tmp_path, name, output):
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\nprintf '%s'\n" % output.replace("\n", "\\n"))
    path.chmod(0o755)
    return str(path)


def test_tree_info_versions_plan_and_stamps(tree120, tmp_path, replacement):
    go = stand_in(tmp_path, "go", "go version go1.19.8 linux/amd64\n")
    dlv = stand_in(tmp_path, "dlv", "Delve Debugger\nVersion: 1.20.2\nBuild: $Id: e0c2 $\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "kube-apiserver").write_bytes(b"ELF")
    host = Host(path=tree120, components=["kube-apiserver"], go_bin=go, dlv_bin=dlv, reflect2_source=replacement,
                stamp_dir=str(tmp_path / "stamps"), output_dir=str(out))
    res = kt.tree_info(host, {"changed": False})
    assert (res["go_version"], res["go_bin"]) == ("go1.19.8", go)
    assert res["dlv"] == {"bin": dlv, "found": True, "version": "1.20.2", "compatible": True, "reason": "dlv 1.20.2 supports Go 1.19"}
    assert res["plan"]["mode"] and res["stamp_keys"]["kube-apiserver"]["go_version"] == "go1.19.8"
    assert res["stale"] == ["kube-apiserver"] and res["stale_reasons"] == {"kube-apiserver": "never built (no stamp)"}

    os.makedirs(str(tmp_path / "stamps"))
    stamp = {"key": res["stamp_keys"]["kube-apiserver"], "key_sha": res["stamp_sha"]["kube-apiserver"],
             "binary": {"size": 3, "mtime_ns": os.stat(out / "kube-apiserver").st_mtime_ns}}
    (tmp_path / "stamps" / "kube-apiserver.json").write_text(json.dumps(stamp))
    assert kt.tree_info(host, {})["stale"] == []

    (out / "kube-apiserver").write_bytes(b"ELF, rebuilt by hand")
    assert kt.tree_info(host, {})["stale_reasons"] == {"kube-apiserver": "the placed binary %s is missing or was replaced" % (out / "kube-apiserver")}

    stamp["key"] = dict(stamp["key"], go_version="go1.19.7")
    stamp["key_sha"] = "0" * 64
    (tmp_path / "stamps" / "kube-apiserver.json").write_text(json.dumps(stamp))
    assert kt.tree_info(host, {})["stale_reasons"] == {"kube-apiserver": "changed since the last build: go_version"}


def test_tree_info_refuses_a_dlv_too_old_for_the_go(tree120, tmp_path):
    go = stand_in(tmp_path, "go", "go version go1.21.0 linux/amd64\n")
    dlv = stand_in(tmp_path, "dlv", "Delve Debugger\nVersion: 1.20.2\n")
    result = {"changed": False}
    with pytest.raises(KubedebugError) as err:
        kt.tree_info(Host(path=tree120, go_bin=go, dlv_bin=dlv), result)
    assert "Delve/Go mismatch" in str(err.value) and err.value.details["dlv"]["compatible"] is False
    assert result["go_version"] == "go1.21.0" and result["version"]["version"] == "v1.20.2"


def test_tree_info_without_go_or_dlv(tree120, tmp_path):
    host = Host(path=tree120, dlv_bin=str(tmp_path / "no-dlv"))
    res = kt.tree_info(host, {})
    assert res["dlv"]["found"] is False and "compatibility check was skipped" in host.warnings[0]
    with pytest.raises(KubedebugError) as err:
        kt.tree_info(Host(path=tree120, go_bin=str(tmp_path / "no-go")), {})
    assert "Go not found" in str(err.value)
