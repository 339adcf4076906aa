# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Read and set the cgroup driver of Docker, containerd, CRI-O and the kubelet.

Every reader works on *structured* output or files:

- Docker: ``docker info --format '{{json .}}'`` (``CgroupDriver``); the plain
  ``docker info`` text is only a fallback, read by key and not by column
  (``docker info | grep "Cgroup Driver:" | cut -d' ' -f3`` printed
  ``Driver:`` once Docker 19.03 indented its output). ``/etc/docker/daemon.json``
  ``exec-opts`` ``native.cgroupdriver=...`` says what is configured.
- containerd: ``config.toml`` parsed with tomllib: ``SystemdCgroup`` in the
  options of the CRI plugin's default runtime (config versions 1, 2 and 3).
- CRI-O: ``cgroup_manager`` in ``[crio.runtime]`` of ``crio.conf`` and its
  ``crio.conf.d`` drop-ins (default ``systemd``).
- kubelet: ``cgroupDriver`` in its config file (YAML or JSON) and the
  ``--cgroup-driver`` flag, which wins over the file.

Every writer returns the new text, or the same object when nothing changes,
and raises KubedebugError for input it will not rewrite.
"""

from __future__ import annotations

import json
import re
import shlex

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import toml_edit as _toml_edit
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv

DRIVERS = ("systemd", "cgroupfs")
EXEC_OPT = "native.cgroupdriver"

# --------------------------------------------------------------------- docker


def parse_docker_info_json(text):
    """``docker info --format '{{json .}}'`` -> dict(running, driver, cgroup_version, server_version, error).

    A CLI that cannot reach the daemon still prints JSON (with empty fields,
    and ``ServerErrors`` from Docker 23 on): that is ``running: False``.
    """
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not isinstance(info, dict):
        return None
    errors = info.get("ServerErrors") or []
    server = info.get("ServerVersion") or ""
    running = bool(server) and not errors
    return {
        "running": running,
        "driver": (info.get("CgroupDriver") or None) if running else None,
        "cgroup_version": (str(info.get("CgroupVersion")) if info.get("CgroupVersion") else None) if running else None,
        "server_version": server or None,
        "error": "; ".join(errors) or (None if running else "the Docker daemon did not answer"),
    }


def parse_docker_info_text(text):
    """Plain ``docker info`` output -> dict like :func:`parse_docker_info_json`.

    Keys are matched after stripping indentation (Docker <= 18.09 printed
    ``Cgroup Driver: cgroupfs`` at column 0, 19.03 and later under a
    ``Server:`` heading with one leading space).
    """
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key and key not in fields:
            fields[key] = value.strip()
    driver = fields.get("Cgroup Driver") or None
    server = fields.get("Server Version") or None
    return {
        "running": bool(driver and server),
        "driver": driver,
        "cgroup_version": fields.get("Cgroup Version") or None,
        "server_version": server,
        "error": None if driver else "no 'Cgroup Driver' in docker info output",
    }


def _load_daemon_json(text, source):
    if not text.strip():
        return {}
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise KubedebugError(
            "%s is not valid JSON: %s" % (source, exc),
            "Docker would not start with it either: fix the file (or restore it from a backup) and run again; "
            "nothing was changed",
            path=source,
        ) from None
    if not isinstance(obj, dict):
        raise KubedebugError(
            "%s holds a JSON %s, not an object" % (source, type(obj).__name__),
            "daemon.json must be a JSON object like {\"exec-opts\": [...]}; fix it and run again; nothing was changed",
            path=source,
        )
    opts = obj.get("exec-opts", [])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise KubedebugError(
            "%s: exec-opts must be a list of strings, found %r" % (source, opts),
            "Write it as \"exec-opts\": [\"native.cgroupdriver=systemd\"]; nothing was changed",
            path=source,
        )
    return obj


def _is_driver_opt(opt):
    key, sep = opt.partition("=")[:2]
    return bool(sep) and key.strip().lower() == EXEC_OPT


def docker_daemon_json_driver(text, source="daemon.json"):
    """The driver configured in daemon.json's exec-opts, or None."""
    obj = _load_daemon_json(text, source)
    value = None
    for opt in obj.get("exec-opts", []):
        if _is_driver_opt(opt):
            value = opt.partition("=")[2].strip()
    return value


def _json_indent(text):
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            ws = line[:len(line) - len(stripped)]
            return "\t" if ws.startswith("\t") else len(ws)
    return 2


def set_docker_daemon_json_driver(text, driver, source="daemon.json"):
    """daemon.json text with ``exec-opts`` holding exactly one ``native.cgroupdriver=<driver>``.

    Other keys and other exec-opts are kept, in order; returns ``text`` itself
    when it already says so.
    """
    obj = _load_daemon_json(text, source)
    opts = list(obj.get("exec-opts", []))
    want = "%s=%s" % (EXEC_OPT, driver)
    current = [o for o in opts if _is_driver_opt(o)]
    if current == [want]:
        return text
    new_opts = []
    for opt in opts:
        if _is_driver_opt(opt):
            if want not in new_opts:
                new_opts.append(want)
        else:
            new_opts.append(opt)
    if want not in new_opts:
        new_opts.append(want)
    obj["exec-opts"] = new_opts
    return json.dumps(obj, indent=_json_indent(text), ensure_ascii=False) + "\n"


def dockerd_flag_exec_opts(argv):
    """``--exec-opt`` values given to dockerd on its command line."""
    out = []
    args = list(argv[1:])
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--exec-opt="):
            out.append(a.split("=", 1)[1])
        elif a == "--exec-opt" and i + 1 < len(args):
            out.append(args[i + 1])
            i += 1
        i += 1
    return out


def docker_default_driver(mode, systemd_pid1):
    """Docker's own default: systemd on cgroup v2 with systemd (Docker >= 20.10), else cgroupfs."""
    return "systemd" if mode == "unified" and systemd_pid1 else "cgroupfs"


# ----------------------------------------------------------------- containerd

CRI_PLUGIN = {1: ("plugins", "cri"), 2: ("plugins", "io.containerd.grpc.v1.cri"), 3: ("plugins", "io.containerd.cri.v1.runtime")}
RUNC_V2 = "io.containerd.runc.v2"
LEGACY_SHIM = "io.containerd.runtime.v1.linux"


def containerd_config_version(doc, source="config.toml"):
    version = doc.get("version", 1)
    if version not in CRI_PLUGIN:
        raise KubedebugError(
            "%s declares version = %r; known containerd config versions are 1, 2 and 3" % (source, version),
            "Check which containerd reads this file; nothing was changed",
            path=source,
        )
    return version


def containerd_driver(doc, source="config.toml"):
    """Where containerd's CRI plugin takes its cgroup driver from, and its value.

    Returns dict(version, runtime, runtime_type, key (list of path parts),
    systemd_cgroup, driver, cri_disabled). An absent key means containerd's
    default, ``SystemdCgroup = false`` (cgroupfs).
    """
    version = containerd_config_version(doc, source)
    cri = CRI_PLUGIN[version]
    runtime = _toml_edit.get_path(doc, cri + ("containerd", "default_runtime_name")) or "runc"
    rt = cri + ("containerd", "runtimes", runtime)
    runtime_type = _toml_edit.get_path(doc, rt + ("runtime_type",))
    if runtime_type == LEGACY_SHIM:
        key = cri + ("systemd_cgroup",)
    else:
        key = rt + ("options", "SystemdCgroup")
    value = _toml_edit.get_path(doc, key)
    disabled = doc.get("disabled_plugins") or []
    return {
        "version": version,
        "runtime": runtime,
        "runtime_type": runtime_type,
        "key": list(key),
        "systemd_cgroup": value if isinstance(value, bool) else None,
        "driver": "systemd" if value is True else "cgroupfs",
        "cri_disabled": any(p in ("cri", cri[1]) for p in disabled),
    }


def set_containerd_driver(text, driver, source="config.toml"):
    """containerd config text whose CRI default runtime uses ``driver``.

    When the runc runtime table is created here, ``runtime_type`` is written
    too: containerd replaces the whole built-in runtime entry with the table it
    reads, and an entry with only ``options`` has an empty runtime type.
    """
    doc = _toml_edit.loads(text, source)
    info = containerd_driver(doc, source)
    want = driver == "systemd"
    if info["systemd_cgroup"] is want or (not want and info["systemd_cgroup"] is None):
        return text
    if not text.strip():
        text = "version = 2\n"
        info = containerd_driver(_toml_edit.loads(text, source), source)
    key = tuple(info["key"])
    if key[-1] == "SystemdCgroup" and info["runtime_type"] is None:
        text = _toml_edit.set_value(text, key[:-2] + ("runtime_type",), RUNC_V2, source)
    return _toml_edit.set_value(text, key, want, source)


# ---------------------------------------------------------------------- CRI-O


def crio_driver(docs):
    """``cgroup_manager`` from CRI-O's config and drop-ins, in read order (later wins).

    ``docs`` is a list of ``(source, parsed_toml)``. Default: systemd.
    """
    driver, source = "systemd", "CRI-O default"
    for src, doc in docs:
        value = _toml_edit.get_path(doc, ("crio", "runtime", "cgroup_manager"))
        if isinstance(value, str):
            driver, source = value, src
    return {"driver": driver, "source": source}


# -------------------------------------------------------------------- kubelet

_YAML_KEY = re.compile(r"""^(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([A-Za-z_][A-Za-z0-9_.-]*))[ \t]*:(?:[ \t]+|$)(.*)$""")


def _yaml_scalar(raw, source, line):
    """A one-line YAML scalar (plain, single- or double-quoted) with an optional comment."""
    raw = raw.strip()
    if raw.startswith('"'):
        m = re.match(r'^"((?:[^"\\]|\\.)*)"[ \t]*(#.*)?$', raw)
        if m:
            return json.loads('"%s"' % m.group(1))
    elif raw.startswith("'"):
        m = re.match(r"^'((?:[^']|'')*)'[ \t]*(#.*)?$", raw)
        if m:
            return m.group(1).replace("''", "'")
    else:
        value = re.split(r"[ \t]+#", raw, maxsplit=1)[0].strip()
        if value and value[0] not in "[{&*!|>%@`":
            return value
    raise KubedebugError(
        "%s line %d: cannot read the value %r as a plain string" % (source, line, raw),
        "Write it as a plain scalar, for example cgroupDriver: systemd; nothing was changed",
        path=source,
        line=line,
    )


def _kubelet_lines(text, source):
    """Top-level ``key: value`` lines of a one-document YAML mapping: [(key, line_no, span_of_value)]."""
    out = []
    offset = 0
    docs = 0
    for no, line in enumerate(text.splitlines(True), 1):
        body = line.rstrip("\r\n")
        start = offset
        offset += len(line)
        if body.startswith("---"):
            docs += 1
            if docs > 1 or (out and docs):
                raise KubedebugError(
                    "%s holds more than one YAML document" % source,
                    "The kubelet reads one KubeletConfiguration: keep one document; nothing was changed",
                    path=source,
                )
            continue
        if body.startswith((" ", "\t")) and body.strip() and not body.strip().startswith("#"):
            if out:
                out[-1][4] = True  # the value goes on (nested block or continued scalar)
            continue
        if not body.strip() or body.startswith(("#", "%")):
            continue
        if (body == "-" or body.startswith("- ")) and out and not out[-1][3].split("#")[0].strip():
            out[-1][4] = True  # a block sequence may start at its key's column (kubeadm writes clusterDNS so)
            continue
        if body.startswith("..."):
            break
        m = _YAML_KEY.match(body)
        if not m:
            raise KubedebugError(
                "%s line %d is not a 'key: value' line of a YAML mapping: %r" % (source, no, body[:80]),
                "Fix the file (the kubelet would refuse it too); nothing was changed",
                path=source,
                line=no,
            )
        key = m.group(1) if m.group(1) is not None else (m.group(2).replace("''", "'") if m.group(2) is not None else m.group(3))
        if m.group(1) is not None:
            key = json.loads('"%s"' % key)
        vstart = start + m.start(4)
        out.append([key, no, (vstart, start + len(body)), m.group(4), False])
    return [tuple(x) for x in out]


SCALAR_KEYS = ("cgroupDriver", "containerRuntimeEndpoint", "apiVersion", "kind")


def read_kubelet_config(text, source="config.yaml"):
    """Top-level keys of a KubeletConfiguration (YAML or JSON): {key: str or None}.

    Values are read for :data:`SCALAR_KEYS` only (``cgroupDriver``,
    ``containerRuntimeEndpoint``, ``apiVersion``, ``kind``); other keys map
    to None. Managed hosts may
    lack PyYAML, so this is a deliberately small reader that refuses what it
    does not understand instead of guessing.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise KubedebugError("%s is not valid JSON: %s" % (source, exc),
                                 "Fix the file; nothing was changed", path=source) from None
        if not isinstance(obj, dict):
            raise KubedebugError("%s holds a JSON %s, not an object" % (source, type(obj).__name__),
                                 "Fix the file; nothing was changed", path=source)
        return {k: (v if k in SCALAR_KEYS and isinstance(v, str) else None) for k, v in obj.items()}
    out = {}
    for key, no, _span, raw, block in _kubelet_lines(text, source):
        if key in out:
            raise KubedebugError("%s line %d: %s is set twice" % (source, no, key),
                                 "Keep one %s line; nothing was changed" % key, path=source, line=no)
        out[key] = None
        if key not in SCALAR_KEYS:
            continue
        if block:
            raise KubedebugError(
                "%s line %d: the value of %s goes on over the next lines" % (source, no, key),
                "Write it on one line, for example %s: systemd; nothing was changed" % key, path=source, line=no)
        if raw.strip() and not raw.strip().startswith("#"):
            out[key] = _yaml_scalar(raw, source, no)
    return out


def set_kubelet_config_driver(text, driver, source="config.yaml"):
    """Kubelet config text with ``cgroupDriver: <driver>``; other lines untouched."""
    current = read_kubelet_config(text, source).get("cgroupDriver")
    if current == driver:
        return text
    if text.lstrip().startswith("{"):
        obj = json.loads(text)
        obj["cgroupDriver"] = driver
        return json.dumps(obj, indent=_json_indent(text)) + "\n"
    for key, _no, (vstart, vend), raw, _block in _kubelet_lines(text, source):
        if key == "cgroupDriver":
            comment = re.search(r"[ \t]+#.*$", raw) if not raw.strip().startswith(("'", '"')) else None
            tail = comment.group(0) if comment else ""
            return text[:vstart] + driver + tail + text[vend:]
    if text and not text.endswith("\n"):
        text += "\n"
    return text + "cgroupDriver: %s\n" % driver


KUBELET_CONFIG_TEMPLATE = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


# flags --------------------------------------------------------------------

def flag_values(args, name):
    """Values of ``--name=value`` / ``--name value`` in an argv list (last wins in pflag).

    The argv form of :func:`_argv.flag_values` (which reads flag items): a bare
    ``--name`` has no value and is left out.
    """
    return [v for v in _argv.flag_values(_argv.split_flags(args), name) if v is not None]


_ENV_LINE = re.compile(r"^(\s*)(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_SAFE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


def _env_args(raw, source, no, var):
    """The words ``$VAR`` expands to in a systemd ExecStart: the value split at whitespace."""
    try:
        return " ".join(shlex.split(raw, comments=True)).split()
    except ValueError as exc:
        raise KubedebugError("%s line %d: cannot split %s: %s" % (source, no, var, exc),
                             "Fix the quoting; nothing was changed", path=source, line=no) from None


def read_env_file(text, source="env file"):
    """``VAR=value`` lines of a systemd EnvironmentFile (kubeadm-flags.env, /etc/default/kubelet): {VAR: [args]}."""
    out = {}
    for no, line in enumerate(text.splitlines(), 1):
        m = _ENV_LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            out[m.group(3)] = _env_args(m.group(4), source, no, m.group(3))
    return out


def set_env_flag(text, name, value, source="env file"):
    """Rewrite ``--name=...`` wherever it appears in the file's variables; never adds it.

    The variable is written back as ``VAR="arg arg ..."`` (kubeadm's own
    format). Returns ``text`` itself when no flag needs changing.
    """
    lines = text.splitlines(True)
    changed = False
    for idx, line in enumerate(lines):
        m = _ENV_LINE.match(line.rstrip("\r\n"))
        if not m or line.lstrip().startswith("#"):
            continue
        args = _env_args(m.group(4), source, idx + 1, m.group(3))
        new_args = []
        i = 0
        while i < len(args):
            a = args[i]
            if a.startswith("--%s=" % name):
                new_args.append("--%s=%s" % (name, value))
            elif a == "--%s" % name and i + 1 < len(args) and not args[i + 1].startswith("-"):
                new_args.append("--%s=%s" % (name, value))
                i += 1
            else:
                new_args.append(a)
            i += 1
        if new_args == args:
            continue
        if not all(_SAFE.match(a) for a in new_args):
            raise KubedebugError(
                "%s line %d: %s holds characters this module does not re-quote" % (source, idx + 1, m.group(3)),
                "Set --%s=%s in it by hand; nothing was changed" % (name, value), path=source, line=idx + 1)
        eol = line[len(line.rstrip("\r\n")):]
        lines[idx] = '%s%s%s="%s"%s' % (m.group(1), m.group(2) or "", m.group(3), " ".join(new_args), eol)
        changed = True
    return "".join(lines) if changed else text


def kubelet_runtime(flags, config, kubelet_version=None, docker_present=False):
    """Which runtime the kubelet talks to: docker, containerd, crio or None (unknown)."""
    endpoint = (flag_values(flags, "container-runtime-endpoint") or [None])[-1] or config.get("containerRuntimeEndpoint")
    runtime_flag = (flag_values(flags, "container-runtime") or [None])[-1]
    if runtime_flag == "docker":
        return "docker"
    if endpoint:
        for needle, name in (("containerd", "containerd"), ("crio", "crio"), ("cri-dockerd", "docker"), ("dockershim", "docker")):
            if needle in endpoint:
                return name
        return None
    if kubelet_version and kubelet_version < (1, 24) and docker_present:
        return "docker"  # built-in dockershim was the default before 1.24
    return "containerd" if kubelet_version and kubelet_version >= (1, 27) else None


def parse_kubelet_version(text):
    m = re.search(r"v(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None
