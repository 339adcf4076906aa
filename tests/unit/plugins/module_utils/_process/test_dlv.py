"""dlv invocation builder and the attach commands."""

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import dlv as _dlv


@pytest.mark.parametrize(
    "listen, host, port, exposure",
    [
        ("127.0.0.1:2345", "127.0.0.1", 2345, "loopback"),
        ("127.0.0.2:1", "127.0.0.2", 1, "loopback"),
        ("localhost:40000", "localhost", 40000, "loopback"),
        ("[::1]:2345", "::1", 2345, "loopback"),
        ("0.0.0.0:2345", "0.0.0.0", 2345, "network"),
        ("[::]:2345", "::", 2345, "network"),
        ("10.0.0.5:2345", "10.0.0.5", 2345, "network"),
        ("node1.lab:2345", "node1.lab", 2345, "network"),
    ],
)
def test_parse_listen(listen, host, port, exposure):
    assert _dlv.parse_listen(listen) == (host, port, exposure)


BAD_LISTEN = ["2345", ":2345", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:2345", "host name:1", "", "a:b",
              "foo\n:2345", "127.0.0.1:2345\n"]


@pytest.mark.parametrize("bad", BAD_LISTEN)
def test_parse_listen_rejects(bad):
    with pytest.raises(KubedebugError) as e:
        _dlv.parse_listen(bad)
    assert e.value.hint


def test_default_invocation():
    r = _dlv.build_dlv_argv("/opt/k/kube-apiserver", ["--secure-port=6443", ""])
    assert r["argv"] == ["dlv", "exec", "/opt/k/kube-apiserver", "--headless", "--listen=127.0.0.1:2345", "--api-version=2",
                         "--accept-multiclient", "--continue", "--", "--secure-port=6443", ""]
    assert r["exposure"] == "loopback" and r["warnings"] == []


def test_no_args_no_double_dash_and_paused_start():
    r = _dlv.build_dlv_argv("/bin/x", [], continue_after_start=False, accept_multiclient=False, dlv_path="/usr/bin/dlv",
                            dlv_log_output="debugger,rpc", dlv_flags=["--check-go-version=false"])
    assert r["argv"] == ["/usr/bin/dlv", "exec", "/bin/x", "--headless", "--listen=127.0.0.1:2345", "--api-version=2",
                         "--log", "--log-output=debugger,rpc", "--check-go-version=false"]


def test_network_listen_warns():
    r = _dlv.build_dlv_argv("/bin/x", [], listen="0.0.0.0:2345")
    assert r["exposure"] == "network"
    assert "no authentication" in r["warnings"][0]


def test_ipv6_listen_is_bracketed():
    assert "--listen=[::1]:2345" in _dlv.build_dlv_argv("/bin/x", [], listen="[::1]:2345")["argv"]


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(continue_after_start=True, accept_multiclient=False), "continue needs accept_multiclient"),
        (dict(dlv_flags=["--listen=0.0.0.0:1"]), "conflicts"),
        (dict(dlv_flags=["--continue"]), "conflicts"),
        (dict(dlv_flags=["check-go-version=false"]), "does not start with"),
        (dict(dlv_flags=["--"]), "may not contain"),
        (dict(api_version=1), "not supported"),
        (dict(listen="nope"), "not host:port"),
    ],
)
def test_bad_input(kwargs, msg):
    with pytest.raises(KubedebugError, match=msg):
        _dlv.build_dlv_argv("/bin/x", ["--a"], **kwargs)


def test_attach_commands_loopback():
    a = _dlv.attach_commands("127.0.0.1", 2345, "loopback", "root@node1", 12345)
    assert a["ssh_tunnel_command"] == "ssh -N -L 12345:127.0.0.1:2345 root@node1"
    assert a["connect_command"] == "dlv connect 127.0.0.1:12345"
    assert a["ide_remote"] == {"host": "127.0.0.1", "port": 12345}
    assert "only-same-user" in a["notes"][0]


def test_attach_commands_network():
    a = _dlv.attach_commands("0.0.0.0", 2345, "network")
    assert a["ssh_tunnel_command"] is None
    assert a["connect_command"] == "dlv connect DEBUG_HOST:2345"


def test_resolve_dlv_path():
    assert _dlv.resolve_dlv_path("/opt/dlv", lambda name: None) == "/opt/dlv"
    assert _dlv.resolve_dlv_path("dlv", {"dlv": "/usr/bin/dlv"}.get) == "/usr/bin/dlv"
    with pytest.raises(KubedebugError, match=r"dlv \(dlv-nope\) is not installed") as e:
        _dlv.resolve_dlv_path("dlv-nope", lambda name: None)
    assert "kubedebug.lab.delve" in e.value.hint
    with pytest.raises(KubedebugError) as e:
        _dlv.resolve_dlv_path("dlv-nope", lambda name: None, hint="static dlv")
    assert e.value.hint == "static dlv"
