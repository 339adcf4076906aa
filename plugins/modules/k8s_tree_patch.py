#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_tree_patch
short_description: Apply or revert the small tree patches a debug build of Kubernetes needs
version_added: 0.1.0
description:
  - Applies, idempotently and with a backup of every file it replaces, the patches that
    M(kubedebug.lab.k8s_tree_info) plans (RV(kubedebug.lab.k8s_tree_info#module:plan.patches)).
  - V(reflect2) replaces the C(.go)/C(.s) files of C(vendor/github.com/modern-go/reflect2) (v1.0.1 in Kubernetes <= 1.22)
    with reflect2 >= 1.0.2 (Debian's golang-github-modern-go-reflect2-dev), without test files. Binaries built from the old
    copy with Go >= 1.18 crash at run time (C(unexpected fault address) in C(reflect2.(*UnsafeMapIterator\).HasNext)).
    C(vendor/modules.txt) is left alone so C(-mod=vendor) stays consistent.
  - V(strip_flags) removes a hard-coded C(-s -w) from the link flags in C(hack/lib/golang.sh) (trees where C(GOLDFLAGS="")
    cannot remove it).
  - V(trimpath_rewrite) makes C(hack/lib/golang.sh) rewrite C(_output/local/go/src/k8s.io/kubernetes) to the tree root
    instead of trimming it, so DWARF paths are absolute paths into the tree.
  - O(state=absent) puts the backed-up files back.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
options:
  path:
    description: Root of the Kubernetes tree.
    type: path
    required: true
  patches:
    description: Patches to apply or revert.
    type: list
    elements: str
    choices: [reflect2, strip_flags, trimpath_rewrite]
    required: true
  state:
    description: V(present) applies, V(absent) restores the originals from O(backup_dir).
    type: str
    choices: [present, absent]
    default: present
  backup_dir:
    description:
      - Where the original files go (C(<backup_dir>/<patch>/<path in tree>)), once, before the first change.
        Keep it outside the tree so a git checkout does not see extra files.
    type: path
    required: true
  reflect2_source:
    description: Directory with github.com/modern-go/reflect2 >= 1.0.2 sources.
    type: path
    default: /usr/share/gocode/src/github.com/modern-go/reflect2
attributes:
  check_mode:
    support: full
    details: Reports what would change without touching the tree.
  diff_mode:
    support: full
    details: Shows the C(hack/lib/golang.sh) change, or the reflect2 file lists before and after.
seealso:
  - module: kubedebug.lab.k8s_tree_info
"""

EXAMPLES = r"""
- name: Apply what the plan asks for
  kubedebug.lab.k8s_tree_patch:
    path: "{{ plan.root }}"
    patches: "{{ plan.plan.patches | map(attribute='name') }}"
    backup_dir: /var/cache/kubedebug/build/backup/v1.20.2

- name: Put the tree back as it was
  kubedebug.lab.k8s_tree_patch:
    path: /var/cache/kubedebug/src/kubernetes-v1.20.2
    patches: [reflect2]
    state: absent
    backup_dir: /var/cache/kubedebug/build/backup/v1.20.2
"""

RETURN = r"""
patches:
  description: Per patch, whether it changed the tree, the files touched and where the originals are.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "reflect2", "changed": true, "files": ["write vendor/github.com/modern-go/reflect2/go_above_118.go"],
            "backup": "/var/cache/kubedebug/build/backup/reflect2"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            patches=dict(type="list", elements="str", required=True, choices=list(kt.PATCHES)),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backup_dir=dict(type="path", required=True),
            reflect2_source=dict(type="path", default="/usr/share/gocode/src/github.com/modern-go/reflect2"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    done = []
    diffs = []
    try:
        kt.inspect_tree(p["path"])
        for name in p["patches"]:
            if p["state"] == "present":
                r = kt.apply_patch(p["path"], name, p["backup_dir"], p["reflect2_source"], module.check_mode)
            else:
                r = kt.revert_patch(p["path"], name, p["backup_dir"], module.check_mode)
            diff = r.pop("diff", None)
            done.append(r)
            if module._diff and r["changed"]:
                diffs.append(diff or {"before_header": "%s (patched)" % name, "after_header": "%s (original)" % name,
                                      "before": "", "after": "\n".join(r["files"]) + "\n"})
    except KubedebugError as err:
        fail_from_error(module, err, changed=any(d["changed"] for d in done), patches=done)
    except OSError as err:
        module.fail_json(msg="patching %s failed: %s" % (p["path"], err),
                         hint="Check free space and permissions; originals are in %s" % p["backup_dir"],
                         changed=any(d["changed"] for d in done), patches=done)
    result = {"changed": any(d["changed"] for d in done), "patches": done}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
