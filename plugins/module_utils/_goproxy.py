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
  current directory changes nothing (GOWORK=off, GOTOOLCHAIN=local, run from
  an empty directory);
- errors a user can act on, sorted into "the proxy does not have it" (with
  the versions it does list), "the checksum does not match" and "could not
  reach the proxy".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

DEFAULT_GOPROXY = "https://proxy.golang.org,direct"
DEFAULT_GOSUMDB = "sum.golang.org"

# Variables that make the go command skip the checksum database for some or
# all modules, or fetch over plain HTTP. They are emptied, not inherited.
_UNVERIFYING = ("GONOSUMDB", "GONOSUMCHECK", "GONOVERIFY", "GOPRIVATE", "GOINSECURE", "GONOPROXY")

_NOT_FOUND = re.compile(
    r"(not available|404 Not Found|410 Gone|unknown revision|invalid version|no matching versions|"
    r"not found|does not exist|malformed module path|no such file or directory)",
    re.I,
)
_CHECKSUM = re.compile(r"(SECURITY ERROR|checksum mismatch|verifying .*: .*(mismatch|not found in the checksum database))", re.I)
_NETWORK = re.compile(r"(dial tcp|no such host|connection refused|i/o timeout|TLS handshake|x509:|Client.Timeout)", re.I)


def go_env(goproxy=None, gosumdb=None, modcache=None, base=None, extra=None):
    """The environment for a verifying ``go`` download.

    ``goproxy``/``gosumdb`` empty: the caller's GOPROXY/GOSUMDB, else Go's
    defaults. GOPROXY=off and GOSUMDB=off are refused: the first cannot
    download, the second would skip the verification.
    """
    base = dict(os.environ if base is None else base)
    env = {k: v for k, v in base.items() if k not in _UNVERIFYING and k not in ("GOFLAGS", "GOWORK", "GOTOOLCHAIN", "GO111MODULE")}
    proxy = (goproxy or base.get("GOPROXY") or DEFAULT_GOPROXY).strip()
    sumdb = (gosumdb or base.get("GOSUMDB") or DEFAULT_GOSUMDB).strip()
    if proxy == "off":
        raise KubedebugError(
            "GOPROXY is off: the go command may not download anything",
            "Set go_goproxy (or GOPROXY) to a Go module proxy, for example https://proxy.golang.org or your company's mirror",
        )
    if sumdb == "off":
        raise KubedebugError(
            "GOSUMDB=off would skip the checksum database, and kubedebug.lab never installs a module it could not verify",
            "Leave GOSUMDB unset (sum.golang.org, reached through the proxy when the proxy serves /sumdb/), or name the "
            "checksum database your mirror serves, e.g. 'sum.golang.org https://mirror.example.com/sumdb/sum.golang.org'",
        )
    env.update(GOPROXY=proxy, GOSUMDB=sumdb, GOFLAGS="-modcacherw", GOWORK="off", GOTOOLCHAIN="local", GO111MODULE="on")
    for k in _UNVERIFYING:
        env[k] = ""
    if modcache:
        env["GOMODCACHE"] = modcache
    env.update(extra or {})
    return env


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
        except FileNotFoundError:
            raise KubedebugError(
                "No go command at %s" % go_bin,
                "Install a Go toolchain first (any Go >= 1.13 can download modules; the kubedebug.lab.go role's package method gives one) "
                "or point go_bin at one",
                go_bin=go_bin,
            ) from None
        except subprocess.TimeoutExpired:
            raise KubedebugError(
                "%s %s did not finish within %d s" % (go_bin, " ".join(args), timeout),
                "Check that the Go module proxy (GOPROXY=%s) answers from this host" % env.get("GOPROXY"),
            ) from None
    return p.returncode, p.stdout, p.stderr


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


def _error(go_bin, module, version, error, env):
    kind = classify(error)
    proxy = env.get("GOPROXY")
    details = dict(module=module, version=version, error=error.strip(), error_kind=kind, goproxy=proxy)
    if kind == "checksum":
        return KubedebugError(
            "%s@%s does not match the checksum database (%s): the proxy %s served other bytes than the ones published. "
            "Nothing was installed" % (module, version, env.get("GOSUMDB"), proxy),
            "Do not install it: report the mirror's copy to whoever runs it, or use another GOPROXY; "
            "run `go clean -modcache` if a bad copy was cached",
            **details
        )
    if kind == "not_found":
        versions = list_versions(go_bin, module, env)
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
    return KubedebugError("go mod download %s@%s failed: %s" % (module, version, error.strip()[-600:]), "Check GOPROXY and the module path", **details)


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


def cached(modcache, module, version):
    """True when ``module@version``'s zip is already in the module cache ``modcache``."""
    return os.path.exists(os.path.join(modcache, "cache", "download", escape_path(module), "@v", escape_version(version) + ".zip"))


def escape_path(path):
    """The module cache's case encoding: every upper-case letter becomes '!' + its lower case."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), path)


def escape_version(version):
    return escape_path(version)


def toolchain_module(go_version, goos="linux", goarch="amd64"):
    """(module, version) of the Go toolchain distribution for ``go_version`` (``1.26.10``)."""
    return "golang.org/toolchain", "v0.0.1-go%s.%s-%s" % (str(go_version).removeprefix("go"), goos, goarch)
