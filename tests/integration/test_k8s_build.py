"""k8s_source + k8s_build + go_debug_info against the real thing.

Debian's kubernetes source package (v1.20.2), Debian's Go 1.19 and delve 1.20.2,
Debian's etcd. The tree and the build live under /var/cache/kubedebug so a rerun
is quick; on a fresh machine the first build takes several minutes.

Order matters (pytest runs this file top to bottom): source, build, checks,
then the seed's build, which overwrites the tree's own _output/bin, then the
failure cases.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from k8sbuild_helpers import CACHE, REPO, free_ports, go_bin, run_playbook, write_inventory  # noqa: E402

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as di  # noqa: E402
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt  # noqa: E402

VERSION = "v1.20.2"
TREE = os.path.join(CACHE, "src", "kubernetes-" + VERSION)
STATE = os.path.join(CACHE, "test-build")  # cached between runs: a rerun of the suite does not rebuild
COMPONENT = "kube-apiserver"
OUT_BIN = os.path.join(STATE, "bin", COMPONENT)
REFLECT2_DEBIAN = "/usr/share/gocode/src/github.com/modern-go/reflect2"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture(scope="module")
def work():
    d = tempfile.mkdtemp(prefix="kd-k8sbuild-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def inventory(work):
    return write_inventory(os.path.join(work, "inv.json"),
                           {"node2": {"k8s_build_install_dir": os.path.join(work, "node2", "bin")}})


@pytest.fixture(scope="module")
def source():
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "debian", "k8s_source_version": VERSION})
    assert run.rc == 0, run
    return run


def build_vars(work, **kw):
    # Debian's Go, named: PATH's go may be a newer one, which Debian's dlv 1.20.2 cannot debug (the role refuses it)
    v = {"k8s_build_source_dir": TREE, "k8s_build_components": [COMPONENT], "k8s_build_state_dir": STATE,
         "k8s_build_go_bin": go_bin(),
         "k8s_build_poll_interval": 20, "k8s_build_distribute_hosts": ["node2"],
         "k8s_build_fetch_dir": os.path.join(work, "fetched")}
    v.update(kw)
    return v


@pytest.fixture(scope="module")
def build(source, work, inventory):
    run = run_playbook("k8s_build.yml", build_vars(work), inventory=inventory)
    assert run.rc == 0, run
    return run


# --- source ----------------------------------------------------------------------------------------------------

def test_source_from_debian_package(source):
    r = source.result
    assert r["dir"] == TREE and r["method"] == "debian"
    assert r["version"] == VERSION and r["version_source"] == "hack/lib/version.sh"
    assert r["commit"] == "faecb196815e248d3ecfb03c680a4507229c2a56"
    assert os.path.basename(r["archive"]) == "kubernetes_1.20.5+really1.20.2.orig.tar.gz"
    assert os.path.exists(os.path.join(TREE, ".kubedebug-source.json"))
    again = run_playbook("k8s_source.yml", {"k8s_source_method": "debian", "k8s_source_version": VERSION})
    assert again.rc == 0 and again.changed == 0, again


def test_source_debian_wrong_version_fails_clearly(source):
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "debian", "k8s_source_version": "v1.28.3"})
    assert run.rc != 0
    assert "Debian's kubernetes source package is kubernetes_1.20.5+really1.20.2.orig.tar.gz" in run.out
    assert "k8s_source_method git" in run.out


def test_source_debian_download_and_stanza(work):
    """The fresh-machine path: no tarball in the cache, no deb-src stanza (written to a scratch file here, so the
    machine's apt configuration is not touched; apt itself uses the machine's stanza)."""
    sources = "/etc/apt/sources.list.d/debian.sources"
    assert os.path.exists(sources), "Debian 12 keeps its apt sources in deb822 format"
    stanza = os.path.join(work, "debian-src.sources")
    cache = os.path.join(work, "dl")
    v = {"k8s_source_method": "debian", "k8s_source_version": VERSION, "k8s_source_cache_dir": cache,
         "k8s_source_debian_src_file": stanza}
    run = run_playbook("k8s_source.yml", v)
    assert run.rc == 0, run
    text = open(stanza).read()
    assert text.startswith("Types: deb-src\n") and "URIs: " in text and "Suites: " in text
    assert "Types: deb\n" not in text and "\n\n" not in text.strip()
    assert run.result["version"] == VERSION and run.result["dir"] == os.path.join(cache, "kubernetes-" + VERSION)
    assert any(n.endswith(".orig.tar.gz") for n in os.listdir(cache))
    again = run_playbook("k8s_source.yml", v)
    assert again.rc == 0 and again.changed == 0, again
    shutil.rmtree(cache)


def test_source_local_tarball_and_dir(source, work):
    dest = os.path.join(work, "local-tree")
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": source.result["archive"],
                                          "k8s_source_dir": dest, "k8s_source_version_from": []})
    assert run.rc == 0, run
    assert run.result["version"] == VERSION and run.result["dir"] == dest
    assert os.path.isfile(os.path.join(dest, "hack/lib/golang.sh"))
    again = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": source.result["archive"],
                                            "k8s_source_dir": dest, "k8s_source_version_from": []})
    assert again.rc == 0 and again.changed == 0, again
    # a directory is used in place
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": dest, "k8s_source_version_from": []})
    assert run.rc == 0 and run.result["dir"] == dest and run.changed == 0, run
    # the version asked for must be the tree's
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": dest,
                                          "k8s_source_version": "v1.21.0"})
    assert run.rc != 0 and "but v1.21.0 was asked for" in run.out, run


def test_source_local_refuses_foreign_files(source, work):
    dest = os.path.join(work, "not-empty")
    os.makedirs(dest)
    with open(os.path.join(dest, "precious.txt"), "w") as f:
        f.write("keep me")
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": source.result["archive"],
                                          "k8s_source_dir": dest, "k8s_source_version_from": []})
    assert run.rc != 0 and "files that this role did not unpack" in run.out, run
    assert os.listdir(dest) == ["precious.txt"]


def test_source_local_tree_without_version_gets_a_version_file(work):
    """A copied checkout without .git and without git-archive values: the asked version is recorded for the build."""
    tree = os.path.join(work, "plain-copy")
    os.makedirs(os.path.join(tree, "hack/lib"))
    shutil.copy(os.path.join(TREE, "hack/lib/golang.sh"), os.path.join(tree, "hack/lib/golang.sh"))
    with open(os.path.join(tree, "hack/lib/version.sh"), "w") as f:
        f.write("if [[ '$Format:%%$' == \"%\" ]]; then KUBE_GIT_COMMIT='$Format:%H$'; fi\n")
    with open(os.path.join(tree, "Makefile"), "w") as f:
        f.write("all:\n\t@true\n")
    v = {"k8s_source_method": "local", "k8s_source_local_path": tree, "k8s_source_version": VERSION}
    run = run_playbook("k8s_source.yml", v)
    assert run.rc == 0, run
    assert run.result["version"] == VERSION
    text = open(os.path.join(tree, kt.VERSION_FILE)).read()
    assert "KUBE_GIT_VERSION='v1.20.2'" in text and "KUBE_GIT_MAJOR='1'" in text and "KUBE_GIT_MINOR='20'" in text
    assert kt.tree_version(tree)["version"] == VERSION and kt.tree_version(tree)["source"] == kt.VERSION_FILE
    again = run_playbook("k8s_source.yml", v)
    assert again.rc == 0 and again.changed == 0, again


def test_source_git_from_a_local_repository(work):
    """Method git, offline: a local repository with a v1.20.2 tag (CI has no GitHub)."""
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "hack/lib"))
    shutil.copy(os.path.join(TREE, "hack/lib/golang.sh"), os.path.join(repo, "hack/lib/golang.sh"))
    shutil.copy(os.path.join(TREE, "go.mod"), os.path.join(repo, "go.mod"))
    with open(os.path.join(repo, "Makefile"), "w") as f:
        f.write("all:\n\t@true\n")
    git = ["git", "-C", repo, "-c", "user.email=ci@localhost", "-c", "user.name=ci"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "tree"], check=True)
    subprocess.run(git + ["tag", VERSION], check=True)
    dest = os.path.join(work, "git-tree")
    v = {"k8s_source_method": "git", "k8s_source_version": VERSION, "k8s_source_git_repo": "file://" + repo, "k8s_source_dir": dest}
    run = run_playbook("k8s_source.yml", v)
    assert run.rc == 0, run
    assert run.result["version"] == VERSION and run.result["version_source"] == "git" and run.result["is_git"]
    again = run_playbook("k8s_source.yml", v)
    assert again.rc == 0 and again.changed == 0, again


def test_real_tree_detection(source):
    """The pure detection against Debian's real v1.20.2 tree."""
    tree = kt.inspect_tree(TREE)
    assert tree["version"]["version"] == VERSION
    f = tree["features"]
    assert f["dbg"] is False                      # no DBG=1 in v1.20
    assert f["strip_flags"] == "overridable"      # ${GOLDFLAGS=-s -w -buildid=}
    assert f["trimpath"] == "kube_root" and f["gopath_symlink"] is True
    assert tree["go"]["minimum"] == (1, 15, 0) and tree["go"]["recommended"] == (1, 15, 5)
    assert tree["reflect2_vendored"] == "v1.0.1"
    assert set(tree["components_present"]) == set(kt.COMPONENTS)
    go = kt.parse_go_version(subprocess.run([go_bin(), "version"], capture_output=True, text=True, check=True).stdout)
    plan = kt.plan_build(tree, go, reflect2_source=REFLECT2_DEBIAN)
    assert plan["make_args"] == ["GOGCFLAGS=all=-N -l", "GOLDFLAGS="]
    assert [p["name"] for p in plan["patches"]] == ["reflect2"]
    abs_plan = kt.plan_build(tree, go, absolute_paths=True, reflect2_source=REFLECT2_DEBIAN)
    assert [p["name"] for p in abs_plan["patches"]] == ["trimpath_rewrite", "reflect2"]


# --- build -----------------------------------------------------------------------------------------------------

def test_build_apiserver_is_debuggable(build):
    r = build.result[COMPONENT]
    assert r["path"] == OUT_BIN and os.path.isfile(OUT_BIN)
    assert r["version"] == VERSION and r["go_version"].startswith("go1.")
    assert r["mode"] == "flags" and r["make_args"] == ["GOGCFLAGS=all=-N -l", "GOLDFLAGS="]
    assert r["debuggable"] is True and r["dwarf_present"] is True and r["stripped"] is False
    assert r["unoptimized_share"] >= 0.95
    assert r["source_prefix"] == "_output/local/go/src/k8s.io/kubernetes"
    assert r["reflect2"]["needed"] and r["reflect2"]["applied"]
    assert [p["name"] for p in r["patches"]] == ["reflect2"]
    assert kt.dir_matches(os.path.join(TREE, kt.REFLECT2_VENDOR_DIR), REFLECT2_DEBIAN, kt.source_files)
    backup = os.path.join(CACHE, "backup", TREE.lstrip("/").replace("/", "_"), "reflect2", kt.REFLECT2_VENDOR_DIR)
    assert "go_below_19.go" in os.listdir(backup)  # the vendored 1.0.1 files, restorable with k8s_tree_patch state=absent


def test_built_binary_cross_checked(build):
    """go_debug_info's figures against readelf, go version -m and file on the placed binary."""
    r = di.analyze(OUT_BIN)
    producers = re.findall(r"DW_AT_producer\s*:\s*(.+)", subprocess.run(
        ["readelf", "--debug-dump=info", OUT_BIN], capture_output=True, text=True, check=True).stdout)
    go_units = [p for p in producers if p.startswith("Go cmd/compile")]
    assert r["compile_units"]["go"] == len(go_units)
    assert r["compile_units"]["unoptimized"] == sum(1 for p in go_units if "-N -l" in p)
    # every unit without -N is one of the runtime's, which Go 1.19 always optimises: left out, 100% of the rest
    assert r["compile_units"]["runtime_optimized"] == sum(1 for p in go_units if "-N" not in p.split(";", 1)[1].split()) > 0
    assert set(r["compile_units"]["runtime_optimized_packages"]) <= di._RUNTIME_PACKAGES_BY_GO[19]
    assert r["compile_units"]["optimized_sample"] == [] and r["unoptimized_share"] == 1.0
    gvm = subprocess.run([go_bin(), "version", "-m", OUT_BIN], capture_output=True, text=True, check=True).stdout
    assert r["go_version"] == gvm.split(": ", 1)[1].splitlines()[0].strip()
    assert "-gcflags=\"all=-N -l" in gvm and r["build_settings"]["-gcflags"].startswith("all=-N -l")
    assert "with debug_info, not stripped" in subprocess.run(["file", "-b", OUT_BIN], capture_output=True, text=True, check=False).stdout
    v = subprocess.run([OUT_BIN, "--version"], capture_output=True, text=True, check=True).stdout
    assert v.strip() == "Kubernetes " + VERSION


def test_build_noop_rerun(build, work, inventory):
    before = os.stat(OUT_BIN).st_mtime_ns
    run = run_playbook("k8s_build.yml", build_vars(work), inventory=inventory)
    assert run.rc == 0 and run.changed == 0, run
    assert os.stat(OUT_BIN).st_mtime_ns == before
    assert "running for" not in run.out


def _empty_vendor(root):
    """vendor/modules.txt of a module without dependencies: k8s_build refuses a tree without one (every Kubernetes
    tree vendors), and the go command accepts an empty one for a go.mod that requires nothing."""
    os.makedirs(os.path.join(root, "vendor"), exist_ok=True)
    open(os.path.join(root, "vendor", "modules.txt"), "w").close()


def _tiny_tree(root, body="hi"):
    """A tree whose make builds a small Go program with the flags it is given (fast stamp tests)."""
    os.makedirs(os.path.join(root, "hack", "lib"), exist_ok=True)
    os.makedirs(os.path.join(root, "cmd", COMPONENT), exist_ok=True)
    shutil.copy(os.path.join(TREE, "hack/lib/golang.sh"), os.path.join(root, "hack/lib/golang.sh"))
    shutil.copy(os.path.join(TREE, "hack/lib/version.sh"), os.path.join(root, "hack/lib/version.sh"))
    with open(os.path.join(root, "go.mod"), "w") as f:
        f.write("module example.com/tiny\n\ngo 1.15\n")
    _empty_vendor(root)
    with open(os.path.join(root, "cmd", COMPONENT, "main.go"), "w") as f:
        f.write("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(%r) }\n".replace("%r", json.dumps(body)))
    with open(os.path.join(root, "Makefile"), "w") as f:
        f.write("all:\n\tmkdir -p _output/bin\n\tGOCACHE=$(CURDIR)/_output/cache go build -gcflags='$(GOGCFLAGS)' "
                "-ldflags='$(GOLDFLAGS)' -o _output/bin/kube-apiserver ./cmd/kube-apiserver\n")
    return root


def test_stamps_rebuild_only_what_changed(build, work):
    tree = _tiny_tree(os.path.join(work, "tiny"))
    state = os.path.join(work, "tiny-state")
    # the default threshold: a small program built with all=-N -l is debuggable (its runtime units are left out)
    v = build_vars(work, k8s_build_source_dir=tree, k8s_build_state_dir=state, k8s_build_distribute_hosts=[],
                   k8s_build_poll_interval=5)
    first = run_playbook("k8s_build.yml", v)
    assert first.rc == 0 and first.changed > 0, first
    out = first.result[COMPONENT]["path"]
    assert os.path.dirname(out).startswith(state + "/")
    assert first.result[COMPONENT]["debuggable"] and first.result[COMPONENT]["unoptimized_share"] == 1.0
    assert first.result[COMPONENT]["go_version"] == "go" + subprocess.run(
        [go_bin(), "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip().removeprefix("go")
    assert first.result[COMPONENT]["main_package_dir"] == os.path.join(tree, "cmd", COMPONENT)
    assert first.result[COMPONENT]["source_prefix"] == tree
    assert run_playbook("k8s_build.yml", v).changed == 0
    # an edited source file rebuilds
    _tiny_tree(tree, body="edited")
    edited = run_playbook("k8s_build.yml", v)
    assert edited.rc == 0 and edited.changed > 0 and "changed since the last build: fingerprint" in open(
        os.path.join(state, "logs", "build.log")).read()
    assert subprocess.run([out], capture_output=True, text=True, check=True).stdout.strip() == "edited"
    # a replaced or missing binary rebuilds
    os.unlink(out)
    gone = run_playbook("k8s_build.yml", v)
    assert gone.rc == 0 and gone.changed > 0 and os.path.exists(out), gone
    assert "is missing or was replaced" in open(os.path.join(state, "logs", "build.log")).read()
    assert run_playbook("k8s_build.yml", v).changed == 0


def test_check_mode_builds_nothing(build, work, inventory):
    state = os.path.join(work, "check-state")
    run = run_playbook("k8s_build.yml", build_vars(work, k8s_build_state_dir=state, k8s_build_distribute_hosts=[]),
                       inventory=inventory, args=["--check"])
    assert run.rc == 0, run
    assert "Would build kube-apiserver" in run.out
    assert not os.path.exists(state)


def test_distributed_to_another_host(build, work):
    copy = os.path.join(work, "node2", "bin", COMPONENT)
    fetched = os.path.join(work, "fetched", VERSION, COMPONENT)
    assert sha256(copy) == sha256(fetched) == sha256(OUT_BIN)
    assert os.access(copy, os.X_OK)


def test_tree_patch_module_check_and_diff(build, work):
    """k8s_tree_patch in check/diff mode on the real golang.sh, then apply and revert on a copy."""
    tree = os.path.join(work, "patch-tree")
    os.makedirs(os.path.join(tree, "hack/lib"))
    shutil.copy(os.path.join(TREE, "hack/lib/golang.sh"), os.path.join(tree, "hack/lib/golang.sh"))
    shutil.copy(os.path.join(TREE, "Makefile"), os.path.join(tree, "Makefile"))
    original = open(os.path.join(tree, "hack/lib/golang.sh")).read()
    base = ["ansible", "localhost", "-m", "kubedebug.lab.k8s_tree_patch", "-a",
            json.dumps({"path": tree, "patches": ["trimpath_rewrite"], "backup_dir": os.path.join(work, "patch-backup")})]
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    dry = subprocess.run(base + ["--check", "--diff"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "CHANGED" in dry.stdout and "+    gogcflags=\"${GOGCFLAGS:-} -trimpath=${KUBE_GOPATH}/src/${KUBE_GO_PACKAGE}=>${KUBE_ROOT}\"" in dry.stdout
    assert open(os.path.join(tree, "hack/lib/golang.sh")).read() == original
    assert subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, check=False).returncode == 0
    assert open(os.path.join(tree, "hack/lib/golang.sh")).read() != original
    again = subprocess.run(base, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "SUCCESS" in again.stdout and '"changed": false' in again.stdout
    revert = [a.replace('"backup_dir"', '"state": "absent", "backup_dir"') for a in base]
    assert subprocess.run(revert, cwd=REPO, env=env, capture_output=True, text=True, check=False).returncode == 0
    assert open(os.path.join(tree, "hack/lib/golang.sh")).read() == original


# --- under dlv -------------------------------------------------------------------------------------------------

def _get(url, token, data=None, method=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": "Bearer " + token,
                                                                         "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture(scope="module")
def apiserver_under_dlv(build, work):
    """etcd from Debian's package (the etcd role is not merged yet) + the built apiserver under dlv."""
    d = os.path.join(work, "smoke")
    os.makedirs(d)
    etcd_port, peer_port, api_port, dlv_port = free_ports(4)
    subprocess.run(["openssl", "genrsa", "-out", os.path.join(d, "sa.key"), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", os.path.join(d, "sa.key"), "-pubout", "-out", os.path.join(d, "sa.pub")],
                   check=True, capture_output=True)
    token = "kubedebug-" + os.urandom(8).hex()
    with open(os.path.join(d, "tokens.csv"), "w") as f:
        f.write("%s,admin,admin,system:masters\n" % token)
    procs = []
    etcd_log = open(os.path.join(d, "etcd.log"), "w")
    procs.append(subprocess.Popen(
        ["etcd", "--data-dir", os.path.join(d, "etcd"), "--listen-client-urls", "http://127.0.0.1:%d" % etcd_port,
         "--advertise-client-urls", "http://127.0.0.1:%d" % etcd_port, "--listen-peer-urls", "http://127.0.0.1:%d" % peer_port,
         "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer_port,
         "--initial-cluster", "default=http://127.0.0.1:%d" % peer_port],
        stdout=etcd_log, stderr=subprocess.STDOUT, start_new_session=True))
    api_log = open(os.path.join(d, "apiserver.log"), "w")
    procs.append(subprocess.Popen(
        ["dlv", "exec", "--headless", "--listen=127.0.0.1:%d" % dlv_port, "--api-version=2", "--accept-multiclient",
         "--continue", OUT_BIN, "--",
         "--etcd-servers=http://127.0.0.1:%d" % etcd_port, "--secure-port=%d" % api_port, "--bind-address=127.0.0.1",
         "--advertise-address=127.0.0.1", "--cert-dir=" + os.path.join(d, "certs"),
         "--service-cluster-ip-range=10.0.0.0/24", "--service-account-key-file=" + os.path.join(d, "sa.pub"),
         "--service-account-signing-key-file=" + os.path.join(d, "sa.key"),
         "--service-account-issuer=https://kubernetes.default.svc", "--token-auth-file=" + os.path.join(d, "tokens.csv"),
         "--authorization-mode=RBAC"],
        stdout=api_log, stderr=subprocess.STDOUT, start_new_session=True))
    base = "https://127.0.0.1:%d" % api_port
    healthz, t0 = None, time.monotonic()
    try:
        while time.monotonic() - t0 < 240:
            if procs[1].poll() is not None:
                break
            try:
                healthz = _get(base + "/healthz", token)
                if healthz == "ok":
                    break
            except OSError:
                pass
            time.sleep(2)
        yield {"base": base, "token": token, "healthz": healthz, "seconds": time.monotonic() - t0, "dlv": procs[1],
               "dir": d, "api_port": api_port}
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        etcd_log.close()
        api_log.close()


def test_apiserver_under_dlv_answers_healthz(apiserver_under_dlv):
    s = apiserver_under_dlv
    assert s["healthz"] == "ok", open(os.path.join(s["dir"], "apiserver.log")).read()[-3000:]
    # the apiserver really runs under this dlv: its tracer is a thread of the dlv process
    dlv_pid = s["dlv"].pid
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    api = [p for p in pids if os.path.exists("/proc/%s/cmdline" % p)
           and open("/proc/%s/cmdline" % p, "rb").read().startswith(OUT_BIN.encode() + b"\0")]
    assert api, "apiserver process not found"
    tracer = re.search(r"TracerPid:\s+(\d+)", open("/proc/%s/status" % api[0]).read()).group(1)
    assert os.path.exists("/proc/%d/task/%s" % (dlv_pid, tracer))
    # json-iterator encodes a map through reflect2: with the vendored 1.0.1 and Go >= 1.18 this crashed
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kd", "labels": {"a": "b"}},
                       "data": {"k1": "v1", "k2": "v2"}}).encode()
    _get(s["base"] + "/api/v1/namespaces/default/configmaps", s["token"], data=body, method="POST")
    got = json.loads(_get(s["base"] + "/api/v1/namespaces/default/configmaps/kd", s["token"]))
    assert got["data"] == {"k1": "v1", "k2": "v2"}


def test_source_version_from_the_running_cluster(apiserver_under_dlv, work):
    s = apiserver_under_dlv
    kubeconfig = os.path.join(work, "kubeconfig")
    with open(kubeconfig, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "kd",
                   "clusters": [{"name": "kd", "cluster": {"server": s["base"], "insecure-skip-tls-verify": True}}],
                   "users": [{"name": "kd", "user": {"token": s["token"]}}],
                   "contexts": [{"name": "kd", "context": {"cluster": "kd", "user": "kd"}}]}, f)
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": TREE,
                                          "k8s_source_version_from": ["kubectl"], "k8s_source_kubeconfig": kubeconfig})
    assert run.rc == 0, run
    assert "The cluster runs v1.20.2 (from kubectl)" in run.out
    assert run.result["requested_version"] == VERSION
    run = run_playbook("k8s_source.yml", {"k8s_source_method": "local", "k8s_source_local_path": TREE,
                                          "k8s_source_version_from": ["binary"], "k8s_source_version_binary": OUT_BIN})
    assert run.rc == 0 and "The cluster runs v1.20.2 (from binary)" in run.out, run


# --- the seed's way ---------------------------------------------------------------------------------------------

def test_seed_way_is_not_debuggable(build, work, inventory):
    """make WHAT=cmd/kube-apiserver GOGCFLAGS="-N -l" (default GOLDFLAGS): stripped, and -N -l on main only."""
    env = dict(os.environ, PATH=os.path.dirname(go_bin()) + ":" + os.environ["PATH"], GOFLAGS="", GOTOOLCHAIN="local")
    env.pop("GOLDFLAGS", None)
    log = os.path.join(work, "seed-build.log")
    with open(log, "w") as f:
        rc = subprocess.run(["make", "WHAT=cmd/kube-apiserver", "GOGCFLAGS=-N -l"], cwd=TREE, env=env, stdout=f,
                            stderr=subprocess.STDOUT, timeout=3600, check=False).returncode
    assert rc == 0, open(log).read()[-3000:]
    seed = os.path.join(TREE, "_output", "bin", COMPONENT)
    run = run_playbook("go_debug_info.yml", {"binary": seed})
    assert run.rc == 0, run
    r = run.result
    assert r["debuggable"] is False and r["dwarf_present"] is False and r["stripped"] is True
    assert "-s -w" in r["reasons"][0] and 'GOLDFLAGS=""' in r["reasons"][0]
    assert "no all= prefix" in r["reasons"][1]
    strict = run_playbook("go_debug_info.yml", {"binary": seed, "strict": True})
    assert strict.rc != 0 and "is not debuggable: no DWARF debug info" in strict.out
    # the role never hands that binary out: its placed binary is still the debug one, and a rerun does nothing
    again = run_playbook("k8s_build.yml", build_vars(work), inventory=inventory)
    assert again.rc == 0 and again.changed == 0, again
    assert di.analyze(OUT_BIN)["debuggable"] is True


# --- bad input ----------------------------------------------------------------------------------------------------

@pytest.fixture
def previous(build, work):
    """A state dir holding a previous good binary; yields (state, sha) and checks nothing replaced it."""
    state = tempfile.mkdtemp(prefix="prev-", dir=work)
    os.makedirs(os.path.join(state, "bin"))
    prev = os.path.join(state, "bin", COMPONENT)
    if os.stat(OUT_BIN).st_dev == os.stat(state).st_dev:
        os.link(OUT_BIN, prev)
    else:
        shutil.copy(OUT_BIN, prev)
    digest = sha256(prev)
    yield state
    assert sha256(prev) == digest, "the previous binary was replaced"


def bad_vars(work, state, **kw):
    return build_vars(work, k8s_build_state_dir=state, k8s_build_distribute_hosts=[], **kw)


def test_bad_unknown_component(previous, work):
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_components=["kube-apiservr"]))
    assert run.rc != 0
    assert "kube-apiservr" in run.out and "kube-scheduler" in run.out
    r = subprocess.run(["ansible", "localhost", "-m", "kubedebug.lab.k8s_tree_info", "-a",
                        json.dumps({"path": TREE, "components": ["kube-apiservr"]})], cwd=REPO, capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "unknown component(s): kube-apiservr" in r.stdout


def test_bad_tree_without_makefile(previous, work):
    tree = os.path.join(work, "no-makefile")
    os.makedirs(os.path.join(tree, "hack", "lib"))
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_source_dir=tree))
    assert run.rc != 0 and "has no Makefile: it is not the root of a Kubernetes source tree" in run.out, run


def test_bad_go_missing(previous, work):
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_go_bin=os.path.join(work, "no-such-go")))
    assert run.rc != 0 and "Go not found" in run.out and "k8s_build_go_bin" in run.out, run


def test_bad_go_not_named(previous, work):
    """Without the go role (no go_bin) and no k8s_build_go_bin the role refuses: it never takes PATH's go."""
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_go_bin=""))
    assert run.rc != 0 and "No Go to build with: run the kubedebug.lab.go role first" in run.out, run
    assert "K8s_build | inspect the tree" not in run.out


def _farm(work, name, replace):
    """A tree made of symlinks to the real one, with some files replaced."""
    farm = os.path.join(work, name)
    os.makedirs(farm)
    for entry in os.listdir(TREE):
        if entry in replace or entry == "_output":
            continue
        os.symlink(os.path.join(TREE, entry), os.path.join(farm, entry))
    for rel, text in replace.items():
        with open(os.path.join(farm, rel), "w") as f:
            f.write(text)
    return farm


def test_bad_go_too_old_for_tree(previous, work):
    gomod = open(os.path.join(TREE, "go.mod")).read().replace("\ngo 1.15\n", "\ngo 1.99\n")
    farm = _farm(work, "needs-go199", {"go.mod": gomod})
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_source_dir=farm))
    assert run.rc != 0
    assert re.search(r"Go 1\.19\.\d+ is too old for the Kubernetes tree at \S+ \(v1\.20\.2\): it needs Go >= 1\.99\.0", run.out), run
    assert "k8s_build_go_bin" in run.out


def test_bad_dlv_go_mismatch(previous, work):
    # Debian has one delve (1.20.2, Go 1.18-1.20) and one Go here; an old dlv's version output stands in for the old dlv.
    stub = os.path.join(work, "dlv-1.7.2")
    with open(stub, "w") as f:
        f.write("#!/bin/sh\nprintf 'Delve Debugger\\nVersion: 1.7.2\\nBuild: $Id: stub $\\n'\n")
    os.chmod(stub, 0o755)
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_dlv_bin=stub))
    assert run.rc != 0
    assert "Delve/Go mismatch" in run.out and "dlv 1.7.2" in run.out, run


def test_bad_disk_full_during_build(previous, work):
    """The tree's _output (Go build cache and binaries) on a 24 MB tmpfs: make fails with ENOSPC."""
    copy = os.path.join(work, "full-tree")
    subprocess.run(["rsync", "-a", "--exclude=/_output", "--exclude=/.make", TREE + "/", copy + "/"], check=True)
    out = os.path.join(copy, "_output")
    os.makedirs(out)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "kd-full", out], check=True)
    try:
        run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_source_dir=copy, k8s_build_poll_interval=5))
        assert run.rc != 0, run
        assert "The disk is full (no space left on device)" in run.out, run
        assert "Nothing was placed" in run.out
    finally:
        subprocess.run(["umount", out], check=False)


def test_bad_output_not_debuggable_is_refused(previous, work):
    """A tree whose make ignores GOLDFLAGS: the role runs it, go_debug_info says no, nothing is placed."""
    tree = os.path.join(work, "strips-anyway")
    os.makedirs(os.path.join(tree, "hack", "lib"))
    os.makedirs(os.path.join(tree, "cmd", COMPONENT))
    shutil.copy(os.path.join(TREE, "hack/lib/golang.sh"), os.path.join(tree, "hack/lib/golang.sh"))
    shutil.copy(os.path.join(TREE, "hack/lib/version.sh"), os.path.join(tree, "hack/lib/version.sh"))
    with open(os.path.join(tree, "go.mod"), "w") as f:
        f.write("module example.com/strips\n\ngo 1.15\n")
    _empty_vendor(tree)
    with open(os.path.join(tree, "cmd", COMPONENT, "main.go"), "w") as f:
        f.write("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n")
    with open(os.path.join(tree, "Makefile"), "w") as f:
        f.write("all:\n\tmkdir -p _output/bin\n\tGOCACHE=$(CURDIR)/_output/cache go build -ldflags='-s -w' "
                "-o _output/bin/kube-apiserver ./cmd/kube-apiserver\n")
    run = run_playbook("k8s_build.yml", bad_vars(work, previous, k8s_build_source_dir=tree))
    assert run.rc != 0, run
    assert "kube-apiserver built in %s is not debuggable: no DWARF debug info" % tree in run.out, run
    assert "It was not placed" in run.out
