"""atomic_write's owner/mode and step hook; ELF program interpreter (static or dynamic)."""

import os
import shutil
import stat
import struct

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _elf, _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError


def test_atomic_write_steps_exact_mode_and_dot_temp(tmp_path):
    path = tmp_path / "kube-apiserver.yaml"
    path.write_bytes(b"old")
    seen = []

    def hook(step):
        names = sorted(os.listdir(tmp_path))
        seen.append((step, names, path.read_bytes()))

    old_umask = os.umask(0o077)
    try:
        _supervise.atomic_write(str(path), b"new", 0o644, uid=os.getuid(), gid=os.getgid(), hook=hook)
    finally:
        os.umask(old_umask)
    (s1, names1, content1), (s2, names2, content2) = seen
    assert s1 == "tmp-written" and content1 == b"old"
    assert names1 == [".kube-apiserver.yaml.kubedebug-tmp.%d" % os.getpid(), "kube-apiserver.yaml"]
    assert s2 == "renamed" and names2 == ["kube-apiserver.yaml"] and content2 == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, "exact mode despite umask 077"


def test_atomic_write_failure_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"old")

    def hook(step):
        raise RuntimeError(step)

    with pytest.raises(RuntimeError):
        _supervise.atomic_write(str(path), b"new", hook=hook)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]


def test_interpreter_of_dynamic_and_static_binaries(tmp_path):
    assert _elf.interpreter("/bin/ls").startswith("/lib")
    static = shutil.which("busybox") or "/usr/lib/go-1.19/pkg/tool/linux_amd64/asm"
    if not os.path.exists(static):
        pytest.skip("no static binary on this host")
    assert _elf.interpreter(static) is None


def test_interpreter_of_a_minimal_static_elf_and_bad_files(tmp_path):
    # ELF64 header with no program headers: nothing to interpret.
    hdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)
    p = tmp_path / "tiny"
    p.write_bytes(hdr)
    assert _elf.interpreter(str(p)) is None
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(KubedebugError) as e:
        _elf.interpreter(str(script))
    assert "not an ELF" in e.value.msg
    with pytest.raises(KubedebugError):
        _elf.interpreter(str(tmp_path / "absent"))
