"""How long go_debug_info's pure-Python reader takes on a debug kube-apiserver, next to readelf.

    python tests/bench/bench_go_debug_info.py [BINARY]

BINARY defaults to the integration tests' build (/var/cache/kubedebug/test-build/bin/kube-apiserver)
or the bench's own. Prints the size, the compile-unit counts, the best of 3 runs of
_debuginfo.analyze(), and `readelf --debug-dump=info | grep DW_AT_producer` for scale.
"""

import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.kubedebug.lab.plugins.module_utils._build import debuginfo as di  # noqa: E402

CACHE = os.environ.get("KUBEDEBUG_CACHE", "/var/cache/kubedebug")
CANDIDATES = [os.path.join(CACHE, "test-build", "bin", "kube-apiserver"), os.path.join(CACHE, "build", "bin", "kube-apiserver")]


def best(fn, n=3):
    times = []
    for _i in range(n):
        t0 = time.perf_counter()
        r = fn()
        times.append(time.perf_counter() - t0)
    return min(times), r


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else next((p for p in CANDIDATES if os.path.exists(p)), None)
    if not path:
        sys.exit("no debug kube-apiserver found; run `make integration` (or give a path)")
    t, r = best(lambda: di.analyze(path))
    cmd = "readelf --debug-dump=info %s 2>/dev/null | grep -c DW_AT_producer" % path
    tr = best(lambda: subprocess.run(cmd, shell=True, capture_output=True, check=False), n=1)[0]
    cu = r["compile_units"]
    print("go_debug_info bench: %s" % path)
    print("  size                 %7.1f MB" % (r["size"] / 1e6))
    print("  Go compile units     %7d (%d with -N -l, %d of the runtime left out, share %.4f)" % (
        cu["go"], cu["unoptimized"], cu["runtime_optimized"], r["unoptimized_share"]))
    print("  analyze() best of 3  %7.3f s" % t)
    print("  readelf | grep       %7.3f s (for scale)" % tr)


if __name__ == "__main__":
    main()
