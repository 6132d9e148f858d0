"""Benchmark the daemon over ipc: predict and ping round trips, concurrency, batch throughput.

Builds a demo store (20 services, 120 days), trains a failure model with the models area's
``train_and_register`` (unless --home points at a trained store), starts ``predictor serve``
and measures from Python clients (:class:`predictor.client.Client`):

* ``ping`` and ``predict`` round trips, interleaved in the same run (1 client), p50/p99;
* ``predict`` with 4 concurrent client processes, p50/p99 over all calls;
* CPU time per ``ping`` and per ``predict`` of the daemon (all threads) and of the client
  (stable when latencies are not: it does not move with the machine's load);
* ``predict_batch`` throughput with batches of 100 deployments (with and without factors);

twice: pinned (daemon and clients on CPU 0 with ``taskset``/sched_setaffinity) and un-pinned.

Run: ``.venv/bin/python bench/daemon.py [--calls 5000] [--home DIR] [--no-log-predictions]
[--only pinned|un-pinned] [--serve-arg=--no-log-predictions ...]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from predictor.client import Client, daemon_running  # noqa: E402


def build_home(home: Path) -> str:
    """Ingest the demo history into HOME and train a champion; return its version."""
    from predictor.demo_data import generate_history
    from predictor.models.train import train_and_register
    from predictor.store import open_store
    from predictor.store.ingest import ingest_records

    os.environ["PREDICTOR_HOME"] = str(home)
    history = generate_history(seed=0)
    with open_store(home / "history.duckdb") as store:
        ingest_records(store, deployments=history.deployments, rollbacks=history.rollbacks,
                       services=history.services, source="bench", mode="upsert")
        record = train_and_register(store, promote="always", evaluate_first=False, plots=False)
        store.con.execute("CHECKPOINT")
    return record.version


def sample_deployments(home: Path, count: int) -> list[dict]:
    """Return COUNT wire deployments like the newest of the store (times shifted a day later)."""
    from predictor.store import open_store

    with open_store(home / "history.duckdb", read_only=True) as store:
        rows = store.con.execute(
            "SELECT id, service, version, environment, deployment_type, epoch(started), change_size "
            "FROM deployments ORDER BY started DESC LIMIT ?", [count]).fetchall()
    return [{"id": f"bench-{i}", "service": service, "version": version, "environment": environment,
             "deployment_type": kind, "started": started + 86400, "change_size": change or 0}
            for i, (_, service, version, environment, kind, started, change) in enumerate(rows)]


def start_daemon(home: Path, endpoint: str, pinned: bool, log_predictions: bool,
                 extra: tuple[str, ...] = ()) -> subprocess.Popen:
    command = [sys.executable, "-m", "predictor", "serve", "--db", str(home / "history.duckdb"), "--endpoint", endpoint,
               "--log-file", str(home / "daemon.log")]
    if not log_predictions:
        command.append("--no-log-predictions")
    command.extend(extra)
    if pinned:
        command = ["taskset", "-c", "0", *command]
    proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PREDICTOR_HOME=str(home)))
    end = time.monotonic() + 120
    while time.monotonic() < end:
        if daemon_running(endpoint, timeout=0.5):
            with Client(endpoint, timeout=5) as client:
                if client.call("status")["generation"] >= 1:
                    return proc
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("daemon did not start")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def interleaved(endpoint: str, deployment: dict, calls: int, context) -> dict:
    """Alternate ping and predict on one client; return both latency lists in microseconds."""
    client = Client(endpoint, timeout=5, context=context)
    params = {"deployment": deployment}
    for _ in range(200):  # warm up
        client.call("ping")
        client.call("predict", params)
    pings, predicts = [], []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        client.call("ping")
        middle = clock()
        client.call("predict", params)
        ended = clock()
        pings.append((middle - started) * 1e6)
        predicts.append((ended - middle) * 1e6)
    client.close()
    return {"ping": pings, "predict": predicts}


def process_cpu_ns(pid: int) -> int:
    """CPU time (ns) every thread of process PID has run so far (/proc/PID/task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended meanwhile
    return total


def settle(client: Client, limit: float = 60.0) -> None:
    """Wait until the daemon's prediction log has nothing left to write (it writes in lulls)."""
    end = time.monotonic() + limit
    time.sleep(0.05)
    while client.call("status")["prediction_log_pending"] and time.monotonic() < end:
        time.sleep(0.1)


def cpu_per_call(endpoint: str, pid: int, method: str, params: dict, calls: int, context) -> tuple[float, float]:
    """(daemon CPU, client CPU) in microseconds per call of METHOD: all the daemon's threads
    (its ZeroMQ I/O thread, the prediction-log writer...), and this client's process. Unlike
    latencies, CPU time per call barely moves with the machine's load or the CPU placement."""
    client = Client(endpoint, timeout=5, context=context)
    for _ in range(200):
        client.call(method, params)
    settle(client)  # the prediction log's writer has written what came before
    daemon_before, client_before = process_cpu_ns(pid), process_cpu_ns(os.getpid())
    for _ in range(calls):
        client.call(method, params)
    client_cpu = (process_cpu_ns(os.getpid()) - client_before) / calls / 1000
    settle(client)  # ... and what the timed calls left to write is counted
    daemon_cpu = (process_cpu_ns(pid) - daemon_before) / calls / 1000
    client.close()
    return daemon_cpu, client_cpu


def _predict_worker(endpoint: str, deployment: dict, calls: int, queue) -> None:
    client = Client(endpoint, timeout=5)
    params = {"deployment": deployment}
    for _ in range(100):
        client.call("predict", params)
    latencies = []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        client.call("predict", params)
        latencies.append((clock() - started) * 1e6)
    client.close()
    queue.put(latencies)


def concurrent(endpoint: str, deployment: dict, calls: int, clients: int) -> tuple[list[float], float]:
    """Run CLIENTS processes each doing CALLS predicts; return all latencies and the aggregate rate."""
    queue = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_predict_worker, args=(endpoint, deployment, calls, queue))
               for _ in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    latencies = []
    for _ in workers:
        latencies.extend(queue.get())
    for worker in workers:
        worker.join()
    return latencies, clients * calls / (time.perf_counter() - started)


def batch_throughput(endpoint: str, deployments: list[dict], rounds: int, explain: bool, context) -> float:
    client = Client(endpoint, timeout=30, context=context)
    params = {"deployments": deployments[:100], "explain": explain}
    client.call("predict_batch", params)
    started = time.perf_counter()
    for _ in range(rounds):
        client.call("predict_batch", params)
    elapsed = time.perf_counter() - started
    client.close()
    return rounds * 100 / elapsed


def breakdown(home: Path, deployment: dict, calls: int = 2000, batch: list[dict] | None = None) -> None:
    """Print where a predict request's time goes inside the daemon, measured in-process (no sockets)."""
    from predictor.daemon.shapes import check_params
    from predictor.models.runtime import load_answerer
    from predictor.protocol import decode_request, encode, ok_reply, request
    from predictor.store import open_store

    with open_store(home / "history.duckdb", read_only=True) as store:
        answerer = load_answerer(store)
    params = {"deployment": deployment}
    payload = encode(request("predict", params, id="bench-1", deadline_ms=2000))
    ping = encode(request("ping", {}, id="bench-2"))
    result = answerer.methods["predict"](params)

    def per_call(function, n=calls) -> float:
        started = time.perf_counter()
        for _ in range(n):
            function()
        return (time.perf_counter() - started) / n * 1e6

    figures = {
        "decode+check envelope (ping)": per_call(lambda: decode_request(ping)),
        "decode+check envelope (predict)": per_call(lambda: decode_request(payload)),
        "check deployment shape": per_call(lambda: check_params("predict", params)),
        "models answerer, explain=true": per_call(lambda: answerer.methods["predict"](params), calls // 4),
        "models answerer, explain=false": per_call(
            lambda: answerer.methods["predict"]({**params, "explain": False}), calls // 4),
        "encode reply (predict)": per_call(lambda: encode(ok_reply("bench-1", result))),
    }
    wire = answerer.wire  # the daemon's compiled path: payload in, reply payload out
    if wire is not None:
        figures["compiled path: payload -> reply"] = per_call(lambda: wire.answer(payload, 0.0), calls // 4)
    if batch:
        many = {"deployments": batch, "explain": False}
        figures[f"predict_batch x{len(batch)}, explain=false"] = per_call(
            lambda: answerer.methods["predict_batch"](many), calls // 20)
        if wire is not None:
            batch_payload = encode(request("predict_batch", many, id="bench-3"))
            figures[f"compiled predict_batch x{len(batch)}"] = per_call(
                lambda: wire.answer(batch_payload, 0.0), calls // 20)
        figures[f"predict_batch x{len(batch)}, with factors"] = per_call(
            lambda: answerer.methods["predict_batch"]({"deployments": batch}), calls // 100)
        if wire is not None:
            explained_payload = encode(request("predict_batch", {"deployments": batch}, id="bench-4"))
            figures[f"compiled predict_batch x{len(batch)}, factors"] = per_call(
                lambda: wire.answer(explained_payload, 0.0), calls // 100)
    print("\n== predict inside the daemon, in-process, per call (Python path pieces, then the compiled path) ==")
    for name, micros in figures.items():
        print(f"{name:34s} {micros:8.1f} us")


ECHO_SERVER = """
import sys, zmq
router = zmq.Context().socket(zmq.ROUTER)
router.bind(sys.argv[1])
while True:
    frames = router.recv_multipart()
    if frames[-1] == b"stop":
        break
    router.send_multipart(frames)
"""


def echo_floor(home: Path, pinned: bool, calls: int, context) -> tuple[float, float]:
    """Round trip of a bare pyzmq ROUTER echo (no protocol, no daemon): the floor under these conditions."""
    import zmq

    endpoint = f"ipc://{home / 'echo.sock'}"
    command = [sys.executable, "-c", ECHO_SERVER, endpoint]
    server = subprocess.Popen(["taskset", "-c", "0", *command] if pinned else command)
    socket = context.socket(zmq.DEALER)
    socket.connect(endpoint)
    payload = b"\x84\xa8protocol\x01\xa2id\xa5abc-1\xa6method\xa4ping\xa6params\x80"
    latencies = []
    for index in range(calls + 200):
        started = time.perf_counter()
        socket.send_multipart([b"", payload])
        socket.recv_multipart()
        if index >= 200:
            latencies.append((time.perf_counter() - started) * 1e6)
    socket.send_multipart([b"", b"stop"])
    server.wait(timeout=10)
    socket.close(linger=0)
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


def run_mode(home: Path, pinned: bool, args, deployments: list[dict]) -> None:
    endpoint = f"ipc://{home / ('pinned.sock' if pinned else 'free.sock')}"
    all_cpus = os.sched_getaffinity(0)
    import zmq

    proc = start_daemon(home, endpoint, pinned, args.log_predictions, tuple(args.serve_arg))
    try:
        if pinned:
            os.sched_setaffinity(0, {0})
        # a context of this mode's own: its I/O thread starts now and inherits the CPU mask set
        # just above (the shared instance's I/O thread started before, on any CPU)
        context = zmq.Context()
        label = "pinned (taskset -c 0: daemon and client on CPU 0)" if pinned else "un-pinned"
        print(f"\n== {label} ==")
        floor50, floor99 = echo_floor(home, pinned, args.calls, context)
        print(f"bare pyzmq echo  : p50 {floor50:7.1f} us  p99 {floor99:7.1f} us  (floor: no protocol, no daemon)")
        single = interleaved(endpoint, deployments[0], args.calls, context)
        ping50, ping99 = percentile(single["ping"], 0.5), percentile(single["ping"], 0.99)
        pred50, pred99 = percentile(single["predict"], 0.5), percentile(single["predict"], 0.99)
        print(f"ping    1 client : p50 {ping50:7.1f} us  p99 {ping99:7.1f} us  ({args.calls} calls)")
        print(f"predict 1 client : p50 {pred50:7.1f} us  p99 {pred99:7.1f} us  ({args.calls} calls)")
        print(f"predict/ping p50 ratio: {pred50 / ping50:.2f}")
        for method, params in (("ping", {}), ("predict", {"deployment": deployments[0]})):
            daemon_cpu, client_cpu = cpu_per_call(endpoint, proc.pid, method, params, args.calls, context)
            print(f"CPU per {method:7s}: daemon {daemon_cpu:6.1f} us (all threads, the prediction log's writes "
                  f"included), client process {client_cpu:6.1f} us")
        latencies, rate = concurrent(endpoint, deployments[0], args.calls // 2, 4)
        print(f"predict 4 clients: p50 {percentile(latencies, 0.5):7.1f} us  p99 {percentile(latencies, 0.99):7.1f} us  "
              f"({len(latencies)} calls, {rate:,.0f} calls/s)")
        for explain in (True, False):
            throughput = batch_throughput(endpoint, deployments, args.batches, explain, context)
            print(f"predict_batch x100 ({'with factors' if explain else 'explain=false'}): {throughput:,.0f} predictions/s")
        with Client(endpoint, context=context) as client:
            status = client.call("status")
        context.term()
        print(f"daemon: {status['requests_served']} requests, {status['errors']} errors, "
              f"prediction log written {status['prediction_log_written']} dropped {status['prediction_log_dropped']}")
    finally:
        os.sched_setaffinity(0, all_cpus)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="round trips per measurement")
    parser.add_argument("--batches", type=int, default=100, help="predict_batch calls per throughput figure")
    parser.add_argument("--home", type=Path, help="a PREDICTOR_HOME with a trained store (default: build one)")
    parser.add_argument("--no-log-predictions", dest="log_predictions", action="store_false",
                        help="run the daemon without the prediction log")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="pass this argument on to `predictor serve` (repeatable), e.g. --serve-arg=--high-water-mark=100")
    parser.add_argument("--only", choices=["pinned", "un-pinned"], help="measure one placement only")
    args = parser.parse_args()
    scratch = None
    if args.home is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
        started = time.perf_counter()
        version = build_home(scratch)
        home = scratch
        print(f"built demo store and trained {version} in {time.perf_counter() - started:.1f} s")
    else:
        home = args.home
    os.environ["PREDICTOR_HOME"] = str(home)
    deployments = sample_deployments(home, 100)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
          f"{os.cpu_count()} CPUs; prediction log {'on' if args.log_predictions else 'off'}")
    print("sample request:", json.dumps(deployments[0]))
    breakdown(home, deployments[0], batch=deployments)
    try:
        for pinned in (True, False):
            if args.only is None or args.only == ("pinned" if pinned else "un-pinned"):
                run_mode(home, pinned, args, deployments)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
