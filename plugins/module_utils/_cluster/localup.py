# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""A cluster started by the tree's own ``hack/local-up-cluster.sh -O``, supervised, unedited.

What the v1.20 script does that matters here (read from the script, seen here):
  * ``-O`` runs the binaries found like ``kube::util::find-binary`` does: the newest
    ``kube-apiserver`` among ``_output/bin``, ``_output/dockerized/bin/<platform>``,
    ``_output/local/bin/<platform>`` and ``_output/local/go/bin``; the other
    components are taken from the same directory.
  * With ``ENABLE_DAEMON=false`` it stays in the foreground as the supervisor and
    traps EXIT (SIGTERM included) to kill the components it started and etcd. Its
    health loop only *warns* when a component dies and forgets that pid, so an
    apiserver replaced by one under dlv does not tear the cluster down; the
    replacement (and a restored original) is not its child, so stopping is ours.
  * The health loop and the cleanup run ``sudo kill``: without ``sudo`` every
    component is reported dead within a second and nothing is killed at exit.
  * ``START_MODE=nokubelet`` still starts kube-proxy (it fails at once when no
    kube-proxy is built); ``CONTAINER_RUNTIME=docker`` (the default) needs a docker
    daemon even without a kubelet, so without a kubelet we pass ``remote``.
  * etcd's peer port is not a flag of the script: etcd reads ``ETCD_LISTEN_PEER_URLS``
    and friends from its environment. kube-controller-manager and kube-scheduler
    keep their default ports (10252/10257, 10251/10259): one such cluster per host.

:func:`run_module` is the local_up_cluster module; the module passes in its
``healthz`` (the apiserver's ``/healthz`` status, asked with Ansible's
``open_url``).
"""

from __future__ import annotations

import json
import os
import signal
import time

from ansible_collections.kubedebug.lab.plugins.module_utils import _files
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import supervise as _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._process.relaunch import tail

SCRIPT = "hack/local-up-cluster.sh"
SUCCESS = "Local Kubernetes cluster is running"
PLATFORM = "linux/amd64"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
# Ports the components bind that the script does not let us choose (v1.20 defaults).
FIXED_PORTS = {
    "kube-controller-manager": (10252, 10257),
    "kube-scheduler": (10251, 10259),
    "kubelet": (10248, 10250),
    "kube-proxy": (10249, 10256),
}
MODES = ("all", "nokubelet", "nokubeproxy")
TOOLS = {
    "etcd": "run the kubedebug.lab.etcd role (it sets etcd_bin) or install etcd-server, and put its directory in local_up_cluster_path",
    "cfssl": "run the kubedebug.lab.cfssl role or install golang-cfssl (the script would otherwise try to download it)",
    "cfssljson": "run the kubedebug.lab.cfssl role or install golang-cfssl",
    "openssl": "install openssl",
    "curl": "install curl",
    "sudo": "install sudo: the script checks and stops its components with 'sudo kill', even as root",
    "ss": "install iproute2 (the script checks etcd's port with ss)",
}


def find_built_binary_dir(tree):
    """GO_OUT as ``-O`` guesses it (newest kube-apiserver location), or None."""
    candidates = [
        os.path.join(tree, "_output", "bin", "kube-apiserver"),
        os.path.join(tree, "_output", "dockerized", "bin", PLATFORM, "kube-apiserver"),
        os.path.join(tree, "_output", "local", "bin", PLATFORM, "kube-apiserver"),
        os.path.join(tree, "_output", "local", "go", "bin", "kube-apiserver"),
        os.path.join(tree, "_output", "dockerized", "go", "bin", "kube-apiserver"),
    ]
    found = []
    for i, c in enumerate(candidates):
        try:
            found.append((-os.stat(c).st_mtime, i, c))
        except OSError:
            continue
    return os.path.dirname(sorted(found)[0][2]) if found else None


def components_for(mode):
    """The components the script starts in START_MODE mode, which of them must be built."""
    started = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    if mode in ("all", "nokubeproxy"):
        started.append("kubelet")
    if mode in ("all", "nokubelet"):
        started.append("kube-proxy")  # v1.20: nokubelet still starts kube-proxy
    required = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]
    if mode == "all":
        required += ["kubelet", "kube-proxy"]
    elif mode == "nokubeproxy":
        required.append("kubelet")
    return started, required


def which(name, path_dirs):
    for d in path_dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def script_argv(tree, go_out):
    script = os.path.join(tree, SCRIPT)
    return ["/bin/bash", script, "-o", go_out] if go_out else ["/bin/bash", script, "-O"]


def script_env(p, mode, base_env):
    """The environment the script runs with: the request, made explicit."""
    peer = "http://127.0.0.1:%d" % p["etcd_peer_port"]
    env = dict(base_env)
    env.update({
        "PATH": ":".join(p["path_dirs"]),
        "TERM": "dumb",
        "ENABLE_DAEMON": "false",
        "START_MODE": mode,
        "CONTAINER_RUNTIME": p["container_runtime"] if mode != "nokubelet" else "remote",
        "API_SECURE_PORT": str(p["secure_port"]),
        "API_HOST_IP": "127.0.0.1",
        "API_BIND_ADDR": p["bind_address"],
        "ETCD_HOST": "127.0.0.1",
        "ETCD_PORT": str(p["etcd_port"]),
        "ETCD_LISTEN_PEER_URLS": peer,
        "ETCD_INITIAL_ADVERTISE_PEER_URLS": peer,
        "ETCD_INITIAL_CLUSTER": "default=" + peer,
        "CERT_DIR": p["cert_dir"],
        "LOG_DIR": p["log_dir"],
        "SERVICE_ACCOUNT_KEY": p["service_account_key"],
    })
    if mode == "nokubelet":
        env["KUBE_ENABLE_CLUSTER_DNS"] = "false"  # no kubelet runs its pods
    if p.get("go_out"):
        env["KUBECTL"] = os.path.join(p["go_out"], "kubectl")
    env.update({k: str(v) for k, v in (p.get("env") or {}).items()})
    return env


def problems(p, mode, go_out, listening):
    """Everything that would make the script fail or misbehave, each with its fix."""
    out = []
    tree = p["source_dir"]
    if not os.path.isfile(os.path.join(tree, SCRIPT)):
        out.append(("%s has no %s" % (tree, SCRIPT),
                    "point local_up_cluster_source_dir at a Kubernetes tree (the kubedebug.lab.k8s_source role unpacks one)"))
        return out
    _started, required = components_for(mode)
    if go_out is None:
        out.append(("no built kube-apiserver in %s/_output (hack/local-up-cluster.sh -O looks in _output/local/bin/%s)" % (tree, PLATFORM),
                    "build %s in the tree with the kubedebug.lab.k8s_build role (k8s_build_components), "
                    "or give local_up_cluster_go_out a directory holding them" % ", ".join(required)))
    else:
        missing = [c for c in required if not os.access(os.path.join(go_out, c), os.X_OK)]
        if missing:
            out.append(("%s is missing from %s, where the script takes its binaries" % (", ".join(missing), go_out),
                        "build them in the tree with the kubedebug.lab.k8s_build role (k8s_build_components: %s)" % required))
    for tool, fix in TOOLS.items():
        if which(tool, p["path_dirs"]) is None:
            out.append(("%s is not on the PATH the script gets (%s)" % (tool, ":".join(p["path_dirs"])), fix))
    ports = {"kube-apiserver (local_up_cluster_secure_port)": [p["secure_port"]],
             "etcd (local_up_cluster_etcd_port)": [p["etcd_port"]],
             "etcd peer (local_up_cluster_etcd_peer_port)": [p["etcd_peer_port"]]}
    started, _r = components_for(mode)
    for c in started:
        if c in FIXED_PORTS:
            ports[c + " (its default ports; the script cannot move them)"] = list(FIXED_PORTS[c])
    for what, nums in ports.items():
        busy = [n for n in nums if n in listening]
        if busy:
            out.append(("port %s for %s is already in use" % ("/".join(map(str, busy)), what),
                        "stop what listens there (ss -ltnp 'sport = :%d') or choose another port" % busy[0]))
    return out


def check(p, mode, go_out, listening):
    found = problems(p, mode, go_out, listening)
    if found:
        raise KubedebugError(
            "hack/local-up-cluster.sh cannot start here: " + "; ".join(m for m, _f in found),
            hint="Fix: " + "; ".join(f for _m, f in found), problems=[{"problem": m, "fix": f} for m, f in found],
        )


# ---------------------------------------------------------------- the record


def read_record(path):
    """The record of the running cluster, or None."""
    rec = _files.read_json_record(path, "%s", "It records the running local-up-cluster; move it away and stop the cluster by hand")
    if rec is None:
        return None
    if not isinstance(rec, dict) or rec.get("kind") != "local-up-cluster" or "argv" not in rec:
        raise KubedebugError("%s is not a kubedebug local-up-cluster record" % path, hint="Move it away if it is not ours")
    return rec


def write_record(path, rec):
    data = json.dumps(dict(rec, kind="local-up-cluster"), indent=2, sort_keys=True) + "\n"
    _files.atomic_write(path, data.encode("utf-8"), 0o600)


# ---------------------------------------------------------------- processes


def _argv(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if not raw:
        return None
    return [a.decode("utf-8", "surrogateescape") for a in raw[:-1].split(b"\0")] if raw.endswith(b"\0") else None


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def record_components(script_pid):
    """{component: argv} of the script's children that are cluster components."""
    out = {}
    for kid in _supervise.children(script_pid):
        argv = _argv(kid)
        if argv and os.path.basename(argv[0]) in COMPONENTS and _supervise.alive(kid):
            out[os.path.basename(argv[0])] = argv
    return out


def same_component(argv, recorded):
    """argv runs the recorded component: same name and exactly the same arguments (any binary path)."""
    return bool(argv) and os.path.basename(argv[0]) == os.path.basename(recorded[0]) and argv[1:] == recorded[1:]


def locate(recorded):
    """{component: {pid, exe_argv0, under_dlv}} for recorded components running now (as started, restored or under dlv)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        argv = _argv(pid)
        if not argv:
            continue
        for comp, want in recorded.items():
            if comp not in out and same_component(argv, want) and _supervise.alive(pid):
                out[comp] = {"pid": pid, "argv0": argv[0], "under_dlv": _comm(_ppid(pid)) == "dlv", "original_argv": argv == want}
    return out


def debug_sessions(recorded, state_dir):
    """Components of this cluster that a kubedebug debug record (process mode) names."""
    found = []
    try:
        names = sorted(os.listdir(state_dir))
    except OSError:
        return found
    for n in names:
        if not n.endswith(".json") or n.endswith(".systemd.json"):
            continue
        try:
            with open(os.path.join(state_dir, n)) as f:
                rec = json.load(f)
            argv = rec["original"]["argv"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if any(argv == want for want in recorded.values()):
            found.append(rec.get("component") or n[:-5])
    return found


def public(rec):
    """What the record tells a user (never the environment)."""
    if not rec:
        return {}
    cert = rec["cert_dir"]
    return dict(argv=rec["argv"], go_out=rec["go_out"], start_mode=rec["start_mode"], cert_dir=cert, log_dir=rec["log_dir"],
                log=rec["log"], kubeconfig=os.path.join(cert, "admin.kubeconfig"), url=rec["url"], recorded=rec.get("components", {}))


def running_pid(rec):
    """Pid of the recorded script while it runs with the recorded command line, else 0."""
    pid = (rec or {}).get("pid") or 0
    if pid and _supervise.alive(pid) and _argv(pid) == rec["argv"]:
        return pid
    return 0


def status(state_path, debug_state_dir):
    """(record, result) for the cluster recorded at state_path: running, pid, components, debug sessions."""
    rec = read_record(state_path)
    pid = running_pid(rec)
    result = dict(public(rec), running=bool(pid), state_file=state_path)
    if pid:
        result["pid"] = pid
    if rec:
        result["components"] = locate(rec.get("components", {}))
        result["debug_sessions"] = debug_sessions(rec.get("components", {}), debug_state_dir)
    return rec, result


def wait_started(pid, log, timeout, poll=0.5):
    """Wait until the script prints its success line. Returns None, or why it did not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if SUCCESS in text:
            return None
        if not _supervise.alive(pid):
            return "hack/local-up-cluster.sh exited before the cluster was up"
        if time.monotonic() > deadline:
            return "the cluster was not up within %d s" % timeout
        time.sleep(poll)


def stop_script(pid, timeout):
    """SIGTERM the script: its EXIT trap kills the components it still knows and etcd."""
    return _supervise.stop(pid, timeout, signal.SIGTERM)


def stop_leftovers(recorded, timeout):
    """Stop recorded components still running (a restored original, a target under dlv and its dlv)."""
    stopped = []
    for comp, info in sorted(locate(recorded).items()):
        parent = _ppid(info["pid"]) if info["under_dlv"] else 0
        _supervise.stop(info["pid"], timeout)
        if parent:
            _supervise.stop(parent, timeout)
        stopped.append(comp)
    return stopped


def wait_ports_free(ports, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [p for p in ports if p in _supervise.listening_ports()]
        if not busy:
            return []
        time.sleep(0.2)
    return busy


# ---------------------------------------------------------------- module


def runtime_answers(module, p):
    """Does the container runtime a kubelet would use answer (``docker info``, or the CRI socket exists)?"""
    if p["container_runtime"] == "docker":
        docker = module.get_bin_path("docker")
        return bool(docker) and module.run_command([docker, "info"])[0] == 0
    endpoint = (p["env"] or {}).get("CONTAINER_RUNTIME_ENDPOINT", "")
    return bool(endpoint) and os.path.exists(endpoint.replace("unix://", ""))


def stop(module, p, rec, state_path, pidfile):
    """Stop the recorded cluster. Returns the components stopped after the script."""
    recorded = rec.get("components", {})
    sessions = debug_sessions(recorded, p["debug_state_dir"])
    if sessions:
        raise KubedebugError(
            "%s of this cluster still run(s) under dlv (debug records in %s)" % (", ".join(sessions), p["debug_state_dir"]),
            hint="Restore first (ansible-playbook kubedebug.lab.restore), or stop with the kubedebug.lab.local_up_cluster role, which does",
            debug_sessions=sessions,
        )
    pid = running_pid(rec)
    if pid:
        stop_script(pid, p["stop_timeout"])
    stopped = stop_leftovers(recorded, p["stop_timeout"])
    busy = wait_ports_free(rec.get("ports", []), p["stop_timeout"])
    for f in (state_path, pidfile):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
    if busy:
        module.warn("ports %s are still in use after the cluster stopped" % busy)
    return stopped


def _stopped(module, p, rec, result, state_path, pidfile):
    if not rec and not os.path.exists(pidfile):
        return dict(result, action="none")
    result.update(changed=True, action="stopped")
    if not module.check_mode:
        result["stopped"] = stop(module, p, rec or {}, state_path, pidfile) if rec else []
        result["running"] = False
        result.pop("pid", None)
    return result


def _start(module, healthz, p, rec, launch, state_path, pidfile):
    """Start the script detached (``launch``: argv, env, config, mode, go_out), record it, wait for it and the
    apiserver; stop it again on failure. Returns (record, pid)."""
    argv, env, config, mode, go_out = (launch[k] for k in ("argv", "env", "config", "mode", "go_out"))
    tree = p["source_dir"]
    if rec:
        stop(module, p, rec, state_path, pidfile)
    check(p, mode, go_out, _supervise.listening_ports())
    for d in (p["cert_dir"], p["log_dir"], p["run_dir"], os.path.dirname(p["service_account_key"])):
        os.makedirs(d, exist_ok=True)
    log = os.path.join(p["log_dir"], "local-up-cluster.log")
    if os.path.exists(log):
        os.replace(log, log + ".1")
    started, _req = components_for(mode)
    ports = [p["secure_port"], p["etcd_port"], p["etcd_peer_port"]]
    for c in started:
        ports += list(FIXED_PORTS.get(c, ()))
    new = _supervise.start_detached(argv, env=["%s=%s" % kv for kv in env.items()], cwd=tree, log_path=log, pidfile=pidfile)
    rec = dict(argv=argv, config=config, pid=new, go_out=go_out, start_mode=mode, cert_dir=p["cert_dir"], log_dir=p["log_dir"], log=log,
               url="https://127.0.0.1:%d" % p["secure_port"], ports=ports, components={})
    write_record(state_path, rec)
    why = wait_started(new, log, p["timeout"])
    if why is None:
        rec["components"] = record_components(new)
        write_record(state_path, rec)
        status = healthz(rec["url"], p["cert_dir"])
        if status != 200:
            why = "the apiserver answers /healthz with %s" % status
    if why is not None:
        stop(module, p, rec, state_path, pidfile)
        raise KubedebugError(
            why, hint="Read the script's output %s and the components' logs in %s (it was stopped again)" % (log, p["log_dir"]),
            log=tail(log, 25), apiserver_log=tail(os.path.join(p["log_dir"], "kube-apiserver.log"), 10),
        )
    return rec, new


def run_module(module, healthz):
    """local_up_cluster: start, keep or stop the cluster. ``healthz(url, cert_dir)`` is the apiserver's
    ``/healthz`` status (or None). Returns the result; raises KubedebugError."""
    p = module.params
    state_path = os.path.join(p["run_dir"], "local-up-cluster.json")
    pidfile = os.path.join(p["run_dir"], "local-up-cluster.pid")
    result = dict(changed=False, state_file=state_path)
    rec, current = status(state_path, p["debug_state_dir"])
    result.update(current)
    pid = result.get("pid", 0)
    if p["state"] == "stopped":
        return _stopped(module, p, rec, result, state_path, pidfile)

    tree = os.path.realpath(p["source_dir"])
    p["source_dir"] = tree
    go_out = p["go_out"] or find_built_binary_dir(tree)
    mode = p["start_mode"]
    if mode == "auto":
        kubelet_built = bool(go_out) and os.access(os.path.join(go_out, "kubelet"), os.X_OK)
        mode = "all" if kubelet_built and runtime_answers(module, p) else "nokubelet"
    base = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "TZ", "USER") if k in os.environ}
    env = script_env(p, mode, base)
    argv = script_argv(tree, p["go_out"])
    config = script_env(p, mode, {})
    if pid and rec.get("config") == config and rec["argv"] == argv:
        answer = healthz(rec["url"], rec["cert_dir"])
        result.update(action="none", healthy=answer == 200)
        if answer != 200:
            module.warn("the apiserver of the running cluster answers /healthz with %s (paused at a breakpoint under dlv?)" % answer)
        return result
    action = "restarted" if pid else "started"
    if module.check_mode:
        result.update(changed=True, action=action, start_mode=mode, go_out=go_out)
        return result
    launch = dict(argv=argv, env=env, config=config, mode=mode, go_out=go_out)
    rec, new = _start(module, healthz, p, rec, launch, state_path, pidfile)
    result.update(public(rec), changed=True, action=action, running=True, pid=new, healthy=True,
                  components=locate(rec["components"]), debug_sessions=[])
    return result
