# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private doc fragment: not for other collections' modules.

from __future__ import annotations


class ModuleDocFragment:
    # What check_mode and diff_mode mean, for every module of the collection.
    # A module extends this and states its own support (and, in details, what
    # it does in check mode or shows as a diff), or extends one of the sets
    # below when it is one of those.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and report what it would change, without changing it.
  diff_mode:
    description: Returns what it changed (or, in check mode, would change) when run with C(--diff).
"""

    # Modules that only read and report.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    details: Changes nothing, so there is nothing to diff.
"""

    # Modules that change a POSIX host and show the change as a diff. With
    # ansible.builtin.action_common_attributes, list this one (and the
    # fragment above) before it: the first fragment naming an attribute wins.
    FULL_POSIX = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""
