# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Build ``dlv exec`` invocations and the commands a user types to attach.

A Delve headless server has no authentication: whoever reaches the port runs
code as the debuggee (root, for control-plane components). The default listen
address is loopback; anything wider is reported as ``exposure: network`` with
a warning, and only happens when the caller asked for it.
"""

from __future__ import annotations

import ipaddress
import os
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process.argv import check_argv

DEFAULT_LISTEN = "127.0.0.1:2345"

# Options every dlv-launching module shares (argspec dict; the matching
# documentation is the kubedebug.lab.dlv doc fragment).
DLV_ARG_SPEC = dict(
    listen=dict(type="str", default=DEFAULT_LISTEN),
    continue_after_start=dict(type="bool", default=True, aliases=["continue"]),
    accept_multiclient=dict(type="bool", default=True),
    api_version=dict(type="int", default=2, choices=[2]),
    dlv_path=dict(type="str", default="dlv"),
    dlv_flags=dict(type="list", elements="str", default=[]),
    dlv_log=dict(type="bool", default=False),
    dlv_log_output=dict(type="str"),
    dlv_log_dest=dict(type="str"),
)

# Flags this module sets itself; passing them again in dlv_flags is a conflict.
_OWN_FLAGS = ("--headless", "--listen", "-l", "--api-version", "--accept-multiclient", "--continue", "--log", "--log-output", "--log-dest")

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def parse_listen(listen):
    """(host, port, exposure) from ``host:port`` / ``[v6]:port``.

    exposure is ``loopback`` (127.0.0.0/8, ::1, localhost) or ``network``.
    """
    if not isinstance(listen, str) or not listen:
        raise KubedebugError("listen address is empty", hint="Use host:port, e.g. %s" % DEFAULT_LISTEN)
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", listen) or re.fullmatch(r"([^:\[\]]*):(\d+)", listen)
    if not m:
        raise KubedebugError(
            "listen address %r is not host:port" % listen,
            hint="Use host:port, e.g. %s (IPv6: [::1]:2345); keep it on loopback and tunnel with ssh -L" % DEFAULT_LISTEN,
        )
    host, port = m.group(1), int(m.group(2))
    if not 1 <= port <= 65535:
        raise KubedebugError("listen port %d in %r is out of range" % (port, listen), hint="Use a port between 1 and 65535, e.g. 2345")
    if host == "":
        raise KubedebugError(
            "listen address %r has no host: dlv would listen on every interface" % listen,
            hint="Write the host explicitly: 127.0.0.1:%d (recommended) or 0.0.0.0:%d if you really want the network" % (port, port),
        )
    try:
        ip = ipaddress.ip_address(host)
        exposure = "loopback" if ip.is_loopback else "network"
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise KubedebugError("listen host %r is neither an IP address nor a host name" % host, hint="Use e.g. %s" % DEFAULT_LISTEN) from None
        exposure = "loopback" if host == "localhost" else "network"
    return host, port, exposure


INSTALL_HINT = "Install it with the kubedebug.lab.delve role, or set dlv_path to its full path"


def resolve_dlv_path(dlv_path, which, hint=INSTALL_HINT):
    """An absolute dlv path: ``dlv_path`` itself when absolute, else ``which(dlv_path)``.

    ``which`` is the caller's PATH lookup (a module's ``get_bin_path``).
    Raises KubedebugError when a bare name is not found.
    """
    if os.path.isabs(dlv_path):
        return dlv_path
    found = which(dlv_path)
    if not found:
        raise KubedebugError("dlv (%s) is not installed on this host" % dlv_path, hint=hint)
    return found


def hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def build_dlv_argv(
    binary,
    args,
    listen=DEFAULT_LISTEN,
    continue_after_start=True,
    accept_multiclient=True,
    api_version=2,
    dlv_path="dlv",
    dlv_flags=(),
    dlv_log=False,
    dlv_log_output=None,
    dlv_log_dest=None,
):
    """``dlv exec BINARY --headless --listen=... --api-version=2 [...] -- ARGS``.

    Returns a dict: argv, listen, host, port, exposure, warnings.
    """
    if not isinstance(binary, str) or not binary:
        raise KubedebugError("no binary to debug", hint="Give binary (the debug-built component) or a process read by process_args")
    args = list(args)
    if args:
        check_argv(args, "args")
    host, port, exposure = parse_listen(listen)
    if continue_after_start and not accept_multiclient:
        raise KubedebugError(
            "continue needs accept_multiclient: dlv refuses --continue without --accept-multiclient in headless mode",
            hint="Set accept_multiclient: true, or continue: false to start the component paused",
        )
    if api_version != 2:
        raise KubedebugError("api_version %r is not supported" % api_version, hint="Use api_version: 2 (API v1 was removed from dlv)")
    for f in dlv_flags:
        if not isinstance(f, str) or not f.startswith("-"):
            raise KubedebugError("dlv flag %r does not start with '-'" % (f,), hint="Give dlv_flags as complete flags, e.g. ['--check-go-version=false']")
        if f.split("=", 1)[0] in _OWN_FLAGS:
            raise KubedebugError(
                "dlv flag %r conflicts with an option of this module" % f,
                hint="Use the module's own option (listen, continue, accept_multiclient, api_version, dlv_log...) instead",
            )
        if f == "--":
            raise KubedebugError("dlv_flags may not contain '--'", hint="Put the component's arguments in argv/args, not in dlv_flags")
    argv = [dlv_path, "exec", binary, "--headless", "--listen=%s" % hostport(host, port), "--api-version=%d" % api_version]
    if accept_multiclient:
        argv.append("--accept-multiclient")
    if continue_after_start:
        argv.append("--continue")
    if dlv_log or dlv_log_output or dlv_log_dest:
        argv.append("--log")
        if dlv_log_output:
            argv.append("--log-output=%s" % dlv_log_output)
        if dlv_log_dest:
            argv.append("--log-dest=%s" % dlv_log_dest)
    argv.extend(dlv_flags)
    if args:
        argv.append("--")
        argv.extend(args)
    warnings = []
    if exposure == "network":
        warnings.append(
            "dlv will listen on %s, reachable from the network: a headless Delve server has no authentication "
            "and anyone who reaches it runs code as this process's user. Prefer 127.0.0.1 with an ssh -L tunnel, "
            "or restrict the port with the kubedebug.lab.firewall role." % hostport(host, port)
        )
    return {"argv": argv, "listen": hostport(host, port), "host": host, "port": port, "exposure": exposure, "warnings": warnings}


def attach_commands(host, port, exposure, ssh_destination=None, local_port=None, dlv_path="dlv"):
    """What a user types on their workstation to reach the server.

    With a loopback listen address the server is only reachable through an
    SSH tunnel to the debug host; ``ssh_destination`` (``user@host``) names it.
    """
    local_port = local_port or port
    dest = ssh_destination or "USER@DEBUG_HOST"
    if exposure == "loopback":
        tunnel = "ssh -N -L %d:%s %s" % (local_port, hostport(host, port), dest)
        connect = "%s connect 127.0.0.1:%d" % (dlv_path, local_port)
        remote = {"host": "127.0.0.1", "port": local_port}
    else:
        target = "DEBUG_HOST" if host in ("0.0.0.0", "::") else host
        tunnel = None
        connect = "%s connect %s" % (dlv_path, hostport(target, port))
        remote = {"host": target, "port": port}
    notes = [
        "dlv refuses loopback connections from a different user (--only-same-user): open the ssh tunnel as the "
        "same user dlv runs as on the debug host, or have dlv started with --only-same-user=false knowingly."
    ]
    return {"ssh_tunnel_command": tunnel, "connect_command": connect, "ide_remote": remote, "notes": notes}
