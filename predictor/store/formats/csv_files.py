"""Reading CSV files with DuckDB's parser (bulk, typed, with the line of every row).

Rows keep their line: ``source_line = ordinality + 1`` (line 1 is the header), adjusted for rows
the parser rejected under ``--skip-invalid``. Values spanning lines (quoted newlines) would
shift later line numbers; deploy-ledger's exports never write them.
"""

from __future__ import annotations

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
