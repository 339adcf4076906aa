"""The go role's toolchain method for real: Go from the Go module proxy, verified by the checksum database.

Real downloads of real Go releases (the public proxy, and a local mirror that
forwards to it as a company's mirror does), a tampered mirror, a version the
proxy does not have and GOSUMDB=off, each through ansible-playbook. The tests
of this file run in order on one install root (a temporary directory); the
downloads land in the shared module cache, so a second run of the suite
downloads nothing. Costs: two toolchains (~80 MB each) when the cache is cold.
"""

import json
import os
import stat
import subprocess

import pytest

from tests.integration.conftest import recap_changed
from tests.integration.goproxy_helpers import DEBIAN_GO, SHARED_MODCACHE, Mirror, run_roles, snapshot

OLD, NEW = "1.24.13", "1.26.10"
ZIP = "/golang.org/toolchain/@v/v0.0.1-go%s.linux-amd64.zip"
FACTS = ("go_bin", "go_goroot", "go_installed_version")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("go-toolchain") / "go"


def go_role(tmp_path, root, version, check=False, diff=False, env=None, **extra):
    rvars = dict(go_install_method="toolchain", go_version=version, go_install_root=str(root), go_gomodcache=SHARED_MODCACHE)
    rvars.update(extra)
    return run_roles(tmp_path, [("kubedebug.lab.go", rvars)], check=check, diff=diff, env=env, facts=FACTS)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_public_proxy_install_then_rerun_changes_nothing(tmp_path, root):
    rc, out, facts = go_role(tmp_path, root, OLD)
    assert rc == 0, out[-6000:]
    assert recap_changed(out) >= 2  # the install and the current link
    d = root / OLD
    assert facts == {"go_bin": str(d / "bin" / "go"), "go_goroot": str(d), "go_installed_version": OLD}
    assert os.readlink(root / "current") == OLD
    run = subprocess.run([facts["go_bin"], "version"], capture_output=True, text=True, check=True, env=dict(os.environ, GOTOOLCHAIN="local"))
    assert run.stdout.startswith("go version go%s linux/" % OLD)
    goroot = subprocess.run([facts["go_bin"], "env", "GOROOT"], capture_output=True, text=True, check=True,
                            env=dict(os.environ, GOTOOLCHAIN="local", GOROOT="")).stdout.strip()
    assert goroot == str(d)
    # A module zip records no modes: the role made the commands executable, and only them.
    assert mode(d / "bin" / "go") == mode(d / "bin" / "gofmt") == mode(d / "pkg" / "tool" / "linux_amd64" / "compile") == 0o755
    assert mode(d / "src" / "make.bash") == 0o755
    assert mode(d / "VERSION") == mode(d / "src" / "fmt" / "print.go") == 0o644
    record = json.loads((d / ".kubedebug-install.json").read_text())
    assert record["method"] == "toolchain" and record["version"] == OLD
    assert record["module"] == "golang.org/toolchain" and record["module_version"] == "v0.0.1-go%s.linux-amd64" % OLD
    assert record["sum"] == "h1:5sgfUhn9QCgVl4UYj32GrIYFHI3bi2UX55tNfupXwxc="  # the pin in vars/main.yml, checked

    rc, out, facts2 = go_role(tmp_path, root, OLD)
    assert rc == 0, out[-6000:]
    assert recap_changed(out) == 0
    assert facts2 == facts


def test_check_mode_and_diff_write_nothing(tmp_path, root):
    before = snapshot(root)
    cold = tmp_path / "cold-modcache"
    rc, out, facts = go_role(tmp_path, root, NEW, check=True, diff=True, go_gomodcache=str(cold))
    assert rc == 0, out[-6000:]
    assert recap_changed(out) >= 1
    assert "+module: golang.org/toolchain" in out and "+module_version: v0.0.1-go%s.linux-amd64" % NEW in out
    assert facts["go_installed_version"] == NEW
    assert snapshot(root) == before
    assert not cold.exists()


def test_tampered_mirror_fails_on_the_checksum_database_and_changes_nothing(tmp_path, root):
    before = snapshot(root)
    with Mirror(tamper=[ZIP % NEW]) as mirror:
        rc, out, dummy = go_role(tmp_path, root, NEW, go_goproxy=mirror.url, go_gomodcache=str(tmp_path / "modcache"))
    assert rc != 0
    assert "does not match the checksum database (sum.golang.org)" in out, out[-6000:]
    assert "the proxy %s served other bytes than the ones published" % mirror.url in out
    assert "SECURITY ERROR" in out and "Nothing was installed" in out
    assert mirror.asked(ZIP % NEW), mirror.requests
    assert mirror.asked("/sumdb/sum.golang.org/"), mirror.requests  # the database was reached through the mirror
    assert snapshot(root) == before
    assert os.readlink(root / "current") == OLD


def test_company_mirror_install_with_an_old_bootstrap_go(tmp_path, root):
    # Debian's Go 1.19 downloads the module; it sets no exec bits itself (Go < 1.21 never switches toolchains).
    bootstrap = DEBIAN_GO if os.path.exists(DEBIAN_GO) else ""
    with Mirror() as mirror:
        rc, out, facts = go_role(tmp_path, root, NEW, go_goproxy=mirror.url, go_gomodcache=str(tmp_path / "modcache"),
                                 go_bootstrap_bin=bootstrap)
    assert rc == 0, out[-6000:]
    assert mirror.asked(ZIP % NEW) and mirror.asked("/sumdb/sum.golang.org/"), mirror.requests
    assert facts["go_installed_version"] == NEW and os.readlink(root / "current") == NEW
    assert (root / OLD / "bin" / "go").exists()  # versions side by side
    record = json.loads((root / NEW / ".kubedebug-install.json").read_text())
    assert record["goproxy"] == mirror.url and record["gosumdb"] == "sum.golang.org"
    assert stat.S_IMODE(os.stat(root / NEW / "pkg" / "tool" / "linux_amd64" / "link").st_mode) == 0o755
    # The mirror is gone: a second run needs no proxy at all.
    rc, out, dummy = go_role(tmp_path, root, NEW, go_goproxy=mirror.url, go_gomodcache=str(tmp_path / "modcache"), go_bootstrap_bin=bootstrap)
    assert rc == 0, out[-6000:]
    assert recap_changed(out) == 0


def test_a_version_the_proxy_does_not_have_fails_clearly(tmp_path, root):
    before = snapshot(root)
    rc, out, dummy = go_role(tmp_path, root, "1.99.0", go_gomodcache=str(tmp_path / "modcache"))
    assert rc != 0
    assert "does not have Go 1.99.0 for linux-amd64 (golang.org/toolchain@v0.0.1-go1.99.0.linux-amd64)" in out, out[-6000:]
    assert "set go_version" in out
    assert snapshot(root) == before


@pytest.mark.parametrize(
    "how, words",
    [
        ("environment", "GOSUMDB=off (in the environment)"),
        ("variable", "GOSUMDB=off (asked for with gosumdb)"),
        ("go env -w", "GOSUMDB=off (in the go command's configuration, `go env -w`)"),
    ],
)
def test_gosumdb_off_is_refused(tmp_path, root, how, words):
    before = snapshot(root)
    env, extra = {}, {}
    if how == "environment":
        env["GOSUMDB"] = "off"
    elif how == "variable":
        extra["go_gosumdb"] = "off"
    else:
        goenv = tmp_path / "goenv"
        goenv.write_text("GOSUMDB=off\n")
        env["GOENV"] = str(goenv)
    cold = tmp_path / "modcache"
    rc, out, dummy = go_role(tmp_path, root, "1.25.9", env=env, go_gomodcache=str(cold), **extra)
    assert rc != 0
    assert words in out, out[-6000:]
    assert "never installs a module it could not verify" in out
    assert snapshot(root) == before
    assert not cold.exists()


def test_go_module_refuses_a_wrong_pin(tmp_path):
    """kubedebug.lab.go_module on its own: a pinned h1: that differs from what the checksum database holds."""
    from tests.integration.conftest import run_play

    dest = tmp_path / "delve-src"
    tasks = [{"name": "pinned", "register": "pinned", "ignore_errors": True,
              "kubedebug.lab.go_module": {"name": "github.com/go-delve/delve", "version": "v1.27.2", "cache_dir": SHARED_MODCACHE,
                                          "expected_sum": "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "dest": str(dest),
                                          "executables": ["_scripts/*.sh"]}}]
    rc, out, res = run_play(tmp_path, tasks, {"kdbg_dump": ["pinned"]})
    r = res["pinned"]
    assert r["failed"] and r["error_kind"] == "pin_mismatch"
    assert "not the pinned h1:AAAA" in r["msg"] and "h1:dhcjFjiVoQI53uwsG7EqYiMhdvFuywsBZx4KDOK+sYE=" in r["msg"]
    assert not dest.exists()
