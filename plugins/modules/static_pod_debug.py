#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: static_pod_debug
short_description: Run a static-pod component under dlv by rewriting its manifest, and restore the original byte-exact
version_added: 0.1.0
description:
  - Static-pod mode of the collection, for kubeadm control planes whose components run from
    C(/etc/kubernetes/manifests).
  - With O(state=debug) and O(mode=static) it keeps the manifest byte for byte in O(backup_dir) (with its sha256
    and a small JSON record), then rewrites the chosen container so that it runs
    C(dlv exec DEBUG_BINARY --headless --listen=ADDR --api-version=2 --accept-multiclient --continue -- ARGS), where
    C(ARGS) is the container's original command without its first word, followed by its original args, unchanged.
    dlv and the debug binary are mounted from the host read-only (hostPath), C(SYS_PTRACE) is added, seccomp is set to
    C(Unconfined) for that container where the pod uses C(RuntimeDefault), and the liveness, readiness and startup
    probes are removed (or stretched) so the kubelet does not kill a process held at a breakpoint. Every change is
    listed in RV(changes).
  - With O(mode=host) the manifest is moved out of the manifest directory into O(backup_dir) instead (the kubelet then
    stops the pod), and the container's argv is returned for running the component on the host.
  - With O(state=restored) the original bytes are written back (sha256 verified before and after) and only then the
    backup is removed. The mode of the debug run does not matter.
  - The backup never lives inside the manifest directory (the kubelet runs every non-hidden file there as a static pod
    whatever its extension, kubernetes#136962), and files written there go through a temp file whose name starts with a
    dot, fsync and rename. A run killed at any step leaves either the original or the complete debug form in place,
    and the next run, in either state, carries on from there.
  - An existing backup is never overwritten. Running O(state=debug) twice changes nothing the second time.
  - Reading a YAML manifest needs PyYAML on the managed host (C(python3-yaml)); JSON manifests and O(state=restored)
    need nothing beyond Python. The debug form is written as YAML by the collection itself.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - kubedebug.lab._attributes
  - kubedebug.lab.dlv
options:
  path:
    description: The static-pod manifest, for example C(/etc/kubernetes/manifests/kube-apiserver.yaml).
    type: path
    required: true
  state:
    description: V(debug) to run the component under dlv, V(restored) to put the original manifest back.
    type: str
    choices: [debug, restored]
    default: debug
  mode:
    description:
      - V(static) rewrites the manifest so the kubelet runs the component under dlv in its pod.
      - V(host) moves the manifest out of the manifest directory (into O(backup_dir)) so the component can be run on the
        host under dlv by other means; RV(original_argv) holds its argv.
      - Ignored with O(state=restored), which undoes either.
    type: str
    choices: [static, host]
    default: static
  container:
    description: Name of the container to debug. Required when the pod has more than one container.
    type: str
  binary:
    description:
      - The debug-built component on the host (full DWARF, C(-N -l)), mounted read-only into the container.
      - Required with O(state=debug) and O(mode=static).
    type: path
  container_dir:
    description: Directory inside the container where dlv and the debug binary are mounted.
    type: str
    default: /kubedebug/bin
  probes:
    description:
      - What to do with the container's liveness, readiness and startup probes. A process paused at a breakpoint fails
        them; kubeadm's apiserver liveness probe restarts it within about two minutes.
      - V(remove) deletes them, V(stretch) raises C(failureThreshold) to cover O(probe_stretch_seconds), V(keep) leaves them.
    type: str
    choices: [remove, stretch, keep]
    default: remove
  probe_stretch_seconds:
    description: With O(probes=stretch), how long a probe may keep failing before the kubelet acts.
    type: int
    default: 3600
  seccomp:
    description:
      - V(auto) sets the container's seccomp profile to C(Unconfined) when the effective profile (container or pod,
        field or annotation) is C(RuntimeDefault); another explicit profile is left alone with a warning.
      - V(unconfined) always sets C(Unconfined) on the container; V(keep) never touches seccomp.
      - Only the debugged container is changed, never the pod-level profile.
    type: str
    choices: [auto, unconfined, keep]
    default: auto
  leader_elect_false:
    description:
      - Set C(--leader-elect=false) in the component's arguments (listed in RV(changes)). A kube-scheduler or
        kube-controller-manager paused at a breakpoint loses its lease and exits with C(leaderelection lost)
        (kubernetes#65966).
      - Use it on a single control-plane node only; with several, two instances would act as leader at once.
      - Refused for components without a C(--leader-elect) flag (kube-apiserver).
    type: bool
    default: false
  backup_dir:
    description:
      - Where the original is kept (file, C(.sha256), C(.kubedebug.json)). Must be outside the manifest directory.
      - O(state=restored) must use the same directory as the debug run.
    type: path
    default: /var/lib/kubedebug/static-pods
  validate:
    description:
      - Check on the host that O(binary) is a Go ELF binary with DWARF debug info, that dlv and the binary exist, and
        (with O(require_static)) that both are statically linked; and that nothing listens on the dlv port yet.
      - Turn off to render a debug form for binaries that are not there yet.
    type: bool
    default: true
  require_static:
    description:
      - Refuse dynamically linked dlv or debug binaries. The Kubernetes control-plane images are distroless (no libc, no
        loader), so such a binary cannot start in the container. Debian's C(/usr/bin/dlv) is dynamically linked.
      - Turn off only when the component's image has the loader and libc the binaries need.
    type: bool
    default: true
  port_check:
    description: With O(validate), refuse when something on the host already listens on the dlv port (host-network pods).
    type: bool
    default: true
  force:
    description:
      - With O(state=restored), restore the original even when the manifest in place is neither the original nor the debug
        form this module wrote (edited since). The file in place is first kept as C(BACKUP.replaced-TIMESTAMP) in
        O(backup_dir), so nothing is lost.
    type: bool
    default: false
  ssh_destination:
    description: C(user@host) used in the printed C(ssh -L) command. Defaults to a placeholder.
    type: str
attributes:
  check_mode:
    support: full
    details: Reports the changes and the diff; writes nothing.
  diff_mode:
    support: full
    details: The manifest text before and after (the original and the debug form, or the file moved away).
notes:
  - Run with O(ignore:become=true).
  - The debug form carries the annotations C(kubedebug.lab/original-sha256), C(kubedebug.lab/original-backup),
    C(kubedebug.lab/container) and C(kubedebug.lab/listen); that is how a later run recognises it.
  - Inside a host-network pod, the default listen address 127.0.0.1 is the host's loopback; reach it with the printed
    C(ssh -L) tunnel. Give each debugged component its own port.
  - Copies of the manifest inside the manifest directory (such as C(kube-apiserver.yaml.old)) are reported in warnings;
    the kubelet runs them too. They are not touched.
seealso:
  - module: kubedebug.lab.dlv_command
  - module: kubedebug.lab.debug_process
"""

EXAMPLES = r"""
- name: Run the kubeadm apiserver under dlv with the debug build
  kubedebug.lab.static_pod_debug:
    path: /etc/kubernetes/manifests/kube-apiserver.yaml
    binary: /var/lib/kubedebug/build/v1.20.2/kube-apiserver
    dlv_path: /usr/local/bin/dlv-static
  become: true
  register: apiserver_debug

- name: Debug the scheduler on port 2346, without leader election (single control-plane lab)
  kubedebug.lab.static_pod_debug:
    path: /etc/kubernetes/manifests/kube-scheduler.yaml
    binary: /var/lib/kubedebug/build/v1.20.2/kube-scheduler
    dlv_path: /usr/local/bin/dlv-static
    listen: 127.0.0.1:2346
    leader_elect_false: true
    probes: stretch
  become: true

- name: Put the original apiserver manifest back, byte for byte
  kubedebug.lab.static_pod_debug:
    path: /etc/kubernetes/manifests/kube-apiserver.yaml
    state: restored
  become: true
"""

RETURN = r"""
changes:
  description: Each change of the debug form, with C(change) (a stable name such as V(command), V(volume-dlv),
    V(volume-binary), V(sys-ptrace), V(seccomp), V(liveness-probe), V(readiness-probe), V(startup-probe),
    V(leader-elect), V(annotations)), C(field), C(before), C(after) and C(reason).
  returned: state=debug and mode=static
  type: list
  elements: dict
backup:
  description: Paths of the backup set (C(backup), C(sha256_file), C(record)).
  returned: always
  type: dict
original_sha256:
  description: sha256 of the original manifest.
  returned: when there is a manifest or a backup
  type: str
manifest_sha256:
  description: sha256 of the debug form.
  returned: state=debug and mode=static
  type: str
container:
  description: Name of the debugged container.
  returned: state=debug
  type: str
original_argv:
  description: The container's original command followed by its args; null when it has no command (image entrypoint).
  returned: state=debug
  type: list
  elements: str
debug_argv:
  description: The container's command followed by its args in the debug form (dlv's argv, in-container paths).
  returned: state=debug and mode=static
  type: list
  elements: str
target_args:
  description: The arguments the component receives under dlv (after C(--)).
  returned: state=debug and mode=static
  type: list
  elements: str
original_command:
  description: The container's original C(command) (null when absent).
  returned: state=debug
  type: list
  elements: str
original_args:
  description: The container's original C(args) (null when absent).
  returned: state=debug
  type: list
  elements: str
component:
  description: The component name (basename of the original command's first word, else the container name).
  returned: state=debug and mode=static
  type: str
container_spec:
  description: The original container as read from the manifest.
  returned: state=debug and mode=host
  type: dict
listen:
  description: dlv's listen address.
  returned: state=debug and mode=static
  type: str
host:
  description: dlv's listen host.
  returned: state=debug and mode=static
  type: str
port:
  description: dlv's listen port.
  returned: state=debug and mode=static
  type: int
exposure:
  description: V(loopback) or V(network).
  returned: state=debug and mode=static
  type: str
ssh_tunnel_command:
  description: The C(ssh -L) command to reach dlv from a workstation (null when dlv listens on the network).
  returned: state=debug and mode=static
  type: str
connect_command:
  description: The C(dlv connect) command to run on the workstation.
  returned: state=debug and mode=static
  type: str
ide_remote:
  description: Host and port an IDE on the workstation attaches to (through the tunnel when dlv listens on loopback).
  returned: state=debug and mode=static
  type: dict
  sample: {"host": "127.0.0.1", "port": 2345}
notes:
  description: Things to know when attaching (dlv's same-user rule).
  returned: state=debug and mode=static
  type: list
  elements: str
msg:
  description: What a restore did.
  returned: state=restored
  type: str
replaced_file:
  description: Where the manifest found in place was kept before a forced restore.
  returned: state=restored with force, when the manifest had been edited
  type: str
removed_temp_files:
  description: Dot-named temp files an interrupted earlier run had left, removed.
  returned: when there were any
  type: list
  elements: str
steps:
  description: The steps this run carried out, in order (writes, renames, removals).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _staticpod
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error
from ansible_collections.kubedebug.lab.plugins.module_utils._process.dlv import DLV_ARG_SPEC, attach_commands, resolve_dlv_path


def main():
    spec = dict(
        path=dict(type="path", required=True),
        state=dict(type="str", default="debug", choices=["debug", "restored"]),
        mode=dict(type="str", default="static", choices=["static", "host"]),
        container=dict(type="str"),
        binary=dict(type="path"),
        container_dir=dict(type="str", default=_staticpod.DEFAULT_CONTAINER_DIR),
        probes=dict(type="str", default="remove", choices=["remove", "stretch", "keep"]),
        probe_stretch_seconds=dict(type="int", default=3600),
        seccomp=dict(type="str", default="auto", choices=["auto", "unconfined", "keep"]),
        leader_elect_false=dict(type="bool", default=False),
        backup_dir=dict(type="path", default=_staticpod.DEFAULT_BACKUP_DIR),
        validate=dict(type="bool", default=True),
        require_static=dict(type="bool", default=True),
        port_check=dict(type="bool", default=True),
        force=dict(type="bool", default=False),
        ssh_destination=dict(type="str"),
    )
    spec.update(DLV_ARG_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    p = dict(module.params)
    try:
        if p["state"] == "debug" and p["mode"] == "static":
            if not p["binary"]:
                raise KubedebugError("binary is required with state=debug and mode=static",
                                     hint="Give the debug-built component on the host (built with the kubedebug.lab build role)")
            p["dlv_host_path"] = resolve_dlv_path(
                p["dlv_path"], module.get_bin_path,
                hint="Install a statically linked dlv and set dlv_path to its full path (it is mounted into the pod)")
            result = _staticpod.debug(p, check_mode=module.check_mode)
            attach = attach_commands(result["host"], result["port"], result["exposure"], p["ssh_destination"])
            result.update(ssh_tunnel_command=attach["ssh_tunnel_command"], connect_command=attach["connect_command"], notes=attach["notes"],
                          ide_remote=attach["ide_remote"])
        elif p["state"] == "debug":
            result = _staticpod.debug(p, check_mode=module.check_mode)
        else:
            result = _staticpod.restore(p, check_mode=module.check_mode)
    except KubedebugError as e:
        fail_from_error(module, e, changed=False)
    except OSError as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", None) or p["path"], e.strerror or e), changed=False,
                         hint="Run with become: true, and check the manifest and backup_dir paths")
    diff = result.pop("diff_data", None)
    if module._diff and result.get("changed") and diff:
        result["diff"] = diff
    for w in result.pop("warnings", []):
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
