"""Firewall rule validation, rendering, parsing and planning."""

import ipaddress
import json
import os
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import firewall as fw


@pytest.mark.parametrize("value, expect", [
    ("192.0.2.0/24", "192.0.2.0/24"),
    (" 192.0.2.10/32 ", "192.0.2.10/32"),
    ("2001:DB8::/32", "2001:db8::/32"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_parse_source_accepts_cidrs(value, expect):
    assert fw.parse_source(value) == expect


@pytest.mark.parametrize("value, words", [
    ("192.0.2.10", ["not a CIDR (no /prefix)", "192.0.2.10/32 for that one host"]),
    ("2001:db8::1", ["no /prefix", "2001:db8::1/128"]),
    ("10.0.0.1/8", ["host bits set", "10.0.0.0/8 for the whole network", "10.0.0.1/32 for that one host"]),
    ("lab-network", ["not a CIDR", "192.0.2.0/24"]),
    ("192.0.2.0/33", ["not a CIDR"]),
    ("", ["not a CIDR"]),
    (None, ["not a CIDR"]),
])
def test_parse_source_refuses(value, words):
    with pytest.raises(KubedebugError) as err:
        fw.parse_source(value)
    for w in words:
        assert w in str(err.value)
    assert "othing was changed" in str(err.value)


@pytest.mark.parametrize("spec, expect", [
    ("2345", (2345, 2345, "tcp")), (2345, (2345, 2345, "tcp")), ("8472/udp", (8472, 8472, "udp")),
    ("2379-2380/tcp", (2379, 2380, "tcp")),
])
def test_parse_port(spec, expect):
    assert fw.parse_port(spec) == expect


@pytest.mark.parametrize("spec", ["0", "70000", "2380-2379", "http", "22/icmp", "1-2-3"])
def test_parse_port_refuses(spec):
    with pytest.raises(KubedebugError):
        fw.parse_port(spec)


def test_desired_rules_dedupe_and_families():
    rules = fw.desired_rules(["192.0.2.0/24", "192.0.2.0/24", "2001:db8::/64"], ["2345", "2345/tcp", "2379-2380/tcp"])
    assert [r.key for r in rules] == [
        "ipv4 192.0.2.0/24 2345/tcp", "ipv4 192.0.2.0/24 2379-2380/tcp",
        "ipv6 2001:db8::/64 2345/tcp", "ipv6 2001:db8::/64 2379-2380/tcp"]
    assert fw.Rule.from_key(rules[1].key) == rules[1]
    assert fw.Rule.from_key("garbage") is None


def test_bad_source_anywhere_fails_before_anything():
    with pytest.raises(KubedebugError):
        fw.desired_rules(["192.0.2.0/24", "10.0.0.1/8"], ["2345"])


def test_firewalld_round_trip():
    r = fw.desired_rules(["192.0.2.0/24"], ["2379-2380/tcp"])[0]
    line = fw.firewalld_rich_rule(r)
    assert line == 'rule family="ipv4" source address="192.0.2.0/24" port port="2379-2380" protocol="tcp" accept'
    assert fw.parse_firewalld_rich_rule(line) == r
    # other people's rules are not ours
    assert fw.parse_firewalld_rich_rule('rule family="ipv4" source address="192.0.2.0/24" service name="ssh" accept') is None
    assert fw.parse_firewalld_rich_rule('rule family="ipv4" source address="192.0.2.0/24" port port="22" protocol="tcp" drop') is None
    assert fw.parse_firewalld_rich_rule('rule "unterminated') is None


UFW_USER_RULES = """*filter
:ufw-user-input - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 2345 0.0.0.0/0 any 192.0.2.0/24 in comment=6b75626564656275672e6c6162
-A ufw-user-input -p tcp --dport 2345 -s 192.0.2.0/24 -j ACCEPT

### tuple ### allow tcp 2379:2380 0.0.0.0/0 any 198.51.100.7 in
-A ufw-user-input -p tcp -m multiport --dports 2379:2380 -s 198.51.100.7 -j ACCEPT

### tuple ### deny tcp 2345 0.0.0.0/0 any 203.0.113.0/24 in
### tuple ### allow tcp 2345 0.0.0.0/0 any 203.0.113.0/24 out
### END RULES ###
"""


def test_parse_ufw_rules():
    keys = sorted(r.key for r in fw.parse_ufw_rules(UFW_USER_RULES))
    # the ssh rule from anywhere has source 0.0.0.0/0: it is parsed too (it is not recorded as ours)
    assert keys == ["ipv4 0.0.0.0/0 22/tcp", "ipv4 192.0.2.0/24 2345/tcp", "ipv4 198.51.100.7/32 2379-2380/tcp"]
    r = fw.desired_rules(["198.51.100.7/32"], ["2379-2380/tcp"])[0]
    assert r in fw.parse_ufw_rules(UFW_USER_RULES)
    assert fw.ufw_args(r) == ["allow", "proto", "tcp", "from", "198.51.100.7/32", "to", "any", "port", "2379:2380"]


def test_nft_rule_and_chain_parse():
    r = fw.desired_rules(["2001:db8::/64"], ["2345"])[0]
    assert fw.nft_rule_words(r) == ["ip6", "saddr", "2001:db8::/64", "tcp", "dport", "2345", "accept",
                                    "comment", '"kubedebug.lab ipv6 2001:db8::/64 2345/tcp"']
    doc = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "policy": "drop"}},
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 7, "comment": "kubedebug.lab ipv6 2001:db8::/64 2345/tcp", "expr": []}},
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3, "comment": "ssh", "expr": []}},
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 4, "expr": []}},
    ]}
    assert fw.parse_nft_chain(doc) == ("drop", {r: 7})


def test_check_family():
    v6 = fw.desired_rules(["2001:db8::/64"], ["2345"])
    fw.check_family(v6, "inet")
    fw.check_family(v6, "ip6")
    with pytest.raises(KubedebugError) as err:
        fw.check_family(v6, "ip")
    assert "inet table" in str(err.value)


R = fw.desired_rules(["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"], ["2345"])
A, B, C = R


@pytest.mark.parametrize("state, desired, recorded, existing, add, remove, record", [
    # first run: nothing there
    ("present", {A}, set(), set(), {A}, set(), {A}),
    # second run: idempotent
    ("present", {A}, {A}, {A}, set(), set(), {A}),
    # the host already had A: leave it, do not record it
    ("present", {A}, set(), {A}, set(), set(), set()),
    # sources narrowed from A,B to B: A (ours) goes
    ("present", {B}, {A, B}, {A, B}, set(), {A}, {B}),
    # ours vanished (nft reload): add it again
    ("present", {A}, {A}, set(), {A}, set(), {A}),
    # absent: exactly ours, never C that someone else added
    ("absent", set(), {A, B}, {A, B, C}, set(), {A, B}, set()),
    ("absent", set(), {A}, set(), set(), set(), set()),
])
def test_plan(state, desired, recorded, existing, add, remove, record):
    assert fw.plan(state, desired, recorded, existing) == (add, remove, record)


nets = st.builds(lambda a, p: str(ipaddress.ip_network("%s/%d" % (ipaddress.IPv4Address(a), p), strict=False)),
                 st.integers(0, 2**32 - 1), st.integers(8, 32))


@given(st.lists(nets, max_size=4), st.lists(nets, max_size=4), st.lists(nets, max_size=4), st.lists(nets, max_size=4))
def test_property_plan_never_touches_what_it_did_not_add(desired, recorded, foreign, on_host):
    def rules(srcs):
        return set(fw.desired_rules(srcs, ["2345"]))

    d, rec, f = rules(desired), rules(recorded), rules(foreign) - rules(recorded)
    existing = rules(on_host) | f
    for state in ("present", "absent"):
        add, remove, record = fw.plan(state, d if state == "present" else set(), rec, existing)
        assert remove <= rec                       # only ever removes what it recorded
        assert not (add & existing)                # never adds a duplicate
        assert record <= rec | add                 # records only its own
        after = (existing - remove) | add
        if state == "present":
            assert d <= after                      # everything wanted is there
        else:
            assert not (after & rec) and record == set()


# --- run_module, with the backends driving a stand-in nft ----------------------------------------------------

NFT_STUB = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "-j list") cat "$(dirname "$0")/chain.json" ;;
esac
"""


class Host:
    """What run_module uses of an AnsibleModule: real commands, binaries found only in ``bin_dir``."""

    def __init__(self, bin_dir, check_mode=False, diff=False, **params):
        self.bin_dir = bin_dir
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []
        self.params = dict(state="present", sources=[], ports=[], backend="auto", backend_order=list(fw.BACKENDS),
                           zone=None, nftables_family="inet", nftables_table="filter", nftables_chain="input",
                           state_file=str(bin_dir / "state" / "rules.json"))
        self.params.update(params)

    def run_command(self, args):
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        return done.returncode, done.stdout, done.stderr

    def get_bin_path(self, name, opt_dirs=()):
        path = self.bin_dir / name
        return str(path) if path.exists() else None

    def warn(self, msg):
        self.warnings.append(msg)

    def atomic_move(self, src, dest):
        os.replace(src, dest)


def nft_host(tmp_path, rules=(), policy="drop", **params):
    nft = tmp_path / "nft"
    nft.write_text(NFT_STUB)
    nft.chmod(0o755)
    items = [{"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "policy": policy}}]
    items += [{"rule": {"handle": h, "comment": "kubedebug.lab " + key, "expr": []}} for h, key in rules]
    (tmp_path / "chain.json").write_text(json.dumps({"nftables": items}))
    return Host(tmp_path, **params)


def calls(tmp_path):
    path = tmp_path / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_run_module_nothing_wanted_nothing_recorded_needs_no_backend(tmp_path):
    res = fw.run_module(Host(tmp_path, sources=[], ports=["2345"], backend="firewalld"))
    assert res["changed"] is False and "no firewall change" in res["msg"]


def test_run_module_no_backend_installed(tmp_path):
    with pytest.raises(KubedebugError) as err:
        fw.run_module(Host(tmp_path, sources=["192.0.2.0/24"], ports=["2345"]))
    assert "firewalld: not installed; ufw: not installed; nftables: not installed" in str(err.value)


def test_run_module_nft_adds_records_and_removes_exactly_its_rule(tmp_path):
    host = nft_host(tmp_path, sources=["192.0.2.0/24"], ports=["2345"], diff=True)
    res = fw.run_module(host)
    assert res["changed"] is True and res["added"] == ["ipv4 192.0.2.0/24 2345/tcp"] and res["policy"] == "drop"
    assert res["diff"]["before"] == "" and res["diff"]["after"] == "ipv4 192.0.2.0/24 2345/tcp\n"
    assert calls(tmp_path)[-1] == 'insert rule inet filter input ip saddr 192.0.2.0/24 tcp dport 2345 accept comment "kubedebug.lab ipv4 192.0.2.0/24 2345/tcp"'
    record = fw.load_state(host.params["state_file"])
    assert record == {"backend": "nftables", "chain": "inet filter input", "policy": "drop", "rules": ["ipv4 192.0.2.0/24 2345/tcp"]}

    # the rule is there now (handle 7), next to one of the same key the host did not get from us
    host = nft_host(tmp_path, rules=[(7, "ipv4 192.0.2.0/24 2345/tcp")], state="absent")
    res = fw.run_module(host)
    assert res["removed"] == ["ipv4 192.0.2.0/24 2345/tcp"] and res["rules"] == []
    assert calls(tmp_path)[-1] == "delete rule inet filter input handle 7"
    assert fw.load_state(host.params["state_file"]) == {}


def test_run_module_check_mode_and_accept_policy_warning(tmp_path):
    host = nft_host(tmp_path, policy="accept", check_mode=True, sources=["0.0.0.0/0"], ports=["2345"])
    res = fw.run_module(host)
    assert res["changed"] is True and res["added"] == ["ipv4 0.0.0.0/0 2345/tcp"]
    assert not any(c.startswith("insert") for c in calls(tmp_path))
    assert not (tmp_path / "state").exists()
    assert any("opens 2345/tcp to every address" in w for w in host.warnings)
    assert any("has policy accept" in w for w in host.warnings)


def test_run_module_refuses_a_backend_other_than_the_recording_one(tmp_path):
    host = nft_host(tmp_path, sources=["192.0.2.0/24"], ports=["2345"], backend="ufw")
    fw.save_state(host.atomic_move, host.params["state_file"], {"backend": "nftables", "rules": ["ipv4 192.0.2.0/24 2345/tcp"]})
    with pytest.raises(KubedebugError) as err:
        fw.run_module(host)
    assert "were added with nftables, not ufw" in str(err.value)


def test_load_state_unreadable(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text("{not json")
    with pytest.raises(KubedebugError) as err:
        fw.load_state(str(bad))
    assert "Cannot read the record" in str(err.value)
