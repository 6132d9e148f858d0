"""Reading CSV files with DuckDB's parser (bulk, typed, with the line of every row).

Rows keep their line: ``source_line = ordinality + 1`` (line 1 is the header), adjusted for rows
the parser rejected under ``--skip-invalid``. Values spanning lines (quoted newlines) would
shift later line numbers; deploy-ledger's exports never write them.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
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

#: files at least this big are read as pieces cut at line ends, one scan per piece in parallel
#: (a scan that numbers its rows runs on one thread)
SPLIT_BYTES = 16 << 20
MAX_PIECES = 4
#: per table and piece: the variables holding the piece's path and the lines before it
_PIECE_VARIABLES = {table: [(f"ingest_csv_piece_{table}_{k}", f"ingest_csv_base_{table}_{k}")
                            for k in range(MAX_PIECES)] for table in STAGED_TABLES}
_SET_PIECE_VARIABLES = {table: [tuple(f"SET VARIABLE {name} = ?" for name in names) for names in pieces]
                        for table, pieces in _PIECE_VARIABLES.items()}
_OPTIONS = "auto_detect = false, quote = '\"', escape = '\"', delim = ','"
#: the folders holding the pieces of files being read, by connection (see release_pieces)
_PIECES: dict[int, list[tempfile.TemporaryDirectory]] = {}
#: connections that read files whole (the full path after pieces failed)
_WHOLE: set[int] = set()
_CHUNK = 8 << 20


def _piece_folder() -> str | None:
    """Where pieces go: memory (/dev/shm) when there is one, else the temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def split_lines(path: Path, pieces: int, folder: str) -> list[tuple[str, int]]:
    """Copy PATH into up to PIECES files in FOLDER, cut just after a line end; return each
    piece's path and the number of lines before it. The first piece keeps the header.

    A cut inside a quoted value leaves a piece ending in an open quote and the next starting
    with a stray one: DuckDB's reader (strict) refuses both, and ingest takes the full path.
    """
    size = path.stat().st_size
    out: list[tuple[str, int]] = []
    with path.open("rb") as source:
        cuts = [0]
        for k in range(1, pieces):
            source.seek(max(size * k // pieces - 1, cuts[-1]))
            tail = source.readline()
            cut = source.tell()
            if not tail.endswith(b"\n") or cut >= size:
                break
            cuts.append(cut)
        cuts.append(size)
        lines = 0
        position = 0
        fd = source.fileno()
        for k in range(len(cuts) - 1):
            start, end = cuts[k], cuts[k + 1]
            while position < start:                  # lines before this piece
                source.seek(position)
                chunk = source.read(min(_CHUNK, start - position))
                lines += chunk.count(b"\n")
                position += len(chunk)
            name = os.path.join(folder, f"piece-{k}.csv")
            with open(name, "wb") as target:
                offset = start
                while offset < end:
                    copied = os.sendfile(target.fileno(), fd, offset, min(end - offset, 1 << 30))
                    if copied <= 0:
                        raise OSError(f"cannot copy {path} into pieces")
                    offset += copied
            out.append((name, lines))
    return out


@contextlib.contextmanager
def whole_files(con: duckdb.DuckDBPyConnection):
    """Within this, CON reads CSV files with one scan (no pieces): the line of every row as
    the parser counts records, and a value holding a line end read as it is."""
    _WHOLE.add(id(con))
    try:
        yield
    finally:
        _WHOLE.discard(id(con))


def release_pieces(con: duckdb.DuckDBPyConnection) -> None:
    """Delete the pieces of the files CON read (after the views over them are dropped)."""
    for folder in _PIECES.pop(id(con), []):
        folder.cleanup()


def _pieces_source(con: duckdb.DuckDBPyConnection, path: Path, table: str, select: str,
                   columns: dict[str, str]) -> str | None:
    """Cut PATH into pieces and return the SELECT reading them in parallel, each row with its
    line; None when the file is small or one thread is all there is."""
    if path.stat().st_size < SPLIT_BYTES or id(con) in _WHOLE:
        return None
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    pieces = min(int(threads), MAX_PIECES)
    if pieces < 2:
        return None
    folder = tempfile.TemporaryDirectory(prefix="predictor-csv-", dir=_piece_folder())
    _PIECES.setdefault(id(con), []).append(folder)
    try:
        parts = split_lines(path, pieces, folder.name)
    except OSError:
        return None
    if len(parts) < 2:
        return None
    _, columns_variable = _VARIABLES[table]
    con.execute(_SET_VARIABLES[table][1], [columns])
    scans = []
    for k, (piece, lines_before) in enumerate(parts):
        path_variable, base_variable = _PIECE_VARIABLES[table][k]
        set_path, set_base = _SET_PIECE_VARIABLES[table][k]
        con.execute(set_path, [piece])
        con.execute(set_base, [lines_before])
        header = "true" if k == 0 else "false"
        base = "1" if k == 0 else f"getvariable('{base_variable}')"
        scans.append(f"SELECT {select}, CAST(c.ordinality + {base} AS INTEGER) AS source_line "
                     f"FROM read_csv(getvariable('{path_variable}'), header = {header}, {_OPTIONS}, "
                     f"columns = getvariable('{columns_variable}')) WITH ORDINALITY c")
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


def _view_sql(table: str, select: str, source: str, line: str) -> str:
    """The statement defining ``_raw_<table>`` over SOURCE (identifiers checked by _checked)."""
    return (f"CREATE OR REPLACE TEMP VIEW _raw_{table} AS SELECT {select}, "
            f"CAST({line} AS INTEGER) AS source_line FROM {source}")


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
            con.execute(f"CREATE OR REPLACE TEMP VIEW _raw_{table} AS {pieces}")
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
