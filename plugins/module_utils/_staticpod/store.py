# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""The backup set of one manifest, kept outside the manifest directory: the original byte for byte, its
sha256 and the record (see the package's docstring for the write and removal order)."""

from __future__ import annotations

import os
import re
import signal

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod.manifest import FAULT_ENV, RECORD_SUFFIX, SHA_SUFFIX, sha256


class Store:
    """The backup set of one manifest in backup_dir."""

    def __init__(self, backup_dir, manifest_path):
        base = os.path.basename(manifest_path)
        self.manifest = manifest_path
        self.dir = backup_dir
        self.backup = os.path.join(backup_dir, base)
        self.sha = self.backup + SHA_SUFFIX
        self.record = self.backup + RECORD_SUFFIX
        self.lockfile = os.path.join(backup_dir, ".%s.lock" % base)

    def paths(self):
        return {"backup": self.backup, "sha256_file": self.sha, "record": self.record}

    def load(self):
        backup = read_file(self.backup)[0]
        sha = None
        raw_sha = read_file(self.sha)[0]
        if raw_sha is not None:
            tok = raw_sha.split()[0].decode("ascii", "replace") if raw_sha.split() else ""
            if not re.fullmatch(r"[0-9a-f]{64}", tok):
                raise KubedebugError("%s does not hold a sha256" % self.sha,
                                     hint="It belongs to the backup %s: inspect both; nothing was changed" % self.backup, **self.paths())
            sha = tok
        try:
            record = _files.read_state(self.record)
            problems = record_problems(record) if record is not None else []
        except KubedebugError as e:
            record, problems = None, [e.msg]
        if problems:
            # Damaged: none of it is trusted. A restore still recovers the original from the backup and its
            # sha256 (and says so); a debug run refuses.
            record = None
        return {"backup": backup, "sha": sha, "record": record, "damaged": "; ".join(problems)}

    def verified(self, loaded):
        """The original's bytes when a backup exists (checked against every sha256 we hold), else None."""
        b, sha, rec = loaded["backup"], loaded["sha"], loaded["record"]
        if b is None:
            if sha or rec:
                raise KubedebugError(
                    "the backup %s is missing but its %s exists" % (self.backup, "record" if rec else "sha256 file"),
                    hint="Something removed the backup of the original manifest. If you have the original elsewhere, put it at %s; "
                    "otherwise remove %s and %s and regenerate the manifest (kubeadm init phase control-plane)" % (self.backup, self.sha, self.record),
                    **self.paths(),
                )
            return None
        actual = sha256(b)
        expected = [("sha256 file " + self.sha, sha)]
        if rec:
            expected.append(("record " + self.record, (rec.get("original") or {}).get("sha256")))
        for what, exp in expected:
            if exp is not None and exp != actual:
                raise KubedebugError(
                    "the backup %s no longer matches its %s: sha256 %s expected, %s found" % (self.backup, what, exp, actual),
                    hint="The backup was modified after it was taken; nothing was changed. Compare it with the manifest and your own copies; "
                    "once you have the right original at %s, write its sha256 into %s (sha256sum format) and run again" % (self.backup, self.sha),
                    expected_sha256=exp, actual_sha256=actual, **self.paths(),
                )
        if rec:
            rpath = (rec.get("original") or {}).get("path")
            if rpath and os.path.realpath(rpath) != os.path.realpath(self.manifest):
                raise KubedebugError(
                    "%s holds a backup of %s, not of %s" % (self.backup, rpath, self.manifest),
                    hint="Two manifests with the same file name: give this one its own backup_dir", **self.paths(),
                )
        return b

    def write(self, original, record, step, had):
        """Write the missing parts of the set, then the record when it differs; in that order."""
        os.makedirs(self.dir, 0o700, exist_ok=True)
        if had["backup"] is None:
            _files.atomic_write(self.backup, original, 0o600, hook=prefixed(step, "backup"))
        if had["sha"] is None:
            line = "%s  %s\n" % (sha256(original), os.path.basename(self.backup))
            _files.atomic_write(self.sha, line.encode("utf-8"), 0o600, hook=prefixed(step, "sha256"))
        if had["record"] != dict(record, version=_files.STATE_VERSION):
            _files.write_state(self.record, record, hook=prefixed(step, "record"))

    def remove(self, step):
        for path, name in ((self.record, "record"), (self.sha, "sha256"), (self.backup, "backup")):
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            _files.fsync_dir(self.dir)
            step(name + ":removed")


_SHA = re.compile(r"[0-9a-f]{64}")
MAX_ID = 2 ** 32 - 2  # the largest uid/gid Linux accepts (2**32-1 is "no id")


def _whole(value, lo, hi):
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def record_problems(rec):
    """What is wrong with a backup set's record (types and ranges), [] when nothing is."""
    if not isinstance(rec, dict):
        return ["the record is not a JSON object"]
    problems = []
    o = rec.get("original")
    if not isinstance(o, dict):
        return ["'original' is not a mapping"]
    checks = (
        ("original.path", isinstance(o.get("path"), str) and o["path"].startswith("/")),
        ("original.sha256", isinstance(o.get("sha256"), str) and bool(_SHA.fullmatch(o["sha256"]))),
        ("original.mode", _whole(o.get("mode"), 0, 0o7777)),
        ("original.uid", _whole(o.get("uid"), 0, MAX_ID)),
        ("original.gid", _whole(o.get("gid"), 0, MAX_ID)),
        ("original.size", o.get("size") is None or _whole(o.get("size"), 0, 1 << 40)),
        ("mode", rec.get("mode") in ("static", "host")),
        ("debug_sha256", isinstance(rec.get("debug_sha256", []), list)
         and all(isinstance(x, str) and _SHA.fullmatch(x) for x in rec.get("debug_sha256", []))),
    )
    for name, ok in checks:
        if not ok:
            value = o.get(name.split(".", 1)[1]) if name.startswith("original.") else rec.get(name)
            problems.append("%s is %r" % (name, value) if value is not None else "%s is missing" % name)
    return problems


def prefixed(step, prefix):
    return lambda s: step("%s:%s" % (prefix, s))


def read_file(path):
    """(bytes, stat) of a regular file, (None, None) when absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None, None
    except OSError as e:
        raise KubedebugError("cannot stat %s: %s" % (path, e.strerror), hint="Check the path and permissions") from None
    if os.path.islink(path):
        raise KubedebugError("%s is a symbolic link (to %s)" % (path, os.readlink(path)), hint="Give the path of the file itself; nothing was changed")
    if not os.path.isfile(path):
        raise KubedebugError("%s is not a regular file" % path, hint="Give the path of a manifest file; nothing was changed")
    try:
        with open(path, "rb") as f:
            return f.read(), st
    except OSError as e:
        raise KubedebugError("cannot read %s: %s" % (path, e.strerror), hint="Run with become: true") from None


def env_fault_hook(step):
    """The test hook: SIGKILL this process at the step named in KUBEDEBUG_TEST_KILL_AT."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)
