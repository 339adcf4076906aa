#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: firewall_ports
short_description: Open ports (dlv, Kubernetes) to listed source networks only, and remove exactly those openings again
version_added: 0.1.0
description:
  - Adds one accept rule per (source network, port) with firewalld (rich rules, runtime and permanent), ufw, or
    nftables (rules inserted at the top of an existing chain, tagged with a C(kubedebug.lab) comment).
  - Every rule names a source network. With no O(sources) nothing is opened; a Delve headless port is remote code
    execution, and tunnelling over SSH needs no firewall change at all.
  - The rules it added are recorded in O(state_file). A later run removes recorded rules that are no longer wanted,
    and O(state=absent) removes exactly the recorded ones. A matching rule the host had before is never recorded,
    so it is never removed.
  - Sources and ports are validated before anything is changed; a source that is not a CIDR is refused.
author:
  - Kubedebug Lab Developers (@kubedebug-lab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  state:
    description:
      - V(present) opens O(ports) to O(sources) (and removes what an earlier run opened that is no longer listed);
        V(absent) removes every rule this module recorded as added.
    type: str
    choices: [present, absent]
    default: present
  sources:
    description:
      - Source networks in CIDR notation (V(192.0.2.0/24), V(192.0.2.10/32), V(2001:db8::/64)).
      - V(0.0.0.0/0) opens to the world; it is accepted only when written out, and warned about.
    type: list
    elements: str
    default: []
  ports:
    description:
      - Ports as V(2345), V(2345/tcp) or V(2379-2380/tcp); the protocol defaults to tcp.
    type: list
    elements: str
    default: []
  backend:
    description:
      - V(auto) takes the first usable one of O(backend_order) (firewalld only when it is running).
    type: str
    choices: [auto, firewalld, ufw, nftables]
    default: auto
  backend_order:
    description: The order in which V(auto) looks for a backend.
    type: list
    elements: str
    default: [firewalld, ufw, nftables]
  zone:
    description: firewalld zone; default, the zone firewalld reports as default.
    type: str
  nftables_family:
    description: nftables table family.
    type: str
    choices: [inet, ip, ip6]
    default: inet
  nftables_table:
    description: nftables table holding O(nftables_chain); it must exist.
    type: str
    default: filter
  nftables_chain:
    description: nftables base chain on the input hook to insert the rules into; it must exist.
    type: str
    default: input
  state_file:
    description: Where the rules added by this module are recorded.
    type: path
    default: /var/lib/kubedebug/firewall-rules.json
notes:
  - nftables rules are added to the running ruleset only; they are gone after a reboot or a reload of
    C(/etc/nftables.conf), and the next run adds them again. firewalld rules are runtime and permanent;
    ufw rules are persistent by nature.
  - ufw rules are written even when ufw is inactive, but are not enforced until it is enabled (a warning says so).
"""

EXAMPLES = r"""
- name: Firewall | dlv reachable from the lab network only
  kubedebug.lab.firewall_ports:
    sources: [192.0.2.0/24]
    ports: [2345/tcp]

- name: Firewall | remove what was opened
  kubedebug.lab.firewall_ports:
    state: absent
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: when a backend was needed
  type: str
  sample: firewalld
added:
  description: Rules added, as C(family source ports/proto).
  returned: always
  type: list
  elements: str
  sample: [ipv4 192.0.2.0/24 2345/tcp]
removed:
  description: Rules removed.
  returned: always
  type: list
  elements: str
  sample: []
rules:
  description: The rules recorded as ours after this run.
  returned: always
  type: list
  elements: str
  sample: [ipv4 192.0.2.0/24 2345/tcp]
preexisting:
  description: Wanted rules the host already had; left alone, not recorded.
  returned: always
  type: list
  elements: str
  sample: []
"""

import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.kubedebug.lab.plugins.module_utils import _firewall as fw
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError, fail_from_error


class Firewalld(object):
    name = "firewalld"

    def __init__(self, module, cmd):
        self.m = module
        self.cmd = cmd
        rc, out, err = module.run_command([cmd, "--state"])
        if rc != 0:
            raise KubedebugError(
                "firewalld is installed but not running (firewall-cmd --state: %s)" % (out.strip() or err.strip()),
                "Start it (systemctl enable --now firewalld) or choose another backend; nothing was changed")
        self.zone = module.params["zone"] or self.run(["--get-default-zone"]).strip()

    def run(self, args):
        rc, out, err = self.m.run_command([self.cmd] + args)
        if rc != 0:
            raise KubedebugError("firewall-cmd %s failed: %s" % (" ".join(args), (err or out).strip()),
                                 "Check the zone name and firewalld's log")
        return out

    def layers(self):
        out = {}
        for layer, extra in (("runtime", []), ("permanent", ["--permanent"])):
            text = self.run(extra + ["--zone", self.zone, "--list-rich-rules"])
            out[layer] = set(r for r in (fw.parse_firewalld_rich_rule(line) for line in text.splitlines()) if r)
        return out

    def existing(self):
        self._layers = self.layers()
        return self._layers["runtime"] & self._layers["permanent"]

    def add(self, rule):
        for layer, extra in (("runtime", []), ("permanent", ["--permanent"])):
            if rule not in self._layers[layer]:
                self.run(extra + ["--zone", self.zone, "--add-rich-rule", fw.firewalld_rich_rule(rule)])

    def remove(self, rule):
        for layer, extra in (("runtime", []), ("permanent", ["--permanent"])):
            if rule in self._layers[layer]:
                self.run(extra + ["--zone", self.zone, "--remove-rich-rule", fw.firewalld_rich_rule(rule)])

    def describe(self):
        return {"zone": self.zone}

    def warnings(self, rules):
        return []


class Ufw(object):
    name = "ufw"

    def __init__(self, module, cmd):
        self.m = module
        self.cmd = cmd

    def run(self, args):
        rc, out, err = self.m.run_command([self.cmd] + args)
        if rc != 0:
            raise KubedebugError("ufw %s failed: %s" % (" ".join(args), (err or out).strip()), "Check ufw's configuration")
        return out

    def existing(self):
        found = set()
        for path in ("/etc/ufw/user.rules", "/etc/ufw/user6.rules"):
            if os.path.exists(path):
                with open(path) as f:
                    found |= fw.parse_ufw_rules(f.read())
        return found

    def add(self, rule):
        self.run(fw.ufw_args(rule) + ["comment", fw.COMMENT])

    def remove(self, rule):
        self.run(["delete"] + fw.ufw_args(rule))

    def describe(self):
        return {}

    def warnings(self, rules):
        status = self.run(["status"])
        if rules and "Status: active" not in status:
            return ["ufw is inactive: the rules are saved but not enforced until `ufw enable` (which also starts "
                    "blocking everything else: allow ssh first)"]
        return []


class Nftables(object):
    name = "nftables"

    def __init__(self, module, cmd):
        self.m = module
        self.cmd = cmd
        p = module.params
        self.where = [p["nftables_family"], p["nftables_table"], p["nftables_chain"]]
        rc, out, err = module.run_command([cmd, "-j", "list", "chain"] + self.where)
        if rc != 0:
            raise KubedebugError(
                "nftables has no chain %s: %s" % (" ".join(self.where), err.strip() or out.strip()),
                "Load a ruleset with an input chain (Debian: systemctl enable --now nftables, /etc/nftables.conf) or set "
                "nftables_family/nftables_table/nftables_chain to yours; nothing was changed")
        try:
            self.policy, self.handles = fw.parse_nft_chain(json.loads(out))
        except ValueError:
            raise KubedebugError("nft -j printed something that is not JSON", "Check the nft version (JSON output needs nftables >= 0.9)") from None

    def existing(self):
        return set(self.handles)

    def add(self, rule):
        rc, out, err = self.m.run_command([self.cmd, "insert", "rule"] + self.where + fw.nft_rule_words(rule))
        if rc != 0:
            raise KubedebugError("nft insert rule failed: %s" % (err or out).strip(), "Check the table and chain")

    def remove(self, rule):
        args = [self.cmd, "delete", "rule"] + self.where + ["handle", str(self.handles[rule])]
        rc, out, err = self.m.run_command(args)
        if rc != 0:
            raise KubedebugError("nft delete rule failed: %s" % (err or out).strip(), "Check the table and chain")

    def describe(self):
        return {"chain": " ".join(self.where), "policy": self.policy}

    def warnings(self, rules):
        if rules and self.policy == "accept":
            return ["chain %s has policy accept: these rules open nothing that was closed, and do not restrict "
                    "anyone else; give the chain a drop policy" % " ".join(self.where)]
        return []


BINARIES = {"firewalld": ("firewall-cmd", Firewalld), "ufw": ("ufw", Ufw), "nftables": ("nft", Nftables)}


def find_backend(module, name):
    def binary(n):
        return module.get_bin_path(BINARIES[n][0], opt_dirs=["/usr/sbin", "/sbin"])

    if name != "auto":
        cmd = binary(name)
        if not cmd:
            raise KubedebugError(
                "The firewall backend %s is not installed (no %s found)" % (name, BINARIES[name][0]),
                "Install it, or set the backend to one this host has (auto picks the first of %s that is)"
                % ", ".join(module.params["backend_order"]))
        return BINARIES[name][1](module, cmd)
    tried = []
    for n in module.params["backend_order"]:
        if n not in BINARIES:
            raise KubedebugError("Unknown firewall backend %r in backend_order" % n, "Use firewalld, ufw or nftables")
        cmd = binary(n)
        if not cmd:
            tried.append("%s: not installed" % n)
            continue
        if n == "firewalld" and module.run_command([cmd, "--state"])[0] != 0:
            tried.append("firewalld: installed, not running")
            continue
        return BINARIES[n][1](module, cmd)
    raise KubedebugError("No usable firewall backend (%s)" % "; ".join(tried),
                         "Install and start firewalld, ufw or nftables, or do not ask for openings (tunnel over SSH)")


def load_state(path):
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise KubedebugError("Cannot read the record of added rules %s: %s" % (path, exc),
                             "Fix or remove it (then remove leftover rules by hand)") from None
    return data if isinstance(data, dict) else {}


def save_state(module, path, data):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    if not data.get("rules"):
        if os.path.exists(path):
            os.unlink(path)
        return
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".firewall-rules.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    module.atomic_move(tmp, path)


def run(module):
    p = module.params
    wanted = fw.desired_rules(p["sources"], p["ports"]) if p["state"] == "present" else []
    record = load_state(p["state_file"])
    recorded = set(r for r in (fw.Rule.from_key(k) for k in record.get("rules", [])) if r)
    result = {"changed": False, "added": [], "removed": [], "rules": [], "preexisting": []}
    if not wanted and not recorded:
        result["msg"] = "Nothing to open and nothing recorded: no firewall change (tunnel to dlv over SSH)"
        return result
    backend_name = p["backend"]
    if recorded and record.get("backend") and backend_name == "auto":
        backend_name = record["backend"]  # remove with the backend that added them
    if recorded and record.get("backend") not in (None, backend_name):
        raise KubedebugError(
            "The rules in %s were added with %s, not %s" % (p["state_file"], record["backend"], backend_name),
            "Run once with state: absent and backend: %s first; nothing was changed" % record["backend"])
    backend = find_backend(module, backend_name)
    if backend.name == "nftables":
        fw.check_family(wanted, p["nftables_family"])
    for src in fw.world_open(wanted):
        module.warn("%s opens %s to every address: anyone who reaches it can run code as the debugged process"
                    % (src, ", ".join(sorted(set(r.ports + "/" + r.proto for r in wanted)))))
    existing = backend.existing()
    desired = set(wanted)
    to_add, to_remove, new_record = fw.plan(p["state"], desired, recorded, existing)
    result.update(backend=backend.name, **backend.describe())
    result["preexisting"] = sorted(r.key for r in desired & existing - recorded)
    result["added"] = [r.key for r in wanted if r in to_add]
    result["removed"] = sorted(r.key for r in to_remove)
    result["rules"] = sorted(r.key for r in new_record)
    result["changed"] = bool(to_add or to_remove)
    if module._diff:
        result["diff"] = {
            "before_header": "%s rules recorded in %s" % (backend.name, p["state_file"]),
            "after_header": "%s rules recorded in %s" % (backend.name, p["state_file"]),
            "before": "".join(k + "\n" for k in sorted(r.key for r in recorded)),
            "after": "".join(k + "\n" for k in result["rules"]),
        }
    for w in backend.warnings(new_record):
        module.warn(w)
    if module.check_mode:
        return result
    for rule in sorted(to_remove):
        backend.remove(rule)
    for rule in wanted:
        if rule in to_add:
            backend.add(rule)
    new_state = {"backend": backend.name, "rules": result["rules"]}
    new_state.update(backend.describe())
    if new_state != record and (new_record or recorded):
        save_state(module, p["state_file"], new_state)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            sources=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="str", default=[]),
            backend=dict(type="str", choices=["auto"] + list(fw.BACKENDS), default="auto"),
            backend_order=dict(type="list", elements="str", default=list(fw.BACKENDS)),
            zone=dict(type="str"),
            nftables_family=dict(type="str", choices=["inet", "ip", "ip6"], default="inet"),
            nftables_table=dict(type="str", default="filter"),
            nftables_chain=dict(type="str", default="input"),
            state_file=dict(type="path", default="/var/lib/kubedebug/firewall-rules.json"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except KubedebugError as err:
        fail_from_error(module, err, changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
