"""The S-expression reader: values, layout, and errors with the line they happen on."""

from __future__ import annotations

import math
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictor import sexp
from predictor.sexp import Dotted, SexpError, Symbol


@pytest.mark.parametrize("text, expected", [
    ("(a b c)", [Symbol("a"), Symbol("b"), Symbol("c")]),
    ("(a . b)", Dotted([Symbol("a")], Symbol("b"))),
    ("(a b . c)", Dotted([Symbol("a"), Symbol("b")], Symbol("c"))),
    ('"tab\\there \\"quoted\\" back\\\\slash \\x41;"', 'tab\there "quoted" back\\slash A;'),  # \xHH: Guile 3
    ('"\\x01;a \\u00e9 \\U01F600"', "\x01;a \u00e9 \U0001F600"),
    ("(#{a b}# #\\( 1/0)", [Symbol("a b"), "(", Symbol("1/0")]),
    ("(1 -2 3.5 -1e3 .5 +7 1/4)", [1, -2, 3.5, -1000.0, 0.5, 7, 0.25]),
    ("(#t #f #true #false)", [True, False, True, False]),
    ("#(1 2 (3))", (1, 2, [3])),
    ("'x", [Symbol("quote"), Symbol("x")]),
    ("(a 'b `(c ,d ,@e))", [Symbol("a"), [Symbol("quote"), Symbol("b")],
                            [Symbol("quasiquote"), [Symbol("c"), [Symbol("unquote"), Symbol("d")],
                                                    [Symbol("unquote-splicing"), Symbol("e")]]]]),
    ("(a ; comment\n b #| block\n comment |# c #;(skipped datum) d)", [Symbol(s) for s in "abcd"]),
    ("(#\\a #\\space #:key)", ["a", " ", Symbol("#:key")]),
    ("[a b]", [Symbol("a"), Symbol("b")]),
    ("()", []),
    ('"multi\nline"', "multi\nline"),
])
def test_reads_values(text, expected):
    assert sexp.read(text) == expected


def test_symbols_and_strings_are_distinct_types():
    datum = sexp.read('(production "production")')
    assert type(datum[0]) is Symbol and type(datum[1]) is str
    assert datum[0] == datum[1] == "production"


def test_special_floats():
    values = sexp.read("(+inf.0 -inf.0 +nan.0)")
    assert values[0] == math.inf and values[1] == -math.inf and math.isnan(values[2])


def test_top_level_lines_are_where_each_datum_starts():
    text = '(header)\n; note\n(one\n  "two\nlines")\n\n(three)\n'
    assert [(line, datum[0]) for line, datum in sexp.iter_data(text)] == [(1, "header"), (3, "one"), (7, "three")]


def test_alist_to_dict_and_to_plain():
    datum = sexp.read('((region . "eu") (change-size . 120) (config . ((replicas . 3))) (hosts "a" "b"))')
    assert sexp.alist_to_dict(datum)["change-size"] == 120
    assert sexp.to_plain(datum[:3]) == {"region": "eu", "change-size": 120, "config": {"replicas": 3}}


@pytest.mark.parametrize("text, line, message", [
    ("(a\n (b)", 2, "end of input inside the list opened on line 1"),
    ("(a))", 1, "unexpected ')'"),
    ('(a\n "abc)', 2, "unterminated string"),
    ("(a\n . )", 2, "a dot with nothing after it"),
    ("(. a)", 1, "misplaced dot"),
    ("(a b . c d)", 1, "misplaced dot"),
    ("\n\n#<procedure>", 3, "unknown # syntax"),
    ("(a #| never closed", 1, "unterminated #| block comment"),
    ("(a\n\n ]", 3, "']' closes the '(' opened on line 1"),
    ('"bad \\q escape"', 1, "unknown escape"),
    ("(a #;)", 1, "#; with no datum after it"),
])
def test_errors_name_the_line(text, line, message):
    with pytest.raises(SexpError) as caught:
        sexp.read_all(text)
    assert caught.value.line == line
    assert message in str(caught.value)


def test_reads_what_guile_writes():
    """Guile's own `write` and `pretty-print` output reads back to the same structure."""
    program = ("(use-modules (ice-9 pretty-print)) "
               "(pretty-print '(deployment (id \"dep-1\") (environment production) (metadata ((region . \"eu\") "
               "(note . \"say \\\"hi\\\"\\n\") (sizes . #(1 2 3)) (ok . #t))) (parent-id #f)))")
    output = subprocess.run(["guile", "-c", program], capture_output=True, text=True, check=True, timeout=60).stdout
    datum = sexp.read(output)
    metadata = sexp.to_plain(datum[3][1])
    assert metadata == {"region": "eu", "note": 'say "hi"\n', "sizes": [1, 2, 3], "ok": True}
    assert datum[2] == [Symbol("environment"), Symbol("production")] and datum[4][1] is False


_atoms = st.one_of(
    st.integers(-10**12, 10**12),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.from_regex(r"[a-z][a-z0-9\-]{0,8}", fullmatch=True).map(Symbol),
    st.booleans(),
)
_data = st.recursive(_atoms, lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=3).map(tuple)),
                     max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(_data)
def test_write_then_read_round_trips(value):
    assert sexp.read(sexp.to_text(value)) == value
