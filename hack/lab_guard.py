"""`make test` leaves a user's lab as `make lab` left it.

  lab_guard.py snapshot FILE   before the stages that touch the host
  lab_guard.py verify FILE     after them: fails if the lab's debug session changed

A lab session is what `make lab` leaves in the debug_component state directory
(default /var/lib/kubedebug): a record per component under dlv, dlv's pidfile,
the journal, and the IDE configurations in ~/.kubedebug/localhost. verify
checks that the same dlv processes still run, that no record, journal or IDE
file changed, and - for a lab of a current release, whose binary records
absolute paths - that a breakpoint set through the lab's own launch.json (the
DAP client of tests/dap_client.py, by the staging path) is hit by
`GET /api/v1/namespaces/default`. Without a lab session both say so and pass.
"""

import glob
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = os.environ.get("KUBEDEBUG_LAB_STATE_DIR", "/var/lib/kubedebug")
IDE = os.path.expanduser("~/.kubedebug/localhost")
LCP = os.path.join(STATE, "local-control-plane")


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def snapshot():
    records = sorted(p for p in glob.glob(os.path.join(STATE, "*.json")) if not p.endswith("/journal.json"))
    if not records:
        return None
    dlv, stale = {}, {}
    for rec in records:
        with open(rec) as f:
            debug = json.load(f).get("debug") or {}
        if debug.get("pid"):
            # a record whose dlv no longer runs (the machine rebooted, the lab
            # was killed) is no session to keep: only its files are watched
            (dlv if _alive(debug["pid"]) else stale)[os.path.basename(rec)] = debug["pid"]
    files = records + glob.glob(os.path.join(STATE, "*.dlv.pid")) + [os.path.join(STATE, "journal.json")]
    files += glob.glob(os.path.join(IDE, ".vscode", "launch.json")) + glob.glob(os.path.join(IDE, ".run", "*.xml"))
    return {"dlv": dlv, "stale": stale, "files": {p: _sha(p) for p in sorted(files) if os.path.isfile(p)}}


def breakpoint_check():
    """A staging breakpoint through the lab's launch.json, hit by a GET; None when the lab is not of that shape."""
    sys.path.insert(0, ROOT)
    from tests import dap_client  # pylint: disable=import-outside-toplevel

    launch = os.path.join(IDE, ".vscode", "launch.json")
    tokens = os.path.join(LCP, "tokens.csv")
    if not (os.path.isfile(launch) and os.path.isfile(tokens)):
        return None
    with open(launch) as f:
        confs = [c for c in json.load(f)["configurations"] if c.get("name") == "kube-apiserver on localhost"]
    if not confs or not confs[0]["substitutePath"][-1]["to"].startswith("/"):
        return None
    conf = confs[0]
    tree = conf["substitutePath"][-1]["to"]
    rel = "staging/src/k8s.io/apiserver/pkg/endpoints/handlers/get.go"
    line = dap_client.line_after(os.path.join(tree, rel), r"^func getResourceHandler\(", 2)
    with open(tokens) as f:
        token = f.read().split(",")[0]
    with open(os.path.join(STATE, "kube-apiserver.json")) as f:
        argv = json.load(f)["original"]["argv"]
    port = next((m.group(1) for a in argv for m in [re.match(r"--secure-port=(\d+)$", a)] if m), "6443")
    trigger = ["curl", "-sk", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer " + token,
               "https://127.0.0.1:%s/api/v1/namespaces/default" % port]
    report = dap_client.check(conf["host"], conf["port"], conf, tree, {os.path.join(tree, rel): [line]}, trigger)
    ok = report["error"] is None and report["stopped"] and report["stopped"]["line"] == line
    return ok, report


def main(argv):
    if len(argv) != 3 or argv[1] not in ("snapshot", "verify"):
        sys.exit("usage: lab_guard.py snapshot|verify FILE")
    cmd, path = argv[1], argv[2]
    now = snapshot()
    if cmd == "snapshot":
        with open(path, "w") as f:
            json.dump(now, f)
        if now is None:
            print("lab session: none in %s" % STATE)
        else:
            stale = "; stale records (dlv not running, not checked): %s" % now["stale"] if now["stale"] else ""
            print("lab session: dlv %s%s" % (now["dlv"] or "none running", stale))
        return 0
    with open(path) as f:
        before = json.load(f)
    if before is None:
        print("lab session: none before the tests, nothing to keep")
        return 0
    problems = []
    if now is None:
        problems.append("the lab's debug records in %s are gone" % STATE)
    else:
        for name, pid in before["dlv"].items():
            if now["dlv"].get(name) != pid or not _alive(pid):
                problems.append("%s: dlv pid %s before the tests, %s after (alive: %s)" % (name, pid, now["dlv"].get(name), _alive(pid)))
        for p, sha in before["files"].items():
            if now["files"].get(p) != sha:
                problems.append("%s changed" % p)
    if not problems and not before["dlv"]:
        print("lab records kept; no dlv of theirs was running before the tests (stale: %s)" % before.get("stale"))
    elif not problems:
        res = breakpoint_check()
        if res is None:
            print("lab session kept (dlv %s); no breakpoint check for this lab's layout" % before["dlv"])
        elif res[0]:
            print("lab session kept (dlv %s); breakpoint at %s:%s hit through the lab's launch.json"
                  % (before["dlv"], res[1]["stopped"]["path"], res[1]["stopped"]["line"]))
        else:
            problems.append("breakpoint check through the lab's launch.json failed: %s" % json.dumps(res[1]))
    for p in problems:
        print("the tests changed the user's lab: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
