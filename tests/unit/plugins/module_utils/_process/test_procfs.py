"""/proc readers: fixture trees for the odd cases, the real /proc for the real thing."""

import os
import subprocess
import sys

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs

CID = "a" * 64


def fake_proc(root, pid, argv, comm=None, exe=None, ppid=1, cgroup="0::/\n", state="S (sleeping)", start=100, tracer=0):
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "cmdline").write_bytes(b"".join(a + b"\0" for a in argv))
    comm = comm if comm is not None else (os.path.basename(argv[0].decode())[:15] if argv else "kthread")
    (d / "comm").write_text(comm + "\n")
    (d / "status").write_text(
        "Name:\t%s\nState:\t%s\nPPid:\t%d\nTracerPid:\t%d\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n" % (comm, state, ppid, tracer)
    )
    fields = ["S", str(ppid)] + ["0"] * 17 + [str(start)] + ["0"] * 20
    (d / "stat").write_text("%d (%s) %s\n" % (pid, comm, " ".join(fields)))
    (d / "cgroup").write_text(cgroup)
    if exe:
        os.symlink(exe, d / "exe")
    os.symlink("/", d / "cwd")
    return d


@pytest.mark.parametrize(
    "raw, want",
    [
        (b"", []),
        (b"a\0", [b"a"]),
        (b"a\0\0b\0", [b"a", b"", b"b"]),
        (b"\0", [b""]),
        (b"setproctitle without nul", [b"setproctitle without nul"]),
    ],
)
def test_parse_cmdline_keeps_empty_args(raw, want):
    assert _procfs.parse_cmdline(raw) == want


def test_stat_comm_with_parens_and_spaces():
    text = "42 (a) b (c) S 1 " + " ".join(["0"] * 17) + " 777 0 0\n"
    assert _procfs.parse_stat_starttime(text) == 777


@pytest.mark.parametrize(
    "cgroup, want",
    [
        ("0::/user.slice/session-1.scope\n", (False, None, None)),
        ("12:pids:/kubepods/burstable/pod1234/%s\n" % CID, (True, "kubepods", CID)),
        ("0::/system.slice/docker-%s.scope\n" % CID, (True, "docker", CID)),
        ("1:name=systemd:/docker/%s\n" % CID, (True, "docker", CID)),
        ("0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-%s.scope\n" % CID, (True, "cri-containerd", CID)),
        ("0::/kubepods.slice/crio-%s.scope\n" % CID, (True, "crio", CID)),
        ("0::/machine.slice/libpod-%s.scope\n" % CID, (True, "libpod", CID)),
        ("0::/kubepods.slice/kubepods-pod1.slice\n", (True, "kubepods", None)),
    ],
)
def test_container_detection(cgroup, want):
    assert _procfs.container_of(_procfs.parse_cgroup(cgroup)) == want


def test_find_and_read_in_fixture_tree(tmp_path):
    proc = tmp_path / "proc"
    fake_proc(proc, 10, [b"/usr/local/bin/kube-apiserver", b"--x=$y", b""], exe="/usr/local/bin/kube-apiserver", start=5)
    fake_proc(proc, 11, [b"kube-apiserver", b"--b"], exe="/opt/k/kube-apiserver (deleted)", start=9,
              cgroup="0::/kubepods/besteffort/pod1/%s\n" % CID)
    fake_proc(proc, 12, [b"/usr/bin/kube-controller-manager"], exe="/usr/bin/kube-controller-manager")
    fake_proc(proc, 13, [], comm="kworker/0:1")  # kernel thread: no exe, empty cmdline
    fake_proc(proc, 14, [b"/bin/sh", b"-c", b"kube-apiserver is mentioned here"], exe="/bin/dash")
    assert _procfs.find_by_name("kube-apiserver", str(proc)) == [10, 11]
    assert _procfs.find_by_name("kube-controller-manager", str(proc)) == [12]  # comm truncated to 15 bytes
    assert _procfs.find_by_name("kube-apiserver", str(proc), exclude=[10]) == [11]
    assert _procfs.find_by_pattern(r"kube-apiserver\b.*--b", str(proc)) == [11]
    assert _procfs.find_by_pattern("kube-apiserver", str(proc)) == [10, 11, 14]
    p = _procfs.read_process(11, str(proc))
    assert p["exe"] == "/opt/k/kube-apiserver" and p["exe_deleted"]
    assert p["in_container"] and p["container_id"] == CID
    assert _procfs.read_process(10, str(proc))["argv"] == ["/usr/local/bin/kube-apiserver", "--x=$y", ""]
    k = _procfs.read_process(13, str(proc))
    assert k["argv"] == [] and k["kernel_thread"] and k["exe"] is None
    procs = [_procfs.read_process(x, str(proc)) for x in (10, 11)]
    assert _procfs.pick(procs, "newest")["pid"] == 11
    assert _procfs.pick(procs, "oldest")["pid"] == 10
    with pytest.raises(KubedebugError) as e:
        _procfs.pick(procs, "only")
    assert "2 processes match" in str(e.value) and "pick: newest" in str(e.value)
    assert [m["pid"] for m in e.value.details["matches"]] == [10, 11]


def test_vanished_process_is_reported_as_gone(tmp_path):
    with pytest.raises(_procfs.ProcessGone) as e:
        _procfs.read_process(99999, str(tmp_path))
    assert "exited while it was being read" in str(e.value)


def test_undecodable_argv_is_kept_not_lost(tmp_path):
    fake_proc(tmp_path, 5, [b"/bin/x", b"\xff\xfe"], exe="/bin/x")
    p = _procfs.read_process(5, str(tmp_path))
    assert not p["argv_exact"]
    assert p["argv"][1].encode("utf-8", "surrogateescape") == b"\xff\xfe"


def test_invalid_regex_is_a_clear_error():
    with pytest.raises(KubedebugError, match="not a valid regular expression"):
        _procfs.find_by_pattern("kube-apiserver(")


@pytest.mark.parametrize("content, msg", [("", "does not hold a pid"), ("abc\n", "does not hold a pid"), ("0\n", "does not hold a pid")])
def test_pidfile_errors(tmp_path, content, msg):
    f = tmp_path / "x.pid"
    f.write_text(content)
    with pytest.raises(KubedebugError, match=msg):
        _procfs.read_pidfile(str(f))
    with pytest.raises(KubedebugError, match="does not exist"):
        _procfs.read_pidfile(str(tmp_path / "missing.pid"))


def test_pidfile_ok(tmp_path):
    f = tmp_path / "x.pid"
    f.write_text("1234\n")
    assert _procfs.read_pidfile(str(f)) == 1234


@pytest.mark.parametrize("out, pid", [("1234\n", 1234), ("MainPID=77\n", 77)])
def test_main_pid(out, pid):
    assert _procfs.parse_main_pid(out, "kubelet.service") == pid


def test_main_pid_zero_means_not_running():
    with pytest.raises(KubedebugError, match="not running"):
        _procfs.parse_main_pid("0\n", "kubelet.service")


def test_real_process_argv_is_exact():
    """A real child process: its /proc/PID/cmdline comes back argument for argument."""
    argv = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(30)", "", "--cors-allowed-origins=/127.0.0.1(:[0-9]+)?$", "a b", "é\n"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline() == b"up\n"  # it has exec'd and runs
        p = _procfs.read_process(child.pid)
        assert p["argv"] == argv and p["argv_exact"]
        assert p["ppid"] == os.getpid()
        assert os.path.realpath(p["exe"]) == os.path.realpath(sys.executable)
        assert p["pid"] in _procfs.find_by_pattern(r"--cors-allowed-origins=/127\.0\.0\.1")
        assert os.getpid() in _procfs.ancestors(child.pid)
    finally:
        child.kill()
        child.wait()


def test_real_kernel_thread_if_visible():
    kthreads = [pid for pid in _procfs.pids() if pid == 2]
    if not kthreads:
        pytest.skip("no kthreadd visible in this pid namespace")
    assert _procfs.read_process(2)["kernel_thread"]


@pytest.fixture
def other_pid_namespace(tmp_path):
    """A real process named kd-ns-sleeper in a new PID namespace (unshare), and one of the same name in ours."""
    exe = tmp_path / "kd-ns-sleeper"
    exe.write_bytes(open("/bin/sleep", "rb").read())
    exe.chmod(0o755)
    inside = subprocess.Popen(["unshare", "--pid", "--fork", str(exe), "300"])
    here = None
    try:
        deadline = 50
        while deadline and not _procfs.find_by_name("kd-ns-sleeper"):
            deadline -= 1
            subprocess.run(["sleep", "0.1"], check=True)
        [pid_inside] = _procfs.find_by_name("kd-ns-sleeper")
        here = subprocess.Popen([str(exe), "301"])
        yield pid_inside, here.pid
    finally:
        for p in (inside, here):
            if p is not None:
                p.kill()
                p.wait()
        for pid in _procfs.find_by_name("kd-ns-sleeper"):
            os.kill(pid, 9)


@pytest.mark.skipif(os.geteuid() != 0, reason="unshare --pid needs root")
def test_other_pid_namespace_is_skipped_or_refused(other_pid_namespace):
    inside, here = other_pid_namespace
    assert _procfs.read_process(inside)["pid_ns"] != _procfs.read_process(here)["pid_ns"]
    # Both match by default (a reader sees what the host sees) ...
    with pytest.raises(KubedebugError, match="2 processes match"):
        _procfs.select({"name": "kd-ns-sleeper"})
    # ... with same_pid_namespace only ours does.
    chosen, matches = _procfs.select({"name": "kd-ns-sleeper"}, same_pid_namespace=True)
    assert chosen["pid"] == here and [m["pid"] for m in matches] == [here]
    # (anchored: the unshare process in our namespace has the sleeper's path in its arguments)
    chosen = _procfs.select({"pattern": "^/\\S*kd-ns-sleeper 30[01]$"}, same_pid_namespace=True)[0]
    assert chosen["pid"] == here
    # Named explicitly, the other namespace's process is refused with the reason.
    with pytest.raises(KubedebugError, match="runs in another PID namespace") as e:
        _procfs.select({"pid": inside}, same_pid_namespace=True)
    assert e.value.details["matches"][0]["pid"] == inside


@pytest.mark.skipif(os.geteuid() != 0, reason="unshare --pid needs root")
def test_only_other_pid_namespace_matches_says_so(other_pid_namespace):
    inside, _here = other_pid_namespace
    with pytest.raises(KubedebugError) as e:
        _procfs.select({"pattern": "^/\\S*kd-ns-sleeper 300$"}, same_pid_namespace=True)
    msg = str(e.value)
    assert "no running process matches pattern=^/\\S*kd-ns-sleeper 300$ in this PID namespace" in msg
    assert "1 match in other PID namespaces: pid %d" % inside in msg
    assert "static-pod mode" in msg
    assert [m["pid"] for m in e.value.details["matches"]] == [inside]
