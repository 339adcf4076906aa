"""static_pod_debug through ansible-playbook against temp manifest directories holding
kubeadm v1.20 manifests; the rendered container argv is run for real under Debian's dlv
(in-container paths mapped back to the host) and the component receives exactly its
original arguments."""

import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import time

import pytest
import yaml

from tests.integration.conftest import free_port, kill_tree, run_play

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "testdata", "staticpods")
DLV = shutil.which("dlv") or "/usr/bin/dlv"

HOSTILE_ARGS = [
    "--token-auth-file=/etc/kubernetes/tokens.csv",
    "--feature-gates=A=true,B=false",
    "--etcd-prefix=/registry with space",
    "it's \"quoted\"",
    "$HOME ${PATH} $(id) `id`",
    "%h %% %n",
    "ünïcödé ☃ 𝄞",
    "",
    "back\\slash",
    "--v=5",
]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return
        time.sleep(0.1)
    raise AssertionError("%s did not appear within %d s" % (path, timeout))


@pytest.fixture
def lab(tmp_path, argvprint_dir):
    """A kubeadm-like manifest dir with the three control-plane manifests, and a debug binary per component."""
    bindir, tag = argvprint_dir
    mdir = tmp_path / "etc-kubernetes-manifests"
    mdir.mkdir()
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        shutil.copy(os.path.join(FIXTURES, name + ".yaml"), mdir / (name + ".yaml"))
        os.chmod(mdir / (name + ".yaml"), 0o600)  # as kubeadm writes them
    # The apiserver gets hostile arguments on top of kubeadm's.
    api = mdir / "kube-apiserver.yaml"
    pod = yaml.safe_load(api.read_text())
    pod["spec"]["containers"][0]["command"] += HOSTILE_ARGS
    api.write_text(yaml.safe_dump(pod, allow_unicode=True, sort_keys=False))
    bins = {}
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        bins[name] = str(tmp_path / name)
        shutil.copy2(str(bindir / ("kdbg-debugbuild-" + tag)), bins[name])
    originals = {n: (mdir / (n + ".yaml")).read_bytes() for n in bins}
    return {"mdir": mdir, "bdir": tmp_path / "var-lib-kubedebug", "bins": bins, "originals": originals, "tmp": tmp_path}


def task(name, register, **args):
    return {"name": name, "register": register, "kubedebug.lab.static_pod_debug": args}


def debug_tasks(lab, ports, check=False, **extra):
    tasks = []
    for comp, port in ports.items():
        args = dict(
            path=str(lab["mdir"] / (comp + ".yaml")), binary=lab["bins"][comp], dlv_path=DLV, backup_dir=str(lab["bdir"]),
            listen="127.0.0.1:%d" % port, require_static=False, ssh_destination="root@node1",
            leader_elect_false=comp != "kube-apiserver",
        )
        args.update(extra)
        t = task("Debug %s" % comp, comp.replace("-", "_"), **args)
        if check:
            t["check_mode"] = True
        t["diff"] = True
        tasks.append(t)
    return tasks


def restore_tasks(lab):
    return [task("Restore %s" % c, c.replace("-", "_"), path=str(lab["mdir"] / (c + ".yaml")), backup_dir=str(lab["bdir"]), state="restored")
            for c in lab["bins"]]


def run_container_argv_on_host(result, lab, comp, out):
    """The debug form's command+args, with the in-container mount paths mapped back to the host, under real dlv."""
    with open(lab["mdir"] / (comp + ".yaml"), "rb") as f:
        pod = yaml.safe_load(f)
    c = pod["spec"]["containers"][0]
    argv = c["command"] + c.get("args", [])
    assert argv == result["debug_argv"]
    host_paths = {m["mountPath"]: v["hostPath"]["path"] for m in c["volumeMounts"] for v in pod["spec"]["volumes"] if v["name"] == m["name"]}
    assert host_paths[argv[0]] == DLV and host_paths[argv[2]] == lab["bins"][comp]
    mapped = [host_paths.get(a, a) for a in argv]
    return subprocess.Popen(mapped, env=dict(os.environ, ARGVPRINT_OUT=out), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kubeadm_control_plane_debug_and_restore(lab):
    ports = {c: free_port() for c in lab["bins"]}
    dump = [c.replace("-", "_") for c in lab["bins"]]

    # Check mode with --diff: every change reported, nothing written.
    (lab["tmp"] / "check").mkdir()
    res = run_play(lab["tmp"] / "check", debug_tasks(lab, ports, check=True), {"kdbg_dump": dump})[2]
    for comp, key in zip(lab["bins"], dump, strict=True):
        r = res[key]
        assert r["changed"] is True
        assert r["diff"]["before"] == lab["originals"][comp].decode()
        assert "/kubedebug/bin/dlv" in r["diff"]["after"]
        assert (lab["mdir"] / (comp + ".yaml")).read_bytes() == lab["originals"][comp]
    assert not lab["bdir"].exists()

    (lab["tmp"] / "debug").mkdir()
    res = run_play(lab["tmp"] / "debug", debug_tasks(lab, ports), {"kdbg_dump": dump})[2]
    for comp, key in zip(lab["bins"], dump, strict=True):
        r = res[key]
        orig = lab["originals"][comp]
        assert r["changed"] is True and r["original_sha256"] == sha(orig)
        names = [c["change"] for c in r["changes"]]
        assert {"command", "volume-dlv", "volume-binary", "sys-ptrace", "liveness-probe", "startup-probe", "annotations"} <= set(names)
        assert ("leader-elect" in names) == (comp != "kube-apiserver")
        assert ("readiness-probe" in names) == (comp == "kube-apiserver")
        assert r["ssh_tunnel_command"] == "ssh -N -L %d:127.0.0.1:%d root@node1" % (ports[comp], ports[comp])
        path = lab["mdir"] / (comp + ".yaml")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert sorted(os.listdir(lab["mdir"])) == sorted(c + ".yaml" for c in lab["bins"]), "nothing else in the manifest directory"
        backup = lab["bdir"] / (comp + ".yaml")
        assert backup.read_bytes() == orig
        assert (lab["bdir"] / (comp + ".yaml.sha256")).read_text().split()[0] == sha(orig)
        record = json.loads((lab["bdir"] / (comp + ".yaml.kubedebug.json")).read_text())
        assert record["original"]["sha256"] == sha(orig) and record["original"]["mode"] == 0o600
        original_argv = yaml.safe_load(orig)["spec"]["containers"][0]["command"]
        expected = [a if a != "--leader-elect=true" else "--leader-elect=false" for a in original_argv[1:]]
        assert r["target_args"] == expected

    # The rendered argv, run for real under dlv: the component receives exactly its original arguments.
    procs = []
    try:
        for comp, key in zip(lab["bins"], dump, strict=True):
            out = str(lab["tmp"] / (comp + ".argv"))
            procs.append((comp, key, out, run_container_argv_on_host(res[key], lab, comp, out)))
        for comp, key, out, _p in procs:
            wait_for(out)
            with open(out, "rb") as f:
                got = f.read()
            # argv[0] is the binary path dlv was given (in the pod: /kubedebug/bin/COMPONENT; here mapped to the host)
            assert got == b"".join(a.encode("utf-8") + b"\0" for a in [lab["bins"][comp]] + res[key]["target_args"]), comp
    finally:
        for _c, _k, _o, p in procs:
            kill_tree(p.pid)
            p.wait()
    api_args = res["kube_apiserver"]["target_args"]
    assert api_args[-len(HOSTILE_ARGS):] == HOSTILE_ARGS

    # Second run: nothing to do.
    (lab["tmp"] / "again").mkdir()
    res2 = run_play(lab["tmp"] / "again", debug_tasks(lab, ports), {"kdbg_dump": dump})[2]
    assert [res2[k]["changed"] for k in dump] == [False, False, False]

    # Restore: byte-exact originals, mode kept, backups gone; second restore changes nothing.
    (lab["tmp"] / "restore").mkdir()
    res3 = run_play(lab["tmp"] / "restore", restore_tasks(lab), {"kdbg_dump": dump})[2]
    for comp, key in zip(lab["bins"], dump, strict=True):
        assert res3[key]["changed"] is True
        path = lab["mdir"] / (comp + ".yaml")
        assert path.read_bytes() == lab["originals"][comp]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(n for n in os.listdir(lab["bdir"]) if not n.startswith(".")) == []
    (lab["tmp"] / "restore2").mkdir()
    res4 = run_play(lab["tmp"] / "restore2", restore_tasks(lab), {"kdbg_dump": dump})[2]
    assert [res4[k]["changed"] for k in dump] == [False, False, False]


def test_host_mode_through_ansible(lab):
    comp = "kube-scheduler"
    path = lab["mdir"] / (comp + ".yaml")
    t = [task("Move out", "moved", path=str(path), backup_dir=str(lab["bdir"]), mode="host")]
    (lab["tmp"] / "a").mkdir()
    r = run_play(lab["tmp"] / "a", t, {"kdbg_dump": ["moved"]})[2]["moved"]
    assert r["changed"] and r["original_argv"] == yaml.safe_load(lab["originals"][comp])["spec"]["containers"][0]["command"]
    assert not path.exists() and (lab["bdir"] / (comp + ".yaml")).read_bytes() == lab["originals"][comp]
    (lab["tmp"] / "b").mkdir()
    assert run_play(lab["tmp"] / "b", t, {"kdbg_dump": ["moved"]})[2]["moved"]["changed"] is False
    (lab["tmp"] / "c").mkdir()
    r = run_play(lab["tmp"] / "c", [task("Back", "back", path=str(path), backup_dir=str(lab["bdir"]), state="restored")], {"kdbg_dump": ["back"]})[2]
    assert r["back"]["changed"] and path.read_bytes() == lab["originals"][comp]


@pytest.mark.parametrize(
    "case, args, msg",
    [
        ("dynamic dlv", dict(dlv_path=DLV), "is dynamically linked"),
        ("backup in manifest dir", dict(require_static=False, backup_dir="MDIR/backup"), "inside the manifest directory"),
        ("apiserver leader-elect", dict(require_static=False, leader_elect_false=True), "no --leader-elect flag"),
        ("no binary", dict(binary=None), "binary is required"),
        ("port taken", dict(require_static=False, listen="127.0.0.1:PORT"), "already listens on port"),
        ("wrong container", dict(require_static=False, container="etcd"), "no container named 'etcd'"),
    ],
)
def test_bad_input_fails_clearly_through_ansible(lab, case, args, msg):
    path = lab["mdir"] / "kube-apiserver.yaml"
    a = dict(path=str(path), binary=lab["bins"]["kube-apiserver"], dlv_path=DLV, backup_dir=str(lab["bdir"]), listen="127.0.0.1:%d" % free_port())
    for k, v in args.items():
        if v is None:
            a.pop(k, None)
        else:
            a[k] = v.replace("MDIR", str(lab["mdir"])) if isinstance(v, str) else v
    sock = None
    if "PORT" in a["listen"]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        a["listen"] = "127.0.0.1:%d" % sock.getsockname()[1]
    try:
        t = [dict(task("Debug", "r", **a), ignore_errors=True)]
        rc, out, res = run_play(lab["tmp"], t, {"kdbg_dump": ["r"]})
    finally:
        if sock:
            sock.close()
    r = res["r"]
    assert r["failed"] is True and msg in r["msg"], r["msg"]
    assert "Traceback" not in out
    assert path.read_bytes() == lab["originals"]["kube-apiserver"]
    assert sorted(os.listdir(lab["mdir"])) == sorted(c + ".yaml" for c in lab["bins"])
    assert not lab["bdir"].exists() or [n for n in os.listdir(lab["bdir"]) if not n.startswith(".")] == []
