"""The bulk paths: one-statement insert into an empty table (falling back to the full path on
anything it does not handle), ids unique across ingests, CSV read as parallel pieces, and the
fast reader of simple metadata alists."""

from __future__ import annotations

import random

import duckdb
import pytest

import ledger_files as lf
from ledger_files import snapshot
from predictor import sexp
from predictor.errors import IngestError
from predictor.store import merge, open_store
from predictor.store.formats import common, csv_files
from predictor.store.ingest import ingest_paths, ingest_records


def _ids_unique(store) -> bool:
    total, distinct = store.con.execute("SELECT count(*), count(DISTINCT id) FROM deployments").fetchone()
    return total == distinct


def _csv_lines(path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


# -- uniqueness of deployments.id --------------------------------------------------------------
def _id_key(store) -> list:
    return store.con.execute("SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
                             "WHERE table_name = 'deployments' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
                             ).fetchall()


def test_deployments_id_is_the_key_and_stays_unique_across_ingests(store, history, tmp_path):
    assert _id_key(store) == [("PRIMARY KEY", ["id"])]
    csv_path = lf.write_csv_export(tmp_path / "export.csv", history)
    db_path = lf.write_sqlite(tmp_path / "ledger.db", history)
    sexp_path = lf.write_sexp(tmp_path / "export.sexp", history)
    first = ingest_paths(store, [csv_path], progress=False)[0]
    assert first.count("deployments", "inserted") == 6
    before = snapshot(store)
    again = ingest_paths(store, [csv_path], progress=False)[0]
    assert again.count("deployments", "unchanged") == 6 and not again.changed and snapshot(store) == before
    reports = ingest_paths(store, [db_path, sexp_path, db_path], progress=False)
    assert [r.count("deployments", "inserted") for r in reports] == [0, 0, 0]
    assert store.con.execute("SELECT count(*) FROM deployments").fetchone() == (6,) and _ids_unique(store)
    # a second file adding new ids next to stored ones
    more = lf.sample_history(9)
    report = ingest_paths(store, [lf.write_csv_export(tmp_path / "more.csv", more)], progress=False)[0]
    assert report.count("deployments", "inserted") == 3 and report.count("deployments", "unchanged") == 6
    assert store.con.execute("SELECT count(*) FROM deployments").fetchone() == (9,) and _ids_unique(store)
    with pytest.raises(duckdb.ConstraintException):                 # the key holds for any writer
        store.con.execute("INSERT INTO deployments SELECT * FROM deployments LIMIT 1")


def test_an_id_twice_in_a_file_for_an_empty_store_takes_the_full_path(store, history, tmp_path):
    path = lf.write_csv_export(tmp_path / "export.csv", history)
    lines = _csv_lines(path)
    path.write_text("".join(lines + [lines[2]]))                        # dep-2 again, identical
    report = ingest_paths(store, [path], progress=False)[0]
    assert report.count("deployments", "inserted") == 6 and report.count("deployments", "unchanged") == 1
    assert _ids_unique(store)
    other = tmp_path / "other.duckdb"
    with open_store(other) as fresh:
        path.write_text("".join(lines + [lines[2].replace('"web"', '"api"')]))   # dep-2 again, changed
        with pytest.raises(IngestError) as caught:
            ingest_paths(fresh, [path], progress=False)
        assert caught.value.line == 8 and caught.value.field == "id" and "first at line 3" in str(caught.value)
        assert fresh.counts()["deployments"] == 0 and fresh.counts()["sources"] == 0


def test_a_bad_row_for_an_empty_store_is_named_precisely_and_leaves_it_as_it_was(store, history, tmp_path):
    path = lf.write_csv_export(tmp_path / "export.csv", lf.sample_history(40))
    path.write_text(path.read_text().replace('"dep-31","api"', '"dep-31",""'))
    before = snapshot(store)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.line, caught.value.field, caught.value.record_id) == (32, "service", "dep-31")
    assert snapshot(store) == before
    report = ingest_paths(store, [path], skip_invalid=True, progress=False)[0]
    assert report.count("deployments", "inserted") == 39 and report.count("deployments", "skipped") == 1


def test_the_one_statement_insert_matches_the_full_path(history, tmp_path, monkeypatch):
    """Same rows, values and lines whichever path a file for an empty store takes."""
    big = lf.sample_history(25)
    paths = [lf.write_csv_export(tmp_path / "export.csv", big), lf.write_sqlite(tmp_path / "ledger.db", big),
             lf.write_sexp(tmp_path / "export.sexp", big), lf.write_json_export(tmp_path / "export.json", big)]
    stores = {}
    for fast in (True, False):
        if not fast:
            def refuse(*args, **kwargs):
                raise merge.FastPathFailed("test: the full path")
            monkeypatch.setattr(merge, "insert_new", refuse)
        for path in paths:
            with open_store(tmp_path / f"{path.suffix[1:]}-{fast}.duckdb") as store:
                report = ingest_paths(store, [path], progress=False)[0]
                assert report.count("deployments", "inserted") == 25
                # (a rolled-back attempt used up a source id: ids may differ)
                rows = store.con.execute("SELECT * EXCLUDE (ingested_at, source_id) FROM deployments "
                                         "ORDER BY id").fetchall()
                stores[(path.suffix, fast)] = rows
    for path in paths:
        assert stores[(path.suffix, True)] == stores[(path.suffix, False)]


def test_records_with_one_new_id_twice_are_refused(store):
    record = {"id": "dep-live", "service": "api", "environment": "staging", "started": "2026-01-01T00:00:00Z",
              "status": "in-progress"}
    for mode in ("insert", "upsert"):
        with pytest.raises(IngestError) as caught:
            ingest_records(store, deployments=[record, dict(record, status="success")], mode=mode)
        assert caught.value.line == 2 and caught.value.field == "id" and "first as record 1" in str(caught.value)
        assert store.counts()["deployments"] == 0
    ingest_records(store, deployments=[record])
    report = ingest_records(store, deployments=[dict(record, status="success")], mode="upsert")
    assert report.count("deployments", "updated") == 1 and store.counts()["deployments"] == 1


# -- CSV read as pieces ------------------------------------------------------------------------
def test_csv_pieces_keep_every_line(store, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "SPLIT_BYTES", 1)
    store.con.execute("SET threads = 3")
    history = lf.sample_history(50)
    path = lf.write_csv_export(tmp_path / "export.csv", history)
    cuts = csv_files.line_cuts(path, 3)
    assert cuts == [0, 18, 35]                      # lines before each piece (51 lines, 3 pieces)
    text = path.read_bytes()
    assert [text.count(b"\n", 0, len(text) * k // 3) for k in range(3)] == [0, 17, 34]
    report = ingest_paths(store, [path], progress=False)[0]
    assert report.count("deployments", "inserted") == 50
    lines = dict(store.con.execute("SELECT id, source_line FROM deployments").fetchall())
    assert lines == {f"dep-{i + 1}": i + 2 for i in range(50)}
    # a bad row in a later piece: its true line
    text = path.read_text().replace('"dep-43","api"', '"dep-43",""')
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with open_store(tmp_path / "other.duckdb") as other:
        other.con.execute("SET threads = 3")
        with pytest.raises(IngestError) as caught:
            ingest_paths(other, [bad], progress=False)
        assert caught.value.line == 44 and caught.value.field == "service"


def test_csv_pieces_cut_inside_a_quoted_newline_fall_back(store, tmp_path, monkeypatch):
    monkeypatch.setattr(csv_files, "SPLIT_BYTES", 1)
    history = lf.sample_history(20)
    for d in history["deployments"]:
        d["initiator"] = "line one\nline two"              # every row spans two lines
    path = lf.write_csv_export(tmp_path / "export.csv", history)
    report = ingest_paths(store, [path], progress=False)[0]
    assert report.count("deployments", "inserted") == 20
    assert store.con.execute("SELECT DISTINCT initiator FROM deployments").fetchall() == [("line one\nline two",)]


# -- simple metadata alists ----------------------------------------------------------------------
_KEYS = ["region", "change-size", "strategy", "a", "_x", "k9", "automated", "lines_changed"]
_VALUES = ['"eu"', '""', '"a b"', '"é ✓"', "1372", "-5", "0", "007", "1.5", "-0.25", "#t", "#f", "canary",
           "a-b", "sym_1"]
_ODD = ['"x\\"y"', '"tab\\t"', "1e3", "+5", "1.2.3", "#true", "-x", ".5", "5.", '"a', "(1 2)", "#(1 2)", "|a b|",
        "'q", "x)"]


def _alist(rng: random.Random, values: list[str]) -> str:
    dots = [" . ", "  .  ", " .\n "]
    entries = ["(" + rng.choice(_KEYS) + rng.choice(dots) + rng.choice(values) + ")"
               for _ in range(rng.randrange(0, 5))]
    return rng.choice(["", " ", "\n"]) + "(" + rng.choice(["", " "]).join(entries) + ")" + rng.choice(["", "\n"])


def test_metadata_texts_read_as_the_reference_reader_does():
    """Stored metadata texts of many shapes: the reader in use (compiled when built) parses them
    as the Python reference reader does, errors included."""
    rng = random.Random(11)
    texts = [_alist(rng, _VALUES) for _ in range(400)] + [_alist(rng, _VALUES + _ODD) for _ in range(400)]
    texts += ["()", "(())", "((a 1))", "((a . 1) . 2)", "((a . 1)) (b)", "((1 . 2))", '(("k" . 1))', "#f",
              "((a . b) (c . d)", "((a . #t))", "((a . 1))x", "((a .1))", "((a. 1))"]
    parsed = 0
    for text in texts:
        try:
            data = list(sexp.py_iter_data(text))
            if len(data) != 1:
                raise sexp.SexpError("count", 1)
            real = common.metadata_from_datum(data[0][1])
        except (ValueError, sexp.SexpError):
            with pytest.raises((ValueError, sexp.SexpError)):
                common.metadata_from_sexp_text(text)
            continue
        got = common.metadata_from_sexp_text(text)
        assert got == real and [type(v) for v in got.values()] == [type(v) for v in real.values()], text
        assert common.to_json_text(got) == common.to_json_text(real)
        parsed += 1
    assert parsed > 400


def test_sqlite_metadata_of_every_shape_is_stored_alike(store, tmp_path):
    history = lf.sample_history(6)
    path = lf.write_sqlite(tmp_path / "ledger.db", history)
    lf.alter_sqlite(path, "UPDATE deployments SET metadata = '((region . \"eu\") (change-size . 12) (automated . #t))' "
                          "WHERE id = 'dep-1'",
                    ("UPDATE deployments SET metadata = ? WHERE id = 'dep-2'",
                     ['((region . "e\\"u") (change-size . 12) (automated . #t))']))
    ingest_paths(store, [path], progress=False)
    rows = store.con.execute("SELECT id, metadata, change_size, automated FROM deployments WHERE id IN "
                             "('dep-1', 'dep-2') ORDER BY id").fetchall()
    assert rows == [("dep-1", '{"region": "eu", "change-size": 12, "automated": true}', 12, True),
                    ("dep-2", '{"region": "e\\"u", "change-size": 12, "automated": true}', 12, True)]


# -- the optional ADBC SQLite reader -------------------------------------------------------------
def _sqlite_rows_both_ways(path, monkeypatch, tmp_path, name):
    from predictor.store.formats import ledger_sqlite

    results = []
    for adbc_rows in (1, 10**12):                          # through the driver, then through sqlite3
        monkeypatch.setattr(ledger_sqlite, "ADBC_ROWS", adbc_rows)
        with open_store(tmp_path / f"{name}-{adbc_rows}.duckdb") as store:
            try:
                report = ingest_paths(store, [path], progress=False)[0]
                outcome = (report.summary(), store.con.execute(
                    "SELECT * EXCLUDE (ingested_at, source_id) FROM deployments ORDER BY id").fetchall())
            except IngestError as error:
                outcome = ("error", str(error), error.line, error.field)
        results.append(outcome)
    return results


def test_adbc_reader_reads_what_sqlite3_reads(tmp_path, monkeypatch):
    pytest.importorskip("adbc_driver_sqlite")
    import hashlib

    from predictor.store.formats import ledger_sqlite

    monkeypatch.setattr(ledger_sqlite, "PARALLEL_ROWS", 2)
    history = lf.sample_history(30)
    path = lf.write_sqlite(tmp_path / "ledger.db", history, "migrations")
    lf.alter_sqlite(path, "UPDATE deployments SET parent_id = NULL WHERE rowid < 20",  # a column starting with NULLs
                    "UPDATE deployments SET metadata = NULL WHERE rowid = 3")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    parts = ledger_sqlite._read_adbc(str(path), False, 1, 30, True)
    assert parts is not None and parts[0]["error"] is None
    reference = ledger_sqlite.read_rows(ledger_sqlite.connect_read_only(path), str(path), False, 1, 30)
    assert parts[0]["rows"].equals(reference["rows"]) and parts[0]["metadata"] == reference["metadata"]
    fast, slow = _sqlite_rows_both_ways(path, monkeypatch, tmp_path, "good")
    assert fast == slow and fast[0]["deployments"]["inserted"] == 30
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before        # never written


@pytest.mark.parametrize("change", [
    "UPDATE deployments SET started = '2026-11-21T15:30:05Z' WHERE rowid = 25",   # text among numbers
    "UPDATE deployments SET started = 1763739005.5 WHERE rowid = 25",             # a real among integers
    "UPDATE deployments SET initiator = CAST(x'ff41' AS TEXT) WHERE rowid = 25",  # not UTF-8
    "UPDATE deployments SET metadata = '((oops' WHERE rowid = 25",                # not an alist
    "UPDATE deployments SET status = 'exploded' WHERE rowid = 25",
])
def test_adbc_reader_refusals_and_errors_are_those_of_sqlite3(tmp_path, monkeypatch, change):
    pytest.importorskip("adbc_driver_sqlite")
    from predictor.store.formats import ledger_sqlite

    monkeypatch.setattr(ledger_sqlite, "PARALLEL_ROWS", 2)
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(30), "init")     # (no CHECK on status)
    lf.alter_sqlite(path, change)
    fast, slow = _sqlite_rows_both_ways(path, monkeypatch, tmp_path, "odd")
    assert fast == slow
