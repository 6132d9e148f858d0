"""``predictor predict``: one deployment, or a whole file of them, each scored as of its own
start time against the history stored before it (the feature state answers point in time).

Input files are CSV (header row with the documented ingest column names) or JSON Lines (one
deployment object per line); the output format follows the output file's extension
(``.csv``, else JSON Lines), one answer per input row keyed by deployment id.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from predictor.errors import IngestError, ValidationError
from predictor.features.records import epoch_us
from predictor.models.answers import validate_deployment
from predictor.models.runtime import load_predictor

JSON_FIELDS = ("metadata", "configuration", "performance")
NUMBER_FIELDS = ("change_size", "duration_seconds")


def predict_deployment(store, deployment: dict, *, version: str | None = None) -> dict:
    """Answer one deployment (wire-shaped dict; ``started`` epoch seconds or ISO text)."""
    predictor = load_predictor(store, version)
    return predictor.answer(validate_deployment(deployment, "deployment"))


def predict_anywhere(deployment: dict, *, db: Path | None = None, endpoint: str | None = None,
                     version: str | None = None) -> dict:
    """Answer one deployment through the running daemon when there is one (it then owns the
    store) and no store or model version was named; else straight from the store."""
    if db is None and version is None:
        from predictor.client import call, daemon_running

        if daemon_running(endpoint):
            record = validate_deployment(deployment, "deployment")
            wire = {key: value for key, value in deployment.items() if key != "started"}
            wire["started"] = epoch_us(record["started"]) / 1e6
            return call("predict", {"deployment": wire}, endpoint=endpoint)
    from predictor.store import open_store

    with open_store(db, read_only=True) as store:
        return predict_deployment(store, deployment, version=version)


def read_deployments(path: Path) -> list[tuple[int, dict]]:
    """Return (line, record) pairs from a CSV or JSON Lines file of deployments."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(str(path), "input file not found")
    text = path.read_text(encoding="utf-8")
    first = text.lstrip()[:1]
    records: list[tuple[int, dict]] = []
    if first == "{":
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise IngestError(str(path), f"not valid JSON: {exc.msg}", line=number) from exc
            if not isinstance(record, dict):
                raise IngestError(str(path), "expected a JSON object per line", line=number,
                                  found=type(record).__name__)
            records.append((number, record))
        return records
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "service" not in reader.fieldnames:
        raise IngestError(str(path), "expected a CSV header with at least service, environment, started "
                          "(or JSON Lines)", line=1, found=",".join(reader.fieldnames or []))
    for number, row in enumerate(reader, start=2):
        record: dict = {key: (value if value != "" else None) for key, value in row.items() if key}
        for key in JSON_FIELDS:
            if isinstance(record.get(key), str):
                try:
                    record[key] = json.loads(record[key])
                except ValueError as exc:
                    raise IngestError(str(path), "not valid JSON", line=number, field=key,
                                      expected="a JSON object", found=record[key]) from exc
        for key in NUMBER_FIELDS:
            if isinstance(record.get(key), str):
                try:
                    record[key] = float(record[key])
                except ValueError as exc:
                    raise IngestError(str(path), "not a number", line=number, field=key,
                                      expected="a number", found=record[key]) from exc
        records.append((number, record))
    return records


def score_file(store, input_path: Path, output_path: Path, *, version: str | None = None) -> dict:
    """Score every deployment of INPUT_PATH; write answers to OUTPUT_PATH; return a summary."""
    rows = read_deployments(input_path)
    records = []
    for number, record in rows:
        try:
            records.append(validate_deployment(record, "deployment"))
        except ValidationError as exc:
            raise IngestError(str(input_path), str(exc), line=number, field=exc.field.split(".", 1)[-1]) from exc
    predictor = load_predictor(store, version)
    answers = [predictor.answer(record) for record in records]
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_path.suffix.lower() == ".csv":
        with open(output_path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["deployment_id", "service", "environment", "started", "failure_probability",
                             "risk_level", "abstained", "top_factors", "similar_deployments", "model_version"])
            for record, answer in zip(records, answers):
                writer.writerow([
                    answer["deployment_id"], record["service"], record["environment"],
                    record["started"].isoformat(), f"{answer['failure_probability']:.6f}", answer["risk_level"],
                    str(answer["abstained"]).lower(),
                    "; ".join(f"{f['feature']}={f['value']} ({f['contribution']:+.3f})" for f in answer["factors"]),
                    " ".join(s["id"] for s in answer["similar_deployments"]), answer["model_version"]])
    else:
        with open(output_path, "w", encoding="utf-8") as handle:
            for answer in answers:
                handle.write(json.dumps(answer) + "\n")
    return {"input": str(input_path), "output": str(output_path), "rows": len(answers),
            "abstained": sum(a["abstained"] for a in answers), "model_version": predictor.version}
