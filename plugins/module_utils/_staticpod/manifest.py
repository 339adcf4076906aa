# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""A static-pod manifest as the kubelet reads it: parse and check the Pod, pick the container, its argv,
the marker of a debug form written by this collection. The names the other parts share."""

from __future__ import annotations

import hashlib
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod import podyaml as _podyaml

ANN_SHA = "kubedebug.lab/original-sha256"
ANN_BACKUP = "kubedebug.lab/original-backup"
ANN_CONTAINER = "kubedebug.lab/container"
ANN_LISTEN = "kubedebug.lab/listen"
VOL_DLV = "kubedebug-dlv"
VOL_BIN = "kubedebug-debug-binary"
HEADER = "kubedebug.lab static_pod_debug: debug form"
RECORD_SUFFIX = ".kubedebug.json"
SHA_SUFFIX = ".sha256"
DEFAULT_BACKUP_DIR = "/var/lib/kubedebug/static-pods"
DEFAULT_CONTAINER_DIR = "/kubedebug/bin"
# Test hook: a run whose environment names one of its steps here is SIGKILLed
# at that step (tests/integration/test_static_pod_faults.py). Never set it otherwise.
FAULT_ENV = "KUBEDEBUG_TEST_KILL_AT"
LEADER_ELECT_COMPONENTS = ("kube-scheduler", "kube-controller-manager", "cloud-controller-manager")
PROBES = (("livenessProbe", "liveness-probe"), ("readinessProbe", "readiness-probe"), ("startupProbe", "startup-probe"))

_RAW_MARKER = re.compile(rb'kubedebug\.lab/original-sha256:[ \t]*"?([0-9a-f]{64})"?[ \t]*\r?$', re.M)
RAW_LISTEN = re.compile(rb'kubedebug\.lab/listen:[ \t]*"?([^"\s]+)"?[ \t]*\r?$', re.M)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def raw_marker(raw):
    """The original's sha256 recorded in a debug form written by this module, found without parsing."""
    m = _RAW_MARKER.search(raw or b"")
    return m.group(1).decode("ascii") if m else None


# ------------------------------------------------------------------ parse


def parse(raw, path="manifest"):
    """The Pod (a dict) a manifest's bytes hold, read as the kubelet reads it (see _podyaml)."""
    pod = _podyaml.load(raw, path)
    check_pod(pod, path)
    return pod


def check_pod(pod, path="manifest"):
    if not isinstance(pod, dict):
        raise KubedebugError("%s holds a %s, not a Pod mapping" % (path, type(pod).__name__), hint="A static-pod manifest is one Pod object")
    if pod.get("kind") != "Pod" or pod.get("apiVersion") != "v1":
        raise KubedebugError(
            "%s is apiVersion %r kind %r, not a v1 Pod" % (path, pod.get("apiVersion"), pod.get("kind")),
            hint="Static-pod manifests are 'apiVersion: v1' 'kind: Pod'",
        )
    if pod.get("metadata") is not None and not isinstance(pod["metadata"], dict):
        raise KubedebugError("%s: metadata is not a mapping" % path, hint="Fix the manifest; nothing was changed")
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers:
        raise KubedebugError("%s has no spec.containers" % path, hint="A Pod needs at least one container; nothing was changed")
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c.get("name"):
            raise KubedebugError("%s: spec.containers[%d] is not a container with a name" % (path, i), hint="Fix the manifest; nothing was changed")


def select_container(pod, name=None):
    """(index, container) of the container to debug."""
    containers = pod["spec"]["containers"]
    names = [c["name"] for c in containers]
    if name:
        if name not in names:
            raise KubedebugError("no container named %r in this pod (it has %s)" % (name, ", ".join(names)),
                                 hint="Set container to one of those names", containers=names)
        i = names.index(name)
        return i, containers[i]
    if len(containers) > 1:
        raise KubedebugError(
            "the pod has %d containers (%s); which one to debug?" % (len(containers), ", ".join(names)),
            hint="Set container to one of those names",
            containers=names,
        )
    return 0, containers[0]


def _str_list(c, key):
    v = c.get(key)
    if v is None or v == []:
        return None
    if not isinstance(v, list):
        raise KubedebugError("container %r: %s is not a list" % (c["name"], key), hint="Write %s as a YAML list of strings" % key)
    # A null element reaches the process as an empty string (the kubelet's JSON decoder leaves the string empty).
    return _argv.check_argv(["" if a is None else a for a in v], "container %r %s" % (c["name"], key))


def container_argv(c):
    """(command, args, argv) of a container; argv is None when the image's entrypoint is used."""
    command, args = _str_list(c, "command"), _str_list(c, "args")
    argv = (command or []) + (args or []) if command else None
    return command, args, argv


# ------------------------------------------------------------------- plan


def set_key(d, key, value):
    """Set d[key]; a new key goes to its alphabetical place when d's keys are sorted (kubeadm's order)."""
    if key in d or list(d) != sorted(d):
        d[key] = value
        return
    items = list(d.items()) + [(key, value)]
    d.clear()
    d.update(sorted(items))


def dict_at(d, key, what):
    v = d.get(key)
    if v is None:
        v = {}
        set_key(d, key, v)
    elif not isinstance(v, dict):
        raise KubedebugError("%s is not a mapping" % what, hint="Fix the manifest; nothing was changed")
    return v


def list_at(d, key, what):
    v = d.get(key)
    if v is None:
        v = []
        set_key(d, key, v)
    elif not isinstance(v, list):
        raise KubedebugError("%s is not a list" % what, hint="Fix the manifest; nothing was changed")
    return v


def seccomp_type(sc):
    if isinstance(sc, dict) and isinstance(sc.get("seccompProfile"), dict):
        return sc["seccompProfile"].get("type")
    return None


ANN_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
ANN_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"
ANN_RUNTIME_DEFAULT = ("runtime/default", "docker/default")
