# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Is this Go binary debuggable with Delve? Pure Python, standard library only.

Reads an ELF file's section headers, the ``.go.buildinfo`` blob (Go version and
build settings, as ``go version -m`` prints them), and the DWARF sections
(``.debug_info``/``.debug_abbrev``/``.debug_str``/``.debug_line``, plain,
``SHF_COMPRESSED`` zlib, or legacy ``.zdebug_*``). For every compile unit it
reads only the first DIE (the ``DW_TAG_compile_unit``) and its
``DW_AT_producer``, e.g. ``Go cmd/compile go1.19.8; -N -l regabi``: a unit
built without optimisation and inlining carries ``-N -l`` there. Units of the
runtime and the packages it is built with never do (the toolchain always
optimises them), so the verdict's share leaves them out and counts them apart.
DWARF 4 (Go <= 1.24) and DWARF 5 (Go >= 1.25 by default) are both read.

``.debug_info`` is decompressed and walked as a stream, so memory stays bounded
on a ~150 MB debug kube-apiserver; see tests/bench/bench_go_debug_info.py for
the time it takes.
"""

from __future__ import annotations

import json
import os
import re
import struct

from ansible_collections.kubedebug.lab.plugins.module_utils._build.elf import ElfFile
from ansible_collections.kubedebug.lab.plugins.module_utils._build.elf import ElfFormatError as _ElfError
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

BUILDINFO_MAGIC = b"\xff Go buildinf:"
DEFAULT_MIN_UNOPTIMIZED_SHARE = 0.95

# Packages the Go toolchain always compiles with optimisation, whatever -gcflags
# say: the runtime and the packages it is built with ("it is not possible to
# build the runtime with no optimizations"). Their units never carry -N, so the
# -N -l share is counted without them. The list changes between Go releases:
#   Go 1.19: cmd/go/internal/work/gc.go runtimePackages (cmd/go drops -N for them)
#   Go 1.24, 1.26: cmd/internal/objabi/pkgspecial.go runtimePkgs (cmd/compile
#     sets Flag.N = 0 when CompilingRuntime, base/flag.go)
# Keyed by Go minor version; read from the sources of go1.19.8, go1.24.13 and
# go1.26.8/go1.26.10.
_RUNTIME_PACKAGES_BY_GO = {
    19: frozenset((
        "runtime", "runtime/internal/atomic", "runtime/internal/math", "runtime/internal/sys",
        "runtime/internal/syscall", "internal/abi", "internal/bytealg", "internal/cpu", "internal/goarch",
        "internal/goos",
    )),
    24: frozenset((
        "runtime", "internal/runtime/atomic", "internal/runtime/exithook", "internal/runtime/maps",
        "internal/runtime/math", "internal/runtime/sys", "internal/runtime/syscall", "internal/abi",
        "internal/bytealg", "internal/byteorder", "internal/chacha8rand", "internal/coverage/rtcov", "internal/cpu",
        "internal/goarch", "internal/godebugs", "internal/goexperiment", "internal/goos", "internal/profilerecord",
        "internal/stringslite",
    )),
    26: frozenset((
        "runtime", "internal/runtime/atomic", "internal/runtime/cgroup", "internal/runtime/exithook",
        "internal/runtime/gc", "internal/runtime/gc/scan", "internal/runtime/maps", "internal/runtime/math",
        "internal/runtime/sys", "internal/runtime/syscall/linux", "internal/runtime/syscall/windows",
        "internal/abi", "internal/bytealg", "internal/byteorder", "internal/chacha8rand", "internal/coverage/rtcov",
        "internal/cpu", "internal/goarch", "internal/godebugs", "internal/goexperiment", "internal/goos",
        "internal/profilerecord", "internal/strconv", "internal/stringslite",
    )),
}
# Go releases whose list was not read: every package a read list names, and
# the runtime's own trees. A unit is left out only when it lacks -N, so a package
# that such a release does let -gcflags reach still counts when it was reached.
_RUNTIME_PACKAGES_OTHER = frozenset().union(*_RUNTIME_PACKAGES_BY_GO.values())
_RUNTIME_PREFIXES_OTHER = ("runtime/internal/", "internal/runtime/")
_GO_MINOR = re.compile(r"\bgo1\.(\d+)")

# DWARF constants used here
DW_TAG_compile_unit = 0x11
DW_TAG_partial_unit = 0x3C
DW_TAG_skeleton_unit = 0x4A
DW_AT_name = 0x03
DW_AT_stmt_list = 0x10
DW_AT_producer = 0x25
DW_AT_language = 0x13
DW_AT_str_offsets_base = 0x72
DW_LANG_Go = 0x16
DW_LNCT_path = 0x1
DW_LNCT_directory_index = 0x2


# ---------------------------------------------------------------------------
# Go build info
# ---------------------------------------------------------------------------
def _uvarint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _ElfError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _read_go_string(elf, vaddr, ptrsize, endian):
    hdr = elf.read_vaddr(vaddr, 2 * ptrsize)
    fmt = endian + ("QQ" if ptrsize == 8 else "II")
    data_ptr, length = struct.unpack_from(fmt, hdr, 0)
    if length == 0:
        return ""
    return elf.read_vaddr(data_ptr, length).decode("utf-8", "replace")


def read_buildinfo(elf):
    """(go_version, modinfo) from ``.go.buildinfo``; (None, None) for non-Go files."""
    sec = elf.section(".go.buildinfo")
    if sec is not None:
        blob = elf._read(sec.offset, min(sec.size, 1 << 20))
    else:
        off = elf.scan(BUILDINFO_MAGIC)
        if off < 0:
            return None, None
        elf._f.seek(off)
        blob = elf._f.read(64 * 1024)
    if not blob.startswith(BUILDINFO_MAGIC) or len(blob) < 32:
        return None, None
    ptrsize, flags = blob[14], blob[15]
    if flags & 0x2:  # Go >= 1.18: inline varint-prefixed strings
        n, pos = _uvarint(blob, 32)
        version = blob[pos:pos + n].decode("utf-8", "replace")
        pos += n
        n, pos = _uvarint(blob, pos)
        modinfo = blob[pos:pos + n].decode("utf-8", "replace")
    else:  # Go < 1.18: pointers to Go string headers
        if ptrsize not in (4, 8):
            raise _ElfError("bad pointer size %d in .go.buildinfo" % ptrsize)
        endian = ">" if flags & 0x1 else "<"
        fmt = endian + ("Q" if ptrsize == 8 else "I")
        vptr = struct.unpack_from(fmt, blob, 16)[0]
        mptr = struct.unpack_from(fmt, blob, 16 + ptrsize)[0]
        version = _read_go_string(elf, vptr, ptrsize, endian)
        modinfo = _read_go_string(elf, mptr, ptrsize, endian)
    if len(modinfo) >= 33 and modinfo[-17] == "\n":
        modinfo = modinfo[16:-16]
    return version or None, modinfo


def _unquote(value):
    if value.startswith('"') and value.endswith('"'):
        try:
            return json.loads(value)
        except ValueError:
            return value[1:-1]
    return value


def parse_modinfo(modinfo):
    """``go version -m`` lines -> {path, main_module, deps, settings}."""
    info = {"path": None, "main_module": None, "deps": 0, "settings": {}}
    for line in (modinfo or "").splitlines():
        kind, _sep, rest = line.partition("\t")
        if kind == "path":
            info["path"] = rest
        elif kind == "mod":
            fields = rest.split("\t")
            info["main_module"] = {"path": fields[0], "version": fields[1] if len(fields) > 1 else ""}
        elif kind == "dep":
            info["deps"] += 1
        elif kind == "build":
            key, _sep, value = rest.partition("=")
            info["settings"][key] = _unquote(value)
    return info


# ---------------------------------------------------------------------------
# DWARF
# ---------------------------------------------------------------------------
class _Stream:
    """Forward-only reader over a stream of byte chunks with absolute offsets."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self.eof = False

    def fill(self, end):
        """Make sure bytes up to absolute offset ``end`` are buffered (if they exist)."""
        while self.base + len(self.buf) < end and not self.eof:
            try:
                self.buf += next(self._chunks)
            except StopIteration:
                self.eof = True

    def available(self):
        return self.base + len(self.buf)

    def drop_before(self, offset):
        """Forget everything before absolute ``offset``, reading past unread chunks."""
        while self.base + len(self.buf) < offset and not self.eof:
            self.base += len(self.buf)
            self.buf = bytearray()
            try:
                self.buf += next(self._chunks)
            except StopIteration:
                self.eof = True
        n = min(offset - self.base, len(self.buf))
        if n > 0:
            del self.buf[:n]
            self.base += n


class _Reader:
    """Cursor over a bytes-like object; ``pos`` is relative to ``data``."""

    __slots__ = ("data", "pos", "endian")

    def __init__(self, data, pos, endian):
        self.data = data
        self.pos = pos
        self.endian = endian

    def u(self, size):
        p = self.pos
        if p + size > len(self.data):
            raise IndexError("read past end")
        self.pos = p + size
        if size == 1:
            return self.data[p]
        return int.from_bytes(self.data[p:p + size], "little" if self.endian == "<" else "big")

    def uleb(self):
        result = shift = 0
        data = self.data
        while True:
            b = data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def sleb(self):
        result = shift = 0
        data = self.data
        while True:
            b = data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                if b & 0x40:
                    result -= 1 << shift
                return result

    def cstr(self):
        end = self.data.index(0, self.pos)
        s = bytes(self.data[self.pos:end])
        self.pos = end + 1
        return s.decode("utf-8", "replace")

    def skip(self, n):
        if self.pos + n > len(self.data):
            raise IndexError("read past end")
        self.pos += n


def _parse_abbrevs(data, offset):
    """Abbreviation table at ``offset``: {code: (tag, [(attr, form, implicit_const)])}."""
    r = _Reader(data, offset, "<")
    table = {}
    while True:
        code = r.uleb()
        if code == 0:
            return table
        tag = r.uleb()
        r.u(1)  # has_children
        attrs = []
        while True:
            attr = r.uleb()
            form = r.uleb()
            implicit = None
            if form == 0x21:  # DW_FORM_implicit_const
                implicit = r.sleb()
            if attr == 0 and form == 0:
                break
            attrs.append((attr, form, implicit))
        table[code] = (tag, attrs)


_FIXED_FORM_SIZES = {
    0x0B: 1, 0x11: 1, 0x0C: 1, 0x25: 1, 0x29: 1,  # data1 ref1 flag strx1 addrx1
    0x05: 2, 0x12: 2, 0x26: 2, 0x2A: 2,  # data2 ref2 strx2 addrx2
    0x27: 3, 0x2B: 3,  # strx3 addrx3
    0x06: 4, 0x13: 4, 0x1C: 4, 0x28: 4, 0x2C: 4,  # data4 ref4 ref_sup4 strx4 addrx4
    0x07: 8, 0x14: 8, 0x20: 8, 0x24: 8,  # data8 ref8 ref_sig8 ref_sup8
    0x1E: 16,  # data16
    0x19: 0, 0x21: 0,  # flag_present implicit_const
}


def _read_form(r, form, unit, implicit):
    """Value of one attribute: int, str, ('strp', off), ('strx', idx) or None (skipped)."""
    size = _FIXED_FORM_SIZES.get(form)
    if size is not None:
        if form == 0x21:
            return implicit
        if form in (0x25, 0x26, 0x27, 0x28):
            return ("strx", r.u(size))
        return r.u(size) if size else True
    if form == 0x08:  # string
        return r.cstr()
    if form in (0x0E, 0x1F, 0x1D):  # strp, line_strp, strp_sup
        off = r.u(unit["offset_size"])
        return ("line_strp" if form == 0x1F else "strp", off)
    if form == 0x01:  # addr
        return r.u(unit["addr_size"])
    if form == 0x10:  # ref_addr
        return r.u(unit["offset_size"] if unit["version"] >= 3 else unit["addr_size"])
    if form in (0x17,):  # sec_offset
        return r.u(unit["offset_size"])
    if form in (0x0F, 0x15, 0x1B, 0x22, 0x23):  # udata ref_udata addrx loclistx rnglistx
        return r.uleb()
    if form == 0x1A:  # strx
        return ("strx", r.uleb())
    if form == 0x0D:  # sdata
        return r.sleb()
    if form in (0x09, 0x18):  # block, exprloc
        r.skip(r.uleb())
        return None
    if form == 0x0A:
        r.skip(r.u(1))
        return None
    if form == 0x03:
        r.skip(r.u(2))
        return None
    if form == 0x04:
        r.skip(r.u(4))
        return None
    if form == 0x16:  # indirect
        return _read_form(r, r.uleb(), unit, implicit)
    raise _ElfError("unsupported DWARF form %#x" % form)


class _Strings:
    """Lazy access to .debug_str / .debug_line_str / .debug_str_offsets."""

    def __init__(self, elf):
        self.elf = elf
        self._cache = {}

    def _data(self, name):
        if name not in self._cache:
            sec = self.elf.debug_section(name)
            self._cache[name] = self.elf.section_data(sec) if sec is not None else b""
        return self._cache[name]

    def resolve(self, value, unit, str_offsets_base=None):
        if not isinstance(value, tuple):
            return value
        kind, off = value
        if kind == "strx":
            offs = self._data("str_offsets")
            base = str_offsets_base if str_offsets_base is not None else 8
            size = unit["offset_size"]
            pos = base + off * size
            if pos + size > len(offs):
                return None
            off = int.from_bytes(offs[pos:pos + size], "little" if unit["endian"] == "<" else "big")
            kind = "strp"
        data = self._data("line_str" if kind == "line_strp" else "str")
        if off >= len(data):
            return None
        end = data.find(b"\0", off)
        return data[off:end if end >= 0 else None].decode("utf-8", "replace")


def iter_compile_units(elf):
    """Yield one dict per DWARF unit: name, producer, language, stmt_list, offset."""
    # Long on purpose: one DWARF parsing loop over a shared stream and abbreviation cache; it is hot (thousands
    # of units in a kube-apiserver) and a call per attribute would cost measurably (tests/bench/bench_go_debug_info.py).
    info = elf.debug_section("info")
    if info is None:
        return
    abbrev_sec = elf.debug_section("abbrev")
    if abbrev_sec is None:
        raise _ElfError(".debug_info without .debug_abbrev")
    abbrev_data = elf.section_data(abbrev_sec)
    abbrev_tables = {}
    strings = _Strings(elf)
    endian = elf.endian
    stream = _Stream(elf.section_chunks(info))
    offset = 0
    while True:
        stream.drop_before(offset)
        stream.fill(offset + 64)
        if stream.available() <= offset:
            return
        r = _Reader(stream.buf, offset - stream.base, endian)
        try:
            unit_length = r.u(4)
            offset_size = 4
            if unit_length == 0xFFFFFFFF:
                unit_length = r.u(8)
                offset_size = 8
            header_start = offset + (4 if offset_size == 4 else 12)
            unit_end = header_start + unit_length
            version = r.u(2)
            if version >= 5:
                unit_type = r.u(1)
                addr_size = r.u(1)
                abbrev_off = r.u(offset_size)
                if unit_type in (0x04, 0x05):  # skeleton, split_compile: dwo_id
                    r.skip(8)
                elif unit_type in (0x02, 0x06):  # type, split_type
                    r.skip(8 + offset_size)
            elif version in (2, 3, 4):
                abbrev_off = r.u(offset_size)
                addr_size = r.u(1)
            else:
                raise _ElfError("unsupported DWARF version %d at .debug_info offset %#x" % (version, offset))
        except IndexError as exc:
            raise _ElfError("truncated .debug_info at offset %#x" % offset) from exc
        die_start = stream.base + r.pos
        unit = {"version": version, "offset_size": offset_size, "addr_size": addr_size, "endian": endian}
        table = abbrev_tables.get(abbrev_off)
        if table is None:
            table = abbrev_tables[abbrev_off] = _parse_abbrevs(abbrev_data, abbrev_off)
        # Read the first DIE; buffer a little, then the whole unit if that was not enough.
        attrs = None
        for want in (min(unit_end, die_start + 8192), unit_end):
            stream.fill(want)
            r = _Reader(stream.buf, die_start - stream.base, endian)
            try:
                code = r.uleb()
                if code == 0:
                    attrs = {}
                    tag = 0
                    break
                if code not in table:
                    raise _ElfError("abbrev code %d not found (unit at %#x)" % (code, offset))
                tag, specs = table[code]
                attrs = {}
                for attr, form, implicit in specs:
                    attrs[attr] = _read_form(r, form, unit, implicit)
                break
            except IndexError:
                if want == unit_end:
                    raise _ElfError("truncated unit at .debug_info offset %#x" % offset) from None
        if tag in (DW_TAG_compile_unit, DW_TAG_partial_unit, DW_TAG_skeleton_unit):
            base = attrs.get(DW_AT_str_offsets_base)
            yield {
                "offset": offset,
                "name": strings.resolve(attrs.get(DW_AT_name), unit, base),
                "producer": strings.resolve(attrs.get(DW_AT_producer), unit, base),
                "language": attrs.get(DW_AT_language),
                "stmt_list": attrs.get(DW_AT_stmt_list),
                "unit": unit,
            }
        offset = unit_end


def line_table_files(elf, stmt_list, unit):
    """Full file paths of the line-number program header at ``stmt_list``."""
    sec = elf.debug_section("line")
    if sec is None or stmt_list is None:
        return []
    data = elf.section_data(sec)
    strings = _Strings(elf)
    r = _Reader(data, stmt_list, elf.endian)
    length = r.u(4)
    offset_size = 4
    if length == 0xFFFFFFFF:
        length = r.u(8)
        offset_size = 8
    version = r.u(2)
    lunit = dict(unit, offset_size=offset_size, version=version)
    if version >= 5:
        lunit["addr_size"] = r.u(1)
        r.u(1)  # segment selector size
    r.u(offset_size)  # header_length
    r.u(1)  # minimum_instruction_length
    if version >= 4:
        r.u(1)  # maximum_operations_per_instruction
    r.u(1)  # default_is_stmt
    r.u(1)  # line_base
    r.u(1)  # line_range
    opcode_base = r.u(1)
    r.skip(opcode_base - 1)
    files = []
    if version < 5:
        dirs = [""]
        while True:
            d = r.cstr()
            if not d:
                break
            dirs.append(d)
        while True:
            name = r.cstr()
            if not name:
                break
            di = r.uleb()
            r.uleb()
            r.uleb()
            files.append(_join(dirs[di] if di < len(dirs) else "", name))
        return files

    def entries():
        fmt_count = r.u(1)
        fmt = [(r.uleb(), r.uleb()) for _i in range(fmt_count)]
        count = r.uleb()
        out = []
        for _i in range(count):
            ent = {}
            for content, form in fmt:
                ent[content] = strings.resolve(_read_form(r, form, lunit, None), lunit)
            out.append(ent)
        return out

    dirs = [e.get(DW_LNCT_path) or "" for e in entries()]
    for e in entries():
        di = e.get(DW_LNCT_directory_index) or 0
        files.append(_join(dirs[di] if di < len(dirs) else "", e.get(DW_LNCT_path) or ""))
    return files


def _join(directory, name):
    if not directory or name.startswith("/"):
        return name
    return directory.rstrip("/") + "/" + name


# ---------------------------------------------------------------------------
# Verdict
# ---------------------------------------------------------------------------
_PRODUCER_FLAGS = re.compile(r";\s*(.*)$")


def producer_flags(producer):
    """Compiler flags recorded in a Go DW_AT_producer ("-N -l regabi" -> ["-N", "-l", "regabi"])."""
    m = _PRODUCER_FLAGS.search(producer or "")
    return m.group(1).split() if m else []


def is_unoptimized(producer):
    flags = producer_flags(producer)
    return "-N" in flags and "-l" in flags


def producer_go_minor(producer):
    """Go minor version in a DW_AT_producer ("Go cmd/compile go1.26.8; -l regabi" -> 26), None if there is none."""
    m = _GO_MINOR.search((producer or "").split(";", 1)[0])
    return int(m.group(1)) if m else None


def always_optimized(name, producer):
    """True for a unit the Go toolchain compiled with optimisation whatever -gcflags said.

    ``name`` is the unit's package (DW_AT_name), ``producer`` its DW_AT_producer,
    whose Go version picks the list (see _RUNTIME_PACKAGES_BY_GO). A unit that
    carries -N was reached by the flags, so it is never one of these.
    """
    if not name or "-N" in producer_flags(producer):
        return False
    known = _RUNTIME_PACKAGES_BY_GO.get(producer_go_minor(producer))
    if known is not None:
        return name in known
    return name in _RUNTIME_PACKAGES_OTHER or name.startswith(_RUNTIME_PREFIXES_OTHER)


def _main_package_dir(files):
    """Directory of the main package's sources, from its unit's line table.

    The compiler lists the package's own files first (after ``<autogenerated>``);
    files of inlined callees follow, so the first real ``.go`` file is the one.
    """
    for f in files:
        if f.endswith(".go") and "/" in f:
            return f.rsplit("/", 1)[0]
    return None


_MAIN_ONLY = "-gcflags %r has no all= prefix, so only the main package was compiled without optimisation"


def _main_only_gcflags(gcflags):
    tokens = (gcflags or "").split()
    return "-N" in tokens and not any(t.startswith("all=") for t in tokens)


def analyze(path, min_unoptimized_share=DEFAULT_MIN_UNOPTIMIZED_SHARE, sample=10):
    """Everything ``go_debug_info`` reports about ``path``; raises KubedebugError."""
    if not os.path.exists(path):
        raise KubedebugError("%s does not exist" % path, "Build the binary first or fix the path", path=path)
    if not os.path.isfile(path):
        raise KubedebugError("%s is not a regular file" % path, "Give the path of the binary itself", path=path)
    if not 0 <= min_unoptimized_share <= 1:
        raise KubedebugError("min_unoptimized_share must be between 0 and 1, got %r" % min_unoptimized_share,
                             "Use a fraction such as 0.95")
    try:
        return _analyze(path, min_unoptimized_share, sample)
    except _ElfError as exc:
        raise KubedebugError("%s: cannot read its ELF/DWARF data: %s" % (path, exc),
                             "The file is damaged or truncated (a copy that ran out of disk space?): rebuild or re-copy it",
                             path=path) from None
    except OSError as exc:
        raise KubedebugError("%s: %s" % (path, exc.strerror or exc), "Check the path and its permissions", path=path) from None


def _analyze(path, min_share, sample):
    # Long on purpose: a flat list of independent readings of one ELF, a few lines each, filling one result in
    # report order.
    result = {
        "path": path,
        "size": os.path.getsize(path),
        "is_elf": True,
        "is_go": False,
        "go_version": None,
        "main_path": None,
        "main_module": None,
        "build_settings": {},
        "stripped": None,
        "dwarf_present": False,
        "dwarf_compressed": False,
        "compile_units": {"total": 0, "go": 0, "unoptimized": 0, "runtime_optimized": 0, "runtime_optimized_packages": [],
                          "optimized_sample": [], "producers_sample": []},
        "unoptimized_share": 0.0,
        "min_unoptimized_share": min_share,
        "main_package_dir": None,
        "debuggable": False,
        "reasons": [],
        "notes": [],
    }
    reasons, notes = result["reasons"], result["notes"]
    with ElfFile(path) as elf:
        result["stripped"] = elf.section(".symtab") is None
        version, modinfo = read_buildinfo(elf)
        result["is_go"] = bool(version) or elf.section(".gopclntab") is not None
        result["go_version"] = version
        mi = parse_modinfo(modinfo)
        result["main_path"] = mi["path"]
        result["main_module"] = mi["main_module"]
        result["build_settings"] = mi["settings"]
        info = elf.debug_section("info")
        result["dwarf_present"] = info is not None
        result["dwarf_compressed"] = bool(info is not None and elf.is_compressed(info))
        cus = result["compile_units"]
        main_cu = None
        runtime_packages = set()
        if info is not None:
            for cu in iter_compile_units(elf):
                cus["total"] += 1
                producer = cu["producer"] or ""
                if not producer.startswith("Go cmd/compile"):
                    continue
                cus["go"] += 1
                if len(cus["producers_sample"]) < 3 and producer not in cus["producers_sample"]:
                    cus["producers_sample"].append(producer)
                if is_unoptimized(producer):
                    cus["unoptimized"] += 1
                elif always_optimized(cu["name"], producer):
                    cus["runtime_optimized"] += 1
                    runtime_packages.add(cu["name"])
                elif len(cus["optimized_sample"]) < sample and cu["name"] not in cus["optimized_sample"]:
                    cus["optimized_sample"].append(cu["name"])
                if cu["name"] == "main" and main_cu is None:
                    main_cu = cu
        cus["runtime_optimized_packages"] = sorted(runtime_packages)
        if main_cu is not None:
            result["main_package_dir"] = _main_package_dir(line_table_files(elf, main_cu["stmt_list"], main_cu["unit"]))
    reachable = cus["go"] - cus["runtime_optimized"]
    if reachable:
        result["unoptimized_share"] = round(cus["unoptimized"] / reachable, 4)

    settings = result["build_settings"]
    gcflags = settings.get("-gcflags", "")
    ldflags = settings.get("-ldflags", "")
    ld_tokens = ldflags.split()
    if not result["is_go"]:
        reasons.append("not a Go binary (no .go.buildinfo, no .gopclntab): Delve debugs Go programs only")
    elif not result["dwarf_present"]:
        why = "no DWARF debug info (no .debug_info section)"
        strip = [t for t in ld_tokens if t in ("-s", "-w")]
        if strip:
            why += ": it was linked with %s in -ldflags (Kubernetes' default GOLDFLAGS '-s -w' strips DWARF)" % " ".join(strip)
        reasons.append(why + "; rebuild with GOLDFLAGS=\"\" (or DBG=1 on trees that have it)")
        if _main_only_gcflags(gcflags):
            reasons.append(_MAIN_ONLY % gcflags + "; use GOGCFLAGS=\"all=-N -l\"")
    elif cus["go"] == 0:
        reasons.append("DWARF present but no Go compile units found in .debug_info")
    elif reachable == 0:
        reasons.append("DWARF present but every Go compile unit belongs to the runtime, which is always optimised")
    elif result["unoptimized_share"] < min_share:
        why = "only %d of %d Go compile units (%.1f%%) were built with -N -l; at least %.0f%% are needed" % (
            cus["unoptimized"], reachable, 100.0 * result["unoptimized_share"], 100.0 * min_share)
        if cus["runtime_optimized"]:
            why += " (not counted: %d units of the runtime and its internal packages, which the Go toolchain always " \
                   "optimises)" % cus["runtime_optimized"]
        if _main_only_gcflags(gcflags):
            why += ": " + _MAIN_ONLY % gcflags
        reasons.append(why + "; rebuild with GOGCFLAGS=\"all=-N -l\" (or DBG=1)")
    if result["is_go"] and result["dwarf_present"] and result["stripped"]:
        notes.append("no ELF symbol table (.symtab): linked with -s; Delve still works from DWARF and .gopclntab")
    if result["is_go"] and "-trimpath" in settings and settings.get("-trimpath") == "true":
        notes.append("built with -trimpath: source paths are module-relative, map them in your IDE (substitutePath)")
    result["debuggable"] = not reasons
    return result
