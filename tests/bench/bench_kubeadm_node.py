"""What the kubeadm Molecule scenario costs: `molecule test -s kubeadm`, wall time.

    python tests/bench/bench_kubeadm_node.py [--cold-builds] [--tree DIR]

Prints, each from one real run:
  * the scenario with its own caches cold: the image tarballs and etcd
    (/var/cache/kubedebug/kubeadm-node) removed first; the Kubernetes debug
    binaries, Go and dlv (shared with the lab and the integration stage) kept;
  * the scenario again, everything cached (a rerun);
  * with --cold-builds, what a fresh CI machine adds on top:
    - the Kubernetes builds, on a copy of the tree with no build cache (so the
      shared tree's cache is neither used nor disturbed), with the scenario's
      build settings: kube-apiserver alone (the integration stage builds it
      anyway), then the five other components the scenario needs
      (kube-controller-manager, kube-scheduler, kubectl, kubelet, kubeadm) on top
      of it - the scenario's share of a cold CI run;
    - etcd, built by the scenario's own tasks (molecule/kubeadm/tasks/etcd.yml)
      with empty Go module and build caches.
Figures only; nothing is asserted. Times are wall clock on a possibly shared machine.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_k8s_build import CACHE, REPO, playbook, tree_go  # noqa: E402

SCENARIO = os.path.join(REPO, "molecule", "kubeadm")
ARTIFACTS = os.path.join(CACHE, "kubeadm-node")
OTHERS = ["kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kubeadm"]

with open(os.path.join(SCENARIO, "vars", "kubeadm.yml")) as _f:
    VARS = yaml.safe_load(_f)


def scenario():
    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    t0 = time.monotonic()
    p = subprocess.run(["molecule", "test", "-s", "kubeadm"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("molecule test -s kubeadm failed:\n%s" % (p.stdout + p.stderr)[-4000:])
    return dt


def cold_builds(tree_src, go):
    with tempfile.TemporaryDirectory(prefix="kd-bench-kubeadm-", dir=os.path.dirname(os.path.abspath(tree_src))) as tmp:
        tree = os.path.join(tmp, "kubernetes")
        subprocess.run(["rsync", "-a", "--exclude=/_output", "--exclude=/.make", tree_src.rstrip("/") + "/", tree + "/"], check=True)
        state = os.path.join(tmp, "state")
        t = []
        # the second run builds only the five others: kube-apiserver's stamp is there
        for label, components in (("kube-apiserver", ["kube-apiserver"]), (", ".join(OTHERS), ["kube-apiserver"] + OTHERS)):
            t.append(playbook("k8s_build.yml", {"k8s_build_source_dir": tree, "k8s_build_components": components,
                                                "k8s_build_state_dir": state, "k8s_build_poll_interval": 60,
                                                "k8s_build_go_bin": go, "k8s_build_check_dlv": False,
                                                "k8s_build_compress_dwarf": VARS["kubeadm_node_compress_dwarf"],
                                                "k8s_build_nice": 10}, tmp)[0])
            print("built %s cold in %.1f s" % (label, t[-1]), flush=True)
        return t


def cold_etcd(go, go_version):
    """The scenario's etcd tasks with empty module and build caches (as on a fresh machine)."""
    with tempfile.TemporaryDirectory(prefix="kd-bench-etcd-") as tmp:
        book = os.path.join(tmp, "etcd.yml")
        with open(book, "w") as f:
            yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
                {"ansible.builtin.include_tasks": os.path.join(SCENARIO, "tasks", "etcd.yml")}]}], f)
        extra = {"ansible_python_interpreter": sys.executable, "go_bin": go, "go_installed_version": go_version,
                 "kubeadm_node_etcd_version": VARS["kubeadm_node_etcd_version"],
                 "__kubeadm_etcd_dir": os.path.join(tmp, "etcd"),
                 "__kubeadm_etcd_env": {"GOTOOLCHAIN": "local", "GOWORK": "off", "GOFLAGS": "", "GONOSUMDB": "", "GONOSUMCHECK": "",
                                        "GOPRIVATE": "", "GOINSECURE": "", "GONOPROXY": "", "GOMODCACHE": os.path.join(tmp, "gomod")}}
        ev = os.path.join(tmp, "ev.json")
        with open(ev, "w") as f:
            json.dump(extra, f)
        env = dict(os.environ, GOCACHE=os.path.join(tmp, "gocache"))
        t0 = time.monotonic()
        p = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", book, "-e", "@" + ev], cwd=REPO, env=env,
                           capture_output=True, text=True, check=False)
        dt = time.monotonic() - t0
        # the module cache is read-only on disk
        subprocess.run(["chmod", "-R", "u+w", tmp], check=False)
        if p.returncode != 0:
            sys.exit("the etcd build failed:\n%s" % (p.stdout + p.stderr)[-4000:])
        return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold-builds", action="store_true")
    ap.add_argument("--tree", default=os.path.join(CACHE, "src", "kubernetes-" + VARS["kubeadm_node_version"]))
    a = ap.parse_args()
    rows = []
    if a.cold_builds:
        go = tree_go(a.tree)
        version = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
        rows.append(("cold build: etcd (empty Go caches)", cold_etcd(go, version.replace("go", "", 1))))
        print("built etcd cold in %.1f s" % rows[-1][1], flush=True)
        apiserver, others = cold_builds(a.tree, go)
        rows.append(("cold build: kube-apiserver", apiserver))
        rows.append(("cold build: the 5 others after it", others))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    for name in ("molecule test, scenario caches cold", "molecule test, all cached (rerun)"):
        rows.append((name, scenario()))
        print("%s: %.1f s" % rows[-1], flush=True)
    print("")
    print("kubeadm scenario bench (%d cores)" % os.cpu_count())
    for name, secs in rows:
        print("  %-38s %7.1f s (%.1f min)" % (name, secs, secs / 60))


if __name__ == "__main__":
    main()
