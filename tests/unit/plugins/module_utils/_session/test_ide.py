"""IDE configuration rendering."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._session import ide as _ide


@pytest.mark.parametrize(
    "recorded, root",
    [
        ("_output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver", "_output/local/go/src/k8s.io/kubernetes"),
        ("/go/src/k8s.io/kubernetes/_output/dockerized/go/src/k8s.io/kubernetes/cmd/kubelet",
         "/go/src/k8s.io/kubernetes"),
        ("k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes"),
        ("/home/me/src/kubernetes/cmd/kube-apiserver", "/home/me/src/kubernetes"),
        ("/src/tool", "/src"),
    ],
)
def test_remote_root(recorded, root):
    assert _ide.remote_source_root(recorded) == root


def test_remote_root_needs_a_path():
    with pytest.raises(KubedebugError, match="records no source directory"):
        _ide.remote_source_root("")


def test_launch_json_merges_and_replaces_by_name():
    existing = json.dumps({"version": "0.2.0", "configurations": [{"name": "mine", "type": "go"}, {"name": "apiserver", "port": 1}],
                           "compounds": []})
    conf = _ide.vscode_configuration("apiserver", "127.0.0.1", 2345, "${workspaceFolder}", "_output/local/go/src/k8s.io/kubernetes")
    doc = json.loads(_ide.merge_launch_json(existing, conf))
    assert [c["name"] for c in doc["configurations"]] == ["mine", "apiserver"]
    new = doc["configurations"][1]
    assert new["mode"] == "remote" and new["request"] == "attach" and new["debugAdapter"]
    assert new["substitutePath"] == [{"from": "${workspaceFolder}", "to": "_output/local/go/src/k8s.io/kubernetes"}]
    assert doc["compounds"] == []
    # Idempotent: merging again gives the same text.
    text = _ide.merge_launch_json(existing, conf)
    assert _ide.merge_launch_json(text, conf) == text


def test_launch_json_with_comments_is_left_alone():
    with pytest.raises(KubedebugError, match="not plain JSON"):
        _ide.merge_launch_json('{\n  // comment\n  "configurations": []\n}', {"name": "x"})


def test_goland_xml_parses_and_escapes():
    text = _ide.goland_run_xml('apiserver "node1" <&>', "127.0.0.1", 2345)
    conf = ET.fromstring(text).find("configuration")
    assert conf.get("type") == "GoRemoteDebugConfigurationType" and conf.get("factoryName") == "Go Remote"
    assert conf.get("name") == 'apiserver "node1" <&>' and conf.get("port") == "2345" and conf.get("host") == "127.0.0.1"


def test_launch_json_shared_by_two_components_is_stable():
    """Writing each component's entry again changes nothing (found on the kubeadm node: the order flipped)."""
    api = _ide.vscode_configuration("kube-apiserver on n1", "127.0.0.1", 2345, "${workspaceFolder}", "_output/local/go/src/k8s.io/kubernetes")
    kubelet = _ide.vscode_configuration("kubelet on n1", "127.0.0.1", 2346, "${workspaceFolder}", "_output/local/go/src/k8s.io/kubernetes")
    text = _ide.merge_launch_json(_ide.merge_launch_json(None, api), kubelet)
    assert [c["name"] for c in json.loads(text)["configurations"]] == ["kube-apiserver on n1", "kubelet on n1"]
    assert _ide.merge_launch_json(text, api) == text
    assert _ide.merge_launch_json(_ide.merge_launch_json(text, api), kubelet) == text
    moved = dict(api, port=2399)
    doc = json.loads(_ide.merge_launch_json(text, moved))
    assert [c["port"] for c in doc["configurations"]] == [2399, 2346]


def test_write_configurations_check_mode_then_write_then_nothing(tmp_path):
    from ansible_collections.kubedebug.lab.plugins.module_utils._files import atomic_write

    p = dict(dest=str(tmp_path), name="kube-apiserver on node1", host="127.0.0.1", port=2345, local_root="${workspaceFolder}",
             remote_root=None, main_package_dir="_output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver", vscode=True, goland=True)
    written = []

    def write(path, data):
        written.append(path)
        atomic_write(path, data, 0o644)

    dry = _ide.write_configurations(p, check_mode=True, write=write)
    assert dry["changed"] and not written and not list(tmp_path.iterdir())
    assert [d["before"] for d in dry["diff"]] == ["", ""]
    real = _ide.write_configurations(p, write=write)
    assert real["changed"] and len(written) == 2 and real["remote_root"] == "_output/local/go/src/k8s.io/kubernetes"
    launch = json.loads((tmp_path / ".vscode" / "launch.json").read_text())
    assert launch["configurations"][0]["mode"] == "remote"
    again = _ide.write_configurations(p, write=write)
    assert not again["changed"] and again["diff"] == [] and len(written) == 2


@pytest.mark.parametrize(
    "recorded, main_path, module, root",
    [
        # An operator whose main package is the module root (kubebuilder before v4), built from its directory.
        ("/home/me/op", "example.com/op", "example.com/op", "/home/me/op"),
        ("/home/me/op/cmd", "example.com/op/cmd", "example.com/op", "/home/me/op"),
        # Built from the module cache (go install example.com/op/cmd/manager@v1.2.0).
        ("/root/go/pkg/mod/example.com/op@v1.2.0/cmd/manager", "example.com/op/cmd/manager", "example.com/op",
         "/root/go/pkg/mod/example.com/op@v1.2.0"),
        # -trimpath: the recorded directory is the import path itself.
        ("example.com/op/cmd/manager", "example.com/op/cmd/manager", "example.com/op", "example.com/op"),
        # A current Kubernetes tree (workspace mode, DBG=1 keeps absolute paths).
        ("/var/cache/kubedebug/src/kubernetes-v1.37.2/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-apiserver",
         "k8s.io/kubernetes", "/var/cache/kubedebug/src/kubernetes-v1.37.2"),
        # Build info that does not fit the directory: the shape rules decide.
        ("/src/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/other", "k8s.io/kubernetes", "/src/kubernetes"),
    ],
)
def test_remote_root_from_build_info(recorded, main_path, module, root):
    assert _ide.remote_source_root(recorded, main_path=main_path, module_path=module) == root


def test_gopath_layout_maps_staging_before_the_root():
    """v1.20: staging code is recorded under vendor/k8s.io/NAME; the staging path a developer edits needs its own entry,
    ahead of the root's (delve takes the first match both ways)."""
    remote = "_output/local/go/src/k8s.io/kubernetes"
    m = _ide.source_mappings("${workspaceFolder}", remote)
    assert m[-1] == {"from": "${workspaceFolder}", "to": remote}
    assert {"from": "${workspaceFolder}/staging/src/k8s.io/apiserver", "to": remote + "/vendor/k8s.io/apiserver"} in m
    assert all(e["from"].startswith("${workspaceFolder}/staging/src/k8s.io/") for e in m[:-1])
    # Vendored (not staging) k8s.io repositories keep the root mapping: the checkout has no staging copy of them.
    assert not [e for e in m if e["from"].endswith(("/klog", "/utils", "/kube-openapi"))]
    assert _ide.source_mappings("/w", remote, ["apiserver"]) == [
        {"from": "/w/staging/src/k8s.io/apiserver", "to": remote + "/vendor/k8s.io/apiserver"}, {"from": "/w", "to": remote}]
    with pytest.raises(KubedebugError, match="not a directory name"):
        _ide.source_mappings("/w", remote, ["../etc"])


def _first_match(mappings, path, src, dst):
    """delve's rule: the first entry whose `src` is a prefix (at a path boundary) rewrites the path."""
    for e in mappings:
        if path == e[src] or path.startswith(e[src].rstrip("/") + "/"):
            return e[dst] + path[len(e[src]):]
    return path


@pytest.mark.parametrize("remote", ["/var/cache/kubedebug/src/kubernetes-v1.37.2", "/home/me/op", "k8s.io/kubernetes"])
def test_other_layouts_map_the_root_only(remote):
    assert _ide.source_mappings("${workspaceFolder}", remote) == [{"from": "${workspaceFolder}", "to": remote}]


def test_gopath_mappings_round_trip_staging_and_vendor_paths():
    remote = "_output/local/go/src/k8s.io/kubernetes"
    m = _ide.source_mappings("/w", remote)
    get = "/pkg/endpoints/handlers/get.go"
    for local in ("/w/staging/src/k8s.io/apiserver" + get, "/w/vendor/k8s.io/apiserver" + get):
        assert _first_match(m, local, "from", "to") == remote + "/vendor/k8s.io/apiserver" + get
    # A stopped frame in staging code opens the staging file; main-tree and vendored code map by the root.
    assert _first_match(m, remote + "/vendor/k8s.io/apiserver" + get, "to", "from") == "/w/staging/src/k8s.io/apiserver" + get
    assert _first_match(m, remote + "/vendor/k8s.io/klog/v2/klog.go", "to", "from") == "/w/vendor/k8s.io/klog/v2/klog.go"
    assert _first_match(m, remote + "/cmd/kube-apiserver/apiserver.go", "to", "from") == "/w/cmd/kube-apiserver/apiserver.go"


def test_write_configurations_writes_the_mappings(tmp_path):
    p = dict(dest=str(tmp_path), name="kube-apiserver on n1", host="127.0.0.1", port=2345, local_root="${workspaceFolder}",
             remote_root=None, main_package_dir="_output/local/go/src/k8s.io/kubernetes/cmd/kube-apiserver", main_path=None,
             main_module=None, staging_repos=None, vscode=True, goland=True)
    written = {}
    res = _ide.write_configurations(p, write=written.__setitem__)
    conf = json.loads(written[str(tmp_path / ".vscode" / "launch.json")])["configurations"][0]
    assert conf["substitutePath"] == res["mappings"] and len(res["mappings"]) > 1
    assert "vendor/ path" in res["goland_note"]


def test_gopath_tree_at_its_own_path():
    """k8s_build_absolute_paths on v1.20: the tree's own path, staging still under vendor/ (no module in the build
    info); a module build at the same path (a current tree) maps the root only."""
    assert _ide.gopath_tree("/src/k8s", "/src/k8s/cmd/kube-apiserver", "")
    assert not _ide.gopath_tree("/src/k8s", "/src/k8s/cmd/kube-apiserver", "k8s.io/kubernetes")
    assert not _ide.gopath_tree("/src/k8s", "/src/k8s/cmd/kube-apiserver", None)  # not known: not guessed
    assert _ide.gopath_tree("/x/_output/local/go/src/k8s.io/kubernetes")
    assert len(_ide.source_mappings("/w", "/src/k8s", gopath=True)) > 1
