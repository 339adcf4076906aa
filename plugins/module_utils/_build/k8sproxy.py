# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""A Kubernetes tree rebuilt from the Go module proxy, equivalent to a checkout of its tag.

The proxy serves a release as the module ``k8s.io/kubernetes@vX.Y.Z``, and its
staging repositories as the published modules ``k8s.io/<repo>@v0.Y.Z``. A
module zip differs from a git checkout of the tag in five ways, and this file
undoes each of them:

1. **No nested modules**: all of ``staging/src/k8s.io/*`` is missing. Each
   repository named in ``go.work`` is downloaded and put back.
2. **Published go.mod/go.sum**: the publishing bot rewrote the staging
   ``go.mod`` files to require their siblings at ``v0.Y.Z``; in the tree they
   require ``v0.0.0`` and replace each sibling with ``../<repo>`` (what the
   tree's ``hack/update-vendor.sh`` writes). The sibling lines go from
   ``go.sum`` too.
3. **No vendor/**: regenerated the way ``hack/update-vendor.sh`` does it, with
   ``go work vendor`` in workspace mode (GOWORK and GOFLAGS unset: no
   ``-mod=mod``), by the Go the tree asks for.
4. **No symlinks**: the root ``Makefile`` (a link to ``build/root/Makefile``)
   is restored.
5. **No file modes**: module zips carry none (the cache makes everything
   read-only). Scripts, i.e. files starting with ``#!``, get 0755, the rest 0644.

What cannot be restored is named in the result: ``hack/tools`` (a nested
module that is not published), and staging modules the proxy does not serve
(only the example repositories may be left out, and only with a note; they are
dropped from ``go.work`` and nothing imports them).

The tree is assembled next to its destination and renamed into place at the
end, so an interrupted or failed run never leaves a half tree where a build
would take it for a whole one, and a tree that is already there (with the
user's edits) is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

from ansible_collections.kubedebug.lab.plugins.module_utils._build import goproxy as _goproxy
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import GoVersion
from ansible_collections.kubedebug.lab.plugins.module_utils._build.k8stree import vendoring_problems

KUBERNETES_MODULE = "k8s.io/kubernetes"
MARKER = ".kubedebug-source.json"
VERSION_FILE = ".kubedebug-version"
#: Staging repositories that are examples: no component imports them, so a
#: proxy that does not serve them costs nothing a build needs.
EXAMPLE_REPOS = ("k8s.io/sample-apiserver", "k8s.io/sample-cli-plugin", "k8s.io/sample-controller")
#: Links of a checkout that a module zip drops: (link, target) when target exists.
SYMLINKS = (("Makefile", "build/root/Makefile"), ("Makefile.generated_files", "build/root/Makefile.generated_files"))
#: Nested modules of the kubernetes repository that are not published anywhere.
UNPUBLISHED = ("hack/tools",)

_VERSION = re.compile(r"^v1\.(\d+)\.(\d+)(-(?:alpha|beta|rc)\.\d+)?$")


def parse_release(version):
    """'v1.37.2' -> (37, 2, ''); the staging modules of it are v0.37.2."""
    m = _VERSION.match(version or "")
    if not m:
        raise KubedebugError(
            "%r is not a Kubernetes release version" % version,
            "Give k8s_source_version as vMAJOR.MINOR.PATCH, for example v1.37.2 (pre-releases: v1.38.0-beta.0)",
            version=version)
    return int(m.group(1)), int(m.group(2)), m.group(3) or ""


def staging_version(version):
    minor, patch, pre = parse_release(version)
    return "v0.%d.%d%s" % (minor, patch, pre)


def workspace_modules(go_work_text):
    """The ``use`` paths of a go.work file, in order (``.`` included)."""
    uses = []
    block = False
    for raw in go_work_text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if block:
            if line == ")":
                block = False
            else:
                uses.append(line)
        elif line == "use (":
            block = True
        elif line.startswith("use "):
            uses.append(line[4:].strip())
    return uses


def staging_repos(go_work_text):
    """Module paths of the staging repositories go.work uses (``k8s.io/api``, ...)."""
    out = []
    for use in workspace_modules(go_work_text):
        use = use.strip('"').removeprefix("./")
        if use.startswith("staging/src/"):
            out.append(use[len("staging/src/"):])
    return out


def drop_from_go_work(go_work_text, modules):
    """go.work without the ``use`` lines of ``modules``."""
    drop = {"./staging/src/" + m for m in modules} | {"staging/src/" + m for m in modules}
    kept = [line for line in go_work_text.splitlines(True) if line.split("//", 1)[0].strip().strip('"') not in drop]
    return "".join(kept)


_REQ_LINE = re.compile(r"^(\t|require )(\S+) (\S+)(.*)$")


def in_tree_go_mod(text, siblings, published):
    """A published staging go.mod rewritten the way the tree has it.

    Requirements on ``siblings`` (staging module paths) at the ``published``
    version become ``v0.0.0``, and a ``replace`` block maps each of them to
    ``../<repo>``. Returns (new text, sibling paths it requires).
    """
    required = []
    out = []
    in_require = in_replace = False
    replaced = set()
    for line in text.splitlines(True):
        stripped = line.strip()
        if stripped.startswith("require ("):
            in_require = True
        elif stripped.startswith("replace ("):
            in_replace = True
        elif stripped == ")":
            in_require = in_replace = False
        elif in_replace or stripped.startswith("replace "):
            body = stripped[len("replace "):] if stripped.startswith("replace ") else stripped
            replaced.add(body.split()[0])
        m = _REQ_LINE.match(line.rstrip("\n"))
        if m and (in_require or line.startswith("require ")) and m.group(2) in siblings and m.group(3) == published:
            required.append(m.group(2))
            line = "%s%s v0.0.0%s\n" % (m.group(1), m.group(2), m.group(4))
        out.append(line)
    text = "".join(out)
    missing = sorted(set(required) - replaced)
    if missing:
        block = "".join("\t%s => ../%s\n" % (p, p.split("/", 1)[1]) for p in missing)
        text = text.rstrip("\n") + "\n\nreplace (\n" + block + ")\n"
    return text, sorted(set(required))


def in_tree_go_sum(text, siblings, published):
    """go.sum without the lines of ``siblings`` at the ``published`` version."""
    keep = []
    for line in text.splitlines(True):
        parts = line.split()
        if len(parts) >= 2 and parts[0] in siblings and parts[1].split("/", 1)[0] == published:
            continue
        keep.append(line)
    return "".join(keep)


def _is_script(path):
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def copy_module_tree(src, dst):
    """Copy an unpacked module (read-only, no modes) to ``dst`` with checkout-like modes."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst if rel == "." else os.path.join(dst, rel)
        os.makedirs(target, exist_ok=True)
        os.chmod(target, 0o755)
        for name in filenames:
            s = os.path.join(dirpath, name)
            d = os.path.join(target, name)
            shutil.copyfile(s, d)
            os.chmod(d, 0o755 if _is_script(d) else 0o644)


def version_file_text(version, commit="", tree_state="clean"):
    """KUBE_GIT_VERSION_FILE contents (hack/lib/version.sh sources it)."""
    minor, _patch, _pre = parse_release(version)
    return ("KUBE_GIT_COMMIT='%s'\nKUBE_GIT_TREE_STATE='%s'\nKUBE_GIT_VERSION='%s'\nKUBE_GIT_MAJOR='1'\nKUBE_GIT_MINOR='%d'\n"
            % (commit, tree_state, version, minor))


#: Who the synthesized commit and tag are by: not upstream's, and saying so.
GIT_IDENTITY = ("kubedebug.lab", "kubedebug@localhost")


def git_env(when, base=None):
    """git with no user or system configuration (no hooks, signing or autocrlf of the host), fixed identity and date."""
    env = dict(os.environ if base is None else base)
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME=GIT_IDENTITY[0],
               GIT_AUTHOR_EMAIL=GIT_IDENTITY[1], GIT_COMMITTER_NAME=GIT_IDENTITY[0], GIT_COMMITTER_EMAIL=GIT_IDENTITY[1],
               GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    return env


def commit_tree(root, version, when, base_env=None):
    """Make ``root`` a git checkout of a tag ``version``: one commit of every file, dated ``when``.

    The tree's own hack/lib/version.sh then reads the version as it does in a
    clone (``git describe``: the tag, a commit, tree state clean, ``-dirty``
    once the user edits), and a clone of it is identical, commit included.
    The commit is this tree's, not upstream's (a proxy does not say which that
    is); its message says so. Returns the commit id, or None without git.
    """
    git = shutil.which("git", path=(base_env or os.environ).get("PATH"))
    if not git:
        return None
    env = git_env(when, base_env)
    msg = ("Kubernetes %s, rebuilt from the Go module proxy by kubedebug.lab (k8s_source goproxy)\n\n"
           "Not the upstream commit: the module k8s.io/kubernetes@%s and its staging modules, vendored with\n"
           "go work vendor. See .kubedebug-source.json for every module and its checksum.\n" % (version, version))

    def run(*args):
        p = subprocess.run([git] + list(args), cwd=root, env=env, capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise KubedebugError("git %s failed in %s: %s" % (args[0], root, (p.stderr or p.stdout).strip()[-500:]),
                                 "Check that git works on this host", root=root)
        return p.stdout.strip()

    run("init", "-q")
    with open(os.path.join(root, ".git", "info", "exclude"), "a") as f:
        f.write("/%s\n/%s\n" % (MARKER, VERSION_FILE))
    run("add", "-A", ".")
    run("commit", "-q", "--no-verify", "-m", msg)
    run("tag", "-a", version, "-m", "Kubernetes %s (from the Go module proxy)" % version)
    return run("rev-parse", "HEAD")


def read_marker(dest):
    try:
        with open(os.path.join(dest, MARKER)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def existing_tree(dest, version):
    """'ours' (a complete goproxy tree of ``version``), 'absent', or raise for anything else."""
    if not os.path.lexists(dest):
        return "absent"
    marker = read_marker(dest)
    if marker and marker.get("method") == "goproxy" and marker.get("complete"):
        if marker.get("version") == version:
            return "ours"
        raise KubedebugError(
            "%s holds the Kubernetes %s tree from the Go module proxy, not %s" % (dest, marker.get("version"), version),
            "Leave k8s_source_dir empty (each version gets kubernetes-<version> in k8s_source_cache_dir) or choose another "
            "k8s_source_dir; the tree there (with any edits) is not replaced",
            dest=dest, found_version=marker.get("version"))
    raise KubedebugError(
        "%s exists and is not a tree this role fetched from the Go module proxy" % dest,
        "Move it away or choose another k8s_source_dir: kubedebug.lab never writes over a directory it did not make",
        dest=dest)


def vendor_env(go_version_wanted, base_env, goproxy, gosumdb, modcache):
    """Environment for ``go work vendor`` as the tree's own script runs it.

    GOWORK and GOFLAGS unset (workspace mode, no -mod=mod). The Go that runs
    it is the tree's: GOTOOLCHAIN=go<version> lets a go >= 1.21 fetch it
    through the same verified proxy (the go command checks a toolchain
    against the checksum database too); go_bin itself when it is that version.
    """
    env = _goproxy.go_env(goproxy=goproxy, gosumdb=gosumdb, modcache=modcache, base=base_env)
    env.pop("GOWORK", None)
    env.pop("GOFLAGS", None)
    env["GOTOOLCHAIN"] = "go" + go_version_wanted if go_version_wanted else "local"
    return env


def go_version_of(go_bin, env=None):
    """(major, minor, patch) of the go command ``go_bin``, or None when it does not run."""
    try:
        v = _goproxy.go_version_of(go_bin, env)
    except KubedebugError:
        return None
    return (v.major, v.minor, v.patch or 0)


def _go_version_tuple(text):
    m = re.match(r"^(?:go)?(\d+)\.(\d+)(?:\.(\d+))?", (text or "").strip())
    return tuple(int(x or 0) for x in m.groups()) if m else None


def tree_go_version(root):
    """The Go version a tree asks for: .go-version, else go.mod's go directive."""
    for rel, rx in ((".go-version", r"^\s*(\d+\.\d+(?:\.\d+)?)"), ("go.mod", r"(?m)^go\s+(\d+\.\d+(?:\.\d+)?)")):
        try:
            with open(os.path.join(root, rel)) as f:
                m = re.search(rx, f.read())
        except OSError:
            continue
        if m:
            return m.group(1)
    return None


def run_vendor(root, env, timeout=3600):
    p = subprocess.run(["go", "work", "vendor"], cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return p.returncode, p.stdout + p.stderr


def plan(version, dest, go_work_text=None):
    """The modules to fetch for ``version`` (pure; the go.work list is known only after the first download)."""
    staging = staging_version(version)
    mods = [(KUBERNETES_MODULE, version)]
    if go_work_text is not None:
        mods = [(m, staging) for m in staging_repos(go_work_text)]
    return {"version": version, "staging_version": staging, "dest": dest, "modules": mods}


def _release_time(info_path):
    """The release's time from the proxy's .info file (the commit and tag date), else a fixed one."""
    try:
        with open(info_path) as f:
            when = json.load(f).get("Time")
        if when:
            return when
    except (OSError, ValueError, TypeError):
        pass
    return "1970-01-01T00:00:00Z"


def fetch_tree(version, dest, go_bin, goproxy=None, gosumdb=None, modcache=None, optional_repos=EXAMPLE_REPOS,
               check_mode=False, base_env=None, log=None):
    """Assemble the tree of ``version`` at ``dest``; returns a result dict (``changed`` included).

    Nothing is written at ``dest`` unless the whole tree was assembled and
    vendored; a failed run removes its partial copy.
    """
    # Long on purpose: the tree is assembled, vendored and swapped into dest as one transaction whose
    # partial copy one try/finally removes on any failure.
    log = log or (lambda msg: None)
    base_env = dict(os.environ if base_env is None else base_env)
    parse_release(version)
    state = existing_tree(dest, version)
    if state == "ours":
        marker = read_marker(dest)
        return dict(changed=False, dest=dest, version=version, marker=marker,
                    omitted_modules=marker.get("omitted_modules", []), not_restored=marker.get("not_restored", []))
    env = _goproxy.go_env(goproxy=goproxy, gosumdb=gosumdb, modcache=modcache, base=base_env)
    if go_version_of(go_bin, env) is None:
        raise KubedebugError(
            "No working go command at %s to download Kubernetes %s from the Go module proxy" % (go_bin, version),
            "Install any Go >= 1.21 first (for example with kubedebug.lab.go) or set k8s_source_go_bin", go_bin=go_bin)
    if check_mode:
        # Only ask the proxy whether it has the release: nothing is downloaded in check mode.
        versions = _goproxy.list_versions(go_bin, KUBERNETES_MODULE, env)
        if versions is not None and version not in versions:
            raise KubedebugError("The Go module proxy %s does not list %s@%s" % (env["GOPROXY"], KUBERNETES_MODULE, version),
                                 "Pick a version the proxy lists (newest: %s)" % ", ".join(versions[-12:]),
                                 available_versions=versions, error_kind="not_found")
        return dict(changed=True, dest=dest, version=version, marker=None, omitted_modules=[], not_restored=list(UNPUBLISHED))

    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    partial = os.path.join(parent, ".%s.partial" % os.path.basename(os.path.abspath(dest)))
    if os.path.lexists(partial):
        shutil.rmtree(partial)
    try:
        log("downloading %s@%s" % (KUBERNETES_MODULE, version))
        (main,) = _goproxy.download(go_bin, [(KUBERNETES_MODULE, version)], env)
        copy_module_tree(main["dir"], partial)
        with open(os.path.join(partial, "go.work")) as f:
            go_work = f.read()
        staging = staging_version(version)
        repos = staging_repos(go_work)
        if not repos:
            raise KubedebugError(
                "Kubernetes %s has no go.work listing staging modules: the goproxy method needs a release with Go "
                "workspaces (v1.30 or newer)" % version,
                "Use k8s_source_method git or local for older releases (Debian's v1.20.2: method debian)", version=version)
        fetched, omitted = [], []
        for repo in repos:
            try:
                fetched.extend(_goproxy.download(go_bin, [(repo, staging)], env))
            except KubedebugError as err:
                if repo in optional_repos and err.details.get("error_kind") == "not_found":
                    omitted.append(repo)
                    log("the proxy does not serve %s@%s (an example no component imports): left out" % (repo, staging))
                    continue
                raise
        siblings = {m["path"] for m in fetched}
        for m in fetched:
            target = os.path.join(partial, "staging", "src", m["path"])
            copy_module_tree(m["dir"], target)
            gm = os.path.join(target, "go.mod")
            with open(gm) as f:
                text, _req = in_tree_go_mod(f.read(), siblings, staging)
            with open(gm, "w") as f:
                f.write(text)
            gs = os.path.join(target, "go.sum")
            if os.path.exists(gs):
                with open(gs) as f:
                    text = in_tree_go_sum(f.read(), siblings, staging)
                with open(gs, "w") as f:
                    f.write(text)
        if omitted:
            with open(os.path.join(partial, "go.work"), "w") as f:
                f.write(drop_from_go_work(go_work, omitted))
        links = []
        for link, target in SYMLINKS:
            if os.path.exists(os.path.join(partial, target)) and not os.path.lexists(os.path.join(partial, link)):
                os.symlink(target, os.path.join(partial, link))
                links.append(link)
        go_wanted = tree_go_version(partial)
        venv = vendor_env(go_wanted, base_env, goproxy, gosumdb, modcache)
        have = go_version_of(go_bin, env)
        want = _go_version_tuple(go_wanted)
        if want and have and have >= want:
            venv["GOTOOLCHAIN"] = "local"
        elif have and have < (1, 21):
            raise KubedebugError(
                "%s is Go %s, which cannot run the Go %s that Kubernetes %s's vendoring needs (toolchain switching "
                "came with Go 1.21)" % (go_bin, ".".join(map(str, have)), go_wanted, version),
                "Give k8s_source_go_bin a Go >= 1.21 (any; the tree's own Go is fetched through the proxy and verified)",
                go_bin=go_bin)
        venv["PATH"] = os.path.dirname(go_bin) + os.pathsep + venv.get("PATH", "")
        log("go work vendor (Go %s)" % go_wanted)
        rc, out = run_vendor(partial, venv)
        if rc != 0:
            kind = _goproxy.classify(out)
            raise KubedebugError(
                "go work vendor failed in the Kubernetes %s tree (%s): %s" % (version, kind, out.strip()[-1500:]),
                "Check that the proxy serves every dependency of the release (GOPROXY=%s)" % env["GOPROXY"],
                version=version, error_kind=kind)
        problems = vendoring_problems(partial)
        if problems:
            raise KubedebugError("go work vendor left an incomplete vendor/ tree: %s" % ", ".join(problems),
                                 "Report it: the go command should not do that", problems=problems)
        when = _release_time(main.get("info"))
        commit = commit_tree(partial, version, when, base_env)
        if commit is None:
            # No git on the host: the version for the build comes from KUBE_GIT_VERSION_FILE instead.
            with open(os.path.join(partial, VERSION_FILE), "w") as f:
                f.write(version_file_text(version))
            log("no git on this host: the version is recorded in %s (no commit, tree state unknown)" % VERSION_FILE)
        marker = dict(
            method="goproxy", complete=True, version=version, staging_version=staging,
            goproxy=env["GOPROXY"], gosumdb=env["GOSUMDB"],
            modules={m["path"]: {"version": m["version"], "sum": m["sum"]} for m in [main] + fetched},
            omitted_modules=omitted, not_restored=list(UNPUBLISHED), symlinks=links,
            vendored_with="go" + (go_wanted or "?"), git_commit=commit, release_time=when,
        )
        with open(os.path.join(partial, MARKER), "w") as f:
            json.dump(marker, f, indent=2, sort_keys=True)
            f.write("\n")
        os.rename(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dict(changed=True, dest=dest, version=version, marker=marker, omitted_modules=omitted,
                not_restored=list(UNPUBLISHED))


#: Where a go command is looked for when none is given, after PATH's.
GO_CANDIDATES = ("/opt/kubedebug/go/current/bin/go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go")
#: Toolchain switching (GOTOOLCHAIN=goX.Y.Z) came with Go 1.21: the vendoring runs the tree's Go through it.
MIN_GO = GoVersion(1, 21, 0)


def find_go(given=None, path_env=None, candidates=GO_CANDIDATES):
    """``given``, else the first go >= 1.21 on PATH or in ``candidates``; None when there is none."""
    if given:
        return given
    path, _version, _tried = _goproxy.find_go(("go",) + tuple(candidates), path_env=path_env, minimum=MIN_GO)
    return path
