#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: go_module
short_description: Download a Go module from a Go module proxy, verified by the checksum database, and optionally install it
version_added: 0.2.0
description:
  - The go command O(go_bin) downloads (any Go >= 1.13) and, with O(install_package), builds; empty means the first C(go)
    found in C(PATH), C(/usr/local/go/bin/go), C(/usr/lib/go/bin/go).
  - Downloads O(name)@O(version) with the go command (C(go mod download -json)) into the module cache O(cache_dir). The go
    command checks the zip against the checksum database O(gosumdb) before it keeps it; this module never turns that off.
    C(GOSUMDB=off) - as O(gosumdb), in the environment or in the go command's C(go env -w) file - is refused.
  - The download runs in an environment where nothing can skip the verification or change what is fetched
    (C(GONOSUMDB), C(GOPRIVATE), C(GOINSECURE), C(GONOPROXY) and C(GOFLAGS) emptied, C(GOENV=off), C(GOWORK=off),
    C(GOTOOLCHAIN=local), run from an empty directory). What it left out of the host's settings is returned as RV(ignored_env).
  - With O(expected_sum), the C(h1:) hash the go command reports (the one the checksum database holds) must also equal this pin.
  - With O(dest), installs what was downloaded there - the module's files (unpacked from the verified zip while its C(h1:)
    hash is computed again, O(executables) made executable; how a Go toolchain module C(golang.org/toolchain) becomes a
    Go installation), or, with O(install_package), that command of the module built with C(go install) (its dependencies
    verified against the module's C(go.sum) and the checksum database). The new O(dest) is assembled beside the old one
    and renamed into place, with a record of the install in C(<dest>/.kubedebug-install.json); on any failure O(dest)
    stays as it was. A O(dest) that already records this module version is left alone without asking the proxy.
  - Errors say whether the proxy does not have the version (and which versions it lists), the checksum database disagrees
    (a tampered mirror), or the proxy could not be reached.
extends_documentation_fragment:
  - kubedebug.lab.goproxy
  - kubedebug.lab._attributes
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  name:
    description: Module path, for example V(golang.org/toolchain) or V(github.com/go-delve/delve).
    type: str
    required: true
  version:
    description:
      - Module version, for example V(v1.27.2) or V(v0.0.1-go1.26.10.linux-amd64). Use an exact version with O(dest);
        a query such as V(latest) is resolved by the proxy.
    type: str
    required: true
  expected_sum:
    description: The C(h1:) hash the module zip must have (its C(go.sum) line), a pin besides the checksum database.
    type: str
  dest:
    description: Directory to install into (see the description). Its parent is created if needed.
    type: path
  replace:
    description: Replace a O(dest) that exists but does not record this module version (otherwise that fails).
    type: bool
    default: false
  executables:
    description:
      - Paths inside the module, relative to its top, to make executable when its files are installed at O(dest); C(*)
        matches within one path element, for example V(bin/*) and V(pkg/tool/*/*).
      - A module zip records no file modes, so without this every file is installed with mode 0644.
    type: list
    elements: str
    default: []
  install_package:
    description:
      - Build this package of the module with C(go install <name>/<install_package>@<version>) and install the binary at
        O(dest) (V(cmd/dlv)) instead of the module's files. V(.) is the module's top package.
    type: str
  build_env:
    description: 'Extra environment for the build, for example V({"CGO_ENABLED": "0"}).'
    type: dict
    default: {}
  build_cache:
    description: GOCACHE for the build. Empty means a temporary one, removed afterwards.
    type: path
  require_static:
    description:
      - Fail unless the built binary is statically linked (no ELF program interpreter), so it runs in a distroless or
        C(FROM scratch) image.
    type: bool
    default: false
  stamp:
    description: Extra keys for the install record C(<dest>/.kubedebug-install.json).
    type: dict
    default: {}
  timeout:
    description: Seconds each go command may take.
    type: int
    default: 1800
attributes:
  check_mode:
    support: full
    details:
      - Downloads nothing and writes nothing. Asks the proxy only for the version's metadata (C(go list -m), into a
        temporary module cache that is removed), so a version the proxy does not have fails in check mode too; a version
        already in the module cache is checked against its recorded hash and O(expected_sum).
  diff_mode:
    support: full
    details: With O(dest), shows the install record before and after.
notes:
  - Files a go command unpacks into the module cache are read-only; the installed copy at O(dest) is not.
  - Reaches the network only through the go command, with the host's proxy settings (C(HTTPS_PROXY), C(GOAUTH)).
  - Credentials for a mirror belong in C(~/.netrc) or C(GOAUTH); a C(user:password@) in O(goproxy) works but is replaced by
    C(***) in the install record, the results and the messages.
seealso:
  - name: Go module proxy protocol
    description: What a GOPROXY serves, and how a mirror serves the checksum database.
    link: https://go.dev/ref/mod#goproxy-protocol
  - name: Checksum database
    description: How the go command verifies what it downloads.
    link: https://go.dev/ref/mod#checksum-database
"""

EXAMPLES = r"""
- name: Install Go 1.26.10 from the toolchain module, through the company's mirror
  kubedebug.lab.go_module:
    name: golang.org/toolchain
    version: v0.0.1-go1.26.10.linux-amd64
    goproxy: https://goproxy.example.com
    cache_dir: /var/cache/kubedebug/gomod
    dest: /opt/kubedebug/go/1.26.10
    executables: [bin/*, pkg/tool/*/*, lib/wasm/go_*_exec]
  register: go_toolchain

- name: Build a static dlv 1.27.2, pinned
  kubedebug.lab.go_module:
    name: github.com/go-delve/delve
    version: v1.27.2
    expected_sum: "h1:dhcjFjiVoQI53uwsG7EqYiMhdvFuywsBZx4KDOK+sYE="
    go_bin: /opt/kubedebug/go/1.26.10/bin/go
    dest: /opt/kubedebug/delve/1.27.2
    install_package: cmd/dlv
    build_env:
      CGO_ENABLED: "0"
    require_static: true

- name: Only download (into the module cache) and report where it is
  kubedebug.lab.go_module:
    name: sigs.k8s.io/kwok
    version: v0.7.0
  register: kwok_module
"""

RETURN = r"""
path:
  description: The module path.
  returned: always
  type: str
  sample: golang.org/toolchain
version:
  description: The module version (resolved when O(version) was a query).
  returned: always
  type: str
  sample: v0.0.1-go1.26.10.linux-amd64
sum:
  description: The C(h1:) hash of the module zip, as verified against the checksum database (from the install record when nothing was downloaded).
  returned: always
  type: str
  sample: "h1:5VAGHlY8yl8pTPVSNIez3SNMy6fWabs+QMR25f3oMT0="
gomod_sum:
  description: The C(h1:) hash of the module's go.mod.
  returned: when downloaded
  type: str
dir:
  description: The module's unpacked, read-only tree in the module cache.
  returned: when downloaded
  type: str
  sample: /var/cache/kubedebug/gomod/golang.org/toolchain@v0.0.1-go1.26.10.linux-amd64
zip:
  description: The verified zip in the module cache.
  returned: when downloaded
  type: str
info:
  description: The version's C(.info) file in the module cache.
  returned: when downloaded
  type: str
gomod:
  description: The module's C(go.mod) in the module cache.
  returned: when downloaded
  type: str
go_mod_go:
  description: The C(go) directive of the module's go.mod (the Go it needs to build).
  returned: when downloaded
  type: str
  sample: "1.25.0"
cached:
  description: Whether the zip was in the module cache before this run.
  returned: always
  type: bool
downloaded:
  description: Whether this run downloaded the zip.
  returned: always
  type: bool
would_download:
  description: Check mode - whether a real run would download the zip.
  returned: in check mode
  type: bool
resolved_version:
  description: Check mode - the version the proxy reported for O(version) (it has it).
  returned: in check mode, when the zip was not cached
  type: str
dest:
  description: O(dest), or empty.
  returned: always
  type: str
installed:
  description: Whether this run installed at O(dest).
  returned: always
  type: bool
binary:
  description: With O(install_package), the path of the built binary at O(dest).
  returned: always
  type: str
  sample: /opt/kubedebug/delve/1.27.2/dlv
interpreter:
  description: With O(install_package), the ELF program interpreter of the built binary; null for a static binary.
  returned: when built
  type: str
stamp:
  description: The install record at O(dest).
  returned: when O(dest) holds the install
  type: dict
  sample: {"module": "golang.org/toolchain", "module_version": "v0.0.1-go1.26.10.linux-amd64", "sum": "h1:...", "goproxy": "https://proxy.golang.org,direct"}
goproxy:
  description: The GOPROXY used.
  returned: always
  type: str
  sample: https://proxy.golang.org,direct
gosumdb:
  description: The GOSUMDB used.
  returned: always
  type: str
  sample: sum.golang.org
go_bin:
  description: The go command used.
  returned: when a go command ran
  type: str
go_version:
  description: Its Go version.
  returned: when a go command ran
  type: str
  sample: "1.26.8"
modcache:
  description: The module cache used.
  returned: when a go command ran
  type: str
go_env:
  description: The Go variables the download ran with; a later go command that must fetch the same way can reuse them.
  returned: when a go command ran
  type: dict
  sample: {"GOPROXY": "https://proxy.golang.org,direct", "GOSUMDB": "sum.golang.org", "GONOSUMDB": "", "GOENV": "off"}
ignored_env:
  description: The host's settings the download left out because they could skip verification for some modules.
  returned: when a go command ran
  type: dict
  sample: {"GOPRIVATE": "*.corp.example.com"}
error_kind:
  description:
    - On failure - V(not_found), V(checksum), V(network), V(pin_mismatch), V(sumdb_off),
      V(no_go), V(go_too_old), V(not_static), V(build), V(os) or V(other).
  returned: on failure
  type: str
available_versions:
  description: On V(not_found) - the versions the proxy lists for the module.
  returned: on failure
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build.goproxy import GOPROXY_ARG_SPEC, fetch, find_go, read_stamp
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error

DEFAULT_GO = ("go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go")


def _describe(stamp):
    if not stamp:
        return "absent\n"
    return "".join("%s: %s\n" % (k, stamp[k]) for k in sorted(stamp))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            GOPROXY_ARG_SPEC,
            name=dict(type="str", required=True),
            version=dict(type="str", required=True),
            expected_sum=dict(type="str"),
            dest=dict(type="path"),
            replace=dict(type="bool", default=False),
            executables=dict(type="list", elements="str", default=[]),
            install_package=dict(type="str"),
            build_env=dict(type="dict", default={}),
            build_cache=dict(type="path"),
            require_static=dict(type="bool", default=False),
            stamp=dict(type="dict", default={}),
            timeout=dict(type="int", default=1800),
        ),
        required_by=dict(install_package=["dest"], executables=["dest"]),
        supports_check_mode=True,
    )
    p = module.params
    try:
        go_bin = p["go_bin"]
        if not go_bin:
            go_bin, dummy, dummy = find_go(DEFAULT_GO)
            if not go_bin:
                raise KubedebugError(
                    "No go command found (PATH, /usr/local/go/bin/go, /usr/lib/go/bin/go)",
                    "Install a Go toolchain first (any Go >= 1.13; the kubedebug.lab.go role) or set go_bin",
                    error_kind="no_go",
                )
        before = read_stamp(p["dest"]) if p["dest"] else None
        result = fetch(
            go_bin, p["name"], p["version"], goproxy=p["goproxy"], gosumdb=p["gosumdb"], modcache=p["cache_dir"],
            expected_sum=p["expected_sum"], dest=p["dest"], executables=p["executables"], install_package=p["install_package"],
            build_env={k: str(v) for k, v in p["build_env"].items()}, gocache=p["build_cache"], require_static=p["require_static"],
            stamp=p["stamp"], replace=p["replace"], check_mode=module.check_mode, timeout=p["timeout"],
        )
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    except OSError as err:
        # A file system failure while installing (full disk, permissions, a concurrent run): dest is as it was.
        module.fail_json(msg="Installing %s@%s failed: %s. %s was left as it was; fix the cause and run again"
                         % (p["name"], p["version"], err, p["dest"] or "The module cache"), changed=False, error_kind="os")
    if module._diff and p["dest"] and result["changed"]:
        after = result.get("stamp") or dict(module=p["name"], module_version=p["version"], sum=result.get("sum") or "(to be verified)")
        result["diff"] = dict(before_header=os.path.join(p["dest"], ".kubedebug-install.json"), before=_describe(before),
                              after_header=os.path.join(p["dest"], ".kubedebug-install.json"), after=_describe(after))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
