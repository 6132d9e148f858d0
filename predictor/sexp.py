"""A reader for the S-expressions deploy-ledger writes (Guile ``write`` / ``pretty-print``).

A real reader: a lexer (one compiled pattern, one pass) and a parser over its tokens with an
explicit stack (so deep nesting cannot overflow Python's recursion limit). It reads

* lists ``(a b c)``, dotted pairs and improper lists ``(a . b)``, ``(a b . c)``;
* strings with the escapes of Guile 3's default reader (what its ``write`` produces):
  ``\\" \\\\ \\| \\( \\a \\b \\t \\n \\v \\f \\r \\0``, a backslash-newline (dropped), and
  ``\\xHH`` ``\\uHHHH`` ``\\UHHHHHH`` with exactly 2, 4, 6 hex digits and no terminator (so
  ``"\\x01;a"`` is the three characters U+0001 ``;`` ``a``); other escapes, too few hex digits,
  surrogates and code points beyond #x10FFFF are errors;
* symbols (``a'b`` and ``|a|`` are symbols of those characters, as in Guile 3), including
  Guile's extended syntax ``#{a b}#`` (any characters up to ``}#``;
  inside it ``\\xH...;`` is a hex code point and a backslash before any other character
  stands for that character), integers, floats (``1.5``, ``-2e3``, ``+inf.0``, ``+nan.0``),
  rationals as floats (``1/0``, ``0/0`` are symbols, as Guile reads them);
* booleans ``#t #f #true #false``; characters: ``#\\a``, ``#\\(`` (one delimiter ``()[]";``
  alone, or any other characters up to a delimiter), the names Guile writes and reads (``#\\space #\\nul #\\soh ... #\\us
  #\\delete`` and their aliases, any case), ``#\\xHH...`` (hex) and ``#\\200`` (octal, two or
  more digits, as Guile writes non-graphic characters); vectors ``#(1 2 3)``; keywords
  ``#:name`` and ``#:#{odd name}#`` (read as the symbols ``#:name``, ``#:odd name``);
* ``'x`` ``\\`x`` ``,x`` ``,@x`` (read as ``(quote x)`` etc.);
* comments: ``; to end of line``, ``#| block |#``, ``#;`` datum comments.

Python values: a list is a ``list``; a dotted pair or improper list is a :class:`Dotted`
(``head`` items and a ``tail``); a symbol is a :class:`Symbol` (a ``str`` subclass, so
``Symbol("canary") == "canary"``); a string is a plain ``str``; a vector is a ``tuple``;
``#t``/``#f`` are ``True``/``False``.

Errors raise :class:`SexpError` with the 1-based line of the offending token.

The compiled reader ``predictor/_sexp.c`` reads the same grammar to the same values and errors
about ten times faster; :func:`iter_data` (and so :func:`read`, :func:`read_all`) uses it when it
is built. This module's reader, :func:`py_iter_data`, is the reference and the fallback.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

__all__ = [
    "Symbol", "Dotted", "SexpError", "read", "read_all", "iter_data", "alist_to_dict", "alist_entry",
    "plain_alist", "to_plain", "py_iter_data",
]


class Symbol(str):
    """A Scheme symbol (compares equal to its name)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class Dotted:
    """An improper list: ``(h1 h2 ... . tail)``; ``(a . b)`` has ``head == [a]``, ``tail == b``."""

    __slots__ = ("head", "tail")

    def __init__(self, head: list, tail: Any) -> None:
        # predictor/_sexp.c makes a Dotted as Dotted.__new__ plus these two assignments, without
        # calling __init__: keep __init__ to them (tests/sexp checks the slots).
        self.head = head
        self.tail = tail

    @property
    def car(self) -> Any:
        """The first element (the key of an alist entry)."""
        return self.head[0]

    @property
    def cdr(self) -> Any:
        """Everything after the first element (the value of an alist entry)."""
        return self.tail if len(self.head) == 1 else Dotted(self.head[1:], self.tail)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dotted) and self.head == other.head and self.tail == other.tail

    def __hash__(self) -> int:
        return hash((tuple(self.head), self.tail))

    def __repr__(self) -> str:
        return f"Dotted({self.head!r}, {self.tail!r})"


class SexpError(ValueError):
    """The text is not a well-formed S-expression; carries the 1-based ``line``."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        self.detail = message
        super().__init__(f"line {line}: {message}")


# One token per match; whitespace other than newlines is skipped by findall itself.
# Order matters: strings and comments before atoms. A #{...}# symbol (maybe a #: keyword) runs
# to the first }# not escaped by a backslash, newlines included; a '#{' with no '}#' after it
# is a token of its own (an error). A character is '#\' and a delimiter, alone (#\( #\;), or
# the rest of an atom (#\a #\space), as Guile reads it. A quote mark ends no atom (a'b is one
# symbol, as Guile reads and writes it); it is a quote only where a datum starts.
_SYMBOL_CHARS = r"""[^\s()\[\]";'`,]"""
# A two-element list or pair of plain atoms on one line, e.g. (status success), (region . "eu"),
# is one token: most of an export is made of them, and one token is cheaper than four.
_SHORT_LIST = (
    r"""\((?![.#0-9+-])""" + _SYMBOL_CHARS + r"""+ (?:\. )?"""
    r"""(?:"(?:[^"\\\n]|\\[^\n])*"|\#[tf](?=\))|(?![.#'`,])""" + _SYMBOL_CHARS + r"""+)\)"""
)
_TOKEN = re.compile(
    _SHORT_LIST
    + r"""|\n|[()\[\]]|"(?:[^"\\]|\\.)*"|;[^\n]*|\#\|.*?\|\#|\#;|\#\("""
    r"""|(?:\#:)?\#\{(?:\\.|\}(?!\#)|[^}\\])*\}\#|(?:\#:)?\#\{|\#\\(?:[()\[\]";]|[^\s()\[\]";]+)"""
    r"""|'|`|,@|,|"|[^\s()\[\]";]+""",
    re.DOTALL,
)
_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?\Z")
_RATIO = re.compile(r"([+-]?\d+)/(\d+)\Z")
# A string escape: \x \u \U take exactly 2, 4, 6 hex digits (Guile 3's default reader; fewer
# is an error), with no ';' after them; any other escaped character is looked up.
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{0,2}|u[0-9a-fA-F]{0,4}|U[0-9a-fA-F]{0,6}|.)", re.DOTALL)
_HEX_DIGITS = {"x": 2, "u": 4, "U": 6}
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "0": "\0", "b": "\b", "f": "\f",
                   "v": "\v", '"': '"', "\\": "\\", "|": "|", "(": "(", "\n": ""}
# Inside #{...}#: \xH...; (hex digits, then ';') or a backslash before any other character.
_SYMBOL_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]*)(;?)|(.))", re.DOTALL)
# Character names Guile 3 reads (any case); it writes the C0 controls by the first of their
# names here (#\soh, #\vtab, #\esc ...), #\space and #\delete.
_CHAR_NAMES = {name: chr(code) for code, names in enumerate(
    "nul null;soh;stx;etx;eot;enq;ack;alarm bel;backspace bs;tab ht;newline linefeed lf nl;vtab vt;"
    "page ff np;return cr;so;si;dle;dc1;dc2;dc3;dc4;nak;syn;etb;can;em;sub;esc escape;fs;gs;rs;us;"
    "space sp".split(";")) for name in names.split()}
_CHAR_NAMES.update(delete="\x7f", **{"del": "\x7f"})
_OCTAL = re.compile(r"[0-7]{2,}\Z")
_HEX = re.compile(r"[0-9a-fA-F]+\Z")
_SPECIAL_FLOATS = {"+inf.0": float("inf"), "-inf.0": float("-inf"), "+nan.0": float("nan"),
                   "-nan.0": float("nan")}
_QUOTES = {"'": "quote", "`": "quasiquote", ",": "unquote", ",@": "unquote-splicing"}
_DOT = object()          # the '.' of a dotted pair while its list is open


def _code_point(digits: str) -> str | None:
    """The character of hex DIGITS, or None for a surrogate or a code point beyond #x10FFFF."""
    code = int(digits, 16) if len(digits.lstrip("0")) <= 8 else 0x110000
    return None if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF else chr(code)


def _unescape(body: str, line: int) -> str:
    def one(match: re.Match) -> str:
        code = match.group(1)
        digits = _HEX_DIGITS.get(code[0])
        if digits is not None and (len(code) > 1 or code == "x"):
            if len(code) - 1 < digits:
                raise SexpError(f"bad escape \\{code} in string: \\{code[0]} takes {digits} hex digits", line)
            char = _code_point(code[1:])
            if char is None:
                raise SexpError(f"bad escape \\{code} in string: not a character (a surrogate or "
                                "beyond #x10FFFF)", line)
            return char
        try:
            return _SIMPLE_ESCAPES[code]
        except KeyError:
            raise SexpError(f"unknown escape \\{code} in string", line) from None

    return _ESCAPE.sub(one, body)


def _extended_symbol(token: str, line: int) -> Symbol:
    """The symbol of a ``#{...}#`` token (``#:#{...}#``: the keyword ``#:...``)."""
    keyword = token.startswith("#:")
    body = token[4:-2] if keyword else token[2:-2]
    if "\\" in body:
        def one(match: re.Match) -> str:
            if match.group(3) is not None:
                return match.group(3)
            digits, semicolon = match.group(1), match.group(2)
            char = _code_point(digits) if digits and semicolon else None
            if char is None:
                raise SexpError(f"bad escape \\x{digits}{semicolon} in symbol {token}", line)
            return char

        body = _SYMBOL_ESCAPE.sub(one, body)
    return Symbol("#:" + body if keyword else body)


def _atom(token: str, line: int) -> Any:
    """Convert an atom token (not a string, not a list) to its value."""
    first = token[0]
    if first == "#":
        if token in ("#t", "#true"):
            return True
        if token in ("#f", "#false"):
            return False
        if token.startswith("#\\"):
            name = token[2:]
            if len(name) == 1:
                return name
            if name.lower() in _CHAR_NAMES:
                return _CHAR_NAMES[name.lower()]
            if _OCTAL.match(name) or (name[:1] == "x" and _HEX.match(name, 1)):   # (#\ alone: no name)
                char = _code_point(name[1:]) if name[0] == "x" else _code_point("%x" % int(name, 8))
                if char is None:
                    raise SexpError(f"character {token} is a surrogate or beyond #x10FFFF", line)
                return char
            raise SexpError(f"unknown character {token}", line)
        if token.endswith("}#") and (token[1] == "{" or token.startswith("#:#{")):
            return _extended_symbol(token, line)
        if token == "#{" or token == "#:#{":
            raise SexpError(f"unterminated {token}...}}# symbol", line)
        if token.startswith("#:"):
            return Symbol(token)
        if token.startswith("#|"):
            raise SexpError("unterminated #| block comment", line)
        raise SexpError(f"unknown # syntax {token!r}", line)
    if first.isdigit() or (first in "+-." and len(token) > 1):
        if _INT.match(token):
            return int(token)
        if _FLOAT.match(token):
            return float(token)
        ratio = _RATIO.match(token)
        if ratio:
            denominator = int(ratio.group(2))
            if denominator:
                return int(ratio.group(1)) / denominator
            return Symbol(token)                  # 1/0, 0/0: symbols, as Guile reads them
        if token in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[token]
    return Symbol(token)             # |a| too: Guile 3 reads (and writes) the symbol "|a|"


def iter_data(text: str, *, start_line: int = 1) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, datum)`` for every top-level datum of TEXT, line being where it starts.

    Raises :class:`SexpError` (with the line) on unbalanced parentheses, unterminated strings,
    a misplaced dot or unknown ``#`` syntax. Uses the compiled reader (``predictor/_sexp.c``)
    when it is built, else :func:`py_iter_data`; both give the same values and errors.
    """
    if _compiled is not None and type(text) is str:
        reader = _compiled.reader(text, start_line)
        if reader is not None:                 # None: not UTF-8 encodable (lone surrogates)
            return reader
    return py_iter_data(text, start_line=start_line)


def py_iter_data(text: str, *, start_line: int = 1) -> Iterator[tuple[int, Any]]:
    """The reference reader (pure Python) behind :func:`iter_data`: the same values and errors."""
    tokens = _TOKEN.findall(text)
    line = start_line
    cur: list | None = None             # the innermost open list (None at top level)
    parents: list[list] = []            # the lists enclosing cur
    opened: list[tuple[str, int]] = []  # (kind, line) of every open list, outermost first
    atoms: dict[str, Any] = dict(_COMMON_ATOMS)   # token -> value; most atoms repeat
    pairs: dict[str, tuple] = {}        # short-list token -> (first, second, proper?)
    top_line = line
    skip_depths: list[int] = []         # nesting depth of each pending '#;' datum comment
    quoting = 0                         # open quote frames (rare): check them only when > 0
    dotted = 0                          # dots seen in open lists (rare)
    for tok in tokens:
        c = tok[0]
        if c == "(" and len(tok) > 1:
            if tok[-2] == '"':              # (name "text") or (name . "text"): mostly unique text
                space = tok.find(" ")
                name = tok[1:space]
                key = atoms.get(name, _DOT)
                if key is _DOT:
                    key = atoms[name] = _atom(name, line)
                if tok[space + 1] == ".":
                    body = tok[space + 4:-2]
                    value = Dotted([key], _unescape(body, line) if "\\" in body else body)
                else:
                    body = tok[space + 2:-2]
                    value = [key, _unescape(body, line) if "\\" in body else body]
            else:
                pair = pairs.get(tok)
                if pair is None:
                    pair = pairs[tok] = _short_list(tok, atoms, line)
                value = [pair[0], pair[1]] if pair[2] else Dotted([pair[0]], pair[1])
            if cur is None:
                top_line = line
        elif c == "(":
            if cur is None:
                top_line = line
            else:
                parents.append(cur)
            cur = []
            opened.append(("(", line))
            continue
        elif c == ")":
            if cur is None:
                raise SexpError(_close_error(tok, opened), line)
            kind = opened[-1][0]
            if kind != "(" and kind != "#(":
                raise SexpError(_close_error(tok, opened), line)
            opened.pop()
            value = cur
            if kind != "(":
                if _DOT in value:
                    raise SexpError("a dot inside a vector", line)
                value = tuple(value)
            elif dotted:
                value = _finish_dotted(value, line)
                dotted = sum(1 for frame in parents for item in frame if item is _DOT)
            cur = parents.pop() if parents else None
        elif c == "\n":
            line += 1
            continue
        elif c == '"':
            if len(tok) == 1:
                raise SexpError("unterminated string", line)
            value = tok[1:-1]
            if "\\" in value:
                value = _unescape(value, line)
            if cur is None:
                top_line = line
            if "\n" in tok:
                line += tok.count("\n")
        elif c == ";":
            continue
        elif c == "#" and tok in _HASH_TOKENS:
            if tok == "#;":
                skip_depths.append(len(opened))
                continue
            if cur is None:
                top_line = line
            else:
                parents.append(cur)
            cur = []
            opened.append((tok, line))
            continue
        elif c == "#" and tok[1:2] == "|" and len(tok) >= 4 and tok.endswith("|#"):
            line += tok.count("\n")
            continue
        elif c == "#" and (tok[1:2] == "{" or tok[1:4] == ":#{"):     # #{...}# may span lines
            value = atoms.get(tok, _DOT)
            if value is _DOT:
                value = atoms[tok] = _atom(tok, line)
            if cur is None:
                top_line = line
            line += tok.count("\n")
        elif c == "[" or c == "]":
            if c == "[":
                if cur is None:
                    top_line = line
                else:
                    parents.append(cur)
                cur = []
                opened.append(("[", line))
                continue
            if cur is None or opened[-1][0] != "[":
                raise SexpError(_close_error(tok, opened), line)
            value = cur
            opened.pop()
            if dotted:
                value = _finish_dotted(value, line)
                dotted = sum(1 for frame in parents for item in frame if item is _DOT)
            cur = parents.pop() if parents else None
        elif tok in _QUOTES:
            if cur is None:
                top_line = line
            else:
                parents.append(cur)
            cur = []
            opened.append((_QUOTES[tok], line))
            quoting += 1
            continue
        elif tok == ".":
            if cur is None or opened[-1][0] not in ("(", "["):
                raise SexpError("a dot outside a list", line)
            cur.append(_DOT)
            dotted += 1
            continue
        else:
            value = atoms.get(tok, _DOT)
            if value is _DOT:
                value = atoms[tok] = _atom(tok, line)
            if cur is None:
                top_line = line
        # a datum is complete
        if quoting:
            while cur is not None and opened[-1][0] in _QUOTE_KINDS:
                value = [Symbol(opened.pop()[0]), value]
                quoting -= 1
                cur = parents.pop() if parents else None
        if skip_depths and skip_depths[-1] == len(opened):
            skip_depths.pop()
            continue
        if cur is None:
            yield top_line, value
        else:
            cur.append(value)
    if cur is not None:
        raise SexpError(f"end of input inside the list opened on line {opened[0][1]} "
                        f"({len(opened)} unclosed)", line)
    if skip_depths:
        raise SexpError("#; with no datum after it", line)


def _short_list(tok: str, atoms: dict, line: int) -> tuple[Any, Any, bool]:
    """Split a short-list token ``(a b)`` / ``(a . b)`` into (a, b, is-a-proper-list)."""
    first, _, rest = tok[1:-1].partition(" ")
    proper = True
    if rest.startswith(". "):
        rest = rest[2:]
        proper = False
    values = []
    for text in (first, rest):
        if text[0] == '"':
            body = text[1:-1]
            values.append(_unescape(body, line) if "\\" in body else body)
        else:
            value = atoms.get(text, _DOT)
            if value is _DOT:
                value = atoms[text] = _atom(text, line)
            values.append(value)
    return values[0], values[1], proper


def _close_error(tok: str, opened: list[tuple[str, int]]) -> str:
    if not opened:
        return f"unexpected {tok!r} with no list open"
    kind, line = opened[-1]
    if kind in _QUOTE_KINDS:
        return f"unexpected {tok!r} after a quote on line {line}"
    return f"{tok!r} closes the {kind!r} opened on line {line}"


def _finish_dotted(items: list, line: int) -> Any:
    """Turn a closed list holding a dot marker into a :class:`Dotted` (or raise)."""
    if _DOT not in items:
        return items
    if len(items) >= 3 and items[-2] is _DOT and _DOT not in items[:-2] and items[-1] is not _DOT:
        return Dotted(items[:-2], items[-1])
    if items and items[-1] is _DOT:
        raise SexpError("a dot with nothing after it", line)
    raise SexpError("misplaced dot", line)


_QUOTE_KINDS = frozenset(_QUOTES.values())
_HASH_TOKENS = frozenset(("#(", "#;"))
_COMMON_ATOMS = {"#t": True, "#f": False, "#true": True, "#false": False}


# The compiled reader makes Symbol, Dotted and SexpError through these classes, and leaves the
# rarer atoms and escapes (and the wording of their errors) to _atom and _unescape.
try:
    from predictor import _sexp as _compiled
except ImportError:                            # not built (no C compiler): the Python reader alone
    _compiled = None
else:
    _compiled.setup(Symbol, Dotted, SexpError, _atom, _unescape)


def read_all(text: str) -> list[Any]:
    """Return every top-level datum of TEXT, in order."""
    return [datum for _, datum in iter_data(text)]


def read(text: str) -> Any:
    """Return the single datum in TEXT; raise :class:`SexpError` if there is none or more."""
    data = list(iter_data(text))
    if len(data) != 1:
        raise SexpError(f"expected exactly one datum, found {len(data)}", data[1][0] if len(data) > 1 else 1)
    return data[0][1]


def alist_to_dict(alist: Any) -> dict:
    """Return a dict from an association list ``((key . value) ...)`` or ``((key value) ...)``.

    Keys become ``str``; a ``(key value)`` two-element list counts as ``key -> value``.
    Raises ``ValueError`` if ALIST is not a list of pairs.
    """
    if alist == [] or alist is False or alist is None:
        return {}
    if not isinstance(alist, list):
        raise ValueError(f"expected an association list, found {to_text(alist)}")
    result = {}
    for entry in alist:
        if type(entry) is Dotted and len(entry.head) == 1:
            result[_key(entry.head[0])] = entry.tail
        elif type(entry) is list and len(entry) >= 1:
            result[_key(entry[0])] = entry[1] if len(entry) == 2 else entry[1:]
        else:
            raise ValueError(f"expected a (key . value) pair, found {to_text(entry)}")
    return result


def _key(value: Any) -> str:
    if isinstance(value, str):
        return str(value)
    raise ValueError(f"expected a symbol or string key, found {to_text(value)}")


def to_plain(value: Any) -> Any:
    """Convert a datum to JSON-able Python: alists become dicts, symbols str, vectors lists.

    A list counts as an alist when it is non-empty and every element is an alist entry (see
    :func:`alist_entry`): ``(key . value)`` with a symbol or string key, or ``(key v1 v2 ...)``
    with a symbol key, which is how Guile writes ``(key . (v1 v2 ...))``; so
    ``((configuration (replicas . 3) (ssl . #t)))`` is ``{"configuration": {"replicas": 3,
    "ssl": true}}``. Nested alists become nested dicts; other lists and vectors become lists;
    other dotted pairs become ``[car, ..., cdr]`` lists.
    """
    kind = type(value)
    if kind is Symbol:
        return str(value)
    if kind is list:
        if value:
            plain = {}
            for entry in value:              # an alist until an element is not an entry
                entry_kind = type(entry)
                if entry_kind is Dotted:
                    head = entry.head
                    if not isinstance(head[0], str):
                        break
                    rest = entry.tail if len(head) == 1 else Dotted(head[1:], entry.tail)
                elif entry_kind is list and entry and type(entry[0]) is Symbol:
                    head = entry
                    rest = entry[1:]
                else:
                    break
                rest_kind = type(rest)
                plain[str(head[0])] = rest if rest_kind in _PLAIN_ATOMS else to_plain(rest)
            else:
                return plain
        return [to_plain(v) for v in value]
    if kind is tuple:
        return [to_plain(v) for v in value]
    if kind is Dotted:
        return [to_plain(v) for v in value.head] + [to_plain(value.tail)]
    return value


_PLAIN_ATOMS = frozenset((str, int, float, bool))


def alist_entry(entry: Any) -> tuple[str, Any]:
    """Return (key, value) of one alist entry, as Scheme's ``car``/``cdr`` see it.

    ``(key . value)`` gives VALUE; ``(key v1 v2 ...)`` (Guile's way of writing
    ``(key . (v1 v2 ...))``) gives the list ``[v1, v2, ...]``. Raises ``ValueError`` otherwise.
    """
    kind = type(entry)
    if kind is Dotted and isinstance(entry.head[0], str):
        return entry.head[0], entry.cdr
    if kind is list and len(entry) >= 1 and type(entry[0]) is Symbol:
        return entry[0], entry[1:]
    raise ValueError(f"expected a (key . value) entry with a symbol or string key, found {to_text(entry)}")


def plain_alist(datum: Any) -> dict:
    """Return the dict of an alist DATUM (``()``/``#f`` give ``{}``), nested alists as dicts.

    Raises ``ValueError`` naming the first entry that is not ``(key . value)``.
    """
    if datum == [] or datum is False or datum is None:
        return {}
    if type(datum) is not list:
        raise ValueError(f"not a list of (key . value) entries but {to_text(datum)}")
    plain = {}                       # what to_plain(datum) gives once every entry is checked, in one pass
    for position, entry in enumerate(datum, start=1):
        kind = type(entry)
        if kind is Dotted and isinstance(entry.head[0], str):
            head = entry.head
            key = head[0]
            rest = entry.tail if len(head) == 1 else Dotted(head[1:], entry.tail)
        elif kind is list and entry and type(entry[0]) is Symbol:
            key = entry[0]
            rest = entry[1:]
        else:
            raise ValueError(f"entry {position} is not a (key . value) pair with a symbol or string key: "
                             f"{to_text(entry)}")
        plain[str(key)] = rest if type(rest) in _PLAIN_ATOMS else to_plain(rest)
    return plain


def to_text(value: Any) -> str:
    """Write VALUE back as S-expression text (for error messages)."""
    kind = type(value)
    if kind is Symbol:
        return str(value)
    if kind is str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is True:
        return "#t"
    if value is False:
        return "#f"
    if kind is list:
        return "(" + " ".join(to_text(v) for v in value) + ")"
    if kind is tuple:
        return "#(" + " ".join(to_text(v) for v in value) + ")"
    if kind is Dotted:
        return "(" + " ".join(to_text(v) for v in value.head) + " . " + to_text(value.tail) + ")"
    return repr(value)
