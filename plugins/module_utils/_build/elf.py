# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""ELF reading, pure Python: section headers and contents (for _debuginfo's
DWARF and build-info reading), the program interpreter, and a quick verdict on
whether dlv can debug a binary at all (ELF, Go, DWARF present).
"""

from __future__ import annotations

import os
import struct
import zlib

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

ELF_MAGIC = b"\x7fELF"
SHF_COMPRESSED = 0x800
SHT_NOBITS = 8
ELFCOMPRESS_ZLIB = 1
PT_INTERP = 3
CHUNK = 1 << 20


class ElfFormatError(Exception):
    """Malformed ELF (or DWARF) data; turned into a KubedebugError by the caller."""


class ElfSection:
    __slots__ = ("name", "type", "flags", "addr", "offset", "size")

    def __init__(self, name, sh_type, flags, addr, offset, size):
        self.name = name
        self.type = sh_type
        self.flags = flags
        self.addr = addr
        self.offset = offset
        self.size = size


class ElfFile:
    """Section-level view of an ELF file (32/64 bit, little/big endian)."""

    def __init__(self, path):
        self.path = path
        self._f = open(path, "rb")
        try:
            self._parse_header()
        except Exception:
            self._f.close()
            raise

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, offset, size):
        self._f.seek(offset)
        data = self._f.read(size)
        if len(data) != size:
            raise ElfFormatError("truncated file: wanted %d bytes at offset %d, got %d" % (size, offset, len(data)))
        return data

    def _parse_header(self):
        ident = self._f.read(16)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            raise KubedebugError(
                "%s is not an ELF file" % self.path,
                "Point the path at a Linux binary (a Go build output such as _output/bin/kube-apiserver), not a script or an archive",
                path=self.path,
            )
        ei_class, ei_data = ident[4], ident[5]
        if ei_class not in (1, 2) or ei_data not in (1, 2):
            raise ElfFormatError("unknown ELF class %d / data encoding %d" % (ei_class, ei_data))
        self.is64 = ei_class == 2
        self.endian = "<" if ei_data == 1 else ">"
        e = self.endian
        if self.is64:
            hdr = self._read(16, 48)
            (self.e_type, self.e_machine, _ver, self.e_entry, self.phoff, shoff, _flags, _ehsize,
             self.phentsize, self.phnum, shentsize, shnum, shstrndx) = struct.unpack(e + "HHIQQQIHHHHHH", hdr)
        else:
            hdr = self._read(16, 36)
            (self.e_type, self.e_machine, _ver, self.e_entry, self.phoff, shoff, _flags, _ehsize,
             self.phentsize, self.phnum, shentsize, shnum, shstrndx) = struct.unpack(e + "HHIIIIIHHHHHH", hdr)
        self.sections = []
        if shoff == 0 or shnum == 0:
            return  # no section headers (sstrip'ed): callers fall back to scanning
        if shnum == 0 or shstrndx == 0xFFFF:
            raise ElfFormatError("extended section numbering is not supported")
        raw = self._read(shoff, shentsize * shnum)
        fmt = e + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")
        headers = []
        for i in range(shnum):
            vals = struct.unpack_from(fmt, raw, i * shentsize)
            name_off, sh_type, flags, addr, offset, size = vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
            headers.append((name_off, sh_type, flags, addr, offset, size))
        strtab_hdr = headers[shstrndx]
        strtab = self._read(strtab_hdr[4], strtab_hdr[5])
        file_size = os.fstat(self._f.fileno()).st_size
        for name_off, sh_type, flags, addr, offset, size in headers:
            end = strtab.find(b"\0", name_off)
            name = strtab[name_off:end if end >= 0 else None].decode("latin-1")
            if sh_type != SHT_NOBITS and sh_type != 0 and offset + size > file_size:
                raise ElfFormatError("truncated file: section %s ends at byte %d, the file has %d" % (name, offset + size, file_size))
            self.sections.append(ElfSection(name, sh_type, flags, addr, offset, size))

    def interpreter(self):
        """The PT_INTERP path, or None for a statically linked executable."""
        if self.phoff == 0 or self.phnum == 0:
            return None
        table = self._read(self.phoff, self.phentsize * self.phnum)
        # 64-bit: type, flags, offset, vaddr, paddr, filesz, memsz, align; 32-bit: type, offset, vaddr, paddr, filesz, memsz, flags, align
        fmt = self.endian + ("IIQQQQQQ" if self.is64 else "IIIIIIII")
        for i in range(self.phnum):
            ph = struct.unpack_from(fmt, table, i * self.phentsize)
            if ph[0] == PT_INTERP:
                offset, size = (ph[2], ph[5]) if self.is64 else (ph[1], ph[4])
                return self._read(offset, size).rstrip(b"\0").decode("utf-8", "replace")
        return None

    def section(self, name):
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def debug_section(self, name):
        """``.debug_X`` or legacy compressed ``.zdebug_X``; None when absent."""
        sec = self.section(".debug_" + name)
        if sec is None:
            sec = self.section(".zdebug_" + name)
        if sec is None or sec.type == SHT_NOBITS:
            return None
        return sec

    def is_compressed(self, sec):
        return bool(sec.flags & SHF_COMPRESSED) or sec.name.startswith(".zdebug_")

    def raw_chunks(self, sec, chunk=CHUNK):
        pos, end = sec.offset, sec.offset + sec.size
        while pos < end:
            n = min(chunk, end - pos)
            yield self._read(pos, n)
            pos += n

    def section_chunks(self, sec, chunk=CHUNK):
        """The section's content as a stream of bytes chunks, decompressed."""
        if not self.is_compressed(sec):
            yield from self.raw_chunks(sec, chunk)
            return
        if sec.name.startswith(".zdebug_"):
            head = self._read(sec.offset, 12)
            if head[:4] != b"ZLIB":
                raise ElfFormatError("%s: no ZLIB header" % sec.name)
            skip = 12
        else:
            chsize = 24 if self.is64 else 12
            head = self._read(sec.offset, chsize)
            ch_type = struct.unpack_from(self.endian + "I", head, 0)[0]
            if ch_type != ELFCOMPRESS_ZLIB:
                raise ElfFormatError("%s: compression type %d is not zlib (zstd is not supported)" % (sec.name, ch_type))
            skip = chsize
        d = zlib.decompressobj()
        first = True
        for data in self.raw_chunks(sec, chunk):
            if first:
                data = data[skip:]
                first = False
            out = d.decompress(data)
            if out:
                yield out
        tail = d.flush()
        if tail:
            yield tail

    def section_data(self, sec):
        return b"".join(self.section_chunks(sec))

    def read_vaddr(self, vaddr, size):
        """Bytes at a virtual address, through the section that maps it."""
        for s in self.sections:
            if s.addr and s.type != SHT_NOBITS and s.addr <= vaddr < s.addr + s.size:
                return self._read(s.offset + vaddr - s.addr, min(size, s.addr + s.size - vaddr))
        raise ElfFormatError("address %#x is not in any section" % vaddr)

    def symbol(self, suffix):
        """(name, value, size) of the symbol in .symtab named ``suffix`` or ending in ``/vendor/`` + ``suffix``
        (a vendored package in a GOPATH build), or None (no such symbol, or no .symtab: a stripped binary)."""
        symtab, strtab = self.section(".symtab"), self.section(".strtab")
        if symtab is None or strtab is None or symtab.type == SHT_NOBITS:
            return None
        names = self.section_data(strtab)
        needle = suffix.encode("utf-8") + b"\0"
        wanted = {}
        i = names.find(needle)
        while i >= 0:
            start = names.rfind(b"\0", 0, i) + 1
            name = names[start:i + len(needle) - 1].decode("utf-8", "replace")
            if start == i or name.endswith("/vendor/" + suffix):
                wanted[start] = name
                wanted.setdefault(i, suffix)  # a linker may point st_name into a shared tail
            i = names.find(needle, i + 1)
        if not wanted:
            return None
        entsize = 24 if self.is64 else 16
        fmt = self.endian + ("IBBHQQ" if self.is64 else "IIIBBH")
        table = self.section_data(symtab)
        for off, name in wanted.items():
            key = struct.pack(self.endian + "I", off)
            j = table.find(key)
            while j >= 0:
                if j % entsize == 0:
                    vals = struct.unpack_from(fmt, table, j)
                    value, size = (vals[4], vals[5]) if self.is64 else (vals[1], vals[2])
                    return name, value, size
                j = table.find(key, j + 1)
        return None

    def go_string_var(self, suffix):
        """The value of a Go package-level string variable (``pkg/path.name``) as linked - what
        ``-ldflags -X`` set - or None when the symbol is not there."""
        sym = self.symbol(suffix)
        if sym is None:
            return None
        if any(s.type == SHT_NOBITS and s.addr <= sym[1] < s.addr + s.size for s in self.sections):
            # In .bss: nothing set it (no -X, e.g. a gitCommit left empty), so it holds Go's zero value.
            return ""
        ptrsize = 8 if self.is64 else 4
        hdr = self.read_vaddr(sym[1], 2 * ptrsize)
        if len(hdr) != 2 * ptrsize:
            raise ElfFormatError("symbol %s: string header truncated" % sym[0])
        data_ptr, length = struct.unpack_from(self.endian + ("QQ" if self.is64 else "II"), hdr, 0)
        if length == 0:
            return ""
        if length > 1 << 20:
            raise ElfFormatError("symbol %s: string of %d bytes is not a version" % (sym[0], length))
        return self.read_vaddr(data_ptr, length).decode("utf-8", "replace")

    def scan(self, needle, align=16, chunk=CHUNK):
        """Offset of ``needle`` at an ``align``-aligned offset in the file, or -1."""
        self._f.seek(0)
        base, prev = 0, b""
        while True:
            data = self._f.read(chunk)
            if not data:
                return -1
            buf = prev + data
            start = 0
            while True:
                i = buf.find(needle, start)
                if i < 0:
                    break
                if (base - len(prev) + i) % align == 0:
                    return base - len(prev) + i
                start = i + 1
            prev = buf[-len(needle):]
            base += len(data)


def open_elf(path):
    """ElfFile for path; a missing, unreadable or malformed file is a KubedebugError naming the fix."""
    try:
        return ElfFile(path)
    except OSError as e:
        raise KubedebugError("cannot open %s: %s" % (path, e.strerror), hint="Check the path of the binary") from e
    except ElfFormatError as e:
        raise KubedebugError("%s is damaged or truncated: %s" % (path, e), hint="Rebuild or copy the binary again") from e


def read_sections(path):
    """{name: {"type", "flags", "offset", "size"}} for an ELF file.

    Raises KubedebugError when the file is missing, not ELF or truncated.
    """
    with open_elf(path) as elf:
        return {s.name: {"type": s.type, "flags": s.flags, "offset": s.offset, "size": s.size} for s in elf.sections}


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


def interpreter(path):
    """The program interpreter (PT_INTERP) of an ELF executable, or None when it is statically linked.

    A dynamically linked binary needs its loader and libc at run time: inside a
    distroless container image (the Kubernetes control-plane images) it cannot start.
    """
    with open_elf(path) as elf:
        try:
            return elf.interpreter()
        except ElfFormatError as e:
            raise KubedebugError("%s is damaged or truncated: %s" % (path, e), hint="Rebuild or copy the binary again") from e
