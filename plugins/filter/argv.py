# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that render an argv exactly: the same code the modules use."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv


def _wrap(fn):
    def filt(value, *args, **kwargs):
        try:
            return fn(list(value) if isinstance(value, (list, tuple)) else value, *args, **kwargs)
        except KubedebugError as e:
            raise AnsibleFilterError("%s: %s" % (fn.__name__, e)) from e

    filt.__name__ = fn.__name__
    filt.__doc__ = fn.__doc__
    return filt


class FilterModule:
    def filters(self):
        return {
            "argv_to_shell": _wrap(_argv.to_shell),
            "argv_to_systemd": _wrap(_argv.to_systemd),
            "argv_to_json": _wrap(_argv.to_json_list),
            "shell_to_argv": _wrap(_argv.from_shell),
            "env_to_systemd": _wrap(_argv.to_systemd_environment),
        }
