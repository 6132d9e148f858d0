"""CSV column and table names become SQL identifiers: stage_csv refuses anything else."""

from __future__ import annotations

import duckdb
import pytest

from predictor.errors import IngestError
from predictor.store.formats.csv_files import stage_csv


def test_stage_csv_refuses_names_that_are_not_plain_identifiers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,"x"" FROM t; --"\n"1","2"\n')
    con = duckdb.connect()
    with pytest.raises(IngestError) as caught:
        stage_csv(con, path, "deployments", ["id", 'x" FROM t; --'], {}, skip_invalid=False)
    assert caught.value.line == 1 and caught.value.field == 'x" FROM t; --'
    with pytest.raises(IngestError):
        stage_csv(con, path, "deployments", ["id", "x"], {"x": "bad name"}, skip_invalid=True)
    with pytest.raises(ValueError, match="table"):
        stage_csv(con, path, "deployments; DROP TABLE x", ["id"], {}, skip_invalid=False)
    # nothing was staged by the refused calls
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name LIKE '_raw_%'").fetchone()[0] == 0


def test_stage_csv_stages_plain_names_with_their_lines(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('"id","type"\n"a","canary"\n"b","rolling"\n')
    con = duckdb.connect()
    for skip_invalid in (False, True):
        assert stage_csv(con, path, "deployments", ["id", "type"], {"type": "deployment_type"},
                         skip_invalid=skip_invalid) == []
        rows = con.execute("SELECT id, deployment_type, source_line FROM _raw_deployments ORDER BY id").fetchall()
        assert rows == [("a", "canary", 2), ("b", "rolling", 3)]
