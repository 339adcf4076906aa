"""Role build vs raw `make`, side by side on the same tree, and a no-op rerun of the role.

    python tests/bench/bench_k8s_build.py [--tree DIR] [--component kube-apiserver] [--rounds N] [--warm]

The bench works on its own copy of the tree (rsync of --tree without _output and .make,
in a temporary directory next to it), so it neither loses nor disturbs the shared
tree's build cache while others use it. Each round builds the component twice from the
same state (the order alternates between rounds, to even out other load on a shared
machine): once with the tree's own
`make WHAT=cmd/<c> GOGCFLAGS="all=-N -l" GOLDFLAGS=""`, once through the
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


def go_dir():
    root = subprocess.run(["go", "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(root, "bin")


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


def raw_make(tree, component, log):
    env = dict(os.environ, PATH=go_dir() + ":" + os.environ["PATH"], GOFLAGS="", GOTOOLCHAIN="local")
    t0 = time.monotonic()
    with open(log, "w") as f:
        rc = subprocess.run(["make", "WHAT=cmd/" + component, "GOGCFLAGS=all=-N -l", "GOLDFLAGS="], cwd=tree, env=env,
                            stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        sys.exit("raw make failed, see %s" % log)
    return time.monotonic() - t0


def reset(tree, cold):
    """Back to a cold tree: no Go build cache, no binaries, no code generation stamps."""
    if cold:
        for d in ("_output", ".make"):
            shutil.rmtree(os.path.join(tree, d), ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", default=os.path.join(CACHE, "src", "kubernetes-v1.20.2"))
    ap.add_argument("--component", default="kube-apiserver")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warm", action="store_true")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.tree, "Makefile")):
        print("fetching the tree with the k8s_source role (Debian's source package)")
        with tempfile.TemporaryDirectory() as tmp:
            playbook("k8s_source.yml", {"k8s_source_method": "debian", "k8s_source_version": "v1.20.2",
                                        "result_file": os.path.join(tmp, "r.json")}, tmp)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kd-bench-", dir=os.path.dirname(os.path.abspath(a.tree))) as tmp:
        tree = os.path.join(tmp, "kubernetes")
        subprocess.run(["rsync", "-a", "--exclude=/_output", "--exclude=/.make", a.tree.rstrip("/") + "/", tree + "/"], check=True)
        # the role patches the tree (reflect2) on its first run; with --warm this also fills the cache
        state0 = os.path.join(tmp, "state0")
        playbook("k8s_build.yml", {"k8s_build_source_dir": tree, "k8s_build_components": [a.component],
                                   "k8s_build_state_dir": state0, "k8s_build_poll_interval": 60},
                 tmp, args=["--check"] if not a.warm else [])
        for i in range(a.rounds):
            state = os.path.join(tmp, "state-%d" % i)
            result = os.path.join(tmp, "r-%d.json" % i)
            extra = {"k8s_build_source_dir": tree, "k8s_build_components": [a.component], "k8s_build_state_dir": state,
                     "k8s_build_poll_interval": 60, "result_file": result}
            order = ("raw", "role") if i % 2 == 0 else ("role", "raw")
            t = {}
            for what in order:
                reset(tree, not a.warm)
                if what == "raw":
                    t["raw"] = raw_make(tree, a.component, os.path.join(tmp, "raw-%d.log" % i))
                else:
                    t["role"] = playbook("k8s_build.yml", extra, tmp)[0]
                    # right away: a later raw make regenerates the zz_generated files (new mtimes), which
                    # rightly makes the next role run rebuild
                    noop, out = playbook("k8s_build.yml", extra, tmp)
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
    print("k8s_build bench (%s, %s, %s, %d round(s))" % (a.component, "warm cache" if a.warm else "cold cache", a.tree, len(rows)))
    print("  raw make            %7.1f s" % raw)
    print("  k8s_build role      %7.1f s" % role)
    print("  role / raw          %7.3f   (target <= 1.05)" % (role / raw))
    print("  role overhead       %7.1f s (role wall time - its make), %.1f%% of raw make" % (overhead, 100 * overhead / raw))
    print("  no-op rerun (role)  %7.1f s (target < 5 s; whole ansible-playbook run)" % noop)


if __name__ == "__main__":
    main()
