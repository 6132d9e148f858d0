"""Shapes Guile's `write` really produces: nested metadata alists and one-element alists.

Guile writes ``(key . ((a . 1) (b . 2)))`` as ``(key (a . 1) (b . 2))`` and a one-element
alist value ``(key . ((x . 1)))`` as ``(key (x . 1))``; ingest reads them as Scheme does.
Every unexpected shape is an IngestError naming file, line and field, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger_files as lf
from ledger_files import snapshot
from predictor import sexp
from predictor.errors import IngestError
from predictor.store import open_store
from predictor.store.ingest import ingest_paths

#: the metadata alist of the issue, as a Scheme expression Guile evaluates and writes
GUILE_METADATA = ("'((region . \"eu\") (configuration . ((replicas . 3) (ssl . #t))) (hosts . (\"a\" \"b\")) "
                  "(sizes . #(1 2)) (change-size . 40))")
EXPECTED_METADATA = {"region": "eu", "configuration": {"replicas": 3, "ssl": True}, "hosts": ["a", "b"],
                     "sizes": [1, 2], "change-size": 40}


def guile_write(expression: str) -> str:
    """Return what Guile's `write` prints for the value of EXPRESSION."""
    return subprocess.run(["guile", "-c", f"(write {expression})"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def test_guile_writes_nested_alists_as_lists():
    """The premise of these tests: the nested value is not written with a dot."""
    text = guile_write(GUILE_METADATA)
    assert "(configuration (replicas . 3) (ssl . #t))" in text
    assert sexp.plain_alist(sexp.read(text)) == EXPECTED_METADATA


def _export_with_metadata(path: Path, metadata_text: str) -> Path:
    history = lf.sample_history(2)
    text = lf.write_sexp(path, history).read_text()
    first = lf.deployment_sexp(history["deployments"][0])
    metadata_line = next(line for line in first.splitlines() if line.startswith("  (metadata "))
    path.write_text(text.replace(metadata_line, f"  (metadata {metadata_text})", 1))
    return path


def _stored(store, deployment_id: str) -> tuple[dict, dict | None, int | None]:
    metadata, configuration, change_size = store.con.execute(
        "SELECT metadata, configuration, change_size FROM deployments WHERE id = ?", [deployment_id]).fetchone()
    return json.loads(metadata), json.loads(configuration) if configuration else None, change_size


def test_sexp_export_nested_metadata_becomes_nested_json(store, tmp_path):
    path = _export_with_metadata(tmp_path / "export.sexp", guile_write(GUILE_METADATA))
    [report] = ingest_paths(store, [path], progress=False)
    assert report.tables["deployments"]["inserted"] == 2
    metadata, configuration, change_size = _stored(store, "dep-1")
    assert metadata == EXPECTED_METADATA
    assert configuration == {"replicas": 3, "ssl": True}
    assert change_size == 40


def test_sqlite_metadata_column_nested_alist(store, tmp_path):
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(2))
    lf.alter_sqlite(path, ("UPDATE deployments SET metadata = ? WHERE id = 'dep-1'", [guile_write(GUILE_METADATA)]))
    ingest_paths(store, [path], progress=False)
    metadata, configuration, change_size = _stored(store, "dep-1")
    assert metadata == EXPECTED_METADATA
    assert configuration == {"replicas": 3, "ssl": True}
    assert change_size == 40


def test_one_element_nested_alist_is_an_object(store, tmp_path):
    text = guile_write("'((configuration . ((replicas . 3))))")
    assert text == "((configuration (replicas . 3)))"
    path = _export_with_metadata(tmp_path / "export.sexp", text)
    ingest_paths(store, [path], progress=False)
    assert _stored(store, "dep-1")[1] == {"replicas": 3}


@pytest.mark.parametrize("metadata_text, entry", [
    ("(42)", "entry 1"),
    ('((region . "eu") "loose")', "entry 2"),
    ("((1 . 2))", "entry 1"),
])
def test_bad_metadata_names_the_entry_once(store, tmp_path, metadata_text, entry):
    path = _export_with_metadata(tmp_path / "export.sexp", metadata_text)
    before = snapshot(store)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    error = caught.value
    assert (error.path, error.field) == (str(path), "metadata")
    assert error.line == 12                       # the metadata line of the first entry
    assert entry in error.detail
    assert str(error).count("association list") == 1, str(error)
    assert snapshot(store) == before


def test_sqlite_bad_metadata_message_says_it_once(store, tmp_path):
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(2))
    lf.alter_sqlite(path, "UPDATE deployments SET metadata = '(42)' WHERE id = 'dep-2'")
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.field, caught.value.record_id) == ("metadata", "dep-2")
    assert str(caught.value).count("association list") == 1, str(caught.value)


# -- feature lines --------------------------------------------------------------------------------
def test_feature_line_with_one_failure_pattern(store, tmp_path):
    line = guile_write("'((service . \"api\") (total-deployments . 42) (failure-patterns . (((\"api\" . canary) . 1))))")
    assert '(failure-patterns (("api" . canary) . 1))' in line
    path = tmp_path / "features.scm"
    path.write_text(line + "\n" + guile_write("'((service . \"web\") (failure-patterns))") + "\n")
    [report] = ingest_paths(store, [path], progress=False)
    assert report.tables["service_profiles"]["inserted"] == 2
    rows = store.con.execute("SELECT service, total_deployments, failure_patterns, raw FROM service_profiles "
                             "ORDER BY service").fetchall()
    assert rows[0][:2] == ("api", 42)
    assert json.loads(rows[0][2]) == [{"service": "api", "deployment_type": "canary", "count": 1}]
    assert json.loads(rows[0][3])["failure-patterns"] == [[["api", "canary"], 1]]
    assert json.loads(rows[1][2]) == []


@pytest.mark.parametrize("line, field", [
    ('((service . "api") (failure-patterns . 3))', "failure-patterns"),
    ('((service . "api") (failure-patterns ("api" . canary)))', "failure-patterns"),
    ('((service . "api") (failure-patterns (("api" . canary) . "many")))', "failure-patterns"),
    ('((service . "api") (failure-patterns (("api" . canary) . -1)))', "failure-patterns"),
    ('((service . "api") (failure-patterns ((1 2) . 1)))', "failure-patterns"),
    ('((service . "api") (hourly-distribution . 5))', "hourly-distribution"),
    ('((service . "api") (weekly-distribution . #(1 2 3 4 5 6 99999999999)))', "weekly-distribution"),
    ('((service . "api") (total-deployments . 1e3))', "total-deployments"),
    ('((service . "api") (total-deployments . 99999999999))', "total-deployments"),
    ('((service . 7))', "service"),
    ('((service . "api") 42)', "line"),
    ('(service . "api")', "line"),
    ('"api"', "line"),
])
def test_feature_line_bad_shapes(store, tmp_path, line, field):
    path = tmp_path / "features.scm"
    path.write_text('((service . "ok") (total-deployments . 1))\n' + line + "\n")
    before = snapshot(store)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 2, field)
    assert snapshot(store) == before


def test_feature_lines_same_service_twice(store, tmp_path):
    path = tmp_path / "features.scm"
    path.write_text('((service . "api"))\n((service . "web"))\n((service . "api"))\n')
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.line, caught.value.field) == (3, "service")
    assert "first on line 1" in str(caught.value)


# -- fuzzing: any input ingests or raises IngestError -----------------------------------------------
_atom_texts = st.sampled_from(['"api"', '"x\\"y"', "canary", "production", "success", "#t", "#f", "0", "1", "-3",
                               "99999999999999999999", "1.5", "+nan.0", "+inf.0", "#(1 2)", "()", '"2026-01-05T10:00:00Z"',
                               "service", "id", "metadata", "failure-patterns", "total-deployments",
                               "hourly-distribution", "#\\a", "#:key", "'q", "|odd sym|"])


def _compound(inner):
    return st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "(" + " ".join(items) + ")"),
        st.tuples(st.lists(inner, min_size=1, max_size=2), inner).map(
            lambda pair: "(" + " ".join(pair[0]) + " . " + pair[1] + ")"),
        st.lists(inner, max_size=3).map(lambda items: "#(" + " ".join(items) + ")"),
    )


_datum_texts = st.recursive(_atom_texts, _compound, max_leaves=12)
_field_names = st.sampled_from(["id", "service", "version", "environment", "type", "started", "completed", "status",
                                "initiator", "metadata", "parent-id", "change-size", "extra"])
_fields = st.lists(st.tuples(_field_names, _datum_texts), max_size=6)


def _ingest_or_ingest_error(text: str, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_text(text)
        with open_store(Path(tmp) / "store.duckdb") as store:
            try:
                ingest_paths(store, [path], progress=False)
            except IngestError as error:
                assert error.path == str(path)


#: examples per fuzz test; raise it for a longer hunt (PREDICTOR_FUZZ_EXAMPLES=2000)
_FUZZ = settings(max_examples=int(os.environ.get("PREDICTOR_FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.lists(st.one_of(_datum_texts, _fields.map(lambda fs: "(" + " ".join(f"({n} . {v})" for n, v in fs) + ")"),
                          st.tuples(_datum_texts, _datum_texts).map(lambda kv: f'((service . "s") ({kv[0]} . {kv[1]}))')),
                min_size=1, max_size=3))
def test_fuzz_feature_lines(lines):
    text = "\n".join('((service . "s' + str(i) + '")' + line[1:] if line.startswith("((") else line
                     for i, line in enumerate(lines))
    _ingest_or_ingest_error("((service . \"first\"))\n" + text + "\n", ".scm")


@_FUZZ
@given(st.lists(st.tuples(st.sampled_from(["deployment", "rollback", "other"]), _fields), min_size=1, max_size=3))
def test_fuzz_sexp_export(entries):
    body = "".join(f"({kind} " + " ".join(f"({name} {value})" for name, value in fields) + ")\n"
                   for kind, fields in entries)
    _ingest_or_ingest_error("(deploy-ledger-export (version 1))\n" + body, ".sexp")


@_FUZZ
@given(_datum_texts)
def test_fuzz_sqlite_metadata(metadata_text):
    with tempfile.TemporaryDirectory() as tmp:
        path = lf.write_sqlite(Path(tmp) / "ledger.db", lf.sample_history(1))
        lf.alter_sqlite(path, ("UPDATE deployments SET metadata = ?", [metadata_text]))
        with open_store(Path(tmp) / "store.duckdb") as store:
            try:
                ingest_paths(store, [path], progress=False)
            except IngestError as error:
                assert error.path == str(path) and error.field == "metadata"


def test_migration_drops_the_service_started_index(store):
    assert "011_ingest_drop_service_started_index" in store.applied_migrations()
    names = [row[0] for row in store.con.execute("SELECT index_name FROM duckdb_indexes()").fetchall()]
    assert "deployments_service_started" not in names


_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
              st.sampled_from(["api", "production", "canary", "success", "2026-01-05T10:00:00Z", "", "[1]", "{}"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.sampled_from(["region", "configuration", "change-size", "resources", "x"]), inner, max_size=3)),
    max_leaves=8)
_json_records = st.dictionaries(
    st.sampled_from(["id", "service", "version", "environment", "deployment_type", "started", "completed", "status",
                     "initiator", "metadata", "parent_id", "change_size", "configuration", "resources", "automated",
                     "record", "from_version", "name", "extra"]), _json_values, max_size=7)


@_FUZZ
@given(st.lists(_json_records, min_size=1, max_size=3))
def test_fuzz_json_export_and_lines(records):
    _ingest_or_ingest_error(json.dumps(records), ".json")
    _ingest_or_ingest_error("".join(json.dumps(record) + "\n" for record in records), ".jsonl")


@pytest.mark.parametrize("suffix, text, field", [
    (".json", '[{"id": "d1", "metadata": ["region", "eu"]}]', "metadata"),
    (".jsonl", '{"id": "d1", "service": "api", "environment": "production", "started": 0, "status": "success", '
               '"metadata": "eu"}\n', "metadata"),
    (".jsonl", '{"record": ["deployment"], "id": "d1"}\n', "record"),
])
def test_json_bad_shapes_are_ingest_errors(store, tmp_path, suffix, text, field):
    path = tmp_path / f"input{suffix}"
    path.write_text(text)
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 1, field)


# -- SQLite values of unusual types (the Arrow fast path falls back, precisely) --------------------
def test_sqlite_odd_value_types_still_ingest(store, tmp_path):
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(3))
    lf.alter_sqlite(path, "UPDATE deployments SET version = 3, started = '2026-01-05T10:00:00Z', completed = NULL "
                          "WHERE id = 'dep-2'")
    ingest_paths(store, [path], progress=False)
    version, started = store.con.execute("SELECT version, started FROM deployments WHERE id = 'dep-2'").fetchone()
    assert version == "3"
    assert started.isoformat() == "2026-01-05T10:00:00"
    assert store.con.execute("SELECT count(*) FROM deployments").fetchone()[0] == 3


@pytest.mark.parametrize("parallel_rows", [2, 10**9], ids=["helper process reads the bad row", "one process"])
def test_sqlite_text_that_is_not_utf8(store, tmp_path, monkeypatch, parallel_rows):
    from predictor.store.formats import ledger_sqlite

    monkeypatch.setattr(ledger_sqlite, "PARALLEL_ROWS", parallel_rows)
    path = lf.write_sqlite(tmp_path / "ledger.db", lf.sample_history(3))
    db = sqlite3.connect(path)
    db.execute("UPDATE deployments SET initiator = CAST(x'62ff6f62' AS TEXT) WHERE id = 'dep-3'")
    rowid = db.execute("SELECT rowid FROM deployments WHERE id = 'dep-3'").fetchone()[0]
    db.commit()
    db.close()
    with pytest.raises(IngestError) as caught:
        ingest_paths(store, [path], progress=False)
    assert (caught.value.line, caught.value.field) == (rowid, "initiator")
    assert "not UTF-8" in str(caught.value)
