#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: go_toolchain_info
short_description: Decide the Go and Delve versions to install, and check that they fit
version_added: 0.1.0
description:
  - Works out the Go version to use, from (first that is set) O(go_version), the installed Go binary O(go_bin),
    the Kubernetes tree O(k8s_tree) (its C(.go-version), then C(build/build-image/cross/VERSION), then the
    C(toolchain)/C(go) directive of C(go.mod)), or O(default_go_version).
  - Works out the Delve version, O(delve_version) or, when that is empty, the newest of O(delve_releases)
    that supports that Go version.
  - Fails, naming both versions and the fix, when the Delve release does not support the Go version
    (Delve refuses to debug programs built by a Go outside its range). Roles call it before they install anything.
  - Optionally checks that the Go that will build dlv (O(build_go_bin)) can, and finds a go command on the host (O(find_go)).
  - Reads files and runs C(go env GOVERSION); changes nothing.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
options:
  go_version:
    description:
      - The Go release to use, for example V(1.19.8), V(go1.21.0) or V(1.22rc1). Wins over every other source.
      - A bare V(1.19) is resolved to the newest 1.19.x in O(go_releases) when there is one.
    type: str
  go_bin:
    description:
      - Path of an installed C(go) binary; its version (C(go env GOVERSION), or C(go version) for Go before 1.16) is used.
    type: path
  k8s_tree:
    description:
      - Top directory of a Kubernetes source tree; the Go version it asks for is used.
    type: path
  default_go_version:
    description:
      - The Go release to use when none of O(go_version), O(go_bin) and O(k8s_tree) is set.
    type: str
  go_releases:
    description:
      - Go releases the caller can install (for example the keys of a checksum table). A bare version such as
        the V(1.19) of a C(go.mod) C(go) directive becomes the newest of these with the same minor version.
    type: list
    elements: str
    default: []
  delve_version:
    description:
      - The Delve release to use, for example V(1.20.2). Empty means the newest of O(delve_releases) that supports the Go version.
    type: str
  delve_releases:
    description:
      - Delve releases the caller can install, to choose from when O(delve_version) is empty.
    type: list
    elements: str
    default: []
  delve_go_compat:
    description:
      - Extra rows for the table of Go versions each Delve release supports, for releases newer than the built-in table.
        They win over built-in rows.
    type: list
    elements: dict
    default: []
    suboptions:
      delve:
        description: A Delve release (V(1.28.0)) or a whole series (V(1.28.*)).
        type: str
        required: true
      delve_last:
        description: The last Delve release the row covers (V(1.28.*) for every patch release). Defaults to O(delve_go_compat[].delve).
        type: str
      go_min:
        description: Oldest supported Go minor version (V(1.26)).
        type: str
        required: true
      go_max:
        description: Newest supported Go minor version (V(1.28)).
        type: str
        required: true
  find_go:
    description:
      - Look for a working C(go) command (Go 1.13 or later, which can download modules) among these, in order, and return
        the first as RV(found_go_bin). An entry without a C(/) (V(go)) is looked up in C(PATH).
      - The kubedebug.lab.go role's C(toolchain) method uses it to find the Go that downloads the toolchain module.
    type: list
    elements: str
    default: []
  build_go_bin:
    description:
      - The C(go) binary that will build dlv. With a Delve and a Go version decided, fails unless it can - Delve 1.27 needs
        Go 1.25 to build (see O(delve_build_go_min)), and a dlv built with Go before 1.25 cannot read the DWARF 5 that
        Go 1.25 and later write.
      - In check mode a O(build_go_bin) that does not exist yet (the go role would install it) is not checked; a
        warning says so.
    type: path
  delve_build_go_min:
    description:
      - "The Go version each Delve release needs to build (the C(go) directive of its C(go.mod)), for the O(build_go_bin) check,
        for example C({'1.27.2': '1.25.0'})."
    type: dict
    default: {}
notes:
  - The Delve-Go table follows the C(Min/MaxSupportedVersionOfGoMinor) constants of Delve's C(pkg/goversion/compat.go).
"""

EXAMPLES = r"""
- name: Which Go does this Kubernetes tree want, and which Delve fits it?
  kubedebug.lab.go_toolchain_info:
    k8s_tree: /usr/local/src/kubernetes
    go_releases: ["1.15.5", "1.19.8"]
    delve_releases: ["1.7.3", "1.20.2", "1.22.1"]
  register: toolchain

- name: Check a pair before installing anything
  kubedebug.lab.go_toolchain_info:
    go_version: "1.22.1"
    delve_version: "1.20.2"
  # fails: Delve 1.20.2 is too old for Go 1.22.1: it supports Go 1.18 to 1.20 ...

- name: Version of an installed Go
  kubedebug.lab.go_toolchain_info:
    go_bin: /opt/kubedebug/go/1.19.8/bin/go
"""

RETURN = r"""
go_version:
  description: The Go release decided on, as go.dev names it (no C(go) prefix). Null when no Go source was given.
  returned: always
  type: str
  sample: "1.19.8"
go_minor:
  description: Its minor version.
  returned: always
  type: str
  sample: "1.19"
go_version_source:
  description: What decided the Go version (an option name, or the tree file that was read).
  returned: always
  type: str
  sample: "/usr/local/src/kubernetes/build/build-image/cross/VERSION"
go_version_raw:
  description: The value as found in that source, before normalisation.
  returned: always
  type: str
  sample: "v1.15.5-1"
delve_version:
  description: The Delve release decided on. Null when neither O(delve_version) nor O(delve_releases) was given.
  returned: always
  type: str
  sample: "1.20.2"
delve_version_source:
  description: Why that Delve release.
  returned: always
  type: str
  sample: "newest of delve_releases that supports Go 1.19"
delve_go_min:
  description: Oldest Go minor version the Delve release supports.
  returned: when a Delve version was decided
  type: str
  sample: "1.18"
delve_go_max:
  description: Newest Go minor version the Delve release supports.
  returned: when a Delve version was decided
  type: str
  sample: "1.20"
build_go_version:
  description: Version of O(build_go_bin).
  returned: when O(build_go_bin) was checked
  type: str
  sample: "1.26.10"
found_go_bin:
  description: The first working go command among O(find_go); empty when there is none.
  returned: when O(find_go) is given
  type: str
  sample: /usr/local/go/bin/go
found_go_version:
  description: Its Go version; empty when there is none.
  returned: when O(find_go) is given
  type: str
  sample: "1.26.8"
found_go_rejected:
  description: Candidates that exist but do not work or are older than Go 1.13, with the reason.
  returned: when O(find_go) is given
  type: list
  elements: dict
  sample: [{"path": "/usr/bin/go", "problem": "go 1.11.6 is older than 1.13"}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build.goproxy import find_go
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import (
    GoVersion,
    check_delve_build,
    check_pair,
    compat_table,
    delve_go_range,
    go_version_for_tree,
    newest_delve_for_go,
    newest_patch,
    parse_go_version_output,
)
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def installed_go_version(module, go_bin):
    if not os.path.isfile(go_bin):
        raise KubedebugError(
            "go_bin %s does not exist" % go_bin,
            "Install Go first (role kubedebug.lab.go sets go_bin), or give the Go version instead",
            go_bin=go_bin,
        )
    # GOTOOLCHAIN=local: the version of this go, never of one it would switch to.
    rc, out, err = module.run_command([go_bin, "env", "GOVERSION"], environ_update={"GOTOOLCHAIN": "local"})
    if rc != 0 or not out.strip():
        # Go < 1.16 has no GOVERSION variable.
        rc, out, err = module.run_command([go_bin, "version"], environ_update={"GOTOOLCHAIN": "local"})
        if rc != 0:
            raise KubedebugError("%s version failed: %s" % (go_bin, (err or out).strip()), "Check that go_bin is a working Go toolchain", go_bin=go_bin)
    return parse_go_version_output(out), out.strip()


def decide_go(module, p):
    if p["go_version"]:
        return GoVersion.parse(p["go_version"]), "go_version", p["go_version"]
    if p["go_bin"]:
        version, raw = installed_go_version(module, p["go_bin"])
        return version, "go_bin %s" % p["go_bin"], raw
    if p["k8s_tree"]:
        version, rel, raw = go_version_for_tree(p["k8s_tree"])
        return version, os.path.join(p["k8s_tree"], rel), raw
    if p["default_go_version"]:
        return GoVersion.parse(p["default_go_version"]), "default_go_version", p["default_go_version"]
    return None, None, None


def run(module):
    p = module.params
    result = dict(changed=False, go_version=None, go_minor=None, go_version_source=None, go_version_raw=None, delve_version=None, delve_version_source=None)
    table = compat_table(p["delve_go_compat"])

    go, source, raw = decide_go(module, p)
    if go is not None:
        resolved = newest_patch(go, p["go_releases"])
        if resolved is not go:
            source = "%s (%s; newest known %s.x)" % (source, raw, go.minor_str)
        go = resolved
        result.update(go_version=str(go), go_minor=go.minor_str, go_version_source=source, go_version_raw=raw)

    if p["delve_version"]:
        delve, delve_source = p["delve_version"], "delve_version"
    elif p["delve_releases"] and go is not None:
        delve = newest_delve_for_go(go, p["delve_releases"], table)
        delve_source = "newest of delve_releases that supports Go %s" % go.minor_str
    else:
        delve = delve_source = None

    if delve is not None:
        if go is not None:
            go_min, go_max = check_pair(delve, go, table)
        else:
            go_min, go_max = delve_go_range(delve, table)
        result.update(delve_version=delve, delve_version_source=delve_source, delve_go_min=go_min.minor_str, delve_go_max=go_max.minor_str)
        if p["build_go_bin"] and go is not None and module.check_mode and not os.path.exists(p["build_go_bin"]):
            # check mode before the go role installed it: nothing to run yet, the real run checks it
            module.warn("build_go_bin %s is not there (check mode: nothing was installed), so whether it can build "
                        "Delve %s is checked by the real run" % (p["build_go_bin"], delve))
        elif p["build_go_bin"] and go is not None:
            build_go, dummy = installed_go_version(module, p["build_go_bin"])
            mins = {str(k): str(v) for k, v in p["delve_build_go_min"].items() if v}
            check_delve_build(delve, go, build_go, mins.get(delve), mins, table)
            result["build_go_version"] = str(build_go)

    if p["find_go"]:
        found, version, rejected = find_go(p["find_go"])
        result.update(found_go_bin=found or "", found_go_version=str(version) if version else "", found_go_rejected=rejected)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            go_version=dict(type="str"),
            go_bin=dict(type="path"),
            k8s_tree=dict(type="path"),
            default_go_version=dict(type="str"),
            go_releases=dict(type="list", elements="str", default=[]),
            delve_version=dict(type="str"),
            delve_releases=dict(type="list", elements="str", default=[]),
            find_go=dict(type="list", elements="str", default=[]),
            build_go_bin=dict(type="path"),
            delve_build_go_min=dict(type="dict", default={}),
            delve_go_compat=dict(
                type="list",
                elements="dict",
                default=[],
                options=dict(
                    delve=dict(type="str", required=True),
                    delve_last=dict(type="str"),
                    go_min=dict(type="str", required=True),
                    go_max=dict(type="str", required=True),
                ),
            ),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except KubedebugError as err:
        fail_from_error(module, err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
