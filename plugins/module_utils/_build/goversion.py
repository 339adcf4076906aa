# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Go and Delve versions: parsing, ordering, which Go releases each Delve
release supports, and which Go a Kubernetes source tree asks for.

Pure Python, no Ansible import. Errors a user can fix are raised as
:class:`KubedebugError` with the fix in ``hint``.
"""

from __future__ import annotations

import functools
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

# Go release names: go1.19, go1.19.8, go1.21.0, go1.22rc1, go1.9beta2 (the
# leading "go" is optional here). Go 1.21 and later name the first release
# "1.21.0"; earlier first releases are just "1.20".
_GO_RE = re.compile(r"^(?:go)?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+)|(?P<pre>beta|rc)(?P<pre_num>\d+))?$", re.ASCII)
_STAGES = {"beta": 0, "rc": 1, None: 2}


@functools.total_ordering
class GoVersion:
    """A Go release (or a go.mod language version such as ``1.19``).

    Ordering follows Go's release order: ``1.21rc1 < 1.21.0 < 1.21.1``;
    a bare ``1.19`` is the first 1.19 release (equal to ``1.19.0``).
    """

    __slots__ = ("major", "minor", "patch", "pre", "pre_num")

    def __init__(self, major, minor, patch=None, pre=None, pre_num=None):
        if pre is not None and patch is not None:
            raise ValueError("a Go pre-release has no patch number")
        self.major = int(major)
        self.minor = int(minor)
        self.patch = None if patch is None else int(patch)
        self.pre = pre
        self.pre_num = None if pre_num is None else int(pre_num)

    @classmethod
    def parse(cls, text):
        """Parse ``go1.19.8``, ``1.19``, ``1.22rc1``... or raise KubedebugError."""
        raw = text if isinstance(text, str) else str(text)
        m = _GO_RE.match(raw.strip())
        if not m:
            raise KubedebugError(
                "%r is not a Go version" % (raw,),
                "Use a Go release name such as 1.19.8, go1.21.0 or 1.22rc1",
                value=raw,
            )
        return cls(m.group("major"), m.group("minor"), m.group("patch"), m.group("pre"), m.group("pre_num"))

    @property
    def bare(self):
        """True for a language version without a patch level (``1.19``)."""
        return self.patch is None and self.pre is None

    @property
    def minor_version(self):
        return (self.major, self.minor)

    @property
    def minor_str(self):
        return "%d.%d" % (self.major, self.minor)

    def _key(self):
        stage = _STAGES[self.pre]
        return (self.major, self.minor, stage, (self.patch or 0) if self.pre is None else self.pre_num)

    def __eq__(self, other):
        if not isinstance(other, GoVersion):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other):
        if not isinstance(other, GoVersion):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        """The release name as go.dev spells it, without the ``go`` prefix."""
        base = "%d.%d" % (self.major, self.minor)
        if self.pre is not None:
            return "%s%s%d" % (base, self.pre, self.pre_num)
        patch = self.patch or 0
        if patch == 0 and (self.major, self.minor) < (1, 21):
            return base
        return "%s.%d" % (base, patch)

    def __repr__(self):
        return "GoVersion(%r)" % str(self)


_DELVE_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$", re.ASCII)


def parse_delve_version(text):
    """``1.20.2`` or ``v1.20.2`` -> (1, 20, 2), or raise KubedebugError."""
    raw = text if isinstance(text, str) else str(text)
    m = _DELVE_RE.match(raw.strip())
    if not m:
        raise KubedebugError(
            "%r is not a Delve release version" % (raw,),
            "Use a release tag such as 1.20.2 (see https://github.com/go-delve/delve/releases)",
            value=raw,
        )
    return tuple(int(x) for x in m.groups())


def delve_str(version):
    return "%d.%d.%d" % tuple(version)


# Which Go minor versions each Delve release accepts, from the
# Min/MaxSupportedVersionOfGoMinor constants in Delve's
# pkg/goversion/compat.go at each release (outside the range dlv refuses to
# run: "Version of Delve is too old for Go version ..."). Rows:
# (first Delve release, last Delve release or "X.Y.*" for every later patch of
# that minor, oldest Go, newest Go). 1.6.x-1.9.x maxima follow the CHANGELOG's
# "Go 1.N support" entries and minima its "Dropped Go 1.N support" entries;
# delve 1.21.0 is left out because its minimum is not established here.
DELVE_GO_SUPPORT = (
    ("1.6.0", "1.6.0", "1.13", "1.16"),
    ("1.6.1", "1.6.*", "1.14", "1.16"),
    ("1.7.0", "1.7.*", "1.15", "1.17"),
    ("1.8.0", "1.8.*", "1.16", "1.18"),
    ("1.9.0", "1.9.*", "1.17", "1.19"),
    ("1.20.0", "1.20.*", "1.18", "1.20"),
    ("1.21.1", "1.21.*", "1.19", "1.21"),
    ("1.22.0", "1.22.*", "1.19", "1.22"),
    ("1.23.0", "1.23.*", "1.21", "1.23"),
    ("1.24.0", "1.24.*", "1.21", "1.24"),
    ("1.25.0", "1.25.0", "1.21", "1.24"),
    ("1.25.1", "1.25.*", "1.22", "1.25"),
    ("1.26.0", "1.26.*", "1.24", "1.26"),
    ("1.27.0", "1.27.*", "1.25", "1.27"),
)


def _parse_row(row):
    """A table row (or a user's extra row) -> (first, last, go_min, go_max)."""
    if isinstance(row, dict):
        try:
            row = (row["delve"], row.get("delve_last") or row["delve"], row["go_min"], row["go_max"])
        except KeyError as exc:
            raise KubedebugError(
                "Delve compatibility entry %r lacks %s" % (row, exc),
                "Give each entry delve (a release such as 1.28.0, or 1.28.* for the whole series), go_min and go_max (e.g. 1.26 and 1.28)",
            ) from None
    first, last, go_min, go_max = (str(x) for x in row)
    if first.endswith(".*"):
        series = parse_delve_version(first[:-2] + ".0")
        first_v = series
        last = first
    else:
        first_v = parse_delve_version(first)
    if last.endswith(".*"):
        last_v = parse_delve_version(last[:-2] + ".0")[:2] + (float("inf"),)
    else:
        last_v = parse_delve_version(last)
    return first_v, last_v, GoVersion.parse(go_min), GoVersion.parse(go_max)


def compat_table(extra=None):
    """The built-in table with the caller's rows in front (they win)."""
    rows = [_parse_row(r) for r in (extra or ())]
    rows.extend(_parse_row(r) for r in DELVE_GO_SUPPORT)
    return rows


def delve_go_range(delve, table=None):
    """(oldest Go, newest Go) Delve ``delve`` supports, or raise KubedebugError."""
    version = parse_delve_version(delve) if isinstance(delve, str) else tuple(delve)
    for first, last, go_min, go_max in table if table is not None else compat_table():
        if first <= version <= last:
            return go_min, go_max
    raise KubedebugError(
        "No supported Go range is known for Delve %s" % delve_str(version),
        "Pick a Delve release listed in DELVE_GO_SUPPORT (1.6.0 to 1.27.x), or declare its range with "
        "delve_go_compat: [{delve: '%d.%d.*', go_min: '1.N', go_max: '1.M'}] from its pkg/goversion/compat.go" % version[:2],
        delve_version=delve_str(version),
    )


def delve_supports(delve, go, table=None):
    """True when Delve ``delve`` debugs programs built by Go ``go``."""
    go_v = go if isinstance(go, GoVersion) else GoVersion.parse(go)
    go_min, go_max = delve_go_range(delve, table)
    return go_min.minor_version <= go_v.minor_version <= go_max.minor_version


def newest_delve_for_go(go, releases, table=None):
    """The newest of ``releases`` that supports Go ``go`` (a version string).

    Releases without a known Go range are ignored. Raises KubedebugError when
    none fits, naming the releases that were considered.
    """
    go_v = go if isinstance(go, GoVersion) else GoVersion.parse(go)
    rows = table if table is not None else compat_table()
    candidates = sorted({parse_delve_version(r) for r in releases}, reverse=True)
    for candidate in candidates:
        try:
            if delve_supports(candidate, go_v, rows):
                return delve_str(candidate)
        except KubedebugError:
            continue
    raise KubedebugError(
        "None of the Delve releases %s supports Go %s" % (", ".join(delve_str(c) for c in candidates) or "(none given)", go_v),
        "Set delve_version to a release that supports Go %s and pin it (delve_sha256 for the archive method, delve_module_sum for "
        "the source method; delve_go_compat if it is newer than 1.27.x), or install a Go that a listed Delve supports" % go_v.minor_str,
        go_version=str(go_v),
    )


def check_pair(delve, go, table=None):
    """Raise KubedebugError naming both versions and the fix unless they fit."""
    go_v = go if isinstance(go, GoVersion) else GoVersion.parse(go)
    delve = delve_str(parse_delve_version(delve) if isinstance(delve, str) else delve)
    go_min, go_max = delve_go_range(delve, table)
    if go_min.minor_version <= go_v.minor_version <= go_max.minor_version:
        return go_min, go_max
    if go_v.minor_version > go_max.minor_version:
        problem = "Delve %s is too old for Go %s: it supports Go %s to %s" % (delve, go_v, go_min.minor_str, go_max.minor_str)
        fix = "Use a newer Delve (delve_version) that supports Go %s, or an older Go (go_version <= %s)" % (go_v.minor_str, go_max.minor_str)
    else:
        problem = "Go %s is too old for Delve %s: it supports Go %s to %s" % (go_v, delve, go_min.minor_str, go_max.minor_str)
        fix = "Use an older Delve (delve_version) that supports Go %s, or a newer Go (go_version >= %s)" % (go_v.minor_str, go_min.minor_str)
    raise KubedebugError(
        problem,
        fix + "; leave delve_version empty to get the newest Delve that supports the Go version",
        delve_version=str(delve),
        go_version=str(go_v),
        delve_go_min=go_min.minor_str,
        delve_go_max=go_max.minor_str,
    )


# Go 1.25 and later write DWARF 5, and Go's debug/dwarf reads it correctly only
# from Go 1.25 on: dlv refuses such programs unless dlv itself was built with
# Go >= 1.25 ("To debug executables using DWARFv5 or later Delve must be built
# with Go version 1.25.0 or later", go-delve/delve#3943).
DWARF5_GO = GoVersion(1, 25, 0)


def check_delve_build(delve, target_go, build_go, build_go_min=None, releases=None, table=None):
    """Raise KubedebugError unless Go ``build_go`` can build Delve ``delve`` into a dlv that debugs Go ``target_go`` programs.

    ``build_go_min`` is the Go the release's go.mod asks for (None: unknown).
    ``releases`` (optional ``{delve: build_go_min}``) is used to name a
    release that would fit instead.
    """
    target = target_go if isinstance(target_go, GoVersion) else GoVersion.parse(target_go)
    builder = build_go if isinstance(build_go, GoVersion) else GoVersion.parse(build_go)
    delve = delve_str(parse_delve_version(delve) if isinstance(delve, str) else delve)
    details = dict(delve_version=delve, go_version=str(target), build_go_version=str(builder))
    if target >= GoVersion(1, 25) and builder < DWARF5_GO:
        raise KubedebugError(
            "A dlv built with Go %s cannot debug programs built by Go %s: Go >= 1.25 writes DWARF 5, which Delve reads only "
            "when it was built with Go >= 1.25.0 (go-delve/delve#3943)" % (builder, target),
            "Build Delve %s with a Go >= 1.25.0 - set delve_go_bin to a Go >= 1.25 (for example the Go %s that built the programs, "
            "from the kubedebug.lab.go role)" % (delve, target),
            error_kind="dwarf5", **details
        )
    if build_go_min:
        need = GoVersion.parse(build_go_min)
        if builder < need:
            fits = []
            for other, other_min in (releases or {}).items():
                try:
                    if other_min and builder >= GoVersion.parse(other_min) and delve_supports(other, target, table):
                        fits.append(parse_delve_version(other))
                except KubedebugError:
                    continue
            other = (" or Delve %s (delve_version), which Go %s can build" % (delve_str(max(fits)), builder)) if fits else ""
            raise KubedebugError(
                "Delve %s needs Go >= %s to build (its go.mod) and delve_go_bin is Go %s" % (delve, need, builder),
                "Set delve_go_bin to a Go >= %s%s" % (need, other),
                error_kind="go_too_old", build_go_min=str(need), **details
            )
    return builder


def newest_patch(version, releases):
    """For a bare ``1.19`` (a go.mod language version) return the newest 1.19.x
    in ``releases``; otherwise (or when none matches) ``version`` itself."""
    if not version.bare:
        return version
    same = []
    for r in releases:
        try:
            v = GoVersion.parse(r)
        except KubedebugError:
            continue
        if v.minor_version == version.minor_version and v.pre is None:
            same.append(v)
    return max(same) if same else version


# build/build-image/cross/VERSION: "v1.15.5-1" (Kubernetes <= 1.25), later
# "v1.26.0-go1.19.4-bullseye.0" (the kube-cross image tag).
_CROSS_GO_RE = re.compile(r"go(\d+\.\d+(?:\.\d+|(?:beta|rc)\d+)?)")
_CROSS_PLAIN_RE = re.compile(r"^v?(\d+\.\d+(?:\.\d+|(?:beta|rc)\d+)?)(?:-\d+)?$")
_GOMOD_TOOLCHAIN_RE = re.compile(r"^toolchain\s+(go\S+)\s*(?://.*)?$")
_GOMOD_GO_RE = re.compile(r"^go\s+(\S+)\s*(?://.*)?$")


def _read(path):
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return f.read()


def _first_line(text):
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else ""


def _from_go_version_file(text):
    line = _first_line(text)
    return line, line


def _from_cross_version(text):
    line = _first_line(text)
    m = _CROSS_GO_RE.search(line)
    if m:
        return m.group(1), line
    m = _CROSS_PLAIN_RE.match(line)
    return (m.group(1) if m else line), line


def _from_go_mod(text):
    """The ``toolchain`` directive wins over the ``go`` (language) directive."""
    toolchain = go = None
    for raw in text.splitlines():
        line = raw.strip()
        m = _GOMOD_TOOLCHAIN_RE.match(line)
        if m:
            toolchain = (m.group(1), line)
            continue
        m = _GOMOD_GO_RE.match(line)
        if m and go is None:
            go = (m.group(1), line)
    return toolchain or go or ("", "")


# Where a Kubernetes tree records its Go version, in the order they are read.
TREE_SOURCES = (
    (".go-version", _from_go_version_file),
    (os.path.join("build", "build-image", "cross", "VERSION"), _from_cross_version),
    ("go.mod", _from_go_mod),
)


def go_version_for_tree(path):
    """Which Go a Kubernetes tree asks for.

    Returns ``(GoVersion, relative file that decided, raw value)``. Reads
    ``.go-version``, then ``build/build-image/cross/VERSION``, then go.mod's
    ``toolchain``/``go`` directive. go.mod's ``go 1.19`` gives a bare version
    (see :func:`newest_patch`).
    """
    if not os.path.isdir(path):
        raise KubedebugError(
            "Kubernetes tree %s is not a directory" % path,
            "Point go_k8s_tree at the top of a Kubernetes checkout (the directory holding go.mod), or set go_version",
            path=path,
        )
    for rel, extract in TREE_SOURCES:
        full = os.path.join(path, rel)
        if not os.path.isfile(full):
            continue
        value, raw = extract(_read(full))
        if not value:
            continue
        try:
            return GoVersion.parse(value), rel, raw
        except KubedebugError:
            raise KubedebugError(
                "%s says %r, which is not a Go version" % (full, raw),
                "Fix that file or set go_version explicitly",
                path=full,
                value=raw,
            ) from None
    raise KubedebugError(
        "No Go version found in %s (looked for %s)" % (path, ", ".join(source[0] for source in TREE_SOURCES)),
        "Point go_k8s_tree at the top of a Kubernetes checkout, or set go_version",
        path=path,
    )


_GOVERSION_OUTPUT_RE = re.compile(r"\bgo(\d+\.\d+(?:\.\d+|(?:beta|rc)\d+)?)\b")


def parse_go_version_output(text):
    """Version from ``go env GOVERSION`` (``go1.19.8``, ``go1.22.1 X:boringcrypto``)
    or ``go version`` (``go version go1.19.8 linux/amd64``)."""
    m = _GOVERSION_OUTPUT_RE.search(text or "")
    if not m:
        raise KubedebugError(
            "Cannot read a Go release from %r" % ((text or "").strip(),),
            "A development (devel) Go toolchain has no release number: set go_version (or delve_go_version) explicitly",
            output=(text or "").strip(),
        )
    return GoVersion.parse(m.group(1))


_VERSION_TUPLE_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$")
_DLV_VERSION_OUTPUT_RE = re.compile(r"Version:\s*(v?\d+\.\d+\.\d+)")


def version_tuple(text):
    """``v1.20.2`` / ``1.20`` / ``1.20.5+really1.20.2`` -> (1, 20, 2); None if not a version.

    Tolerant, for versions read from trees and file names (Kubernetes, Go, vendored
    modules): a pre-release or build suffix is dropped, Debian's ``+really`` repacks
    give the real version.
    """
    if not text:
        return None
    text = text.strip()
    m = re.search(r"really(\d+\.\d+(?:\.\d+)?)", text)
    if m:
        text = m.group(1)
    m = _VERSION_TUPLE_RE.match(text)
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def go_version_tuple(text):
    """``go version go1.19.8 linux/amd64`` / ``go1.21rc2`` / ``1.19.8`` -> (1, 19, 8), (1, 21, 0)...; None if none.

    The tolerant form of :func:`parse_go_version_output` (a pre-release counts as
    its minor's first release), falling back to :func:`version_tuple`.
    """
    m = _GOVERSION_OUTPUT_RE.search(text or "")
    if not m:
        return version_tuple(text)
    v = GoVersion.parse(m.group(1))
    return (v.major, v.minor, v.patch or 0)


def dlv_version_output(text):
    """``dlv version`` output (``Delve Debugger\\nVersion: 1.20.2\\n...``) -> (1, 20, 2); None when absent."""
    m = _DLV_VERSION_OUTPUT_RE.search(text or "")
    return parse_delve_version(m.group(1)) if m else None


def check_dlv_for_program(dlv, delve, dlv_build_go, program, program_go, table=None):
    """Raise KubedebugError unless dlv (Delve ``delve``, itself built by Go ``dlv_build_go``) can debug ``program``
    (built by Go ``program_go``): what dlv would otherwise refuse only after it started ("Version of Delve is too old
    for Go version ..."), when the component it replaces has already been stopped.

    Unknown versions (None), and a Delve newer than the table, are not refused: dlv decides then.
    """
    if not delve or not program_go:
        return
    try:
        delve_go_range(delve, table)
    except KubedebugError:
        return  # a Delve the table does not know: dlv decides
    target = GoVersion.parse(program_go)
    try:
        check_pair(delve, target, table)
        if dlv_build_go:
            check_delve_build(delve, target, GoVersion.parse(dlv_build_go), table=table)
    except KubedebugError as e:
        raise KubedebugError(
            "%s (Delve %s) cannot debug %s (built by Go %s): %s" % (dlv, delve, program, program_go, e.msg),
            "Use a dlv that supports Go %s - the one the kubedebug.lab.delve role installed for that Go (its delve_bin; "
            "debug_component_dlv_path, or dlv_path of the module). Nothing was stopped" % target.minor_str,
            dlv=dlv, delve_version=str(delve), program=program, program_go=str(program_go),
        ) from None
