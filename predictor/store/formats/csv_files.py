"""Reading CSV files with DuckDB's parser (bulk, typed, with the line of every row).

Rows keep their line: ``source_line = ordinality + 1`` (line 1 is the header), adjusted for rows
the parser rejected under ``--skip-invalid``. Values spanning lines (quoted newlines) would
shift later line numbers; deploy-ledger's exports never write them.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import duckdb

from predictor.errors import IngestError

_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")


def read_header(path: Path) -> list[str]:
    """Return the column names of PATH's first line (quotes removed)."""
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        first = handle.readline().rstrip("\r\n").lstrip("\ufeff")
    return [name.strip().strip('"') for name in first.split(",")]


#: the tables a CSV file can stage rows for (their names go into SQL identifiers)
STAGED_TABLES = ("deployments", "rollbacks")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: per table: the session variables holding the file's path and column types (a view cannot
#: hold parameters), and the statements setting them
_VARIABLES = {table: (f"ingest_csv_path_{table}", f"ingest_csv_columns_{table}") for table in STAGED_TABLES}
_SET_VARIABLES = {table: tuple(f"SET VARIABLE {name} = ?" for name in names) for table, names in _VARIABLES.items()}

#: files at least this big are read as pieces, one numbered scan per piece, in parallel (one
#: numbered scan of the whole file would run the whole ingest on one thread)
SPLIT_BYTES = 16 << 20
MAX_PIECES = 4
#: per table and piece: the variables holding the lines before the piece and its row count
_PIECE_VARIABLES = {table: [(f"ingest_csv_skip_{table}_{k}", f"ingest_csv_rows_{table}_{k}")
                            for k in range(MAX_PIECES)] for table in STAGED_TABLES}
_SET_PIECE_VARIABLES = {table: [tuple(f"SET VARIABLE {name} = ?" for name in names) for names in pieces]
                        for table, pieces in _PIECE_VARIABLES.items()}
_OPTIONS = "auto_detect = false, quote = '\"', escape = '\"', delim = ','"
#: connections that read files whole (the full path after pieces failed)
_WHOLE: set[int] = set()
_CHUNK = 8 << 20


def line_cuts(path: Path, pieces: int) -> list[int]:
    """Return the number of lines before each of up to PIECES pieces of PATH of about equal
    size, each starting just after a line end (the first is 0: it holds the header)."""
    size = path.stat().st_size
    cuts = [0]
    with path.open("rb") as source:
        for k in range(1, pieces):
            source.seek(max(size * k // pieces - 1, cuts[-1]))
            tail = source.readline()
            cut = source.tell()
            if not tail.endswith(b"\n") or cut >= size:
                break
            cuts.append(cut)
        lines = [0]
        position = count = 0
        source.seek(0)
        for cut in cuts[1:]:
            while position < cut:
                chunk = source.read(min(_CHUNK, cut - position))
                count += chunk.count(b"\n")
                position += len(chunk)
            lines.append(count)
    return lines


@contextlib.contextmanager
def whole_files(con: duckdb.DuckDBPyConnection):
    """Within this, CON reads CSV files with one scan (no pieces): the line of every row as
    the parser counts records, and a value holding a line end read as it is."""
    _WHOLE.add(id(con))
    try:
        yield
    finally:
        _WHOLE.discard(id(con))


def _pieces_source(con: duckdb.DuckDBPyConnection, path: Path, table: str, select: str,
                   columns: dict[str, str]) -> str | None:
    """Return the SELECT reading PATH as pieces in parallel, each row with its line; None when
    the file is small or one thread is all there is.

    Piece k skips the lines before it (``skip``) and reads as many rows as it has lines (the
    first: LIMIT its lines less the header; the last: to the end). A value holding a line end
    makes a piece start inside it (the reader, strict, refuses the stray quote) or read a row
    of the next piece too (the id then shows twice): either way ingest takes the full path,
    which reads the file whole.
    """
    if path.stat().st_size < SPLIT_BYTES or id(con) in _WHOLE:
        return None
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    pieces = min(int(threads), MAX_PIECES)
    if pieces < 2:
        return None
    skips = line_cuts(path, pieces)
    if len(skips) < 2:
        return None
    path_variable, columns_variable = _VARIABLES[table]
    set_path, set_columns = _SET_VARIABLES[table]
    con.execute(set_path, [str(path)])
    con.execute(set_columns, [columns])
    scans = []
    for k, skip in enumerate(skips):
        skip_variable, rows_variable = _PIECE_VARIABLES[table][k]
        set_skip, set_rows = _SET_PIECE_VARIABLES[table][k]
        last = k == len(skips) - 1
        con.execute(set_skip, [skip])
        con.execute(set_rows, [None if last else skips[k + 1] - skip - (1 if k == 0 else 0)])
        header = "header = true" if k == 0 else f"header = false, skip = getvariable('{skip_variable}')"
        base = "1" if k == 0 else f"getvariable('{skip_variable}')"
        limit = "" if last else f" LIMIT getvariable('{rows_variable}')"
        scans.append(f"SELECT {select}, CAST(c.ordinality + {base} AS INTEGER) AS source_line FROM "
                     f"(SELECT * FROM read_csv(getvariable('{path_variable}'), {header}, {_OPTIONS}, "
                     f"columns = getvariable('{columns_variable}')) WITH ORDINALITY{limit}) c")
    return " UNION ALL ".join(scans)


def _checked(where: str, table: str, header: list[str], renames: dict[str, str]) -> None:
    """Refuse a table or column name that is not a plain identifier (names go into SQL text:
    identifiers cannot travel as parameters; every value does)."""
    if table not in STAGED_TABLES:
        raise ValueError(f"stage_csv: table must be one of {STAGED_TABLES}, got {table!r}")
    for name in [*header, *renames.values()]:
        if not _IDENTIFIER.fullmatch(name):
            raise IngestError(where, "a column name that is not a plain identifier", line=1, field=name,
                              expected="letters, digits and underscores, not starting with a digit", found=name)


def _view_over(table: str, query: str) -> str:
    """The statement defining ``_raw_<table>`` as QUERY. A view cannot hold parameters, so its
    text names the file's columns; they, and TABLE, were checked by _checked, and the file's
    path and column types travel in session variables."""
    return f"CREATE OR REPLACE TEMP VIEW _raw_{table} AS {query}"


def _view_sql(table: str, select: str, source: str, line: str) -> str:
    """The statement defining ``_raw_<table>`` over SOURCE (identifiers checked by _checked)."""
    return _view_over(table, f"SELECT {select}, CAST({line} AS INTEGER) AS source_line FROM {source}")


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str, header: list[str],
              renames: dict[str, str], *, skip_invalid: bool) -> list[IngestError]:
    """Load PATH (all columns VARCHAR) into ``_csv_<table>`` and define the view ``_raw_<table>``.

    RENAMES maps file column names to canonical ones. Returns the rows the parser rejected
    (only with SKIP_INVALID; otherwise the first such row raises :class:`IngestError`).
    TABLE and the column names become SQL identifiers: they are checked to be plain
    identifiers first (callers have also matched them against the known columns).
    """
    where = str(path)
    _checked(where, table, header, renames)
    columns = {name: "VARCHAR" for name in header}
    options = "header = true, auto_detect = false, quote = '\"', escape = '\"', delim = ','"
    rejected: list[IngestError] = []
    select = ", ".join(f'c."{name}" AS "{renames.get(name, name)}"' for name in header)
    if not skip_invalid:
        # a view straight over the file: DuckDB parses it while normalizing (one pass, no copy);
        # an unreadable row surfaces there, and csv_error() turns it into the IngestError
        # (a view cannot hold parameters: the path and columns travel in session variables)
        pieces = _pieces_source(con, path, table, select, columns)
        if pieces is not None:
            con.execute(_view_over(table, pieces))
            return rejected
        path_variable, columns_variable = _VARIABLES[table]
        set_path, set_columns = _SET_VARIABLES[table]
        con.execute(set_path, [where])
        con.execute(set_columns, [columns])
        source = (f"read_csv(getvariable('{path_variable}'), {options}, "
                  f"columns = getvariable('{columns_variable}')) WITH ORDINALITY c")
        con.execute(_view_sql(table, select, source, "c.ordinality + 1"))
        return rejected
    staged = (f"CREATE OR REPLACE TEMP TABLE _csv_{table} AS SELECT * FROM "
              f"read_csv($path, {options}, columns = $columns, store_rejects = true) WITH ORDINALITY")
    try:
        con.execute("DROP TABLE IF EXISTS reject_errors")
        con.execute("DROP TABLE IF EXISTS reject_scans")
        con.execute(staged, {"path": where, "columns": columns})
    except duckdb.Error as error:
        raise csv_error(where, error) from None
    adjust = "0"
    rows = con.execute("SELECT DISTINCT line, error_message, column_name FROM reject_errors ORDER BY line").fetchall()
    for line, message, column in rows:
        rejected.append(IngestError(where, f"unreadable CSV row: {message.splitlines()[0]}", line=int(line),
                                    field=column, expected="a CSV row with the header's columns"))
    lines = sorted({int(line) for line, *_ in rows})
    con.execute("DROP TABLE IF EXISTS reject_errors")
    con.execute("DROP TABLE IF EXISTS reject_scans")
    if lines:
        # the k-th surviving row sits on line k + 2 + #{i : rejected_i - i <= k + 2}
        con.execute("CREATE OR REPLACE TEMP TABLE _csv_rejects AS SELECT unnest($adj) AS adj",
                    {"adj": [line - i for i, line in enumerate(lines)]})
        adjust = "(SELECT count(*) FROM _csv_rejects j WHERE j.adj <= c.ordinality + 1)"
    con.execute(_view_sql(table, select, f"_csv_{table} c", f"c.ordinality + 1 + {adjust}"))
    return rejected


def is_csv_error(error: Exception) -> bool:
    """True when ERROR is DuckDB's CSV reader rejecting a row."""
    return "CSV Error" in str(error)


def csv_error(where: str, error: duckdb.Error) -> IngestError:
    text = str(error)
    match = _CSV_LINE.search(text)
    line = int(match.group(1)) if match else None
    reason = ""
    for candidate in text.splitlines()[1:]:
        candidate = candidate.strip()
        if candidate and not candidate.startswith("Original Line"):
            reason = candidate
            break
    original = ""
    for candidate in text.splitlines():
        if candidate.startswith("Original Line:"):
            original = candidate.split(":", 1)[1].strip()
    return IngestError(where, f"unreadable CSV row: {reason or text.splitlines()[0]}", line=line,
                       expected="a CSV row with the header's columns, every value double-quoted",
                       found=original[:120] or None)
