"""The TOML editor: table-driven cases on containerd's real config shapes, and
a hypothesis property over generated documents: an edit either raises a
KubedebugError or yields exactly the original document with one key set."""

import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._node import toml_edit as t

CRI = ("plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc")

# Debian 12's containerd 1.6.20 ships this /etc/containerd/config.toml.
DEBIAN = '''version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
'''

# The shape `containerd config default` writes (1.6), cut down; with comments.
DEFAULT_STYLE = '''disabled_plugins = []
version = 2

[plugins]

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.6"  # the pause image

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            BinaryName = ""
            SystemdCgroup = false

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
          runtime_type = "io.containerd.kata.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata.options]
            SystemdCgroup = false
'''


def _set(text, path, value):
    new = t.set_value(text, path, value, "config.toml")
    doc = tomllib.loads(new)
    assert t.get_path(doc, path) is value or t.get_path(doc, path) == value
    return new


def test_debian_config_gets_runtime_table_with_runtime_type():
    new = _set(DEBIAN, CRI + ("runtime_type",), "io.containerd.runc.v2")
    new = _set(new, CRI + ("options", "SystemdCgroup"), True)
    doc = tomllib.loads(new)
    assert doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"] == {"bin_dir": "/usr/lib/cni", "conf_dir": "/etc/cni/net.d"}
    assert doc["plugins"]["io.containerd.internal.v1.opt"] == {"path": "/var/lib/containerd/opt"}
    # the original lines are all still there, in order
    kept = [line for line in DEBIAN.splitlines() if line]
    assert [line for line in new.splitlines() if line in kept] == kept
    # the new tables follow the file's indentation convention
    assert '\n          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n            SystemdCgroup = true\n' in new


def test_only_the_runc_runtime_changes_not_kata():
    new = _set(DEFAULT_STYLE, CRI + ("options", "SystemdCgroup"), True)
    doc = tomllib.loads(new)
    runtimes = doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    assert runtimes["kata"]["options"]["SystemdCgroup"] is False
    # a one-line change, comment kept
    diff = [(a, b) for a, b in zip(DEFAULT_STYLE.splitlines(), new.splitlines(), strict=True) if a != b]
    assert diff == [("            SystemdCgroup = false", "            SystemdCgroup = true")]
    assert "# the pause image" in new


def test_unchanged_value_returns_the_same_text():
    assert t.set_value(DEFAULT_STYLE, CRI + ("options", "SystemdCgroup"), False) is DEFAULT_STYLE


def test_bool_is_not_confused_with_int():
    new = _set("a = 1\n", ("a",), True)
    assert new == "a = true\n"


@pytest.mark.parametrize("text, path, value, expect", [
    # key after existing keys of the header's table, with their indentation
    ("[a]\n  x = 1\n  y = 2\n\n[b]\n", ("a", "z"), "v", '[a]\n  x = 1\n  y = 2\n  z = "v"\n\n[b]\n'),
    # top-level key goes before the first table
    ("# head\nversion = 2\n\n[a]\nx = 1\n", ("disabled_plugins",), "x", '# head\nversion = 2\ndisabled_plugins = "x"\n\n[a]\nx = 1\n'),
    # dotted siblings: a dotted key next to them (the table cannot be reopened)
    ("[fruit]\napple.color = \"red\"\n", ("fruit", "apple", "taste"), "sweet", '[fruit]\napple.color = "red"\napple.taste = "sweet"\n'),
    # value in a multi-line array is skipped correctly, comments kept
    ("a = [\n  1, # one\n  2,\n]\nb = false # keep\n", ("b",), True, "a = [\n  1, # one\n  2,\n]\nb = true # keep\n"),
    # multi-line strings that look like tables are not tables
    ('s = """\n[x]\ny = 1\n"""\n[x]\ny = 2\n', ("x", "y"), 3, 's = """\n[x]\ny = 1\n"""\n[x]\ny = 3\n'),
    ("s = '''\n[x]\n'''\n", ("x", "y"), 1, "s = '''\n[x]\n'''\n\n[x]\ny = 1\n"),
    # quoted keys with dots and escapes
    ('["a.b"]\n"c\\"d" = 1\n', ("a.b", 'c"d'), 2, '["a.b"]\n"c\\"d" = 2\n'),
    # CRLF files stay CRLF
    ("[a]\r\nx = 1\r\n", ("a", "y"), 2, "[a]\r\nx = 1\r\ny = 2\r\n"),
    # no trailing newline
    ("[a]\nx = 1", ("a", "y"), 2, "[a]\nx = 1\ny = 2\n"),
    # empty document
    ("", ("a", "b"), True, "[a]\nb = true\n"),
])
def test_edit_cases(text, path, value, expect):
    assert t.set_value(text, path, value) == expect


@pytest.mark.parametrize("text, path, words", [
    ("a = [1,\n", ("a",), ["not valid TOML", "end of document"]),
    ("[a]\nx = = 1\n[b]\n", ("a", "x"), ["not valid TOML", "line 2"]),
    ("[a]\nb = { c = 1 }\n", ("a", "b", "c"), ["inline value at line 2", "by hand"]),
    ("[a]\nb = 1\n", ("a", "b", "c"), ["a.b", "not a table"]),
    ("[a.b]\nc = 1\n", ("a", "b"), ["table or an array"]),
    ("[[a]]\nb = 1\n", ("a", "b"), ["not a table"]),
])
def test_refusals_name_the_problem(text, path, words):
    with pytest.raises(KubedebugError) as err:
        t.set_value(text, path, 5, "/etc/containerd/config.toml")
    for w in words:
        assert w in str(err.value)
    assert "nothing was changed" in str(err.value)


def test_scan_resolves_paths():
    stmts = t.scan(DEFAULT_STYLE)
    paths = [s.path for s in stmts if s.kind == "keyval"]
    assert CRI + ("options", "SystemdCgroup") in paths
    assert ("plugins", "io.containerd.grpc.v1.cri", "sandbox_image") in paths


# ---- property: generated documents in several styles -----------------------

KEYS = st.sampled_from(["a", "b", "runc", "options", "SystemdCgroup", "io.containerd.grpc.v1.cri", "with space", 'q"t', "ü", "1"])
SCALARS = st.one_of(st.booleans(), st.integers(-5, 5), st.text(alphabet="ab \"\\'\n#[]=", max_size=6))
DOCS = st.recursive(st.dictionaries(KEYS, SCALARS, max_size=3),
                    lambda inner: st.dictionaries(KEYS, st.one_of(SCALARS, inner), max_size=3), max_leaves=10)


def _rk(k):
    return t.render_key(k)


def _inline(v):
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (_rk(k), _inline(x)) for k, x in v.items()) + " }" if v else "{}"
    return t.render_value(v)


def _dotted(prefix, node, indent, out):
    for k, v in node.items():
        if isinstance(v, dict) and v:
            _dotted(prefix + (k,), v, indent, out)
        else:
            out.append("%s%s = %s" % (indent, t.render_path(prefix + (k,)), _inline(v)))


def render(data, doc):
    """Render ``doc`` as TOML, drawing a style for each table; returns (text, styles)."""
    unit = data.draw(st.sampled_from(["", "  "]))
    styles = {(): "table"}
    lines = []

    def table(path, node):
        indent = unit * len(path)
        deferred = []
        for k, v in node.items():
            if not isinstance(v, dict):
                lines.append("%s%s = %s" % (indent, _rk(k), t.render_value(v)))
        for k, v in node.items():
            if isinstance(v, dict):
                style = data.draw(st.sampled_from(["table", "inline", "dotted"]))
                if style == "dotted" and not v:
                    style = "inline"
                styles[path + (k,)] = style
                if style == "inline":
                    lines.append("%s%s = %s" % (indent, _rk(k), _inline(v)))
                    _mark(path + (k,), v, "inline")
                elif style == "dotted":
                    _dotted((k,), v, indent, lines)
                    _mark(path + (k,), v, "dotted")
                else:
                    deferred.append((k, v))
        if data.draw(st.booleans()):
            lines.append(indent + "# a comment [x]")
        for k, v in deferred:
            lines.append("")
            lines.append("%s[%s]" % (unit * len(path), t.render_path(path + (k,))))
            table(path + (k,), v)

    def _mark(path, node, style):
        for k, v in node.items():
            if isinstance(v, dict):
                styles[path + (k,)] = style
                _mark(path + (k,), v, style)

    table((), doc)
    return "\n".join(lines) + "\n", styles


def _paths(node, prefix=()):
    for k, v in node.items():
        yield prefix + (k,), v
        if isinstance(v, dict):
            yield from _paths(v, prefix + (k,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=DOCS, data=st.data(), value=SCALARS)
def test_property_edit_is_exact_or_refused(doc, data, value):
    text, styles = render(data, doc)
    assert tomllib.loads(text) == doc  # the generator itself is right
    tables = [()] + [p for p, v in _paths(doc) if isinstance(v, dict)]
    leaves = [p for p, v in _paths(doc) if not isinstance(v, dict)]
    choice = data.draw(st.sampled_from(["leaf", "new_key", "new_table"]) if leaves else st.sampled_from(["new_key", "new_table"]))
    if choice == "leaf":
        path = data.draw(st.sampled_from(leaves))
    elif choice == "new_key":
        parent = data.draw(st.sampled_from(tables))
        path = parent + ("new key",)
    else:
        parent = data.draw(st.sampled_from(tables))
        path = parent + ("new table", "k")
    try:
        new = t.set_value(text, path, value)
    except KubedebugError:
        # refusing is allowed only where a rewrite would be needed
        ancestors = [styles.get(path[:i]) for i in range(1, len(path))]
        assert "inline" in ancestors or "dotted" in ancestors, (text, path)
        return
    want = t._expected(doc, path, value)
    assert tomllib.loads(new) == want
    # every comment survives
    assert new.count("# a comment [x]") == text.count("# a comment [x]")
