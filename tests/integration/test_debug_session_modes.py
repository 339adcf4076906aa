"""debug_session for the modes the role carries out (issue 15): the one version check, the record and the
journal written before anything changes, check mode and --diff, and the end of the session - through
ansible-playbook, against a kubeadm manifest in a temp directory and real binaries that report a version."""

import json
import os
import shutil

from tests.integration.conftest import run_play

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MANIFEST = os.path.join(ROOT, "tests", "testdata", "staticpods", "kube-apiserver.yaml")  # image ...:v1.20.2


def _setup(tmp_path, argvprint_dir):
    bindir, tag = argvprint_dir
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    shutil.copy(MANIFEST, mdir / "kube-apiserver.yaml")
    return {
        "mdir": str(mdir), "state": str(tmp_path / "state"), "backup": str(tmp_path / "backup"),
        "same": str(bindir / ("kdbg-debugbuild-" + tag)),  # reports v1.20.2
        "other": str(bindir / ("kdbg-v121-" + tag)),  # reports v1.21.0
    }


def _session(v, binary, state="debug", how="pod", name="s", check=False):
    task = {"name": name, "register": name, "diff": True, "kubedebug.lab.debug_session": {
        "component": "kube-apiserver", "state": state, "manifest_dir": v["mdir"], "state_dir": v["state"],
        "backup_dir": v["backup"], "binary": binary, "listen": "localhost:2399", "static_pod_how": how}}
    if check:
        task["check_mode"] = True
    return task


def test_static_pod_version_mismatch_is_refused_before_anything_is_written(tmp_path, argvprint_dir):
    v = _setup(tmp_path, argvprint_dir)
    rc, out, _res = run_play(tmp_path, [_session(v, v["other"])], check=False)
    assert rc != 0
    assert ("the debug binary %s is v1.21.0 but the running kube-apiserver is v1.20.2 (the image tag in %s/kube-apiserver.yaml)"
            % (v["other"], v["mdir"])) in out
    assert "k8s_source_version=v1.20.2" in out and "force_version_mismatch" in out
    assert not os.path.exists(v["state"])


def test_static_pod_record_and_journal_before_the_change_then_ended(tmp_path, argvprint_dir):
    v = _setup(tmp_path, argvprint_dir)
    record = os.path.join(v["state"], "kube-apiserver.static-pod.json")
    journal = os.path.join(v["state"], "journal.json")
    tasks = [_session(v, v["same"], name="dry", check=True), _session(v, v["same"], name="first"),
             _session(v, v["same"], name="second")]
    res = run_play(tmp_path, tasks, {"kdbg_dump": ["dry", "first", "second"]})[2]
    dry, first, second = res["dry"], res["first"], res["second"]
    assert dry["changed"] and not dry["handled"] and dry["mode"] == "static_pod"
    assert [d["after_header"] for d in dry["diff"]] == [record, journal]
    assert first["changed"] and not second["changed"] and "diff" not in second
    with open(record) as f:
        text = f.read()
    assert text == dry["diff"][0]["after"]  # check mode showed exactly what was then written
    assert json.loads(text) == {"version": 1, "mode": "static_pod", "component": "kube-apiserver",
                                "manifest": v["mdir"] + "/kube-apiserver.yaml", "backup_dir": v["backup"],
                                "listen": "localhost:2399"}
    assert oct(os.stat(record).st_mode & 0o777) == "0o600" and oct(os.stat(v["state"]).st_mode & 0o777) == "0o700"
    with open(journal) as f:
        assert json.load(f)["sessions"] == [{"component": "kube-apiserver", "mode": "static_pod"}]
    assert second["records"]["static_pod"] and second["static_pod_record"] == json.loads(text)

    ended = run_play(tmp_path, [_session(v, v["same"], state="ended", name="end", check=True),
                                _session(v, v["same"], state="ended", name="end1"),
                                _session(v, v["same"], state="ended", name="end2")],
                     {"kdbg_dump": ["end", "end1", "end2"]})[2]
    assert ended["end"]["changed"] and [d["before_header"] for d in ended["end"]["diff"]] == [record, journal]
    assert ended["end1"]["changed"] and not ended["end2"]["changed"]
    assert not os.path.exists(record) and not os.path.exists(journal)
    assert ended["end2"]["journal"] == []


def test_host_mode_records_the_unit(tmp_path, argvprint_dir):
    v = _setup(tmp_path, argvprint_dir)
    res = run_play(tmp_path, [_session(v, v["same"], how="host", name="host")], {"kdbg_dump": ["host"]})[2]
    assert res["host"]["changed"]
    with open(os.path.join(v["state"], "kube-apiserver.static-pod.json")) as f:
        rec = json.load(f)
    assert rec["how"] == "host" and rec["unit"] == "kubedebug-kube-apiserver.service"


def test_forced_mismatch_and_no_version_check(tmp_path, argvprint_dir):
    v = _setup(tmp_path, argvprint_dir)
    forced = dict(_session(v, v["other"], name="forced"))
    forced["kubedebug.lab.debug_session"] = dict(forced["kubedebug.lab.debug_session"], force_version_mismatch=True)
    unchecked = dict(_session(v, v["other"], name="unchecked"))
    unchecked["kubedebug.lab.debug_session"] = dict(unchecked["kubedebug.lab.debug_session"], version_check=False)
    res = run_play(tmp_path, [forced, unchecked], {"kdbg_dump": ["forced", "unchecked"]})[2]
    assert res["forced"]["changed"] and not res["unchecked"]["changed"]


def test_a_damaged_record_stops_the_run_before_anything_is_undone(tmp_path, argvprint_dir):
    v = _setup(tmp_path, argvprint_dir)
    os.makedirs(v["state"])
    record = os.path.join(v["state"], "kube-apiserver.static-pod.json")
    with open(record, "w") as f:
        json.dump({"version": 1, "mode": "static_pod", "manifest": "manifests/kube-apiserver.yaml", "backup_dir": v["backup"],
                   "listen": "127.0.0.1:2345", "how": "host"}, f)
    for state in ("restored", "debug"):
        rc, out, _res = run_play(tmp_path, [_session(v, v["same"], state=state)], check=False)
        assert rc != 0
        assert "the static-pod-mode record %s is damaged (manifest is 'manifests/kube-apiserver.yaml'; unit is missing)" % record in out
    assert sorted(os.listdir(v["state"])) == ["kube-apiserver.static-pod.json"]  # nothing written, the record kept
