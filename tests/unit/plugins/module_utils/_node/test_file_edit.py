"""_file_edit: read a config file, write its new text with a real AnsibleModule (backup, atomic move, check mode, diff)."""

import os
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import file_edit as _file_edit


def module(check_mode=False, diff=False):
    args = {"_ansible_check_mode": check_mode, "_ansible_diff": diff}
    with patch_module_args(args):
        return AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_read_absent_text_and_refusals(tmp_path):
    assert _file_edit.read(str(tmp_path / "none.json")) == (False, "")
    good = tmp_path / "daemon.json"
    good.write_text('{"exec-opts": []}\n')
    assert _file_edit.read(str(good)) == (True, '{"exec-opts": []}\n')
    latin = tmp_path / "latin1.toml"
    latin.write_bytes(b"# caf\xe9\n")
    with pytest.raises(KubedebugError) as err:
        _file_edit.read(str(latin))
    assert "is not UTF-8 text (byte 5)" in str(err.value)
    with pytest.raises(KubedebugError) as err:
        _file_edit.read(str(tmp_path))  # a directory: EISDIR
    assert "Cannot read" in str(err.value) and err.value.details["path"] == str(tmp_path)


def test_write_unchanged_is_no_change(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("a = 1\n")
    before = os.stat(path)
    assert _file_edit.write(module(), str(path), "a = 1\n", "a = 1\n", True) == {"path": str(path), "changed": False}
    assert os.stat(path).st_ino == before.st_ino


def test_write_replaces_keeps_mode_and_backs_up(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("cgroupDriver: cgroupfs\n")
    os.chmod(path, 0o600)
    res = _file_edit.write(module(diff=True), str(path), "cgroupDriver: cgroupfs\n", "cgroupDriver: systemd\n", True)
    assert res["changed"] is True and res["diff"]["before"] == "cgroupDriver: cgroupfs\n"
    assert path.read_text() == "cgroupDriver: systemd\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # atomic_move keeps the replaced file's mode
    with open(res["backup_file"]) as f:
        assert f.read() == "cgroupDriver: cgroupfs\n"
    assert sorted(os.listdir(tmp_path)) == sorted(["config.yaml", os.path.basename(res["backup_file"])])  # no temp file left


def test_write_new_file_in_a_new_directory(tmp_path):
    path = tmp_path / "etc" / "docker" / "daemon.json"
    old = os.umask(0o022)
    try:
        res = _file_edit.write(module(diff=True), str(path), "", '{"exec-opts": ["native.cgroupdriver=systemd"]}\n', False)
    finally:
        os.umask(old)
    assert res["changed"] is True and "backup_file" not in res
    assert res["diff"]["before_header"] == "%s (absent)" % path
    assert path.read_text() == '{"exec-opts": ["native.cgroupdriver=systemd"]}\n'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_write_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("a = 1\n")
    res = _file_edit.write(module(check_mode=True), str(path), "a = 1\n", "a = 2\n", True)
    assert res == {"path": str(path), "changed": True}
    assert path.read_text() == "a = 1\n" and os.listdir(tmp_path) == ["config.toml"]


def test_write_without_backup(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("a = 1\n")
    res = _file_edit.write(module(), str(path), "a = 1\n", "a = 2\n", True, backup=False)
    assert "backup_file" not in res and os.listdir(tmp_path) == ["config.toml"]
