"""The kubelet's own reader accepts the debug forms and sees the same arguments.

tests/testdata/podcheck is built from the Kubernetes v1.20.2 source tree (with
``go build -overlay``: the tree is only read) and decodes a manifest exactly as
the kubelet's static-pod file source does: YAML to JSON (sigs.k8s.io/yaml, a
different YAML implementation from PyYAML), the API scheme's decoder,
``ValidatePodCreate``, conversion to v1. For every manifest the invariant is
checked in the kubelet's view: the arguments after dlv's ``--`` in the debug
form are the original container's argv minus argv[0] (plus
``--leader-elect=false`` when asked).

Needs the Kubernetes source tree (``KUBEDEBUG_K8S_SRC``, default
/var/cache/kubedebug/src/kubernetes-v1.20.2); skipped without it. The binary is
cached in ~/.cache/kubedebug/podcheck (first build about 1.5 min on 2 cores).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils import _staticpod as sp
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from tests.integration.conftest import ROOT, TESTDATA
from tests.toolchains import debian_go

K8S_SRC = os.environ.get("KUBEDEBUG_K8S_SRC", "/var/cache/kubedebug/src/kubernetes-v1.20.2")
FIXTURES = os.path.join(TESTDATA, "staticpods")
PODCHECK_SRC = os.path.join(TESTDATA, "podcheck", "main.go")


@pytest.fixture(scope="session")
def podcheck(tmp_path_factory):
    if not os.path.isfile(os.path.join(K8S_SRC, "pkg", "kubelet", "config", "common.go")):
        pytest.skip("no Kubernetes source tree at %s (set KUBEDEBUG_K8S_SRC)" % K8S_SRC)
    go = debian_go()  # the Go that builds the v1.20.2 tree (GOPATH mode, its vendor/), not PATH's
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout
    with open(PODCHECK_SRC, "rb") as f:
        key = hashlib.sha256(f.read() + os.path.realpath(K8S_SRC).encode() + version.encode()).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".cache", "kubedebug", "podcheck")
    out = os.path.join(cache, "podcheck-" + key)
    if os.path.exists(out):
        return out
    os.makedirs(cache, exist_ok=True)
    gopath = tmp_path_factory.mktemp("gopath")
    tree = gopath / "src" / "k8s.io" / "kubernetes"
    tree.parent.mkdir(parents=True)
    os.symlink(os.path.realpath(K8S_SRC), tree)
    overlay = gopath / "overlay.json"
    overlay.write_text(json.dumps({"Replace": {str(tree / "cmd" / "kubedebug-podcheck" / "main.go"): PODCHECK_SRC}}))
    tmp_out = str(gopath / "podcheck")
    # PWD keeps go inside GOPATH (through the symlink) instead of the resolved tree path.
    env = dict(os.environ, GO111MODULE="off", GOPATH=str(gopath), GOPROXY="off", CGO_ENABLED="0", GOFLAGS="", PWD=str(tree))
    subprocess.run([go, "build", "-overlay", str(overlay), "-o", tmp_out, "./cmd/kubedebug-podcheck"], cwd=str(tree), env=env, check=True)
    shutil.move(tmp_out, out)
    return out


def kubelet_view(podcheck, *paths):
    p = subprocess.run([podcheck] + [str(x) for x in paths], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in p.stdout.split("\n") if line]  # not splitlines(): U+0085 and U+2028 are inside values


def argv_of(c):
    return (c.get("command") or []) + (c.get("args") or [])


def debug_in(tmp_path, name, raw, **opts):
    mdir = tmp_path / "manifests"
    mdir.mkdir(exist_ok=True)
    path = mdir / name
    path.write_bytes(raw)
    p = dict(path=str(path), backup_dir=str(tmp_path / "backup"), mode="static", binary="/opt/kubedebug/" + name.split(".")[0],
             dlv_host_path="/opt/kubedebug/dlv", validate=False, listen="127.0.0.1:2345")
    p.update(opts)
    return path, sp.debug(p)


def read_fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def with_annotation_seccomp(raw):
    pod = yaml.safe_load(raw)
    pod["metadata"].setdefault("annotations", {})["seccomp.security.alpha.kubernetes.io/pod"] = "runtime/default"
    return yaml.safe_dump(pod).encode()


def with_args_only(raw):
    pod = yaml.safe_load(raw)
    c = pod["spec"]["containers"][0]
    c["args"] = c.pop("command")[1:]
    return yaml.safe_dump(pod).encode()


def with_hostile_args(raw):
    pod = yaml.safe_load(raw)
    pod["spec"]["containers"][0]["command"] += ["it's \"q\"", "$HOME ${X} $(id)", "%h", "", "ü ☃", "yes", "0x1F", "1:20", "~", "- x", "a: b", "#c"]
    return yaml.safe_dump(pod, allow_unicode=True).encode()


CASES = [
    ("kube-apiserver.yaml", lambda r: r, {}),
    ("kube-controller-manager.yaml", lambda r: r, {"leader_elect_false": True}),
    ("kube-scheduler.yaml", lambda r: r, {"leader_elect_false": True, "probes": "stretch"}),
    ("kube-scheduler-v1.25.yaml", lambda r: r, {}),
    ("kube-apiserver.yaml", with_annotation_seccomp, {}),
    ("kube-apiserver.yaml", with_args_only, {}),
    ("kube-apiserver.yaml", with_hostile_args, {}),
    ("kube-apiserver.yaml", lambda r: r.replace(b"\n", b"\r\n"), {}),
    ("kube-apiserver.yaml", lambda r: json.dumps(yaml.safe_load(r), indent=1).encode(), {}),
]


CASE_IDS = ["apiserver", "controller-manager", "scheduler", "scheduler-v1.25", "seccomp-annotation", "args-only", "hostile-args", "crlf", "json"]


@pytest.mark.parametrize("name, variant, opts", CASES, ids=CASE_IDS)
def test_kubelet_accepts_the_debug_form_with_the_same_arguments(tmp_path, podcheck, name, variant, opts):
    raw = variant(read_fixture(name))
    path, result = debug_in(tmp_path, name, raw, **opts)
    orig_file = tmp_path / "original"
    orig_file.write_bytes(raw)
    before, after = kubelet_view(podcheck, orig_file, path)
    assert "error" not in before, before
    assert "error" not in after, after["error"]
    c0, c1 = before["containers"][0], after["containers"][0]
    # What the kubelet runs in the debug form is what the module said it would write.
    assert argv_of(c1) == result["debug_argv"]
    dd = argv_of(c1).index("--") if "--" in argv_of(c1) else len(argv_of(c1)) - 1
    target = argv_of(c1)[dd + 1:]
    expected = argv_of(c0) if not c0.get("command") else argv_of(c0)[1:]
    if opts.get("leader_elect_false"):
        expected = [a if a != "--leader-elect=true" else "--leader-elect=false" for a in expected]
    assert target == expected
    assert "SYS_PTRACE" in c1["securityContext"]["capabilities"]["add"]
    mounts = {m["mountPath"]: m for m in c1["volumeMounts"]}
    assert mounts["/kubedebug/bin/dlv"]["readOnly"] is True
    vols = {v["name"]: v for v in after["volumes"]}
    assert vols["kubedebug-dlv"]["hostPath"] == {"path": "/opt/kubedebug/dlv", "type": "File"}
    if opts.get("probes") == "stretch":
        assert c1["livenessProbe"]["failureThreshold"] == 360
    else:
        assert not any(k in c1 for k in ("livenessProbe", "readinessProbe", "startupProbe"))
    if "seccomp" in [ch["change"] for ch in result["changes"]]:
        assert c1["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    assert after["annotations"][sp.ANN_SHA] == hashlib.sha256(raw).hexdigest()
    # Everything else the kubelet sees is unchanged.
    for k in ("image", "imagePullPolicy", "resources", "env", "workingDir"):
        assert c1.get(k) == c0.get(k)
    assert after["hostNetwork"] == before["hostNetwork"]


arg_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0\ufeff"), max_size=16),
    st.sampled_from(["y", "N", "yes", "off", "~", "null", "1e3", "0o17", "017", "0x1F", "1_000", "0b11", "1:20", "2021-01-01", ".inf",
                     "12", "-1", "+1", "1.5", "=", "<<", "--v=2", "a,b", "%h", "08", "0x1p3", "+inf", "-Infinity", "+nan", ".NaN", "1.",
                     ".5", "1__0", "0b", "0x", "-0o7", "1e", "e3", "Yes", "TRUE", "oN", "Null", "NULL", "1:0", "1:20:30.5", "-.inf"]),
)


def plain_block(pod, args):
    """Block YAML whose arguments are written unquoted wherever that is syntactically possible, as a human might."""
    text = sp.render_yaml(pod)
    lines = []
    for a in args:
        lines.append("    - " + (a if re.match(r"^[A-Za-z0-9_.+=,:%~<-]+$", a) and not a.startswith("-") else json.dumps(a)))
    marker = "    - kube-scheduler\n"
    head, tail = text.split(marker, 1)
    rest = tail.split("\n")
    # drop the arguments render_yaml wrote (they follow the marker, one per line, all starting with "    - ")
    i = 0
    while i < len(rest) and rest[i].startswith("    - "):
        i += 1
    return (head + marker + "\n".join(lines + rest[i:]) if lines else head + marker + "\n".join(rest[i:])).encode()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(args=st.lists(arg_text, max_size=6), style=st.sampled_from(["block", "flow", "json", "plain"]))
def test_module_reads_a_manifest_as_the_kubelet_does_and_keeps_its_arguments(tmp_path_factory, podcheck, args, style):
    """What the kubelet refuses, the module refuses; what the kubelet runs, the component gets under dlv, unchanged."""
    tmp = tmp_path_factory.mktemp("prop")
    pod = yaml.safe_load(read_fixture("kube-scheduler.yaml"))
    pod["spec"]["containers"][0]["command"] = ["kube-scheduler"] + args
    if style == "json":
        raw = json.dumps(pod, ensure_ascii=False).encode()
    elif style == "plain":
        pod["spec"]["containers"][0]["command"] = ["kube-scheduler"]
        raw = plain_block(pod, args)
    else:
        raw = yaml.safe_dump(pod, default_flow_style=(style == "flow"), allow_unicode=True).encode()
    orig_file = tmp / "original"
    orig_file.write_bytes(raw)
    (before,) = kubelet_view(podcheck, orig_file)
    try:
        path, result = debug_in(tmp, "kube-scheduler.yaml", raw)
    except KubedebugError as e:
        assert "error" in before, "the module refused what the kubelet runs: %s" % e
        return
    assert "error" not in before, "the module accepted what the kubelet refuses (%s)" % before["error"]
    kubelet_args = argv_of(before["containers"][0])[1:]
    (after,) = kubelet_view(podcheck, path)
    assert "error" not in after, after["error"]
    got = argv_of(after["containers"][0])
    assert got == result["debug_argv"]
    assert (got[got.index("--") + 1:] if kubelet_args else []) == kubelet_args
    assert "--" in got or not kubelet_args


def test_podcheck_rejects_what_the_kubelet_rejects(tmp_path, podcheck):
    """The checker is not a rubber stamp: an invalid pod and a non-string argument are refused."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: kube-system}\nspec:\n  containers:\n  - name: x\n    image: i\n"
                   "    volumeMounts: [{name: missing, mountPath: /m}]\n")
    nonstr = tmp_path / "nonstr.yaml"
    nonstr.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: kube-system}\nspec:\n  containers:\n  - name: x\n    image: i\n"
                      "    command: [x, yes]\n")
    a, b = kubelet_view(podcheck, bad, nonstr)
    assert "not found" in a["error"] or "volumeMounts" in a["error"]
    assert "error" in b
    assert os.path.isdir(ROOT)


def test_plain_scalar_table_matches_the_kubelets_reader(tmp_path, podcheck):
    """tests/testdata/go_yaml_scalars.json (used by the unit tests) is what the kubelet really reads."""
    with open(os.path.join(TESTDATA, "go_yaml_scalars.json"), encoding="utf-8") as f:
        table = json.load(f)
    text = read_fixture("kube-scheduler.yaml").decode()
    files = []
    for i, (scalar, _want) in enumerate(table):
        p = tmp_path / ("m%d.yaml" % i)
        p.write_text(text.replace("    - --port=0\n", "    - --port=0\n    - %s\n" % scalar))
        files.append(p)
    for (scalar, want), seen in zip(table, kubelet_view(podcheck, *files), strict=True):
        got = None if "error" in seen else seen["containers"][0]["command"][-1]
        assert got == want, (scalar, seen.get("error"))
