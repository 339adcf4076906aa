# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Read Kubernetes manifests as the kubelet reads them; write block YAML any reader gets right.

Reading: the kubelet (apimachinery's ``yaml.ToJSON``) takes a file starting
with ``{`` for JSON and reads anything else with gopkg.in/yaml.v2, whose
typing of plain scalars differs from PyYAML's. ``load`` follows yaml.v2, so
a word the kubelet reads as a bool or a number (``y``, ``1e3``, ``0X1F``) is
one here too, and ``1:20``, ``=`` or a date stay strings. YAML needs PyYAML
on the managed host; JSON does not.

Writing: ``render_yaml`` emits kubeadm's block layout and double-quotes every
string that any YAML 1.1/1.2 reader could take for something else, so the
output needs no library and reads back the same in PyYAML and in the kubelet.
"""

from __future__ import annotations

import json
import math
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._process import argv as _argv

try:
    import yaml
except ImportError:  # the managed host may lack PyYAML: only YAML reading needs it
    yaml = None

_SURROGATE = re.compile("[\ud800-\udfff]")

# ------------------------------------------------------------------- read


def _no_dup_pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError("duplicate key %r" % k)
        out[k] = v
    return out


# How the kubelet's YAML reader (gopkg.in/yaml.v2 resolve.go, vendored by Kubernetes 1.20 through
# sigs.k8s.io/yaml) types a plain scalar. PyYAML differs: it reads `y`, `1e3` or `0X1F` as strings, `1:20`
# as 60*1+20, `=` as a "value" tag and dates as dates. Reading as the kubelet does means an unquoted `y`
# in a command fails here as it fails there, and `1:20` stays the string the component gets.
_GO_WORDS = {}
for _tag, _value, _words in (
    ("bool", True, "y Y yes Yes YES true True TRUE on On ON"),
    ("bool", False, "n N no No NO false False FALSE off Off OFF"),
    ("null", None, "~ null Null NULL"),
    ("float", None, ".nan .NaN .NAN .inf .Inf .INF +.inf +.Inf +.INF -.inf -.Inf -.INF"),
    ("merge", None, "<<"),
):
    for _w in _words.split():
        _GO_WORDS[_w] = "tag:yaml.org,2002:" + _tag
_GO_WORDS[""] = "tag:yaml.org,2002:null"
_GO_INT = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_GO_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_GO_DOT_FLOAT = re.compile(r"^\.[0-9]+(?:[eE][-+]?[0-9]+)?$")


def _go_int(text):
    """Go's strconv.ParseInt(s, 0, 64) (or ParseUint) after yaml.v2 removed the underscores; None if it fails."""
    plain = text.replace("_", "")
    if not _GO_INT.fullmatch(plain):
        return None
    sign = -1 if plain[0] == "-" else 1
    body = plain.lstrip("+-")
    value = int(body, 8) if len(body) > 1 and body[0] == "0" and body[1] in "01234567" else int(body, 0)
    value *= sign
    if -(2**63) <= value < 2**63 or (plain[0] not in "+-" and 0 <= value < 2**64):
        return value
    return None


def go_yaml_tag(text):
    """The tag yaml.v2's resolve() gives a plain scalar."""
    if text in _GO_WORDS:
        return _GO_WORDS[text]
    first = text[:1]
    if first == ".":
        if _GO_DOT_FLOAT.fullmatch(text) and math.isfinite(float(text)):
            return "tag:yaml.org,2002:float"
    elif first in "+-0123456789":
        if _go_int(text) is not None:
            return "tag:yaml.org,2002:int"
        plain = text.replace("_", "")
        if _GO_FLOAT.fullmatch(plain) and math.isfinite(float(plain)):
            return "tag:yaml.org,2002:float"
    return "tag:yaml.org,2002:str"


if yaml is not None:

    class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that types plain scalars as the kubelet does and refuses duplicate keys."""

        bool_values = dict(yaml.SafeLoader.bool_values, y=True, n=False)

        def resolve(self, kind, value, implicit):
            if kind is yaml.ScalarNode and implicit[0]:
                return go_yaml_tag(value)
            return super().resolve(kind, value, implicit)

    def _construct_mapping(loader, node):
        # flatten_mapping puts the pairs a merge key (<<) brings in first and the mapping's own after them: an
        # own key overrides a merged one (as in yaml.v2: `{<<: *probe, failureThreshold: 24}` is valid), two own
        # keys of one name are a duplicate.
        own_count = sum(1 for knode, _v in node.value if knode.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)
        first_own = len(node.value) - own_count
        out, own = {}, set()
        for i, (knode, vnode) in enumerate(node.value):
            key = loader.construct_object(knode, deep=True)
            try:
                dup = key in own
            except TypeError:
                raise yaml.constructor.ConstructorError(None, None, "a mapping key is not a scalar", knode.start_mark) from None
            if dup:
                raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % (key,), knode.start_mark)
            if i >= first_own:
                own.add(key)
            out[key] = loader.construct_object(vnode, deep=True)
        return out

    def _construct_int(loader, node):
        text = loader.construct_scalar(node)
        value = _go_int(text)
        if value is None:  # an explicit !!int tag on something Go would not parse
            raise yaml.constructor.ConstructorError(None, None, "%r is not an integer" % text, node.start_mark)
        return value

    def _construct_float(loader, node):
        text = loader.construct_scalar(node).replace("_", "")
        if text.lower().lstrip("+-") == ".inf":
            return float("-inf") if text.startswith("-") else float("inf")
        if text.lower() == ".nan":
            return float("nan")
        try:
            return float(text)
        except ValueError:
            raise yaml.constructor.ConstructorError(None, None, "%r is not a number" % text, node.start_mark) from None

    _Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
    _Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
    _Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
    # "<<" merges only as a mapping key (flatten_mapping handles that); anywhere else it is the string "<<".
    _Loader.add_constructor("tag:yaml.org,2002:merge", lambda loader, node: loader.construct_scalar(node))


MAX_DEPTH = 100
MAX_VALUES = 100000


def _check_values(obj, where, budget=None, path=()):
    """Only what JSON can hold: a Pod has nothing else. Bounded work: aliases can make a few hundred bytes
    stand for millions of values (an alias bomb) or for a value that contains itself; no Pod nests 100 levels
    or holds 100,000 values (kubeadm's apiserver manifest: about 150)."""
    budget = budget if budget is not None else [MAX_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise KubedebugError("the manifest stands for more than %d values through YAML aliases (an alias bomb?)" % MAX_VALUES,
                             hint="Fix the manifest; nothing was changed")
    if isinstance(obj, (dict, list)):
        if id(obj) in path:
            raise KubedebugError("%s refers to itself through a YAML alias" % (where or "the manifest"), hint="Fix the manifest; nothing was changed")
        if len(path) >= MAX_DEPTH:
            raise KubedebugError("the manifest nests more than %d levels deep (at %s)" % (MAX_DEPTH, where),
                                 hint="Fix the manifest; nothing was changed")
        path = path + (id(obj),)
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, str):
                raise KubedebugError("key %r under %s is not a string" % (k, where or "the top level"), hint="Quote the key")
            _check_values(v, "%s.%s" % (where, k) if where else k, budget, path)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _check_values(v, "%s[%d]" % (where, i), budget, path)
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise KubedebugError("%s is %r, which a Pod cannot hold" % (where, obj), hint="Use a finite number or a string")
    elif isinstance(obj, str):
        if _SURROGATE.search(obj):
            raise KubedebugError(
                "%s holds a UTF-16 surrogate (an escape such as \\ud83d\\ude00), which the kubelet's YAML reader rejects" % (where or "a value"),
                hint="Write the character itself in UTF-8 instead of the escape",
            )
    elif obj is not None and not isinstance(obj, (int, bool)):
        raise KubedebugError(
            "%s holds a YAML value of type %s, which a Pod cannot hold" % (where, type(obj).__name__),
            hint="Remove explicit YAML tags such as !!binary, !!set or !!timestamp",
        )


def load(raw, path="manifest"):
    """The one document (JSON-like data) a manifest's bytes hold, read as the kubelet reads it.

    JSON needs nothing; YAML needs PyYAML.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise KubedebugError("%s is not UTF-8 text (byte %d)" % (path, e.start),
                             hint="A static-pod manifest is UTF-8 YAML or JSON; nothing was changed") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise KubedebugError("%s is empty" % path, hint="Point path at a static-pod manifest; nothing was changed")
    if text.lstrip().startswith("{"):
        # The kubelet takes anything that starts with "{" for JSON (apimachinery's yaml.ToJSON), flow-style YAML included.
        try:
            docs = [json.loads(text, object_pairs_hook=_no_dup_pairs)]
        except RecursionError:
            raise KubedebugError("%s nests too deeply" % path, hint="Fix the manifest; nothing was changed") from None
        except ValueError as e:
            raise KubedebugError(
                "%s starts with '{' but is not valid JSON (%s): the kubelet reads such a file as JSON and rejects it" % (path, e),
                hint="Fix the manifest (write it as JSON, or as block YAML); nothing was changed",
            ) from None
    else:
        if yaml is None:
            raise KubedebugError(
                "reading the YAML manifest %s needs PyYAML, which this Python on the managed host lacks" % path,
                hint="Install it (Debian/Ubuntu: apt-get install python3-yaml; Fedora/RHEL: dnf install python3-pyyaml) or set "
                "ansible_python_interpreter to a Python that has it. JSON manifests and state=restored need nothing",
            )
        try:
            docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]  # noqa: S506 - _Loader is a SafeLoader
        except yaml.YAMLError as e:
            raise KubedebugError("%s is not valid YAML: %s" % (path, e), hint="Fix the manifest (it must be one Pod); nothing was changed") from None
        except RecursionError:
            raise KubedebugError("%s nests too deeply or refers to itself through aliases" % path, hint="Fix the manifest; nothing was changed") from None
    if len(docs) != 1:
        raise KubedebugError(
            "%s holds %d YAML documents; a static-pod manifest holds exactly one Pod" % (path, len(docs)),
            hint="Split it into one file per pod (the kubelet reads only the first document); nothing was changed",
        )
    _check_values(docs[0], "")
    return docs[0]


# ------------------------------------------------------------------ write

_PLAIN = re.compile(r"^(?:[A-Za-z_/]|--?[A-Za-z])(?:[A-Za-z0-9_./:=,@+-]*[A-Za-z0-9_./=,@+-])?$")
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~"}


def _scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise KubedebugError("cannot write the number %r" % v)
        s = repr(v)
        if "e" in s and "." not in s:
            s = s.replace("e", ".0e")
        return s
    if isinstance(v, str):
        if "\0" in v:
            raise KubedebugError("a string in the manifest holds a NUL character", hint="Remove it")
        if _PLAIN.fullmatch(v) and v.lower() not in _RESERVED:
            return v
        return _argv.to_json_list([v])[1:-1]
    raise KubedebugError("cannot write a value of type %s" % type(v).__name__)


def _inline(v):
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def _lines(obj, indent):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = _scalar(k)
            if isinstance(v, dict) and v:
                out.append(pad + key + ":")
                out.extend(_lines(v, indent + 2))
            elif isinstance(v, list) and v:
                out.append(pad + key + ":")
                out.extend(_lines(v, indent))
            else:
                out.append(pad + key + ": " + _inline(v))
    else:
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = _lines(item, indent + 2)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.extend(sub)
            else:
                out.append(pad + "- " + _inline(item))
    return out


def render_yaml(obj, comments=()):
    """Block YAML (kubeadm's layout) for JSON-like data; every string that could read as
    anything else is double-quoted, so YAML 1.1 and 1.2 readers get the same values."""
    head = ["# " + re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]", "?", c) for c in comments]  # YAML line breaks too
    body = _lines(obj, 0) if isinstance(obj, (dict, list)) and obj else [_inline(obj)]
    return "\n".join(head + body) + "\n"
