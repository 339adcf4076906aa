#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ide_config
short_description: Write VS Code and GoLand remote-attach configurations for a dlv server
version_added: 0.1.0
description:
  - Writes C(.vscode/launch.json) (a vscode-go C(attach)/C(remote) configuration with a C(substitutePath) from the
    local checkout to the source paths recorded in the binary) and C(.run/NAME.run.xml) (a GoLand "Go Remote"
    configuration) under O(dest).
  - An existing C(launch.json) keeps its other configurations; one with the same name is replaced.
  - GoLand's Go Remote configuration has no path-mapping field; RV(goland_note) says how to map paths there.
  - Usually run on the controller (C(delegate_to) C(localhost)) so the files land next to the user's IDE.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  dest:
    description: Directory to write C(.vscode/launch.json) and C(.run/) under (your checkout, or a scratch directory).
    type: path
    required: true
  name:
    description: Configuration name, for example C(kube-apiserver on node1).
    type: str
    required: true
  host:
    description: Host the IDE connects to (C(127.0.0.1) through the C(ssh -L) tunnel).
    type: str
    default: 127.0.0.1
  port:
    description: Port the IDE connects to.
    type: int
    required: true
  local_root:
    description: The Kubernetes checkout on the workstation. V(${workspaceFolder}) is VS Code's open folder.
    type: str
    default: ${workspaceFolder}
  remote_root:
    description: Source root as recorded in the binary. Give this or O(main_package_dir).
    type: str
  main_package_dir:
    description:
      - The main package's recorded source directory (RV(kubedebug.lab.go_debug_info#module:main_package_dir)); the root is derived from it.
    type: str
  vscode:
    description: Write the VS Code configuration.
    type: bool
    default: true
  goland:
    description: Write the GoLand configuration.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports what would change.
  diff_mode:
    support: full
    description: Shows each file before and after.
seealso:
  - module: kubedebug.lab.dlv_command
"""

EXAMPLES = r"""
- name: IDE configurations for the apiserver on node1
  kubedebug.lab.ide_config:
    dest: "{{ lookup('ansible.builtin.env', 'HOME') }}/.kubedebug/node1"
    name: kube-apiserver on node1
    port: 2345
    main_package_dir: _output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver
  delegate_to: localhost
"""

RETURN = r"""
remote_root:
  description: The recorded source root the configurations map to.
  returned: success
  type: str
  sample: _output/local/go/src/k8s.io/kubernetes
files:
  description: Files written (or that would be), with whether each changed.
  returned: success
  type: list
  elements: dict
goland_note:
  description: How to map paths in GoLand, which has no mapping field in its Go Remote configuration.
  returned: success
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _ide
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._supervise import atomic_write


def read_text(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            name=dict(type="str", required=True),
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", required=True),
            local_root=dict(type="str", default="${workspaceFolder}"),
            remote_root=dict(type="str"),
            main_package_dir=dict(type="str"),
            vscode=dict(type="bool", default=True),
            goland=dict(type="bool", default=True),
        ),
        required_one_of=[("remote_root", "main_package_dir")],
        mutually_exclusive=[("remote_root", "main_package_dir")],
        supports_check_mode=True,
    )
    p = module.params
    try:
        remote = p["remote_root"] or _ide.remote_source_root(p["main_package_dir"])
        wanted = []
        if p["vscode"]:
            path = os.path.join(p["dest"], ".vscode", "launch.json")
            conf = _ide.vscode_configuration(p["name"], p["host"], p["port"], p["local_root"], remote)
            wanted.append((path, _ide.merge_launch_json(read_text(path), conf)))
        if p["goland"]:
            path = os.path.join(p["dest"], ".run", _ide.safe_file_name(p["name"]) + ".run.xml")
            wanted.append((path, _ide.goland_run_xml(p["name"], p["host"], p["port"])))
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    files = []
    diffs = []
    for path, text in wanted:
        before = read_text(path)
        changed = before != text
        files.append({"path": path, "changed": changed})
        if changed:
            diffs.append({"before": before or "", "after": text, "before_header": path, "after_header": path})
            if not module.check_mode:
                atomic_write(path, text.encode("utf-8"), 0o644)
    note = (
        "GoLand's Go Remote configuration (.run/%s.run.xml) carries only host, port and the disconnect choice; it has no "
        "path-mapping field. The binary records its sources under %r. If breakpoints set in GoLand do not bind, build the "
        "binary from a checkout at the same path as on your workstation (keep absolute paths, no -trimpath), or open the "
        "checkout so its files sit at the recorded paths." % (_ide.safe_file_name(p["name"]), remote)
    )
    result = dict(changed=any(f["changed"] for f in files), remote_root=remote, files=files, goland_note=note)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
