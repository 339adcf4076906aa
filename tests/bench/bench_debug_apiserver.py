"""Benchmark: `ansible-playbook playbooks/debug-apiserver.yml` on a ready host,
against the apiserver's own start-to-healthy time (issue 4, target <= 1.5).

Needs the local lab (`make lab`) in place. Both measurements start from a settled host: the running apiserver
healthy and using < 10% of a core (it keeps a core busy for seconds after /healthz first says ok).
Measures, median of ROUNDS (default 3) each:
  * native: stop the lab's apiserver, start it again with the same argv and
            environment, time from exec until /healthz says ok;
  * debug:  from a ready host (the original apiserver running normally and
            healthy), the wall time of `ansible-playbook playbooks/debug-apiserver.yml`
            until it has returned AND the apiserver under dlv answers /healthz ok.
            The playbook runs as a user runs it from the repo (its ansible.cfg), with
            the role's defaults: smoke check OFF, IDE configurations ON. The only
            extra variable is the selector: the pid of the apiserver listening on
            127.0.0.1:6443, so apiservers of other tests on the host do not interfere. BENCH_EXTRA_VARS (JSON)
            adds variables, e.g. '{"debug_component_ide": false}' to see what the IDE step costs.
Prints both, their ratio, and where the debug run's time goes (a 20 ms poller
of /proc and /healthz, independent of the playbook). Restores the host at the end.
"""

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LCP = "/var/lib/kubedebug/local-control-plane"
STATE_DIR = "/var/lib/kubedebug"
ROUNDS = int(os.environ.get("ROUNDS", "3"))


def playbook(name, extra=None):
    argv = ["ansible-playbook", os.path.join("playbooks", name)]
    if extra:
        argv += ["-e", json.dumps(extra)]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, (p.stdout + p.stderr)[-3000:]))


def healthy():
    token = open(os.path.join(LCP, "tokens.csv")).read().split(",")[0]
    p = subprocess.run(["curl", "-sk", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
                        "https://127.0.0.1:6443/healthz"], capture_output=True, text=True, check=False)
    return p.stdout == "200"


def wait_healthy(t0, timeout=300):
    while not healthy():
        if time.monotonic() - t0 > timeout:
            sys.exit("apiserver not healthy after %d s" % timeout)
        time.sleep(0.05)
    return time.monotonic() - t0


def apiserver_pid():
    """The lab's apiserver: the process listening on 127.0.0.1:6443 in this network namespace (a kubeadm node
    container of another test may run a kube-apiserver with --secure-port=6443 too, in its own namespace)."""
    out = subprocess.run(["ss", "-ltnpH", "src", "127.0.0.1:6443"], capture_output=True, text=True, check=False).stdout
    pids = sorted(set(re.findall(r'"kube-apiserver",pid=(\d+)', out)))
    if len(pids) != 1:
        sys.exit("expected one kube-apiserver listening on 127.0.0.1:6443, found %s: run make lab first" % (pids or "none"))
    return int(pids[0])


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def gone(pid):
    return proc_state(pid) in (None, "Z", "X")


def children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return kids


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def settle(limit=60):
    """A ready host: the apiserver healthy AND done with its start-up work (post-start hooks, caches), which
    keeps a core busy for seconds after /healthz first says ok. Waits until it uses < 10% of a core."""
    pid = apiserver_pid()
    hz = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit
    prev = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        cur = cpu_ticks(pid)
        if cur - prev < 0.1 * hz:
            return
        prev = cur


def native_start():
    settle()
    pid = apiserver_pid()
    argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[:-1]
    env = dict(e.split(b"=", 1) for e in open("/proc/%d/environ" % pid, "rb").read().split(b"\0") if b"=" in e)
    cwd = os.readlink("/proc/%d/cwd" % pid)
    t = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while not gone(pid):
        time.sleep(0.02)
    stop = time.monotonic() - t
    while healthy():
        time.sleep(0.05)
    t0 = time.monotonic()
    subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=open("/var/log/kubedebug/bench-apiserver.log", "ab"),
                     stderr=subprocess.STDOUT, start_new_session=True)
    return wait_healthy(t0), stop


def listens(pid, port):
    """pid holds a socket listening on port (what it releases early in a graceful shutdown)."""
    try:
        held = {os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)}
    except OSError:
        return False
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port and "socket:[%s]" % fields[9] in held:
                return True
    return False


class Watch(threading.Thread):
    """Timestamps (s after t0) of what happens on the host while the playbook runs."""

    def __init__(self, t0, original):
        super().__init__(daemon=True)
        self.t0, self.original, self.ev, self.done = t0, original, {}, threading.Event()

    def mark(self, name):
        self.ev.setdefault(name, time.monotonic() - self.t0)

    def run(self):
        pidfile = os.path.join(STATE_DIR, "kube-apiserver.dlv.pid")
        dlv = target = None
        last = 0.0
        while not self.done.is_set() and "healthy" not in self.ev:
            if gone(self.original):
                self.mark("original exited")
            if "original released" not in self.ev and not listens(self.original, 6443):
                self.mark("original released")
            if dlv is None and os.path.exists(pidfile):
                try:
                    dlv = int(open(pidfile).read())
                    self.mark("dlv started")
                except ValueError:
                    pass
            if dlv is not None and target is None:
                kids = children(dlv)
                target = kids[0] if kids else None
            if target is not None and "target running" not in self.ev and proc_state(target) not in ("t", "T", None):
                self.mark("target running")
            if "target running" in self.ev and time.monotonic() - last >= 0.05:
                last = time.monotonic()  # /healthz as often as wait_healthy asks (the native figure's)
                if healthy():
                    self.mark("healthy")
            time.sleep(0.02)


def debug_run():
    settle()
    original = apiserver_pid()
    t0 = time.monotonic()
    w = Watch(t0, original)
    w.start()
    playbook("debug-apiserver.yml", dict({"debug_component_selector": {"pid": original}}, **json.loads(os.environ.get("BENCH_EXTRA_VARS", "{}"))))
    returned = time.monotonic() - t0
    total = wait_healthy(t0)
    w.done.set()
    w.join()
    ev = dict(w.ev, **{"playbook returned": returned})
    ev.setdefault("healthy", total)
    return total, ev


def main():
    playbook("restore.yml")
    wait_healthy(time.monotonic())
    native, stops, debug, events = [], [], [], []
    for _round in range(ROUNDS):
        n, s = native_start()
        native.append(n)
        stops.append(s)
        d, ev = debug_run()
        debug.append(d)
        events.append(ev)
        playbook("restore.yml")
        wait_healthy(time.monotonic())
    n, d = statistics.median(native), statistics.median(debug)
    print("kube-apiserver start-to-healthy, native: %.1f s (runs %s)" % (n, ", ".join("%.1f" % x for x in native)))
    print("debug-apiserver.yml (smoke check off, IDE configs on) until returned and healthy under dlv: %.1f s (runs %s)"
          % (d, ", ".join("%.1f" % x for x in debug)))
    print("ratio debug / native: %.2f (target <= 1.5)" % (d / n))
    print("where the debug run's time goes (median s after ansible-playbook started; runs in brackets):")
    names = ["dlv started", "original released", "target running", "original exited", "healthy", "playbook returned"]
    for name in names:
        xs = [ev[name] for ev in events if name in ev]
        if xs:
            print("  %-18s %5.1f  [%s]" % (name, statistics.median(xs), ", ".join("%.1f" % x for x in xs)))

    def med(a, b):
        xs = [ev[b] - ev[a] for ev in events if a in ev and b in ev]
        return statistics.median(xs) if xs else float("nan")

    print("  = ansible until dlv starts %.1f | original closes its port %.1f, exits %.1f after dlv started (native"
          " SIGTERM-to-exit: %.1f) | dlv start until the target runs %.1f | target to healthy %.1f (native start: %.1f)"
          " | playbook after healthy %+.1f"
          % (statistics.median([ev.get("dlv started", float("nan")) for ev in events]), med("dlv started", "original released"),
             med("dlv started", "original exited"), statistics.median(stops), med("dlv started", "target running"),
             med("target running", "healthy"), n, med("healthy", "playbook returned")))
    playbook("lab-local.yml")  # leave the lab as make lab leaves it


if __name__ == "__main__":
    main()
