"""What the kubeadm Molecule scenario costs: `molecule test -s kubeadm`, wall time.

    python tests/bench/bench_kubeadm_node.py [--cold-builds] [--tree DIR]

Prints, each from one real run:
  * the scenario with its own caches cold: the image tarballs and the static dlv
    (/var/cache/kubedebug/kubeadm-node) and the delve source tarball
    (.build/install-fixtures) removed first; the Kubernetes debug binaries kept;
  * the scenario again, everything cached (a rerun);
  * with --cold-builds, the Kubernetes builds a fresh CI machine adds, on a copy of
    the tree with no Go build cache (so the shared tree's cache is neither used nor
    disturbed): kube-apiserver alone (the integration stage builds it anyway), then
    the five other components the scenario needs (kube-controller-manager,
    kube-scheduler, kubectl, kubelet, kubeadm) on top of it - the scenario's share
    of a cold CI run.
Figures only; nothing is asserted. Times are wall clock on a possibly shared machine.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_k8s_build import CACHE, REPO, playbook  # noqa: E402

ARTIFACTS = os.path.join(CACHE, "kubeadm-node")
OTHERS = ["kube-controller-manager", "kube-scheduler", "kubectl", "kubelet", "kubeadm"]


def scenario():
    env = dict(os.environ, NO_COLOR="1", PY_COLORS="0", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    t0 = time.monotonic()
    p = subprocess.run(["molecule", "test", "-s", "kubeadm"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("molecule test -s kubeadm failed:\n%s" % (p.stdout + p.stderr)[-4000:])
    return dt


def cold_builds(tree_src):
    with tempfile.TemporaryDirectory(prefix="kd-bench-kubeadm-", dir=os.path.dirname(os.path.abspath(tree_src))) as tmp:
        tree = os.path.join(tmp, "kubernetes")
        subprocess.run(["rsync", "-a", "--exclude=/_output", "--exclude=/.make", tree_src.rstrip("/") + "/", tree + "/"], check=True)
        state = os.path.join(tmp, "state")
        t = []
        # the second run builds only the five others: kube-apiserver's stamp is there
        for label, components in (("kube-apiserver", ["kube-apiserver"]), (", ".join(OTHERS), ["kube-apiserver"] + OTHERS)):
            t.append(playbook("k8s_build.yml", {"k8s_build_source_dir": tree, "k8s_build_components": components,
                                                "k8s_build_state_dir": state, "k8s_build_poll_interval": 60,
                                                "k8s_build_nice": 10}, tmp)[0])
            print("built %s cold in %.1f s" % (label, t[-1]), flush=True)
        return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cold-builds", action="store_true")
    ap.add_argument("--tree", default=os.path.join(CACHE, "src", "kubernetes-v1.20.2"))
    a = ap.parse_args()
    rows = []
    if a.cold_builds:
        apiserver, others = cold_builds(a.tree)
        rows.append(("cold build: kube-apiserver", apiserver))
        rows.append(("cold build: the 5 others after it", others))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    shutil.rmtree(os.path.join(REPO, ".build", "install-fixtures"), ignore_errors=True)
    for name in ("molecule test, scenario caches cold", "molecule test, all cached (rerun)"):
        rows.append((name, scenario()))
        print("%s: %.1f s" % rows[-1], flush=True)
    print("")
    print("kubeadm scenario bench (%d cores)" % os.cpu_count())
    for name, secs in rows:
        print("  %-38s %7.1f s (%.1f min)" % (name, secs, secs / 60))


if __name__ == "__main__":
    main()
