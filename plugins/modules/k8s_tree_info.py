#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_tree_info
short_description: Read what a Kubernetes source tree needs for a debug build, and what is already built
version_added: 0.1.0
description:
  - Inspects a Kubernetes source tree (a git checkout, Debian's C(kubernetes) source package, a release tarball)
    and returns its version, how its C(hack/lib/golang.sh) handles debug builds (C(DBG=1), a
    C(${GOLDFLAGS=-s -w}) default that C(GOLDFLAGS="") overrides, hard-coded C(-s -w), C(-trimpath)), the Go
    versions it accepts, and the vendored C(github.com/modern-go/reflect2) version.
  - With O(components) and O(go_bin) it also plans the debug build (make variables, environment, tree patches)
    and fails with the fix when the tree cannot be built that way (unknown component, no Makefile, Go too old,
    Delve that cannot debug what this Go builds).
  - With O(stamp_dir) it compares each component's build stamp (tree fingerprint, make variables, patches, Go
    version) with the current one and returns the components that need a rebuild.
  - The decisions are taken from the tree's own files, never from a table of Kubernetes versions.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
options:
  path:
    description: Root of the Kubernetes tree (the directory holding C(Makefile), C(hack/), C(cmd/)).
    type: path
    required: true
  name_hint:
    description:
      - Name of the archive or directory the tree came from (for example C(kubernetes_1.20.5+really1.20.2.orig.tar.gz)),
        used for the version when the tree has no C(.git), no version file and no C(git archive) values.
    type: str
  components:
    description:
      - Components to build. Each must be one of the collection's components and exist under C(cmd/) in this tree.
    type: list
    elements: str
    default: []
  go_bin:
    description: The C(go) that will build. Needed to plan a build.
    type: str
  dlv_bin:
    description:
      - The C(dlv) that will debug the binaries. When it is found, the build fails early if this Delve cannot
        debug binaries from O(go_bin)'s Go. When it is not found, RV(dlv.found) is false and a warning is given.
    type: str
  absolute_paths:
    description:
      - Plan a build whose DWARF records absolute paths into this tree, so IDE breakpoints map without substitution.
      - Trees that trim to C(${KUBE_ROOT}) (v1.20 and older) get a one-line C(hack/lib/golang.sh) patch that rewrites
        C(_output/local/go/src/k8s.io/kubernetes) to the tree root; trees where that is not possible fail with the
        recorded prefix to map instead.
    type: bool
    default: false
  compress_dwarf:
    description:
      - V(false) plans the link with C(-compressdwarf=false) - binaries about 40% larger whose DWARF Delve reads
        without inflating it first (a debug session starts about 0.7 s sooner for a kube-apiserver).
      - V(true) keeps Go's default (compressed DWARF sections).
    type: bool
    default: true
  reflect2:
    description:
      - The reflect2 fix (see RV(plan.reflect2)). V(auto) plans it when the tree vendors reflect2 < 1.0.2 and Go >= 1.18
        builds (such binaries crash at run time); V(always)/V(never) force it.
    type: str
    choices: [auto, always, never]
    default: auto
  reflect2_source:
    description: Directory with github.com/modern-go/reflect2 >= 1.0.2 sources (Debian's golang-github-modern-go-reflect2-dev).
    type: path
    default: /usr/share/gocode/src/github.com/modern-go/reflect2
  stamp_dir:
    description: Directory of the build stamps (C(<component>.json)). With it, RV(stale) lists what needs a rebuild.
    type: path
  output_dir:
    description: Directory of the placed binaries; a stamp only counts when the binary it describes is still there unchanged.
    type: path
  fingerprint:
    description: Compute the tree fingerprint (path, size, mtime and mode of every source file, about 0.3 s for a Kubernetes tree).
    type: bool
    default: true
seealso:
  - module: kubedebug.lab.k8s_tree_patch
  - module: kubedebug.lab.go_debug_info
"""

EXAMPLES = r"""
- name: What does this tree do with debug builds?
  kubedebug.lab.k8s_tree_info:
    path: /var/cache/kubedebug/src/kubernetes-v1.20.2
  register: tree

- name: Plan a debug build of the apiserver and the kubelet
  kubedebug.lab.k8s_tree_info:
    path: "{{ tree.root }}"
    components: [kube-apiserver, kubelet]
    go_bin: /usr/lib/go-1.19/bin/go
    dlv_bin: dlv
    stamp_dir: /var/cache/kubedebug/build/stamps
    output_dir: /var/cache/kubedebug/build/bin
  register: plan
"""

RETURN = r"""
root:
  description: Resolved tree root.
  returned: success
  type: str
is_git:
  description: The tree is a git checkout.
  returned: success
  type: bool
version:
  description: The tree's Kubernetes version, its commit, where it was read, and whether a git tree is dirty.
  returned: success
  type: dict
  sample: {"version": "v1.20.2", "commit": "faecb196815e248d3ecfb03c680a4507229c2a56", "source": "hack/lib/version.sh", "dirty": null}
features:
  description: How C(hack/lib/golang.sh) builds (C(dbg), C(strip_flags), C(trimpath), C(trimpath_under_dbg), C(gopath_symlink), C(force_host_go)).
  returned: success
  type: dict
  sample: {"dbg": false, "strip_flags": "overridable", "trimpath": "kube_root", "gopath_symlink": true}
go:
  description: Go versions from C(go.mod), C(.go-version), C(build/build-image/cross/VERSION), the script's minimum; C(minimum) and C(recommended).
  returned: success
  type: dict
components_present:
  description: Collection components that exist under C(cmd/) in this tree.
  returned: success
  type: list
  elements: str
go_version:
  description: Version printed by O(go_bin).
  returned: when O(go_bin) is set
  type: str
  sample: go1.19.8
dlv:
  description: The Delve found at O(dlv_bin), its version and whether it supports RV(go_version).
  returned: when O(dlv_bin) is set
  type: dict
  contains:
    bin: {description: Resolved path of dlv., type: str}
    found: {description: dlv was found., type: bool}
    version: {description: dlv version., type: str, sample: 1.20.2}
    compatible: {description: It supports the Go that builds (null when unknown)., type: bool}
    reason: {description: Why., type: str}
plan:
  description:
    - The debug build. C(mode) is C(dbg) (C(make DBG=1)) or C(flags) (C(GOGCFLAGS="all=-N -l" GOLDFLAGS="")); C(make_vars) and C(env)
      go to C(make); C(patches) lists tree patches to apply first (each with its reason); C(reflect2) tells whether that fix is needed
      and already applied.
  returned: when O(components) and O(go_bin) are set
  type: dict
  contains:
    mode: {description: C(dbg) or C(flags)., type: str}
    make_vars: {description: Variables for make., type: dict}
    make_args: {description: The same as C(NAME=value) arguments., type: list, elements: str}
    env: {description: Environment for make., type: dict}
    patches:
      description: Tree patches the build needs, each with C(name), C(file), C(reason) and C(applied).
      type: list
      elements: dict
    revert: {description: Tree patches to take back first (absolute paths no longer wanted)., type: list, elements: dict}
    reflect2:
      description: Whether the tree needs the reflect2 fix with this Go (C(vendored_version), C(needed), C(applied), C(reason)).
      type: dict
    notes: {description: How the flags were chosen., type: list, elements: str}
    component_dirs: {description: Main package directory of each component., type: dict}
    tree_output_dir: {description: Where the tree's make puts binaries for this platform., type: str}
fingerprint:
  description: sha256 over path, size, mtime and mode of the tree's files (without C(_output), C(.git), C(.make)), and the file count.
  returned: when O(fingerprint) is true
  type: dict
stamp_keys:
  description: Per component, what its binary depends on; write it into the stamp after a successful build.
  returned: when a plan is made
  type: dict
stamp_sha:
  description: Per component, sha256 of its stamp key.
  returned: when a plan is made
  type: dict
outputs:
  description: Per component, the placed binary in O(output_dir) (C(path), C(exists), C(size), C(mtime_ns)).
  returned: when O(output_dir) is set
  type: dict
stamps:
  description: Per component, the stamp read from O(stamp_dir) (the last successful build and its debug-info verdict), or null.
  returned: when O(stamp_dir) is set
  type: dict
stale:
  description: Components whose stamp does not match (never built, tree or flags or Go changed, binary gone or replaced).
  returned: when O(stamp_dir) is set
  type: list
  elements: str
tools:
  description: Where C(make), C(gcc) and C(rsync) are on PATH (null when missing).
  returned: when O(components) is set
  type: dict
stale_reasons:
  description: Per stale component, why.
  returned: when O(stamp_dir) is set
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name_hint=dict(type="str"),
            components=dict(type="list", elements="str", default=[]),
            go_bin=dict(type="str"),
            dlv_bin=dict(type="str"),
            absolute_paths=dict(type="bool", default=False),
            compress_dwarf=dict(type="bool", default=True),
            reflect2=dict(type="str", choices=["auto", "always", "never"], default="auto"),
            reflect2_source=dict(type="path", default="/usr/share/gocode/src/github.com/modern-go/reflect2"),
            stamp_dir=dict(type="path"),
            output_dir=dict(type="path"),
            fingerprint=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    result = {"changed": False}
    try:
        kt.tree_info(module, result)
    except KubedebugError as err:
        fail_from_error(module, err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
