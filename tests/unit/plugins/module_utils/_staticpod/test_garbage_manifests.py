"""Garbage in (issue 17): a kubeadm manifest with any one value replaced by any JSON value, or any bytes.
Property: static_pod_debug either succeeds (and restore then gives back the exact bytes) or fails with a
KubedebugError - never another exception - and then nothing in the manifest or backup directory changed."""

import copy
import os
import tempfile

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils import _staticpod as sp
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from tests.paths import TESTDATA

with open(os.path.join(TESTDATA, "staticpods", "kube-apiserver.yaml"), "rb") as _f:
    KUBEADM = yaml.safe_load(_f)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 40), 2 ** 40), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=12), st.sampled_from(["/kubedebug/bin", "dlv", "--", "SYS_PTRACE", "Unconfined", "RuntimeDefault"]))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=8)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(KUBEADM) if p]


@st.composite
def garbage(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    pod = copy.deepcopy(KUBEADM)
    for _edit in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        node = pod
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = draw(values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed the path
    return yaml.safe_dump(pod, allow_unicode=True).encode("utf-8")


def _tree(d):
    out = {}
    for root, _dirs, files in os.walk(d):
        for n in files:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(garbage(), st.sampled_from(["remove", "stretch", "keep"]), st.sampled_from(["auto", "unconfined", "keep"]))
def test_garbage_gives_a_clear_error_and_writes_nothing(raw, probes, seccomp):
    with tempfile.TemporaryDirectory() as d:
        mdir = os.path.join(d, "manifests")
        os.mkdir(mdir)
        path = os.path.join(mdir, "kube-apiserver.yaml")
        with open(path, "wb") as f:
            f.write(raw)
        p = dict(path=path, backup_dir=os.path.join(d, "backup"), mode="static", binary="/opt/kubedebug/kube-apiserver",
                 dlv_host_path="/opt/kubedebug/dlv", validate=False, probes=probes, seccomp=seccomp, listen="127.0.0.1:2345")
        before = _tree(d)
        try:
            sp.debug(p)
        except KubedebugError as e:
            assert e.msg and e.hint is not None
            assert _tree(d) == before, "a refused run changed files"
            return
        sp.restore(dict(p, state="restored"))
        with open(path, "rb") as f:
            assert f.read() == raw


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"- a\n- b\n", b"apiVersion: v1\nkind: Pod\nspec: 3\n"])
def test_examples_of_garbage(raw):
    test_garbage_gives_a_clear_error_and_writes_nothing.hypothesis.inner_test(raw, "remove", "auto")
