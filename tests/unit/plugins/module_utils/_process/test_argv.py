"""Renderings of an argv round-trip exactly (property tests + the seeds' args)."""

import shlex
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv
from tests.unit.systemd_syntax import parse_exec

PROPS = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The seeds' tricky arguments.
APISERVER_TRICKY = "--cors-allowed-origins=/127.0.0.1(:[0-9]+)?$"
KUBELET_TRICKY = "--eviction-hard=memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%"

# Arbitrary non-NUL text, plus a bias towards the characters that break quoting.
any_char = st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))
nasty = st.sampled_from(["", " ", "'", '"', "\\", "$", "$$", "${HOME}", "$HOME", "%", "%%", "%n", "\n", "\r\n", "\t",
                         ";", "\\;", "-", "--", "-v=3", "é", "日本", "\x7f", "\x01", "a b", "*", "~", "#", "!", "`x`",
                         APISERVER_TRICKY, KUBELET_TRICKY, "'\"'\"'", "\\x41", "%%d"])
arg = st.one_of(st.text(any_char), nasty, st.lists(st.one_of(nasty, st.text(any_char, max_size=3)), max_size=6).map("".join))
# Undecodable bytes, carried as surrogate escapes (how _procfs decodes /proc).
raw_arg = st.binary().filter(lambda b: b"\0" not in b).map(lambda b: b.decode("utf-8", "surrogateescape"))
argvs = st.lists(arg, min_size=1, max_size=12)
exe = st.text(st.characters(blacklist_characters="\0$", blacklist_categories=("Cs", "Cc")), max_size=20).map(lambda s: "/" + s)
systemd_argvs = st.tuples(exe, st.lists(st.one_of(arg, raw_arg), max_size=12)).map(lambda t: [t[0]] + t[1])


@PROPS
@given(argvs)
@example(["kube-apiserver", APISERVER_TRICKY])
@example(["kubelet", KUBELET_TRICKY])
@example(["FOO=bar", "x"])
@example([""])
def test_shell_roundtrip(argv):
    assert shlex.split(_argv.to_shell(argv)) == argv


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))), min_size=1, max_size=6))
def test_shell_line_is_what_bash_executes(argv):
    """Not only shlex: a real bash gives the program exactly these arguments."""
    line = "printf '%s\\0' " + _argv.to_shell(argv)
    out = subprocess.run(["bash", "-c", line], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == [a.encode("utf-8") for a in argv]


@PROPS
@given(systemd_argvs)
@example(["/usr/bin/kube-apiserver", APISERVER_TRICKY])
@example(["/usr/bin/kubelet", KUBELET_TRICKY, "%h", "$HOME", "${HOME}", ";", "\\;", ""])
@example(["/usr/bin/x", "\udcff\udc80", "a\nb"])
def test_systemd_roundtrip(argv):
    assert parse_exec(_argv.to_systemd(argv)) == argv


def test_systemd_escapes_what_systemd_expands():
    line = _argv.to_systemd(["/bin/kubelet", KUBELET_TRICKY, "$HOME", ";"])
    assert "10%%" in line and "$$HOME" in line and '";"' in line


@pytest.mark.parametrize("bad", [["kubelet"], ["./kubelet"], ["/bin/a$b"], ["/bin/a\nb"]])
def test_systemd_needs_plain_absolute_executable(bad):
    with pytest.raises(KubedebugError) as e:
        _argv.to_systemd(bad)
    assert e.value.hint


@pytest.mark.parametrize("line", ['/bin/x %h', '/bin/x $HOME', '/bin/x ;', '/bin/x a"b"', '/bin/x "a"b', '/bin/x \\q'])
def test_reference_parser_is_strict(line):
    """The parser used as an oracle rejects what the renderer must never emit."""
    with pytest.raises(SyntaxError):
        parse_exec(line)


def test_reference_parser_reads_documented_example():
    # systemd.service(5): ExecStart=echo / >/dev/null & \; ls  -> 5 arguments
    assert parse_exec("/bin/echo / >/dev/null & \\; ls") == ["/bin/echo", "/", ">/dev/null", "&", ";", "ls"]
    assert parse_exec("/bin/echo \"two two\" 'x\\sy' \\x41\\101") == ["/bin/echo", "two two", "x y", "AA"]


@PROPS
@given(argvs)
@example(["\x7f", "\x85", "\u2028", "\ufeff", "é"])
def test_json_roundtrip(argv):
    import json

    import yaml

    text = _argv.to_json_list(argv)
    assert json.loads(text) == argv
    assert yaml.safe_load("command: " + text)["command"] == argv


@PROPS
@given(st.lists(arg, max_size=15), st.sets(st.sampled_from(["--v", "-v", "--a", "--leader-elect", "--x"])))
@example(["--a", "b", "-v=3", "--a=c", "pos", "--", "--not-a-flag"], set())
@example(["--flag", "", "--x=", "-", "--"], set())
def test_flags_roundtrip(args, bool_flags):
    assert _argv.join_flags(_argv.split_flags(args, bool_flags)) == args


def test_flag_view_of_apiserver_args():
    args = ["--secure-port=6443", "--v", "3", "--enable-admission-plugins=A,B", "--v=4", APISERVER_TRICKY, "extra", "--", "--x"]
    items = _argv.split_flags(args)
    assert _argv.flag_values(items, "v") == ["3", "4"]
    assert _argv.flag_values(items, "--cors-allowed-origins") == ["/127.0.0.1(:[0-9]+)?$"]
    assert [i["kind"] for i in items][-3:] == ["positional", "end", "positional"]
    changed = _argv.set_flag(items, "v", "9")
    assert _argv.join_flags(changed) == ["--secure-port=6443", "--v", "9", "--enable-admission-plugins=A,B", APISERVER_TRICKY, "extra", "--", "--x"]
    added = _argv.set_flag(items, "--leader-elect", "false")
    assert _argv.join_flags(added)[-3:] == ["--leader-elect=false", "--", "--x"]
    assert "--secure-port=6443" not in _argv.join_flags(_argv.remove_flag(items, "secure-port"))


@pytest.mark.parametrize("bad", [[], "kube-apiserver --v=2", [1, 2], ["a\0b"], None])
def test_check_argv_rejects(bad):
    with pytest.raises(KubedebugError) as e:
        _argv.check_argv(bad)
    assert e.value.hint


def test_from_shell_reports_unclosed_quote():
    with pytest.raises(KubedebugError, match="unclosed|No closing"):
        _argv.from_shell("kube-apiserver '--x")
