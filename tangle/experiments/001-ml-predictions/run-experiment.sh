#!/bin/sh
# run-experiment.sh -- run experiment 001 end to end (tangled from README.org: edit it there)
#
# Environment: PREDICTOR (the predictor command), PYTHON, GUILE; LEDGER_DB (a ledger database
# to use instead of the demo ledger); DEMO_SEED, DEMO_SERVICES, DEMO_DAYS, DEMO_PER_DAY (the
# demo ledger's size).  Work files go to ./work; the results are written beside this script.
set -eu
if [ -n "${LEDGER_DB:-}" ]; then LEDGER_DB=$(realpath "$LEDGER_DB"); fi
cd "$(dirname "$0")"
PREDICTOR=${PREDICTOR:-predictor}
PYTHON=${PYTHON:-python3}
GUILE=${GUILE:-guile}
DEMO_SEED=${DEMO_SEED:-1}
DEMO_SERVICES=${DEMO_SERVICES:-12}
DEMO_DAYS=${DEMO_DAYS:-90}
DEMO_PER_DAY=${DEMO_PER_DAY:-40}

work=$(pwd)/work
rm -rf "$work"
mkdir -p "$work/home"
export PREDICTOR_HOME="$work/home"
export PREDICTOR_ENDPOINT="ipc://$work/home/predictor.sock"

step() { printf '\n== experiment 001: %s\n' "$*" >&2; }

step "the ledger"
if [ -n "${LEDGER_DB:-}" ]; then
  ledger=$LEDGER_DB
else
  $PREDICTOR demo-data "$work/demo" --seed "$DEMO_SEED" --services "$DEMO_SERVICES" \
    --days "$DEMO_DAYS" --per-day "$DEMO_PER_DAY" --formats sqlite
  ledger=$work/demo/ledger.db
fi

step "collect the history with Guile"
$GUILE collect-data.scm --db "$ledger" --out "$work/history.sexp" \
  --features "$work/features.lines" --services "$work/services.jsonl" 2>"$work/collect.log" \
  || { cat "$work/collect.log" >&2; exit 1; }
cat "$work/collect.log" >&2

step "ingest"
$PREDICTOR ingest "$work/history.sexp" "$work/features.lines" "$work/services.jsonl"

step "train"
$PREDICTOR train

step "evaluate (time-ordered, with baselines)"
$PREDICTOR evaluate --json >"$work/evaluation-metrics.json"
cp "$work/evaluation-metrics.json" evaluation-metrics.json

step "plots"
artifacts=$(ls -d "$PREDICTOR_HOME"/models/failure-*/ | tail -n 1)   # the newest failure model
cp "$artifacts/feature-importance.png" feature-importance.png
for plot in calibration.png risk-heatmap.png; do
  if [ -f "$artifacts/$plot" ]; then cp "$artifacts/$plot" "$plot"; fi
done
$PREDICTOR models list --json >"$work/models.json"

step "ask the daemon from Guile through the plugin"
$PREDICTOR serve >"$work/serve.log" 2>&1 &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
# wait until the daemon answers and has loaded its models
tries=0
until $PREDICTOR status --json 2>/dev/null | grep -q '"loading": false'; do
  tries=$((tries + 1))
  if [ "$tries" -gt 120 ] || ! kill -0 "$serve_pid" 2>/dev/null; then
    echo "run-experiment: the daemon did not become ready; its log follows" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
  sleep 1
done
# a deployment one hour after the last one in the history
last=$(grep -o '(started "[^"]*")' "$work/history.sexp" | tail -n 1 | cut -d'"' -f2)
at=$(date -u -d "$last + 1 hour" +%Y-%m-%dT%H:%M:%SZ)
GUILE_LOAD_PATH="$($PREDICTOR scheme-path)${GUILE_LOAD_PATH:+:$GUILE_LOAD_PATH}" \
  $GUILE --no-auto-compile call-plugin.scm --features "$work/features.lines" --at "$at" \
  >"$work/plugin-answer.scm"
cat "$work/plugin-answer.scm"
kill "$serve_pid"
wait "$serve_pid" || true
trap - EXIT

step "results table"
$PYTHON results-table.py evaluation-metrics.json --history "$work/collect.log" \
  --models "$work/models.json" --plugin-answer "$work/plugin-answer.scm" >"$work/results.org"
cp "$work/results.org" results.org
step "done: evaluation-metrics.json, feature-importance.png, results.org"
