#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: local_up_cluster
short_description: Run a Kubernetes tree's own hack/local-up-cluster.sh in the background, unedited, and stop it
version_added: 0.1.0
description:
  - With O(state=started) it checks what the script needs (built binaries where C(-O) looks, etcd, cfssl, cfssljson,
    openssl, curl, sudo and ss on its PATH, free ports) and fails naming each fix; then it starts
    C(/bin/bash hack/local-up-cluster.sh -O) (or C(-o GO_OUT)) detached, in the tree, with C(ENABLE_DAEMON=false) so
    the script stays the cluster's supervisor, output in a log file and its pid in a pidfile; it waits for the
    script's success line and for the apiserver's C(/healthz), and records the components' exact argv.
  - Idempotent. A script already running with the same command line and environment is left alone. A changed
    environment (ports, directories, mode) restarts the cluster.
  - With O(state=stopped) it sends the script SIGTERM (its EXIT trap kills the components it started and etcd),
    then stops what the script no longer knows (an apiserver restored after a debug session, or one still under dlv)
    and waits until the ports are free. It refuses while a kubedebug process-mode debug record names a component of
    this cluster (restore first; the kubedebug.lab.local_up_cluster role does).
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
options:
  state:
    description: V(started) or V(stopped).
    type: str
    choices: [started, stopped]
    default: started
  source_dir:
    description: Root of the Kubernetes tree (it holds C(hack/local-up-cluster.sh)). Required with O(state=started).
    type: path
  go_out:
    description:
      - Directory of built binaries, passed as C(-o GO_OUT). Empty means C(-O), the tree's C(_output) as the script
        guesses it (the newest C(kube-apiserver)).
    type: path
  start_mode:
    description:
      - The script's C(START_MODE). V(auto) is V(all) when the container runtime answers and a kubelet is built, else
        V(nokubelet). In v1.20 V(nokubelet) still starts kube-proxy, which exits at once when none is built.
    type: str
    choices: [auto, all, nokubelet, nokubeproxy]
    default: auto
  container_runtime:
    description: The script's C(CONTAINER_RUNTIME) when a kubelet runs (without one, V(remote) is passed so no docker is needed).
    type: str
    default: docker
  secure_port:
    description: C(API_SECURE_PORT), the apiserver's port.
    type: int
    default: 6443
  bind_address:
    description: C(API_BIND_ADDR). The script's own default is 0.0.0.0; loopback unless asked.
    type: str
    default: 127.0.0.1
  etcd_port:
    description: C(ETCD_PORT), etcd's client port on 127.0.0.1.
    type: int
    default: 2379
  etcd_peer_port:
    description: etcd's peer port (passed to etcd as C(ETCD_LISTEN_PEER_URLS); the script has no setting for it).
    type: int
    default: 2380
  cert_dir:
    description: C(CERT_DIR); the admin kubeconfig is C(CERT_DIR/admin.kubeconfig).
    type: path
    default: /var/run/kubernetes
  log_dir:
    description: C(LOG_DIR), where the components log; the script's own output goes to C(local-up-cluster.log) there.
    type: path
    default: /var/log/kubedebug/local-up-cluster
  service_account_key:
    description: C(SERVICE_ACCOUNT_KEY) (generated when missing).
    type: path
    default: /var/lib/kubedebug/local-up-cluster/serviceaccount.key
  run_dir:
    description: Where the pidfile and the record of the running cluster are kept.
    type: path
    default: /run/kubedebug
  path_dirs:
    description: The script's PATH, in order (etcd and cfssl must be found there).
    type: list
    elements: path
    default: [/usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin, /bin]
  env:
    description: More environment for the script (e.g. C(LOG_LEVEL), C(FEATURE_GATES)); it wins over the above.
    type: dict
    default: {}
  debug_state_dir:
    description: Where kubedebug.lab debug records are (to find components of this cluster under dlv).
    type: path
    default: /var/lib/kubedebug
  timeout:
    description: Seconds to wait for the cluster to come up.
    type: float
    default: 300
  stop_timeout:
    description: Seconds to wait for a process to stop after SIGTERM before SIGKILL, and for the ports to be free.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    description: Reports whether it would start, restart or stop; changes nothing.
  diff_mode:
    support: none
    description: Manages processes; its record files are bookkeeping.
notes:
  - Run as root (O(ignore:become=true)). One such cluster per host - kube-controller-manager and kube-scheduler keep
    their default ports, which the script cannot move.
seealso:
  - module: kubedebug.lab.local_up_cluster_info
  - module: kubedebug.lab.debug_process
  - module: kubedebug.lab.background_process
"""

EXAMPLES = r"""
- name: A local cluster from the tree's own script, apiserver on 127.0.0.1:6443
  kubedebug.lab.local_up_cluster:
    source_dir: /var/cache/kubedebug/src/kubernetes-v1.20.2
    start_mode: nokubelet
  become: true
  register: cluster

- name: Stop it
  kubedebug.lab.local_up_cluster:
    state: stopped
  become: true
"""

RETURN = r"""
action:
  description: V(none), V(started), V(restarted) or V(stopped).
  returned: always
  type: str
running:
  description: The script runs.
  returned: always
  type: bool
pid:
  description: Pid of the script (the cluster's supervisor).
  returned: when running
  type: int
argv:
  description: The script's command line.
  returned: when there is a record
  type: list
  elements: str
go_out:
  description: Directory the components' binaries are taken from.
  returned: when there is a record
  type: str
start_mode:
  description: The START_MODE used.
  returned: when there is a record
  type: str
cert_dir:
  description: CERT_DIR.
  returned: when there is a record
  type: str
log_dir:
  description: LOG_DIR (components' logs).
  returned: when there is a record
  type: str
log:
  description: The script's own output.
  returned: when there is a record
  type: str
kubeconfig:
  description: The admin kubeconfig written by the script.
  returned: when there is a record
  type: str
url:
  description: The apiserver's URL.
  returned: when there is a record
  type: str
components:
  description: Components of the cluster running now, by name, with pid, argv0, whether under dlv and whether argv is the original.
  returned: when there is a record
  type: dict
recorded:
  description: The exact argv of each component as the script started it.
  returned: when there is a record
  type: dict
debug_sessions:
  description: Components of this cluster named by a kubedebug process-mode debug record.
  returned: when there is a record
  type: list
  elements: str
healthy:
  description: The apiserver answered /healthz with 200.
  returned: state=started and running
  type: bool
stopped:
  description: Components stopped after the script (not its children any more).
  returned: state=stopped
  type: list
  elements: str
state_file:
  description: The record of the running cluster.
  returned: always
  type: str
"""

import os
from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.kubedebug.lab.plugins.module_utils import _localup, _supervise
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


def runtime_answers(module, p):
    if p["container_runtime"] == "docker":
        docker = module.get_bin_path("docker")
        return bool(docker) and module.run_command([docker, "info"])[0] == 0
    endpoint = (p["env"] or {}).get("CONTAINER_RUNTIME_ENDPOINT", "")
    return bool(endpoint) and os.path.exists(endpoint.replace("unix://", ""))


def healthz(url, cert_dir, timeout=5.0):
    """HTTP status of the apiserver's /healthz with the admin client certificate, or None."""
    try:
        r = open_url(url + "/healthz", ca_path=os.path.join(cert_dir, "server-ca.crt"), client_cert=os.path.join(cert_dir, "client-admin.crt"),
                     client_key=os.path.join(cert_dir, "client-admin.key"), timeout=timeout, validate_certs=True)
        return r.getcode()
    except HTTPError as e:
        return e.code
    except (OSError, ValueError, ConnectionError):
        return None


def stop(module, p, rec, state_path, pidfile):
    """Stop the recorded cluster. Returns the components stopped after the script."""
    recorded = rec.get("components", {})
    sessions = _localup.debug_sessions(recorded, p["debug_state_dir"])
    if sessions:
        raise KubedebugError(
            "%s of this cluster still run(s) under dlv (debug records in %s)" % (", ".join(sessions), p["debug_state_dir"]),
            hint="Restore first (ansible-playbook kubedebug.lab.restore), or stop with the kubedebug.lab.local_up_cluster role, which does",
            debug_sessions=sessions,
        )
    pid = _localup.running_pid(rec)
    if pid:
        _localup.stop_script(pid, p["stop_timeout"])
    stopped = _localup.stop_leftovers(recorded, p["stop_timeout"])
    busy = _localup.wait_ports_free(rec.get("ports", []), p["stop_timeout"])
    for f in (state_path, pidfile):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
    if busy:
        module.warn("ports %s are still in use after the cluster stopped" % busy)
    return stopped


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", default="started", choices=["started", "stopped"]),
            source_dir=dict(type="path"),
            go_out=dict(type="path"),
            start_mode=dict(type="str", default="auto", choices=["auto"] + list(_localup.MODES)),
            container_runtime=dict(type="str", default="docker"),
            secure_port=dict(type="int", default=6443),
            bind_address=dict(type="str", default="127.0.0.1"),
            etcd_port=dict(type="int", default=2379),
            etcd_peer_port=dict(type="int", default=2380),
            cert_dir=dict(type="path", default="/var/run/kubernetes"),
            log_dir=dict(type="path", default="/var/log/kubedebug/local-up-cluster"),
            service_account_key=dict(type="path", default="/var/lib/kubedebug/local-up-cluster/serviceaccount.key"),
            run_dir=dict(type="path", default="/run/kubedebug"),
            path_dirs=dict(type="list", elements="path", default=["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
            env=dict(type="dict", default={}),
            debug_state_dir=dict(type="path", default="/var/lib/kubedebug"),
            timeout=dict(type="float", default=300),
            stop_timeout=dict(type="float", default=60),
        ),
        required_if=[("state", "started", ("source_dir",))],
        supports_check_mode=True,
    )
    p = module.params
    state_path = os.path.join(p["run_dir"], "local-up-cluster.json")
    pidfile = os.path.join(p["run_dir"], "local-up-cluster.pid")
    result = dict(changed=False, state_file=state_path)
    try:
        rec, status = _localup.status(state_path, p["debug_state_dir"])
        result.update(status)
        pid = result.get("pid", 0)
        if p["state"] == "stopped":
            if not rec and not os.path.exists(pidfile):
                module.exit_json(action="none", **result)
            result.update(changed=True, action="stopped")
            if not module.check_mode:
                result["stopped"] = stop(module, p, rec or {}, state_path, pidfile) if rec else []
                result["running"] = False
                result.pop("pid", None)
            module.exit_json(**result)

        tree = os.path.realpath(p["source_dir"])
        p["source_dir"] = tree
        go_out = p["go_out"] or _localup.find_built_binary_dir(tree)
        mode = p["start_mode"]
        if mode == "auto":
            kubelet_built = bool(go_out) and os.access(os.path.join(go_out, "kubelet"), os.X_OK)
            mode = "all" if kubelet_built and runtime_answers(module, p) else "nokubelet"
        base = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "TZ", "USER") if k in os.environ}
        env = _localup.script_env(p, mode, base)
        argv = _localup.script_argv(tree, p["go_out"])
        config = _localup.script_env(p, mode, {})
        if pid and rec.get("config") == config and rec["argv"] == argv:
            status = healthz(rec["url"], rec["cert_dir"])
            result.update(action="none", healthy=status == 200)
            if status != 200:
                module.warn("the apiserver of the running cluster answers /healthz with %s (paused at a breakpoint under dlv?)" % status)
            module.exit_json(**result)
        action = "restarted" if pid else "started"
        if module.check_mode:
            result.update(changed=True, action=action, start_mode=mode, go_out=go_out)
            module.exit_json(**result)
        if rec:
            stop(module, p, rec, state_path, pidfile)
        _localup.check(p, mode, go_out, _supervise.listening_ports())
        for d in (p["cert_dir"], p["log_dir"], p["run_dir"], os.path.dirname(p["service_account_key"])):
            os.makedirs(d, exist_ok=True)
        log = os.path.join(p["log_dir"], "local-up-cluster.log")
        if os.path.exists(log):
            os.replace(log, log + ".1")
        started, _req = _localup.components_for(mode)
        ports = [p["secure_port"], p["etcd_port"], p["etcd_peer_port"]]
        for c in started:
            ports += list(_localup.FIXED_PORTS.get(c, ()))
        new = _supervise.start_detached(argv, env=["%s=%s" % kv for kv in env.items()], cwd=tree, log_path=log, pidfile=pidfile)
        rec = dict(argv=argv, config=config, pid=new, go_out=go_out, start_mode=mode, cert_dir=p["cert_dir"], log_dir=p["log_dir"], log=log,
                   url="https://127.0.0.1:%d" % p["secure_port"], ports=ports, components={})
        _localup.write_record(state_path, rec)
        why = _localup.wait_started(new, log, p["timeout"])
        if why is None:
            rec["components"] = _localup.record_components(new)
            _localup.write_record(state_path, rec)
            status = healthz(rec["url"], p["cert_dir"])
            if status != 200:
                why = "the apiserver answers /healthz with %s" % status
        if why is not None:
            stop(module, p, rec, state_path, pidfile)
            raise KubedebugError(
                why, hint="Read the script's output %s and the components' logs in %s (it was stopped again)" % (log, p["log_dir"]),
                log=_localup.tail(log), apiserver_log=_localup.tail(os.path.join(p["log_dir"], "kube-apiserver.log"), 10),
            )
        result.update(_localup.public(rec), changed=True, action=action, running=True, pid=new, healthy=True,
                      components=_localup.locate(rec["components"]), debug_sessions=[])
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
