"""Guile -> daemon -> Guile round trip of predict-deployment-outcome, next to the Python client.

Usage: .venv/bin/python bench/guile_roundtrip.py [--db STORE] [--calls N] [--warmup N] [--rounds N]
       [--guile-env NAME=VALUE ...]

Without --db, a demo history is generated, ingested and trained in a temporary store. For two
placements, un-pinned and pinned to one CPU (`taskset -c 0`, daemon and clients alike), the
script starts `predictor serve` on a fresh ipc endpoint, then times the same `predict` call
from Guile (bench/guile_roundtrip.scm, through the plugin) and from Python
(`predictor.client.Client`), alternating for --rounds rounds (default 5) in the same run, and
prints the median over rounds of p50/p99 in microseconds, the Guile/Python p50 ratio (of those
medians, and the median and range of each round's own ratio: a round's two clients run back to
back, so its ratio is the least touched by the machine's changes of speed), each client's codec
time per call (the request encoded, the daemon's own reply to it decoded), and what Guile's garbage collector cost over the
timed calls (collections per 1000 calls, mean stop-the-world pause, bytes allocated per call:
figures that, unlike latencies, do not move with the machine's load). Each client first makes
--warmup untimed calls (default 1500: Guile's JIT compiles a procedure after about 1000 entries
or loop iterations, so the per-call procedures of a shorter warm-up run uncompiled during the
first timed calls; a long-lived ledger process reaches the compiled state, and this measures it;
--warmup 300 shows the earlier state). --guile-env sets a variable for
the Guile client only, e.g. GC_INITIAL_HEAP_SIZE=32M to see the effect of a larger heap on its
collections. The machine's load (`uptime`) is printed next to the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


DEPLOYMENT = {  # the wire form of the deployment bench/guile_roundtrip.scm sends
    "id": "bench-1", "version": "2.4.1", "environment": "production", "deployment_type": "canary",
    "started": 1771934400, "completed": None, "status": "in-progress", "initiator": "bench",
    "metadata": {"ticket": "OPS-7", "region": "eu-west-1"}, "parent_id": None, "change_size": 120,
    "strategy": "canary", "automated": True, "resources": ["cpu", "memory"],
}


def build_store(directory: Path) -> tuple[Path, str, str]:
    """Return (store, service, note): a demo history ingested and, when possible, trained."""
    from predictor.demo_data import generate_history
    from predictor.store import open_store
    from predictor.store.ingest import ingest_records

    history = generate_history(seed=0, services=12, days=60, deployments_per_day=20)
    path = directory / "history.duckdb"
    store = open_store(path)
    note = "trained"
    try:
        ingest_records(store, deployments=history.deployments, rollbacks=history.rollbacks,
                       services=history.services)
        try:
            from predictor.models.train import train_and_register
            train_and_register(store, promote="always")
        except Exception as exc:  # the figures are still worth printing; say why they are partial
            note = f"not trained ({type(exc).__name__}: {exc})"
    finally:
        store.con.close()
    return path, history.deployments[0]["service"], note


def python_client_run(endpoint: str, service: str, calls: int, warmup: int = 1500) -> None:
    """Time CALLS predict calls through predictor.client and print KEY=VALUE figures."""
    from predictor.client import Client
    from predictor.errors import RemoteError

    params = {"deployment": dict(DEPLOYMENT, service=service)}
    outcome = "ok"
    samples = []
    warm = min(warmup, calls)
    with Client(endpoint) as client:
        for i in range(warm + calls):
            if i == warm:
                cpu_start = time.process_time()
            start = time.perf_counter_ns()
            try:
                client.call("predict", params)
            except RemoteError as exc:
                outcome = exc.code
            if i >= warm:
                samples.append(time.perf_counter_ns() - start)
    cpu_us = (time.process_time() - cpu_start) * 1e6 / calls
    samples.sort()
    p50 = samples[len(samples) // 2] / 1000
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000
    encode_us, decode_us = python_codec_us(endpoint, params)
    print(f"python outcome={outcome} calls={calls} p50_us={p50:.1f} p99_us={p99:.1f} cpu_us={cpu_us:.1f} "
          f"encode_us={encode_us:.2f} decode_us={decode_us:.2f}")


def python_codec_us(endpoint: str, params: dict, n: int = 5000) -> tuple[float, float]:
    """Return what the Python client's codec takes per call, in microseconds: the request
    encoded as predictor.client encodes it, and the daemon's reply to it decoded and checked."""
    import zmq

    from predictor.protocol import decode_reply, encode, request

    with zmq.Context() as context, context.socket(zmq.DEALER) as socket:
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, 2000)
        socket.connect(endpoint)
        socket.send_multipart([b"", encode(request("predict", params, id="python-1-1", deadline_ms=2000))])
        reply = socket.recv_multipart()[1]
    start = time.perf_counter_ns()
    for _ in range(n):
        encode(request("predict", params, id="python-1-1", deadline_ms=2000))
    encode_us = (time.perf_counter_ns() - start) / n / 1000
    start = time.perf_counter_ns()
    for _ in range(n):
        decode_reply(reply)
    return encode_us, (time.perf_counter_ns() - start) / n / 1000


def figures(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split()[1:])


def start_daemon(prefix: list[str], store: Path, endpoint: str, log: Path) -> subprocess.Popen:
    daemon = subprocess.Popen(prefix + [sys.executable, "-m", "predictor", "serve", "--db", str(store),
                                        "--endpoint", endpoint, "--log-level", "warning"],
                              stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)
    from predictor.client import call
    from predictor.errors import DaemonUnavailableError
    for _ in range(1200):  # until the first load of the models is done (generation 1)
        try:
            if call("model_info", {}, endpoint=endpoint, timeout=0.3, retries=0)["generation"] >= 1:
                return daemon
        except DaemonUnavailableError:
            pass
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    daemon.terminate()
    raise SystemExit("the daemon did not load its models within 120 s")


def run_placement(name: str, prefix: list[str], store: Path, service: str, calls: int, work: Path,
                  warmup: int, guile_env: dict[str, str], rounds_wanted: int) -> dict:
    endpoint = f"ipc://{work / (name + '.sock')}"
    daemon = start_daemon(prefix, store, endpoint, work / f"{name}.log")
    rounds: dict[str, list[dict]] = {"guile": [], "python": []}
    try:
        for _ in range(rounds_wanted):  # alternate the clients so a change of load hits both alike
            guile = subprocess.run(prefix + ["guile", "-L", str(ROOT / "scheme"),
                                             str(ROOT / "bench" / "guile_roundtrip.scm"), endpoint, service, str(calls),
                                             str(warmup)],
                                   capture_output=True, text=True, check=True, cwd=ROOT,
                                   env={**os.environ, **guile_env})
            python = subprocess.run(prefix + [sys.executable, __file__, "--python-client", endpoint, service, str(calls),
                                              str(warmup)],
                                    capture_output=True, text=True, check=True, cwd=ROOT)
            rounds["guile"].append(figures([line for line in guile.stdout.splitlines() if line.startswith("guile ")][0]))
            rounds["python"].append(figures([line for line in python.stdout.splitlines() if line.startswith("python ")][0]))
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    ratios = sorted(float(g["p50_us"]) / float(p["p50_us"]) for g, p in zip(rounds["guile"], rounds["python"]))
    return {"placement": name, "round_ratios": ratios,
            **{client: median_figures(runs) for client, runs in rounds.items()}}


def median_figures(runs: list[dict]) -> dict:
    """Return the per-key median over RUNS (numbers) and the last run's text values."""
    merged = dict(runs[-1])
    for key in runs[-1]:
        if key.endswith("_us") or key in ("gc_per_1000", "alloc_per_call"):
            merged[key] = f"{statistics.median(float(run[key]) for run in runs):.2f}"
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a store with a trained model (default: build a demo one)")
    parser.add_argument("--service", help="service to ask about (default: the demo's first)")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=1500, help="untimed calls before the timed ones (default 1500)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two clients per placement (default 5)")
    parser.add_argument("--guile-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the Guile client only (repeatable)")
    parser.add_argument("--python-client", nargs=4, metavar=("ENDPOINT", "SERVICE", "CALLS", "WARMUP"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.python_client:
        endpoint, service, calls, warmup = args.python_client
        python_client_run(endpoint, service, int(calls), int(warmup))
        return
    work = Path(tempfile.mkdtemp(prefix="guile-bench-"))
    try:
        if args.db:
            store, service, note = args.db, args.service or "payments", "given store"
        else:
            store, service, note = build_store(work)
        placements = [("un-pinned", [])]
        if shutil.which("taskset"):
            placements.append(("pinned cpu0", ["taskset", "-c", "0"]))
        guile_env = dict(item.split("=", 1) for item in args.guile_env)
        print(f"store: {note}; service {service}; {args.calls} calls per client per round after "
              f"{args.warmup} untimed, {args.rounds} rounds (medians)"
              + (f"; Guile run with {' '.join(args.guile_env)}" if guile_env else ""))
        print(f"{'placement':<12} {'client':<7} {'outcome':<18} {'p50 us':>8} {'p99 us':>9} {'client CPU us/call':>19}")
        for name, prefix in placements:
            result = run_placement(name.split()[0], prefix, store, service, args.calls, work, args.warmup,
                                   guile_env, args.rounds)
            for client in ("guile", "python"):
                f = result[client]
                print(f"{name:<12} {client:<7} {f['outcome']:<18} {float(f['p50_us']):>8.1f} {float(f['p99_us']):>9.1f} "
                      f"{float(f['cpu_us']):>19.1f}")
            g, p = result["guile"], result["python"]
            ratios = result["round_ratios"]
            print(f"{name:<12} Guile/Python p50 ratio {float(g['p50_us']) / float(p['p50_us']):.2f}; "
                  f"per round: median {statistics.median(ratios):.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}")
            print(f"{name:<12} codec, Guile / Python: encode request {g['encode_us']} / {p['encode_us']} us, "
                  f"decode reply {g['decode_us']} / {p['decode_us']} us "
                  f"({g['request_bytes']}-byte request, {g['reply_bytes']}-byte reply)")
            print(f"{name:<12} Guile GC: {float(g['gc_per_1000']):.2f} collections per 1000 calls, "
                  f"{float(g['gc_pause_us']) / 1000:.1f} ms each, {float(g['alloc_per_call']):.0f} bytes "
                  f"allocated per call")
        print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
