"""Which Go a test means. Never whatever ``go`` PATH finds first.

PATH's ``go`` has been Debian's Go 1.19 on one kind of machine and a preinstalled
current Go (/usr/local/go/bin/go, 1.26 when this was written) on the next, so a
test that asks PATH builds with a different toolchain from one machine to the
next. Name the toolchain instead:

- ``debian_go()``: Debian's ``golang-go`` (Go 1.19.8 on bookworm, reached through
  /usr/bin/go, which is what the kubedebug.lab.go role's package method sets as
  ``go_bin``). It builds Kubernetes v1.20.2 and its binaries are the ones Debian's
  dlv 1.20.2 (Go 1.18-1.20) debugs: every test that uses /usr/bin/dlv builds with it.
- ``current_go()``: the machine's current Go (DWARF 5, newer runtime packages).
  ``KUBEDEBUG_CURRENT_GO`` overrides its path.

Both fail (not skip) when missing: hack/bootstrap.sh installs golang-go, and the
machines come with the current Go.
"""

import os
import subprocess

DEBIAN_GO_LINK = "/usr/bin/go"
CURRENT_GO = os.environ.get("KUBEDEBUG_CURRENT_GO", "/usr/local/go/bin/go")


def _checked(path, what, hint):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise AssertionError("%s is needed at %s: %s" % (what, path, hint))
    return path


def debian_go():
    """Absolute path of Debian's Go (the golang-go package's /usr/bin/go, resolved)."""
    return _checked(os.path.realpath(DEBIAN_GO_LINK), "Debian's Go (golang-go)", "hack/bootstrap.sh installs it")


def current_go():
    """Absolute path of the machine's current Go."""
    return _checked(os.path.realpath(CURRENT_GO), "The current Go",
                    "these machines come with it in /usr/local/go; set KUBEDEBUG_CURRENT_GO to another one")


def go_env(go, *names):
    """``go env NAME...`` of that toolchain, one value per name."""
    out = subprocess.run([go, "env"] + list(names), capture_output=True, text=True, check=True).stdout
    values = out.split("\n")[: len(names)]
    return values[0] if len(names) == 1 else values
