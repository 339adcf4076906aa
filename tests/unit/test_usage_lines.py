"""Every ansible-playbook command the collection prints or documents runs as printed (issue 14).

The commands are read from the files, not listed here, so a new usage line is covered by writing it:
in every file of the project but NOT_USAGE, code spans and fenced blocks of Markdown, comment lines
(continued on comment lines that start with ``[`` or ``-``), and quoted strings (what roles and
modules print). Any other occurrence of ``ansible-playbook`` followed by an argument fails the test,
as does a line it cannot parse.

Each command runs with --syntax-check (optional ``[...]`` parts left out) and --list-tasks
(with them; it validates the plays as --syntax-check does, then lists them):
- by collection name (``kubedebug.lab.debug_apiserver``): against the collection built by
  ``ansible-galaxy collection build`` and installed offline into a temp dir, from a cwd outside
  the checkout whose ansible.cfg names only the inventory (the installed inventories/local: the
  commands take a user's own);
- by path (``playbooks/debug-apiserver.yml``): from the checkout's root with its ansible.cfg, as
  the README has it.
Placeholders take the values of PLACEHOLDERS; one that is not there fails the test.
"""

import glob
import os
import re
import shlex
import subprocess
import tarfile
from dataclasses import dataclass, field

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMAND = "ansible-playbook"

# What a placeholder in a usage line stands for when it runs here.
PLACEHOLDERS = {
    "GROUP_OR_HOST": "localhost",
    "HOST": "localhost",
    "<yours>": "lab-example",  # inventories/lab-example/hosts.yml: "Copy this directory ... inventories/<yours>"
    "inventories/mylab": "inventories/lab-example",  # docs/lab-provisioning.md: cp -r inventories/lab-example inventories/mylab
    "YOUR_INVENTORY": os.path.join(ROOT, "inventories", "lab-example"),  # README: kubedebug.lab.lab
    "{{ debug_component_name }}": "kube-apiserver",
}
JINJA_RE = re.compile(r"\{\{.*?\}\}")
# in the arguments (not the option names): <name>, CAPITALS, and the paths above
PLACEHOLDER_RE = re.compile(r"<[^<>\s]+>|\binventories/mylab\b|\b[A-Z][A-Z0-9_]+\b")

# Files that run ansible-playbook rather than tell a user to, and the project's history.
NOT_USAGE = ("tests/", "hack/", "changelogs/", ".ci/")

VALUE_OPTIONS = {"-e", "--extra-vars", "-i", "--inventory", "-l", "--limit", "-t", "--tags", "--skip-tags", "-u", "--user",
                 "-c", "--connection", "-f", "--forks", "--start-at-task", "--vault-id", "--vault-password-file"}
FLAG_OPTIONS = {"-v", "-vv", "-vvv", "-vvvv", "-C", "--check", "-D", "--diff", "-b", "--become", "-K", "--ask-become-pass",
                "-k", "--ask-pass", "--step", "--flush-cache", "--force-handlers"}


@dataclass
class Usage:
    origin: str  # file:line
    text: str  # the command as written
    error: str = ""  # why it cannot be parsed
    tokens: list = field(default_factory=list)  # (token, optional group index or None)
    playbook: str = ""

    @property
    def by_name(self):
        """A collection name (ns.coll.name[.yml]), not a path: run against the installed collection."""
        return "/" not in self.playbook and self.playbook.count(".") >= 2

    def argv(self, optional):
        return [COMMAND] + [t for t, group in self.tokens if optional or group is None]


def substitute(text, origin, pattern=PLACEHOLDER_RE):
    def one(m):
        if m.group(0) not in PLACEHOLDERS:
            raise ValueError("placeholder %r in %s has no value in PLACEHOLDERS" % (m.group(0), origin))
        return PLACEHOLDERS[m.group(0)]

    return pattern.sub(one, text)


def parse(text, origin):
    """A Usage from the command text; Usage.error says what is wrong with it."""
    u = Usage(origin=origin, text=text)
    try:
        words = shlex.split(substitute(text, origin, JINJA_RE), comments=True)
    except ValueError as e:
        u.error = "not a shell command (%s)" % e
        return u
    if not words or words[0] != COMMAND:
        u.error = "does not start with %s" % COMMAND
        return u
    group, ngroups, marked = None, 0, []
    for w in words[1:]:
        if w.startswith("["):
            if group is not None:
                u.error = "nested [ in %r" % w
                return u
            group, ngroups, w = ngroups, ngroups + 1, w[1:]
        close = w.endswith("]")
        w = w[:-1] if close else w
        if close and group is None:
            u.error = "] without [ at %r" % w
            return u
        if w:
            marked.append((w, group))
        group = None if close else group
    if group is not None:
        u.error = "[ without ]"
        return u
    positional, i = [], 0
    while i < len(marked):
        w, g = marked[i]
        name = w.split("=", 1)[0]
        if name in VALUE_OPTIONS and "=" not in w:
            if i + 1 >= len(marked) or marked[i + 1][1] != g:
                u.error = "%s without its value" % w
                return u
            i += 1
        elif w.startswith("-") and name not in VALUE_OPTIONS and w not in FLAG_OPTIONS:
            u.error = "option %s unknown to this test (add it to VALUE_OPTIONS or FLAG_OPTIONS)" % w
            return u
        elif not w.startswith("-"):
            positional.append((w, g))
        i += 1
    if len(positional) != 1 or positional[0][1] is not None:
        u.error = "expected one playbook, found %s (prose after the command?)" % [p[0] for p in positional]
        return u
    try:
        u.tokens = [(w if w.startswith("-") else substitute(w, origin), g) for w, g in marked]
        u.playbook = substitute(positional[0][0], origin)
    except ValueError as e:
        u.error = str(e)
    return u


def occurrences(line):
    """Offsets of ansible-playbook followed by an argument in line (a bare mention is not a command)."""
    return [m.start() for m in re.finditer(re.escape(COMMAND) + r"(?=[ \t]+\S)", line)]


def scan_markdown(path, rel):
    """Commands in code spans and fenced blocks; any other use of the command is an error."""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    prose = []
    fence = None
    for n, line in enumerate(lines, 1):
        m = re.match(r"\s*(```|~~~)", line)
        if m and (fence is None or m.group(1) == fence):
            fence = None if fence else m.group(1)
            prose.append("")
            continue
        if fence:
            for at in occurrences(line):
                before = line[:at].strip()
                text = line[at:] if before in ("", "$") else line
                out.append(parse(text, "%s:%d" % (rel, n)) if before in ("", "$")
                           else Usage("%s:%d" % (rel, n), text, error="something runs before %s on the line" % COMMAND))
            prose.append("")
        else:
            prose.append(line)
    text = "\n".join(prose)
    spans = []
    for m in re.finditer(r"(`+)(.+?)\1", text, re.S):
        spans.append((m.start(), m.end()))
        body = " ".join(m.group(2).split())
        n = text.count("\n", 0, m.start()) + 1
        if body.startswith(COMMAND + " "):
            out.append(parse(body, "%s:%d" % (rel, n)))
        elif COMMAND + " " in body:
            out.append(Usage("%s:%d" % (rel, n), body, error="a code span with %s not at its start" % COMMAND))
    for m in re.finditer(re.escape(COMMAND) + r"(?=[ \t\n]+\S)", text):
        if not any(a <= m.start() < b for a, b in spans):
            n = text.count("\n", 0, m.start()) + 1
            out.append(Usage("%s:%d" % (rel, n), text.split("\n")[n - 1], error="a command outside a code span or block"))
    return out


def scan_text(path, rel):
    """Commands in comments (continued on comment lines that start with [ or -) and in strings."""
    out = []
    lines = open(path, encoding="utf-8").read().split("\n")
    for n, line in enumerate(lines, 1):
        comment = re.match(r"\s*#", line)
        for at in occurrences(line):
            origin = "%s:%d" % (rel, n)
            rest = line[at:]
            if comment:
                for nxt in lines[n:]:
                    c = re.match(r"\s*#\s+([\[-].*)$", nxt)
                    if not c:
                        break
                    rest += " " + c.group(1)
                out.append(parse(rest, origin))
                continue
            # in a string: up to its closing quote, a closing parenthesis or backtick (Jinja taken first)
            try:
                rest = substitute(rest, origin, JINJA_RE)
            except ValueError as e:
                out.append(Usage(origin, rest, error=str(e)))
                continue
            end = re.search(r"[\"')`]", rest)
            if not end:
                out.append(Usage(origin, rest, error="cannot tell where the command ends: put it on one line, in quotes"))
                continue
            out.append(parse(rest[:end.start()], origin))
    return out


def project_files():
    p = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                       capture_output=True, text=True, check=True)
    return sorted(f for f in p.stdout.split("\0") if f and os.path.isfile(os.path.join(ROOT, f)))


def usages():
    out = []
    for rel in project_files():
        if rel.startswith(NOT_USAGE):
            continue
        path = os.path.join(ROOT, rel)
        try:
            with open(path, encoding="utf-8") as f:
                if COMMAND not in f.read():
                    continue
        except UnicodeDecodeError:
            continue
        out += scan_markdown(path, rel) if rel.endswith(".md") else scan_text(path, rel)
    return out


USAGES = usages()


def unique_runs():
    """One run per distinct command (by name or by path), with the places it is printed."""
    runs = {}
    for u in USAGES:
        key = (u.by_name, tuple(u.argv(True))) if not u.error else ("error", u.origin)
        runs.setdefault(key, []).append(u)
    return list(runs.values())


RUNS = unique_runs()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The collection as ansible-galaxy builds it, installed offline (dependencies: the ansible package's)."""
    tmp = tmp_path_factory.mktemp("usage")
    env = clean_env(ANSIBLE_COLLECTIONS_PATH=str(tmp / "collections"))
    build = subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(tmp / "dist"), ROOT],
                           cwd=str(tmp), env=env, capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    (tarball,) = glob.glob(str(tmp / "dist" / "*.tar.gz"))
    install = subprocess.run(["ansible-galaxy", "collection", "install", "--offline", "-p", str(tmp / "collections"), tarball],
                             cwd=str(tmp), env=env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    coll = tmp / "collections" / "ansible_collections" / "kubedebug" / "lab"
    assert (coll / "MANIFEST.json").is_file(), install.stdout + install.stderr
    work = tmp / "work"
    work.mkdir()
    (work / "ansible.cfg").write_text("[defaults]\ninventory = %s\n" % (coll / "inventories" / "local" / "hosts.yml"))
    return {"tarball": tarball, "collections": str(tmp / "collections"), "collection": str(coll), "work": str(work)}


def clean_env(**kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    # an inventory that does not parse is an error here, not a warning
    env.update(ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_INVENTORY_UNPARSED_FAILED="1", **kw)
    return env


_RUNS = {}


def run(argv, by_name, installed):
    """argv as a user runs it: by name from outside the checkout, by path from its root. (rc, output); each
    command runs once in the module."""
    key = (tuple(argv), by_name)
    if key not in _RUNS:
        if by_name:
            env = clean_env(ANSIBLE_COLLECTIONS_PATH=installed["collections"], ANSIBLE_CONFIG=os.path.join(installed["work"], "ansible.cfg"))
            cwd = installed["work"]
        else:
            env, cwd = clean_env(), ROOT
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        _RUNS[key] = (p.returncode, p.stdout + p.stderr)
    return _RUNS[key]


def test_usage_lines_are_found():
    """The scan finds the commands (a scanner that finds none would pass everything)."""
    found = {u.origin.split(":")[0] for u in USAGES}
    for rel in ("README.md", "docs/local-up-cluster.md", "playbooks/debug-apiserver.yml", "playbooks/restore.yml",
                "roles/local_up_cluster/tasks/started.yml", "roles/debug_component/tasks/debug.yml"):
        assert rel in found, (rel, sorted(found))


@pytest.mark.parametrize("usages", RUNS, ids=[";".join(u.origin for u in r) for r in RUNS])
def test_usage_line_runs(usages, installed):
    u = usages[0]
    where = ", ".join(x.origin for x in usages)
    assert not u.error, "%s: cannot parse %r: %s" % (where, u.text, u.error)
    # --syntax-check without the optional parts, --list-tasks (which validates the plays as well) with them
    argv = u.argv(False)
    rc, out = run(argv + ["--syntax-check"], u.by_name, installed)
    assert rc == 0, "%s: %s --syntax-check failed (rc %d):\n%s" % (where, shlex.join(argv), rc, out[-4000:])
    argv = u.argv(True)
    rc, out = run(argv + ["--list-tasks"], u.by_name, installed)
    assert rc == 0, "%s: %s --list-tasks failed (rc %d):\n%s" % (where, shlex.join(argv), rc, out[-4000:])
    m = re.search(r"^playbook: (.+)$", out, re.M)
    assert m and "play #1" in out, out[-4000:]
    if u.by_name:  # the installed collection's playbook, not the checkout's
        assert m.group(1).startswith(installed["collection"] + os.sep), (m.group(1), installed["collection"])


@pytest.mark.parametrize("text,error", [
    ("ansible-playbook kubedebug.lab.x [-e a=b", "[ without ]"),
    ("ansible-playbook kubedebug.lab.x -e a=b]", "] without ["),
    ("ansible-playbook playbooks/x.yml  (a cluster of y)", "expected one playbook"),
    ("ansible-playbook -e", "-e without its value"),
    ("ansible-playbook [-e] a=b x.yml", "-e without its value"),
    ("ansible-playbook --frobnicate x.yml", "option --frobnicate unknown"),
    ("ansible-playbook -i inventories/<theirs> x.yml", "'<theirs>' in f:1 has no value"),
    ("ansible-playbook x.yml -e target=SOME_HOST", "'SOME_HOST' in f:1 has no value"),
    ("ansible-playbook x.yml -e n={{ other }}", "'{{ other }}' in f:1 has no value"),
    ("ansible-playbook 'x.yml", "not a shell command"),
])
def test_parse_refuses(text, error):
    """A usage line the test cannot read fails it, with the reason."""
    u = parse(text, "f:1")
    assert error in u.error, u


def test_parse_optional_parts_and_placeholders():
    u = parse("ansible-playbook kubedebug.lab.restore [-e kubedebug_target=HOST] -e n={{ debug_component_name }}  # note", "f:1")
    assert not u.error and u.by_name and u.playbook == "kubedebug.lab.restore"
    assert u.argv(False) == [COMMAND, "kubedebug.lab.restore", "-e", "n=kube-apiserver"]
    assert u.argv(True) == [COMMAND, "kubedebug.lab.restore", "-e", "kubedebug_target=localhost", "-e", "n=kube-apiserver"]
    assert not parse("ansible-playbook -i inventories/<yours> playbooks/lab.yml", "f:1").by_name


def test_scan_refuses_what_it_cannot_read(tmp_path):
    md = tmp_path / "a.md"
    md.write_text("Run ansible-playbook playbooks/x.yml now, or `ansible-playbook` alone.\n\n```sh\ncd x && ansible-playbook y.yml\n```\n")
    errors = [u.error for u in scan_markdown(str(md), "a.md")]
    assert errors == ["something runs before ansible-playbook on the line", "a command outside a code span or block"], errors
    yml = tmp_path / "a.yml"
    yml.write_text("msg: >-\n  Run ansible-playbook kubedebug.lab.x -e a=b\n  -e c=d\n")
    assert [u.error for u in scan_text(str(yml), "a.yml")] == ["cannot tell where the command ends: put it on one line, in quotes"]


# --- the playbooks themselves -------------------------------------------------------------------------

PLAYBOOKS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "playbooks", "*.yml")))


def wrapped(name):
    """The playbook a checkout-path file (debug-apiserver.yml) imports, or None for a real one."""
    stem = name[:-len(".yml")]
    if stem.isidentifier():
        return None
    return stem.replace("-", "_") + ".yml"


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_playbook_has_a_collection_name(name):
    """Each playbook has a name ansible-core accepts (kubedebug.lab.NAME); a hyphenated file only imports it."""
    from ansible.utils.collection_loader._collection_finder import AnsibleCollectionRef

    target = wrapped(name) or name
    assert AnsibleCollectionRef.is_valid_fqcr("kubedebug.lab." + target[:-len(".yml")], "playbook"), target
    assert os.path.isfile(os.path.join(ROOT, "playbooks", target)), target
    if wrapped(name):
        with open(os.path.join(ROOT, "playbooks", name), encoding="utf-8") as f:
            plays = yaml.safe_load(f)
        assert len(plays) == 1 and set(plays[0]) == {"name", "ansible.builtin.import_playbook"}, plays
        assert plays[0]["ansible.builtin.import_playbook"] == target, plays


def test_tarball_holds_every_playbook(installed):
    with tarfile.open(installed["tarball"]) as t:
        names = set(t.getnames())
    assert {"playbooks/" + p for p in PLAYBOOKS} <= names, sorted(n for n in names if n.startswith("playbooks/"))


@pytest.mark.parametrize("name", [p for p in PLAYBOOKS if wrapped(p)])
def test_installed_wrapper_imports_its_playbook(name, installed):
    """The relative import_playbook of a hyphenated file works from the installed collection: the same plays and
    tasks as the collection name and as the checkout's file."""
    def tasks(argv, by_name):
        rc, out = run(argv + ["--list-tasks"], by_name, installed)
        assert rc == 0, "%s:\n%s" % (shlex.join(argv), out[-4000:])
        return re.sub(r"^playbook: .*$", "", out, flags=re.M)

    installed_file = tasks([COMMAND, os.path.join(installed["collection"], "playbooks", name)], True)
    by_name = tasks([COMMAND, "kubedebug.lab." + wrapped(name)[:-len(".yml")]], True)
    checkout = tasks([COMMAND, os.path.join("playbooks", name)], False)
    assert installed_file == by_name
    assert re.findall(r"^  play #.*$", checkout, re.M) == re.findall(r"^  play #.*$", by_name, re.M)
