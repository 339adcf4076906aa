# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Domain errors shared by every module of the collection.

Pure logic raises :class:`KubedebugError` with a message that names the problem
and the fix; a module turns it into exactly one ``fail_json`` (see
``fail_from_error``) so a user never sees a traceback for bad input.
"""

from __future__ import annotations


class KubedebugError(Exception):
    """An error a user can act on.

    ``msg`` says what is wrong, ``hint`` what to do about it. ``details`` is a
    dict of extra result keys (the candidates that matched, a path...).
    """

    def __init__(self, msg, hint=None, **details):
        super().__init__(msg)
        self.msg = msg
        self.hint = hint
        self.details = details

    def __str__(self):
        if self.hint:
            return "%s. %s" % (self.msg.rstrip("."), self.hint)
        return self.msg


def fail_from_error(module, err, **result):
    """``module.fail_json`` from a KubedebugError, merging its details."""
    result.update(err.details)
    module.fail_json(msg=str(err), **result)
