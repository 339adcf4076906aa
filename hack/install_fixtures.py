"""Release-shaped Go, etcd, cfssl and Delve artifacts for the install tests.

The install roles download upstream release files (go.dev tarballs, etcd and
cfssl GitHub release assets, Delve's GitHub source tarball). These machines
cannot reach those hosts, so this script lays out the same file names, top
directories and checksum files from REAL programs available offline:

  go/go<V>.linux-<arch>.tar.gz (+ .sha256)   Debian's Go tree (/usr/lib/go-1.N), top dir go/
  etcd/v<V>/etcd-v<V>-linux-<arch>.tar.gz    Debian's etcd + etcdctl, top dir etcd-v<V>-linux-<arch>/
  etcd/v<V>/SHA256SUMS
  cfssl/v<V>/cfssl_<V>_linux_<arch>, cfssljson_<V>_linux_<arch>, cfssl_<V>_checksums.txt
  delve/v<V>.tar.gz                          Debian's delve source (apt-get source) + a vendor/
                                             directory built from Debian's Go library packages

plus two deliberately bad releases for the wrong-checksum tests (a Go release
whose test pins a wrong sha256, an etcd release whose SHA256SUMS does not
match the tarball, as from a tampered mirror), and MANIFEST.json with the
versions and sha256 of everything.

Delve upstream vendors its dependencies; Debian strips vendor/ and the
generated eBPF objects. The vendor/ directory is rebuilt from the packages
`go list` (GOPATH mode, as Debian builds delve) says cmd/dlv needs, and the
eBPF trace backend (`dlv trace --ebpf`) is compiled out by build tag.

Usage: python3 hack/install_fixtures.py OUTDIR   (reuses OUTDIR when it is up to date)
The directory itself is kept (a container may bind-mount it): only its
content is replaced.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CACHE = os.environ.get("KUBEDEBUG_CACHE", "/var/cache/kubedebug")
# Debian's Go (golang-go's /usr/bin/go -> /usr/lib/go-<v>/bin/go), named: it is the
# Go release packed here, the Go that builds Debian's delve source, and the one the
# fingerprint below tracks. PATH's first go may be another (a preinstalled newer Go).
DEBIAN_GO = os.path.realpath("/usr/bin/go")
GOCODE = "/usr/share/gocode/src"
# Version of this layout: bump when the output changes.
LAYOUT = "3"
PSEUDO = "v0.0.0-00010101000000-000000000000"


def log(msg):
    print("install-fixtures: %s" % msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, stdout=subprocess.PIPE, **kw).stdout


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def arch():
    return run(["dpkg", "--print-architecture"]).strip()


def tar_gz(src_parent, top, dest):
    """tar + gzip -1 (fast) of src_parent/top, following symlinks (Debian's Go tree has some)."""
    with open(dest, "wb") as out:
        tar = subprocess.Popen(["tar", "-C", src_parent, "--dereference", "--owner=0", "--group=0", "--sort=name", "-c", top], stdout=subprocess.PIPE)
        subprocess.run(["gzip", "-1", "-n"], stdin=tar.stdout, stdout=out, check=True)
        if tar.wait() != 0:
            raise SystemExit("tar of %s/%s failed" % (src_parent, top))


# ------------------------------------------------------------------ Go


def go_release(out, a, work):
    goroot = os.path.dirname(os.path.dirname(DEBIAN_GO))
    version = open(os.path.join(goroot, "VERSION")).read().split()[0].removeprefix("go")
    stage = os.path.join(work, "gostage")
    os.makedirs(stage)
    os.symlink(goroot, os.path.join(stage, "go"))
    name = "go%s.linux-%s.tar.gz" % (version, a)
    dest = os.path.join(out, "go", name)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    log("go %s from %s" % (version, goroot))
    # --dereference follows the top symlink too: the archive's top dir is go/
    tar_gz(stage, "go", dest)
    digest = sha256(dest)
    with open(dest + ".sha256", "w") as f:
        f.write(digest)  # go.dev's .sha256 files hold the bare hex digest
    # A second release name for the wrong-pin test (same bytes, hardlinked).
    bad = "1.19.99" if version != "1.19.99" else "1.19.98"
    bad_dest = os.path.join(out, "go", "go%s.linux-%s.tar.gz" % (bad, a))
    os.link(dest, bad_dest)
    with open(bad_dest + ".sha256", "w") as f:
        f.write(digest)
    return {"version": version, "sha256": digest, "file": "go/" + name, "bad_version": bad}


# ---------------------------------------------------------------- etcd


def etcd_release(out, a, work):
    text = run(["etcd", "--version"])
    version = re.search(r"etcd Version: (\S+)", text).group(1)
    top = "etcd-v%s-linux-%s" % (version, a)
    stage = os.path.join(work, "etcd", top)
    os.makedirs(stage)
    for b in ("etcd", "etcdctl"):
        shutil.copy2(shutil.which(b), os.path.join(stage, b))
    for doc in ("README.md", "README-etcdctl.md"):
        with open(os.path.join(stage, doc), "w") as f:
            f.write("etcd %s (Debian build, laid out as an upstream release for kubedebug.lab tests)\n" % version)
    rel = os.path.join(out, "etcd", "v" + version)
    os.makedirs(rel)
    name = top + ".tar.gz"
    tar_gz(os.path.join(work, "etcd"), top, os.path.join(rel, name))
    digest = sha256(os.path.join(rel, name))
    with open(os.path.join(rel, "SHA256SUMS"), "w") as f:
        f.write("%s  %s\n" % (digest, name))
    log("etcd %s" % version)
    # Tampered mirror: a release whose SHA256SUMS does not match its tarball.
    bad = "3.4.99" if version != "3.4.99" else "3.4.98"
    bad_rel = os.path.join(out, "etcd", "v" + bad)
    os.makedirs(bad_rel)
    bad_name = "etcd-v%s-linux-%s.tar.gz" % (bad, a)
    os.link(os.path.join(rel, name), os.path.join(bad_rel, bad_name))
    with open(os.path.join(bad_rel, "SHA256SUMS"), "w") as f:
        f.write("%s  %s\n" % (hashlib.sha256(b"not the tarball").hexdigest(), bad_name))
    return {"version": version, "sha256": digest, "file": "etcd/v%s/%s" % (version, name), "bad_version": bad}


# --------------------------------------------------------------- cfssl


def cfssl_release(out, a, work):
    version = re.search(r"Version: (\S+)", run(["cfssl", "version"])).group(1)
    rel = os.path.join(out, "cfssl", "v" + version)
    os.makedirs(rel)
    lines = []
    for b in ("cfssl", "cfssljson"):
        name = "%s_%s_linux_%s" % (b, version, a)
        shutil.copy2(shutil.which(b), os.path.join(rel, name))
        lines.append("%s  %s\n" % (sha256(os.path.join(rel, name)), name))
    with open(os.path.join(rel, "cfssl_%s_checksums.txt" % version), "w") as f:
        f.writelines(sorted(lines))
    log("cfssl %s" % version)
    return {"version": version}


# --------------------------------------------------------------- delve


def delve_source(work):
    """Debian's delve source (upstream code without vendor/), cached."""
    src_cache = os.path.join(CACHE, "src")
    os.makedirs(src_cache, exist_ok=True)
    found = sorted(glob.glob(os.path.join(src_cache, "delve_*.orig.tar.*")))
    if not found:
        log("apt-get source --download-only delve (into %s)" % src_cache)
        try:
            subprocess.run(["apt-get", "source", "--download-only", "delve"], cwd=src_cache, check=True, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError:
            raise SystemExit(
                "apt-get source delve failed: this needs a deb-src entry for bookworm (hack/bootstrap.sh adds "
                "/etc/apt/sources.list.d/debian-src.sources) and `apt-get update`"
            ) from None
        found = sorted(glob.glob(os.path.join(src_cache, "delve_*.orig.tar.*")))
    orig = found[-1]
    run(["tar", "-C", work, "-xf", orig])
    top = [d for d in os.listdir(work) if d.startswith("delve-")][0]
    return os.path.join(work, top), orig


def module_root(import_path, directory, default_go):
    """(module path, language version) of the module holding package dir ``directory``.

    The language version is the go.mod ``go`` directive of the Debian copy
    (vendored code is compiled at that language level), else ``default_go``.
    """
    d = directory
    while d.startswith(GOCODE + os.sep):
        gomod = os.path.join(d, "go.mod")
        if os.path.isfile(gomod):
            with open(gomod) as f:
                text = f.read()
            m = re.search(r"^module\s+(\S+)", text, re.M)
            if m:
                lang = re.search(r"^go\s+(\d+\.\d+)", text, re.M)
                return m.group(1).strip("\"`"), lang.group(1) if lang else default_go
        d = os.path.dirname(d)
    parts = import_path.split("/")
    n = 2 if parts[0] == "gopkg.in" else 3 if parts[0] in ("github.com", "golang.org") else 1
    return "/".join(parts[:n]), default_go


def build_vendor(src):
    """vendor/ + vendor/modules.txt for src, from the Debian packages cmd/dlv needs."""
    gopath = tempfile.mkdtemp(prefix="gopath.", dir=os.path.dirname(src))
    link = os.path.join(gopath, "src", "github.com", "go-delve", "delve")
    os.makedirs(os.path.dirname(link))
    os.symlink(src, link)
    env = dict(os.environ, GO111MODULE="off", GOPATH="%s:%s" % (gopath, os.path.dirname(GOCODE)), CGO_ENABLED="0", GOFLAGS="")
    fmt = "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}"
    listing = run([DEBIAN_GO, "list", "-deps", "-f", fmt, "github.com/go-delve/delve/cmd/dlv"], cwd=gopath, env=env)
    shutil.rmtree(gopath)
    with open(os.path.join(src, "go.mod")) as f:
        gomod = f.read()
    required = dict(re.findall(r"^\s+(\S+)\s+(v\S+)", gomod, re.M))
    default_go = re.search(r"go(\d+\.\d+)", run([DEBIAN_GO, "env", "GOVERSION"])).group(1)
    modules, langs = {}, {}
    for line in listing.split("\n"):
        if not line.strip():
            continue
        path, directory = line.split(" ", 1)
        if path.startswith("github.com/go-delve/delve"):
            continue
        if not directory.startswith(GOCODE):
            raise SystemExit("%s resolved outside %s (%s): install its Debian -dev package" % (path, GOCODE, directory))
        mod, langs[mod] = module_root(path, directory, default_go)
        modules.setdefault(mod, []).append(path)
        dest = os.path.join(src, "vendor", path)
        os.makedirs(dest, exist_ok=True)
        for entry in os.listdir(directory):
            full = os.path.join(directory, entry)
            if os.path.isfile(full) and not entry.endswith("_test.go") and entry.rsplit(".", 1)[-1] in ("go", "s", "c", "h"):
                shutil.copy2(full, dest)
    lines = []
    for mod in sorted(set(modules) | set(required)):
        lines.append("# %s %s" % (mod, required.get(mod, PSEUDO)))
        notes = (["explicit"] if mod in required else []) + (["go " + langs[mod]] if mod in langs else [])
        if notes:
            lines.append("## " + "; ".join(notes))
        lines.extend(sorted(modules.get(mod, ())))
    with open(os.path.join(src, "vendor", "modules.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return sorted(modules)


def delve_release(out, work):
    src, orig = delve_source(work)
    version = re.search(r"delve_([0-9.]+)\.orig", os.path.basename(orig)).group(1)
    # Debian drops the generated eBPF objects: compile the eBPF trace backend out.
    ebpf = os.path.join(src, "pkg", "proc", "internal", "ebpf")
    for name, tag in (("helpers.go", "kubedebug_fixture_ebpf"), ("helpers_disabled.go", "!kubedebug_fixture_ebpf")):
        path = os.path.join(ebpf, name)
        with open(path) as f:
            text = f.read()
        text = re.sub(r"^//go:build .*$", "//go:build " + tag, text, count=1, flags=re.M)
        text = re.sub(r"^// \+build .*$", "// +build " + tag, text, count=1, flags=re.M)
        with open(path, "w") as f:
            f.write(text)
    mods = build_vendor(src)
    top = "delve-%s" % version
    if os.path.basename(src) != top:
        os.rename(src, os.path.join(work, top))
    rel = os.path.join(out, "delve")
    os.makedirs(rel)
    dest = os.path.join(rel, "v%s.tar.gz" % version)
    tar_gz(work, top, dest)
    digest = sha256(dest)
    with open(dest + ".sha256", "w") as f:
        f.write(digest)
    log("delve %s (vendor/: %s)" % (version, ", ".join(mods)))
    return {"version": version, "sha256": digest, "file": "delve/v%s.tar.gz" % version}


# ---------------------------------------------------------------- main


def inputs_fingerprint():
    """Changes when this script or the Debian packages it packs change."""
    pkgs = run(["dpkg-query", "-W", "-f", "${Package}=${Version}\n", "golang-go", "etcd-server", "etcd-client", "golang-cfssl"])
    h = hashlib.sha256((LAYOUT + pkgs).encode())
    with open(__file__, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: %s OUTDIR" % sys.argv[0])
    if not os.access(DEBIAN_GO, os.X_OK):
        raise SystemExit("Debian's Go is needed (/usr/bin/go from golang-go): run hack/bootstrap.sh")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, ".complete")
    want = inputs_fingerprint()
    if os.path.isfile(stamp) and open(stamp).read().strip() == want:
        log("%s is up to date" % out)
        return
    for entry in os.listdir(out):  # keep the directory itself: it may be bind-mounted
        path = os.path.join(out, entry)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    a = arch()
    with tempfile.TemporaryDirectory(prefix="kubedebug-fixtures.") as work:
        manifest = {
            "arch": a,
            "go": go_release(out, a, work),
            "etcd": etcd_release(out, a, work),
            "cfssl": cfssl_release(out, a, work),
            "delve": delve_release(out, work),
        }
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    with open(stamp, "w") as f:
        f.write(want + "\n")
    log("ready in %s" % out)


if __name__ == "__main__":
    main()
