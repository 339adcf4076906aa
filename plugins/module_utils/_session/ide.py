# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""IDE remote-attach configurations for a dlv headless server.

Breakpoints set from an IDE by local path bind only if the IDE maps the local
checkout onto the source paths the compiler recorded in the binary (DWARF).
VS Code (vscode-go) has ``substitutePath`` for that; GoLand's "Go Remote"
configuration has no mapping field (it maps through the project's GOPATH /
module layout), so for GoLand the mapping is printed as an instruction.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from xml.sax.saxutils import quoteattr

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

_K8S_ROOT = re.compile(r"^(.*?/?k8s\.io/kubernetes)(/|$)")


def remote_source_root(main_package_dir, main_package="cmd", main_path=None, module_path=None):
    """The tree (or module) root as recorded in the binary, from the main package's recorded directory.

    ``_output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver`` ->
    ``_output/local/go/src/k8s.io/kubernetes``; an absolute checkout path
    ``/src/kubernetes/cmd/kube-apiserver`` -> ``/src/kubernetes``. With the
    build info's main package and module paths (module builds: an operator, a
    current Kubernetes tree), the root is the module's directory exactly: the
    main package's directory less the package's path inside the module
    (``/src/op`` for ``example.com/op`` whose main package is the module
    itself; ``/root/go/pkg/mod/example.com/op@v1.2.0`` for a build from the
    module cache).
    """
    if not main_package_dir:
        raise KubedebugError(
            "the binary records no source directory for its main package",
            hint="Was it built with -trimpath and stripped of DWARF? Rebuild it with kubedebug.lab.k8s_build",
        )
    d = main_package_dir.rstrip("/")
    if main_path and module_path and (main_path == module_path or main_path.startswith(module_path + "/")):
        inner = main_path[len(module_path):].strip("/")
        if not inner:
            return d
        if d.endswith("/" + inner) or d == inner:
            return d[: len(d) - len(inner)].rstrip("/") or "/"
    m = _K8S_ROOT.match(d)
    if m:
        return m.group(1)
    parts = d.split("/")
    if main_package in parts:
        i = len(parts) - 1 - parts[::-1].index(main_package)
        return "/".join(parts[:i]) or "/"
    return posixpath.dirname(d)


# Kubernetes' GOPATH layout (v1.29 and older: the build's GOPATH is
# _output/local/go and the tree is linked at src/k8s.io/kubernetes): code of a
# staging repository is compiled, and recorded in the DWARF, under
# vendor/k8s.io/NAME, a link to staging/src/k8s.io/NAME, where developers edit
# it. A breakpoint set by the staging path binds only with a mapping of its own,
# ahead of the tree root's. Current trees build in workspace mode and record
# staging/src/k8s.io/NAME itself: the root mapping covers them.
GOPATH_TREE_SUFFIX = "_output/local/go/src/k8s.io/kubernetes"
# Every repository published from staging/src/k8s.io in v1.20 to v1.29 (the
# releases built in the GOPATH layout). Only staging repositories may be listed:
# a vendored one (klog, utils, kube-openapi) mapped to staging/ would send the
# IDE to a file the checkout does not have.
GOPATH_STAGING_REPOS = (
    "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go", "cloud-provider",
    "cluster-bootstrap", "code-generator", "component-base", "component-helpers", "controller-manager", "cri-api",
    "cri-client", "csi-translation-lib", "dynamic-resource-allocation", "endpointslice", "kms", "kube-aggregator",
    "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "legacy-cloud-providers",
    "metrics", "mount-utils", "pod-security-admission", "sample-apiserver", "sample-cli-plugin", "sample-controller",
)


def gopath_tree(remote_root, main_package_dir=None, main_module=None):
    """True for a Kubernetes tree built in the GOPATH layout: recorded under _output/local/go/src/k8s.io/kubernetes,
    or (k8s_build_absolute_paths) at the tree's own path, built outside module mode (no main module in the build
    info, ``main_module == ""``) with its main package under cmd/."""
    root = remote_root.rstrip("/")
    if root == GOPATH_TREE_SUFFIX or root.endswith("/" + GOPATH_TREE_SUFFIX):
        return True
    return main_module == "" and bool(main_package_dir) and main_package_dir.startswith(root + "/cmd/")


def source_mappings(local_root, remote_root, staging_repos=None, gopath=None):
    """substitutePath entries for a binary whose recorded root is ``remote_root``, most specific first.

    delve applies the first entry that matches, in both directions (a
    breakpoint's checkout path to the recorded one, a stopped frame's recorded
    path back to the checkout), so the staging entries of the GOPATH layout
    come before the root's: breakpoints by staging path bind, and frames of
    staging code open the staging file. ``staging_repos`` (the names under
    staging/src/k8s.io of the tree, when known) replaces the built-in list.
    """
    local_root = local_root.rstrip("/") or "/"
    remote_root = remote_root.rstrip("/") or "/"
    entries = []
    if gopath if gopath is not None else gopath_tree(remote_root):
        for name in sorted(set(staging_repos if staging_repos is not None else GOPATH_STAGING_REPOS)):
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
                raise KubedebugError("staging repository name %r is not a directory name" % name,
                                     hint="Give the names under staging/src/k8s.io, for example apiserver")
            entries.append({"from": "%s/staging/src/k8s.io/%s" % (local_root, name),
                            "to": "%s/vendor/k8s.io/%s" % (remote_root, name)})
    entries.append({"from": local_root, "to": remote_root})
    return entries


def vscode_configuration(name, host, port, local_root, remote_root, mappings=None):
    """One launch.json configuration attaching vscode-go to a headless dlv (``mappings``: source_mappings())."""
    return {
        "name": name,
        "type": "go",
        "request": "attach",
        "mode": "remote",
        "debugAdapter": "dlv-dap",
        "host": host,
        "port": int(port),
        "substitutePath": mappings if mappings is not None else source_mappings(local_root, remote_root, gopath=False),
        "showLog": False,
    }


def merge_launch_json(existing_text, configuration):
    """launch.json text with ``configuration`` added or replacing the one of the same name.

    Other configurations and keys are kept. Raises when the file is not plain
    JSON (VS Code allows comments; we do not rewrite a file we cannot parse).
    """
    if existing_text is None or not existing_text.strip():
        doc = {"version": "0.2.0", "configurations": []}
    else:
        try:
            doc = json.loads(existing_text)
        except ValueError as e:
            raise KubedebugError(
                "the existing launch.json is not plain JSON (%s); it is left as it is" % e,
                hint="Remove comments/trailing commas from it, or point the IDE output directory elsewhere",
            ) from e
        if not isinstance(doc, dict) or not isinstance(doc.get("configurations", []), list):
            raise KubedebugError("the existing launch.json has no configurations list; it is left as it is")
    # Replace in place (the order stays: writing one component's entry again
    # changes nothing when several components share the file), else append.
    configs, replaced = [], False
    for c in doc.get("configurations", []):
        if isinstance(c, dict) and c.get("name") == configuration["name"]:
            if not replaced:
                configs.append(configuration)
                replaced = True
            continue
        configs.append(c)
    if not replaced:
        configs.append(configuration)
    doc["configurations"] = configs
    doc.setdefault("version", "0.2.0")
    return json.dumps(doc, indent=2) + "\n"


def goland_run_xml(name, host, port):
    """A GoLand "Go Remote" run configuration (.run/NAME.run.xml)."""
    return (
        '<component name="ProjectRunConfigurationManager">\n'
        '  <configuration default="false" name=%s type="GoRemoteDebugConfigurationType" factoryName="Go Remote" host=%s port=%s>\n'
        '    <option name="disconnectOption" value="LEAVE" />\n'
        '    <disconnect value="LEAVE" />\n'
        '    <method v="2" />\n'
        "  </configuration>\n"
        "</component>\n"
    ) % (quoteattr(name), quoteattr(host), quoteattr(str(int(port))))


def safe_file_name(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "kubedebug"


# ------------------------------------------------------------------ writing them

IDE_ARG_SPEC = dict(
    dest=dict(type="path", required=True),
    name=dict(type="str", required=True),
    host=dict(type="str", default="127.0.0.1"),
    port=dict(type="int", required=True),
    local_root=dict(type="str", default="${workspaceFolder}"),
    remote_root=dict(type="str"),
    main_package_dir=dict(type="str"),
    main_path=dict(type="str"),
    main_module=dict(type="str"),
    staging_repos=dict(type="list", elements="str"),
    vscode=dict(type="bool", default=True),
    goland=dict(type="bool", default=True),
)
IDE_ARG_RULES = dict(required_one_of=[("remote_root", "main_package_dir")], mutually_exclusive=[("remote_root", "main_package_dir")])


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def write_configurations(p, check_mode=False, write=None):
    """Write (or, in check mode, compare) the VS Code and GoLand files for validated options ``p``.
    ``write(path, bytes)`` writes a file atomically. Returns the module result (diff always included)."""
    remote = p["remote_root"] or remote_source_root(p["main_package_dir"], main_path=p.get("main_path"),
                                                    module_path=p.get("main_module"))
    gopath = gopath_tree(remote, p.get("main_package_dir"), p.get("main_module"))
    mappings = source_mappings(p["local_root"], remote, p.get("staging_repos"), gopath)
    wanted = []
    if p["vscode"]:
        path = os.path.join(p["dest"], ".vscode", "launch.json")
        conf = vscode_configuration(p["name"], p["host"], p["port"], p["local_root"], remote, mappings)
        wanted.append((path, merge_launch_json(_read_text(path), conf)))
    if p["goland"]:
        path = os.path.join(p["dest"], ".run", safe_file_name(p["name"]) + ".run.xml")
        wanted.append((path, goland_run_xml(p["name"], p["host"], p["port"])))
    files, diffs = [], []
    for path, text in wanted:
        before = _read_text(path)
        changed = before != text
        files.append({"path": path, "changed": changed})
        if changed:
            diffs.append({"before": before or "", "after": text, "before_header": path, "after_header": path})
            if not check_mode:
                write(path, text.encode("utf-8"))
    note = (
        "GoLand's Go Remote configuration (.run/%s.run.xml) carries only host, port and the disconnect choice; it has no "
        "path-mapping field. The binary records its sources under %r. If breakpoints set in GoLand do not bind, build the "
        "binary from a checkout at the same path as on your workstation (keep absolute paths, no -trimpath), or open the "
        "checkout so its files sit at the recorded paths." % (safe_file_name(p["name"]), remote)
    )
    if len(mappings) > 1:
        note += (" The staging code is recorded under %s/vendor/k8s.io/NAME: in GoLand set a breakpoint by the vendor/ "
                 "path (a link to staging/src/k8s.io/NAME in the checkout), or open the checkout at the recorded root." % remote)
    return dict(changed=any(f["changed"] for f in files), remote_root=remote, mappings=mappings, files=files,
                goland_note=note, diff=diffs)
