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
extends_documentation_fragment:
  - kubedebug.lab._attributes
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
  main_path:
    description:
      - The main package's import path (RV(kubedebug.lab.go_debug_info#module:main_path)). With O(main_module), the
        root is the module's recorded directory exactly (an operator whose main package is the module root, a build
        from the module cache); without them it is derived from the directory's shape.
    type: str
  main_module:
    description: The main module's path (RV(kubedebug.lab.go_debug_info#module:main_module.path)).
    type: str
  staging_repos:
    description:
      - For a Kubernetes tree built in the GOPATH layout (v1.29 and older, recorded under
        C(_output/local/go/src/k8s.io/kubernetes)), the repositories under C(staging/src/k8s.io) of the tree. Each gets
        its own mapping ahead of the root's, so breakpoints set by the staging path bind and stopped frames open the
        staging file. Default, a built-in list of the staging repositories of v1.20 to v1.29.
      - Not used for other layouts (current trees record C(staging/src/k8s.io/NAME) itself).
    type: list
    elements: str
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
    details: Reports what would change.
  diff_mode:
    support: full
    details: Shows each file before and after.
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
mappings:
  description: The C(substitutePath) entries written (C(from) a checkout path, C(to) a recorded one), most specific first.
  returned: success
  type: list
  elements: dict
  sample:
    - {"from": "${workspaceFolder}/staging/src/k8s.io/apiserver", "to": "_output/local/go/src/k8s.io/kubernetes/vendor/k8s.io/apiserver"}
    - {"from": "${workspaceFolder}", "to": "_output/local/go/src/k8s.io/kubernetes"}
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

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._files import atomic_write
from ansible_collections.kubedebug.lab.plugins.module_utils._session import ide as _ide


def main():
    module = AnsibleModule(argument_spec=_ide.IDE_ARG_SPEC, supports_check_mode=True, **_ide.IDE_ARG_RULES)
    try:
        result = _ide.write_configurations(module.params, module.check_mode, lambda path, data: atomic_write(path, data, 0o644))
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
