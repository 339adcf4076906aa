"""Hostile-but-valid manifests (issue 17): anchors and aliases, flow style, JSON, CRLF, comments, several
containers. Property: debug changes only the target container, the argv after ``--`` is the original's,
and restore gives back the exact bytes and mode."""

import copy
import json
import os
import stat
import tempfile

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils import _staticpod as sp

ARGS = st.lists(st.sampled_from(["--v=2", "--secure-port=6443", "--feature-gates=A=true,B=false", "it's \"q\"", "ünï ☃", "",
                                 "--etcd-servers=https://127.0.0.1:2379", "$(id) `id` ${PATH}", "#not-a-comment", "a: b"]),
                max_size=5)


@st.composite
def pods(draw):
    """A Pod dict whose mappings and lists may be shared (PyYAML writes shared objects as anchor + alias)."""
    n = draw(st.integers(1, 3))
    target = draw(st.integers(0, n - 1))
    pool = {
        "sc": {"seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"drop": ["NET_RAW"]}},
        "mounts": [{"name": "certs", "mountPath": "/etc/k", "readOnly": True}],
        "probe": {"httpGet": {"path": "/livez", "port": 6443}, "periodSeconds": 10, "failureThreshold": 8},
        "env": [{"name": "A", "value": "1"}],
    }
    share = draw(st.fixed_dictionaries({k: st.booleans() for k in pool}))

    def part(key):
        return pool[key] if share[key] else copy.deepcopy(pool[key])

    containers = []
    for i in range(n):
        c = {"name": "c%d" % i, "command": ["kube-apiserver" if i == target else "side%d" % i] + draw(ARGS)}
        if draw(st.booleans()):
            c["securityContext"] = part("sc")
        if draw(st.booleans()):
            c["volumeMounts"] = part("mounts")
        if draw(st.booleans()):
            c["livenessProbe"] = part("probe")
            if draw(st.booleans()):
                c["startupProbe"] = part("probe")
        if draw(st.booleans()):
            c["env"] = part("env")
        containers.append(c)
    spec = {"hostNetwork": True, "containers": containers, "volumes": [{"name": "certs", "hostPath": {"path": "/etc/k"}}]}
    if draw(st.booleans()):
        spec["securityContext"] = part("sc")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "kube-apiserver", "namespace": "kube-system"}, "spec": spec}
    return pod, "c%d" % target


@st.composite
def manifests(draw):
    pod, target = draw(pods())
    form = draw(st.sampled_from(["block", "flow", "json"]))
    if form == "json":
        text = json.dumps(pod, indent=draw(st.sampled_from([None, 2])), ensure_ascii=draw(st.booleans()))
    else:
        # flow style below the top level: a file that starts with "{" is JSON to the kubelet (and is refused as such)
        text = yaml.safe_dump(pod, default_flow_style=None if form == "flow" else False, allow_unicode=True,
                              sort_keys=draw(st.booleans()), width=1000)
        if form == "block" and draw(st.booleans()):
            text = "# written by hand\n" + text.replace("\nspec:\n", "\n# the spec\nspec:  # really\n")
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8"), target


def argv(c):
    return (c.get("command") or []) + (c.get("args") or [])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(manifests(), st.sampled_from([0o600, 0o644]))
def test_debug_changes_only_the_target_and_restore_is_byte_exact(manifest, mode):
    raw, target = manifest
    original = sp.parse(raw)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "manifests", "kube-apiserver.yaml")
        os.mkdir(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(raw)
        os.chmod(path, mode)
        p = dict(path=path, backup_dir=os.path.join(d, "backup"), mode="static", binary="/opt/kubedebug/kube-apiserver", container=target,
                 dlv_host_path="/opt/kubedebug/dlv", validate=False, probes="remove", seccomp="auto", listen="127.0.0.1:2345")
        sp.debug(p)
        with open(path, "rb") as f:
            debug = sp.parse(f.read())
        for before, after in zip(original["spec"]["containers"], debug["spec"]["containers"], strict=True):
            if before["name"] != target:
                assert after == before  # a sidecar sharing the target's objects through an alias is untouched
            else:
                a = argv(after)
                assert (a[a.index("--") + 1:] if "--" in a else []) == argv(before)[1:]
                assert a[0] == "/kubedebug/bin/dlv" and ("--" in a) == bool(argv(before)[1:])
        assert debug["spec"].get("securityContext") == original["spec"].get("securityContext")
        assert debug["spec"]["volumes"][:1] == original["spec"]["volumes"]
        sp.restore(dict(p, state="restored"))
        with open(path, "rb") as f:
            assert f.read() == raw
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
        assert [n for n in os.listdir(p["backup_dir"]) if not n.startswith(".")] == []  # (the lock file stays)
