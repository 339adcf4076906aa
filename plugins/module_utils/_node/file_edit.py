# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Read a config file, then write its new text safely: backup, atomic move, diff, check mode.

Used by the modules that edit one setting in a file somebody else owns
(daemon.json, containerd's config.toml, the kubelet's config). The module
object is passed in; this file imports nothing from Ansible.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

# The options every driver-file module shares (documented by the
# kubedebug.lab.cgroup_driver_file doc fragment).
DRIVER_FILE_ARGSPEC = dict(
    cgroup_driver=dict(type="str", required=True, choices=["systemd", "cgroupfs"]),
    backup=dict(type="bool", default=True),
)


def read(path):
    """``(exists, text)``; a file that is not UTF-8 or cannot be read raises KubedebugError."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return False, ""
    except OSError as exc:
        raise KubedebugError("Cannot read %s: %s" % (path, exc.strerror), "Check the path and permissions", path=path) from None
    try:
        return True, raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KubedebugError("%s is not UTF-8 text (byte %d)" % (path, exc.start),
                             "Fix the file; nothing was changed", path=path) from None


def write(module, path, before, after, existed, backup=True, mode=0o644):
    """Write ``after`` to ``path`` if it differs; returns a result dict for this file.

    In check mode nothing is written. The backup (``module.backup_local``:
    ``PATH.<pid>.<timestamp>~`` next to the file) is taken before the move;
    the new content goes to a dot-named temp file in the same directory and is
    renamed over the old one (``module.atomic_move`` keeps owner, mode and
    SELinux context of the file it replaces).
    """
    result = {"path": path, "changed": False}
    if existed and before == after:
        return result
    result["changed"] = True
    if module._diff:
        result["diff"] = {
            "before_header": path if existed else "%s (absent)" % path,
            "after_header": path,
            "before": before,
            "after": after,
        }
    if module.check_mode:
        return result
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    if existed and backup:
        result["backup_file"] = module.backup_local(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(after.encode("utf-8"))
        if not existed:
            os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return result
