# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):
    """Options shared by the modules that set a cgroup driver in a config file."""

    DOCUMENTATION = r"""
options:
  cgroup_driver:
    description:
      - The cgroup driver to configure.
      - V(systemd) lets systemd own the cgroup tree (required on cgroup v2 hosts booted with systemd);
        V(cgroupfs) writes the cgroup filesystem directly.
    type: str
    required: true
    choices: [systemd, cgroupfs]
  backup:
    description:
      - Before changing an existing file, copy it to C(PATH.<pid>.<timestamp>~) next to it.
      - The backup's name is returned as RV(backup_file).
    type: bool
    default: true
notes:
  - The file is written to a temporary file in the same directory and renamed over the original,
    so a reader never sees half a file; owner, mode and SELinux context are kept.
  - Input that cannot be parsed is refused with a message naming the file and the line; the file is not touched.
"""
