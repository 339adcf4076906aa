# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Firewall openings for dlv and Kubernetes ports, restricted to source CIDRs.

A Delve headless port is remote code execution as the debuggee's user, so a
rule here always names a source network; there is no "open to everyone"
shortcut (``0.0.0.0/0`` must be written out, and is warned about).

Pure logic: validating sources and ports, rendering each backend's rule
(firewalld rich rule, ufw command and ``user.rules`` tuple, nftables rule with
an identifying comment), parsing what a backend reports back, and planning
what to add and remove. The plan only ever removes rules this collection
recorded as added by itself: a rule the host had before is never touched.

The backends at the end (:class:`Firewalld`, :class:`Ufw`, :class:`Nftables`)
and :func:`run_module` drive the tools through the calling module's
``run_command``/``get_bin_path``/``warn``/``atomic_move`` (the module object is
passed in; nothing here imports Ansible).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import tempfile

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

BACKENDS = ("firewalld", "ufw", "nftables")
COMMENT = "kubedebug.lab"
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$")


class Rule(tuple):
    """(family, source, first_port, last_port, proto) with a stable text key."""

    __slots__ = ()

    def __new__(cls, family, source, first, last, proto):
        return tuple.__new__(cls, (family, source, first, last, proto))

    family = property(lambda self: self[0])
    source = property(lambda self: self[1])
    first = property(lambda self: self[2])
    last = property(lambda self: self[3])
    proto = property(lambda self: self[4])

    @property
    def ports(self):
        return str(self.first) if self.first == self.last else "%d-%d" % (self.first, self.last)

    @property
    def key(self):
        return "%s %s %s/%s" % (self.family, self.source, self.ports, self.proto)

    @classmethod
    def from_key(cls, key):
        try:
            family, source, port = key.split(" ")
            first, last, proto = parse_port(port)
            return cls(family, str(ipaddress.ip_network(source)), first, last, proto)
        except (ValueError, KubedebugError):
            return None


def parse_port(spec):
    """``2345``, ``2345/tcp``, ``2379-2380/tcp`` -> (first, last, proto); tcp by default."""
    m = _PORT.match(str(spec).strip())
    if not m:
        raise KubedebugError(
            "%r is not a port: write 2345, 2345/tcp or 2379-2380/tcp" % (spec,),
            "Fix the port list; nothing was changed",
        )
    first = int(m.group(1))
    last = int(m.group(2) or first)
    if not (1 <= first <= last <= 65535):
        raise KubedebugError("%r is not a port range within 1-65535" % (spec,), "Fix the port list; nothing was changed")
    return first, last, m.group(3) or "tcp"


def parse_source(value):
    """A CIDR (``192.0.2.0/24``, ``2001:db8::/32``) -> normalised text; anything else is refused."""
    text = str(value).strip() if value is not None else ""
    if "/" not in text:
        try:
            addr = ipaddress.ip_address(text)
            hint = "write %s/%d for that one host" % (addr, addr.max_prefixlen)
        except ValueError:
            hint = "write a network such as 192.0.2.0/24 or 2001:db8::/64"
        raise KubedebugError(
            "Allowed source %r is not a CIDR (no /prefix)" % (value,),
            "A dlv port is remote code execution: name the networks allowed to reach it; %s. Nothing was changed" % hint,
        )
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        net = ipaddress.ip_network(text, strict=False)
        host = ipaddress.ip_network(text.split("/", maxsplit=1)[0])
    except ValueError:
        raise KubedebugError(
            "Allowed source %r is not a CIDR" % (value,),
            "Write an IPv4 or IPv6 network such as 192.0.2.0/24 or 2001:db8::/64; nothing was changed",
        ) from None
    raise KubedebugError(
        "Allowed source %r has host bits set" % (value,),
        "Write %s for the whole network or %s for that one host; nothing was changed" % (net, host),
    )


def desired_rules(sources, ports):
    """Every (source x port) rule, validated, without duplicates, in a stable order."""
    nets = []
    for s in sources or []:
        n = parse_source(s)
        if n not in nets:
            nets.append(n)
    specs = []
    for p in ports or []:
        spec = parse_port(p)
        if spec not in specs:
            specs.append(spec)
    out = []
    for n in nets:
        family = "ipv6" if ":" in n else "ipv4"
        for first, last, proto in specs:
            out.append(Rule(family, n, first, last, proto))
    return out


def world_open(rules):
    return sorted(set(r.source for r in rules if r.source in ("0.0.0.0/0", "::/0")))


def plan(state, desired, recorded, existing):
    """What to add and remove, and what to record as added by us.

    ``desired``/``recorded``/``existing`` are sets of rules. Only recorded
    rules are ever removed; a desired rule that already existed unrecorded
    belongs to someone else and is not recorded (so ``absent`` leaves it).
    """
    if state == "absent":
        return set(), recorded & existing, set()
    to_add = desired - existing
    to_remove = (recorded - desired) & existing
    return to_add, to_remove, (recorded & desired) | to_add


# ------------------------------------------------------------------ firewalld


def firewalld_rich_rule(rule):
    return 'rule family="%s" source address="%s" port port="%s" protocol="%s" accept' % (
        rule.family, rule.source, rule.ports, rule.proto)


def parse_firewalld_rich_rule(line):
    """A rich rule as ``firewall-cmd --list-rich-rules`` prints it -> Rule, or None if not of our shape."""
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    # rule family=ipv4 source address=X port port=P protocol=T accept
    if len(words) != 8 or words[0] != "rule" or words[2] != "source" or words[4] != "port" or words[7] != "accept":
        return None
    fields = dict(w.split("=", 1) for w in (words[1], words[3], words[5], words[6]) if "=" in w)
    try:
        first, last, proto = parse_port("%s/%s" % (fields["port"], fields["protocol"]))
        source = str(ipaddress.ip_network(fields["address"], strict=False))
        return Rule(fields["family"], source, first, last, proto)
    except (KeyError, ValueError, KubedebugError):
        return None


# ------------------------------------------------------------------------ ufw


def ufw_args(rule):
    """``ufw`` arguments that add the rule (prepend ``delete`` to remove it)."""
    ports = str(rule.first) if rule.first == rule.last else "%d:%d" % (rule.first, rule.last)
    return ["allow", "proto", rule.proto, "from", rule.source, "to", "any", "port", ports]


def parse_ufw_rules(text):
    """Our shape of rule from ``/etc/ufw/user.rules`` / ``user6.rules`` ``### tuple ###`` lines -> set of Rule.

    Tuple format: ``allow PROTO DPORT DST SPORT SRC in[_IFACE] [comment=HEX]``.
    """
    out = set()
    for line in text.splitlines():
        if not line.startswith("### tuple ### "):
            continue
        words = line[len("### tuple ### "):].split()
        if len(words) < 7 or words[0] != "allow" or words[6] != "in" or words[4] != "any":
            continue
        proto, dport, dst, src = words[1], words[2], words[3], words[5]
        if dst not in ("0.0.0.0/0", "::/0") or proto not in ("tcp", "udp") or not re.match(r"^\d+(:\d+)?$", dport):
            continue
        try:
            net = ipaddress.ip_network(src, strict=False)
            first, last = parse_port(dport.replace(":", "-"))[:2]
        except (ValueError, KubedebugError):
            continue
        out.add(Rule("ipv6" if net.version == 6 else "ipv4", str(net), first, last, proto))
    return out


# ------------------------------------------------------------------- nftables


def nft_comment(rule):
    return "%s %s" % (COMMENT, rule.key)


def nft_rule_words(rule):
    """The words after ``nft insert rule FAMILY TABLE CHAIN``."""
    match = "ip6" if rule.family == "ipv6" else "ip"
    return [match, "saddr", rule.source, rule.proto, "dport", rule.ports, "accept", "comment", '"%s"' % nft_comment(rule)]


def parse_nft_chain(doc):
    """``nft -j list chain ...`` output (parsed JSON) -> (policy, {Rule: handle}) for rules we tagged."""
    policy = None
    ours = {}
    for item in (doc or {}).get("nftables", []):
        if "chain" in item:
            policy = item["chain"].get("policy")
        rule = item.get("rule")
        if not rule:
            continue
        comment = rule.get("comment") or ""
        if not comment.startswith(COMMENT + " "):
            continue
        parsed = Rule.from_key(comment[len(COMMENT) + 1:])
        if parsed is not None:
            ours[parsed] = rule.get("handle")
    return policy, ours


def check_family(rules, nft_family):
    """An ``ip`` table takes IPv4 rules only, an ``ip6`` table IPv6 only."""
    want = {"ip": "ipv4", "ip6": "ipv6"}.get(nft_family)
    if want:
        bad = [r.source for r in rules if r.family != want]
        if bad:
            raise KubedebugError(
                "The nftables table family %s cannot hold rules for %s" % (nft_family, ", ".join(sorted(set(bad)))),
                "Use an inet table (firewall_nftables_family: inet) or drop those sources; nothing was changed",
            )


# ---------------------------------------------------------------- backends
#
# Each backend: ``name``; ``existing()`` (the set of rules of ours the host
# has, read before any change); ``add(rule)``, ``remove(rule)``;
# ``describe()`` (what the result and the record say about where the rules
# are); ``warnings(rules)``. ``run_command`` is AnsibleModule.run_command.

_LAYERS = (("runtime", []), ("permanent", ["--permanent"]))


class Firewalld(object):
    name = "firewalld"

    def __init__(self, run_command, cmd, params):
        self.run_command = run_command
        self.cmd = cmd
        rc, out, err = run_command([cmd, "--state"])
        if rc != 0:
            raise KubedebugError(
                "firewalld is installed but not running (firewall-cmd --state: %s)" % (out.strip() or err.strip()),
                "Start it (systemctl enable --now firewalld) or choose another backend; nothing was changed")
        self.zone = params["zone"] or self.run(["--get-default-zone"]).strip()
        self._layers = None

    def run(self, args):
        rc, out, err = self.run_command([self.cmd] + args)
        if rc != 0:
            raise KubedebugError("firewall-cmd %s failed: %s" % (" ".join(args), (err or out).strip()),
                                 "Check the zone name and firewalld's log")
        return out

    def layers(self):
        out = {}
        for layer, extra in _LAYERS:
            text = self.run(extra + ["--zone", self.zone, "--list-rich-rules"])
            out[layer] = set(r for r in (parse_firewalld_rich_rule(line) for line in text.splitlines()) if r)
        return out

    def existing(self):
        self._layers = self.layers()
        return self._layers["runtime"] & self._layers["permanent"]

    def add(self, rule):
        for layer, extra in _LAYERS:
            if rule not in self._layers[layer]:
                self.run(extra + ["--zone", self.zone, "--add-rich-rule", firewalld_rich_rule(rule)])

    def remove(self, rule):
        for layer, extra in _LAYERS:
            if rule in self._layers[layer]:
                self.run(extra + ["--zone", self.zone, "--remove-rich-rule", firewalld_rich_rule(rule)])

    def describe(self):
        return {"zone": self.zone}

    def warnings(self, rules):
        return []


class Ufw(object):
    name = "ufw"
    USER_RULES = ("/etc/ufw/user.rules", "/etc/ufw/user6.rules")

    def __init__(self, run_command, cmd, params):
        self.run_command = run_command
        self.cmd = cmd

    def run(self, args):
        rc, out, err = self.run_command([self.cmd] + args)
        if rc != 0:
            raise KubedebugError("ufw %s failed: %s" % (" ".join(args), (err or out).strip()), "Check ufw's configuration")
        return out

    def existing(self):
        found = set()
        for path in self.USER_RULES:
            if os.path.exists(path):
                with open(path) as f:
                    found |= parse_ufw_rules(f.read())
        return found

    def add(self, rule):
        self.run(ufw_args(rule) + ["comment", COMMENT])

    def remove(self, rule):
        self.run(["delete"] + ufw_args(rule))

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

    def __init__(self, run_command, cmd, params):
        self.run_command = run_command
        self.cmd = cmd
        self.where = [params["nftables_family"], params["nftables_table"], params["nftables_chain"]]
        rc, out, err = run_command([cmd, "-j", "list", "chain"] + self.where)
        if rc != 0:
            raise KubedebugError(
                "nftables has no chain %s: %s" % (" ".join(self.where), err.strip() or out.strip()),
                "Load a ruleset with an input chain (Debian: systemctl enable --now nftables, /etc/nftables.conf) or set "
                "nftables_family/nftables_table/nftables_chain to yours; nothing was changed")
        try:
            self.policy, self.handles = parse_nft_chain(json.loads(out))
        except ValueError:
            raise KubedebugError("nft -j printed something that is not JSON", "Check the nft version (JSON output needs nftables >= 0.9)") from None

    def existing(self):
        return set(self.handles)

    def add(self, rule):
        rc, out, err = self.run_command([self.cmd, "insert", "rule"] + self.where + nft_rule_words(rule))
        if rc != 0:
            raise KubedebugError("nft insert rule failed: %s" % (err or out).strip(), "Check the table and chain")

    def remove(self, rule):
        args = [self.cmd, "delete", "rule"] + self.where + ["handle", str(self.handles[rule])]
        rc, out, err = self.run_command(args)
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
    """The backend ``name`` (or, for ``auto``, the first usable one of ``backend_order``), started."""
    p = module.params

    def binary(n):
        return module.get_bin_path(BINARIES[n][0], opt_dirs=["/usr/sbin", "/sbin"])

    if name != "auto":
        cmd = binary(name)
        if not cmd:
            raise KubedebugError(
                "The firewall backend %s is not installed (no %s found)" % (name, BINARIES[name][0]),
                "Install it, or set the backend to one this host has (auto picks the first of %s that is)"
                % ", ".join(p["backend_order"]))
        return BINARIES[name][1](module.run_command, cmd, p)
    tried = []
    for n in p["backend_order"]:
        if n not in BINARIES:
            raise KubedebugError("Unknown firewall backend %r in backend_order" % n, "Use firewalld, ufw or nftables")
        cmd = binary(n)
        if not cmd:
            tried.append("%s: not installed" % n)
            continue
        if n == "firewalld" and module.run_command([cmd, "--state"])[0] != 0:
            tried.append("firewalld: installed, not running")
            continue
        return BINARIES[n][1](module.run_command, cmd, p)
    raise KubedebugError("No usable firewall backend (%s)" % "; ".join(tried),
                         "Install and start firewalld, ufw or nftables, or do not ask for openings (tunnel over SSH)")


# ------------------------------------------------------------ the record


def load_state(path):
    """The record of the rules this module added ({} when there is none)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise KubedebugError("Cannot read the record of added rules %s: %s" % (path, exc),
                             "Fix or remove it (then remove leftover rules by hand)") from None
    return data if isinstance(data, dict) else {}


def save_state(atomic_move, path, data):
    """Write the record (``atomic_move`` is AnsibleModule.atomic_move); remove it when it holds no rules."""
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
    atomic_move(tmp, path)


# ---------------------------------------------------------------- module


def _backend_name(p, record, recorded):
    """The backend to use: the one that added the recorded rules, which must be the one asked for."""
    name = p["backend"]
    if recorded and record.get("backend") and name == "auto":
        name = record["backend"]  # remove with the backend that added them
    if recorded and record.get("backend") not in (None, name):
        raise KubedebugError(
            "The rules in %s were added with %s, not %s" % (p["state_file"], record["backend"], name),
            "Run once with state: absent and backend: %s first; nothing was changed" % record["backend"])
    return name


def run_module(module):
    """firewall_ports: plan and apply the openings. Returns the result; raises KubedebugError."""
    p = module.params
    wanted = desired_rules(p["sources"], p["ports"]) if p["state"] == "present" else []
    record = load_state(p["state_file"])
    recorded = set(r for r in (Rule.from_key(k) for k in record.get("rules", [])) if r)
    result = {"changed": False, "added": [], "removed": [], "rules": [], "preexisting": []}
    if not wanted and not recorded:
        result["msg"] = "Nothing to open and nothing recorded: no firewall change (tunnel to dlv over SSH)"
        return result
    backend = find_backend(module, _backend_name(p, record, recorded))
    if backend.name == "nftables":
        check_family(wanted, p["nftables_family"])
    for src in world_open(wanted):
        module.warn("%s opens %s to every address: anyone who reaches it can run code as the debugged process"
                    % (src, ", ".join(sorted(set(r.ports + "/" + r.proto for r in wanted)))))
    existing = backend.existing()
    desired = set(wanted)
    to_add, to_remove, new_record = plan(p["state"], desired, recorded, existing)
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
        save_state(module.atomic_move, p["state_file"], new_state)
    return result
