"""The compiled S-expression reader (predictor/_sexp.c) against the Python reference reader.

Both must give the same values (same types: Symbol vs str, list vs Dotted vs tuple, int vs
float) and, on bad input, the same error: type, message and line, after the same data.
"""

from __future__ import annotations

import math
import random
import resource
import shutil
import string
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictor import sexp
from predictor.sexp import Dotted, SexpError, Symbol

pytestmark = pytest.mark.skipif(sexp._compiled is None, reason="predictor._sexp is not built")


def c_iter(text: str, start_line: int = 1):
    reader = sexp._compiled.reader(text, start_line)
    assert reader is not None
    return reader


def canon(value):
    """A comparable form of a datum: types explicit, floats by repr (so nan == nan, -0.0 != 0.0)."""
    kind = type(value)
    if kind is float:
        return ("float", repr(value))
    if kind is list or kind is tuple:
        return (kind.__name__, [canon(v) for v in value])
    if kind is Dotted:
        return ("dotted", [canon(v) for v in value.head], canon(value.tail))
    return (kind.__name__, value)


def outcome(iterate, text: str, start_line: int = 1):
    """Everything a reader does with TEXT: the (line, datum) pairs it yields, then its error."""
    data = []
    try:
        for line, datum in iterate(text, start_line):
            data.append((line, canon(datum)))
    except Exception as error:      # noqa: BLE001 - the exception itself is compared
        detail = (type(error).__name__, str(error), getattr(error, "line", None))
        return data, detail
    return data, None


def both(text: str, start_line: int = 1):
    """Assert both readers agree on TEXT; return the outcome."""
    compiled = outcome(c_iter, text, start_line)
    python = outcome(lambda t, s: sexp.py_iter_data(t, start_line=s), text, start_line)
    assert compiled == python, text
    return compiled


# -- every feature of the grammar -----------------------------------------------------------------

FEATURES = [
    "(a b c)", "(a . b)", "(a b . c)", "((a . 1) (b . 2))", "(a (b (c . d) . e) . f)", "[a b]", "[a . b]",
    "()", "[]", "#()", "#(1 2 (3) #(4))",
    '"plain"', '""', '"tab\\there \\"q\\" back\\\\slash"', '"\\x41;\\x42\\x3bb;\\x1F600;"', '"\\a\\0\\b\\f\\v\\r\\n"',
    '"line\\\ncontinued"', '"multi\nline\nstring" x', '"é ✓ 😀"', '"\\xa0a"', '"\\x001"',
    "(1 -2 +3 007 -0 3.5 -1e3 .5 5. 1E+2 +.5 -0.0 123456789012345678 1234567890123456789012345)",
    "(1/4 -3/2 +inf.0 -inf.0 +nan.0 -nan.0)", "(1+ +a -a .a ..a 1.2.3 1e 1e+ +. -)",
    "(#t #f #true #false)", "(#\\a #\\space #\\newline #\\tab #\\nul #\\x41 #\\SPACE #\\λ)",
    "(#:key #:other-key #:)", "|a b|", "(|x| |y z|)", "'x", "`(a ,b ,@c)", "''x", "(a 'b `(c ,d ,@e))",
    "(a ; comment\n b #| block\n comment |# c #;(skipped datum) d)", "#;a b", "#; #; a b c", "(#;a)",
    "#|a|##|b|#x", "#||# y", "; only a comment", "", "   \n\t  \n", "(a\r\nb)\r\n",
    "(deployment (id \"dep-1\") (metadata ((region . \"eu\") (change-size . 120) (flag . #t))) (parent-id #f))",
    "(a\u00a0b\u2028c\u3000d)", "(a\x1cb\x1fc)", "(x,y a`b)", "(a'b)", "(é . ü) (ü é)", "(٣ x) ٣ ٣.٥",
    "(n . #t)", "(n #f)", "(n #true)", "(n . .5)", "(n 1/2)", "(|a b|)", "(a  b)", "(a b  )",
    # Guile 3's string escapes: \xHH (no ';'), \uHHHH, \UHHHHHH, \( \|
    '"\\x01;a"', '(k "\\x01;a")', '(k . "\\x00\\x7f\\x9f\\xa0")', '"\\u00e9\\u2028\\U01F600\\U10ffff\\U0e0001"', '"\\(\\|"',
    '"\\x110000;"', '"\\u12345"', '"\\U0000411"', '"\\xAB\\xab\\uFFFF"',
    # characters as Guile writes them: punctuation, names, octal
    "(#\\( #\\) #\\; #\\\" #\\# #\\| #\\\\ #\\' #\\` #\\, #\\[ #\\] #\\{ #\\} #\\. #\\@)", "#\\(", "(#\\))", "#\\(a", "#\\a(b)",
    "(#\\nul #\\soh #\\vtab #\\page #\\esc #\\us #\\delete #\\DEL #\\nl #\\np #\\sp #\\Alarm)",
    "(#\\200 #\\237 #\\240 #\\20050 #\\4177777 #\\00 #\\0 #\\7 #\\x10FFFF #\\x000000000041 #\\x #\\😀)",
    # #{...}# symbols and keywords
    "#{a b}# #{a\\x28;b}# #{}# #{1/2}# #{a\\x1;;b}# #{a\\x1d173;;}# #:#{a b}# #{a}#x #{a}}#", "(#{x y}# . #{z}#)",
    "(k #{a b}#)", "#{multi\nline}# after\n(x)", "#{a\\}#b}# #{a\\nb}#", "#{#t}# #{a;b}# #{a\"b}# #{\u00a0}#",
    # 1/0 and friends are symbols in Guile; a quote mark inside an atom is part of it; |a| is |a|
    "1/0", "(a 1/0)", "(-1/0 +1/0 0/0 1/00 0/5)", "(a'b a' 'b ''c)", "(|x| |y z|)",
]

ERRORS = [
    "(a\n (b)", "(a))", ")", "]", '(a\n "abc)', '"abc\\', "(a\n . )", "(. a)", "(a b . c d)", "(a . . b)",
    "(a . b . c)", ". a", "'.", "#(a . b)", "\n\n#<procedure>", "#x", "#", "(a #| never closed", "#|",
    "(a\n\n ]", "[a)", "#(a]", "'(a ')", "(a ']", '"bad \\q escape"', '"\\x"', '"\\x110000;"',
    '"\\xFFFFFFFFFFFFFFFFFFFFF;"', '"\\xd800;"', '(k "bad \\q")', "(a #;)", "(#;) (a b)", "'#;a b", "#;",
    "#\\unknown", "#\\", "(a b", "'", "`(", "(((", "#;(a", "(a) (b",
    '"\\x1"', '"\\x1g"', '"\\xzz"', '"\\u00e"', '"\\U01F60"', '"\\ud800"', '"\\UDFFF"', '"\\U110000"', '"\\UFFFFFF"',
    '(k "\\u12")', '"ok"\n"\\x"', '"\\\'"', '"\\ "', "#\\xd800", "#\\x110000", "#\\4200000", "#\\154000", "#\\18",
    "#\\xffffffffffffffffffffff", "#\\X41", "#\\ab(c", "(#\\)", "#{a\\x1}#", "#{a\\x;b}#", "#{a\\xd800;b}#",
    "#{a\\x110000;}#", "(a\n #{never closed", "#{a}", "#:#{", "#:#{a", "x #{a\\",
]


@pytest.mark.parametrize("text", FEATURES)
def test_features_read_alike(text):
    data, error = both(text)
    assert error is None, error


@pytest.mark.parametrize("text", ERRORS)
def test_errors_read_alike(text):
    both(text)


def test_values_of_features():
    assert sexp.read('"\\x41;\\x42\\x3bb;"') == "A;B;b;"               # \xHH: 2 digits, no terminator
    assert sexp.read('"\\x01;a"') == "\x01;a" and sexp.read('(k "\\x01;a")') == [Symbol("k"), "\x01;a"]
    assert sexp.read('"\\u00e9\\U01F600\\u12345\\(\\|"') == "é😀\u12345(|"
    assert sexp.read("(#\\( #\\) #\\; #\\soh #\\DEL #\\200 #\\20050 #\\x41 #\\x)") == [
        "(", ")", ";", "\x01", "\x7f", "\x80", "\u2028", "A", "x"]
    assert sexp.read_all("#{a b}# #{a\\x28;b}# #{a\\x1;;b}# #{a\\}#b}# #:#{k w}# #{}#") == [
        "a b", "a(b", "a\x01;b", "a}#b", "#:k w", ""]
    assert all(type(s) is Symbol for s in sexp.read_all("#{a b}# 1/0 a'b |x|"))
    assert sexp.read_all("1/0 (a 1/0) a'b |x| 0/0") == ["1/0", ["a", "1/0"], "a'b", "|x|", "0/0"]
    assert list(sexp.iter_data("#{a\nb}# c\n#\\(")) == [(1, "a\nb"), (2, "c"), (3, "(")]
    assert sexp.read("(a (b (c . d) . e) . f)") == Dotted([Symbol("a"), Dotted([Symbol("b"), Dotted(
        [Symbol("c")], Symbol("d"))], Symbol("e"))], Symbol("f"))
    values = sexp.read("(1/4 +inf.0 -inf.0 +nan.0 123456789012345678901 -0.0)")
    assert values[0] == 0.25 and values[1] == math.inf and values[2] == -math.inf and math.isnan(values[3])
    assert values[4] == 123456789012345678901 and type(values[4]) is int
    assert math.copysign(1, values[5]) == -1
    assert sexp.read("(#\\a #\\space #\\x41 #:kw)") == ["a", " ", "A", Symbol("#:kw")]
    assert type(sexp.read("#:kw")) is Symbol and type(sexp.read("x")) is Symbol and type(sexp.read('"x"')) is str
    assert sexp.read("#(1 (2 . 3))") == (1, Dotted([2], 3))
    assert list(sexp.iter_data("#| a\nb |# x\n#;(y\n) z", start_line=5)) == [(6, Symbol("x")), (8, Symbol("z"))]


def test_error_wording_and_lines():
    cases = {
        "(a\n (b)": (2, "end of input inside the list opened on line 1 (1 unclosed)"),
        "(a\n\n ]": (3, "']' closes the '(' opened on line 1"),
        "'(a ')": (1, "unexpected ')' after a quote on line 1"),
        "\n)": (2, "unexpected ')' with no list open"),
        '"\\x1"': (1, "bad escape \\x1 in string: \\x takes 2 hex digits"),
        '\n"\\U01F60"': (2, "bad escape \\U01F60 in string: \\U takes 6 hex digits"),
        '"\\ud800"': (1, "bad escape \\ud800 in string: not a character (a surrogate or beyond #x10FFFF)"),
        '"\\U110000"': (1, "bad escape \\U110000 in string: not a character (a surrogate or beyond #x10FFFF)"),
        "#\\xd800": (1, "character #\\xd800 is a surrogate or beyond #x10FFFF"),
        "#\\4200000": (1, "character #\\4200000 is a surrogate or beyond #x10FFFF"),
        "x\n#{a\\x1}#": (2, "bad escape \\x1 in symbol #{a\\x1}#"),
        "(a\n #{never\nclosed": (2, "unterminated #{...}# symbol"),
        "(a #;)": (1, "#; with no datum after it"),
        "(a . . b)": (1, "misplaced dot"),
        "(#\\ )": (1, "unknown character #\\"),
        "(#\\)": (1, "end of input inside the list opened on line 1 (1 unclosed)"),
    }
    for text, (line, message) in cases.items():
        with pytest.raises(SexpError) as caught:
            list(c_iter(text))
        assert (caught.value.line, caught.value.detail) == (line, message), text


def test_data_before_an_error_are_yielded_first():
    reader = sexp.iter_data("(a)\n(b)\n(c")
    assert next(reader) == (1, [Symbol("a")]) and next(reader) == (2, [Symbol("b")])
    with pytest.raises(SexpError):
        next(reader)
    assert next(reader, None) is None                 # finished, as a generator is after raising


def test_very_deep_nesting_does_not_crash():
    depth = 200_000
    for text in ["(" * depth + "x" + ")" * depth, "#(" * depth + "x" + ")" * depth, "'" * depth + "x",
                 "(a . " * depth + "b" + ")" * depth]:
        datum = sexp.read(text)
        levels = 0
        while isinstance(datum, (list, tuple, Dotted)) and levels <= depth:
            datum = datum.tail if type(datum) is Dotted else datum[-1]
            levels += 1
        assert levels == depth
    with pytest.raises(SexpError, match=f"{depth} unclosed"):
        sexp.read("(" * depth)


def test_start_line_and_lone_surrogates_fall_back():
    assert list(sexp.iter_data("x\ny", start_line=10)) == [(10, "x"), (11, "y")]
    assert sexp._compiled.reader("(a \ud800)", 1) is None          # not UTF-8: the Python reader reads it
    assert sexp.read("(a \ud800)") == [Symbol("a"), Symbol("\ud800")]


# -- generated data, written as Guile writes it -------------------------------------------------------

_SYMBOL = st.from_regex(r"[a-z!$%&*/<=>?^_~][a-z0-9!$%&*/<=>?^_~+.@'|-]{0,10}", fullmatch=True)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=16)
# text that needs Guile's #{...}# symbol syntax: spaces, parentheses, '}#', controls, astral
_ODD_SYMBOL = st.text(alphabet=st.sampled_from(list("ab ()[]{}#;\"'|\\\n\x01\x7f.1/é") + ["\U0001F600", "\u2028"]),
                      max_size=8)
_CHARS = ["a", "Z", "0", "space", "newline", "tab", "nul", "x3bb", "λ", "(", ")", ";", '"', "#", "|", "\\", "'", "`",
          ",", "[", "]", "{", "}", ".", "@", "soh", "vtab", "page", "esc", "us", "delete", "DEL", "200", "240", "20050",
          "4177777", "x10FFFF", "\U0001F600"]
_FLOATS = st.floats(allow_nan=True, allow_infinity=True)
_ATOMS = st.one_of(
    _SYMBOL.map(lambda s: ("symbol", s)), _TEXT.map(lambda s: ("string", s)),
    st.integers(-10**30, 10**30).map(lambda i: ("int", i)), _FLOATS.map(lambda f: ("float", f)),
    st.booleans().map(lambda b: ("bool", b)), _SYMBOL.map(lambda s: ("keyword", s)),
    st.sampled_from(_CHARS).map(lambda c: ("char", c)),
    st.tuples(st.integers(-99, 99), st.integers(0, 99)).map(lambda r: ("ratio", r)),
    _ODD_SYMBOL.map(lambda s: ("xsymbol", s)), _ODD_SYMBOL.map(lambda s: ("xkeyword", s)),
)
_TREES = st.recursive(_ATOMS, lambda inner: st.one_of(
    st.lists(inner, max_size=5).map(lambda xs: ("list", xs)),
    st.lists(inner, max_size=4).map(lambda xs: ("vector", xs)),
    st.tuples(st.lists(inner, min_size=1, max_size=3), inner).map(lambda ht: ("dotted", ht)),
    st.tuples(st.sampled_from(["'", "`", ",", ",@"]), inner).map(lambda q: ("quote", q)),
), max_leaves=30)

_GUILE_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a", "\v": "\\v", "\f": "\\f", "\b": "\\b",
                '"': '\\"', "\\": "\\\\"}


def guile_string(text: str, rng: random.Random) -> str:
    """TEXT written as Guile 3's `write` does: escapes for quotes, backslash and the named
    controls; other non-printable characters as \\xHH, \\uHHHH, \\UHHHHHH (exactly 2, 4, 6
    hex digits, no terminator: "\\x01;a" is U+0001 ';' 'a')."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _GUILE_NAMED:
            out.append(_GUILE_NAMED[ch])
        elif not ch.isprintable() or rng.random() < 0.05:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:06x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def guile_symbol(name: str, rng: random.Random) -> str:
    """NAME in Guile's #{...}# syntax: '}' and '\\' (and now and then any character) as \\xH...;,
    other characters as they are, newlines included."""
    out = []
    for ch in name:
        if ch in "}\\" or not ch.isprintable() and ch != "\n" or rng.random() < 0.1:
            out.append(f"\\x{ord(ch):x};")
        else:
            out.append(ch)
    return "#{" + "".join(out) + "}#"


def guile_float(value: float) -> str:
    if math.isnan(value):
        return "+nan.0"
    if math.isinf(value):
        return "+inf.0" if value > 0 else "-inf.0"
    return repr(value)


def write(tree, rng: random.Random, indent: int = 0) -> str:
    """TREE as text, laid out now on one line, now pretty-printed, with comments here and there."""
    kind, value = tree
    if kind == "symbol":
        return value
    if kind == "keyword":
        return "#:" + value
    if kind == "xsymbol":
        return guile_symbol(value, rng)
    if kind == "xkeyword":
        return "#:" + guile_symbol(value, rng)
    if kind == "string":
        return guile_string(value, rng)
    if kind == "int":
        return str(value)
    if kind == "float":
        return guile_float(value)
    if kind == "bool":
        return "#t" if value else "#f"
    if kind == "char":
        return "#\\" + value
    if kind == "ratio":
        return f"{value[0]}/{value[1]}"
    if kind == "quote":
        return value[0] + write(value[1], rng, indent)
    sep = rng.choice([" ", " ", "\n" + " " * (indent + 2), " ; note\n" + " " * indent, " #| c |# ", " #;skipped "])
    if kind == "dotted":
        head, tail = value
        body = sep.join(write(v, rng, indent + 2) for v in head) + " . " + write(tail, rng, indent + 2)
        return "(" + body + ")"
    return ("#(" if kind == "vector" else "(") + sep.join(write(v, rng, indent + 2) for v in value) + ")"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TREES, min_size=1, max_size=4), st.integers(0, 2**32))
def test_generated_data_read_alike(trees, seed):
    rng = random.Random(seed)
    text = "\n".join(write(tree, rng) for tree in trees) + rng.choice(["", "\n"])
    data, error = both(text)
    assert error is None, error
    assert len(data) == len(trees)


_MUTATIONS = list("()[]\"';#|.\\ \n`,@x1") + ["#;", "#|", "|#", "#(", "#\\", ". ", "\\x", '"', "(a", ")"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TREES, min_size=1, max_size=3), st.integers(0, 2**32), st.integers(1, 4))
def test_mutated_and_truncated_data_read_alike(trees, seed, edits):
    rng = random.Random(seed)
    text = "\n".join(write(tree, rng) for tree in trees)
    for _ in range(edits):
        at = rng.randrange(len(text) + 1)
        action = rng.randrange(4)
        if action == 0:
            text = text[:at] + rng.choice(_MUTATIONS) + text[at:]
        elif action == 1:
            text = text[:at] + text[at + rng.randrange(1, 4):]
        elif action == 2:
            text = text[:at]                                  # truncated
        else:
            text = text[:at] + rng.choice(_MUTATIONS) + text[at + 1:]
    both(text, start_line=rng.choice([1, 1, 7]))


@settings(max_examples=800, deadline=None)
@given(st.text(alphabet="()[]\"';#|.\\ \n\t`,@ax1:/+-eé\u00a0tf", max_size=40))
def test_garbage_reads_alike(text):
    both(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_reads_alike(text):
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return                                            # not UTF-8: the Python reader alone reads it
    both(text)


def test_the_export_shape_reads_alike():
    rng = random.Random(3)
    entries = []
    for i in range(500):
        entries.append(
            f'(deployment\n  (id "dep-{i:07d}")\n  (service "svc-{i % 40:02d}")\n  (version "{i % 9}.{i % 17}.{i % 5}")\n'
            f'  (environment {rng.choice(["production", "staging"])})\n  (type canary)\n'
            f'  (started "2024-01-01T00:00:{i % 60:02d}Z")\n  (status success)\n  (initiator "user{i % 13}")\n'
            f'  (metadata ((region . "eu") (change-size . {rng.randrange(2000)}) (note . "a \\"b\\"\\n") '
            f'(sizes . #(1 2)) (nested (x . 1.5) (y . #f))))\n  (parent-id #f))\n')
    text = "(deploy-ledger-export (version 1))\n" + "".join(entries)
    data, error = both(text)
    assert error is None and len(data) == 501 and data[-1][0] == 1 + 499 * 11 + 1


def test_reading_again_and_again_does_not_grow_memory():
    """A leak check: read a large text many times; the resident size must settle."""
    text = "".join(f'(deployment (id "dep-{i}") (metadata ((region . "eu") (n . {i}) (f . 1.5) (k . #:x))) '
                   f'(v . #(1 2 "s\\n")) \'q (a . b))\n' for i in range(20_000))
    text += "(unclosed"
    def rss_kb() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(3):
        with pytest.raises(SexpError):
            list(sexp.iter_data(text))
    before = rss_kb()
    for _ in range(20):
        with pytest.raises(SexpError):
            list(sexp.iter_data(text))
    assert rss_kb() - before < 20_000                    # kB; a leak of one object per datum is far more


def _plain_alist_reference(datum):
    """plain_alist as it was: check every entry, then to_plain (the one-pass form must equal it)."""
    if datum == [] or datum is False or datum is None:
        return {}
    if type(datum) is not list:
        raise ValueError(f"not a list of (key . value) entries but {sexp.to_text(datum)}")
    for position, entry in enumerate(datum, start=1):
        kind = type(entry)
        ok = isinstance(entry.head[0], str) if kind is Dotted else (
            kind is list and len(entry) >= 1 and type(entry[0]) is Symbol)
        if not ok:
            raise ValueError(f"entry {position} is not a (key . value) pair with a symbol or string key: "
                             f"{sexp.to_text(entry)}")
    return sexp.to_plain(datum)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.tuples(st.sampled_from(["a", "b", "c", "change-size"]), _TREES),
                          _TREES.map(lambda t: (None, t))), max_size=5), st.integers(0, 2**32))
def test_plain_alist_is_check_then_to_plain(entries, seed):
    rng = random.Random(seed)
    parts = []
    for key, tree in entries:
        value = write(tree, rng)
        parts.append(value if key is None else rng.choice([f"({key} . {value})", f"({key} {value})",
                                                          f'("{key}" . {value})']))
    datum = sexp.read("(" + " ".join(parts) + ")")
    try:
        expected = ("ok", _plain_alist_reference(datum))
    except ValueError as error:
        expected = ("error", str(error))
    try:
        got = ("ok", sexp.plain_alist(datum))
    except ValueError as error:
        got = ("error", str(error))
    assert repr(got) == repr(expected)


def test_dotted_made_by_the_reader_is_what_the_class_makes():
    """_sexp.c builds a Dotted as __new__ plus the head and tail slots (not through __init__)."""
    assert Dotted.__slots__ == ("head", "tail")
    made = sexp.read('(a b . "c")')
    by_class = Dotted([Symbol("a"), Symbol("b")], "c")
    assert type(made) is Dotted and made == by_class and hash(made) == hash(by_class)
    assert {name: getattr(made, name) for name in Dotted.__slots__} == {"head": by_class.head, "tail": "c"}
    assert not hasattr(made, "__dict__")


# What Guile's `read` gives, dumped by Guile in a form that needs none of the syntax under test:
# strings, symbols and keywords as lists of code points, floats as the text of number->string.
_GUILE_DUMP = """
(define (codes s) (map char->integer (string->list s)))
(define (dump x)
  (cond ((string? x) (cons 'str (codes x)))
        ((symbol? x) (cons 'sym (codes (symbol->string x))))
        ((keyword? x) (cons 'kw (codes (symbol->string (keyword->symbol x)))))
        ((char? x) (list 'chr (char->integer x)))
        ((boolean? x) (list 'bool (if x 1 0)))
        ((and (number? x) (exact? x) (integer? x)) (list 'int x))
        ((and (number? x) (exact? x) (rational? x)) (list 'ratio (numerator x) (denominator x)))
        ((and (number? x) (real? x)) (list 'float (number->string x)))
        ((vector? x) (cons 'vec (map dump (vector->list x))))
        ((null? x) (list 'list))
        ((pair? x) (let loop ((p x) (items '()))
                     (cond ((pair? p) (loop (cdr p) (cons (dump (car p)) items)))
                           ((null? p) (cons 'list (reverse items)))
                           (else (list 'dotted (reverse items) (dump p))))))
        (else (list 'other))))
"""


def _undump(dumped):
    """The Python value the readers should give for a datum Guile dumped with _GUILE_DUMP."""
    kind, rest = str(dumped[0]), dumped[1:]
    if kind == "str":
        return "".join(map(chr, rest))
    if kind == "sym":
        return Symbol("".join(map(chr, rest)))
    if kind == "kw":
        return Symbol("#:" + "".join(map(chr, rest)))
    if kind == "chr":
        return chr(rest[0])
    if kind == "bool":
        return rest[0] == 1
    if kind == "int":
        return rest[0]
    if kind == "ratio":
        return rest[0] / rest[1]
    if kind == "float":
        return {"+nan.0": math.nan, "-nan.0": math.nan, "+inf.0": math.inf, "-inf.0": -math.inf}.get(
            rest[0]) or float(rest[0])
    if kind == "vec":
        return tuple(_undump(item) for item in rest)
    if kind == "list":
        return [_undump(item) for item in rest]
    if kind == "dotted":
        return Dotted([_undump(item) for item in rest[0]], _undump(rest[1]))
    raise AssertionError(f"Guile read something the harness does not know: {dumped}")


def _guile_round_trip(tmp_path, data: list[str]) -> tuple[str, list]:
    """Guile reads DATA (texts) and writes each datum back (`write` and `pretty-print` in turn);
    return its output and, for each datum, what Guile's `read` gives back on what it wrote (as
    _undump makes it; not always the datum written: Guile writes the symbol "\\\xa0" as
    #{\\\xa0}#, which it reads as "\xa0")."""
    source, dumps = tmp_path / "data.scm", tmp_path / "dump.scm"
    source.write_text("\n".join(data) + "\n")
    program = (f"(use-modules (ice-9 pretty-print)) {_GUILE_DUMP} "
               f'(call-with-output-file "{dumps}" (lambda (out) (call-with-input-file "{source}" (lambda (port) '
               "(let loop ((datum (read port)) (n 0)) (unless (eof-object? datum) "
               "(let ((text (call-with-output-string (lambda (port) "
               "(if (even? n) (write datum port) (pretty-print datum port)))))) (display text) (newline) "
               "(write (dump (read (open-input-string text))) out) (newline out)) "
               "(loop (read port) (+ n 1))))))))")
    output = subprocess.run(["guile", "-c", program], capture_output=True, text=True, check=True, timeout=120).stdout
    return output, [_undump(dumped) for dumped in sexp.read_all(dumps.read_text())]


def _same_as_guile(tmp_path, data: list[str]) -> str:
    """Both readers read what Guile writes of DATA to the values Guile's own `read` gave."""
    output, expected = _guile_round_trip(tmp_path, data)
    assert len(expected) == len(data)
    read, error = both(output)
    assert error is None, error
    assert [value for _, value in read] == [canon(value) for value in expected]
    return output


def test_what_guile_itself_writes_reads_as_guile_reads_it(tmp_path):
    """Random data read and written back by Guile (`write` and `pretty-print`): both readers
    read its output, whole and line by line alike, to exactly what Guile's `read` gave --
    strings with controls (a ';' after a \\x01 escape), DEL, astral and non-printable
    characters, symbols with spaces and parentheses (#{a b}#), punctuation characters."""
    if shutil.which("guile") is None:
        pytest.fail("guile is not installed (scripts/setup installs guile-3.0)")
    rng = random.Random(5)
    chars = (string.ascii_letters + string.digits + ' \n\t"\\;#|()\x01\x1b\x1f\x7f\x80\x9f\xadé✓λ\u2028\xa0\ufeff\ue000'
             "\U0001F600\U0010FFFF\U000E0001\U0001D173")
    data = [write(_random_tree(rng, chars, 3), random.Random(rng.random())) for _ in range(300)]
    output = _same_as_guile(tmp_path, data)
    for line in output.splitlines():
        both(line)


@pytest.mark.parametrize("case", ["strings", "symbols", "chars", "numbers"])
def test_each_fix_against_guile(tmp_path, case):
    """Direct cases, Guile-written, for each reading fixed to follow Guile: \\x01 then ';',
    \\u and \\U escapes; #{...}# symbols; #\\( and other punctuation, named and octal
    characters; 1/0 (a symbol)."""
    if shutil.which("guile") is None:
        pytest.fail("guile is not installed (scripts/setup installs guile-3.0)")
    data = {
        "strings": ['"\\x01;a"', '"\\x01\\x3b\\x61"', '"\\x00\\x07\\x1b\\x1f\\x7f\\x80\\x9f\\xa0\\xad"', '"\\u2028\\ufeff\\ue000"',
                    '"\\U01F600\\U10ffff\\U0e0001\\U01d173"', '"\\(\\|"', '"a\\\n  b"', '(k "\\x01;")'],
        "symbols": ["#{a b}#", "#{a(b}#", "#{}#", "#{1/2}#", "#{a\\x1;;b}#", "#{a\\x7d;#b}#", "#{x\ny}#", "#{#t}#",
                    "#{a;b}#", "#{a\"b}#", "a'b", "|x|", "|a", "a|b", "#:#{a b}#", "(#{a b}# . #{c d}#)", "#{\\x80;}#"],
        "chars": ["#\\(", "#\\)", "(#\\( #\\))", "#\\;", "#\\\"", "#\\#", "#\\|", "#\\\\", "#\\'", "#\\[", "#\\]", "#\\{",
                  "#\\}", "#\\.", "#\\x1", "#\\x7f", "#\\x80", "#\\xa0", "#\\x2028", "#\\x10FFFF", "#\\x1F600", "#\\x1b"],
        "numbers": ["1/0", "(a 1/0)", "-1/0", "0/0", "1/4", "(1/0 . 1/0)"],
    }[case]
    _same_as_guile(tmp_path, data)


def _random_tree(rng: random.Random, chars: str, depth: int):
    """A random tree for the Guile round trip (plain random, so Guile can run once for all)."""
    choice = rng.randrange(12 if depth > 0 else 9)
    if choice == 0:
        return ("symbol", rng.choice(["a", "deploy", "x-y", "é", "a.b", "+", "...", "x1", "a'b", "|x|", "a|b"]))
    if choice == 1:
        return ("string", "".join(rng.choice(chars) for _ in range(rng.randrange(8))))
    if choice == 2:
        return ("int", rng.choice([0, -1, 7, 10**20, -(10**19)]))
    if choice == 3:
        return ("float", rng.choice([1.5, -0.25, 1e20, 1e-7, float("inf"), float("nan"), -0.0]))
    if choice == 4:
        return ("bool", rng.random() < 0.5)
    if choice == 5:
        return ("char", rng.choice(_CHARS))
    if choice == 6:
        return ("keyword", rng.choice(["k", "name"]))
    if choice == 7:
        name = "".join(rng.choice(chars + "{}") for _ in range(rng.randrange(6)))
        return (rng.choice(["xsymbol", "xsymbol", "xkeyword"]), name)
    if choice == 8:
        return ("ratio", (rng.choice([1, -1, 0, 3]), rng.choice([0, 1, 4])))
    if choice == 9:
        return ("list", [_random_tree(rng, chars, depth - 1) for _ in range(rng.randrange(4))])
    if choice == 10:
        return ("vector", [_random_tree(rng, chars, depth - 1) for _ in range(rng.randrange(3))])
    return ("dotted", ([_random_tree(rng, chars, depth - 1) for _ in range(rng.randrange(1, 3))],
                       _random_tree(rng, chars, depth - 1)))
