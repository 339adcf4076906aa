#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_source_goproxy
short_description: Rebuild a Kubernetes release tree from the Go module proxy, equivalent to a checkout of its tag
version_added: 0.1.0
description:
  - Downloads the module C(k8s.io/kubernetes@<version>) and every staging module its C(go.work) uses
    (C(k8s.io/api@v0.Y.Z), ...) with the go command, which checks each against the checksum database
    (C(GOSUMDB) is never off; C(GONOSUMDB), C(GOPRIVATE), C(GOINSECURE) from the environment are ignored).
  - Puts the staging modules back under C(staging/src/k8s.io/), rewrites their C(go.mod)/C(go.sum) to the in-tree form
    (siblings at C(v0.0.0), replaced by C(../<repo>)), restores the root C(Makefile) link to C(build/root/Makefile),
    gives scripts (C(#!)) mode 0755, and regenerates C(vendor/) the way C(hack/update-vendor.sh) does (C(go work vendor) in
    workspace mode, GOWORK and GOFLAGS unset) with the Go the tree asks for (C(.go-version); fetched through the same proxy
    and verified when O(go_bin) is another version).
  - Makes the tree a git checkout of the tag, as a clone is - one commit of every file, dated the release's time and
    authored by C(kubedebug.lab) (its message says it is not the upstream commit, which a proxy does not name), tagged
    O(version) - so the tree's own C(hack/lib/version.sh) stamps the release (C(gitTreeState) clean, C(-dirty) once you
    edit), C(git diff) shows your edits, and a clone of it is identical. Without git on the host it writes
    C(.kubedebug-version) (C(KUBE_GIT_VERSION_FILE) format) instead. C(.kubedebug-source.json) records every module and
    its C(h1:) checksum.
  - The tree is assembled beside O(dest) and renamed into place when complete. An existing O(dest) is never written over
    (a complete tree of the same version is left as it is, edits included; anything else fails).
  - The go command O(go_bin) downloads (any Go >= 1.21; the tree's own Go is fetched for the vendoring when this is
    another version); empty means the first Go >= 1.21 of C(go) on PATH, C(/opt/kubedebug/go/current/bin/go),
    C(/usr/local/go/bin/go), C(/usr/lib/go/bin/go).
  - What a module zip cannot give back is reported in RV(not_restored) (C(hack/tools), an unpublished nested module) and
    RV(omitted_modules) (example staging repositories the proxy does not serve; dropped from C(go.work), nothing imports them).
extends_documentation_fragment:
  - kubedebug.lab.goproxy
  - kubedebug.lab._attributes
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  version:
    description: The Kubernetes release, V(v1.37.2) (pre-releases as V(v1.38.0-beta.0)). Needs Go workspaces (v1.30 or newer).
    type: str
    required: true
  dest:
    description: Where the tree goes, for example C(/var/cache/kubedebug/src/kubernetes-v1.37.2).
    type: path
    required: true
  optional_modules:
    description:
      - Staging modules that may be left out when the proxy does not serve them. Only repositories no component imports belong here.
    type: list
    elements: str
    default: [k8s.io/sample-apiserver, k8s.io/sample-cli-plugin, k8s.io/sample-controller]
attributes:
  check_mode:
    support: full
    details: Asks the proxy whether it lists the release; downloads and writes nothing.
  diff_mode:
    support: none
    details: A whole source tree has no useful diff; the result lists every module and its checksum.
notes:
  - Takes about 80 s and some 400 MB of module cache for v1.37.2 the first time (the release, 31 staging modules and every
    vendored dependency).
seealso:
  - module: kubedebug.lab.k8s_tree_info
"""

EXAMPLES = r"""
- name: Kubernetes v1.37.2 from the Go module proxy
  kubedebug.lab.k8s_source_goproxy:
    version: v1.37.2
    dest: /var/cache/kubedebug/src/kubernetes-v1.37.2
    cache_dir: /var/cache/kubedebug/gomod

- name: Through the company's mirror
  kubedebug.lab.k8s_source_goproxy:
    version: v1.34.4
    dest: /srv/src/kubernetes-v1.34.4
    goproxy: https://goproxy.example.com
    gosumdb: sum.golang.org https://goproxy.example.com/sumdb/sum.golang.org
"""

RETURN = r"""
dest:
  description: The tree.
  returned: always
  type: str
  sample: /var/cache/kubedebug/src/kubernetes-v1.37.2
version:
  description: The release.
  returned: always
  type: str
  sample: v1.37.2
go_bin:
  description: The go command that downloaded.
  returned: always
  type: str
  sample: /usr/local/go/bin/go
modules:
  description: Every module the tree was made of, with its version and the C(h1:) checksum the checksum database agreed to.
  returned: success
  type: dict
  sample: {"k8s.io/kubernetes": {"version": "v1.37.2", "sum": "h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE="}}
omitted_modules:
  description: Optional staging modules the proxy does not serve, left out of the tree and of C(go.work).
  returned: always
  type: list
  elements: str
  sample: [k8s.io/sample-cli-plugin, k8s.io/sample-controller]
not_restored:
  description: Parts of a checkout that a module zip cannot give back.
  returned: always
  type: list
  elements: str
  sample: [hack/tools]
git_commit:
  description: The commit the tree is a checkout of (this tree's; empty without git on the host).
  returned: success
  type: str
  sample: 7d709b6d31fd4727832c9212046ab36c627a684a
vendored_with:
  description: The Go that ran C(go work vendor).
  returned: when changed
  type: str
  sample: go1.26.10
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8sproxy as _k8sproxy
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goproxy import GOPROXY_ARG_SPEC
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            GOPROXY_ARG_SPEC,
            version=dict(type="str", required=True),
            dest=dict(type="path", required=True),
            optional_modules=dict(type="list", elements="str", default=list(_k8sproxy.EXAMPLE_REPOS)),
        ),
        supports_check_mode=True,
    )
    p = module.params
    go_bin = _k8sproxy.find_go(p["go_bin"])
    result = dict(changed=False, dest=p["dest"], version=p["version"], go_bin=go_bin or "", omitted_modules=[], not_restored=[])
    try:
        if not go_bin:
            raise KubedebugError(
                "No go command found to download Kubernetes %s from the Go module proxy" % p["version"],
                "Install any Go >= 1.21 first (kubedebug.lab.go), or set go_bin (k8s_source_go_bin)")
        r = _k8sproxy.fetch_tree(p["version"], p["dest"], go_bin, goproxy=p["goproxy"] or None, gosumdb=p["gosumdb"] or None,
                                 modcache=p["cache_dir"] or None, optional_repos=tuple(p["optional_modules"]),
                                 check_mode=module.check_mode)
    except KubedebugError as err:
        fail_from_error(module, err, **result)
    marker = r.get("marker") or {}
    result.update(changed=r["changed"], omitted_modules=r["omitted_modules"], not_restored=r["not_restored"],
                  modules=marker.get("modules", {}), git_commit=marker.get("git_commit") or "")
    if marker.get("vendored_with") and r["changed"]:
        result["vendored_with"] = marker["vendored_with"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
