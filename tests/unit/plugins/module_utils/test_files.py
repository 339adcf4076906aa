"""_files.atomic_write: owner, mode and step hook; a failure leaves the old file and no temp."""

import os
import stat

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _files


def test_atomic_write_steps_exact_mode_and_dot_temp(tmp_path):
    path = tmp_path / "kube-apiserver.yaml"
    path.write_bytes(b"old")
    seen = []

    def hook(step):
        names = sorted(os.listdir(tmp_path))
        seen.append((step, names, path.read_bytes()))

    old_umask = os.umask(0o077)
    try:
        _files.atomic_write(str(path), b"new", 0o644, uid=os.getuid(), gid=os.getgid(), hook=hook)
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
        _files.atomic_write(str(path), b"new", hook=hook)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]
