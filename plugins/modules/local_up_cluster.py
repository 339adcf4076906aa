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
extends_documentation_fragment:
  - kubedebug.lab._attributes
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
    details: Reports whether it would start, restart or stop; changes nothing.
  diff_mode:
    support: none
    details: Manages processes; its record files are bookkeeping.
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

from ansible_collections.kubedebug.lab.plugins.module_utils._cluster import localup as _localup
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


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
    try:
        result = _localup.run_module(module, healthz)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
