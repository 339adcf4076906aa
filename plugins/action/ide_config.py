# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ide_config: on a local connection (the usual delegate_to: localhost), write the files in the controller's
worker process - no module run, no interpreter started - because the debug role calls it while the component
it just relaunched starts up, and every CPU second taken then delays that start. Elsewhere: the module."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._files import atomic_write
from ansible_collections.kubedebug.lab.plugins.module_utils._session import ide as _ide


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        if self._connection.transport != "local" or self._task.become or self._play_context.become:
            result.update(self._execute_module(task_vars=task_vars))
            return result
        validated = ArgumentSpecValidator(_ide.IDE_ARG_SPEC, **_ide.IDE_ARG_RULES).validate(self._task.args)
        if validated.error_messages:
            raise AnsibleActionFail("; ".join(validated.error_messages))
        try:
            out = _ide.write_configurations(validated.validated_parameters, self._play_context.check_mode,
                                            lambda path, data: atomic_write(path, data, 0o644))
        except KubedebugError as e:
            result.update(failed=True, msg=str(e), **e.details)
            return result
        if not self._play_context.diff:
            out.pop("diff")
        result.update(out)
        return result
