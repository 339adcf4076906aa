"""_goproxy: the verifying environment, error sorting, module zips and installs.

Pure logic is tested directly; where the go command is the reference (the
h1: hash of a zip, `go env`, `go version`) the real go of this machine runs,
offline (a file:// proxy, no network).
"""

import json
import os
import shutil
import stat
import subprocess
import zipfile

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._build import goproxy as gp
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import GoVersion

GO = shutil.which("go")
needs_go = pytest.mark.skipif(GO is None, reason="no go command (hack/bootstrap.sh installs one)")

# ---------------------------------------------------------------- environment


def test_go_env_empties_what_skips_verification():
    base = {"PATH": "/usr/bin", "HOME": "/root", "GONOSUMDB": "*", "GOPRIVATE": "*", "GOINSECURE": "*", "GONOPROXY": "*",
            "GOFLAGS": "-insecure -mod=mod", "GOWORK": "/x/go.work", "GOTOOLCHAIN": "go1.30.0", "GOENV": "/x/env", "HTTPS_PROXY": "http://p:3128"}
    env = gp.go_env(base=base, modcache="/c")
    for k in ("GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOPROXY"):
        assert env[k] == ""
    assert env["GOFLAGS"] == "-modcacherw"
    assert (env["GOWORK"], env["GOTOOLCHAIN"], env["GOENV"], env["GO111MODULE"]) == ("off", "local", "off", "on")
    assert (env["GOPROXY"], env["GOSUMDB"], env["GOMODCACHE"]) == (gp.DEFAULT_GOPROXY, gp.DEFAULT_GOSUMDB, "/c")
    assert env["HTTPS_PROXY"] == "http://p:3128" and env["HOME"] == "/root"
    assert set(gp.go_variables(env)) >= {"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOENV", "GOMODCACHE"}
    assert "PATH" not in gp.go_variables(env)


def test_go_env_arguments_win_and_old_go_gets_no_modcacherw():
    env = gp.go_env(goproxy="http://127.0.0.1:9/", gosumdb="sum.golang.org https://m/sumdb/sum.golang.org", base={"GOPROXY": "x"},
                    go_version=GoVersion(1, 13, 15))
    assert env["GOPROXY"] == "http://127.0.0.1:9/"
    assert env["GOSUMDB"] == "sum.golang.org https://m/sumdb/sum.golang.org"
    assert env["GOFLAGS"] == ""
    assert gp.go_env(base={"GOPROXY": "https://corp"}, go_version=GoVersion(1, 14))["GOPROXY"] == "https://corp"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(base={"GOSUMDB": "off"}), ["GOSUMDB=off (in the environment)", "never installs a module it could not verify"]),
        # whoever set GOSUMDB=off wanted no verification: naming a database does not quietly override that
        (dict(base={"GOSUMDB": "off"}, gosumdb="sum.golang.org"), ["GOSUMDB=off (in the environment)"]),
        (dict(base={}, gosumdb="off"), ["GOSUMDB=off (asked for with gosumdb)"]),
        (dict(base={"GOPROXY": "off"}), ["GOPROXY is off", "go_goproxy"]),
    ],
)
def test_go_env_refuses(kwargs, words):
    with pytest.raises(KubedebugError) as e:
        gp.go_env(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_redact_hides_credentials_of_a_mirror():
    assert gp.redact("https://bot:s3cr3t@goproxy.corp.example/go,https://proxy.golang.org,direct") == (
        "https://***@goproxy.corp.example/go,https://proxy.golang.org,direct")
    assert gp.redact("sum.golang.org https://u:p@m.example/sumdb/sum.golang.org") == "sum.golang.org https://***@m.example/sumdb/sum.golang.org"
    assert gp.redact("https://proxy.golang.org|direct") == "https://proxy.golang.org|direct"
    err = gp._error("go", "m", "v1", "verifying m@v1: checksum mismatch", {"GOPROXY": "https://a:b@m.example", "GOSUMDB": "sum.golang.org"})
    assert "a:b" not in str(err) and "https://***@m.example" in str(err)


def test_resolve_settings_order_and_refusals():
    host = {"GOPROXY": "https://corp.example/goproxy", "GOSUMDB": "sum.golang.org https://corp.example/sumdb", "GOPRIVATE": "*.corp",
            "GONOSUMDB": "", "GOFLAGS": "-mod=mod"}
    assert gp.resolve_settings(None, None, host, base={}) == (
        "https://corp.example/goproxy", "sum.golang.org https://corp.example/sumdb", {"GOPRIVATE": "*.corp", "GOFLAGS": "-mod=mod"})
    assert gp.resolve_settings("http://m", "sum.golang.org", host, base={})[:2] == ("http://m", "sum.golang.org")
    assert gp.resolve_settings(None, None, {}, base={})[:2] == (gp.DEFAULT_GOPROXY, gp.DEFAULT_GOSUMDB)
    with pytest.raises(KubedebugError, match=r"go env -w"):
        gp.resolve_settings("http://m", "sum.golang.org", {"GOSUMDB": "off"}, base={})
    with pytest.raises(KubedebugError, match=r"in the environment"):
        gp.resolve_settings(None, None, {}, base={"GOSUMDB": "off"})
    with pytest.raises(KubedebugError, match=r"asked for with gosumdb"):
        gp.resolve_settings(None, "off", {}, base={})


@needs_go
def test_host_settings_read_the_go_env_file(tmp_path):
    envfile = tmp_path / "goenv"
    subprocess.run([GO, "env", "-w", "GOSUMDB=off", "GOPROXY=https://corp.example/goproxy"], env=dict(os.environ, GOENV=str(envfile)), check=True)
    base = {k: v for k, v in os.environ.items() if k not in ("GOSUMDB", "GOPROXY")}
    base["GOENV"] = str(envfile)
    host = gp.host_settings(GO, base)
    assert host["GOPROXY"] == "https://corp.example/goproxy" and host["GOSUMDB"] == "off"
    with pytest.raises(KubedebugError, match=r"GOSUMDB=off \(in the go command's configuration, `go env -w`\)"):
        gp.resolve_settings(None, None, host, base)


# ---------------------------------------------------------------- finding a go


def _fake_go(path, version_line):
    path.write_text("#!/bin/sh\necho '%s'\n" % version_line)
    path.chmod(0o755)
    return str(path)


@needs_go
def test_find_go_order_minimum_and_path(tmp_path):
    old = _fake_go(tmp_path / "old-go", "go version go1.11.6 linux/amd64")
    broken = tmp_path / "broken-go"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    found, version, tried = gp.find_go([str(tmp_path / "missing"), old, str(broken), "go"], path_env=os.path.dirname(GO))
    assert found == os.path.join(os.path.dirname(GO), "go")
    assert version >= GoVersion(1, 13)
    assert [t["path"] for t in tried] == [old, str(broken)]
    assert "older than 1.13" in tried[0]["problem"]
    assert gp.find_go([old], path_env="")[:2] == (None, None)
    # an entry without a slash is looked up in the PATH given
    assert gp.find_go(["go"], path_env=str(tmp_path))[0] is None


@needs_go
def test_go_version_of_real_go():
    want = subprocess.run([GO, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    assert "go" + str(gp.go_version_of(GO)) == want
    with pytest.raises(KubedebugError, match="No go command"):
        gp.go_version_of("/nonexistent/go")


# ---------------------------------------------------------------- names and errors


def test_toolchain_module_and_releases():
    assert gp.toolchain_module("1.26.10") == ("golang.org/toolchain", "v0.0.1-go1.26.10.linux-amd64")
    assert gp.toolchain_module("go1.22rc1", goarch="arm64") == ("golang.org/toolchain", "v0.0.1-go1.22rc1.linux-arm64")
    listed = ["v0.0.1-go1.24.13.linux-amd64", "v0.0.1-go1.24.9.linux-amd64", "v0.0.1-go1.24.13.darwin-arm64",
              "v0.0.1-go1.20.linux-amd64", "v0.0.1-go1.25rc1.linux-amd64", "v0.0.1-go1.26.0.linux-amd64", "junk"]
    assert [str(v) for v in gp.toolchain_releases(listed)] == ["1.20", "1.24.9", "1.24.13", "1.25rc1", "1.26.0"]
    hint = gp._toolchain_hint("v0.0.1-go1.24.12.linux-amd64", listed)
    assert "Go 1.24 release" in hint and "1.24.9, 1.24.13" in hint
    assert "newest: 1.20, 1.24.9" in gp._toolchain_hint("v0.0.1-go1.99.0.linux-amd64", listed)
    assert "no Go release for linux-s390x" in gp._toolchain_hint("v0.0.1-go1.24.1.linux-s390x", listed)


def test_escape_and_cache_paths(tmp_path):
    assert gp.escape_path("github.com/BurntSushi/toml") == "github.com/!burnt!sushi/toml"
    d = tmp_path / "cache" / "download" / "github.com" / "!burnt!sushi" / "toml" / "@v"
    d.mkdir(parents=True)
    (d / "v1.0.0.zip").write_bytes(b"")
    (d / "v1.0.0.ziphash").write_text("h1:abc=\n")
    assert gp.cached(str(tmp_path), "github.com/BurntSushi/toml", "v1.0.0")
    assert gp.cached_sum(str(tmp_path), "github.com/BurntSushi/toml", "v1.0.0") == "h1:abc="
    assert not gp.cached(str(tmp_path), "github.com/BurntSushi/toml", "v1.0.1")
    assert gp.cached_sum(str(tmp_path), "x", "v1") is None


@pytest.mark.parametrize(
    "text, kind",
    [
        ("verifying golang.org/toolchain@v0.0.1-go1.26.10.linux-amd64: checksum mismatch\n\tdownloaded: h1:AAA=\n\tsum.golang.org: h1:BBB=\n\n"
         "SECURITY ERROR\nThis download does NOT match the one reported by the checksum server.", "checksum"),
        ("golang.org/toolchain@v0.0.1-go1.99.0.linux-amd64: reading https://proxy.golang.org/golang.org/toolchain/@v/"
         "v0.0.1-go1.99.0.linux-amd64.info: 403 Forbidden\n\tserver response: This module version is not available.", "not_found"),
        ("github.com/x/y@v1.0.0: reading http://127.0.0.1:1/github.com/x/y/@v/v1.0.0.info: dial tcp 127.0.0.1:1: connect: connection refused",
         "network"),
        ("verifying github.com/x/y@v1.0.0: github.com/x/y@v1.0.0: Get \"https://sum.golang.org/lookup/github.com/x/y@v1.0.0\": dial tcp: "
         "lookup sum.golang.org: no such host", "network"),
        ("something else broke", "other"),
    ],
)
def test_classify(text, kind):
    assert gp.classify(text) == kind


def test_checksum_error_names_both_hashes():
    text = ("verifying golang.org/toolchain@v0.0.1-go1.26.10.linux-amd64: checksum mismatch\n\tdownloaded: h1:AAA=\n"
            "\tsum.golang.org: h1:BBB=\n\nSECURITY ERROR\n")
    err = gp._error("go", "golang.org/toolchain", "v0.0.1-go1.26.10.linux-amd64", text, {"GOPROXY": "http://mirror", "GOSUMDB": "sum.golang.org"})
    assert "does not match the checksum database (sum.golang.org)" in err.msg and "http://mirror" in err.msg
    assert (err.details["downloaded_sum"], err.details["published_sum"]) == ("h1:AAA=", "h1:BBB=")
    assert err.details["error_kind"] == "checksum"


def test_go_directive(tmp_path):
    (tmp_path / "go.mod").write_text("module github.com/go-delve/delve\n\ngo 1.25.0 // comment\n\ntoolchain go1.26.0\n")
    assert gp.go_directive(str(tmp_path / "go.mod")) == "1.25.0"
    assert gp.go_directive(str(tmp_path / "nope")) is None
    assert gp.go_directive(None) is None


@pytest.mark.parametrize(
    "module, package, name",
    [("github.com/go-delve/delve", "cmd/dlv", "dlv"), ("sigs.k8s.io/kwok", "cmd/kwok", "kwok"), ("example.com/tool/v2", ".", "tool"),
     ("example.com/x", "cmd/y/v3", "y")],
)
def test_binary_name(module, package, name):
    assert gp.binary_name(module, package) == name


# ---------------------------------------------------------------- zips


def make_zip(path, module, version, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in files.items():
            zf.writestr("%s@%s/%s" % (module, version, rel), data)
    return str(path)


@needs_go
def test_zip_h1_is_what_the_go_command_computes(tmp_path):
    """The reference: the go command hashes the same zip from a file:// proxy (offline)."""
    module, version = "example.com/kubedebug/hashcheck", "v1.0.0"
    vdir = tmp_path / "proxy" / module / "@v"
    vdir.mkdir(parents=True)
    files = {"go.mod": "module %s\n\ngo 1.19\n" % module, "a.go": "package hashcheck\n", "sub/b.txt": "b\n" * 1000, "bin/tool": "#!/bin/sh\n"}
    z = make_zip(vdir / (version + ".zip"), module, version, files)
    (vdir / (version + ".mod")).write_text(files["go.mod"])
    (vdir / (version + ".info")).write_text(json.dumps({"Version": version, "Time": "2026-01-01T00:00:00Z"}))
    (vdir / "list").write_text(version + "\n")
    # A test-only environment: the module is private to this test, so the checksum
    # database cannot know it (GONOSUMDB scoped to it) - never what the roles run.
    env = dict(os.environ, GOPROXY="file://" + str(tmp_path / "proxy"), GONOSUMDB=module, GOMODCACHE=str(tmp_path / "mc"),
               GOFLAGS="-modcacherw", GOENV="off", GOTOOLCHAIN="local", GO111MODULE="on")
    out = subprocess.run([GO, "mod", "download", "-json", "%s@%s" % (module, version)], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, check=True).stdout
    assert gp.zip_h1(z) == json.loads(out)["Sum"]

    dest = tmp_path / "unpacked"
    dest.mkdir()
    assert gp.unpack_zip(z, module, version, str(dest), executables=["bin/*"]) == json.loads(out)["Sum"]
    assert (dest / "sub" / "b.txt").read_text() == "b\n" * 1000
    assert stat.S_IMODE((dest / "bin" / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "a.go").stat().st_mode) == 0o644


@pytest.mark.parametrize("bad", ["../evil", "/abs", "a/../../evil", "other@v1.0.0/x"])
def test_unpack_refuses_entries_outside_the_module(tmp_path, bad):
    z = tmp_path / "m.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("example.com/m@v1.0.0/ok", "ok")
        zf.writestr(bad if bad.startswith("other@") else "example.com/m@v1.0.0/" + bad, "x")
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(KubedebugError, match="is not a file of example.com/m@v1.0.0"):
        gp.unpack_zip(str(z), "example.com/m", "v1.0.0", str(dest))
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(
    "rel, yes",
    [("bin/go", True), ("pkg/tool/linux_amd64/compile", True), ("src/cmd/bin/x", False), ("bin/sub/x", False),
     ("lib/wasm/go_js_wasm_exec", True), ("src/make.bash", True), ("src/cmd/dist/build.go", False), ("pkg/include/asm.h", False)],
)
def test_toolchain_executables(rel, yes):
    assert gp._matches(rel, gp.TOOLCHAIN_EXECUTABLES) is yes


# ---------------------------------------------------------------- destinations


def test_swap_in_places_replaces_and_keeps_dest_on_failure(tmp_path):
    dest = tmp_path / "root" / "1.0"

    def fill(content):
        def f(staging):
            (tmp_path / "seen").write_text(staging)
            with open(os.path.join(staging, "file"), "w") as fh:
                fh.write(content)
            return {"extra": content}
        return f

    rec = gp._swap_in(str(dest), fill("one"), {"module": "m", "module_version": "v1"}, replace=False)
    assert (dest / "file").read_text() == "one" and rec == {"module": "m", "module_version": "v1", "extra": "one"}
    assert json.loads((dest / gp.STAMP).read_text())["extra"] == "one"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert gp.dest_state(str(dest), "m", "v1") == "ours" and gp.dest_state(str(dest), "m", "v2") == "other"
    assert gp.dest_state(str(dest), "m", "v1", expected_sum="h1:x=") == "other"
    assert gp.dest_state(str(tmp_path / "none"), "m", "v1") == "absent"

    with pytest.raises(KubedebugError, match="exists and is not an install"):
        gp._swap_in(str(dest), fill("two"), {"module": "m", "module_version": "v2"}, replace=False)
    assert (dest / "file").read_text() == "one"

    def broken(staging):
        open(os.path.join(staging, "half"), "w").close()
        raise KubedebugError("boom")

    with pytest.raises(KubedebugError, match="boom"):
        gp._swap_in(str(dest), broken, {"module": "m", "module_version": "v2"}, replace=True)
    assert (dest / "file").read_text() == "one"
    assert sorted(os.listdir(tmp_path / "root")) == ["1.0"]  # no staging or old copy left behind

    gp._swap_in(str(dest), fill("two"), {"module": "m", "module_version": "v2"}, replace=True)
    assert (dest / "file").read_text() == "two"
    assert sorted(os.listdir(tmp_path / "root")) == ["1.0"]


def test_fetch_leaves_a_recorded_dest_alone_without_a_go(tmp_path):
    dest = tmp_path / "1.26.10"
    dest.mkdir()
    (dest / gp.STAMP).write_text(json.dumps({"module": "golang.org/toolchain", "module_version": "v0.0.1-go1.26.10.linux-amd64",
                                             "sum": "h1:x=", "goproxy": "http://m"}))
    r = gp.fetch("/nonexistent/go", "golang.org/toolchain", "v0.0.1-go1.26.10.linux-amd64", dest=str(dest))
    assert r["changed"] is False and r["sum"] == "h1:x=" and r["goproxy"] == "http://m"
    with pytest.raises(KubedebugError, match="exists and is not an install of golang.org/toolchain@v0.0.1-go1.24.13"):
        gp.fetch("/nonexistent/go", "golang.org/toolchain", "v0.0.1-go1.24.13.linux-amd64", dest=str(dest))


def test_fetch_check_mode_before_the_go_is_installed(tmp_path):
    r = gp.fetch(str(tmp_path / "go"), "golang.org/toolchain", "v0.0.1-go1.26.10.linux-amd64", dest=str(tmp_path / "d"), check_mode=True)
    assert r["changed"] is True and r["would_download"] is True
    assert not (tmp_path / "d").exists()
