"""Go/Delve version parsing, ordering, the Delve-Go table and tree reading."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.kubedebug.lab.plugins.module_utils._build import goversion as gv
from ansible_collections.kubedebug.lab.plugins.module_utils._errors import KubedebugError
from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import (
    DELVE_GO_SUPPORT,
    GoVersion,
    check_dlv_for_program,
    check_pair,
    compat_table,
    delve_go_range,
    delve_supports,
    go_version_for_tree,
    newest_delve_for_go,
    newest_patch,
    parse_delve_version,
    parse_go_version_output,
)

# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, canonical, key",
    [
        ("go1.19.8", "1.19.8", (1, 19, 8, None, None)),
        ("1.19.8", "1.19.8", (1, 19, 8, None, None)),
        ("1.19", "1.19", (1, 19, None, None, None)),
        ("go1.19", "1.19", (1, 19, None, None, None)),
        ("1.19.0", "1.19", (1, 19, 0, None, None)),  # go.dev never says 1.19.0
        ("1.21", "1.21.0", (1, 21, None, None, None)),  # ...but does say 1.21.0
        ("go1.21.0", "1.21.0", (1, 21, 0, None, None)),
        ("1.22rc1", "1.22rc1", (1, 22, None, "rc", 1)),
        ("go1.9beta2", "1.9beta2", (1, 9, None, "beta", 2)),
        (" 1.15.5\n", "1.15.5", (1, 15, 5, None, None)),
    ],
)
def test_parse_go(text, canonical, key):
    v = GoVersion.parse(text)
    assert str(v) == canonical
    assert (v.major, v.minor, v.patch, v.pre, v.pre_num) == key


@pytest.mark.parametrize("text", ["", "go", "1", "go1", "1.19.8.1", "v1.19.8", "1.19-rc1", "1.22rc", "1.22alpha1", "devel go1.22-abcdef", "1.19.8rc1"])
def test_parse_go_rejects(text):
    with pytest.raises(KubedebugError) as exc:
        GoVersion.parse(text)
    assert "not a Go version" in exc.value.msg
    assert exc.value.hint


def test_go_order_follows_release_order():
    names = ["1.9beta2", "1.9rc1", "1.9", "1.9.1", "1.19", "1.19.8", "1.20rc3", "1.20", "1.21rc1", "1.21rc2", "1.21.0", "1.21.1", "1.22rc1"]
    parsed = [GoVersion.parse(n) for n in names]
    assert sorted(reversed(parsed)) == parsed
    assert GoVersion.parse("1.19") == GoVersion.parse("1.19.0")
    assert GoVersion.parse("1.21") == GoVersion.parse("1.21.0")


def test_bare_is_only_language_versions():
    assert GoVersion.parse("1.19").bare
    assert not GoVersion.parse("1.19.0").bare
    assert not GoVersion.parse("1.22rc1").bare


@pytest.mark.parametrize("text, expected", [("1.20.2", (1, 20, 2)), ("v1.7.3", (1, 7, 3))])
def test_parse_delve(text, expected):
    assert parse_delve_version(text) == expected


@pytest.mark.parametrize("text", ["1.20", "1.20.2-rc.1", "latest", "", "go1.20.2"])
def test_parse_delve_rejects(text):
    with pytest.raises(KubedebugError, match="not a Delve release"):
        parse_delve_version(text)


@pytest.mark.parametrize(
    "output, expected",
    [
        ("go1.19.8\n", "1.19.8"),
        ("go1.22.1 X:boringcrypto\n", "1.22.1"),
        ("go version go1.15.5 linux/amd64\n", "1.15.5"),
        ("go version go1.21rc2 linux/arm64", "1.21rc2"),
    ],
)
def test_parse_go_output(output, expected):
    assert str(parse_go_version_output(output)) == expected


def test_parse_go_output_devel_toolchain():
    with pytest.raises(KubedebugError) as exc:
        parse_go_version_output("devel +a1b2c3 Tue Jan 2 15:04:05 2024 +0000")
    assert "set go_version" in exc.value.hint


# ---------------------------------------------------------- Delve <-> Go

# The support ranges stated in the project's field notes (TRAPS.md), one
# release per row, checked against the table rather than restating it.
SUPPORT = [
    ("1.7.3", "1.15", "1.17"),
    ("1.8.3", "1.16", "1.18"),
    ("1.9.1", "1.17", "1.19"),
    ("1.20.0", "1.18", "1.20"),
    ("1.20.2", "1.18", "1.20"),
    ("1.21.1", "1.19", "1.21"),
    ("1.21.2", "1.19", "1.21"),
    ("1.22.1", "1.19", "1.22"),
    ("1.23.0", "1.21", "1.23"),
    ("1.24.2", "1.21", "1.24"),
    ("1.25.0", "1.21", "1.24"),
    ("1.25.1", "1.22", "1.25"),
    ("1.25.2", "1.22", "1.25"),
    ("1.26.3", "1.24", "1.26"),
    ("1.27.2", "1.25", "1.27"),
]


@pytest.mark.parametrize("delve, go_min, go_max", SUPPORT)
def test_delve_go_range(delve, go_min, go_max):
    lo, hi = delve_go_range(delve)
    assert (lo.minor_str, hi.minor_str) == (go_min, go_max)


@pytest.mark.parametrize(
    "delve, go, ok",
    [
        ("1.20.2", "1.19.8", True),
        ("1.20.2", "1.18", True),
        ("1.20.2", "1.20.14", True),
        ("1.20.2", "1.21.0", False),
        ("1.20.2", "1.21rc1", False),  # dlv counts 1.21 pre-releases as 1.21
        ("1.20.2", "1.17.13", False),
        ("1.7.3", "1.15.5", True),
        ("1.25.0", "1.25.0", False),
        ("1.25.1", "1.25.0", True),
    ],
)
def test_delve_supports(delve, go, ok):
    assert delve_supports(delve, go) is ok


def test_unknown_delve_has_no_range():
    with pytest.raises(KubedebugError) as exc:
        delve_go_range("1.21.0")
    assert "1.21.0" in exc.value.msg
    assert "delve_go_compat" in exc.value.hint


def test_user_rows_extend_and_win():
    table = compat_table([{"delve": "1.28.*", "go_min": "1.26", "go_max": "1.28"}, {"delve": "1.20.2", "go_min": "1.18", "go_max": "1.19"}])
    assert delve_supports("1.28.3", "1.28.0", table)
    assert not delve_supports("1.20.2", "1.20.1", table)  # the user's row wins
    assert delve_supports("1.20.1", "1.20.1", table)  # built-in rows remain


def test_user_row_missing_keys():
    with pytest.raises(KubedebugError, match="lacks"):
        compat_table([{"delve": "1.28.0", "go_min": "1.26"}])


@pytest.mark.parametrize(
    "go, releases, expected",
    [
        ("1.19.8", ["1.20.2", "1.22.1", "1.23.0", "1.7.3"], "1.22.1"),
        ("1.15.5", ["1.7.3", "1.20.2", "1.22.1"], "1.7.3"),
        ("1.25.1", ["1.24.1", "1.25.2", "1.26.3", "1.27.2"], "1.27.2"),
        ("1.24.0", ["1.24.1", "1.25.0", "1.25.2", "1.26.3", "1.27.2"], "1.26.3"),
        ("1.21.0", ["1.21.0", "1.21.2"], "1.21.2"),  # 1.21.0 has no known range: skipped
    ],
)
def test_newest_delve_for_go(go, releases, expected):
    assert newest_delve_for_go(go, releases) == expected


def test_newest_delve_none_fits():
    with pytest.raises(KubedebugError) as exc:
        newest_delve_for_go("1.12.17", ["1.20.2", "1.7.3"])
    assert "1.20.2, 1.7.3" in exc.value.msg and "1.12.17" in exc.value.msg
    assert "delve_version" in exc.value.hint


@pytest.mark.parametrize(
    "delve, go, words",
    [
        ("1.20.2", "1.22.1", ["Delve 1.20.2 is too old for Go 1.22.1", "1.18 to 1.20", "newer Delve"]),
        ("v1.27.2", "1.19.8", ["Go 1.19.8 is too old for Delve 1.27.2", "1.25 to 1.27", "older Delve"]),
    ],
)
def test_check_pair_names_both_and_the_fix(delve, go, words):
    with pytest.raises(KubedebugError) as exc:
        check_pair(delve, go)
    text = str(exc.value)
    for w in words:
        assert w in text
    assert exc.value.details["delve_version"] == parse_delve_version_str(delve)
    assert exc.value.details["go_version"] == go


def parse_delve_version_str(text):
    return "%d.%d.%d" % parse_delve_version(text)


def test_check_pair_ok():
    lo, hi = check_pair("1.20.2", "1.19.8")
    assert (lo.minor_str, hi.minor_str) == ("1.18", "1.20")


def test_table_rows_are_well_formed_and_ordered():
    rows = compat_table()
    assert len(rows) == len(DELVE_GO_SUPPORT)
    for (first, last, go_min, go_max), (nfirst, _nlast, nmin, nmax) in zip(rows, rows[1:], strict=False):
        assert first <= last < nfirst
        assert go_min <= go_max
        assert go_min <= nmin and go_max <= nmax  # support only ever moves forward


@pytest.mark.parametrize(
    "version, releases, expected",
    [
        ("1.19", ["1.15.5", "1.19.8", "1.19.13", "1.20rc1"], "1.19.13"),
        ("1.19", ["1.15.5"], "1.19"),
        ("1.19.2", ["1.19.13"], "1.19.2"),
        ("1.21", ["1.21rc2", "not-a-version", "1.21.4"], "1.21.4"),
    ],
)
def test_newest_patch(version, releases, expected):
    assert str(newest_patch(GoVersion.parse(version), releases)) == expected


# ------------------------------------------------------------ tree reading


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


GOMOD_120 = "module k8s.io/kubernetes\n\ngo 1.15\n\nrequire (\n\tgithub.com/foo/bar v1.0.0\n)\n"


@pytest.mark.parametrize(
    "files, version, source, raw",
    [
        # Kubernetes 1.20: kube-cross tag "v1.15.5-1"
        ({"build/build-image/cross/VERSION": "v1.15.5-1\n", "go.mod": GOMOD_120}, "1.15.5", "build/build-image/cross/VERSION", "v1.15.5-1"),
        # Kubernetes 1.26: kube-cross tag names the Go release
        ({"build/build-image/cross/VERSION": "v1.26.0-go1.19.4-bullseye.0\n", "go.mod": "go 1.19\n"}, "1.19.4", "build/build-image/cross/VERSION", None),
        # Kubernetes >= 1.27: .go-version first
        (
            {".go-version": "1.22.5\n", "build/build-image/cross/VERSION": "v1.30.0-go1.22.4-bullseye.0", "go.mod": "go 1.22.0\n"},
            "1.22.5",
            ".go-version",
            "1.22.5",
        ),
        # go.mod only: toolchain wins over go
        ({"go.mod": "module x\n\ngo 1.21.0 // language\n\ntoolchain go1.21.6\n"}, "1.21.6", "go.mod", "toolchain go1.21.6"),
        ({"go.mod": GOMOD_120}, "1.15", "go.mod", "go 1.15"),
        # an empty .go-version does not decide
        ({".go-version": "\n", "go.mod": "go 1.20\n"}, "1.20", "go.mod", "go 1.20"),
    ],
)
def test_go_version_for_tree(tmp_path, files, version, source, raw):
    for rel, text in files.items():
        write(str(tmp_path), rel, text)
    got, rel, got_raw = go_version_for_tree(str(tmp_path))
    assert (str(got), rel) == (version, source)
    if raw is not None:
        assert got_raw == raw


def test_tree_missing(tmp_path):
    with pytest.raises(KubedebugError) as exc:
        go_version_for_tree(str(tmp_path / "nope"))
    assert "not a directory" in exc.value.msg and "go_k8s_tree" in exc.value.hint


def test_tree_without_version(tmp_path):
    write(str(tmp_path), "README.md", "hi")
    with pytest.raises(KubedebugError) as exc:
        go_version_for_tree(str(tmp_path))
    assert ".go-version" in exc.value.msg and "go.mod" in exc.value.msg


def test_tree_with_garbage(tmp_path):
    write(str(tmp_path), ".go-version", "latest\n")
    with pytest.raises(KubedebugError) as exc:
        go_version_for_tree(str(tmp_path))
    assert "'latest'" in exc.value.msg and exc.value.details["path"].endswith(".go-version")


# ------------------------------------------------------------- properties

go_versions = st.one_of(
    st.builds(GoVersion, st.just(1), st.integers(0, 40), st.integers(0, 30)),
    st.builds(GoVersion, st.just(1), st.integers(0, 40)),
    st.builds(lambda mi, pre, n: GoVersion(1, mi, None, pre, n), st.integers(0, 40), st.sampled_from(["beta", "rc"]), st.integers(1, 5)),
)


@given(go_versions)
def test_roundtrip(v):
    assert GoVersion.parse(str(v)) == v
    assert GoVersion.parse("go" + str(v)) == v
    assert str(GoVersion.parse(str(v))) == str(v)


@given(go_versions, go_versions)
def test_order_is_total_and_consistent(a, b):
    assert (a < b) + (a == b) + (a > b) == 1
    if a == b:
        assert hash(a) == hash(b)
    assert (a < b) == (a._key() < b._key())


@given(go_versions, go_versions, go_versions)
def test_order_is_transitive(a, b, c):
    if a <= b and b <= c:
        assert a <= c


@given(go_versions)
def test_prereleases_come_before_the_release(v):
    if v.pre is not None:
        assert v < GoVersion(v.major, v.minor, 0)
        if v.minor:
            assert v > GoVersion(v.major, v.minor - 1, 99)


@given(st.text(max_size=20))
def test_parse_never_crashes(text):
    try:
        GoVersion.parse(text)
    except KubedebugError:
        pass


releases = st.lists(st.sampled_from([r[0] for r in DELVE_GO_SUPPORT] + ["1.7.3", "1.20.2", "1.22.1", "1.24.1", "1.26.3", "1.27.2", "1.21.0"]), min_size=1)


@given(st.integers(10, 30), releases)
def test_newest_delve_is_supported_and_newest(minor, rel):
    go = GoVersion(1, minor, 1)
    try:
        chosen = newest_delve_for_go(go, rel)
    except KubedebugError:
        for r in rel:
            try:
                assert not delve_supports(r, go)
            except KubedebugError:
                pass
        return
    assert delve_supports(chosen, go)
    for r in rel:
        if parse_delve_version(r) > parse_delve_version(chosen):
            try:
                assert not delve_supports(r, go)
            except KubedebugError:
                pass


# ---------------------------------------------------------------- the Go that builds dlv

_BUILD_MIN = {"1.26.3": "1.24", "1.27.2": "1.25.0", "1.25.2": "1.22.0"}


@pytest.mark.parametrize(
    "delve, target, builder, words",
    [
        # Go >= 1.25 writes DWARF 5: a dlv built by Go 1.24 cannot read it (go-delve/delve#3943)
        ("1.27.2", "1.26.10", "1.24.13", ["dlv built with Go 1.24.13 cannot debug programs built by Go 1.26.10", "Go >= 1.25.0",
                                          "delve_go_bin"]),
        ("1.25.2", "1.25.0", "1.24.13", ["DWARF 5"]),
        # the release's go.mod asks for more than the builder is; name a release it can build
        ("1.26.3", "1.24.13", "1.23.4", ["Delve 1.26.3 needs Go >= 1.24.0 to build", "Go 1.23.4", "or Delve 1.25.2 (delve_version)"]),
        ("1.26.3", "1.24.13", "1.19.8", ["Delve 1.26.3 needs Go >= 1.24.0 to build", "Set delve_go_bin to a Go >= 1.24.0"]),
    ],
)
def test_check_delve_build_refuses(delve, target, builder, words):
    from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import check_delve_build

    with pytest.raises(KubedebugError) as e:
        check_delve_build(delve, target, builder, _BUILD_MIN.get(delve), _BUILD_MIN)
    for w in words:
        assert w in str(e.value), str(e.value)


@pytest.mark.parametrize(
    "delve, target, builder",
    [("1.27.2", "1.26.10", "1.26.10"), ("1.27.2", "1.25.0", "1.25.0"), ("1.26.3", "1.24.13", "1.24.13"), ("1.20.2", "1.19.8", "1.19.8"),
     ("1.26.3", "1.24.13", "1.26.10")],
)
def test_check_delve_build_accepts(delve, target, builder):
    from ansible_collections.kubedebug.lab.plugins.module_utils._build.goversion import check_delve_build

    assert str(check_delve_build(delve, target, builder, _BUILD_MIN.get(delve), _BUILD_MIN)) == builder


@pytest.mark.parametrize("delve, dlv_go, program_go, words", [
    ("1.20.2", "1.19.8", "1.26.10", ["/x/dlv (Delve 1.20.2) cannot debug /b/kube-apiserver (built by Go 1.26.10)",
                                     "Delve 1.20.2 is too old for Go 1.26.10", "supports Go 1.26", "Nothing was stopped"]),
    ("1.27.2", "1.24.13", "1.26.10", ["cannot debug", "DWARF 5"]),
    ("1.27.2", None, "1.19.8", ["Go 1.19.8 is too old for Delve 1.27.2"]),
])
def test_dlv_that_cannot_debug_the_program_is_refused(delve, dlv_go, program_go, words):
    with pytest.raises(KubedebugError) as e:
        check_dlv_for_program("/x/dlv", delve, dlv_go, "/b/kube-apiserver", program_go)
    for w in words:
        assert w in str(e.value)
    assert e.value.details["program_go"] == program_go


@pytest.mark.parametrize("delve, dlv_go, program_go", [
    ("1.27.2", "1.26.10", "1.26.10"),
    ("1.20.2", "1.19.8", "1.19.8"),
    ("1.99.0", "1.30.0", "1.30.1"),  # a Delve newer than the table: dlv decides
    (None, "1.26.10", "1.26.10"),  # versions that could not be read: dlv decides
    ("1.27.2", "1.26.10", None),
])
def test_dlv_that_can_debug_or_is_unknown_passes(delve, dlv_go, program_go):
    assert check_dlv_for_program("/x/dlv", delve, dlv_go, "/b/x", program_go) is None


@pytest.mark.parametrize("text, want", [
    ("go version go1.26.10 linux/amd64", (1, 26, 10)), ("go1.22rc1", (1, 22, 0)), ("go version devel go1.23-abc linux/amd64", (1, 23, 0)),
    ("1.20.5+really1.20.2", (1, 20, 2)), ("v1.30.0-rc.1", (1, 30, 0)), ("devel", None), (None, None),
])
def test_go_version_tuple_is_tolerant(text, want):
    assert gv.go_version_tuple(text) == want


def test_dlv_version_output():
    assert gv.dlv_version_output("Delve Debugger\nVersion: v1.27.2\nBuild: $Id: 1b4d $\n") == (1, 27, 2)
    assert gv.dlv_version_output("Version: 1.20") is None
