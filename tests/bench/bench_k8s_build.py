"""Role build vs raw `make`, side by side on the same tree, and a no-op rerun of the role.

    python tests/bench/bench_k8s_build.py [--tree DIR] [--component kube-apiserver] [--rounds N] [--warm]
    python tests/bench/bench_k8s_build.py --noop-only     # no-op reruns on the lab's build only (after make lab)

The default tree is the lab's release (inventories/local: the current release from the Go
module proxy, built by its own Go from /opt/kubedebug/go); --tree/--go pick another (Debian's
v1.20.2 tree with Debian's Go: --tree /var/cache/kubedebug/src/kubernetes-v1.20.2
--go /usr/lib/go-1.19/bin/go).

The bench works on its own copy of the tree (rsync of --tree without _output and .make,
in a temporary directory next to it), so it neither loses nor disturbs the shared
tree's build cache while others use it. Each round builds the component twice from the
same state (the order alternates between rounds, to even out other load on a shared
machine): once with the tree's own debug build, `make WHAT=cmd/<c> DBG=1` where
hack/lib/golang.sh has DBG (v1.24+), else `make WHAT=cmd/<c> GOGCFLAGS="all=-N -l" GOLDFLAGS=""`,
in the environment the role gives make (the tree's Go first on PATH, GOTOOLCHAIN=local,
FORCE_HOST_GO, KUBE_GIT_VERSION_FILE), once through the
kubedebug.lab.k8s_build role (fresh state dir, so its stamp is missing). By default both
start cold: the copy's _output (Go build cache, binaries) and .make (code generation
stamps) are removed first. --warm builds the copy once and keeps its cache (measures
the overhead on a relink-only build).

Prints the figures, the ratio role/raw (target <= 1.05), the role's own overhead (its
wall time minus the make it ran, which other load does not move much) and the no-op
rerun time (target < 5 s). Times are wall clock: on a shared machine other load moves
the build times by tens of seconds; use several rounds.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("KUBEDEBUG_CACHE", "/var/cache/kubedebug")
PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")


sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
from ansible_collections.kubedebug.lab.plugins.module_utils._build import k8stree as kt  # noqa: E402


def lab_release():
    import yaml
    with open(os.path.join(REPO, "inventories", "local", "group_vars", "all.yml")) as f:
        return yaml.safe_load(f)["kubedebug_lab_version"]


def tree_go(tree):
    """/opt/kubedebug/go/<the tree's .go-version>/bin/go (the go role's toolchain install) when it is there."""
    try:
        with open(os.path.join(tree, ".go-version")) as f:
            go = os.path.join("/opt/kubedebug/go", f.read().strip(), "bin", "go")
        if os.path.exists(go):
            return go
    except OSError:
        pass
    return shutil.which("go")


def playbook(name, extra, tmp, args=()):
    inv = os.path.join(tmp, "inv.json")
    with open(inv, "w") as f:
        json.dump({"all": {"hosts": {"buildhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                                     "localhost": {"ansible_connection": "local",
                                                   "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}, f)
    ev = os.path.join(tmp, "ev.json")
    with open(ev, "w") as f:
        json.dump(extra, f)
    t0 = time.monotonic()
    p = subprocess.run(["ansible-playbook", "-i", inv, os.path.join(PLAYBOOKS, name), "-e", "@" + ev] + list(args),
                       cwd=REPO, capture_output=True, text=True, check=False)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, (p.stdout + p.stderr)[-4000:]))
    return dt, p.stdout


def raw_make(tree, component, log, go):
    """The tree's own debug build, in the environment the role gives make (not its make variables' choice)."""
    feats = kt.inspect_tree(tree)["features"]
    env = dict(os.environ, PATH=os.path.dirname(go) + ":" + os.environ["PATH"], GOFLAGS="", GOTOOLCHAIN="local")
    if feats["force_host_go"]:
        env["FORCE_HOST_GO"] = "y"
    if os.path.exists(os.path.join(tree, kt.VERSION_FILE)):
        env["KUBE_GIT_VERSION_FILE"] = os.path.join(tree, kt.VERSION_FILE)
    flags = ["DBG=1"] if feats["dbg"] else ["GOGCFLAGS=all=-N -l", "GOLDFLAGS="]
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.run(["make", "WHAT=cmd/" + component] + flags, cwd=tree, env=env,
                            stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        sys.exit("raw make failed, see %s" % log)
    return time.monotonic() - t0


def reset(tree, cold):
    """Back to a cold tree: no Go build cache, no binaries, no code generation stamps."""
    if cold:
        for d in ("_output", ".make"):
            shutil.rmtree(os.path.join(tree, d), ignore_errors=True)


def noop_only(a):
    """No-op reruns of the role on the lab's build, as `make lab` leaves it: the stamp matches, nothing is built."""
    import statistics

    release = lab_release()
    state = os.path.join(CACHE, "build", release)
    go = a.go or tree_go(a.tree)
    extra = {"k8s_build_source_dir": a.tree, "k8s_build_components": [a.component], "k8s_build_state_dir": state,
             "k8s_build_compress_dwarf": False, "k8s_build_go_bin": go, "k8s_build_check_dlv": False}
    if not os.path.exists(os.path.join(state, "bin", a.component)):
        sys.exit("no %s build of %s in %s: run `make lab` first" % (release, a.component, state))
    times = []
    with tempfile.TemporaryDirectory(prefix="kd-bench-") as tmp:
        for i in range(max(a.rounds, 3)):
            dt, out = playbook("k8s_build.yml", extra, tmp)
            changed = [line for line in out.splitlines() if " changed=" in line][-1].split("changed=")[1].split()[0]
            if changed != "0":  # a build or a patch reports changed
                sys.exit("round %d was not a no-op (changed=%s): the lab's build is stale?\n%s" % (i + 1, changed, out[-3000:]))
            times.append(dt)
            print("no-op round %d: %.2f s (changed=%s)" % (i + 1, dt, changed), flush=True)
    print("")
    print("k8s_build no-op rerun (%s, %s, %d rounds): median %.2f s, min %.2f s, max %.2f s (target < 5 s; whole "
          "ansible-playbook run)" % (a.component, a.tree, len(times), statistics.median(times), min(times), max(times)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default=os.path.join(CACHE, "src", "kubernetes-" + lab_release()))
    ap.add_argument("--go", default="", help="go binary (default: the tree's Go from /opt/kubedebug/go, else PATH's)")
    ap.add_argument("--component", default="kube-apiserver")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warm", action="store_true")
    ap.add_argument("--noop-only", action="store_true",
                    help="only time no-op reruns of the role on the lab's own build (tree, state dir and settings of "
                         "inventories/local); needs `make lab` (or k8s-debug-build.yml) first")
    a = ap.parse_args()
    if a.noop_only:
        return noop_only(a)
    if not os.path.isfile(os.path.join(a.tree, "Makefile")):
        sys.exit("%s is not a Kubernetes tree: run `ansible-playbook playbooks/k8s-debug-build.yml` (the lab's release) "
                 "or give --tree" % a.tree)
    go = a.go or tree_go(a.tree)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kd-bench-", dir=os.path.dirname(os.path.abspath(a.tree))) as tmp:
        tree = os.path.join(tmp, "kubernetes")
        subprocess.run(["rsync", "-a", "--exclude=/_output", "--exclude=/.make", a.tree.rstrip("/") + "/", tree + "/"], check=True)
        # the role patches the tree (reflect2) on its first run; with --warm this also fills the cache
        state0 = os.path.join(tmp, "state0")
        playbook("k8s_build.yml", {"k8s_build_source_dir": tree, "k8s_build_components": [a.component],
                                   "k8s_build_state_dir": state0, "k8s_build_poll_interval": 60, "k8s_build_go_bin": go,
                                   "k8s_build_check_dlv": False},
                 tmp, args=["--check"] if not a.warm else [])
        for i in range(a.rounds):
            state = os.path.join(tmp, "state-%d" % i)
            result = os.path.join(tmp, "r-%d.json" % i)
            extra = {"k8s_build_source_dir": tree, "k8s_build_components": [a.component], "k8s_build_state_dir": state,
                     "k8s_build_poll_interval": 60, "result_file": result, "k8s_build_go_bin": go, "k8s_build_check_dlv": False}
            order = ("raw", "role") if i % 2 == 0 else ("role", "raw")
            t = {}
            for what in order:
                reset(tree, not a.warm)
                if what == "raw":
                    t["raw"] = raw_make(tree, a.component, os.path.join(tmp, "raw-%d.log" % i), go)
                else:
                    t["role"] = playbook("k8s_build.yml", extra, tmp)[0]
                    # right away: a later raw make regenerates the zz_generated files (new mtimes), which
                    # rightly makes the next role run rebuild
                    # (without result_file: the test playbook's copy of the result is not the role's work)
                    noop, out = playbook("k8s_build.yml", {k: v for k, v in extra.items() if k != "result_file"}, tmp)
            with open(result) as f:
                make_s = float(json.load(f)[a.component]["build_seconds"])
            changed = [line for line in out.splitlines() if " changed=" in line]
            rows.append((t["raw"], t["role"], noop, changed[-1].split("changed=")[1].split()[0] if changed else "?", make_s))
            figures = (i + 1, order[0], t["raw"], t["role"], make_s, t["role"] - make_s, t["role"] / t["raw"], noop, rows[-1][3])
            print("round %d (%s first): raw make %.1f s, role %.1f s (its make %.0f s, overhead %.1f s), ratio %.3f, "
                  "no-op rerun %.1f s (changed=%s)" % figures, flush=True)
    raw = sum(r[0] for r in rows) / len(rows)
    role = sum(r[1] for r in rows) / len(rows)
    noop = max(r[2] for r in rows)
    overhead = sum(r[1] - r[4] for r in rows) / len(rows)
    print("")
    cache = "warm cache" if a.warm else "cold cache"
    print("k8s_build bench (%s, %s, %s, %s, %d round(s))" % (a.component, cache, a.tree, go, len(rows)))
    print("  raw make            %7.1f s" % raw)
    print("  k8s_build role      %7.1f s" % role)
    print("  role / raw          %7.3f   (target <= 1.05)" % (role / raw))
    print("  role overhead       %7.1f s (role wall time - its make), %.1f%% of raw make" % (overhead, 100 * overhead / raw))
    print("  no-op rerun (role)  %7.1f s (target < 5 s; whole ansible-playbook run)" % noop)


if __name__ == "__main__":
    main()
