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
"""

from __future__ import annotations

import ipaddress
import re
import shlex

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
