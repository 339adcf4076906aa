"""Issue 14: the launch.json ide_config writes for a user's own Go module (an operator, a webhook), taken the way
VS Code takes it (tests/dap_client.py), against a real headless dlv.

Two layouts a kubebuilder project has had: the main package at the module root (before v4) and under cmd/ with
the handler in internal/ (v4). Each is built with `-gcflags=all=-N -l` (Debian's Go, debugged by Debian's dlv),
run under `dlv exec --headless --continue`, and its configuration is written from what go_debug_info reads in
the binary; the checkout is opened at another path than the build's. A breakpoint by the checkout's path must
bind and be hit by a request, with the stopped frame in the checkout's file. (With the root derived from the
directory's shape alone, the module-root layout mapped the module's parent and bound nothing.)
"""

import json
import os
import subprocess
import time

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as _debuginfo
from ansible_collections.kubedebug.lab.plugins.module_utils._session import ide as _ide
from tests import dap_client
from tests.integration.conftest import free_port
from tests.toolchains import debian_go

DLV = "/usr/bin/dlv"
GOCACHE = "/var/cache/kubedebug/test-gocache/ide-layouts"

HANDLER = """package %(pkg)s

import (
    "fmt"
    "net/http"
)

func Hello(w http.ResponseWriter, r *http.Request) {
    name := r.URL.Query().Get("name")
    fmt.Fprintf(w, "hello %%s\\n", name)
}
"""

MAIN = """package main

import (
    "flag"
    "net/http"
%(imp)s)

func main() {
    addr := flag.String("addr", "127.0.0.1:0", "listen address")
    flag.Parse()
    http.HandleFunc("/hello", %(fn)s)
    if err := http.ListenAndServe(*addr, nil); err != nil {
        panic(err)
    }
}
%(local)s"""


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _module(d, layout):
    """The project; returns (package dir to build, the handler's file relative to the module root)."""
    _write(str(d / "go.mod"), "module example.com/op\n\ngo 1.19\n")
    if layout == "main at the module root":
        local = (HANDLER % {"pkg": "main"}).split(")\n", 1)[1]  # Hello, without its package line and imports
        _write(str(d / "main.go"), MAIN % {"imp": '\t"fmt"\n', "fn": "Hello", "local": local})
        return ".", "main.go"
    _write(str(d / "internal" / "webhook" / "hello.go"), HANDLER % {"pkg": "webhook"})
    main = MAIN % {"imp": '\t"example.com/op/internal/webhook"\n', "fn": "webhook.Hello", "local": ""}
    _write(str(d / "cmd" / "main.go"), main)
    return "./cmd", "internal/webhook/hello.go"


@pytest.mark.parametrize("layout", ["main at the module root", "cmd/ and internal/"])
def test_vscode_attach_to_an_operator_by_its_checkout_paths(tmp_path, layout):
    mod = tmp_path / "op"
    pkg, handler = _module(mod, layout)
    binary = str(tmp_path / "op.bin")
    env = dict(os.environ, GOCACHE=GOCACHE, GOFLAGS="-mod=mod", GOPROXY="off", GO111MODULE="on", CGO_ENABLED="0")
    subprocess.run([debian_go(), "build", "-gcflags=all=-N -l", "-o", binary, pkg], cwd=mod, env=env, check=True)
    info = _debuginfo.analyze(binary)
    assert info["debuggable"], info["reasons"]
    assert info["main_module"]["path"] == "example.com/op"

    port, app = free_port(), free_port()
    dlv = subprocess.Popen([DLV, "exec", binary, "--headless", "--listen=127.0.0.1:%d" % port, "--api-version=2",
                            "--accept-multiclient", "--continue", "--", "-addr=127.0.0.1:%d" % app],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        written = {}
        res = _ide.write_configurations(
            dict(dest=str(tmp_path / "ide"), name="op", host="127.0.0.1", port=port, local_root="${workspaceFolder}",
                 remote_root=None, main_package_dir=info["main_package_dir"], main_path=info["main_path"],
                 main_module=info["main_module"]["path"], staging_repos=None, vscode=True, goland=False),
            write=written.__setitem__)
        assert res["remote_root"] == str(mod)
        conf = json.loads(written[str(tmp_path / "ide" / ".vscode" / "launch.json")])["configurations"][0]
        checkout = tmp_path / "checkout"
        checkout.symlink_to(mod)
        line = dap_client.line_after(str(mod / handler), r"^func Hello\(")
        deadline = time.monotonic() + 60
        while subprocess.run(["curl", "-s", "-o", "/dev/null", "http://127.0.0.1:%d/hello" % app], check=False).returncode:
            assert time.monotonic() < deadline and dlv.poll() is None, "the program under dlv does not serve"
            time.sleep(0.2)
        trigger = ["curl", "-s", "-m", "60", "http://127.0.0.1:%d/hello?name=dap" % app]
        report = dap_client.check("127.0.0.1", port, conf, str(checkout), {str(checkout / handler): [line]}, trigger)
        assert report["error"] is None, report
        assert [b["verified"] for b in report["breakpoints"][str(checkout / handler)]] == [True], report
        assert (report["stopped"]["path"], report["stopped"]["line"]) == (str(checkout / handler), line), report
        assert report["trigger"]["output"] == "hello dap\n", report
        assert dlv.poll() is None  # disconnecting left dlv (and the program) running
    finally:
        os.killpg(dlv.pid, 9)
        dlv.wait()
