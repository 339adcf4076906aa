"""The delve role's source method for real: dlv built from the Go module proxy, static, and debugging.

Go 1.26.10 and 1.24.13 come from the go role's toolchain method (the shared
module cache makes that an unpack after the first time). One real build of
dlv (1.27.2, by Go 1.26.10, ~2 minutes of CPU cold; its GOCACHE is kept in
/var/cache/kubedebug so a rerun of this file links in seconds); the other
versions' choices and refusals are checked without building, before anything
is downloaded. The built dlv then stops a -N -l program built by that Go at a
breakpoint.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf
from tests.integration.conftest import TESTDATA, free_port, kill_tree, recap_changed, run_play
from tests.integration.goproxy_helpers import DEBIAN_GO, SHARED_MODCACHE, run_roles, snapshot

GO_NEW, GO_OLD = "1.26.10", "1.24.13"
GOCACHE = "/var/cache/kubedebug/test-gocache/delve"
FACTS = ("delve_bin", "delve_installed_version")


@pytest.fixture(scope="module")
def gos(tmp_path_factory):
    """{version: go binary} installed by the go role (toolchain method) into a temporary root."""
    work = tmp_path_factory.mktemp("delve-go")
    found = {}
    for v in (GO_NEW, GO_OLD):
        rc, out, facts = run_roles(work, [("kubedebug.lab.go", dict(go_install_method="toolchain", go_version=v,
                                                                    go_install_root=str(work / "go"), go_gomodcache=SHARED_MODCACHE))],
                                   facts=("go_bin",), name="go-" + v)
        assert rc == 0, out[-6000:]
        found[v] = facts["go_bin"]
    return found


def delve_role(tmp_path, root, check=False, modcache=SHARED_MODCACHE, **rvars):
    rv = dict(delve_install_method="source", delve_install_root=str(root), delve_gomodcache=str(modcache), delve_gocache=GOCACHE)
    rv.update(rvars)
    return run_roles(tmp_path, [("kubedebug.lab.delve", rv)], check=check, facts=FACTS, name="delve")


def cases(gos):
    c = [
        # a pinned Delve too old for the binaries' Go
        (dict(delve_version="1.25.2", delve_go_bin=gos[GO_NEW], delve_go_version=GO_NEW),
         ["Delve 1.25.2 is too old for Go 1.26.10: it supports Go 1.22 to 1.25", "delve_version"]),
        # no pinned Delve for a future Go
        (dict(delve_go_bin=gos[GO_NEW], delve_go_version="1.28.1"),
         ["None of the Delve releases 1.27.2, 1.27.1, 1.27.0, 1.26.3", "supports Go 1.28.1", "delve_module_sum"]),
        # Go >= 1.25 binaries (DWARF 5), dlv to be built by Go 1.24
        (dict(delve_go_bin=gos[GO_OLD], delve_go_version=GO_NEW),
         ["A dlv built with Go 1.24.13 cannot debug programs built by Go 1.26.10", "Go >= 1.25.0", "delve_go_bin"]),
    ]
    if os.path.exists(DEBIAN_GO):
        # Debian's Go 1.19 cannot build the Delve that Go 1.24 programs need
        c.append((dict(delve_go_bin=DEBIAN_GO, delve_go_version=GO_OLD),
                  ["Delve 1.26.3 needs Go >= 1.24.0 to build (its go.mod) and delve_go_bin is Go 1.19.8"]))
    return c


def test_incompatible_pairs_fail_before_anything_is_downloaded(tmp_path, gos):
    for i, (rvars, words) in enumerate(cases(gos)):
        root, cold = tmp_path / ("delve-%d" % i), tmp_path / ("modcache-%d" % i)
        rc, out, dummy = delve_role(tmp_path, root, modcache=cold, **rvars)
        assert rc != 0, (rvars, out[-3000:])
        for w in words:
            assert w in out, (w, out[-6000:])
        assert not root.exists() and not cold.exists(), rvars


def test_go_124_gets_delve_126_in_check_mode(tmp_path, gos):
    root, cold = tmp_path / "delve", tmp_path / "modcache"
    rc, out, facts = delve_role(tmp_path, root, check=True, modcache=cold, delve_go_bin=gos[GO_OLD], delve_go_version=GO_OLD)
    assert rc == 0, out[-6000:]
    assert facts["delve_installed_version"] == "1.26.3"
    assert "build a static dlv from the Go module proxy, version 1.26.3" in out
    assert not root.exists() and not cold.exists()


def test_source_build_for_go_126_is_static_and_idempotent(tmp_path, gos, delve_root):
    root, facts = delve_root
    assert facts["delve_installed_version"] == "1.27.2"
    dlv = root / "1.27.2" / "dlv"
    assert facts["delve_bin"] == str(dlv) and os.readlink(root / "current") == "1.27.2"
    assert _elf.interpreter(str(dlv)) is None
    if shutil.which("file"):
        assert "statically linked" in subprocess.run(["file", "-b", str(dlv)], capture_output=True, text=True, check=True).stdout
    info = subprocess.run([gos[GO_NEW], "version", "-m", str(dlv)], capture_output=True, text=True, check=True).stdout
    assert "%s: go%s" % (dlv, GO_NEW) in info and "CGO_ENABLED=0" in info and "github.com/go-delve/delve\tv1.27.2" in info
    record = json.loads((root / "1.27.2" / ".kubedebug-install.json").read_text())
    assert (record["method"], record["static"], record["built_with"]) == ("source", True, GO_NEW)
    assert record["sum"] == "h1:dhcjFjiVoQI53uwsG7EqYiMhdvFuywsBZx4KDOK+sYE="

    before = snapshot(root)
    for check in (False, True):
        rc, out, again = delve_role(tmp_path, root, check=check, delve_go_bin=gos[GO_NEW], delve_go_version=GO_NEW)
        assert rc == 0, out[-6000:]
        assert recap_changed(out) == 0, out[-3000:]
        assert again == facts
    assert snapshot(root) == before


@pytest.fixture(scope="module")
def delve_root(tmp_path_factory, gos):
    work = tmp_path_factory.mktemp("delve-build")
    root = work / "delve"
    rc, out, facts = delve_role(work, root, delve_go_bin=gos[GO_NEW], delve_go_version=GO_NEW)
    assert rc == 0, out[-6000:]
    assert recap_changed(out) >= 2
    return root, facts


def test_built_dlv_stops_a_program_built_by_that_go(tmp_path, gos, delve_root):
    root, facts = delve_root
    prog = tmp_path / "argvprint"
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GOPROXY="off", CGO_ENABLED="0", GOCACHE=str(tmp_path / "gocache"))
    subprocess.run([gos[GO_NEW], "build", "-o", str(prog), "-gcflags=all=-N -l", "."], cwd=os.path.join(TESTDATA, "argvprint"), env=env, check=True)
    port = free_port()
    dlv = subprocess.Popen(
        [facts["delve_bin"], "exec", str(prog), "--headless", "--listen=127.0.0.1:%d" % port, "--api-version=2", "--accept-multiclient",
         "--continue", "--"], start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        line = dlv.stdout.readline().decode()
        assert "API server listening at" in line, line
        time.sleep(0.5)
        tasks = [{"name": "Breakpoint", "register": "bp",
                  "kubedebug.lab.dlv_breakpoint_check": {"address": "127.0.0.1:%d" % port, "function": "main.tick"}}]
        res = run_play(tmp_path, tasks, {"kdbg_dump": ["bp"]})[2]
        bp = res["bp"]
        assert bp["hit"] and bp["location"]["function"] == "main.tick"
        assert bp["location"]["file"].endswith("tests/testdata/argvprint/main.go")
        assert bp["running_after"]
    finally:
        kill_tree(dlv.pid)
        dlv.wait()
