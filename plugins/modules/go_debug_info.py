#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: go_debug_info
short_description: Tell whether a Go binary can be debugged with Delve, and why not
version_added: 0.1.0
description:
  - Reads a binary on the managed host with pure Python (no C(readelf), C(go) or C(file) needed there) and reports
    its Go version and build settings (what C(go version -m) prints), whether its ELF symbol table was stripped,
    whether DWARF debug info is present (plain, C(SHF_COMPRESSED) zlib or legacy C(.zdebug_*) sections), and the
    share of DWARF compile units built without optimisation and inlining (C(DW_AT_producer) containing C(-N -l)).
  - Gives a verdict RV(debuggable) with RV(reasons) a user can act on, for example the Kubernetes default
    C(GOLDFLAGS="-s -w") that strips DWARF, or C(GOGCFLAGS="-N -l") without the C(all=) prefix that leaves every
    dependency optimised.
  - The Go toolchain always compiles the runtime and the packages it is built with (C(runtime),
    C(internal/runtime/*) or C(runtime/internal/*), C(internal/abi), C(internal/bytealg), ...; the list depends on
    the Go release) with optimisation, whatever C(-gcflags) say. Their units, recognised by package name
    (C(DW_AT_name)) for the Go version in their C(DW_AT_producer), are left out of the share and counted apart in
    RV(compile_units.runtime_optimized), so a debug build of a small program scores 100% like a large one
    (kube-apiserver v1.20.2 built by Go 1.19 with C(all=-N -l) has 1468 of 1468 units, 22 runtime units left out).
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab._attributes.read_only
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  path:
    description: The binary to inspect.
    type: path
    required: true
  min_unoptimized_share:
    description:
      - Smallest share (0 to 1) of Go compile units that must carry C(-N -l) for RV(debuggable) to be true,
        counted over the units C(-gcflags) can reach (the runtime's are left out).
    type: float
    default: 0.95
  fail_when_not_debuggable:
    description:
      - Fail the task, with the reasons in the message, when the binary is not debuggable.
      - Non-ELF files, missing files and damaged files always fail.
    type: bool
    default: false
notes:
  - Reads only the section headers, C(.go.buildinfo) and the first entry of each DWARF compile unit; a
    159 MB debug kube-apiserver takes about 0.4 s (see C(tests/bench/bench_go_debug_info.py)).
  - zstd-compressed DWARF sections are reported as an error (Go's linker writes zlib).
seealso:
  - module: kubedebug.lab.k8s_tree_info
"""

EXAMPLES = r"""
- name: Check a debug build of kube-apiserver
  kubedebug.lab.go_debug_info:
    path: /var/cache/kubedebug/build/v1.20.2/kube-apiserver
  register: apiserver_dbg

- name: Show why not
  ansible.builtin.debug:
    var: apiserver_dbg.reasons
  when: not apiserver_dbg.debuggable

- name: Refuse to go on with a binary dlv cannot use
  kubedebug.lab.go_debug_info:
    path: /usr/local/bin/kube-apiserver
    fail_when_not_debuggable: true
"""

RETURN = r"""
path:
  description: The inspected file.
  returned: always
  type: str
size:
  description: File size in bytes.
  returned: success
  type: int
is_go:
  description: The file is a Go binary (has C(.go.buildinfo) or C(.gopclntab)).
  returned: success
  type: bool
go_version:
  description: Go version that built it, from C(.go.buildinfo).
  returned: success
  type: str
  sample: go1.19.8
main_path:
  description: Import path of the main package, as C(go version -m) prints it (empty for GOPATH builds).
  returned: success
  type: str
  sample: k8s.io/kubernetes/cmd/kube-apiserver
main_module:
  description: Main module path and version, when built in module mode.
  returned: success
  type: dict
build_settings:
  description: The C(build) lines of C(go version -m) as a dict (C(-gcflags), C(-ldflags), C(CGO_ENABLED)...). Go >= 1.18.
  returned: success
  type: dict
  sample: {"-compiler": "gc", "-gcflags": "all=-N -l", "CGO_ENABLED": "1"}
stripped:
  description: The ELF symbol table (C(.symtab)) is missing (linked with C(-s)), like C(file) says "stripped".
  returned: success
  type: bool
dwarf_present:
  description: A C(.debug_info) (or C(.zdebug_info)) section exists.
  returned: success
  type: bool
dwarf_compressed:
  description: The DWARF sections are zlib-compressed (Go's default; Delve reads them).
  returned: success
  type: bool
compile_units:
  description: DWARF compile unit counts.
  returned: success
  type: dict
  contains:
    total: {description: All units in .debug_info., type: int}
    go: {description: Units whose producer is the Go compiler., type: int, sample: 1490}
    unoptimized: {description: Go units whose producer has C(-N -l)., type: int, sample: 1468}
    runtime_optimized:
      description:
        - Go units of the packages the toolchain always optimises (the runtime and its internal packages), left
          out of RV(unoptimized_share).
      type: int
      sample: 22
    runtime_optimized_packages:
      description: The distinct package names of RV(compile_units.runtime_optimized), sorted.
      type: list
      elements: str
      sample: [internal/abi, internal/bytealg, internal/cpu, runtime, runtime/internal/atomic]
    optimized_sample:
      description: Names of up to 10 Go units built with optimisation that count against the share (runtime units excluded).
      type: list
      elements: str
    producers_sample: {description: Up to 3 distinct producer strings., type: list, elements: str}
unoptimized_share:
  description:
    - RV(compile_units.unoptimized) / (RV(compile_units.go) - RV(compile_units.runtime_optimized)), rounded to 4
      digits; 0.0 when there is no such unit.
  returned: success
  type: float
  sample: 1.0
min_unoptimized_share:
  description: The threshold used.
  returned: success
  type: float
main_package_dir:
  description:
    - Directory of the main package's sources as recorded in the DWARF line table. It shows the path prefix an
      IDE must map (for example C(_output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver) for a v1.20 tree).
  returned: success
  type: str
debuggable:
  description: Delve can debug it with readable variables and breakpoints in every package.
  returned: success
  type: bool
reasons:
  description: Why RV(debuggable) is false, each with the fix. Empty when debuggable.
  returned: success
  type: list
  elements: str
notes:
  description: Things that do not block debugging but matter (no symbol table, trimmed paths).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build.debuginfo import analyze
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            min_unoptimized_share=dict(type="float", default=0.95),
            fail_when_not_debuggable=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        result = analyze(path, module.params["min_unoptimized_share"])
    except KubedebugError as err:
        fail_from_error(module, err, changed=False, path=path)
    if module.params["fail_when_not_debuggable"] and not result["debuggable"]:
        module.fail_json(msg="%s is not debuggable: %s" % (path, "; ".join(result["reasons"])), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
