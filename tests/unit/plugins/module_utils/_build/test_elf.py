"""_build.elf: the ELF program interpreter (static or dynamic)."""

import os
import shutil
import struct

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError


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
