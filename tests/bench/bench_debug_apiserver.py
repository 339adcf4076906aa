"""Benchmark: `ansible-playbook playbooks/debug-apiserver.yml` on a ready host,
against the apiserver's own start-to-healthy time.

Needs the local lab (`make lab`) in place. Measures, median of 3 each:
  * native: kill the apiserver, start it again with the same argv, until /healthz says ok;
  * debug:  the debug-apiserver playbook (which stops the apiserver, starts it
            under dlv, writes IDE configs) until /healthz says ok again.
Prints both and their ratio (target <= 1.5). Restores the host at the end.
"""

import os
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LCP = "/var/lib/kubedebug/local-control-plane"


def playbook(name):
    p = subprocess.run(["ansible-playbook", os.path.join("playbooks", name)], cwd=ROOT, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        sys.exit("%s failed:\n%s" % (name, (p.stdout + p.stderr)[-3000:]))


def healthy():
    token = open(os.path.join(LCP, "tokens.csv")).read().split(",")[0]
    p = subprocess.run(["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
                        "https://127.0.0.1:6443/healthz"], capture_output=True, text=True, check=False)
    return p.stdout == "200"


def wait_healthy(t0, timeout=300):
    while not healthy():
        if time.monotonic() - t0 > timeout:
            sys.exit("apiserver not healthy after %d s" % timeout)
        time.sleep(0.05)
    return time.monotonic() - t0


def apiserver_pid():
    """The lab's apiserver: the kube-apiserver serving 127.0.0.1:6443 (other test apiservers use other ports)."""
    out = subprocess.run(["pgrep", "-f", "^/\\S*/kube-apiserver .*--secure-port=6443( |$)"], capture_output=True, text=True,
                         check=False).stdout.split()
    if len(out) != 1:
        sys.exit("expected one kube-apiserver on port 6443, found %s: run make lab first" % out)
    return int(out[0])


def native_start():
    pid = apiserver_pid()
    argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[:-1]
    env = dict(e.split(b"=", 1) for e in open("/proc/%d/environ" % pid, "rb").read().split(b"\0") if b"=" in e)
    os.kill(pid, signal.SIGTERM)
    while os.path.exists("/proc/%d" % pid) and open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    while healthy():
        time.sleep(0.05)
    t0 = time.monotonic()
    subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=open("/var/log/kubedebug/bench-apiserver.log", "ab"),
                     stderr=subprocess.STDOUT, start_new_session=True)
    return wait_healthy(t0)


def debug_run():
    t0 = time.monotonic()
    playbook("debug-apiserver.yml")
    return wait_healthy(t0)


def main():
    playbook("restore.yml")
    wait_healthy(time.monotonic())
    native, debug = [], []
    for _round in range(3):
        native.append(native_start())
        debug.append(debug_run())
        playbook("restore.yml")
        wait_healthy(time.monotonic())
    n, d = statistics.median(native), statistics.median(debug)
    print("kube-apiserver start-to-healthy, native: %.1f s (runs %s)" % (n, ", ".join("%.1f" % x for x in native)))
    print("debug-apiserver.yml until healthy under dlv: %.1f s (runs %s)" % (d, ", ".join("%.1f" % x for x in debug)))
    print("ratio debug / native: %.2f (target <= 1.5)" % (d / n))
    playbook("lab-local.yml")  # leave the lab as make lab leaves it


if __name__ == "__main__":
    main()
