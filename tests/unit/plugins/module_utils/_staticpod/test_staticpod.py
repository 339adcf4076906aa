"""Static-pod manifest rewrite/restore: the plan, the YAML writer, the backup state machine, hostile manifests."""

import copy
import hashlib
import json
import os
import shutil
import stat

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils import _staticpod as sp
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._staticpod import podyaml as _podyaml
from tests.paths import ROOT

FIXTURES = os.path.join(ROOT, "tests", "testdata", "staticpods")
COMPONENTS = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-scheduler-v1.25"]


def fixture_bytes(name):
    with open(os.path.join(FIXTURES, name + ".yaml"), "rb") as f:
        return f.read()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def after_dashdash(c):
    argv = (c.get("command") or []) + (c.get("args") or [])
    return argv[argv.index("--") + 1:] if "--" in argv else []


class Lab:
    """A manifest directory and a backup directory under tmp_path."""

    def __init__(self, tmp_path, name="kube-apiserver.yaml", content=None, mode=0o600):
        self.mdir = tmp_path / "manifests"
        self.bdir = tmp_path / "backup"
        self.mdir.mkdir()
        self.path = self.mdir / name
        self.name = name
        if content is not None:
            self.path.write_bytes(content)
            os.chmod(self.path, mode)
        self.original = content

    def params(self, **kw):
        p = dict(
            path=str(self.path), backup_dir=str(self.bdir), mode="static", binary="/opt/kubedebug/kube-apiserver",
            dlv_host_path="/opt/kubedebug/dlv", validate=False, probes="remove", seccomp="auto", listen="127.0.0.1:2345",
        )
        p.update(kw)
        return p

    def visible(self):
        return sorted(n for n in os.listdir(self.mdir) if not n.startswith("."))

    def hidden(self):
        return sorted(n for n in os.listdir(self.mdir) if n.startswith("."))

    def backups(self):
        return sorted(n for n in os.listdir(self.bdir) if not n.startswith(".")) if self.bdir.exists() else []

    def read(self):
        return self.path.read_bytes()


# ------------------------------------------------------------- YAML writer

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")),
    st.sampled_from(["yes", "No", "on", "OFF", "y", "n", "~", "null", "1:20", "0x1F", "1_000", "2021-01-01", ".inf", "=", "<<",
                     "- x", "a: b", "#c", "x #y", "--", "-", "a:", "!tag", "&a", "*a", "|", ">", "%x", "@x", "`x", "'q'", '"q"',
                     "\u2028", "\x85", "\ufeff", "250m", "127.0.0.1:2345", "/livez", "*,bootstrapsigner,tokencleaner"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8).filter(lambda s: "\0" not in s), children, max_size=4)),
    max_leaves=25,
)


def same(a, b):
    """Equal with types: True is not 1, 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=10).filter(lambda s: "\0" not in s), json_values, max_size=6))
def test_render_yaml_round_trips_through_pyyaml_and_our_reader(doc):
    text = sp.render_yaml(doc, ["a comment\nwith line breaks\x85\u2028\u2029 in it"])
    assert same(yaml.safe_load(text), doc), text
    assert same(yaml.load(text, Loader=_podyaml._Loader), doc), text  # noqa: S506 - a SafeLoader


def test_render_yaml_layout_is_kubeadm_like():
    text = sp.render_yaml({"spec": {"containers": [{"command": ["kube-apiserver", "--x=1"], "name": "a"}], "hostNetwork": True}, "status": {}})
    assert text == (
        "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --x=1\n    name: a\n  hostNetwork: true\nstatus: {}\n"
    )


@pytest.mark.parametrize("value", ["yes", "on", "null", "2345", "1.20", "--", "a: b", "x #y", "", " lead", "trail:", "it's", 'say "hi"', "$HOME",
                                   "--v=2\n", "A\n", "x\r"])
def test_strings_that_could_read_as_something_else_are_quoted(value):
    line = sp.render_yaml({"k": value}).rstrip("\n")
    assert line.startswith('k: "'), line
    assert yaml.safe_load(line)["k"] == value


# --------------------------------------------------------------- the plan


@pytest.mark.parametrize("component", COMPONENTS)
def test_kubeadm_manifests_plan(component):
    raw = fixture_bytes(component)
    pod = sp.parse(raw)
    orig_c = pod["spec"]["containers"][0]
    plan = sp.plan_debug(pod, dict(binary="/opt/k/" + orig_c["name"], dlv_host_path="/usr/local/bin/dlv"), sha(raw), "/var/lib/kubedebug/static-pods/x")
    new = plan["pod"]
    c = new["spec"]["containers"][0]
    # The component gets exactly its original argv minus argv[0].
    assert after_dashdash(c) == orig_c["command"][1:]
    assert c["command"][:3] == ["/kubedebug/bin/dlv", "exec", "/kubedebug/bin/" + orig_c["name"]]
    assert c["command"][3:] == ["--headless", "--listen=127.0.0.1:2345", "--api-version=2", "--accept-multiclient", "--continue", "--"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert probe not in c
    assert c["securityContext"]["capabilities"]["add"] == ["SYS_PTRACE"]
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in new["spec"]["volumes"]}
    assert mounts["kubedebug-dlv"] == {"mountPath": "/kubedebug/bin/dlv", "name": "kubedebug-dlv", "readOnly": True}
    assert vols["kubedebug-dlv"]["hostPath"] == {"path": "/usr/local/bin/dlv", "type": "File"}
    assert vols["kubedebug-debug-binary"]["hostPath"]["path"] == "/opt/k/" + orig_c["name"]
    assert mounts["kubedebug-debug-binary"]["readOnly"] is True
    ann = new["metadata"]["annotations"]
    assert ann[sp.ANN_SHA] == sha(raw) and ann[sp.ANN_LISTEN] == "127.0.0.1:2345"
    names = [ch["change"] for ch in plan["changes"]]
    assert names[0] == "command" and "sys-ptrace" in names and "annotations" in names
    probes_before = [k for k in ("livenessProbe", "readinessProbe", "startupProbe") if k in orig_c]
    assert sorted(n for n in names if n.endswith("-probe")) == sorted(
        {"livenessProbe": "liveness-probe", "readinessProbe": "readiness-probe", "startupProbe": "startup-probe"}[k] for k in probes_before)
    if component == "kube-scheduler-v1.25":
        # Pod-level RuntimeDefault: only the debugged container becomes Unconfined.
        assert "seccomp" in names
        assert c["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
        assert new["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    else:
        assert "seccomp" not in names and "seccompProfile" not in c["securityContext"]
    # Nothing else in the pod changed.
    for k in ("image", "imagePullPolicy", "name", "resources"):
        assert c[k] == orig_c[k]
    assert new["spec"]["hostNetwork"] is True
    assert pod == sp.parse(raw), "plan_debug must not modify its input"
    # The rendered debug form reads back as the planned pod.
    text = sp.render_yaml(new)
    assert sp.parse(text.encode()) == new


def test_leader_elect_false_in_place_for_scheduler_and_controller_manager():
    for component in ("kube-scheduler", "kube-controller-manager"):
        raw = fixture_bytes(component)
        pod = sp.parse(raw)
        orig = pod["spec"]["containers"][0]["command"][1:]
        plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", leader_elect_false=True), sha(raw), "/bk")
        target = after_dashdash(plan["pod"]["spec"]["containers"][0])
        assert target == [a if a != "--leader-elect=true" else "--leader-elect=false" for a in orig]
        ch = [c for c in plan["changes"] if c["change"] == "leader-elect"]
        assert ch and ch[0]["before"] == ["true"]


def test_leader_elect_false_refused_for_apiserver():
    raw = fixture_bytes("kube-apiserver")
    with pytest.raises(KubedebugError) as e:
        sp.plan_debug(sp.parse(raw), dict(binary="/b/x", dlv_host_path="/b/dlv", leader_elect_false=True), sha(raw), "/bk")
    assert "no --leader-elect flag" in e.value.msg and "leave leader_elect_false off" in e.value.hint


def test_leader_elect_space_separated_bool_becomes_equals_false():
    pod = sp.parse(json.dumps(minimal_pod(command=["kube-scheduler", "--leader-elect", "false", "--v=2"])).encode())
    plan = sp.plan_debug(pod, dict(binary="/b/kube-scheduler", dlv_host_path="/b/dlv", leader_elect_false=True), "0" * 64, "/bk")
    # pflag reads "--leader-elect false" as --leader-elect=true plus a positional: the flag is rewritten in place.
    assert after_dashdash(plan["pod"]["spec"]["containers"][0]) == ["--leader-elect=false", "false", "--v=2"]


def test_probes_stretch_keeps_probes_and_raises_failure_threshold():
    raw = fixture_bytes("kube-apiserver")
    plan = sp.plan_debug(sp.parse(raw), dict(binary="/b/x", dlv_host_path="/b/dlv", probes="stretch", probe_stretch_seconds=600), sha(raw), "/bk")
    c = plan["pod"]["spec"]["containers"][0]
    assert c["livenessProbe"]["failureThreshold"] == 60  # 600 s / period 10
    assert c["readinessProbe"]["failureThreshold"] == 600  # period 1
    assert c["startupProbe"]["failureThreshold"] == 60
    assert c["livenessProbe"]["httpGet"]["port"] == 6443


def test_probes_keep():
    raw = fixture_bytes("kube-apiserver")
    plan = sp.plan_debug(sp.parse(raw), dict(binary="/b/x", dlv_host_path="/b/dlv", probes="keep"), sha(raw), "/bk")
    assert not [c for c in plan["changes"] if c["change"].endswith("-probe")]


def minimal_pod(command=None, args=None, containers=None, **spec):
    c = {"name": "comp", "image": "img"}
    if command is not None:
        c["command"] = command
    if args is not None:
        c["args"] = args
    s = dict(spec, containers=containers or [c])
    s.setdefault("hostNetwork", True)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "comp", "namespace": "kube-system"}, "spec": s}


arg_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    command=st.one_of(st.none(), st.lists(arg_text, min_size=1, max_size=5)),
    args=st.one_of(st.none(), st.lists(arg_text, max_size=5)),
    style=st.sampled_from(["ours", "block", "flow", "json"]),
)
def test_rewrite_passes_every_argument_unchanged(command, args, style):
    # a container that already runs dlv* is refused (test_hand_made_dlv_command_is_refused), not rewritten
    assume(not command or not os.path.basename(command[0]).startswith("dlv"))
    pod = minimal_pod(command=command, args=args)
    if style == "ours":
        raw = sp.render_yaml(pod).encode()
    elif style == "json":
        raw = json.dumps(pod, ensure_ascii=False).encode()
    else:
        # "flow": flow collections inside a block document (a "{" first would make it JSON to the kubelet).
        raw = yaml.safe_dump(pod, default_flow_style=None if style == "flow" else False, allow_unicode=True).encode()
        assume(yaml.safe_load(raw) == pod)  # PyYAML's own emitter does not round-trip every character (U+0085)
        # PyYAML writes `y` or `1e3` unquoted; the kubelet (and this module) read those as a bool or a number and
        # refuse the manifest. tests/integration/test_static_pod_kubelet.py checks that against the kubelet's reader.
        try:
            assume(sp.parse(raw) == pod)
        except KubedebugError:
            assume(False)
    parsed = sp.parse(raw)
    assert parsed == pod
    plan = sp.plan_debug(parsed, dict(binary="/b/comp", dlv_host_path="/b/dlv"), sha(raw), "/bk")
    debug_raw = sp.render_yaml(plan["pod"], ["header"]).encode()
    c = sp.parse(debug_raw)["spec"]["containers"][0]
    expected = (command[1:] if command else []) + (args or [])
    assert after_dashdash(c) == expected
    assert plan["info"]["target_args"] == expected


# ----------------------------------------------------------- the sessions


@pytest.fixture
def lab(tmp_path):
    return Lab(tmp_path, content=fixture_bytes("kube-apiserver"))


def test_debug_then_restore_byte_exact_with_mode(lab):
    os.chmod(lab.path, 0o600)
    r = sp.debug(lab.params())
    assert r["changed"] and r["steps"][-1] == "done"
    assert lab.visible() == ["kube-apiserver.yaml"] and lab.hidden() == []
    assert sp.raw_marker(lab.read()) == sha(lab.original)
    assert stat.S_IMODE(os.stat(lab.path).st_mode) == 0o600
    assert lab.backups() == ["kube-apiserver.yaml", "kube-apiserver.yaml.kubedebug.json", "kube-apiserver.yaml.sha256"]
    assert (lab.bdir / "kube-apiserver.yaml").read_bytes() == lab.original
    assert (lab.bdir / "kube-apiserver.yaml.sha256").read_text() == "%s  kube-apiserver.yaml\n" % sha(lab.original)
    debug_bytes = lab.read()
    again = sp.debug(lab.params())
    assert again["changed"] is False and lab.read() == debug_bytes
    assert again["steps"] == [] and sorted(os.listdir(lab.bdir)) == [".kube-apiserver.yaml.lock"] + lab.backups()
    r = sp.restore(lab.params())
    assert r["changed"] and lab.read() == lab.original
    assert stat.S_IMODE(os.stat(lab.path).st_mode) == 0o600
    assert lab.backups() == []
    assert sp.restore(lab.params())["changed"] is False
    assert lab.read() == lab.original


def test_debug_with_other_options_rerenders_from_the_original(lab):
    sp.debug(lab.params())
    first = lab.read()
    r = sp.debug(lab.params(listen="127.0.0.1:2399", probes="keep"))
    assert r["changed"]
    second = lab.read()
    assert second != first and b"--listen=127.0.0.1:2399" in second and b"livenessProbe" in second
    assert (lab.bdir / "kube-apiserver.yaml").read_bytes() == lab.original, "the backup stays the original"
    rec = json.loads((lab.bdir / "kube-apiserver.yaml.kubedebug.json").read_text())
    assert rec["debug_sha256"] == [sha(first), sha(second)]
    assert sp.restore(lab.params())["changed"] and lab.read() == lab.original


def test_check_mode_writes_nothing(lab):
    r = sp.debug(lab.params(), check_mode=True)
    assert r["changed"] and r["diff_data"]["before"] == lab.original.decode() and "dlv" in r["diff_data"]["after"]
    assert lab.read() == lab.original and not lab.bdir.exists()
    sp.debug(lab.params())
    r = sp.restore(lab.params(), check_mode=True)
    assert r["changed"] and r["diff_data"]["after"] == lab.original.decode()
    assert sp.raw_marker(lab.read()) and lab.backups()


def test_crlf_manifest(tmp_path):
    raw = fixture_bytes("kube-apiserver").replace(b"\n", b"\r\n")
    lab = Lab(tmp_path, content=raw)
    r = sp.debug(lab.params())
    c = sp.parse(lab.read())["spec"]["containers"][0]
    assert after_dashdash(c) == sp.parse(raw)["spec"]["containers"][0]["command"][1:]
    assert not any("\r" in a for a in c["args"])
    assert r["changed"] and sp.restore(lab.params())["changed"] and lab.read() == raw


def test_json_manifest_without_pyyaml(tmp_path, monkeypatch):
    pod = sp.parse(fixture_bytes("kube-scheduler"))
    raw = json.dumps(pod, indent=2).encode()
    lab = Lab(tmp_path, name="kube-scheduler.json", content=raw)
    monkeypatch.setattr(_podyaml, "yaml", None)
    r = sp.debug(lab.params(binary="/b/kube-scheduler"))
    assert r["changed"] and after_dashdash(json_or_yaml(lab.read())["spec"]["containers"][0]) == pod["spec"]["containers"][0]["command"][1:]
    assert sp.debug(lab.params(binary="/b/kube-scheduler"))["changed"] is False
    assert sp.restore(lab.params())["changed"] and lab.read() == raw


def json_or_yaml(raw):
    return yaml.safe_load(raw)


def test_yaml_without_pyyaml_fails_naming_the_fix_and_restore_still_works(lab, monkeypatch):
    sp.debug(lab.params())
    monkeypatch.setattr(_podyaml, "yaml", None)
    r = sp.restore(lab.params())
    assert r["changed"] and lab.read() == lab.original
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "needs PyYAML" in e.value.msg and "python3-yaml" in e.value.hint
    assert lab.read() == lab.original and lab.backups() == []


def assert_untouched(lab):
    assert lab.read() == lab.original
    assert lab.visible() == [lab.name] and lab.hidden() == []
    assert lab.backups() == []


@pytest.mark.parametrize(
    "content, msg",
    [
        (b"apiVersion: v1\nkind: Pod\nspec: [unclosed\n", "is not valid YAML"),
        (b"\tthis: is: not yaml\n", "is not valid YAML"),
        (b"{not json", "starts with '{' but is not valid JSON"),
        (b"{apiVersion: v1, kind: Pod}", "starts with '{' but is not valid JSON"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: [x, y]\n", "is bool, not a string"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: [x, 1e3]\n", "is float, not a string"),
        (b'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: [x, "\\ud83d\\ude00"]\n', "UTF-16 surrogate"),
        (b"", "is empty"),
        (b"# only a comment\n", "holds 0 YAML documents"),
        (b"just a string\n", "holds a str, not a Pod mapping"),
        (b"- a\n- b\n", "holds a list, not a Pod mapping"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers: []\n", "has no spec.containers"),
        (b"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "has no spec.containers"),
        (b"apiVersion: v1\nkind: Deployment\nspec: {}\n", "not a v1 Pod"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: x\n", "is not a container with a name"),
        (b"apiVersion: v1\nkind: Pod\nkind: Pod\nspec: {}\n", "duplicate key 'kind'"),
        (b'{"apiVersion": "v1", "kind": "Pod", "kind": "Pod"}', "duplicate key"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: [x, !!binary aGk=]\n", "!!binary"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: [x, --port, 8080]\n", "is int, not a string"),
        (b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: x --y\n", "command is not a list"),
        (b"\xff\xfeapiVersion: v1\n", "is not UTF-8"),
        (b"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a, command: [a]}]}\n---\n"
         b"apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: b, command: [b]}]}\n", "holds 2 YAML documents"),
        (b"a: &a [*a]\n", "YAML"),
    ],
)
def test_hostile_manifests_fail_clearly_and_touch_nothing(tmp_path, content, msg):
    lab = Lab(tmp_path, content=content)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert msg in str(e.value), str(e.value)
    assert_untouched(lab)
    with pytest.raises(KubedebugError):
        sp.debug(lab.params(mode="host"))
    assert_untouched(lab)


def test_several_containers_pick_by_name(tmp_path):
    side = {"name": "sidecar", "image": "busybox", "command": ["sleep", "inf"], "livenessProbe": {"exec": {"command": ["true"]}}}
    main = {"name": "kube-apiserver", "image": "k", "command": ["kube-apiserver", "--v=2"], "livenessProbe": {"tcpSocket": {"port": 6443}}}
    raw = yaml.safe_dump(minimal_pod(containers=[side, main])).encode()
    lab = Lab(tmp_path, content=raw)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "2 containers (sidecar, kube-apiserver)" in e.value.msg and e.value.details["containers"] == ["sidecar", "kube-apiserver"]
    assert_untouched(lab)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(container="nope"))
    assert "no container named 'nope'" in e.value.msg
    r = sp.debug(lab.params(container="kube-apiserver"))
    assert r["container"] == "kube-apiserver" and r["container_index"] == 1
    pod = sp.parse(lab.read())
    assert pod["spec"]["containers"][0] == side, "the other container is untouched"
    assert after_dashdash(pod["spec"]["containers"][1]) == ["--v=2"]
    assert sp.restore(lab.params())["changed"] and lab.read() == raw


def test_args_only_container_uses_args_unchanged(tmp_path):
    args = ["--config=/etc/x.yaml", "it's \"quoted\"", "$HOME and ${PATH}", "$(echo pwned)", "%h%%", "ünïcödé ☃", "", "tab\there", "new\nline"]
    raw = yaml.safe_dump(minimal_pod(args=args), allow_unicode=True).encode()
    lab = Lab(tmp_path, content=raw)
    r = sp.debug(lab.params(binary="/b/comp"))
    assert any("no command" in w for w in r["warnings"])
    c = sp.parse(lab.read())["spec"]["containers"][0]
    assert after_dashdash(c) == args and c["args"] == args
    assert r["original_argv"] is None and r["original_args"] == args
    assert sp.restore(lab.params())["changed"] and lab.read() == raw


def test_command_without_arguments_gets_no_double_dash(tmp_path):
    raw = yaml.safe_dump(minimal_pod(command=["kube-apiserver"])).encode()
    lab = Lab(tmp_path, content=raw)
    sp.debug(lab.params())
    c = sp.parse(lab.read())["spec"]["containers"][0]
    assert "--" not in c["command"] and "args" not in c


def test_already_debug_form_without_backup_fails(lab, tmp_path):
    sp.debug(lab.params())
    debug_bytes = lab.read()
    other = tmp_path / "elsewhere"
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(backup_dir=str(other)))
    assert "already in debug form" in e.value.msg and "backup_dir of the earlier session" in e.value.hint
    with pytest.raises(KubedebugError) as e:
        sp.restore(lab.params(backup_dir=str(other)))
    assert "holds no backup" in e.value.msg
    assert lab.read() == debug_bytes and not other.exists()


def test_hand_made_dlv_manifest_is_refused(tmp_path):
    raw = yaml.safe_dump(minimal_pod(command=["/usr/bin/dlv", "exec", "/usr/local/bin/kube-apiserver", "--headless", "--", "--v=2"])).encode()
    lab = Lab(tmp_path, content=raw)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "already runs /usr/bin/dlv" in e.value.msg and "by hand" in e.value.hint
    assert_untouched(lab)


def test_debug_form_from_an_older_run_is_rerendered_from_the_backup(lab):
    """An older run's debug form (other header, other layout) is recognised by its record and replaced."""
    sp.debug(lab.params())
    rec_path = lab.bdir / "kube-apiserver.yaml.kubedebug.json"
    older = b"# written by an older kubedebug\n" + json.dumps(sp.parse(lab.read())).encode()
    rec = json.loads(rec_path.read_text())
    rec["debug_sha256"] = [sha(older)]
    rec_path.write_text(json.dumps(rec))
    lab.path.write_bytes(older)
    r = sp.debug(lab.params())
    assert r["changed"] and lab.read() != older and sp.raw_marker(lab.read()) == sha(lab.original)
    assert sp.restore(lab.params())["changed"] and lab.read() == lab.original


@pytest.mark.parametrize("tamper", ["backup", "sha256"])
def test_backup_whose_sha256_no_longer_matches(lab, tamper):
    sp.debug(lab.params())
    debug_bytes = lab.read()
    if tamper == "backup":
        (lab.bdir / "kube-apiserver.yaml").write_bytes(lab.original + b"# changed\n")
    else:
        (lab.bdir / "kube-apiserver.yaml.sha256").write_text("%s  kube-apiserver.yaml\n" % ("0" * 64))
    before = {n: (lab.bdir / n).read_bytes() for n in lab.backups()}
    for fn in (sp.restore, sp.debug):
        with pytest.raises(KubedebugError) as e:
            fn(lab.params())
        assert "no longer matches" in e.value.msg and "nothing was changed" in e.value.hint
        assert e.value.details["backup"].endswith("kube-apiserver.yaml")
    assert lab.read() == debug_bytes
    assert {n: (lab.bdir / n).read_bytes() for n in lab.backups()} == before


def test_stale_backup_of_a_different_original_is_never_overwritten(lab):
    sp.debug(lab.params())
    sp.restore(lab.params())
    sp.debug(lab.params())
    # kubeadm upgrade rewrites the manifest while the debug session's backup is still there
    upgraded = lab.original.replace(b"v1.20.2", b"v1.20.15")
    lab.path.write_bytes(upgraded)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "differs from the backup" in e.value.msg and "move" in e.value.hint
    with pytest.raises(KubedebugError) as e:
        sp.restore(lab.params())
    assert "neither the original nor the debug form" in e.value.msg and "force: true" in e.value.hint
    assert lab.read() == upgraded and (lab.bdir / "kube-apiserver.yaml").read_bytes() == lab.original


def test_forced_restore_keeps_the_edited_manifest(lab):
    sp.debug(lab.params())
    edited = lab.read() + b"# edited\n"
    lab.path.write_bytes(edited)
    with pytest.raises(KubedebugError) as e:
        sp.restore(lab.params())
    assert "edited after kubedebug.lab wrote it" in e.value.msg
    r = sp.restore(lab.params(force=True))
    assert lab.read() == lab.original
    with open(r["replaced_file"], "rb") as f:
        assert f.read() == edited
    assert os.path.dirname(r["replaced_file"]) == str(lab.bdir)


def test_restore_when_the_manifest_was_deleted(lab):
    sp.debug(lab.params())
    os.unlink(lab.path)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "run state=restored" in e.value.hint.lower()
    assert sp.restore(lab.params())["changed"] and lab.read() == lab.original


def test_backup_dir_inside_the_manifest_dir_is_refused(lab):
    for bdir in (lab.mdir, lab.mdir / "backups"):
        with pytest.raises(KubedebugError) as e:
            sp.debug(lab.params(backup_dir=str(bdir)))
        assert "inside the manifest directory" in e.value.msg and "136962" in e.value.hint
    assert_untouched(lab)


def test_symlinked_manifest_is_refused(tmp_path):
    lab = Lab(tmp_path)
    real = tmp_path / "real.yaml"
    real.write_bytes(fixture_bytes("kube-apiserver"))
    os.symlink(real, lab.path)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "symbolic link" in e.value.msg
    assert os.path.islink(lab.path)


def test_missing_manifest(tmp_path):
    lab = Lab(tmp_path)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "no static-pod manifest" in e.value.msg
    with pytest.raises(KubedebugError) as e:
        sp.restore(lab.params())
    assert "nothing to restore from" in e.value.msg


def test_copies_inside_the_manifest_dir_are_reported(lab):
    shutil.copy(lab.path, lab.mdir / "kube-apiserver.yaml.old")
    r = sp.debug(lab.params())
    assert any("kube-apiserver.yaml.old" in w and "136962" in w for w in r["warnings"])
    assert (lab.mdir / "kube-apiserver.yaml.old").read_bytes() == lab.original, "never touched"


def test_two_components_on_one_port_are_refused(tmp_path):
    lab = Lab(tmp_path, content=fixture_bytes("kube-apiserver"))
    sched = lab.mdir / "kube-scheduler.yaml"
    sched.write_bytes(fixture_bytes("kube-scheduler"))
    sp.debug(lab.params())
    p = lab.params(path=str(sched), binary="/b/kube-scheduler")
    with pytest.raises(KubedebugError) as e:
        sp.debug(p)
    assert "already in debug form with dlv on 127.0.0.1:2345" in e.value.msg
    assert sp.debug(dict(p, listen="127.0.0.1:2346"))["changed"]


def test_seccomp_annotations_and_fields():
    ann = {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}
    pod = minimal_pod(command=["kube-apiserver"])
    pod["metadata"]["annotations"] = ann
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    new = plan["pod"]
    assert new["metadata"]["annotations"]["container.seccomp.security.alpha.kubernetes.io/comp"] == "unconfined"
    assert new["metadata"]["annotations"]["seccomp.security.alpha.kubernetes.io/pod"] == "runtime/default"
    assert new["spec"]["containers"][0]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    # Localhost profiles are left alone (auto), with a warning; unconfined overrides; keep keeps.
    pod = minimal_pod(command=["x"], securityContext={"seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}})
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert "seccompProfile" not in plan["pod"]["spec"]["containers"][0]["securityContext"]
    assert any("Localhost" in w for w in plan["warnings"])
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", seccomp="unconfined"), "0" * 64, "/bk")
    assert plan["pod"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    pod = minimal_pod(command=["x"], securityContext={"seccompProfile": {"type": "RuntimeDefault"}})
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", seccomp="keep"), "0" * 64, "/bk")
    assert "seccomp" not in [c["change"] for c in plan["changes"]]


def test_capabilities_drop_and_privileged():
    c = {"name": "comp", "image": "i", "command": ["x"], "securityContext": {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}
    plan = sp.plan_debug(minimal_pod(containers=[c]), dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    caps = plan["pod"]["spec"]["containers"][0]["securityContext"]["capabilities"]
    assert caps == {"add": ["NET_BIND_SERVICE", "SYS_PTRACE"], "drop": ["ALL"]}
    c = dict(c, securityContext={"capabilities": {"drop": ["SYS_PTRACE", "NET_RAW"]}})
    plan = sp.plan_debug(minimal_pod(containers=[c]), dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert plan["pod"]["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] == ["NET_RAW"]
    c = dict(c, securityContext={"privileged": True})
    plan = sp.plan_debug(minimal_pod(containers=[c]), dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert plan["pod"]["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert any("privileged" in w for w in plan["warnings"])


def test_conflicting_mounts_and_volume_names():
    c = {"name": "comp", "image": "i", "command": ["x"], "volumeMounts": [{"name": "v", "mountPath": "/kubedebug"}]}
    with pytest.raises(KubedebugError) as e:
        sp.plan_debug(minimal_pod(containers=[c]), dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert "overlaps the existing mount" in e.value.msg
    pod = minimal_pod(command=["x"], volumes=[{"name": "kubedebug-dlv", "emptyDir": {}}])
    with pytest.raises(KubedebugError) as e:
        sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert "already has a volume named kubedebug-dlv" in e.value.msg


def test_network_listen_and_pod_network_warn():
    pod = minimal_pod(command=["x", "--v=1"], hostNetwork=False)
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", listen="0.0.0.0:2345"), "0" * 64, "/bk")
    assert plan["info"]["exposure"] == "network"
    assert any("no authentication" in w for w in plan["warnings"])
    assert any("not on the host network" in w for w in plan["warnings"])


# -------------------------------------------------------------- host mode


def test_host_mode_moves_out_and_back(lab):
    r = sp.debug(lab.params(mode="host"))
    assert r["changed"] and r["original_argv"][0] == "kube-apiserver" and r["container_spec"]["name"] == "kube-apiserver"
    assert lab.visible() == [] and lab.hidden() == []
    assert (lab.bdir / "kube-apiserver.yaml").read_bytes() == lab.original
    again = sp.debug(lab.params(mode="host"))
    assert again["changed"] is False and again["original_argv"] == r["original_argv"]
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params())
    assert "mode=host moved it out" in e.value.msg
    assert sp.restore(lab.params())["changed"] and lab.read() == lab.original
    assert stat.S_IMODE(os.stat(lab.path).st_mode) == 0o600
    assert lab.backups() == [] and sp.restore(lab.params())["changed"] is False


def test_host_mode_refuses_a_static_debug_form(lab):
    sp.debug(lab.params())
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(mode="host"))
    assert "static-pod debug form" in e.value.msg


# ------------------------------------------------------ interrupted runs


class Crash(BaseException):
    pass


def crash_at(target):
    def hook(step):
        if step == target:
            raise Crash(step)
    return hook


def steps_of(lab, fn, **kw):
    return fn(lab.params(**kw))["steps"]


@pytest.mark.parametrize("mode", ["static", "host"])
def test_interrupted_at_every_step_recovers(tmp_path, mode):
    """In-process variant of the kill -9 test (tests/integration/test_static_pod_faults.py kills for real)."""
    (tmp_path / "probe").mkdir()
    probe = Lab(tmp_path / "probe", content=fixture_bytes("kube-apiserver"))
    debug_steps = steps_of(probe, sp.debug, mode=mode)
    restore_steps = steps_of(probe, sp.restore)
    assert probe.read() == probe.original
    assert len(debug_steps) >= 8 and len(restore_steps) >= 7
    for i, step in enumerate(debug_steps):
        d = tmp_path / ("d%d" % i)
        d.mkdir()
        lab = Lab(d, content=fixture_bytes("kube-apiserver"))
        debug_form = expected_debug_form(lab, mode)
        with pytest.raises(Crash):
            sp.debug(lab.params(mode=mode), hook=crash_at(step))
        check_invariant(lab, debug_form)
        # Either state carries on from where the run stopped.
        if i % 2:
            sp.debug(lab.params(mode=mode))
            check_invariant(lab, debug_form)
            assert lab.visible() == ([] if mode == "host" else [lab.name])
        r = sp.restore(lab.params())
        assert r["steps"][-1:] == (["done"] if r["changed"] else [])
        assert lab.read() == lab.original and lab.backups() == [] and lab.hidden() == []
    for i, step in enumerate(restore_steps):
        d = tmp_path / ("r%d" % i)
        d.mkdir()
        lab = Lab(d, content=fixture_bytes("kube-apiserver"))
        debug_form = expected_debug_form(lab, mode)
        sp.debug(lab.params(mode=mode))
        with pytest.raises(Crash):
            sp.restore(lab.params(), hook=crash_at(step))
        check_invariant(lab, debug_form)
        sp.restore(lab.params())
        assert lab.read() == lab.original and lab.backups() == []
        assert sp.restore(lab.params())["changed"] is False


def expected_debug_form(lab, mode):
    """The complete debug form a clean run would write here (check mode writes nothing)."""
    return sp.debug(lab.params(mode=mode), check_mode=True)["diff_data"]["after"].encode() if mode == "static" else None


def check_invariant(lab, debug_form):
    visible = lab.visible()
    if visible == []:
        assert (lab.bdir / lab.name).read_bytes() == lab.original, "moved out: the backup holds the original"
        return
    assert visible == [lab.name]
    now = lab.read()
    assert now == lab.original or now == debug_form
    if now != lab.original:
        assert (lab.bdir / lab.name).read_bytes() == lab.original


def test_leftover_temp_files_are_removed(lab):
    tmp = lab.mdir / ".kube-apiserver.yaml.kubedebug-tmp.12345"
    tmp.write_bytes(b"partial")
    other = lab.mdir / ".unrelated"
    other.write_bytes(b"x")
    r = sp.debug(lab.params())
    assert r["removed_temp_files"] == [str(tmp)] and not tmp.exists() and other.exists()


def test_record_of_another_manifest_with_the_same_name(tmp_path):
    a = Lab(tmp_path, content=fixture_bytes("kube-apiserver"))
    sp.debug(a.params())
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = other_dir / "kube-apiserver.yaml"
    other.write_bytes(fixture_bytes("kube-apiserver"))
    with pytest.raises(KubedebugError) as e:
        sp.debug(a.params(path=str(other)))
    assert "not of %s" % other in e.value.msg and "own backup_dir" in e.value.hint


# ---------------------------------------------------------------- validate


def test_validate_refuses_dynamic_dlv_and_stripped_binaries(lab, tmp_path):
    go_tool = "/usr/lib/go-1.19/pkg/tool/linux_amd64/asm"  # static Go, stripped
    if not os.path.exists("/usr/bin/dlv") or not os.path.exists(go_tool):
        pytest.skip("needs Debian's dlv and go (hack/bootstrap.sh)")
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(validate=True, binary=go_tool, dlv_host_path="/usr/bin/dlv"))
    assert "dynamically linked" in e.value.msg and "distroless" in e.value.msg and "CGO_ENABLED=0" in e.value.hint
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(validate=True, binary=go_tool, dlv_host_path=go_tool))
    assert "no DWARF" in str(e.value)
    with pytest.raises(KubedebugError) as e:
        sp.debug(lab.params(validate=True, binary=str(tmp_path / "absent"), dlv_host_path=go_tool))
    assert "does not exist" in e.value.msg
    assert_untouched(lab)


@pytest.mark.parametrize("damage", [
    lambda r: r.__setitem__("original", "x"),
    lambda r: r["original"].pop("mode"),
    lambda r: r["original"].__setitem__("mode", "0600"),
    lambda r: r["original"].__setitem__("mode", 0o70000),
    lambda r: r["original"].__setitem__("uid", -1),
    lambda r: r["original"].__setitem__("uid", 2 ** 40),
    lambda r: r.__setitem__("debug_sha256", "x"),
], ids=["original-not-a-mapping", "mode-missing", "mode-a-string", "mode-out-of-range", "uid-negative", "uid-huge", "debug-sha-not-a-list"])
def test_a_damaged_record_is_named_and_restore_still_recovers_the_original(tmp_path, damage):
    # issue 17, case 4: each of these was an exception in the restore path
    raw = fixture_bytes("kube-apiserver")
    lab = Lab(tmp_path, content=raw)
    sp.debug(lab.params())
    record = lab.bdir / "kube-apiserver.yaml.kubedebug.json"
    rec = json.loads(record.read_text())
    damage(rec)
    record.write_text(json.dumps(rec))
    debug_form = lab.read()
    with pytest.raises(KubedebugError, match="the record %s of the backup set is damaged" % record) as e:
        sp.debug(lab.params())
    assert "state=restored" in e.value.hint and lab.read() == debug_form  # nothing changed
    r = sp.restore(lab.params())
    assert r["changed"] and lab.read() == raw and lab.backups() == []
    assert any("was damaged" in w and str(lab.bdir / "kube-apiserver.yaml") in w for w in r["warnings"])
    assert stat.S_IMODE(os.stat(lab.path).st_mode) == 0o600


def test_a_damaged_record_without_its_sha256_is_not_trusted(tmp_path):
    raw = fixture_bytes("kube-apiserver")
    lab = Lab(tmp_path, content=raw)
    sp.debug(lab.params())
    (lab.bdir / "kube-apiserver.yaml.kubedebug.json").write_text("[]")
    os.unlink(lab.bdir / "kube-apiserver.yaml.sha256")
    debug_form = lab.read()
    with pytest.raises(KubedebugError, match="cannot be checked"):
        sp.restore(lab.params())
    assert lab.read() == debug_form and (lab.bdir / "kube-apiserver.yaml").read_bytes() == raw


def test_plan_does_not_share_state_between_calls():
    raw = fixture_bytes("kube-scheduler")
    pod = sp.parse(raw)
    keep = copy.deepcopy(pod)
    sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", leader_elect_false=True, probes="stretch"), sha(raw), "/bk")
    assert pod == keep


ALIASED_SECURITY_CONTEXT = b"""apiVersion: v1
kind: Pod
metadata: {name: x, namespace: kube-system}
spec:
  securityContext: &sc {seccompProfile: {type: RuntimeDefault}}
  containers:
  - {name: x, command: [x, --a], securityContext: *sc}
"""

ALIASED_MOUNTS = b"""apiVersion: v1
kind: Pod
metadata: {name: x, namespace: kube-system}
spec:
  hostNetwork: true
  volumes: [{name: certs, hostPath: {path: /etc/k}}]
  containers:
  - name: x
    command: [x, --a]
    volumeMounts: &vm [{name: certs, mountPath: /etc/k}]
  - name: side
    command: [side]
    volumeMounts: *vm
"""


def test_debug_changes_reach_only_the_target_container_through_yaml_aliases():
    # issue 17, case 1: an object shared through an anchor was changed everywhere it appears
    pod = sp.parse(ALIASED_SECURITY_CONTEXT)
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), sha(ALIASED_SECURITY_CONTEXT), "/bk")
    spec = plan["pod"]["spec"]
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    sc = spec["containers"][0]["securityContext"]
    assert sc["capabilities"]["add"] == ["SYS_PTRACE"] and sc["seccompProfile"] == {"type": "Unconfined"}
    assert pod == sp.parse(ALIASED_SECURITY_CONTEXT)

    pod = sp.parse(ALIASED_MOUNTS)
    plan = sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", container="x"), sha(ALIASED_MOUNTS), "/bk")
    side = plan["pod"]["spec"]["containers"][1]
    assert side["volumeMounts"] == [{"name": "certs", "mountPath": "/etc/k"}]
    assert "securityContext" not in side
    assert len(plan["pod"]["spec"]["containers"][0]["volumeMounts"]) == 3


def test_a_merge_key_with_an_override_is_read_as_the_kubelet_reads_it():
    # issue 17, case 5: refused as a duplicate key, though it is valid YAML and the kubelet reads it
    raw = fixture_bytes("kube-apiserver").replace(b"    startupProbe:\n", b"    startupProbe: {<<: *lp, failureThreshold: 24}\n    x-old-startupProbe:\n")
    raw = raw.replace(b"    livenessProbe:\n", b"    livenessProbe: &lp\n", 1)
    pod = sp.parse(raw)
    c = pod["spec"]["containers"][0]
    assert c["startupProbe"] == dict(c["livenessProbe"], failureThreshold=24)
    with pytest.raises(KubedebugError, match="duplicate key 'failureThreshold'"):
        sp.parse(raw.replace(b"{<<: *lp, failureThreshold: 24}", b"{<<: *lp, failureThreshold: 24, failureThreshold: 25}"))


@pytest.mark.parametrize("edit, opts, msg", [
    (lambda p: p["metadata"].__setitem__("annotations", ["a", "b"]), {}, "metadata.annotations is not a mapping"),
    (lambda p: p["spec"]["containers"][0]["volumeMounts"][0].__setitem__("mountPath", ["/a"]), {},
     r"volumeMounts\[0\] is not a mount with a mountPath \(a string\)"),
    (lambda p: p["spec"]["volumes"][0].__setitem__("name", {"a": 1}), {}, r"spec.volumes\[0\] is not a volume with a name"),
    (lambda p: p["spec"]["containers"][0]["livenessProbe"].__setitem__("failureThreshold", "8"), {"probes": "stretch"},
     "livenessProbe.failureThreshold is '8', not a whole number"),
])
def test_malformed_fields_are_clear_errors_not_tracebacks(edit, opts, msg):
    # issue 17, case 2
    pod = sp.parse(fixture_bytes("kube-apiserver"))
    edit(pod)
    with pytest.raises(KubedebugError, match=msg):
        sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv", **opts), "0" * 64, "/bk")


ALIAS_BOMB = ("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
              + "".join("a%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 10)) for i in range(1, 7))).encode()


@pytest.mark.parametrize("raw, msg", [
    (ALIAS_BOMB, "stands for more than 100000 values through YAML aliases"),  # issue 17, case 3: 10**7 values from 300 bytes
    (b"a: &a [*a]\n", "recursive node"),
    (b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nests too deeply"),
    (b"a: " + b"[" * 150 + b"]" * 150 + b"\n", "nests more than 100 levels deep"),
])
def test_hostile_yaml_is_refused_with_bounded_work(raw, msg):
    with pytest.raises(KubedebugError, match=msg):
        sp.parse(raw)


def test_a_pod_that_refers_to_itself_or_nests_too_deep_is_refused():
    pod = sp.parse(fixture_bytes("kube-scheduler"))
    loop = []
    loop.append(loop)
    pod["metadata"]["labels"] = {"a": loop}
    with pytest.raises(KubedebugError, match="refers to itself through a YAML alias"):
        sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    deep = {}
    pod["metadata"]["labels"] = deep
    for _level in range(200):
        deep["x"] = {}
        deep = deep["x"]
    with pytest.raises(KubedebugError, match="nests more than 100 levels deep"):
        sp.plan_debug(pod, dict(binary="/b/x", dlv_host_path="/b/dlv"), "0" * 64, "/bk")


# ------------------------------------------- plain scalars as the kubelet reads them

with open(os.path.join(ROOT, "tests", "testdata", "go_yaml_scalars.json"), encoding="utf-8") as _f:
    GO_YAML_SCALARS = json.load(_f)


def manifest_with_plain_arg(scalar):
    """The kubeadm scheduler manifest with one more command word, written unquoted."""
    text = fixture_bytes("kube-scheduler").decode()
    return text.replace("    - --port=0\n", "    - --port=0\n    - %s\n" % scalar).encode()


@pytest.mark.parametrize("scalar, kubelet_reads", GO_YAML_SCALARS, ids=[r[0] for r in GO_YAML_SCALARS])
def test_plain_scalars_are_typed_as_the_kubelet_types_them(scalar, kubelet_reads):
    """The table is checked against the kubelet's own reader in tests/integration/test_static_pod_kubelet.py.
    None: the kubelet refuses the manifest (the word is a bool, number or alias there), so the module does too."""
    raw = manifest_with_plain_arg(scalar)
    if kubelet_reads is None:
        with pytest.raises(KubedebugError):
            sp.container_argv(sp.parse(raw)["spec"]["containers"][0])  # parse (not YAML) or container_argv (not a string)
    else:
        assert sp.container_argv(sp.parse(raw)["spec"]["containers"][0])[2][-1] == kubelet_reads


@pytest.mark.parametrize("command", [["dlv"], ["dlv-1.27", "exec", "/b/comp"]])  # a full path: test_hand_made_dlv_manifest_is_refused
def test_hand_made_dlv_command_is_refused(command):
    pod = minimal_pod(command=command)
    with pytest.raises(KubedebugError) as e:
        sp.plan_debug(pod, dict(binary="/b/comp", dlv_host_path="/b/dlv"), "0" * 64, "/bk")
    assert "already runs %s" % command[0] in str(e.value) and "changed by hand" in e.value.hint
