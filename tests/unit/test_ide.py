"""IDE configuration rendering."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.kubedebug.lab.plugins.module_utils import _ide
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError


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
    from ansible_collections.kubedebug.lab.plugins.module_utils._supervise import atomic_write

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
