# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""What a Kubernetes source tree can do, read from the tree itself.

Nothing here trusts a version table: the debug build flags come from what the
tree's own ``hack/lib/golang.sh`` does with ``DBG``, ``GOLDFLAGS`` and
``-trimpath``; the Go version bounds from ``go.mod``, ``.go-version``,
``build/build-image/cross/VERSION`` and the script's ``minimum_go_version``;
the tree's version from ``.git``, the ``export-subst`` values git archive wrote
into ``hack/lib/version.sh``, a ``KUBE_GIT_VERSION_FILE``-style file, or the
name of the tarball/directory it came from (Debian's
``kubernetes_1.20.5+really1.20.2.orig.tar.gz``).

:func:`tree_info` is the k8s_tree_info module: the tree, the Go and dlv that
would build and debug it, the build plan and which components are stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess

from ansible_collections.kubedebug.lab.plugins.module_utils import _goversion, _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

#: Components the collection builds and debugs, and their main package dirs.
COMPONENTS = {
    "kube-apiserver": "cmd/kube-apiserver",
    "kube-controller-manager": "cmd/kube-controller-manager",
    "kube-scheduler": "cmd/kube-scheduler",
    "kubelet": "cmd/kubelet",
    "kube-proxy": "cmd/kube-proxy",
    "kubeadm": "cmd/kubeadm",
    "kubectl": "cmd/kubectl",
}

#: Written by the k8s_source role into trees without .git, in
#: KUBE_GIT_VERSION_FILE format (k8s' hack/lib/version.sh sources it).
VERSION_FILE = ".kubedebug-version"
#: k8s_source's record of where an extracted tree came from.
SOURCE_MARKER = ".kubedebug-source.json"

REFLECT2_MODULE = "github.com/modern-go/reflect2"
REFLECT2_VENDOR_DIR = "vendor/github.com/modern-go/reflect2"
#: reflect2 < 1.0.2 reads Go runtime map internals that changed in Go 1.18
#: (json-iterator crashes: unexpected fault address in UnsafeMapIterator.HasNext).
REFLECT2_FIXED = (1, 0, 2)
REFLECT2_BROKEN_FROM_GO = (1, 18)

#: Directories never part of the source fingerprint.
FINGERPRINT_EXCLUDE = frozenset(("_output", ".git", ".make", "_artifacts", ".kubedebug", "__pycache__"))

# One parser for versions in the whole collection: _goversion's (the names here are kept for callers).
parse_version = _goversion.version_tuple
parse_go_version = _goversion.go_version_tuple
parse_dlv_version = _goversion.dlv_version_output


def fmt_version(v, prefix=""):
    return prefix + ".".join(str(x) for x in v) if v else None


def _read(path, limit=2 << 20):
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _strip_comments(script):
    out = []
    for line in script.splitlines():
        s = line.strip()
        if s.startswith("#"):
            continue
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Build features from hack/lib/golang.sh
# ---------------------------------------------------------------------------
_DBG_TEST = re.compile(r"""\$\{DBG(?::-)?\}"?\s*(?:==|=)\s*"?1""")
_GOLDFLAGS_DEFAULT = re.compile(r"\$\{GOLDFLAGS=([^}]*)\}")
_TRIMPATH_KUBE_ROOT = re.compile(r"-trimpath=\$\{KUBE_ROOT\}")
_TRIMPATH_REWRITTEN = re.compile(r"-trimpath=\$\{KUBE_GOPATH\}/src/\$\{KUBE_GO_PACKAGE\}=>\$\{KUBE_ROOT\}")
_TRIMPATH_ANY = re.compile(r"-trimpath")


def build_features(golang_sh):
    """How the tree's golang.sh treats debug builds. ``golang_sh`` is the script text.

    Returns a dict:
      dbg: the script honours ``DBG=1`` (all=-N -l, no -s -w).
      strip_flags: where ``-s -w`` comes from: ``overridable`` (``${GOLDFLAGS=-s -w}``,
        an explicit ``GOLDFLAGS=""`` removes it), ``dbg`` (added unless DBG=1),
        ``hardcoded`` (added whatever the caller says), or ``none``.
      trimpath: ``kube_root`` (compiler ``-trimpath=${KUBE_ROOT}``: paths are
        recorded relative to the tree root, e.g. ``_output/local/go/src/k8s.io/kubernetes/...``),
        ``kube_root_rewritten`` (the trimpath_rewrite patch is applied: absolute paths into the tree),
        ``other`` (some other -trimpath use), or ``none``.
      trimpath_under_dbg: -trimpath is still applied when DBG=1.
      gopath_symlink: the tree builds through ``_output/local/go/src/k8s.io/kubernetes``.
      force_host_go: the script knows FORCE_HOST_GO (newer trees pin a toolchain
        through GOTOOLCHAIN unless it is set).
      minimum_go: the script's ``minimum_go_version`` as a tuple, when literal.
    """
    code = _strip_comments(golang_sh or "")
    feats = {
        "dbg": bool(_DBG_TEST.search(code)),
        "strip_flags": "none",
        "trimpath": "none",
        "trimpath_under_dbg": False,
        "gopath_symlink": "KUBE_GOPATH" in code and "create_gopath_tree" in code,
        "force_host_go": "FORCE_HOST_GO" in code,
        "minimum_go": None,
    }
    strip_kinds = []
    for line in code.splitlines():
        if "-s -w" not in line:
            continue
        if _GOLDFLAGS_DEFAULT.search(line) and "-s -w" in _GOLDFLAGS_DEFAULT.search(line).group(1):
            strip_kinds.append("overridable")
        elif feats["dbg"]:
            strip_kinds.append("dbg")
        else:
            strip_kinds.append("hardcoded")
    for kind in ("hardcoded", "overridable", "dbg"):
        if kind in strip_kinds:
            feats["strip_flags"] = kind
            break
    if _TRIMPATH_REWRITTEN.search(code):
        feats["trimpath"] = "kube_root_rewritten"  # our trimpath_rewrite patch is in place
    elif _TRIMPATH_KUBE_ROOT.search(code):
        feats["trimpath"] = "kube_root"
    elif _TRIMPATH_ANY.search(code):
        feats["trimpath"] = "other"
    if feats["dbg"] and feats["trimpath"] != "none":
        feats["trimpath_under_dbg"] = _trimpath_under_dbg(code)
    m = re.search(r"minimum_go_version=go(\d+\.\d+(?:\.\d+)?)\s*$", code, re.M)
    if m:
        feats["minimum_go"] = parse_version(m.group(1))
    return feats


def _dbg_branches(code):
    """(dbg_branch_lines, else_branch_lines, outside_lines) of the first ``if DBG == 1`` block."""
    lines = code.splitlines()
    dbg, other, outside = [], [], []
    state, depth = "outside", 0
    for line in lines:
        s = line.strip()
        if state == "outside":
            if _DBG_TEST.search(s) and s.startswith("if "):
                state, depth = "dbg", 0
                continue
            outside.append(s)
            continue
        if s.startswith("if "):
            depth += 1
        if depth == 0 and s == "else":
            state = "else"
            continue
        if depth == 0 and s == "fi":
            state = "done"
            continue
        if s == "fi":
            depth -= 1
        if state == "dbg":
            dbg.append(s)
        elif state == "else":
            other.append(s)
        else:
            outside.append(s)
    return dbg, other, outside


def _trimpath_under_dbg(code):
    """Does a DBG=1 build still pass -trimpath? (v1.24+ trees drop it under DBG.)"""
    dbg, other, outside = _dbg_branches(code)
    if any("-trimpath" in s for s in dbg):
        return True
    outside_trim = [s for s in outside if "-trimpath" in s]
    if not outside_trim:
        return False  # only the not-debugging branch trims
    # Flags trimmed outside the branch, but the DBG branch assigns them afresh
    # (gogcflags="${GOGCFLAGS:-} all=-N -l"; goasmflags=""): trimming is gone.
    for s in outside_trim:
        var = s.split("=", 1)[0].strip()
        if not re.match(r"^\w+$", var):
            return True
        fresh = [d for d in dbg if d.startswith(var + "=") and ("${%s}" % var) not in d]
        if not fresh:
            return True
    return False


# ---------------------------------------------------------------------------
# Go version bounds
# ---------------------------------------------------------------------------
def go_bounds(root, feats=None):
    """Go version facts: minimum the build accepts, and the version upstream used."""
    out = {"go_mod": None, "go_version_file": None, "cross_version": None, "script_minimum": None}
    gomod = _read(os.path.join(root, "go.mod"))
    if gomod:
        m = re.search(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*$", gomod, re.M)
        if m:
            out["go_mod"] = parse_version(m.group(1))
    gv = _read(os.path.join(root, ".go-version"))
    if gv:
        out["go_version_file"] = parse_version(gv.strip())
    cross = _read(os.path.join(root, "build/build-image/cross/VERSION"))
    if cross:
        # "v1.15.5-1" (k8s' kube-cross image tag: Go version + image revision),
        # later "v1.26.0-go1.21.5-bullseye.0": prefer the goX.Y.Z part.
        m = re.search(r"go(\d+\.\d+(?:\.\d+)?)", cross)
        out["cross_version"] = parse_version(m.group(1) if m else cross.strip().split("-")[0])
    if feats is not None:
        out["script_minimum"] = feats.get("minimum_go")
    candidates = [v for v in (out["go_mod"], out["script_minimum"]) if v]
    out["minimum"] = max(candidates) if candidates else None
    out["recommended"] = out["go_version_file"] or out["cross_version"]
    return out


# ---------------------------------------------------------------------------
# Tree version
# ---------------------------------------------------------------------------
def _load_version_file(path):
    text = _read(path)
    if not text:
        return None
    vals = dict(re.findall(r"^(KUBE_GIT_\w+)='([^']*)'", text, re.M))
    return vals or None


def _version_from_version_sh(text):
    """git archive export-subst values baked into hack/lib/version.sh."""
    if not text or "if [[ '%' == \"%\" ]]" not in text:
        return None
    commit = re.search(r"KUBE_GIT_COMMIT='([0-9a-f]{40})'", text)
    tag = re.search(r"'[^']*tag: (v[^ ,']+)[^']*' =~", text)
    if not tag:
        return None
    return {"version": tag.group(1), "commit": commit.group(1) if commit else None}


def _git(root, *args):
    try:
        out = subprocess.run(["git", "-C", root] + list(args), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def tree_version(root, hint_name=None):
    """The tree's Kubernetes version and where it was read from."""
    vf = _load_version_file(os.path.join(root, VERSION_FILE))
    if vf and vf.get("KUBE_GIT_VERSION"):
        return {"version": vf["KUBE_GIT_VERSION"], "commit": vf.get("KUBE_GIT_COMMIT") or None,
                "source": VERSION_FILE, "dirty": None}
    if os.path.exists(os.path.join(root, ".git")):
        commit = _git(root, "rev-parse", "HEAD^{commit}")
        described = _git(root, "describe", "--tags", "--match=v*", "--abbrev=14", "HEAD^{commit}")
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        if commit:
            return {"version": described, "commit": commit, "source": "git", "dirty": bool(status)}
    vs = _version_from_version_sh(_read(os.path.join(root, "hack/lib/version.sh")))
    if vs:
        return {"version": vs["version"], "commit": vs["commit"], "source": "hack/lib/version.sh", "dirty": None}
    for name in (hint_name, os.path.basename(os.path.normpath(root))):
        if not name:
            continue
        m = re.search(r"kubernetes[-_]v?(\d+\.\d+\.\d+(?:\+really\d+\.\d+\.\d+)?)", name)
        if m and parse_version(m.group(1)):
            return {"version": fmt_version(parse_version(m.group(1)), "v"), "commit": None, "source": "name:" + name,
                    "dirty": None}
    return {"version": None, "commit": None, "source": None, "dirty": None}


# ---------------------------------------------------------------------------
# reflect2
# ---------------------------------------------------------------------------
def vendored_module_version(root, module):
    """Version of ``module`` in vendor/modules.txt (after replacements), or None."""
    text = _read(os.path.join(root, "vendor/modules.txt"), limit=8 << 20)
    if not text:
        return None
    for line in text.splitlines():
        if not line.startswith("# " + module + " "):
            continue
        parts = line[2:].split()
        # "# mod v1" or "# mod v1 => repl v2" or "# mod => repl v2"
        if "=>" in parts:
            i = parts.index("=>")
            if len(parts) > i + 2:
                return parts[i + 2]
            continue
        if len(parts) >= 2:
            return parts[1]
    return None


def reflect2_status(root, go_version, replacement_dir=None):
    """Does this tree need the reflect2 fix for this Go? See ENVIRONMENT.md."""
    vendored = vendored_module_version(root, REFLECT2_MODULE)
    out = {"vendored_version": vendored, "needed": False, "applied": False, "reason": None}
    vdir = os.path.join(root, REFLECT2_VENDOR_DIR)
    if not vendored or not os.path.isdir(vdir):
        out["reason"] = "the tree does not vendor %s" % REFLECT2_MODULE
        return out
    v = parse_version(vendored)
    if v is None or v >= REFLECT2_FIXED:
        out["reason"] = "vendored %s %s is fixed" % (REFLECT2_MODULE, vendored)
        return out
    if go_version is None or tuple(go_version[:2]) < REFLECT2_BROKEN_FROM_GO:
        out["reason"] = "vendored %s %s works with Go %s" % (REFLECT2_MODULE, vendored, fmt_version(go_version))
        return out
    out["needed"] = True
    out["reason"] = "vendored %s %s crashes at run time with Go >= 1.18 (building with Go %s)" % (
        REFLECT2_MODULE, vendored, fmt_version(go_version))
    if replacement_dir and os.path.isdir(replacement_dir):
        out["applied"] = dir_matches(vdir, replacement_dir, source_files)
    return out


def source_files(name):
    return (name.endswith(".go") or name.endswith(".s")) and not name.endswith("_test.go")


def dir_matches(target, source, select):
    """The ``select``ed files of ``target`` are exactly those of ``source``, same content."""
    try:
        want = sorted(n for n in os.listdir(source) if select(n) and os.path.isfile(os.path.join(source, n)))
        have = sorted(n for n in os.listdir(target) if select(n) and os.path.isfile(os.path.join(target, n)))
    except OSError:
        return False
    if want != have:
        return False
    for n in want:
        if _file_sha(os.path.join(source, n)) != _file_sha(os.path.join(target, n)):
            return False
    return True


def _file_sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------
# Fingerprint
# ---------------------------------------------------------------------------
def fingerprint(root, exclude=FINGERPRINT_EXCLUDE):
    """sha256 over (path, size, mtime_ns, mode) of every file under ``root``.

    Cheap enough to run on every play (~25k files in a v1.20 tree, ~31k in
    v1.37) and changes whenever a source file is edited, added, removed or
    patched. Symlinks contribute their target string, not the target's content.
    One lstat per file (os.scandir's entry type spares the second one).
    """
    h = hashlib.sha256()
    count = 0
    root = os.path.abspath(root)

    def walk(path, rel):
        nonlocal count
        files, dirs = [], []
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError:
            return
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows symlinks, as os.walk sorts them
            except OSError:
                is_dir = False
            if is_dir:
                if not (rel == "" and e.name in exclude):
                    dirs.append(e)
            else:
                files.append(e)
        files.sort(key=lambda e: e.name)
        dirs.sort(key=lambda e: e.name)
        for e in files:
            relp = rel + e.name
            try:
                if e.is_symlink():
                    extra = os.readlink(e.path)
                else:
                    st = e.stat(follow_symlinks=False)
                    extra = "%d:%d:%o" % (st.st_size, st.st_mtime_ns, st.st_mode & 0o7777)
            except OSError:
                continue
            h.update(("%s\0%s\n" % (relp, extra)).encode("utf-8", "surrogateescape"))
            count += 1
        # symlinked directories: their target string; not followed
        for e in dirs:
            if e.is_symlink():
                h.update(("%s\0-> %s\n" % (rel + e.name, os.readlink(e.path))).encode("utf-8", "surrogateescape"))
                count += 1
        for e in dirs:
            if not e.is_symlink():
                walk(e.path, rel + e.name + "/")

    walk(root, "")
    return {"sha256": h.hexdigest(), "files": count}


# ---------------------------------------------------------------------------
# Vendoring
# ---------------------------------------------------------------------------
def vendoring_problems(root, limit=10):
    """Packages vendor/modules.txt lists that have no directory with Go files under vendor/.

    An empty list means the vendor tree is complete for what modules.txt
    names; a missing modules.txt is reported as one problem.
    """
    modules_txt = os.path.join(root, "vendor", "modules.txt")
    if not os.path.exists(modules_txt):
        return ["vendor/modules.txt is missing"]
    problems = []
    with open(modules_txt) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pkg_dir = os.path.join(root, "vendor", line)
            try:
                has_go = any(n.endswith(".go") for n in os.listdir(pkg_dir))
            except OSError:
                has_go = False
            if not has_go:
                problems.append("vendor/%s" % line)
                if len(problems) >= limit:
                    break
    return problems


# ---------------------------------------------------------------------------
# Whole tree
# ---------------------------------------------------------------------------
def inspect_tree(path, hint_name=None):
    """Facts about the Kubernetes tree at ``path``; raises KubedebugError if it is not one."""
    if not path or not os.path.isdir(path):
        raise KubedebugError("Kubernetes source tree %s does not exist or is not a directory" % path,
                             "Fetch it first with the kubedebug.lab.k8s_source role, or fix k8s_build_source_dir",
                             path=path)
    root = os.path.realpath(path)
    makefile = os.path.join(root, "Makefile")
    if not os.path.exists(makefile):
        raise KubedebugError(
            "%s has no Makefile: it is not the root of a Kubernetes source tree" % root,
            "Point at the directory holding Makefile, hack/ and cmd/ (the root of a kubernetes checkout or "
            "of Debian's kubernetes-<version>/), or fetch one with the kubedebug.lab.k8s_source role",
            path=root)
    golang_sh_path = os.path.join(root, "hack/lib/golang.sh")
    golang_sh = _read(golang_sh_path)
    if golang_sh is None:
        raise KubedebugError(
            "%s has a Makefile but no hack/lib/golang.sh: not a Kubernetes tree this collection can build" % root,
            "Use a kubernetes/kubernetes checkout or release source tarball", path=root)
    feats = build_features(golang_sh)
    components = {c: os.path.isdir(os.path.join(root, d)) for c, d in COMPONENTS.items()}
    return {
        "root": root,
        "makefile": True,
        "is_git": os.path.exists(os.path.join(root, ".git")),
        "version": tree_version(root, hint_name),
        "features": feats,
        "go": go_bounds(root, feats),
        "components_present": sorted(c for c, ok in components.items() if ok),
        "reflect2_vendored": vendored_module_version(root, REFLECT2_MODULE),
    }


def check_components(tree, components):
    """Unknown names or names missing from this tree -> KubedebugError."""
    unknown = [c for c in components if c not in COMPONENTS]
    if unknown:
        raise KubedebugError(
            "unknown component(s): %s" % ", ".join(unknown),
            "Choose from %s" % ", ".join(sorted(COMPONENTS)), unknown=unknown)
    missing = [c for c in components if c not in tree["components_present"]]
    if missing:
        raise KubedebugError(
            "component(s) %s have no %s directory in %s" % (", ".join(missing), "cmd/<name>", tree["root"]),
            "This tree (%s) does not build them; drop them from the list" % (tree["version"]["version"] or "unknown version"),
            missing=missing)


# ---------------------------------------------------------------------------
# Delve / Go compatibility (minimal call-site)
# ---------------------------------------------------------------------------
def dlv_go_compatible(dlv_version, go_version):
    """(ok, reason) from the Delve/Go table in _goversion. ok is None when the dlv release is newer than the table."""
    if dlv_version is None or go_version is None:
        return None, "unknown dlv or Go version"
    dlv = _goversion.delve_str(dlv_version[:3])
    try:
        go_min, go_max = _goversion.delve_go_range(dlv)
    except KubedebugError:
        oldest = min(row[0] for row in _goversion.compat_table())
        if tuple(dlv_version[:3]) < tuple(oldest):
            return False, "dlv %s predates every Go this collection builds with" % dlv
        return None, "dlv %s is newer than the compatibility table" % dlv
    go = _goversion.GoVersion.parse(fmt_version(go_version))
    if go_min.minor_version <= go.minor_version <= go_max.minor_version:
        return True, "dlv %s supports Go %s" % (dlv, go.minor_str)
    return False, "dlv %s supports Go %s to %s, the build uses Go %s" % (dlv, go_min.minor_str, go_max.minor_str, fmt_version(go_version))


# ---------------------------------------------------------------------------
# Build plan
# ---------------------------------------------------------------------------
def plan_build(tree, go_version, absolute_paths=False, reflect2="auto", reflect2_source=None, compress_dwarf=True):
    """How to get debug binaries from this tree with this Go.

    ``compress_dwarf=False`` links with ``-compressdwarf=false``: binaries about 40% larger whose DWARF dlv
    loads without inflating it first (about 0.7 s less for a kube-apiserver on 2 cores).

    Returns {make_vars, env, patches, mode, expected_source_prefix, notes};
    raises KubedebugError when the tree cannot give what was asked.
    """
    feats = tree["features"]
    root = tree["root"]
    go = tree["go"]
    notes = []
    if go_version is None:
        raise KubedebugError("cannot tell the Go version", "Check k8s_build_go_bin: `<go_bin> version` must print 'go version goX.Y.Z ...'")
    if go["minimum"] and tuple(go_version) < tuple(go["minimum"]):
        raise KubedebugError(
            "Go %s is too old for the Kubernetes tree at %s (%s): it needs Go >= %s (go.mod: %s, hack/lib/golang.sh: %s)" % (
                fmt_version(go_version), root, tree["version"]["version"] or "unknown version", fmt_version(go["minimum"]),
                fmt_version(go["go_mod"]) or "-", fmt_version(go["script_minimum"]) or "-"),
            "Install a newer Go (the kubedebug.lab.go role; upstream built this tree with Go %s) and set k8s_build_go_bin" % (
                fmt_version(go["recommended"]) or fmt_version(go["minimum"])),
            go_version=fmt_version(go_version), go_minimum=fmt_version(go["minimum"]))
    patches = []
    if feats["dbg"]:
        mode = "dbg"
        make_vars = {"DBG": "1"}
        if not compress_dwarf:
            make_vars["GOLDFLAGS"] = "-compressdwarf=false"
        notes.append("hack/lib/golang.sh honours DBG=1 (all=-N -l, no -s -w)")
    else:
        mode = "flags"
        make_vars = {"GOGCFLAGS": "all=-N -l", "GOLDFLAGS": "" if compress_dwarf else "-compressdwarf=false"}
        notes.append("no DBG=1 in hack/lib/golang.sh: GOGCFLAGS='all=-N -l' GOLDFLAGS=''")
    if feats["strip_flags"] == "hardcoded":
        patches.append({"name": "strip_flags", "file": "hack/lib/golang.sh",
                        "reason": "hack/lib/golang.sh hard-codes '-s -w' in the link flags (GOLDFLAGS cannot remove it)"})
    elif feats["strip_flags"] == "overridable":
        notes.append("${GOLDFLAGS=-s -w} default: an explicit GOLDFLAGS='' keeps DWARF")
    revert = []
    if not absolute_paths and feats["trimpath"] == "kube_root_rewritten":
        revert.append({"name": "trimpath_rewrite", "file": GOLANG_SH,
                       "reason": "absolute paths were asked for before; put the tree's own -trimpath=${KUBE_ROOT} back"})
    if absolute_paths:
        if feats["trimpath"] in ("kube_root", "kube_root_rewritten") and feats["gopath_symlink"]:
            patches.append({"name": "trimpath_rewrite", "file": "hack/lib/golang.sh",
                            "reason": "the tree trims paths to _output/local/go/src/k8s.io/kubernetes/...; rewrite them to %s" % root})
        elif feats["dbg"] and not feats["trimpath_under_dbg"] and not feats["gopath_symlink"]:
            notes.append("DBG=1 builds record absolute source paths already")
        else:
            raise KubedebugError(
                "absolute source paths are not supported for this tree layout (trimpath: %s, DBG: %s, GOPATH symlink: %s)" % (
                    feats["trimpath"], feats["dbg"], feats["gopath_symlink"]),
                "Set k8s_build_absolute_paths: false and map the recorded prefix (k8s_build_result.*.source_prefix) "
                "in your IDE (substitutePath)")
    r2 = reflect2_status(root, go_version, reflect2_source)
    r2["mode"] = reflect2
    if reflect2 == "always" or (reflect2 == "auto" and r2["needed"]):
        # A missing replacement is not fatal here: the k8s_build role installs Debian's package
        # before patching, and k8s_tree_patch fails with the fix if it is still missing then.
        r2["source_present"] = bool(reflect2_source and os.path.isdir(reflect2_source))
        patches.append({"name": "reflect2", "file": REFLECT2_VENDOR_DIR, "reason": r2["reason"] or "requested"})
    elif r2["needed"]:
        notes.append("reflect2 fix NOT applied (k8s_build_patch_reflect2: never): %s" % r2["reason"])
    vendor = vendoring_problems(root)
    if vendor:
        raise KubedebugError(
            "The vendor/ tree of %s is incomplete: %s%s. The tree's build uses vendor/ and would fail, or build other code" % (
                root, ", ".join(vendor[:5]), " and more" if len(vendor) > 5 else ""),
            "Regenerate it the way the tree does (hack/update-vendor.sh, or `go work vendor` in the tree for v1.30+), "
            "or fetch the tree afresh (kubedebug.lab.k8s_source, methods goproxy or git)",
            vendor_problems=vendor)
    golang_sh = _read(os.path.join(root, GOLANG_SH)) or ""
    for p in patches:
        if p["name"] == "reflect2":
            p["applied"] = bool(r2.get("applied"))
        else:
            p["applied"] = patched_golang_sh(golang_sh, p["name"]) == golang_sh
    env = {"GOTOOLCHAIN": "local", "GOFLAGS": ""}
    if feats["force_host_go"]:
        env["FORCE_HOST_GO"] = "y"
    vf = os.path.join(root, VERSION_FILE)
    if os.path.exists(vf):
        env["KUBE_GIT_VERSION_FILE"] = vf
    return {"mode": mode, "make_vars": make_vars, "revert": revert, "make_args": ["%s=%s" % kv for kv in sorted(make_vars.items())],
            "env": env, "patches": patches, "reflect2": r2, "notes": notes, "component_dirs": dict(COMPONENTS),
            "tree_output_dir": os.path.join(root, "_output", "bin")}


def stamp_key(tree, plan, go_version, component, fp):
    """What a built binary depends on. Equal keys -> the binary is up to date."""
    return {
        "component": component,
        "tree": tree["root"],
        "version": tree["version"]["version"],
        "commit": tree["version"]["commit"],
        "fingerprint": fp["sha256"],
        "make_vars": plan["make_vars"],
        "env": dict(sorted(plan["env"].items())),
        "patches": sorted(p["name"] for p in plan["patches"]),
        "absolute_paths": any(p["name"] == "trimpath_rewrite" for p in plan["patches"]),
        "go_version": fmt_version(go_version, "go"),
    }


# ---------------------------------------------------------------------------
# Tree patches (applied by the k8s_tree_patch module, recorded in the result)
# ---------------------------------------------------------------------------
PATCHES = ("reflect2", "strip_flags", "trimpath_rewrite")
GOLANG_SH = "hack/lib/golang.sh"


def patched_golang_sh(text, name):
    """golang.sh text with patch ``name`` applied (same text when already applied)."""
    out = []
    for line in text.splitlines(True):
        s = line.lstrip()
        if s.startswith("#"):
            out.append(line)
            continue
        if name == "strip_flags":
            if "-s -w" in line and "goldflags" in line and not _GOLDFLAGS_DEFAULT.search(line):
                line = re.sub(r"\s-s -w(?=[\s\"])", "", line)
        elif name == "trimpath_rewrite":
            line = line.replace("-trimpath=${KUBE_ROOT}\"", "-trimpath=${KUBE_GOPATH}/src/${KUBE_GO_PACKAGE}=>${KUBE_ROOT}\"")
        else:
            raise KubedebugError("unknown patch %s" % name, "Choose from %s" % ", ".join(PATCHES))
        out.append(line)
    return "".join(out)


def _backup(root, rel, backup_dir, patch, check_mode):
    """Copy the original file once to backup_dir/patch/rel; return the backup path."""
    src = os.path.join(root, rel)
    dst = os.path.join(backup_dir, patch, rel)
    if os.path.exists(dst) or check_mode:
        return dst
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".tmp"
    with open(src, "rb") as fi, open(tmp, "wb") as fo:
        fo.write(fi.read())
    os.chmod(tmp, os.stat(src).st_mode & 0o7777)
    os.replace(tmp, dst)
    return dst


def _copy_back(backup, target):
    """Put a backed-up file back, with the backup's mode exactly."""
    with open(backup, "rb") as f:
        # uid: the mode exactly (no umask), as _backup kept it
        _supervise.atomic_write(target, f.read(), os.stat(backup).st_mode & 0o7777, uid=os.geteuid())


def apply_patch(root, name, backup_dir, reflect2_source=None, check_mode=False):
    """Apply one patch idempotently. Returns {name, changed, files, backup, diff}."""
    root = os.path.realpath(root)
    result = {"name": name, "changed": False, "files": [], "backup": os.path.join(backup_dir, name), "diff": None}
    if name in ("strip_flags", "trimpath_rewrite"):
        path = os.path.join(root, GOLANG_SH)
        before = _read(path)
        if before is None:
            raise KubedebugError("%s is missing" % path, "Point at the root of a Kubernetes tree")
        after = patched_golang_sh(before, name)
        if after == before:
            return result
        diff = {"before": before, "after": after, "before_header": GOLANG_SH, "after_header": GOLANG_SH + " (%s)" % name}
        result.update(changed=True, files=[GOLANG_SH], diff=diff)
        if not check_mode:
            _backup(root, GOLANG_SH, backup_dir, name, False)
            # uid: the mode exactly, as the file it replaces had it (no umask)
            _supervise.atomic_write(path, after.encode("utf-8"), os.stat(path).st_mode & 0o7777, uid=os.geteuid())
        return result
    if name == "reflect2":
        if not reflect2_source or not os.path.isdir(reflect2_source):
            raise KubedebugError("reflect2 replacement %s is missing" % reflect2_source,
                                 "apt-get install golang-github-modern-go-reflect2-dev, or point reflect2_source at reflect2 >= 1.0.2")
        vdir = os.path.join(root, REFLECT2_VENDOR_DIR)
        if not os.path.isdir(vdir):
            raise KubedebugError("%s does not vendor %s" % (root, REFLECT2_MODULE), "Do not request the reflect2 patch for this tree")
        if dir_matches(vdir, reflect2_source, source_files):
            return result
        old = sorted(n for n in os.listdir(vdir) if source_files(n))
        new = sorted(n for n in os.listdir(reflect2_source) if source_files(n))
        files = ["remove %s/%s" % (REFLECT2_VENDOR_DIR, n) for n in old if n not in new]
        files += ["write %s/%s" % (REFLECT2_VENDOR_DIR, n) for n in new]
        diff = {"before": "\n".join(old) + "\n", "after": "\n".join(new) + "\n",
                "before_header": REFLECT2_VENDOR_DIR + " (vendored)",
                "after_header": REFLECT2_VENDOR_DIR + " (from %s)" % reflect2_source}
        result.update(changed=True, files=files, diff=diff)
        if check_mode:
            return result
        for n in old:
            _backup(root, os.path.join(REFLECT2_VENDOR_DIR, n), backup_dir, name, False)
        for n in old:
            if n not in new:
                os.unlink(os.path.join(vdir, n))
        for n in new:
            with open(os.path.join(reflect2_source, n), "rb") as f:
                _supervise.atomic_write(os.path.join(vdir, n), f.read(), 0o644, uid=os.geteuid())
        return result
    raise KubedebugError("unknown patch %s" % name, "Choose from %s" % ", ".join(PATCHES))


def revert_patch(root, name, backup_dir, check_mode=False):
    """Put back the files a patch replaced, from its backup. Returns {name, changed, files}."""
    root = os.path.realpath(root)
    bdir = os.path.join(backup_dir, name)
    result = {"name": name, "changed": False, "files": [], "backup": bdir, "diff": None}
    if not os.path.isdir(bdir):
        return result
    backed = []
    for dirpath, _dirs, files in os.walk(bdir):
        for n in files:
            backed.append(os.path.relpath(os.path.join(dirpath, n), bdir))
    if name == "reflect2":
        vdir = os.path.join(root, REFLECT2_VENDOR_DIR)
        orig = {os.path.basename(p) for p in backed}
        current = {n for n in os.listdir(vdir) if source_files(n)} if os.path.isdir(vdir) else set()
        extra = sorted(current - orig)
        differs = [p for p in backed if not os.path.exists(os.path.join(root, p))
                   or _file_sha(os.path.join(root, p)) != _file_sha(os.path.join(bdir, p))]
        if not extra and not differs:
            return result
        result.update(changed=True, files=["remove %s/%s" % (REFLECT2_VENDOR_DIR, n) for n in extra] + ["restore " + p for p in differs])
        if not check_mode:
            for n in extra:
                os.unlink(os.path.join(vdir, n))
            for p in differs:
                _copy_back(os.path.join(bdir, p), os.path.join(root, p))
        return result
    for p in backed:
        target = os.path.join(root, p)
        if os.path.exists(target) and _file_sha(target) == _file_sha(os.path.join(bdir, p)):
            continue
        result["changed"] = True
        result["files"].append("restore " + p)
        if not check_mode:
            _copy_back(os.path.join(bdir, p), target)
    return result


# ---------------------------------------------------------------------------
# k8s_tree_info: the tree, its toolchain, the plan and the stamps
# ---------------------------------------------------------------------------
#: What `make WHAT=cmd/...` runs besides go (rsync: hack/lib/golang.sh places binaries with it; gcc: cgo).
BUILD_TOOLS = ("make", "gcc", "rsync")


def _run_version(run_command, binary, args, hint):
    """(path, output) of ``binary args`` run with the local toolchain only; (None, None) when there is no binary."""
    exe = binary if os.path.sep in binary else shutil.which(binary)
    if not exe or not os.path.exists(exe):
        return None, None
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="")
    rc, out, err = run_command([exe] + args, cwd="/", environ_update=env)
    if rc != 0:
        raise KubedebugError("`%s %s` failed (rc=%d): %s" % (exe, " ".join(args), rc, (err or out).strip()[:500]), hint)
    return exe, out


def read_stamp(stamp_dir, component):
    """The stamp k8s_build wrote for a component's last build, or None."""
    path = os.path.join(stamp_dir, component + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def output_facts(output_dir, component):
    """Where the placed binary is, and its size and mtime (what a stamp records)."""
    path = os.path.join(output_dir, component)
    try:
        st = os.stat(path)
    except OSError:
        return {"path": path, "exists": False, "size": None, "mtime_ns": None}
    return {"path": path, "exists": True, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _go_facts(run_command, go_bin, result):
    """go_bin's version into result; returns it."""
    exe, out = _run_version(run_command, go_bin, ["version"], "Check k8s_build_go_bin; install Go with the kubedebug.lab.go role")
    if exe is None:
        raise KubedebugError("Go not found: %s" % go_bin,
                             "Install Go (the kubedebug.lab.go role sets go_bin) or set k8s_build_go_bin to the go binary")
    go_version = parse_go_version(out)
    result["go_bin"] = os.path.realpath(exe)
    result["go_version"] = fmt_version(go_version, "go")
    return go_version


def _dlv_facts(module, dlv_bin, go_version, result):
    """dlv_bin's version and whether it debugs what go_version builds, into result["dlv"]; a mismatch fails."""
    exe, out = _run_version(module.run_command, dlv_bin, ["version"],
                            "Check k8s_build_dlv_bin; install Delve with the kubedebug.lab.delve role")
    dlv = {"bin": exe, "found": exe is not None, "version": None, "compatible": None, "reason": None}
    if exe is None:
        module.warn("dlv not found (%s): the Delve/Go compatibility check was skipped" % dlv_bin)
        result["dlv"] = dlv
        return
    dv = parse_dlv_version(out)
    dlv["version"] = fmt_version(dv)
    if go_version is not None:
        ok, why = dlv_go_compatible(dv, go_version)
        dlv.update(compatible=ok, reason=why)
        if ok is False:
            raise KubedebugError(
                "Delve/Go mismatch: %s (dlv %s, go %s)" % (why, exe, result["go_bin"]),
                "Install a Delve that supports %s (the kubedebug.lab.delve role picks one) or build with a Go that "
                "dlv %s supports (k8s_build_go_bin); dlv would refuse these binaries ('Version of Delve is too old "
                "for Go version')" % (result["go_version"], dlv["version"]),
                dlv=dlv, go_version=result["go_version"])
        if ok is None:
            module.warn("cannot tell whether dlv %s supports %s: %s" % (dlv["version"], result["go_version"], why))
    result["dlv"] = dlv


def stale_reason(stamp, keys, key_sha, out):
    """Why a component must be built again (None when its stamp matches): ``keys``/``key_sha`` are its stamp
    key and hash now (None without a plan), ``out`` the placed binary's facts (None without an output dir)."""
    if stamp is None:
        return "never built (no stamp)"
    if key_sha is None:
        return "no plan to compare with (go_bin not set or fingerprint off)"
    if stamp.get("key_sha") != key_sha:
        old = stamp.get("key", {})
        changed = sorted(k for k in keys if old.get(k) != keys[k])
        return "changed since the last build: %s" % ", ".join(changed or ["stamp format"])
    binary = stamp.get("binary", {})
    if out is not None and (not out["exists"] or out["size"] != binary.get("size") or out["mtime_ns"] != binary.get("mtime_ns")):
        return "the placed binary %s is missing or was replaced" % out["path"]
    return None


def _stamps(p, result):
    stamps, stale, why = {}, [], {}
    for c in p["components"]:
        stamps[c] = read_stamp(p["stamp_dir"], c)
        have_plan = "stamp_sha" in result
        reason = stale_reason(stamps[c], result["stamp_keys"][c] if have_plan else None,
                              result["stamp_sha"][c] if have_plan else None, result.get("outputs", {}).get(c))
        if reason is not None:
            why[c] = reason
            stale.append(c)
    result.update(stamps=stamps, stale=stale, stale_reasons=why)


def tree_info(module, result):
    """k8s_tree_info: fills ``result`` as it goes (a failure still reports what was found); raises KubedebugError."""
    p = module.params
    tree = inspect_tree(p["path"], p["name_hint"])
    result.update(tree)
    check_components(tree, p["components"])
    go_version = _go_facts(module.run_command, p["go_bin"], result) if p["go_bin"] else None
    if p["dlv_bin"]:
        _dlv_facts(module, p["dlv_bin"], go_version, result)
    if p["components"]:
        result["tools"] = {t: shutil.which(t) for t in BUILD_TOOLS}
    fp = fingerprint(tree["root"]) if p["fingerprint"] else None
    if fp is not None:
        result["fingerprint"] = fp
    if p["output_dir"]:
        result["outputs"] = {c: output_facts(p["output_dir"], c) for c in p["components"]}
    if p["components"] and go_version is not None:
        plan = plan_build(tree, go_version, p["absolute_paths"], p["reflect2"], p["reflect2_source"], p["compress_dwarf"])
        result["plan"] = plan
        if fp is not None:
            keys = {c: stamp_key(tree, plan, go_version, c, fp) for c in p["components"]}
            result["stamp_keys"] = keys
            result["stamp_sha"] = {c: hashlib.sha256(json.dumps(k, sort_keys=True).encode()).hexdigest() for c, k in keys.items()}
    if p["stamp_dir"] and p["components"]:
        _stamps(p, result)
    return result
