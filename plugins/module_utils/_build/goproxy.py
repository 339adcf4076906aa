# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Modules from a Go module proxy, the way the go command fetches them.

Everything the collection takes from a Go module proxy (a Go toolchain,
Delve, a Kubernetes release and its staging modules, kwok) goes through the
go command itself: ``go mod download -json``. The go command checks every zip
against the checksum database before it unpacks it, which is the verification
we promise; we never turn it off. What this file adds:

- an environment in which nothing the user's shell or ``go env -w`` file set
  can skip that check (GOSUMDB=off, GONOSUMDB, GOPRIVATE, GOINSECURE,
  GOFLAGS=-insecure), and in which a go.work or a toolchain line of the
  current directory changes nothing (GOWORK=off, GOTOOLCHAIN=local, GOENV=off,
  run from an empty directory);
- errors a user can act on, sorted into "the proxy does not have it" (with
  the versions it does list), "the checksum does not match" and "could not
  reach the proxy";
- installing what was downloaded: a module's files unpacked from the verified
  zip (whose ``h1:`` hash is computed again while unpacking, so the bytes
  installed are the bytes the checksum database vouched for), or a command of
  the module built with ``go install``; either is assembled beside the
  destination and renamed into place, so a failure leaves the destination as
  it was.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile

from ansible_collections.kubedebug.lab.plugins.module_utils._build import elf as _elf
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import GoVersion, parse_go_version_output

#: The options of every module that downloads from a Go module proxy (doc fragment kubedebug.lab.goproxy).
GOPROXY_ARG_SPEC = dict(
    go_bin=dict(type="path"),
    goproxy=dict(type="str", default=""),
    gosumdb=dict(type="str", default=""),
    cache_dir=dict(type="path"),
)

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
DEFAULT_GOSUMDB = "sum.golang.org"

# The oldest go command that downloads modules (module mode, go mod download).
MIN_DOWNLOAD_GO = GoVersion(1, 13)

TOOLCHAIN_MODULE = "golang.org/toolchain"
# Files of a Go distribution that must be executable. A module zip records no
# file modes (the go command itself sets these bits when it switches to a
# downloaded toolchain; Go before 1.21 never does).
TOOLCHAIN_EXECUTABLES = ("bin/*", "pkg/tool/*/*", "lib/wasm/go_*_exec", "misc/wasm/go_*_exec", "src/*.bash", "src/*.rc")

# What a destination directory records about its install.
STAMP = ".kubedebug-install.json"

# Variables that make the go command skip the checksum database for some or
# all modules, or fetch over plain HTTP. They are emptied, not inherited.
_UNVERIFYING = ("GONOSUMDB", "GONOSUMCHECK", "GONOVERIFY", "GOPRIVATE", "GOINSECURE", "GONOPROXY")

# What `go env` is asked for about the host's own settings.
HOST_KEYS = ("GOPROXY", "GOSUMDB", "GOMODCACHE", "GOFLAGS", "GOAUTH", "GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOPROXY")

_NOT_FOUND = re.compile(
    r"(not available|404 Not Found|410 Gone|unknown revision|invalid version|no matching versions|"
    r"not found|does not exist|malformed module path|no such file or directory)",
    re.I,
)
_CHECKSUM = re.compile(r"(SECURITY ERROR|checksum mismatch|verifying .*: .*(mismatch|not found in the checksum database))", re.I)
_NETWORK = re.compile(r"(dial tcp|no such host|connection refused|i/o timeout|TLS handshake|x509:|Client.Timeout)", re.I)
_MISMATCH_SUMS = re.compile(r"downloaded:\s*(h1:\S+).*?(?:go\.sum|sum\.golang\.org|[\w.-]+):\s*(h1:\S+)", re.S)


def _sumdb_off_error(where):
    return KubedebugError(
        "GOSUMDB=off (%s) would skip the checksum database, and kubedebug.lab never installs a module it could not verify" % where,
        "Remove that setting (unset GOSUMDB, or `go env -u GOSUMDB`) and leave go_gosumdb empty or sum.golang.org "
        "(reached through the proxy when the proxy serves /sumdb/), or name the checksum database your mirror serves, "
        "e.g. 'sum.golang.org https://mirror.example.com/sumdb/sum.golang.org'",
        error_kind="sumdb_off",
    )


def go_env(goproxy=None, gosumdb=None, modcache=None, base=None, extra=None, go_version=None):
    """The environment for a verifying ``go`` download.

    ``goproxy``/``gosumdb`` empty: the caller's GOPROXY/GOSUMDB, else Go's
    defaults. GOPROXY=off and GOSUMDB=off are refused: the first cannot
    download, the second would skip the verification. GOSUMDB=off in ``base``
    is refused even when ``gosumdb`` names a database: whoever set it wanted no
    verification, and silently overriding that would hide the conflict.
    GOENV=off keeps a ``go env -w`` file out (it could hold GONOSUMDB or
    GOPRIVATE); read the host's own GOPROXY/GOSUMDB with :func:`host_settings`
    first to honour them. ``go_version`` (a GoVersion of the go command that
    will run) leaves out flags older go commands do not know.
    """
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in _UNVERIFYING and k not in ("GOFLAGS", "GOWORK", "GOTOOLCHAIN", "GO111MODULE", "GOENV")}
    if (base.get("GOSUMDB") or "").strip() == "off":
        raise _sumdb_off_error("in the environment")
    proxy = (goproxy or base.get("GOPROXY") or DEFAULT_GOPROXY).strip()
    sumdb = (gosumdb or base.get("GOSUMDB") or DEFAULT_GOSUMDB).strip()
    if proxy == "off":
        raise KubedebugError(
            "GOPROXY is off: the go command may not download anything",
            "Set go_goproxy (or GOPROXY) to a Go module proxy, for example https://proxy.golang.org or your company's mirror",
            error_kind="goproxy_off",
        )
    if sumdb == "off":
        raise _sumdb_off_error("asked for with gosumdb")
    # -modcacherw (Go >= 1.14) leaves the cache's directories writable, so a
    # cache can be cleaned without chmod.
    flags = "-modcacherw" if go_version is None or go_version >= GoVersion(1, 14) else ""
    env.update(GOPROXY=proxy, GOSUMDB=sumdb, GOFLAGS=flags, GOWORK="off", GOTOOLCHAIN="local", GO111MODULE="on", GOENV="off")
    for k in _UNVERIFYING:
        env[k] = ""
    if modcache:
        env["GOMODCACHE"] = modcache
    env.update(extra or {})
    return env


def redact(value):
    """GOPROXY/GOSUMDB text with any user:password@ of its URLs replaced, for records, results and messages."""
    return re.sub(r"(://)[^/@\s,|]+@", r"\1***@", value or "")


def go_variables(env):
    """The Go variables of an environment from :func:`go_env` (what a later go command of the same run needs)."""
    keys = set(_UNVERIFYING) | {"GOPROXY", "GOSUMDB", "GOFLAGS", "GOWORK", "GOTOOLCHAIN", "GO111MODULE", "GOENV", "GOMODCACHE", "GOAUTH"}
    return {k: v for k, v in env.items() if k in keys}


def _json_stream(text):
    """The objects of a stream of JSON values (what ``go ... -json`` prints)."""
    dec = json.JSONDecoder()
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        obj, end = dec.raw_decode(text, pos)
        out.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _run(go_bin, args, env, timeout):
    # An empty directory: no go.mod, go.work or toolchain line can take part.
    with tempfile.TemporaryDirectory(prefix="kubedebug-go-") as cwd:
        try:
            p = subprocess.run([go_bin] + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except (FileNotFoundError, PermissionError):
            raise KubedebugError(
                "No go command at %s" % go_bin,
                "Install a Go toolchain first (any Go >= 1.13 can download modules; the kubedebug.lab.go role's package method gives one) "
                "or point go_bin at one",
                go_bin=go_bin,
                error_kind="no_go",
            ) from None
        except subprocess.TimeoutExpired:
            raise KubedebugError(
                "%s %s did not finish within %d s" % (go_bin, " ".join(args), timeout),
                "Check that the Go module proxy (GOPROXY=%s) answers from this host" % env.get("GOPROXY"),
                error_kind="timeout",
            ) from None
    return p.returncode, p.stdout, p.stderr


def go_version_of(go_bin, base=None):
    """The GoVersion of the go command ``go_bin`` (``go version`` works for every release), or raise."""
    env = dict(os.environ if base is None else base, GOTOOLCHAIN="local", GOENV="off")
    rc, out, err = _run(go_bin, ["version"], env, 60)
    if rc != 0:
        raise KubedebugError(
            "%s version failed: %s" % (go_bin, (err or out).strip()[-300:]),
            "Point go_bin at a working go command",
            go_bin=go_bin,
            error_kind="no_go",
        )
    return parse_go_version_output(out)


def find_go(candidates=("go",), path_env=None, minimum=MIN_DOWNLOAD_GO, base=None):
    """The first of ``candidates`` that is a go command of at least ``minimum``.

    A candidate without a ``/`` is looked up in ``path_env`` (default: PATH).
    Returns ``(path, GoVersion, tried)``; path and version are None when no
    candidate fits, and ``tried`` lists ``{path, problem}`` for the others.
    """
    path_env = os.environ.get("PATH", "") if path_env is None else path_env
    seen, tried = set(), []
    for cand in candidates:
        if not cand:
            continue
        paths = [cand] if "/" in cand else [os.path.join(d, cand) for d in path_env.split(os.pathsep) if d]
        for path in paths:
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                continue
            try:
                version = go_version_of(path, base)
            except KubedebugError as e:
                tried.append(dict(path=path, problem=e.msg))
                continue
            if version < minimum:
                tried.append(dict(path=path, problem="go %s is older than %s" % (version, minimum)))
                continue
            return path, version, tried
    return None, None, tried


def host_settings(go_bin, base=None, keys=HOST_KEYS):
    """The host's own Go settings, as ``go env`` reports them (environment, then the ``go env -w`` file, then defaults).

    Empty strings for what the go command does not know (GOAUTH before Go 1.24).
    """
    env = dict(os.environ if base is None else base, GOTOOLCHAIN="local")
    env.pop("GOFLAGS", None)  # a bad GOFLAGS makes `go env` itself fail
    rc, out, err = _run(go_bin, ["env", "-json"] + list(keys), env, 60)
    if rc != 0:
        raise KubedebugError(
            "%s env failed: %s" % (go_bin, (err or out).strip()[-300:]),
            "Check the go command and its configuration (go env)",
            go_bin=go_bin,
        )
    try:
        values = json.loads(out)
    except ValueError:
        values = {}
    return {k: str(values.get(k) or "") for k in keys}


def resolve_settings(goproxy=None, gosumdb=None, host=None, base=None):
    """(GOPROXY, GOSUMDB, ignored) for a download: the arguments, else the host's, else Go's defaults.

    GOSUMDB=off anywhere (argument, environment, ``go env -w``) is refused.
    ``ignored`` holds the host's settings the download leaves out because they
    would skip verification for some modules (GONOSUMDB, GOPRIVATE, ...).
    """
    host = host or {}
    base = os.environ if base is None else base
    if (base.get("GOSUMDB") or "").strip() == "off":
        raise _sumdb_off_error("in the environment")
    if (host.get("GOSUMDB") or "").strip() == "off":
        raise _sumdb_off_error("in the go command's configuration, `go env -w`")
    if (gosumdb or "").strip() == "off":
        raise _sumdb_off_error("asked for with gosumdb")
    proxy = (goproxy or host.get("GOPROXY") or DEFAULT_GOPROXY).strip()
    sumdb = (gosumdb or host.get("GOSUMDB") or DEFAULT_GOSUMDB).strip()
    ignored = {k: host[k] for k in ("GONOSUMDB", "GOPRIVATE", "GOINSECURE", "GONOPROXY", "GOFLAGS") if host.get(k)}
    return proxy, sumdb, ignored


def list_versions(go_bin, module, env, timeout=120):
    """The versions the proxy lists for ``module`` (may be empty), or None when it could not be asked."""
    rc, out, err = _run(go_bin, ["list", "-m", "-versions", "-json", module], env, timeout)
    if rc != 0:
        return None
    try:
        objs = _json_stream(out)
    except ValueError:
        return None
    return list(objs[0].get("Versions") or []) if objs else []


def classify(error):
    """'checksum', 'not_found', 'network' or 'other' for a go download error text."""
    if _CHECKSUM.search(error):
        return "checksum"
    if _NETWORK.search(error):
        return "network"
    if _NOT_FOUND.search(error):
        return "not_found"
    return "other"


def toolchain_releases(versions, goos="linux", goarch="amd64"):
    """The Go releases (sorted GoVersions) among toolchain module versions for ``goos``-``goarch``."""
    suffix = ".%s-%s" % (goos, goarch)
    out = set()
    for v in versions or ():
        if v.startswith("v0.0.1-go") and v.endswith(suffix):
            try:
                out.add(GoVersion.parse(v[len("v0.0.1-"):-len(suffix)]))
            except KubedebugError:
                continue
    return sorted(out)


def _toolchain_hint(version, versions):
    m = re.match(r"^v0\.0\.1-go(.+)\.([a-z0-9]+)-([a-z0-9]+)$", version)
    if not m:
        return None
    releases = toolchain_releases(versions, m.group(2), m.group(3))
    if not releases:
        return "The proxy lists no Go release for %s-%s: use a proxy (go_goproxy) that serves golang.org/toolchain" % (m.group(2), m.group(3))
    try:
        wanted = GoVersion.parse(m.group(1))
        same = [str(r) for r in releases if r.minor_version == wanted.minor_version]
    except KubedebugError:
        same = []
    if same:
        return "Pick a Go %s release the proxy lists for %s-%s: %s (set go_version)" % (
            wanted.minor_str, m.group(2), m.group(3), ", ".join(same))
    return "Pick a Go release the proxy lists for %s-%s (newest: %s) and set go_version" % (
        m.group(2), m.group(3), ", ".join(str(r) for r in releases[-8:]))


def _error(go_bin, module, version, error, env):
    kind = classify(error)
    proxy = redact(env.get("GOPROXY"))
    details = dict(module=module, version=version, error=redact(error.strip()), error_kind=kind, goproxy=proxy)
    if kind == "checksum":
        m = _MISMATCH_SUMS.search(error)
        if m:
            details.update(downloaded_sum=m.group(1), published_sum=m.group(2))
        return KubedebugError(
            "%s@%s does not match the checksum database (%s): the proxy %s served other bytes than the ones published. "
            "Nothing was installed" % (module, version, redact(env.get("GOSUMDB")), proxy),
            "Do not install it: report the mirror's copy to whoever runs it, or use another GOPROXY; "
            "run `go clean -modcache` if a bad copy was cached",
            **details
        )
    if kind == "not_found":
        versions = list_versions(go_bin, module, env)
        tc = re.match(r"^v0\.0\.1-go(.+)\.([a-z0-9]+)-([a-z0-9]+)$", version) if module == TOOLCHAIN_MODULE else None
        if tc:
            details["available_versions"] = [str(r) for r in toolchain_releases(versions, tc.group(2), tc.group(3))]
            return KubedebugError(
                "The Go module proxy %s does not have Go %s for %s-%s (%s@%s)" % (proxy, tc.group(1), tc.group(2), tc.group(3), module, version),
                _toolchain_hint(version, versions) if versions else "Check that the proxy serves golang.org/toolchain (go_goproxy)",
                **details
            )
        if versions:
            listed = ", ".join(versions[-12:])
            hint = "Pick a version the proxy lists (newest: %s)" % listed
        elif versions == []:
            hint = "The proxy lists no version of %s at all: check the module path, or use a proxy that serves it" % module
        else:
            hint = "Check the version and that the proxy serves the module"
        details["available_versions"] = versions or []
        return KubedebugError("The Go module proxy %s does not have %s@%s" % (proxy, module, version), hint, **details)
    if kind == "network":
        return KubedebugError(
            "Could not reach the Go module proxy %s (or its checksum database) for %s@%s" % (proxy, module, version),
            "Check the network from this host, or set go_goproxy to a mirror it can reach",
            **details
        )
    return KubedebugError("go mod download %s@%s failed: %s" % (module, version, details["error"][-600:]), "Check GOPROXY and the module path",
                          **details)


def download(go_bin, modules, env, timeout=1800):
    """Download ``modules`` ([(path, version), ...]) into the module cache, verified.

    Returns one dict per module: path, version, dir (the unpacked, read-only
    tree), zip, info, gomod, sum (the ``h1:`` hash the checksum database
    agreed to), gomod_sum. Raises KubedebugError for the first module that
    failed (all of them are still attempted in one go command).
    """
    if not modules:
        return []
    specs = ["%s@%s" % (m, v) for m, v in modules]
    rc, out, err = _run(go_bin, ["mod", "download", "-json"] + specs, env, timeout)
    try:
        objs = _json_stream(out)
    except ValueError:
        objs = []
    if not objs:
        m, v = modules[0]
        raise _error(go_bin, m, v, err or out or "go mod download exited %d" % rc, env)
    results, by_key = [], {}
    for o in objs:
        by_key[(o.get("Path"), o.get("Version"))] = o
    for m, v in modules:
        o = by_key.get((m, v))
        if o is None:
            # The go command answers with the resolved version for queries like "latest".
            o = next((x for x in objs if x.get("Path") == m), None)
        if o is None:
            raise _error(go_bin, m, v, err or "no answer for %s@%s" % (m, v), env)
        if o.get("Error"):
            raise _error(go_bin, m, v, o["Error"], env)
        results.append(dict(path=o["Path"], version=o["Version"], dir=o.get("Dir", ""), zip=o.get("Zip", ""),
                            info=o.get("Info", ""), gomod=o.get("GoMod", ""), sum=o.get("Sum", ""), gomod_sum=o.get("GoModSum", "")))
    return results


def _rmtree(path):
    """Remove a tree even where the module cache left it read-only."""
    def onerror(func, p, exc_info):
        try:
            os.chmod(os.path.dirname(p), 0o755)
            os.chmod(p, 0o755)
        except OSError:
            pass
        func(p)
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=onerror)
        else:
            os.unlink(path)


def probe(go_bin, module, version, env, timeout=120):
    """Ask the proxy whether it has ``module@version`` without downloading it (for check mode).

    ``go list -m`` fetches only the version's metadata, into a temporary module
    cache that is removed again: nothing on the host changes. Returns the
    resolved version, or raises like :func:`download`.
    """
    tmp = tempfile.mkdtemp(prefix="kubedebug-gomodcache-")
    try:
        rc, out, err = _run(go_bin, ["list", "-m", "-json", "%s@%s" % (module, version)], dict(env, GOMODCACHE=tmp), timeout)
        objs = []
        try:
            objs = _json_stream(out) if rc == 0 else []
        except ValueError:
            pass
        if rc != 0 or not objs or objs[0].get("Error"):
            text = (objs[0].get("Error") if objs and isinstance(objs[0].get("Error"), str) else None) or err or out
            raise _error(go_bin, module, version, text or "go list -m exited %d" % rc, env)
        return objs[0].get("Version") or version
    finally:
        _rmtree(tmp)


def _cache_file(modcache, module, version, ext):
    return os.path.join(modcache, "cache", "download", escape_path(module), "@v", escape_version(version) + ext)


def cached(modcache, module, version):
    """True when ``module@version``'s zip is already in the module cache ``modcache``."""
    return os.path.exists(_cache_file(modcache, module, version, ".zip"))


def cached_sum(modcache, module, version):
    """The ``h1:`` hash the go command recorded for a cached zip (its ``.ziphash``), or None."""
    try:
        with open(_cache_file(modcache, module, version, ".ziphash")) as f:
            return f.read().strip() or None
    except OSError:
        return None


def escape_path(path):
    """The module cache's case encoding: every upper-case letter becomes '!' + its lower case."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), path)


def escape_version(version):
    return escape_path(version)


def toolchain_module(go_version, goos="linux", goarch="amd64"):
    """(module, version) of the Go toolchain distribution for ``go_version`` (``1.26.10``)."""
    return TOOLCHAIN_MODULE, "v0.0.1-go%s.%s-%s" % (str(go_version).removeprefix("go"), goos, goarch)


def go_directive(gomod_path):
    """The ``go`` directive of a go.mod file (``1.25.0``), or None."""
    try:
        with open(gomod_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"^go\s+(\d+\.\d+(?:\.\d+)?)\s*(?://.*)?$", line.strip())
                if m:
                    return m.group(1)
    except (OSError, TypeError):
        pass
    return None


# ---------------------------------------------------------------- zips


def _h1(entries):
    """Go's dirhash Hash1 over ``(name, sha256 hex)`` pairs."""
    summary = hashlib.sha256()
    for name, digest in sorted(entries):
        if "\n" in name:
            raise KubedebugError("A file name in the module zip holds a newline: %r" % name, "Do not install this module")
        summary.update(("%s  %s\n" % (digest, name)).encode("utf-8"))
    return "h1:" + base64.b64encode(summary.digest()).decode("ascii")


def zip_h1(path):
    """The ``h1:`` hash of a module zip, as the go command and the checksum database compute it."""
    entries = []
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            digest = hashlib.sha256()
            with zf.open(info) as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
            entries.append((info.filename, digest.hexdigest()))
    return _h1(entries)


def _matches(rel, patterns):
    """``rel`` (a/b/c) matches one of ``patterns`` component by component (``*`` never crosses a ``/``)."""
    parts = rel.split("/")
    for pattern in patterns:
        pp = pattern.strip("/").split("/")
        if len(pp) == len(parts) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pp, strict=True)):
            return True
    return False


def unpack_zip(zip_path, module, version, dest, executables=()):
    """Unpack a module zip into the (new, empty) directory ``dest``; return the ``h1:`` hash of what was unpacked.

    Every entry must lie under ``<module>@<version>/`` and stay inside
    ``dest``. Files get mode 0644, those matching ``executables`` 0755,
    directories 0755.
    """
    prefix = "%s@%s/" % (module, version)
    entries = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as e:
        raise KubedebugError(
            "Cannot read the module zip %s: %s" % (zip_path, e),
            "Remove the module cache's copy (go clean -modcache, or delete that file) and run again",
            zip=zip_path,
        ) from None
    with zf:
        for info in zf.infolist():
            name = info.filename
            rel = name[len(prefix):] if name.startswith(prefix) else None
            parts = rel.split("/") if rel else []
            if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
                raise KubedebugError(
                    "%s holds %r, which is not a file of %s@%s" % (zip_path, name, module, version),
                    "Do not install it: a module zip only holds files under <module>@<version>/",
                    zip=zip_path,
                )
            digest = hashlib.sha256()
            if name.endswith("/"):
                os.makedirs(os.path.join(dest, *parts[:-1]), mode=0o755, exist_ok=True)
            else:
                target = os.path.join(dest, *parts)
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                mode = 0o755 if _matches(rel, executables) else 0o644
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
                with os.fdopen(fd, "wb") as out, zf.open(info) as src:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                os.chmod(target, mode)
            entries.append((name, digest.hexdigest()))
    return _h1(entries)


# ---------------------------------------------------------------- destinations


def read_stamp(dest):
    try:
        with open(os.path.join(dest, STAMP)) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def dest_state(dest, module, version, expected_sum=None):
    """'ours' (dest holds module@version, installed by us), 'absent', or 'other'."""
    if not os.path.lexists(dest):
        return "absent"
    stamp = read_stamp(dest)
    if stamp and stamp.get("module") == module and stamp.get("module_version") == version:
        if not expected_sum or stamp.get("sum") == expected_sum:
            return "ours"
    return "other"


def _swap_in(dest, fill, stamp, replace):
    """Assemble dest beside itself with ``fill(staging)``, write the stamp, rename it into place.

    An earlier ``dest`` is moved aside and removed only once the new one is
    in place; on any failure the staging directory is removed and ``dest`` is
    as it was.
    """
    parent = os.path.dirname(os.path.abspath(dest)) or "/"
    os.makedirs(parent, mode=0o755, exist_ok=True)
    base = os.path.basename(os.path.abspath(dest))
    staging = tempfile.mkdtemp(prefix=".%s.kubedebug-new-" % base, dir=parent)
    old = None
    try:
        extra = fill(staging) or {}
        record = dict(stamp, **extra)
        with open(os.path.join(staging, STAMP), "w") as f:
            json.dump(record, f, indent=2, sort_keys=True)
            f.write("\n")
        os.chmod(os.path.join(staging, STAMP), 0o644)
        os.chmod(staging, 0o755)
        if os.path.lexists(dest):
            if not replace:
                raise KubedebugError(
                    "%s exists and is not an install of %s@%s made by kubedebug.lab" % (dest, stamp.get("module"), stamp.get("module_version")),
                    "Move it away, or set replace=true to have it replaced",
                    dest=dest,
                )
            old = tempfile.mkdtemp(prefix=".%s.kubedebug-old-" % base, dir=parent)
            os.rename(dest, os.path.join(old, base))
        os.rename(staging, dest)
        staging = None
        return record
    except BaseException:
        if old is not None and not os.path.lexists(dest):
            os.rename(os.path.join(old, base), dest)
        raise
    finally:
        if staging is not None:
            _rmtree(staging)
        if old is not None:
            _rmtree(old)


def binary_name(module, package):
    """The file name ``go install`` gives ``module/package`` (the last element that is not a /vN suffix)."""
    parts = [p for p in ("%s/%s" % (module, package or "")).strip("/").split("/") if p and p != "."]
    if len(parts) > 1 and re.match(r"^v\d+$", parts[-1]):
        parts.pop()
    return parts[-1]


def build(go_bin, module, version, package, env, out_dir, build_env=None, gocache=None, timeout=3600):
    """``go install module/package@version`` with GOBIN=out_dir; returns the path of the binary.

    The module and its dependencies come through ``env`` (a :func:`go_env`):
    the dependencies are checked against the module's own go.sum and the
    checksum database, as ``go install pkg@version`` always does.
    """
    target = "%s/%s" % (module, package.strip("/")) if package and package.strip("/.") else module
    benv = dict(env, **(build_env or {}))
    benv["GOBIN"] = out_dir
    tmp_cache = None
    if gocache:
        benv["GOCACHE"] = gocache
    else:
        tmp_cache = tempfile.mkdtemp(prefix="kubedebug-gocache-")
        benv["GOCACHE"] = tmp_cache
    benv.setdefault("GOPATH", os.path.join(benv["GOCACHE"], "gopath"))
    try:
        rc, out, err = _run(go_bin, ["install", "%s@%s" % (target, version)], benv, timeout)
    finally:
        if tmp_cache:
            _rmtree(tmp_cache)
    text = (err or "") + (out or "")
    if rc != 0:
        m = re.search(r"requires go >= (\S+) \(running go (\S+?);", text)
        if m:
            raise KubedebugError(
                "%s@%s needs Go >= %s to build, and %s is go %s" % (module, version, m.group(1), go_bin, m.group(2).removeprefix("go")),
                "Build it with a newer Go (go_bin), or pick an older release of %s" % module,
                error_kind="go_too_old", go_min=m.group(1),
            )
        if _CHECKSUM.search(text) or _NETWORK.search(text) or "reading http" in text:
            raise _error(go_bin, module, version, text, env)
        raise KubedebugError(
            "go install %s@%s failed: %s" % (target, version, redact(text.strip()[-1500:])),
            "Check the build environment (build_env) and that the Go at %s can build this release" % go_bin,
            error_kind="build",
        )
    path = os.path.join(out_dir, binary_name(module, package))
    if not os.path.isfile(path):
        raise KubedebugError("go install %s@%s left no %s" % (target, version, path), "Check the package path (install_package)")
    return path


# ---------------------------------------------------------------- the whole step


def fetch(go_bin, module, version, goproxy=None, gosumdb=None, modcache=None, expected_sum=None, dest=None,
          executables=(), install_package=None, build_env=None, gocache=None, require_static=False,
          stamp=None, replace=False, check_mode=False, base=None, timeout=1800):
    """Download ``module@version`` verified, and optionally install it at ``dest``.

    ``dest`` without ``install_package``: the module's files unpacked there
    (``executables`` made executable). With ``install_package``: that command
    of the module built (``go install``) into ``dest``. ``dest`` records the
    install in :data:`STAMP`; a dest holding the same module version already
    is left alone without asking the proxy. Check mode asks the proxy only
    for the version's metadata (into a temporary cache) and writes nothing.
    Returns the result dict of the go_module module.
    """
    # Long on purpose: one ordered transaction (stamp check, verified download into a private cache, build,
    # swap into dest) whose cleanup must see every step; split, the steps would hand half-made state around.
    base = dict(os.environ if base is None else base)
    result = dict(changed=False, path=module, version=version, dest=dest or "", sum="", gomod_sum="", dir="", zip="", info="",
                  gomod="", go_mod_go=None, cached=False, downloaded=False, installed=False, binary="", interpreter=None)
    state = dest_state(dest, module, version, expected_sum) if dest else None
    if state == "ours":
        record = read_stamp(dest)
        result.update(sum=record.get("sum", ""), stamp=record, goproxy=record.get("goproxy", ""), gosumdb=record.get("gosumdb", ""))
        if install_package:
            result["binary"] = os.path.join(dest, binary_name(module, install_package))
        return result
    if state == "other" and not replace:
        raise KubedebugError(
            "%s exists and is not an install of %s@%s made by kubedebug.lab" % (dest, module, version),
            "Move it away, or set replace=true to have it replaced (only once the new install is complete)",
            dest=dest,
        )
    if check_mode and not (os.path.isfile(go_bin) and os.access(go_bin, os.X_OK)):
        # The go command itself is still to be installed by an earlier step of the same check run.
        result.update(changed=True, go_bin=go_bin, would_download=True, goproxy=redact(goproxy), gosumdb=redact(gosumdb),
                      msg="would download %s@%s with %s once it is installed" % (module, version, go_bin))
        return result
    go_v = go_version_of(go_bin, base)
    if go_v < MIN_DOWNLOAD_GO:
        raise KubedebugError(
            "%s is go %s, which cannot download modules (Go >= %s can)" % (go_bin, go_v, MIN_DOWNLOAD_GO),
            "Point go_bin at a newer go command, or install the distribution's Go first",
            go_bin=go_bin, error_kind="no_go",
        )
    host = host_settings(go_bin, base)
    proxy, sumdb, ignored = resolve_settings(goproxy, gosumdb, host, base)
    if host.get("GOAUTH") and not base.get("GOAUTH"):
        base["GOAUTH"] = host["GOAUTH"]  # credentials for a company mirror, from `go env -w`
    env = go_env(goproxy=proxy, gosumdb=sumdb, modcache=modcache or host.get("GOMODCACHE") or None, base=base, go_version=go_v)
    cache = env.get("GOMODCACHE") or host.get("GOMODCACHE")
    was_cached = bool(cache) and cached(cache, module, version)
    result.update(go_bin=go_bin, go_version=str(go_v), goproxy=redact(proxy), gosumdb=redact(sumdb), ignored_env=ignored,
                  cached=was_cached, modcache=cache or "", go_env={k: redact(v) for k, v in go_variables(env).items()})

    if check_mode:
        if was_cached:
            have = cached_sum(cache, module, version)
            result["sum"] = have or ""
            if expected_sum and have and have != expected_sum:
                raise _pin_error(module, version, expected_sum, have, "the module cache's record")
        else:
            result["resolved_version"] = probe(go_bin, module, version, env)
        result.update(changed=bool(dest) or not was_cached, would_download=not was_cached)
        return result

    (r,) = download(go_bin, [(module, version)], env, timeout=timeout)
    result.update(r, path=module, cached=was_cached, downloaded=not was_cached, go_mod_go=go_directive(r.get("gomod")))
    if expected_sum and r["sum"] != expected_sum:
        raise _pin_error(module, version, expected_sum, r["sum"], "the go command (checked against %s)" % redact(sumdb))
    if not dest:
        result["changed"] = not was_cached
        return result

    record = dict(stamp or {})
    record.update(module=module, module_version=r["version"], sum=r["sum"], goproxy=redact(proxy), gosumdb=redact(sumdb),
                  installed_by="kubedebug.lab.go_module")
    if install_package:
        need = go_directive(r.get("gomod"))
        if need and GoVersion.parse(need) > go_v:
            raise KubedebugError(
                "%s@%s needs Go >= %s to build (its go.mod), and %s is go %s" % (module, version, need, go_bin, go_v),
                "Build it with a Go >= %s (go_bin), or pick an older release of %s" % (need, module),
                error_kind="go_too_old", go_min=need,
            )

        def fill(staging):
            out_dir = tempfile.mkdtemp(prefix=".gobin-", dir=staging)
            try:
                built = build(go_bin, module, r["version"], install_package, env, out_dir, build_env, gocache, timeout)
                final = os.path.join(staging, os.path.basename(built))
                os.rename(built, final)
            finally:
                _rmtree(out_dir)
            os.chmod(final, 0o755)
            interp = _elf.interpreter(final)
            if require_static and interp:
                raise KubedebugError(
                    "go install %s/%s@%s gave a dynamically linked binary (interpreter %s): it cannot start in a distroless or "
                    "FROM scratch image" % (module, install_package, version, interp),
                    "Build with CGO_ENABLED=0 (build_env) and without -linkmode=external",
                    error_kind="not_static", interpreter=interp,
                )
            result.update(binary=os.path.join(dest, os.path.basename(final)), interpreter=interp)
            return dict(binary=os.path.basename(final), built_with=str(go_v), static=interp is None,
                        build_env=dict(build_env or {}))
    else:
        def fill(staging):
            got = unpack_zip(r["zip"], module, r["version"], staging, executables)
            if got != r["sum"]:
                raise KubedebugError(
                    "%s unpacked to %s, not the %s the checksum database published for %s@%s: the cached zip changed after "
                    "it was verified" % (r["zip"], got, r["sum"], module, r["version"]),
                    "Remove the module cache's copy (go clean -modcache, or delete %s) and run again" % r["zip"],
                    error_kind="checksum", downloaded_sum=got, published_sum=r["sum"],
                )
            return {}

    result["stamp"] = _swap_in(dest, fill, record, replace=True)
    result.update(changed=True, installed=True)
    return result


def _pin_error(module, version, pinned, got, source):
    return KubedebugError(
        "%s@%s has the hash %s according to %s, not the pinned %s" % (module, version, got, source, pinned),
        "Check the pin (expected_sum; the h1: value is the go.sum line of %s %s) - if it is right, the proxy and the checksum "
        "database disagree with the release everyone else got: do not install it" % (module, version),
        error_kind="pin_mismatch", pinned_sum=pinned, sum=got,
    )
