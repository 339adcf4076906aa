"""_debuginfo against real binaries built here, cross-checked with readelf, go version -m and file.

Tiny Go programs are built with two real toolchains, Debian's Go 1.19 (DWARF 4)
and the machine's current Go (DWARF 5), in every flavour that matters
(Kubernetes' stripped default, -N -l without all=, a full debug build, 32-bit,
big-endian, uncompressed, legacy .zdebug and gABI-compressed sections made with
objcopy); damaged files are made by truncating real ones. Which packages each
toolchain always optimises is read from that toolchain's own source.
"""

import os
import re
import shutil
import struct
import subprocess

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as di
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from tests.toolchains import current_go, debian_go, go_env

# Every binary-building fixture runs once per toolchain.
TOOLCHAINS = {"debian_go": debian_go, "current_go": current_go}
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


@pytest.fixture(scope="session", params=sorted(TOOLCHAINS))
def toolchain(request, tmp_path_factory):
    """(go binary, its Go version, a build cache of its own) for one of TOOLCHAINS."""
    go = TOOLCHAINS[request.param]()
    return go, go_env(go, "GOVERSION"), str(tmp_path_factory.mktemp("gocache-" + request.param))


@pytest.fixture(scope="session")
def bins(toolchain, tmp_path_factory):
    go, version, cache = toolchain
    src = tmp_path_factory.mktemp("gosrc")
    (src / "main.go").write_text(MAIN)
    (src / "go.mod").write_text("module example.com/dbgprobe\n\ngo 1.19\n")
    out = tmp_path_factory.mktemp("gobin")
    env = dict(os.environ, GOCACHE=cache, GOFLAGS="-mod=mod", GOTOOLCHAIN="local", GO111MODULE="on")
    built = {"go": go, "go_version": version}
    for name, (extra, flags) in FLAVOURS.items():
        path = out / name
        subprocess.run([go, "build", "-o", str(path)] + flags + ["."], cwd=src, env=dict(env, **extra), check=True)
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


def toolchain_runtime_packages(go):
    """The packages this toolchain compiles with optimisation whatever -gcflags say, read from its own source:
    cmd/internal/objabi/pkgspecial.go runtimePkgs (newer Go, the compiler clears -N) or
    cmd/go/internal/work/gc.go runtimePackages (Go 1.19, the go command drops -N)."""
    src = os.path.join(go_env(go, "GOROOT"), "src")
    special = os.path.join(src, "cmd", "internal", "objabi", "pkgspecial.go")
    if os.path.exists(special):
        block = re.search(r"^var runtimePkgs = \[\]string\{(.*?)^\}", open(special).read(), re.M | re.S).group(1)
        return set(re.findall(r'"([^"]+)"', re.sub(r"//.*", "", block)))
    gc = open(os.path.join(src, "cmd", "go", "internal", "work", "gc.go")).read()
    block = re.search(r"^var runtimePackages = map\[string\]struct\{\}\{(.*?)^\}", gc, re.M | re.S).group(1)
    return set(re.findall(r'"([^"]+)":', block))


def readelf_units(path):
    """[(DW_AT_name, DW_AT_producer)] of every compile unit, as readelf prints them."""
    out = subprocess.run(["readelf", "--debug-dump=info", path], capture_output=True, text=True, check=True).stdout
    units = []
    for block in re.split(r"\n\s*<0><[0-9a-f]+>: Abbrev Number: \d+ \(DW_TAG_compile_unit\)", out)[1:]:
        block = block.split("\n <1>", 1)[0]
        value = r"\s*:\s*(?:\(indirect (?:line )?string, offset: [0-9a-fx]+\):\s*)?(.+)"
        name = re.search(r"DW_AT_name" + value, block)
        producer = re.search(r"DW_AT_producer" + value, block)
        units.append((name.group(1).strip() if name else None, producer.group(1).strip() if producer else None))
    return units


def readelf_unit_versions(path):
    out = subprocess.run(["readelf", "--debug-dump=info", path], capture_output=True, text=True, check=True).stdout
    return [int(v) for v in re.findall(r"^\s+Version:\s+(\d+)$", out, re.M)]


def go_version_m(go, path):
    out = subprocess.run([go, "version", "-m", path], capture_output=True, text=True, check=True).stdout
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
    units = readelf_units(bins[name])
    go_units = [(n, p) for n, p in units if p and p.startswith("Go cmd/compile")]
    r = di.analyze(bins[name])
    cus = r["compile_units"]
    assert cus["total"] == len(units) and cus["go"] == len(go_units) > 0
    assert cus["unoptimized"] == sum(1 for _n, p in go_units if "-N -l" in p)
    # what the toolchain itself says it always optimises, against the units that really came out without -N
    forced = toolchain_runtime_packages(bins["go"])
    runtime = [n for n, p in go_units if n in forced and "-N" not in p.split(";", 1)[1].split()]
    assert cus["runtime_optimized"] == len(runtime) > 0
    assert cus["runtime_optimized_packages"] == sorted(set(runtime))
    assert set(cus["optimized_sample"]).isdisjoint(forced)
    with di.ElfFile(bins[name]) as elf:
        versions = [u["unit"]["version"] for u in di.iter_compile_units(elf)]
    assert versions == readelf_unit_versions(bins[name])


def test_dwarf_version_per_toolchain(bins):
    """Debian's Go 1.19 writes DWARF 4, Go >= 1.25 DWARF 5: both toolchains' output goes through every reader."""
    minor = int(re.match(r"go1\.(\d+)", bins["go_version"]).group(1))
    with di.ElfFile(bins["debug"]) as elf:
        versions = {u["unit"]["version"] for u in di.iter_compile_units(elf)}
    assert versions == ({5} if minor >= 25 else {4})


def test_runtime_table_is_the_toolchains_own(bins):
    """The module's list for this Go release is exactly the one in that release's source."""
    minor = int(re.match(r"go1\.(\d+)", bins["go_version"]).group(1))
    assert minor in di._RUNTIME_PACKAGES_BY_GO, "add Go 1.%d's runtime package list to _debuginfo" % minor
    assert set(di._RUNTIME_PACKAGES_BY_GO[minor]) == toolchain_runtime_packages(bins["go"])


@pytest.mark.parametrize("name", sorted(FLAVOURS) + ["zdebug", "gabi", "strip_debug", "symtab_stripped"])
def test_buildinfo_matches_go_version_m(bins, name):
    version, settings = go_version_m(bins["go"], bins[name])
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
    """go build -gcflags='all=-N -l' of a small program: everything the flags reach is unoptimised."""
    r = di.analyze(bins["debug"])
    cus = r["compile_units"]
    assert r["dwarf_present"] and not r["stripped"] and r["dwarf_compressed"]
    assert r["main_package_dir"] == bins["src"]
    assert cus["producers_sample"][0].startswith("Go cmd/compile %s;" % bins["go_version"])
    # most of a small program is the runtime, which is never built with -N: left out of the share
    assert cus["runtime_optimized"] > cus["unoptimized"] / 2 and "runtime" in cus["runtime_optimized_packages"]
    assert cus["unoptimized"] + cus["runtime_optimized"] == cus["go"] and cus["optimized_sample"] == []
    assert r["unoptimized_share"] == 1.0
    assert r["debuggable"] is True and r["reasons"] == []
    assert di.analyze(bins["debug"], min_unoptimized_share=1.0)["debuggable"] is True


def test_plain_build_is_not_debuggable(bins):
    """go build without flags: nothing is unoptimised, and the runtime does not make up for it."""
    r = di.analyze(bins["default"])
    cus = r["compile_units"]
    assert cus["unoptimized"] == 0 and r["unoptimized_share"] == 0.0 and r["debuggable"] is False
    forced = toolchain_runtime_packages(bins["go"])
    counted = {n for n, p in readelf_units(bins["default"]) if p.startswith("Go cmd/compile") and n not in forced}
    assert {"main", "fmt", "os"} <= counted
    assert set(cus["optimized_sample"]) <= counted and len(cus["optimized_sample"]) == min(10, len(counted))
    assert cus["runtime_optimized"] > 0 and "runtime" in cus["runtime_optimized_packages"]
    reachable = cus["go"] - cus["runtime_optimized"]
    assert r["reasons"][0].startswith("only 0 of %d Go compile units (0.0%%) were built with -N -l" % reachable)
    assert "not counted: %d units of the runtime" % cus["runtime_optimized"] in r["reasons"][0]
    assert "rebuild with GOGCFLAGS" in r["reasons"][0]
    assert di.analyze(bins["default"], min_unoptimized_share=0.0)["debuggable"] is True


def test_kubernetes_default_flags_are_not_debuggable(bins):
    r = di.analyze(bins["k8s_default"])
    assert r["debuggable"] is False
    assert r["dwarf_present"] is False and r["stripped"] is True
    assert "-s -w" in r["reasons"][0] and 'GOLDFLAGS=""' in r["reasons"][0]
    assert r["compile_units"]["go"] == r["compile_units"]["runtime_optimized"] == 0


def test_seed_flags_name_both_problems(bins):
    r = di.analyze(bins["seed"])
    assert r["debuggable"] is False
    assert r["build_settings"]["-gcflags"] == "-N -l"
    assert "no DWARF" in r["reasons"][0]
    assert "no all= prefix" in r["reasons"][1]


@pytest.mark.parametrize("threshold", [0.95, 0.5, 0.1])
def test_main_only_gcflags_explain_all_prefix(bins, threshold):
    """-gcflags='-N -l' (no all=): the main package alone is unoptimised, still refused with the runtime left out."""
    r = di.analyze(bins["main_only"], min_unoptimized_share=threshold)
    cus = r["compile_units"]
    assert cus["unoptimized"] == 1 and cus["runtime_optimized"] > 0
    assert 0 < r["unoptimized_share"] < 0.1
    assert r["debuggable"] is False
    assert "no all= prefix" in r["reasons"][0]


def test_symtab_stripped_still_debuggable_with_warning(bins):
    r = di.analyze(bins["symtab_stripped"])
    with di.ElfFile(bins["symtab_stripped"]) as elf:
        assert elf.section(".symtab") is None and elf.section(".debug_info") is not None
    assert r["stripped"] is True and r["dwarf_present"] is True
    assert r["debuggable"] is True
    assert any(".symtab" in w for w in r["notes"])


def test_trimpath_warns_and_records_module_path(bins):
    r = di.analyze(bins["trimpath"])
    assert r["main_package_dir"] == "example.com/dbgprobe"
    assert any("trimpath" in w for w in r["notes"])
    assert r["debuggable"] is True


def test_compression_variants_agree(bins):
    a, b, c = (di.analyze(bins[n]) for n in ("uncompressed", "zdebug", "gabi"))
    assert not a["dwarf_compressed"] and b["dwarf_compressed"] and c["dwarf_compressed"]
    assert a["compile_units"] == b["compile_units"] == c["compile_units"]
    assert a["main_package_dir"] == b["main_package_dir"] == c["main_package_dir"] == bins["src"]
    assert a["debuggable"] and b["debuggable"] and c["debuggable"]
    with di.ElfFile(bins["zdebug"]) as elf:
        assert elf.section(".zdebug_info") is not None


def test_32bit_and_big_endian(bins):
    for name, goarch in (("i386", "386"), ("s390x", "s390x")):
        r = di.analyze(bins[name])
        assert r["build_settings"]["GOARCH"] == goarch
        assert r["main_package_dir"] == bins["src"]
        assert r["debuggable"] is True, r["reasons"]
    with di.ElfFile(bins["s390x"]) as elf:
        assert elf.endian == ">" and elf.is64
    with di.ElfFile(bins["i386"]) as elf:
        assert not elf.is64


# (package, producer, left out?) - the producer's Go version picks the list; a unit with -N always counts
@pytest.mark.parametrize("name, producer, expected", [
    ("runtime", "Go cmd/compile go1.19.8; -l regabi", True),
    ("runtime/internal/syscall", "Go cmd/compile go1.19.8; -l regabi", True),
    ("internal/chacha8rand", "Go cmd/compile go1.19.8; regabi", False),  # not in Go 1.19's list
    ("internal/chacha8rand", "Go cmd/compile go1.26.8; -l regabi", True),
    ("internal/runtime/syscall", "Go cmd/compile go1.24.13; regabi", True),
    ("internal/runtime/syscall", "Go cmd/compile go1.26.8; regabi", False),  # split into .../linux, .../windows
    ("internal/runtime/pprof/label", "Go cmd/compile go1.26.8; regabi", False),  # imported by runtime, not forced
    ("internal/runtime/gc", "Go cmd/compile go1.26.8; -l regabi", True),
    ("runtime", "Go cmd/compile go1.26.8; -N -l regabi", False),
    ("fmt", "Go cmd/compile go1.26.8; regabi", False),
    ("main", "Go cmd/compile go1.19.8", False),
    # releases whose list was not read: every read list's packages and the runtime's trees
    ("internal/chacha8rand", "Go cmd/compile go1.22.1; -l regabi", True),
    ("internal/runtime/newpkg", "Go cmd/compile go1.30.0; -l regabi", True),
    ("runtime/internal/sys", "Go cmd/compile go1.18.10; -l regabi", True),
    ("runtime", "Go cmd/compile devel go1.27-4b4f3a8 Tue Jan 5 2027; -l regabi", True),
    ("internal/poll", "Go cmd/compile go1.22.1; -l regabi", False),
    ("internal/runtime/newpkg", "Go cmd/compile go1.30.0; -N -l regabi", False),
    (None, "Go cmd/compile go1.26.8; -l regabi", False),
])
def test_always_optimized(name, producer, expected):
    assert di.always_optimized(name, producer) is expected


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
    expected = readelf_units(str(tmp_path / "a"))
    assert [(u["name"], u["producer"]) for u in units] == expected
    assert units[0]["unit"]["version"] == 5 and units[0]["name"] == str(tmp_path / "a.c")
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

// Zero value, so in .bss unless -X sets it (Kubernetes' gitCommit when the build knows no commit).
var gitCommit string

func Get() string { return gitVersion }

func Commit() string { return gitCommit }
"""
VERSION_MAIN = """package main

import (
\t"fmt"

\t"k8s.io/component-base/version"
)

func main() {
\tfmt.Println("Kubernetes " + version.Get())
\tif version.Commit() != "" {
\t\tfmt.Println("commit " + version.Commit())
\t}
}
"""


@pytest.fixture(scope="session")
def versioned(toolchain, tmp_path_factory):
    """A program whose version is set like Kubernetes sets it (-ldflags -X .../version.gitVersion=...), built
    for three byte orders/word sizes, with and without -X, and stripped (-s -w)."""
    go, _version, cache = toolchain
    src = tmp_path_factory.mktemp("versrc")
    (src / "go.mod").write_text("module k8s.io/component-base\n\ngo 1.19\n")
    (src / "version").mkdir()
    (src / "version" / "base.go").write_text(VERSION_PKG)
    (src / "cmd" / "kube-thing").mkdir(parents=True)
    (src / "cmd" / "kube-thing" / "main.go").write_text(VERSION_MAIN)
    out = tmp_path_factory.mktemp("verbin")
    env = dict(os.environ, GOCACHE=cache, GOTOOLCHAIN="local", GO111MODULE="on", CGO_ENABLED="0")
    x = "-X k8s.io/component-base/version.gitVersion=v1.20.2"
    built = {}
    for name, arch, ldflags in (("amd64", "amd64", x), ("i386", "386", x), ("s390x", "s390x", x), ("unset", "amd64", ""),
                                ("stripped", "amd64", x + " -s -w")):
        path = str(out / name)
        subprocess.run([go, "build", "-o", path, "-ldflags=" + ldflags, "./cmd/kube-thing"], cwd=src, env=dict(env, GOARCH=arch), check=True)
        built[name] = path
    return built


@pytest.mark.parametrize("name, want", [("amd64", "v1.20.2"), ("i386", "v1.20.2"), ("s390x", "v1.20.2"),
                                        ("unset", "v0.0.0-master+$Format:%h$"), ("stripped", None)])
def test_go_string_var_reads_what_ldflags_set(versioned, name, want):
    from ansible_collections.kubedebug.lab.plugins.module_utils._build.elf import ElfFile

    with ElfFile(versioned[name]) as elf:
        assert elf.go_string_var("k8s.io/component-base/version.gitVersion") == want
        assert elf.go_string_var("k8s.io/component-base/version.noSuchVar") is None
        # never set (no -X): Go's zero value, which lives in .bss (no bytes in the file to read)
        assert elf.go_string_var("k8s.io/component-base/version.gitCommit") == ("" if want is not None else None)
    if name in ("amd64", "unset"):  # what the program itself prints
        out = subprocess.run([versioned[name]], capture_output=True, text=True, check=True).stdout
        assert out == "Kubernetes %s\n" % want


def test_kube_version_reads_the_binary_and_asks_only_stripped_ones(versioned, tmp_path):
    from ansible_collections.kubedebug.lab.plugins.module_utils._process.relaunch import kube_version

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
