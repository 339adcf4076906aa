# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Durable file writes and JSON records: the one place every file the collection keeps is written.

``atomic_write`` writes through a dot-named temp file in the same directory, fsync, rename and an fsync
of the directory: a reader (or the kubelet watching a manifest directory) sees the old file or the new
one, never a part, and a crash leaves at most a dot-named temp file. Records are JSON documents read
with ``read_json_record`` (a clear error naming the file when one is not JSON); the process-mode record
is ``read_state`` / ``write_state``: it is written *before* anything is stopped, so an interrupted run
(Ctrl-C, a lost SSH connection, a crash) can always be undone by the restore step.
"""

from __future__ import annotations

import json
import os

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

STATE_VERSION = 1


def atomic_write(path, data, mode=0o600, uid=None, gid=None, hook=None):
    """Write bytes to path atomically: a dot-named temp file in the same directory, fsync, rename.

    With ``uid``/``gid`` the file gets that owner and exactly ``mode`` (umask
    ignored). ``hook(step)``, when given, is called with ``"tmp-written"``
    (temp file complete and fsynced, not yet renamed) and ``"renamed"`` (in
    place, directory fsynced): the static-pod writer uses it to name its steps.
    """
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, ".%s.kubedebug-tmp.%d" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if uid is not None or gid is not None:
                os.fchown(f.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if hook is not None:
            hook("tmp-written")
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(d)
    if hook is not None:
        hook("renamed")


def fsync_dir(d):
    """fsync a directory so a rename or unlink in it is durable."""
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_json_record(path, what, hint):
    """The JSON document at path, or None when there is no file; ``what % path`` names it in the error."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except ValueError as e:
        raise KubedebugError("%s is not valid JSON (%s)" % (what % path, e), hint=hint) from e


def read_state(path):
    """The state record at path, or None when there is none."""
    state = read_json_record(path, "state file %s", "It records how to restore the original component: inspect it, fix or move it away, then run again")
    if state is None:
        return None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION or "original" not in state:
        raise KubedebugError(
            "state file %s is not a kubedebug state record of version %d" % (path, STATE_VERSION),
            hint="Move it away if it is not ours, then run again",
        )
    return state


def write_state(path, state, hook=None):
    state = dict(state, version=STATE_VERSION)
    atomic_write(path, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode("utf-8"), hook=hook)
