"""An independent parser of systemd ExecStart= lines, written from the documentation.

Not the renderer read backwards: it follows systemd.unit(5) (specifiers),
systemd.syntax(7) "Quoting" and systemd.service(5) "Command lines":

1. ``%`` specifiers are expanded on the whole line (``%%`` is a literal ``%``).
2. The line is split into words at white space; a word starting with a single
   or double quote runs to the matching quote, which must be followed by white
   space or the end of the line. C-style escapes are recognised in and out of
   quotes: \\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\' \\s \\xHH \\NNN \\uNNNN \\UNNNNNNNN.
   A lone unquoted ``;`` separates commands (``\\;`` is a literal one).
3. Each word then has environment variables expanded: ``$$`` is a literal
   ``$``, ``$NAME`` and ``${NAME}`` are substitutions.

It is strict: anything our renderer should never emit (an unknown specifier,
an unescaped ``$``, a command separator, a quote inside a word, an unknown
escape) raises ``SyntaxError`` so a round-trip test fails loudly.
"""

WS = " \t\n\r"
SIMPLE = {"a": b"\a", "b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v",
          "\\": b"\\", '"': b'"', "'": b"'", "s": b" "}


def expand_specifiers(line):
    out = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "%":
            if i + 1 < len(line) and line[i + 1] == "%":
                out.append("%")
                i += 2
                continue
            raise SyntaxError("specifier %r at %d" % (line[i:i + 2], i))
        out.append(c)
        i += 1
    return "".join(out)


def _unescape(line, i):
    """line[i] is a backslash; return (bytes, next index)."""
    if i + 1 >= len(line):
        raise SyntaxError("trailing backslash")
    c = line[i + 1]
    if c in SIMPLE:
        return SIMPLE[c], i + 2
    if c == "x":
        h = line[i + 2:i + 4]
        if len(h) != 2 or any(x not in "0123456789abcdefABCDEF" for x in h):
            raise SyntaxError("bad \\x escape")
        return bytes([int(h, 16)]), i + 4
    if c in "01234567":
        o = line[i + 1:i + 4]
        if len(o) != 3 or any(x not in "01234567" for x in o):
            raise SyntaxError("bad octal escape")
        return bytes([int(o, 8)]), i + 4
    if c in "uU":
        n = 4 if c == "u" else 8
        h = line[i + 2:i + 2 + n]
        if len(h) != n:
            raise SyntaxError("bad unicode escape")
        return chr(int(h, 16)).encode("utf-8"), i + 2 + n
    if c == ";":
        return b";", i + 2
    raise SyntaxError("unknown escape \\%s" % c)


def split_words(line):
    words = []
    i = 0
    n = len(line)
    while True:
        while i < n and line[i] in WS:
            i += 1
        if i >= n:
            return words
        buf = bytearray()
        if line[i] in "\"'":
            q = line[i]
            i += 1
            while True:
                if i >= n:
                    raise SyntaxError("unterminated quote")
                c = line[i]
                if c == q:
                    i += 1
                    break
                if c == "\\":
                    b, i = _unescape(line, i)
                    buf += b
                    continue
                buf += c.encode("utf-8", "surrogateescape")
                i += 1
            if i < n and line[i] not in WS:
                raise SyntaxError("closing quote not followed by white space")
            words.append(("quoted", bytes(buf)))
            continue
        start = i
        while i < n and line[i] not in WS:
            c = line[i]
            if c in "\"'":
                raise SyntaxError("quote inside a word")
            if c == "\\":
                b, i = _unescape(line, i)
                buf += b
                continue
            buf += c.encode("utf-8", "surrogateescape")
            i += 1
        if line[start:i] == ";":
            raise SyntaxError("command separator ';'")
        words.append(("plain", bytes(buf)))


def expand_env(word):
    out = []
    i = 0
    while i < len(word):
        c = word[i]
        if c == "$":
            if word[i + 1:i + 2] == "$":
                out.append("$")
                i += 2
                continue
            raise SyntaxError("variable reference at %d in %r" % (i, word))
        out.append(c)
        i += 1
    return "".join(out)


def parse_exec(line):
    """The argv systemd executes for an ExecStart= value (strict)."""
    line = expand_specifiers(line)
    words = [w.decode("utf-8", "surrogateescape") for _kind, w in split_words(line)]
    if not words:
        raise SyntaxError("empty command line")
    if words[0][:1] in "@-:+!|":
        raise SyntaxError("executable prefix")
    return [expand_env(w) for w in words]
