# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Exact renderings of an argv, and a lossless flag view of it.

A debug relaunch must hand the component exactly the argv it ran with. Each
rendering here round-trips:

* ``to_shell(argv)``: a POSIX shell line; ``shlex.split(line) == argv``.
* ``to_systemd(argv)``: a systemd ``ExecStart=`` value. systemd expands ``%``
  specifiers on the whole line, then unquotes each word with C-style escapes
  (systemd.syntax(7) "Quoting"), then expands ``$VAR``/``${VAR}`` in each word
  (systemd.service(5) "Command lines"). So ``%`` becomes ``%%``, ``$`` becomes
  ``$$``, and any word with white space, quotes, backslashes or control
  characters is double-quoted with escapes.
* ``to_json_list(argv)``: a JSON list, which is also a YAML flow sequence, for
  a pod's ``command``.

``split_flags``/``join_flags`` give an ordered, lossless list of flags and
positionals: ``join_flags(split_flags(argv)) == argv`` for every argv.

Strings may carry undecodable bytes as surrogate escapes (``errors=
"surrogateescape"``, how ``_procfs`` decodes /proc); the systemd rendering
writes those back as ``\\xNN`` byte escapes.
"""

from __future__ import annotations

import json
import re
import shlex

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

# ---------------------------------------------------------------- validation


def check_argv(argv, what="argv"):
    """Raise unless argv is a non-empty list of strings without NUL."""
    if not isinstance(argv, (list, tuple)) or not argv:
        raise KubedebugError(
            "%s must be a non-empty list of strings, got %r" % (what, argv),
            hint="Pass the command as a list: [binary, arg1, arg2, ...]",
        )
    for i, a in enumerate(argv):
        if not isinstance(a, str):
            raise KubedebugError(
                "%s[%d] is %s, not a string: %r" % (what, i, type(a).__name__, a),
                hint="Quote every argument in YAML (e.g. '--v=2', '8080') so it stays a string",
            )
        if "\0" in a:
            raise KubedebugError(
                "%s[%d] contains a NUL byte, which no process argv can hold" % (what, i),
                hint="Remove the NUL character from the argument",
            )
    return list(argv)


# --------------------------------------------------------------------- shell


def to_shell(argv):
    """One POSIX shell line for argv; ``shlex.split`` gives argv back."""
    argv = check_argv(argv)
    words = [shlex.quote(a) for a in argv]
    # A bare first word like FOO=bar would be a shell variable assignment.
    if "=" in words[0] and not words[0].startswith("'"):
        words[0] = "'%s'" % argv[0]
    return " ".join(words)


def from_shell(line):
    """The argv a POSIX shell line stands for (no expansions are performed)."""
    try:
        return shlex.split(line, posix=True)
    except ValueError as e:
        raise KubedebugError(
            "cannot split shell line: %s" % e,
            hint="Check the quoting of the command line (an unclosed quote?)",
        ) from e


# ------------------------------------------------------------------- systemd

_SD_SIMPLE_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}
# Characters that force a word into double quotes.
_SD_NEEDS_QUOTES = re.compile(r"""[\s"'\\\x00-\x1f\x7f;]|[\udc80-\udcff]""")
# Executable prefixes systemd strips from the first word (systemd.service(5)).
_SD_EXEC_PREFIXES = "@-:+!|"


def _sd_escape_char(c):
    if c in _SD_SIMPLE_ESCAPES:
        return _SD_SIMPLE_ESCAPES[c]
    o = ord(c)
    if o < 0x20 or o == 0x7F:
        return "\\x%02x" % o
    if 0xDC80 <= o <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return "\\x%02x" % (o - 0xDC00)
    if c == "%":
        return "%%"
    if c == "$":
        return "$$"
    return c


def _sd_word(word):
    body = "".join(_sd_escape_char(c) for c in word)
    if word == "" or _SD_NEEDS_QUOTES.search(word):
        return '"%s"' % body
    return body


def to_systemd(argv):
    """An ``ExecStart=`` value that makes systemd exec exactly argv.

    The executable (argv[0]) must be an absolute path: systemd strips the
    prefixes ``@-:+!`` from it after unquoting and searches PATH otherwise.
    """
    argv = check_argv(argv)
    exe = argv[0]
    if not exe.startswith("/"):
        raise KubedebugError(
            "systemd needs an absolute executable path, got %r" % exe,
            hint="Use the full path of the binary (e.g. /usr/local/bin/dlv)",
        )
    if "$" in exe or re.search(r"[\x00-\x1f\x7f]", exe):
        raise KubedebugError(
            "the executable path %r contains '$' or a control character, which systemd cannot run verbatim" % exe,
            hint="Move or link the binary to a plain path",
        )
    if exe[0] in _SD_EXEC_PREFIXES:  # pragma: no cover - absolute paths start with '/'
        raise KubedebugError("executable path %r starts with a systemd prefix character" % exe)
    return " ".join(_sd_word(a) for a in argv)


def to_systemd_environment(assignments):
    """An ``Environment=`` value setting each "KEY=VALUE" exactly.

    systemd.exec(5): no variable expansion in Environment= (``$`` is literal),
    but ``%`` specifiers are expanded and the value is unquoted with C-style
    escapes, so every assignment is double-quoted with escapes and ``%%``.
    """
    words = []
    for a in assignments:
        if not isinstance(a, str) or "=" not in a or a.startswith("="):
            raise KubedebugError("environment entry %r is not KEY=VALUE" % (a,), hint="Give entries as 'KEY=VALUE' strings")
        if "\0" in a:
            raise KubedebugError("environment entry %r contains a NUL byte" % (a,))
        body = "".join("$" if c == "$" else _sd_escape_char(c) for c in a)
        words.append('"%s"' % body)
    return " ".join(words)


# -------------------------------------------------------------- JSON / YAML


# JSON keeps these raw, but YAML forbids them (non-printable) or reads them as
# line breaks (NEL, LS, PS) or a byte-order mark: write them as \uXXXX.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def to_json_list(argv):
    """A JSON list of argv that is also a YAML flow sequence with the same value."""
    text = json.dumps(check_argv(argv), ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: "\\u%04x" % ord(m.group()), text)


# --------------------------------------------------------------------- flags
#
# A flag item is a dict:
#   {"kind": "flag", "name": "--v", "value": "2", "sep": "="}   --v=2
#   {"kind": "flag", "name": "--v", "value": "2", "sep": " "}   --v 2
#   {"kind": "flag", "name": "--v", "value": None, "sep": ""}   --v
#   {"kind": "positional", "value": "x"}
#   {"kind": "end", "value": "--"}                               everything after is positional
# The executable itself is not part of the list.


def _is_flag(tok):
    return len(tok) > 1 and tok.startswith("-") and tok != "--"


def split_flags(args, bool_flags=()):
    """Ordered flag items for args (argv without the executable).

    ``--name value`` is read as a flag with a value when the next token does
    not look like a flag and ``name`` is not in ``bool_flags``; this choice
    never changes ``join_flags``' output, which is exactly ``args``.
    """
    bool_flags = set(bool_flags)
    items = []
    i = 0
    n = len(args)
    while i < n:
        tok = args[i]
        if tok == "--":
            items.append({"kind": "end", "value": tok})
            items.extend({"kind": "positional", "value": a} for a in args[i + 1:])
            break
        if _is_flag(tok):
            name, eq, value = tok.partition("=")
            if eq:
                items.append({"kind": "flag", "name": name, "value": value, "sep": "="})
            elif name not in bool_flags and i + 1 < n and not _is_flag(args[i + 1]) and args[i + 1] != "--":
                items.append({"kind": "flag", "name": name, "value": args[i + 1], "sep": " "})
                i += 1
            else:
                items.append({"kind": "flag", "name": name, "value": None, "sep": ""})
        else:
            items.append({"kind": "positional", "value": tok})
        i += 1
    return items


def join_flags(items):
    """The args a list of flag items stands for (inverse of split_flags)."""
    out = []
    for it in items:
        kind = it.get("kind")
        if kind == "flag":
            sep = it.get("sep", "=")
            value = it.get("value")
            if value is None:
                out.append(it["name"])
            elif sep == " ":
                out.extend([it["name"], value])
            else:
                out.append("%s=%s" % (it["name"], value))
        elif kind in ("positional", "end"):
            out.append(it["value"])
        else:
            raise KubedebugError("unknown flag item kind %r in %r" % (kind, it))
    return out


def _norm(name):
    return name if name.startswith("-") else "--" + name


def flag_values(items, name):
    """Every value given for flag ``name`` (``--name`` or ``name``), in order."""
    name = _norm(name)
    return [it["value"] for it in items if it.get("kind") == "flag" and it["name"] == name]


def set_flag(items, name, value):
    """Set ``name`` to ``value``: the first occurrence keeps its place, later ones go.

    Appended (before any ``--``) when absent. ``value=None`` gives a bare flag.
    Returns a new list.
    """
    name = _norm(name)
    out = []
    done = False
    for it in items:
        if it.get("kind") == "flag" and it["name"] == name:
            if not done:
                sep = it["sep"] if value is not None and it["sep"] in ("=", " ") else ("=" if value is not None else "")
                out.append({"kind": "flag", "name": name, "value": value, "sep": sep})
                done = True
            continue
        out.append(it)
    if not done:
        new = {"kind": "flag", "name": name, "value": value, "sep": "=" if value is not None else ""}
        pos = next((i for i, it in enumerate(out) if it.get("kind") == "end"), len(out))
        out.insert(pos, new)
    return out


def remove_flag(items, name):
    """Drop every occurrence of flag ``name``. Returns a new list."""
    name = _norm(name)
    return [it for it in items if not (it.get("kind") == "flag" and it["name"] == name)]
