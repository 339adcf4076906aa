"""The debug run's starting point: records, mode choice, journal (_session)."""

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._session import model as _session


@pytest.mark.parametrize(
    "requested, records, manifest, pid, main_pid, want",
    [
        ("auto", {}, False, 10, None, "process"),
        ("auto", {}, False, 10, 11, "process"),  # the unit's main process is someone else (a wrapper)
        ("auto", {}, False, 10, 10, "systemd"),
        ("auto", {}, True, None, None, "static_pod"),
        ("auto", {"static_pod": {}}, False, None, None, "static_pod"),  # manifest moved out (host mode)
        ("auto", {"process": True}, False, None, None, "process"),
        ("auto", {"systemd": {}}, False, 10, None, "systemd"),  # second run: dlv is the unit's main process now
        ("auto", {"process": True, "systemd": {}}, False, None, None, "process"),
        ("process", {}, True, 10, 10, "process"),
        ("systemd", {}, False, 10, None, "systemd"),
        ("static_pod", {}, False, None, None, "static_pod"),
    ],
)
def test_choose_mode(requested, records, manifest, pid, main_pid, want):
    assert _session.choose_mode(requested, records, manifest, pid, main_pid) == want


def test_choose_mode_refuses_unknown_mode():
    with pytest.raises(KubedebugError, match="mode 'pod' is not one of auto, process, systemd, static_pod"):
        _session.choose_mode("pod", {}, False)


@pytest.mark.parametrize(
    "state, requested, records, manifest, want",
    [
        ("debug", "auto", {}, False, True),
        ("restored", "auto", {}, False, False),
        ("debug", "auto", {"process": True}, False, False),  # the record holds the original
        ("debug", "auto", {}, True, False),  # static pods are read from the manifest
        ("debug", "systemd", {"systemd": {}}, False, True),
        ("debug", "process", {}, True, True),  # an explicit mode wins over the manifest
    ],
)
def test_needs_process(state, requested, records, manifest, want):
    assert _session.needs_process(state, requested, records, manifest) is want


@pytest.mark.parametrize(
    "cgroups, want",
    [
        ([{"controllers": "name=systemd", "path": "/system.slice/kube-apiserver.service"}], "kube-apiserver.service"),
        ([{"controllers": "", "path": "/system.slice/kubelet.service"}], "kubelet.service"),
        ([{"controllers": "cpu,cpuacct", "path": "/system.slice/x.service"}], ""),
        ([{"controllers": "", "path": "/user.slice/user-0.slice/session-1.scope"}], ""),
        ([{"controllers": "", "path": "/docker/abc/system.slice/etcd.service"}], "etcd.service"),
        ([], ""),
    ],
)
def test_unit_of(cgroups, want):
    assert _session.unit_of(cgroups) == want


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "kube apiserver", "x;rm"])
def test_component_names_must_be_plain(name):
    with pytest.raises(KubedebugError, match="is not a plain name"):
        _session.check_component(name)


def test_read_records(tmp_path):
    assert _session.read_records(str(tmp_path), "kube-apiserver") == {}
    (tmp_path / "kube-apiserver.json").write_text('{"original": {"env": ["TOKEN=secret"]}}')
    (tmp_path / "kube-apiserver.systemd.json").write_text('{"unit": "kube-apiserver.service"}')
    (tmp_path / "kube-scheduler.static-pod.json").write_text('{"how": "host"}')
    got = _session.read_records(str(tmp_path), "kube-apiserver")
    assert got == {"process": True, "systemd": {"unit": "kube-apiserver.service"}}  # never the environment
    assert _session.read_records(str(tmp_path), "kube-scheduler") == {"static_pod": {"how": "host"}}


@pytest.mark.parametrize("content, msg", [("{broken", "is not valid JSON"), ("[1]", "is not a JSON object")])
def test_bad_record_is_named(tmp_path, content, msg):
    (tmp_path / "kubelet.systemd.json").write_text(content)
    with pytest.raises(KubedebugError, match=msg) as e:
        _session.read_records(str(tmp_path), "kubelet")
    assert str(tmp_path / "kubelet.systemd.json") in str(e.value)


def test_journal_add_remove_files(tmp_path):
    d = str(tmp_path / "state")
    assert _session.read_journal(d) == []
    changed, before, after, sessions = _session.update_journal(d, "add", "kube-apiserver", "process", check_mode=True)
    assert changed and before == "" and not os.path.exists(d)  # check mode writes nothing
    assert _session.update_journal(d, "add", "kube-apiserver", "process")[0]
    assert _session.update_journal(d, "add", "kubelet", "systemd")[0]
    assert not _session.update_journal(d, "add", "kube-apiserver", "static_pod")[0]  # already there: keeps its place
    path = os.path.join(d, "journal.json")
    assert json.load(open(path)) == {"version": 1, "sessions": [
        {"component": "kube-apiserver", "mode": "process"}, {"component": "kubelet", "mode": "systemd"}]}
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert not _session.update_journal(d, "remove", "kube-scheduler")[0]
    changed, before, after, sessions = _session.update_journal(d, "remove", "kube-apiserver")
    assert changed and "kube-apiserver" in before and "kube-apiserver" not in after
    assert sessions == [{"component": "kubelet", "mode": "systemd"}]
    assert _session.update_journal(d, "remove", "kubelet")[0]
    assert not os.path.exists(path)  # gone with its last session
    assert not _session.update_journal(d, "remove", "kubelet")[0]


def test_journal_not_ours_is_never_overwritten(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text('{"sessions": "not a list"}')
    with pytest.raises(KubedebugError, match="is not a kubedebug journal"):
        _session.update_journal(str(tmp_path), "add", "kubelet", "systemd")
    assert path.read_text() == '{"sessions": "not a list"}'


def test_journal_format_is_what_older_runs_wrote():
    # restore.yml of earlier versions (and users' scripts) read this layout.
    assert _session.render_journal([{"component": "kubelet", "mode": "systemd"}]) == (
        '{\n    "sessions": [\n        {\n            "component": "kubelet",\n            "mode": "systemd"\n'
        '        }\n    ],\n    "version": 1\n}\n')


names = st.sampled_from(["kube-apiserver", "kubelet", "kube-scheduler", "kube-controller-manager", "etcd"])
ops = st.lists(st.tuples(st.sampled_from(["add", "remove"]), names), max_size=30)


@given(ops)
def test_journal_is_an_ordered_set(seq):
    sessions = []
    model = []
    for op, name in seq:
        sessions = _session.journal_after(sessions, op, name, "process")
        if op == "add" and name not in model:
            model.append(name)
        elif op == "remove" and name in model:
            model.remove(name)
    assert [s["component"] for s in sessions] == model
    # adding what is there and removing what is not change nothing
    for name in model:
        assert _session.journal_after(sessions, "add", name, "systemd") == sessions
    assert _session.journal_after(sessions, "remove", "not-there") == sessions


# ------------------------------------------------------------------ one session model (issue 15)


def test_render_record_is_what_the_role_wrote_with_to_nice_json():
    from ansible.plugins.filter.core import to_nice_json

    rec = _session.static_pod_record("kube-apiserver", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/b", "[::1]:2345", "host",
                                     "kubedebug-kube-apiserver.service")
    assert _session.render_record(rec) == to_nice_json(rec) + "\n"


def test_systemd_record_keeps_whether_the_first_run_created_the_dropin_dir():
    first = _session.systemd_record("kubelet", "kubelet.service", "/d/90.conf", None, dropin_dir_exists=False)
    assert first["dropin_dir_created"] is True
    # the second run finds the directory the first one made: the record still says it was created
    assert _session.systemd_record("kubelet", "kubelet.service", "/d/90.conf", first, dropin_dir_exists=True) == first
    assert _session.systemd_record("kubelet", "kubelet.service", "/d/90.conf", None, True)["dropin_dir_created"] is False


def test_begin_writes_record_and_journal_once_and_end_removes_them(tmp_path):
    state = tmp_path / "state"
    rec = _session.systemd_record("kubelet", "kubelet.service", "/d/90.conf")
    changed, diffs = _session.begin(str(state), "kubelet", "systemd", rec, check_mode=True)
    assert changed and not state.exists()  # check mode: nothing on disk, not even the directory
    assert [d["after_header"] for d in diffs] == [str(state / "kubelet.systemd.json"), str(state / "journal.json")]
    assert _session.begin(str(state), "kubelet", "systemd", rec) == (True, diffs)
    assert (state / "kubelet.systemd.json").read_text() == diffs[0]["after"]
    assert oct(state.stat().st_mode & 0o777) == "0o700"
    assert oct((state / "kubelet.systemd.json").stat().st_mode & 0o777) == "0o600"
    assert _session.begin(str(state), "kubelet", "systemd", rec) == (False, [])
    assert _session.read_records(str(state), "kubelet") == {"systemd": rec}
    assert _session.read_journal(str(state)) == [{"component": "kubelet", "mode": "systemd"}]
    changed, diffs = _session.end(str(state), "kubelet", ("systemd", "static_pod"), check_mode=True)
    assert changed and (state / "kubelet.systemd.json").exists()
    assert _session.end(str(state), "kubelet", ("systemd", "static_pod"))[0]
    assert not (state / "kubelet.systemd.json").exists() and not (state / "journal.json").exists()
    assert _session.end(str(state), "kubelet", ("systemd", "static_pod")) == (False, [])


def test_begin_of_process_mode_is_the_journal_only(tmp_path):
    changed, diffs = _session.begin(str(tmp_path), "kube-apiserver", "process")
    assert changed and [d["after_header"] for d in diffs] == [str(tmp_path / "journal.json")]
    assert not (tmp_path / "kube-apiserver.json").exists()


def test_begin_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(KubedebugError, match="session kind 'kwok' is not one of process, systemd, static_pod"):
        _session.begin(str(tmp_path), "kube-scheduler", "kwok", {})


@pytest.mark.parametrize(
    "image, want",
    [
        ("registry.k8s.io/kube-apiserver:v1.33.1", "v1.33.1"),
        ("kubedebug.local/kube-apiserver:v1.37.2-debug", "v1.37.2"),
        ("registry.k8s.io/kube-apiserver@sha256:abc", ""),  # a digest names no version: not checked
        ("registry.k8s.io/kube-scheduler:v1.33.1", ""),  # another component's image
        ("kube-apiserver:v1.33.1", ""),  # no repository: the role's rule is '/COMPONENT:'
    ],
)
def test_image_version(image, want):
    pod = {"spec": {"containers": [{"name": "c", "image": image}]}}
    assert _session.image_version(pod, "kube-apiserver") == want


@pytest.mark.parametrize("pod", [None, {}, {"spec": None}, {"spec": {"containers": None}}, {"spec": {"containers": ["x"]}}])
def test_image_version_of_odd_pods_is_unknown(pod):
    assert _session.image_version(pod, "kube-apiserver") == ""


def test_check_version():
    _session.check_version("kubelet", "/b", "v1.33.1", "v1.33.1", "x")
    _session.check_version("kubelet", "/b", None, "", "x")  # both unknown
    _session.check_version("kubelet", "/b", "v1.34.0", "v1.33.1", "x", force=True)
    with pytest.raises(KubedebugError) as e:
        _session.check_version("kubelet", "/b", None, "v1.33.1", "its executable /usr/bin/kubelet")
    assert str(e.value).startswith(
        "the debug binary /b is of unknown version but the running kubelet is v1.33.1 (its executable /usr/bin/kubelet)")
    assert "k8s_source_version=v1.33.1" in e.value.hint and "force_version_mismatch" in e.value.hint


def test_check_dropin_ours(tmp_path):
    _session.check_dropin_ours(str(tmp_path / "absent.conf"))
    ours = tmp_path / "90-kubedebug.conf"
    ours.write_text("# Written by kubedebug.lab: kubelet under dlv.\n[Service]\n")
    _session.check_dropin_ours(str(ours))
    ours.write_text("[Service]\nEnvironment=FOO=1\n")
    with pytest.raises(KubedebugError, match="exists and was not written by kubedebug.lab"):
        _session.check_dropin_ours(str(ours))


def test_restore_order_is_newest_session_first_then_the_fallback():
    sessions = [{"component": "kube-apiserver", "mode": "static_pod"}, {"component": "kubelet", "mode": "systemd"}]
    assert _session.restore_order(sessions) == ["kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert _session.restore_order([]) == list(_session.FALLBACK_RESTORE_ORDER)
    assert _session.restore_order(sessions, ["etcd"]) == ["kubelet", "kube-apiserver", "etcd"]


def test_records_begin_writes_have_no_problems():
    assert _session.record_problems("systemd", _session.systemd_record("kubelet", "kubelet.service", "/etc/systemd/system/kubelet.service.d/90.conf")) == []
    rec = _session.static_pod_record("kube-apiserver", "/etc/kubernetes/manifests/kube-apiserver.yaml", "/var/lib/kubedebug/static-pods",
                                     "[::1]:2345", "host", "kubedebug-kube-apiserver.service")
    assert _session.record_problems("static_pod", rec) == []


@pytest.mark.parametrize("kind, rec, want", [
    ("systemd", {"unit": "kubelet.service", "dropin": "relative.conf"}, ["dropin is 'relative.conf'"]),
    ("systemd", {"unit": ["kubelet.service"], "dropin": "/d/90.conf", "dropin_dir_created": "yes"},
     ["unit is ['kubelet.service']", "dropin_dir_created is 'yes'"]),
    ("static_pod", {"manifest": "/m/kube-apiserver.yaml", "backup_dir": "/b", "listen": 2345}, ["listen is 2345"]),
    ("static_pod", {"manifest": "/m/x.yaml", "backup_dir": "/b", "listen": "127.0.0.1:2345", "how": "host"}, ["unit is missing"]),
    ("static_pod", {"backup_dir": "/b", "listen": "127.0.0.1:2345", "how": "pods"}, ["manifest is missing", "how is 'pods'"]),
])
def test_record_problems_name_each_field(kind, rec, want):
    assert _session.record_problems(kind, rec) == want
