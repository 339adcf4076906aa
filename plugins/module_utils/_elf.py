# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Minimal ELF reading: section headers, enough to tell whether dlv can debug
a binary at all (ELF, Go, DWARF present, symbols present).

Pure Python, reads only the ELF header and section header table.
"""

from __future__ import annotations

import struct

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

SHF_COMPRESSED = 0x800


def read_sections(path):
    """{name: {"type", "flags", "offset", "size"}} for an ELF file.

    Raises KubedebugError when the file is missing or not ELF.
    """
    try:
        f = open(path, "rb")
    except OSError as e:
        raise KubedebugError("cannot open %s: %s" % (path, e.strerror), hint="Check the path of the binary") from e
    with f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise KubedebugError(
                "%s is not an ELF executable" % path,
                hint="dlv debugs compiled Go binaries; point at the binary itself, not a wrapper script",
            )
        cls, data = ident[4], ident[5]
        end = "<" if data == 1 else ">"
        if cls == 2:
            hdr = f.read(48)
            (_t, _m, _v, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum, shentsize, shnum, shstrndx) = struct.unpack(end + "HHIQQQIHHHHHH", hdr)
            shfmt = end + "IIQQQQIIQQ"
        elif cls == 1:
            hdr = f.read(36)
            (_t, _m, _v, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum, shentsize, shnum, shstrndx) = struct.unpack(end + "HHIIIIIHHHHHH", hdr)
            shfmt = end + "IIIIIIIIII"
        else:
            raise KubedebugError("%s has an unknown ELF class %d" % (path, cls))
        if shoff == 0 or shnum == 0:
            return {}
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        if len(table) < shentsize * shnum:
            raise KubedebugError("%s is truncated (section table beyond end of file)" % path, hint="Rebuild or copy the binary again")
        raw = [struct.unpack_from(shfmt, table, i * shentsize) for i in range(shnum)]
        strtab = raw[shstrndx]
        f.seek(strtab[4])
        names = f.read(strtab[5])
    out = {}
    for s in raw:
        name_off, stype, flags, _addr, offset, size = s[0], s[1], s[2], s[3], s[4], s[5]
        end_ = names.find(b"\0", name_off)
        name = names[name_off:end_].decode("ascii", "replace")
        out[name] = {"type": stype, "flags": flags, "offset": offset, "size": size}
    return out


def debuggability(path):
    """Quick verdict: is this a Go binary dlv can debug?

    Returns dict(go, dwarf, symbols, reasons); reasons is empty when dlv can
    load it. Full analysis (optimisation per compile unit) is go_debug_info's.
    """
    sections = read_sections(path)
    go = any(n in sections for n in (".go.buildinfo", ".gopclntab", ".note.go.buildid"))
    dwarf = any(n in sections for n in (".debug_info", ".zdebug_info"))
    symbols = ".symtab" in sections
    reasons = []
    if not go:
        reasons.append("%s is not a Go binary (no .go.buildinfo/.gopclntab section): dlv debugs Go programs only" % path)
    if not dwarf:
        reasons.append(
            "%s has no DWARF debug info (stripped, or linked with -ldflags '-s -w'): dlv cannot set breakpoints; "
            "rebuild it with kubedebug.lab.k8s_build (GOLDFLAGS='' and GOGCFLAGS='all=-N -l', or DBG=1)" % path
        )
    return {"go": go, "dwarf": dwarf, "symbols": symbols, "reasons": reasons}


PT_INTERP = 3


def interpreter(path):
    """The program interpreter (PT_INTERP) of an ELF executable, or None when it is statically linked.

    A dynamically linked binary needs its loader and libc at run time: inside a
    distroless container image (the Kubernetes control-plane images) it cannot start.
    """
    try:
        f = open(path, "rb")
    except OSError as e:
        raise KubedebugError("cannot open %s: %s" % (path, e.strerror), hint="Check the path of the binary") from e
    with f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            raise KubedebugError("%s is not an ELF executable" % path, hint="Point at the compiled binary itself, not a wrapper script")
        cls, data = ident[4], ident[5]
        end = "<" if data == 1 else ">"
        if cls == 2:
            hdr = f.read(48)
            phoff, phentsize, phnum = struct.unpack_from(end + "Q", hdr, 16)[0], *struct.unpack_from(end + "HH", hdr, 38)
            phfmt = end + "IIQQQQQQ"  # type, flags, offset, vaddr, paddr, filesz, memsz, align
        elif cls == 1:
            hdr = f.read(36)
            phoff, phentsize, phnum = struct.unpack_from(end + "I", hdr, 12)[0], *struct.unpack_from(end + "HH", hdr, 26)
            phfmt = end + "IIIIIIII"  # type, offset, vaddr, paddr, filesz, memsz, flags, align
        else:
            raise KubedebugError("%s has an unknown ELF class %d" % (path, cls))
        if phoff == 0 or phnum == 0:
            return None
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        if len(table) < phentsize * phnum:
            raise KubedebugError("%s is truncated (program headers beyond end of file)" % path, hint="Rebuild or copy the binary again")
        for i in range(phnum):
            ph = struct.unpack_from(phfmt, table, i * phentsize)
            if ph[0] != PT_INTERP:
                continue
            offset, size = (ph[2], ph[5]) if cls == 2 else (ph[1], ph[4])
            f.seek(offset)
            return f.read(size).rstrip(b"\0").decode("utf-8", "replace")
    return None
