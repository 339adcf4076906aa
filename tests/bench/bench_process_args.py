"""Benchmark: process_args by name on a host with 5,000 processes.

Starts real processes until the host has at least 5,000, then times:
  * the module's work in-process (find by name + read the match), median of 20;
  * the whole module run as Ansible runs it on a host (a python process
    executing the module with its JSON arguments), median of 5.
Prints figures; asserts nothing about time. Target: lookup < 100 ms.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.kubedebug.lab.plugins.module_utils._process import procfs as _procfs  # noqa: E402

TARGET = int(os.environ.get("BENCH_PROCESSES", "5000"))


def main():
    existing = len(_procfs.pids())
    need = max(0, TARGET - existing)
    # One shell forks the sleepers: cheap, and all die with its process group.
    filler = subprocess.Popen(["bash", "-c", "for i in $(seq %d); do sleep 600 & done; wait" % need], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(_procfs.pids()) < TARGET and time.monotonic() < deadline:
            time.sleep(0.5)
        total = len(_procfs.pids())
        name = "kdbg-bench-target"
        with tempfile.TemporaryDirectory() as d:
            exe = os.path.join(d, name)
            os.symlink("/bin/sleep", exe)
            target = subprocess.Popen([exe, "600"])
            time.sleep(0.2)
            lookups = []
            for _round in range(20):
                t0 = time.perf_counter()
                pids = _procfs.find_by_name(name)
                proc = _procfs.read_process(pids[0])
                lookups.append(time.perf_counter() - t0)
            assert proc["pid"] == target.pid, (proc["pid"], target.pid)
            # The whole module, as a python process with the JSON args Ansible passes.
            args = os.path.join(d, "args.json")
            with open(args, "w") as f:
                json.dump({"ANSIBLE_MODULE_ARGS": {"name": name}}, f)
            env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".build", "collections"))
            module = os.path.join(ROOT, "plugins", "modules", "process_args.py")
            runs = []
            for _round in range(5):
                t0 = time.perf_counter()
                out = subprocess.run([sys.executable, module, args], capture_output=True, text=True, env=env, check=True).stdout
                runs.append(time.perf_counter() - t0)
            assert json.loads(out)["process"]["pid"] == target.pid
            target.kill()
            target.wait()
    finally:
        os.killpg(filler.pid, signal.SIGKILL)
        filler.wait()
    lookup_ms = statistics.median(lookups) * 1000
    print("processes on host: %d" % total)
    print("process_args lookup by name (find + read), median of 20: %.1f ms  (target < 100 ms: ratio %.2f)" % (lookup_ms, lookup_ms / 100))
    print("process_args whole module incl. python start-up, median of 5: %.0f ms" % (statistics.median(runs) * 1000))


if __name__ == "__main__":
    main()
