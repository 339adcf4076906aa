# -*- coding: utf-8 -*-
# Copyright: kubedebug.lab contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Collection-private module_utils: not a public API for other collections.
"""Set one key in a TOML document without touching anything else.

Managed hosts have the standard library only: Python 3.11's ``tomllib`` reads
TOML but cannot write it, and re-serialising the parsed dict would drop every
comment and reorder the user's file. So an edit is made in three steps:

1. ``tomllib`` parses the document (a file that is not TOML is refused, with
   the parser's line and column);
2. a small *structural* scanner (:func:`scan`) splits the text into table
   headers and key/value statements, with their key paths fully resolved
   (quoted keys, dotted keys, multi-line strings and arrays handled), so the
   value to replace or the table to extend is found by *path*, never by a
   pattern that could match another runtime's ``SystemdCgroup``;
3. the edited text is parsed again with ``tomllib`` and must equal the
   original document with exactly that one key changed. Anything else (an
   inline table, a table declared by dotted keys that cannot be reopened)
   raises :class:`KubedebugError` and the caller writes nothing.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError

try:  # Python >= 3.11
    import tomllib as _toml
except ImportError:  # pragma: no cover - depends on the managed host's Python
    try:
        import tomli as _toml  # the same parser, packaged for older Pythons
    except ImportError:
        _toml = None

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")
_BARE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def loads(text, source="the document"):
    """Parse TOML text; a syntax error becomes a KubedebugError naming ``source``."""
    if _toml is None:
        raise KubedebugError(
            "Reading TOML needs Python 3.11 (tomllib) or the tomli package on the managed host",
            "Use python3.11+ as ansible_python_interpreter or install python3-tomli",
        )
    try:
        return _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise KubedebugError(
            "%s is not valid TOML: %s" % (source, exc),
            "Fix the syntax (or restore it from a backup) and run again; nothing was changed",
            path=source,
        ) from None


class Statement(object):
    """One logical line of a TOML document.

    ``kind`` is ``table``, ``array_table`` or ``keyval``. ``path`` is the full
    key path (for a key/value: header path + dotted key). ``start``/``end``
    delimit the statement's text (``end`` after its newline, if any);
    ``vstart``/``vend`` the value of a key/value; ``header`` the path of the
    table header the key/value sits under; ``key_path`` its own dotted key.
    """

    __slots__ = ("kind", "path", "start", "end", "vstart", "vend", "indent", "header", "key_path", "line")

    def __init__(self, kind, path, start, end, indent, line, vstart=None, vend=None, header=None, key_path=None):
        self.kind = kind
        self.path = path
        self.start = start
        self.end = end
        self.indent = indent
        self.line = line
        self.vstart = vstart
        self.vend = vend
        self.header = header
        self.key_path = key_path

    def __repr__(self):
        return "Statement(%s %r line %d)" % (self.kind, self.path, self.line)


class _ScanError(Exception):
    pass


class _Scanner(object):
    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.n = len(text)

    def peek(self, k=0):
        i = self.pos + k
        return self.text[i] if i < self.n else ""

    def startswith(self, s):
        return self.text.startswith(s, self.pos)

    def skip_ws(self):
        while self.pos < self.n and self.text[self.pos] in " \t":
            self.pos += 1

    def skip_comment(self):
        if self.peek() == "#":
            while self.pos < self.n and self.text[self.pos] != "\n":
                self.pos += 1

    def skip_eol(self):
        """Whitespace, an optional comment, then a newline or the end."""
        self.skip_ws()
        self.skip_comment()
        if self.startswith("\r\n"):
            self.pos += 2
        elif self.peek() == "\n":
            self.pos += 1
        elif self.pos < self.n:
            raise _ScanError("unexpected %r" % self.peek())

    def basic_string(self):
        """A one-line "basic" string (the scanner is at its opening quote); returns its value."""
        self.pos += 1
        out = []
        while True:
            c = self.peek()
            if c in ("", "\n"):
                raise _ScanError("unterminated string")
            self.pos += 1
            if c == '"':
                return "".join(out)
            if c == "\\":
                e = self.peek()
                self.pos += 1
                if e in _ESCAPES:
                    out.append(_ESCAPES[e])
                elif e in ("u", "U"):
                    width = 4 if e == "u" else 8
                    out.append(chr(int(self.text[self.pos:self.pos + width], 16)))
                    self.pos += width
                else:
                    raise _ScanError("bad escape")
            else:
                out.append(c)

    def literal_string(self):
        """A one-line 'literal' string (the scanner is at its opening quote); returns its value."""
        end = self.text.find("'", self.pos + 1)
        nl = self.text.find("\n", self.pos + 1)
        if end < 0 or (0 <= nl < end):
            raise _ScanError("unterminated literal string")
        value = self.text[self.pos + 1:end]
        self.pos = end + 1
        return value

    def key(self):
        """A dotted key; returns the tuple of its parts."""
        parts = []
        while True:
            self.skip_ws()
            c = self.peek()
            if c == '"':
                parts.append(self.basic_string())
            elif c == "'":
                parts.append(self.literal_string())
            else:
                start = self.pos
                while self.pos < self.n and self.text[self.pos] in _BARE_CHARS:
                    self.pos += 1
                if self.pos == start:
                    raise _ScanError("expected a key")
                parts.append(self.text[start:self.pos])
            self.skip_ws()
            if self.peek() == ".":
                self.pos += 1
                continue
            return tuple(parts)

    def skip_value(self):
        """Skip one value (any type, possibly spanning lines); return its end."""
        depth = 0
        while self.pos < self.n:
            if self.startswith('"""') or self.startswith("'''"):
                quote = self.text[self.pos:self.pos + 3]
                i = self.pos + 3
                while True:
                    j = self.text.find(quote, i)
                    if j < 0:
                        raise _ScanError("unterminated multi-line string")
                    if quote == '"""':
                        # an escaped quote: count the backslashes before it
                        k = j
                        while k > i and self.text[k - 1] == "\\":
                            k -= 1
                        if (j - k) % 2:
                            i = j + 1
                            continue
                    # up to two extra quotes may belong to the content
                    while self.text.startswith(quote[0], j + 3):
                        j += 1
                    self.pos = j + 3
                    break
                continue
            c = self.text[self.pos]
            if c == '"':
                self.basic_string()
                continue
            if c == "'":
                self.literal_string()
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth < 0:
                    raise _ScanError("unbalanced bracket")
            elif c == "#":
                if depth == 0:
                    break
                self.skip_comment()
                continue
            elif c in "\r\n" and depth == 0:
                break
            elif c == "," and depth == 0:
                raise _ScanError("unexpected comma")
            self.pos += 1
        if depth:
            raise _ScanError("unterminated array or inline table")
        end = self.pos
        while end > 0 and self.text[end - 1] in " \t":
            end -= 1
        return end


def scan(text):
    """Split a TOML document into :class:`Statement` objects (structure only).

    Values are skipped, not interpreted: their correctness is ``tomllib``'s
    job. Raises KubedebugError when the structure cannot be followed.
    """
    s = _Scanner(text)
    out = []
    header = ()
    line = 1
    while s.pos < s.n:
        line_start = s.pos
        s.skip_ws()
        indent = text[line_start:s.pos]
        c = s.peek()
        try:
            if c in ("#", "\n", "\r", ""):
                s.skip_eol()
            elif c == "[":
                kind = "table"
                s.pos += 1
                if s.peek() == "[":
                    kind = "array_table"
                    s.pos += 1
                path = s.key()
                closing = "]]" if kind == "array_table" else "]"
                if not s.startswith(closing):
                    raise _ScanError("expected %s" % closing)
                s.pos += len(closing)
                s.skip_eol()
                header = path
                out.append(Statement(kind, path, line_start, s.pos, indent, line, header=path))
            else:
                key_path = s.key()
                if s.peek() != "=":
                    raise _ScanError("expected '='")
                s.pos += 1
                s.skip_ws()
                vstart = s.pos
                vend = s.skip_value()
                s.skip_eol()
                out.append(Statement("keyval", header + key_path, line_start, s.pos, indent, line,
                                     vstart=vstart, vend=vend, header=header, key_path=key_path))
        except (_ScanError, ValueError, IndexError) as exc:
            raise KubedebugError(
                "Cannot follow the TOML structure at line %d: %s" % (line, exc),
                "Edit this setting by hand; nothing was changed",
                line=line,
            ) from None
        line += text.count("\n", line_start, s.pos)
    return out


def render_key(part):
    if _BARE_KEY.match(part):
        return part
    return render_value(part)


def render_path(path):
    return ".".join(render_key(p) for p in path)


def render_value(value):
    """A TOML literal for a bool, int or str (the types the edits need)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append("\\u%04X" % ord(ch))
            else:
                out.append(ch)
        out.append('"')
        return "".join(out)
    raise TypeError("unsupported TOML value type %s" % type(value).__name__)


def get_path(doc, path, default=None):
    """``doc[path[0]][path[1]]...`` or ``default`` when any part is missing."""
    node = doc
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _same(a, b):
    """Equality that does not confuse ``True`` with ``1``."""
    return type(a) is type(b) and a == b


def _expected(doc, path, value):
    want = copy.deepcopy(doc)
    node = want
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return want


def _newline(text):
    return "\r\n" if "\r\n" in text else "\n"


def _insert_at(text, pos, snippet):
    """Insert ``snippet`` (full lines) at ``pos``, adding a newline before it if needed."""
    nl = _newline(text)
    if pos > 0 and text[pos - 1] != "\n":
        snippet = nl + snippet
    return text[:pos] + snippet + text[pos:]


def _indent_unit(stmts):
    """Two spaces when the document indents nested tables, else nothing."""
    for st in stmts:
        if st.kind != "keyval" and st.indent:
            return "  "
    return ""


def _subtree_end(stmts, index, prefix):
    """End offset of the statements that belong under ``prefix`` from stmts[index]."""
    end = stmts[index].end
    for st in stmts[index + 1:]:
        if st.kind != "keyval" and st.path[:len(prefix)] != prefix:
            break
        end = st.end
    return end


def _edit(text, stmts, path, value):
    nl = _newline(text)
    rendered = render_value(value)
    parent = path[:-1]
    # 1. the key exists as a key/value statement: replace its value
    for st in stmts:
        if st.kind == "keyval" and st.path == path:
            return text[:st.vstart] + rendered + text[st.vend:]
    # a key/value above the target is an inline table or an array of tables
    for st in stmts:
        if st.kind == "keyval" and st.path == path[:len(st.path)]:
            raise KubedebugError(
                "%s is set as an inline value at line %d; the edit would rewrite it" % (render_path(st.path), st.line),
                "Turn it into a [table] or set %s by hand; nothing was changed" % render_path(path),
                line=st.line,
            )
    unit = _indent_unit(stmts)
    if not parent:
        # a top-level key: after the last top-level key, before the first table
        pos = 0
        for st in stmts:
            if st.kind != "keyval":
                pos = st.start if pos == 0 else pos
                break
            pos = st.end
        return _insert_at(text, pos, "%s = %s%s" % (render_key(path[-1]), rendered, nl))
    # 2. the parent is declared by a [header]: add the key at the end of that table
    for i, st in enumerate(stmts):
        if st.kind == "table" and st.path == parent:
            end = st.end
            indent = st.indent + unit
            for sib in stmts[i + 1:]:
                if sib.kind != "keyval":
                    break
                end = sib.end
                indent = sib.indent
            return _insert_at(text, end, "%s%s = %s%s" % (indent, render_key(path[-1]), rendered, nl))
    # 3. siblings declared by dotted keys: add a dotted key after the last one
    sibs = [st for st in stmts if st.kind == "keyval" and len(st.path) == len(path) and st.path[:-1] == parent
            and len(st.key_path) > 1]
    if sibs:
        last = sibs[-1]
        key = last.key_path[:-1] + (path[-1],)
        return _insert_at(text, last.end, "%s%s = %s%s" % (last.indent, render_path(key), rendered, nl))
    # 4. a new [table] after the deepest table that contains it (or at the end)
    best, best_len = None, -1
    for i, st in enumerate(stmts):
        if st.kind == "table" and st.path == parent[:len(st.path)] and len(st.path) > best_len:
            best, best_len = i, len(st.path)
    if best is None:
        pos = len(text)
        blank = nl if text.strip() else ""
    else:
        pos = _subtree_end(stmts, best, stmts[best].path)
        blank = nl
    depth = len(parent) - 1
    head_indent = unit * depth
    snippet = "%s%s[%s]%s%s%s = %s%s" % (
        blank, head_indent, render_path(parent), nl, head_indent + unit, render_key(path[-1]), rendered, nl)
    if pos < len(text) and not text[pos:].lstrip(" \t").startswith(("\n", "\r\n")):
        snippet += nl
    return _insert_at(text, pos, snippet)


def set_value(text, path, value, source="the document"):
    """Return ``text`` with the key at ``path`` set to ``value``.

    ``path`` is the full tuple of keys. The text is returned unchanged when
    the key already has that value. Raises KubedebugError when ``text`` is not
    TOML or the edit cannot be made without changing anything else.
    """
    path = tuple(path)
    if not path:
        raise ValueError("empty key path")
    doc = loads(text, source)
    node = doc
    for i, part in enumerate(path[:-1]):
        node = node.get(part, {})
        if not isinstance(node, dict):
            raise KubedebugError(
                "%s in %s is not a table, so %s cannot be set" % (render_path(path[:i + 1]), source, render_path(path)),
                "Fix the file by hand; nothing was changed",
                path=source,
            )
    if path[-1] in node and _same(node[path[-1]], value):
        return text
    if path[-1] in node and isinstance(node[path[-1]], (dict, list)):
        raise KubedebugError(
            "%s in %s is a table or an array, not a single value" % (render_path(path), source),
            "Fix the file by hand; nothing was changed",
            path=source,
        )
    new = _edit(text, scan(text), path, value)
    try:
        got = loads(new, source)
    except KubedebugError:
        got = None
    if got != _expected(doc, path, value) or not _same(get_path(got, path), value):
        raise KubedebugError(
            "Setting %s in %s cannot be done without changing other settings (the table is declared in a way "
            "this editor does not rewrite)" % (render_path(path), source),
            "Set %s = %s by hand; nothing was changed" % (render_path(path), render_value(value)),
            path=source,
        )
    return new
