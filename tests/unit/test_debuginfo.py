"""_debuginfo against real binaries built here, cross-checked with readelf, go version -m and file.

Tiny Go programs are built with the real toolchain in every flavour that matters
(Kubernetes' stripped default, -N -l without all=, a full debug build, 32-bit,
big-endian, uncompressed, legacy .zdebug and gABI-compressed sections made with
objcopy); damaged files are made by truncating real ones.
"""

import os
import re
import shutil
import struct
import subprocess

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _debuginfo as di
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

GO = shutil.which("go")
MAIN = """package main

import (
\t"fmt"
\t"os"
)

type point struct{ x, y int }

func add(p point) int { return p.x + p.y }

func main() {
\tfmt.Println(add(point{len(os.Args), 2}))
}
"""

# name -> (env additions, go build flags)
FLAVOURS = {
    "default": ({}, []),
    "debug": ({}, ["-gcflags=all=-N -l"]),
    "k8s_default": ({}, ["-ldflags=-s -w"]),
    "seed": ({}, ["-gcflags=-N -l", "-ldflags=-s -w"]),
    "main_only": ({}, ["-gcflags=-N -l"]),
    "uncompressed": ({}, ["-gcflags=all=-N -l", "-ldflags=-compressdwarf=false"]),
    "trimpath": ({}, ["-trimpath", "-gcflags=all=-N -l"]),
    "i386": ({"GOARCH": "386", "CGO_ENABLED": "0"}, ["-gcflags=all=-N -l"]),
    "s390x": ({"GOARCH": "s390x", "CGO_ENABLED": "0"}, ["-gcflags=all=-N -l"]),
}


@pytest.fixture(scope="session")
def bins(tmp_path_factory):
    assert GO, "go is needed (hack/bootstrap.sh installs golang-go)"
    src = tmp_path_factory.mktemp("gosrc")
    (src / "main.go").write_text(MAIN)
    (src / "go.mod").write_text("module example.com/dbgprobe\n\ngo 1.19\n")
    out = tmp_path_factory.mktemp("gobin")
    cache = tmp_path_factory.mktemp("gocache")
    env = dict(os.environ, GOCACHE=str(cache), GOFLAGS="-mod=mod", GOTOOLCHAIN="local", GO111MODULE="on")
    built = {}
    for name, (extra, flags) in FLAVOURS.items():
        path = out / name
        subprocess.run([GO, "build", "-o", str(path)] + flags + ["."], cwd=src, env=dict(env, **extra), check=True)
        built[name] = str(path)
    # legacy .zdebug_* and gABI (SHF_COMPRESSED) sections from the uncompressed build
    for name, style in (("zdebug", "zlib-gnu"), ("gabi", "zlib-gabi")):
        path = out / name
        subprocess.run(["objcopy", "--compress-debug-sections=%s" % style, built["uncompressed"], str(path)], check=True)
        built[name] = str(path)
    # Go's -s drops DWARF too; objcopy can drop only the symbol table
    built["symtab_stripped"] = str(out / "symtab_stripped")
    subprocess.run(["strip", "--strip-all", "--keep-section=.debug_*", "-o", built["symtab_stripped"], built["debug"]], check=True)
    built["strip_debug"] = str(out / "strip_debug")
    subprocess.run(["strip", "--strip-debug", "-o", built["strip_debug"], built["debug"]], check=True)
    built["src"] = str(src)
    return built


def readelf_producers(path):
    out = subprocess.run(["readelf", "--debug-dump=info", path], capture_output=True, text=True, check=True).stdout
    return re.findall(r"DW_AT_producer\s*:\s*(?:\(indirect (?:line )?string, offset: [0-9a-fx]+\):\s*)?(.+)", out)


def go_version_m(path):
    out = subprocess.run([GO, "version", "-m", path], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    version = lines[0].split(": ", 1)[1].strip()
    settings = {}
    for line in lines[1:]:
        parts = line.strip().split("\t")
        if parts[0] == "build":
            key, _sep, value = parts[1].partition("=")
            settings[key] = value
    return version, settings


def file_says(path):
    return subprocess.run(["file", "-b", path], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", ["default", "debug", "main_only", "uncompressed", "zdebug", "gabi", "trimpath", "i386", "s390x"])
def test_compile_units_match_readelf(bins, name):
    producers = readelf_producers(bins[name])
    r = di.analyze(bins[name])
    go_units = [p.strip() for p in producers if p.startswith("Go cmd/compile")]
    assert r["compile_units"]["go"] == len(go_units) > 0
    assert r["compile_units"]["unoptimized"] == sum(1 for p in go_units if "-N -l" in p)


@pytest.mark.parametrize("name", sorted(FLAVOURS) + ["zdebug", "gabi", "strip_debug", "symtab_stripped"])
def test_buildinfo_matches_go_version_m(bins, name):
    version, settings = go_version_m(bins[name])
    r = di.analyze(bins[name])
    assert r["is_go"] is True
    assert r["go_version"] == version
    for key, value in settings.items():
        assert key in r["build_settings"]
        # go version -m prints quoted values as they are stored
        assert r["build_settings"][key] == value.strip('"') or '"%s"' % r["build_settings"][key] == value


# file(1) looks for a section named .debug_info, so it misses legacy .zdebug_info, and it calls a binary
# with DWARF but no .symtab "not stripped": those two are checked by name in their own tests.
@pytest.mark.parametrize("name", sorted(FLAVOURS) + ["gabi", "strip_debug"])
def test_stripped_and_dwarf_match_file(bins, name):
    text = file_says(bins[name])
    r = di.analyze(bins[name])
    assert r["stripped"] == (", stripped" in text)
    assert r["dwarf_present"] == ("with debug_info" in text)


def test_debug_build_is_debuggable_with_main_dir(bins):
    r = di.analyze(bins["debug"])
    assert r["dwarf_present"] and not r["stripped"] and r["dwarf_compressed"]
    assert r["main_package_dir"] == bins["src"]
    assert r["compile_units"]["producers_sample"][0].startswith("Go cmd/compile go1.")
    # a tiny program is mostly runtime, which is always optimised: judge it with a lower bar
    assert di.analyze(bins["debug"], min_unoptimized_share=0.5)["debuggable"] is True
    assert r["debuggable"] is False and "rebuild with GOGCFLAGS" in r["reasons"][0]


def test_kubernetes_default_flags_are_not_debuggable(bins):
    r = di.analyze(bins["k8s_default"])
    assert r["debuggable"] is False
    assert r["dwarf_present"] is False and r["stripped"] is True
    assert "-s -w" in r["reasons"][0] and 'GOLDFLAGS=""' in r["reasons"][0]


def test_seed_flags_name_both_problems(bins):
    r = di.analyze(bins["seed"])
    assert r["debuggable"] is False
    assert r["build_settings"]["-gcflags"] == "-N -l"
    assert "no DWARF" in r["reasons"][0]


def test_main_only_gcflags_explain_all_prefix(bins):
    r = di.analyze(bins["main_only"], min_unoptimized_share=0.5)
    assert r["compile_units"]["unoptimized"] == 1
    assert r["debuggable"] is False
    assert "no all= prefix" in r["reasons"][0]


def test_symtab_stripped_still_debuggable_with_warning(bins):
    r = di.analyze(bins["symtab_stripped"], min_unoptimized_share=0.5)
    with di.ElfFile(bins["symtab_stripped"]) as elf:
        assert elf.section(".symtab") is None and elf.section(".debug_info") is not None
    assert r["stripped"] is True and r["dwarf_present"] is True
    assert r["debuggable"] is True
    assert any(".symtab" in w for w in r["notes"])


def test_trimpath_warns_and_records_module_path(bins):
    r = di.analyze(bins["trimpath"])
    assert r["main_package_dir"] == "example.com/dbgprobe"
    assert any("trimpath" in w for w in r["notes"])


def test_compression_variants_agree(bins):
    a, b, c = (di.analyze(bins[n]) for n in ("uncompressed", "zdebug", "gabi"))
    assert not a["dwarf_compressed"] and b["dwarf_compressed"] and c["dwarf_compressed"]
    assert a["compile_units"] == b["compile_units"] == c["compile_units"]
    assert a["main_package_dir"] == b["main_package_dir"] == c["main_package_dir"]
    with di.ElfFile(bins["zdebug"]) as elf:
        assert elf.section(".zdebug_info") is not None


def test_32bit_and_big_endian(bins):
    for name, goarch in (("i386", "386"), ("s390x", "s390x")):
        r = di.analyze(bins[name], min_unoptimized_share=0.5)
        assert r["build_settings"]["GOARCH"] == goarch
        assert r["debuggable"] is True
    with di.ElfFile(bins["s390x"]) as elf:
        assert elf.endian == ">" and elf.is64
    with di.ElfFile(bins["i386"]) as elf:
        assert not elf.is64


def test_non_go_elf():
    r = di.analyze("/bin/ls")
    assert r["is_go"] is False and r["go_version"] is None
    assert r["debuggable"] is False and "not a Go binary" in r["reasons"][0]


def test_c_program_dwarf5_is_read_but_not_go(tmp_path):
    if not shutil.which("gcc"):
        pytest.fail("gcc is needed (hack/bootstrap.sh installs it)")
    (tmp_path / "a.c").write_text("int main(void){return 0;}\n")
    subprocess.run(["gcc", "-g", "-gdwarf-5", "-o", str(tmp_path / "a"), str(tmp_path / "a.c")], check=True)
    r = di.analyze(str(tmp_path / "a"))
    with di.ElfFile(str(tmp_path / "a")) as elf:
        units = list(di.iter_compile_units(elf))
    producers = readelf_producers(str(tmp_path / "a"))
    assert [u["producer"] for u in units][: len(producers)] == [p.strip() for p in producers]
    assert units[0]["unit"]["version"] == 5
    assert r["dwarf_present"] and r["compile_units"]["go"] == 0 and not r["is_go"]


def test_not_elf(tmp_path):
    p = tmp_path / "script.sh"
    p.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(KubedebugError, match="not an ELF file"):
        di.analyze(str(p))
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(KubedebugError, match="not an ELF file"):
        di.analyze(str(empty))


def test_missing_and_directory(tmp_path):
    with pytest.raises(KubedebugError, match="does not exist"):
        di.analyze(str(tmp_path / "nope"))
    with pytest.raises(KubedebugError, match="not a regular file"):
        di.analyze(str(tmp_path))


@pytest.mark.parametrize("keep", [64, 4096, 0.5, 0.97])
def test_truncated_binaries_fail_clearly(bins, tmp_path, keep):
    data = open(bins["debug"], "rb").read()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    p = tmp_path / "cut"
    p.write_bytes(data[:n])
    with pytest.raises(KubedebugError) as exc:
        di.analyze(str(p))
    assert "damaged or truncated" in str(exc.value) or "not an ELF" in str(exc.value)


def test_bad_threshold(bins):
    with pytest.raises(KubedebugError, match="between 0 and 1"):
        di.analyze(bins["debug"], min_unoptimized_share=95)


def test_producer_flags():
    assert di.producer_flags("Go cmd/compile go1.19.8; -N -l regabi") == ["-N", "-l", "regabi"]
    assert di.is_unoptimized("Go cmd/compile go1.19.8; -N -l regabi")
    assert not di.is_unoptimized("Go cmd/compile go1.19.8; -l regabi")
    assert not di.is_unoptimized("Go cmd/compile go1.22.1")
    assert not di.is_unoptimized(None)


def test_parse_modinfo_quoted_settings():
    mi = di.parse_modinfo('path\tk8s.io/x\nmod\tk8s.io/x\t(devel)\t\ndep\ta\tv1\th1:x\nbuild\t-gcflags="all=-N -l"\nbuild\tCGO_ENABLED=0\n')
    assert mi["path"] == "k8s.io/x" and mi["deps"] == 1
    assert mi["settings"] == {"-gcflags": "all=-N -l", "CGO_ENABLED": "0"}


def _elf64_with_sections(sections):
    """A minimal little-endian ELF64 file holding ``sections`` [(name, addr, data)]."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n, _a, _d in sections) + b".shstrtab\0"
    body = b""
    offsets = []
    base = 64
    for _n, _a, d in sections:
        offsets.append(base + len(body))
        body += d + b"\0" * (-len(d) % 8)
    shstr_off = base + len(body)
    body += names + b"\0" * (-len(names) % 8)
    shoff = base + len(body)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, len(sections) + 2, len(sections) + 1)
    shdrs = b"\0" * 64
    name_off = 1
    for (n, addr, d), off in zip(sections, offsets, strict=True):
        shdrs += struct.pack("<IIQQQQIIQQ", name_off, 1, 3, addr, off, len(d), 0, 0, 8, 0)
        name_off += len(n) + 1
    shdrs += struct.pack("<IIQQQQIIQQ", name_off, 3, 0, 0, shstr_off, len(names), 0, 0, 1, 0)
    return ehdr + body + shdrs


def test_pre_go118_buildinfo_pointer_format(tmp_path):
    """Go < 1.18 (the Go that built Kubernetes <= 1.22 releases) stores pointers to string headers."""
    data_addr = 0x600000
    version = b"go1.15.5"
    modinfo = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6path\tk8s.io/kubernetes/cmd/kube-apiserver\n" \
              b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    # .data: two string headers (ptr, len) then the bytes
    hdrs_len = 32
    data = struct.pack("<QQ", data_addr + hdrs_len, len(version))
    data += struct.pack("<QQ", data_addr + hdrs_len + len(version), len(modinfo))
    data += version + modinfo
    bi = b"\xff Go buildinf:" + bytes([8, 0]) + struct.pack("<QQ", data_addr, data_addr + 16) + b"\0" * 16
    p = tmp_path / "old"
    p.write_bytes(_elf64_with_sections([(".go.buildinfo", 0x500000, bi), (".data", data_addr, data)]))
    r = di.analyze(str(p))
    assert r["go_version"] == "go1.15.5"
    assert r["main_path"] == "k8s.io/kubernetes/cmd/kube-apiserver"
    assert r["is_go"] and not r["dwarf_present"] and r["debuggable"] is False


VERSION_PKG = """package version

var gitVersion = "v0.0.0-master+$Format:%h$"

func Get() string { return gitVersion }
"""
VERSION_MAIN = """package main

import (
\t"fmt"

\t"k8s.io/component-base/version"
)

func main() { fmt.Println("Kubernetes " + version.Get()) }
"""


@pytest.fixture(scope="session")
def versioned(tmp_path_factory):
    """A program whose version is set like Kubernetes sets it (-ldflags -X .../version.gitVersion=...), built
    for three byte orders/word sizes, with and without -X, and stripped (-s -w)."""
    assert GO, "go is needed (hack/bootstrap.sh installs golang-go)"
    src = tmp_path_factory.mktemp("versrc")
    (src / "go.mod").write_text("module k8s.io/component-base\n\ngo 1.19\n")
    (src / "version").mkdir()
    (src / "version" / "base.go").write_text(VERSION_PKG)
    (src / "cmd" / "kube-thing").mkdir(parents=True)
    (src / "cmd" / "kube-thing" / "main.go").write_text(VERSION_MAIN)
    out = tmp_path_factory.mktemp("verbin")
    env = dict(os.environ, GOCACHE=str(tmp_path_factory.mktemp("vercache")), GOTOOLCHAIN="local", GO111MODULE="on", CGO_ENABLED="0")
    x = "-X k8s.io/component-base/version.gitVersion=v1.20.2"
    built = {}
    for name, arch, ldflags in (("amd64", "amd64", x), ("i386", "386", x), ("s390x", "s390x", x), ("unset", "amd64", ""),
                                ("stripped", "amd64", x + " -s -w")):
        path = str(out / name)
        subprocess.run([GO, "build", "-o", path, "-ldflags=" + ldflags, "./cmd/kube-thing"], cwd=src, env=dict(env, GOARCH=arch), check=True)
        built[name] = path
    return built


@pytest.mark.parametrize("name, want", [("amd64", "v1.20.2"), ("i386", "v1.20.2"), ("s390x", "v1.20.2"),
                                        ("unset", "v0.0.0-master+$Format:%h$"), ("stripped", None)])
def test_go_string_var_reads_what_ldflags_set(versioned, name, want):
    from ansible_collections.kubedebug.lab.plugins.module_utils._elf import ElfFile

    with ElfFile(versioned[name]) as elf:
        assert elf.go_string_var("k8s.io/component-base/version.gitVersion") == want
        assert elf.go_string_var("k8s.io/component-base/version.noSuchVar") is None
    if name in ("amd64", "unset"):  # what the program itself prints
        out = subprocess.run([versioned[name]], capture_output=True, text=True, check=True).stdout
        assert out == "Kubernetes %s\n" % want


def test_kube_version_reads_the_binary_and_asks_only_stripped_ones(versioned, tmp_path):
    from ansible_collections.kubedebug.lab.plugins.module_utils._debugproc import kube_version

    ran = []

    def run(argv):
        ran.append(argv)
        p = subprocess.run(argv, capture_output=True, text=True, check=False)
        return p.returncode, p.stdout, p.stderr

    assert kube_version(versioned["amd64"], run) == "v1.20.2" and ran == []
    assert kube_version(versioned["stripped"], run) == "v1.20.2" and ran == [[versioned["stripped"], "--version"]]
    script = tmp_path / "not-elf"
    script.write_text("#!/bin/sh\necho 'Kubernetes v1.19.0'\n")
    script.chmod(0o755)
    assert kube_version(str(script), run) == "v1.19.0"
    assert kube_version(str(tmp_path / "missing"), lambda argv: (2, "", "no such file")) is None
