"""Every method over real sockets against one real daemon on the demo store; bad input never kills it."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon_helpers import DaemonProcess, raw_call, request_bytes
from predictor.client import Client
from predictor.errors import RemoteError
from predictor.protocol import ERROR_CODES, decode_reply, encode
from predictor.protocol_vectors import load_cases

DAY = 86400


@pytest.fixture(scope="module")
def served(demo, tmp_path_factory):
    """(daemon, facts, area readiness) for the whole module, on a private copy of the demo store."""
    home, facts = demo
    private = tmp_path_factory.mktemp("methods") / "home"
    shutil.copytree(home, private)
    daemon = DaemonProcess(private, f"ipc://{private / 'm.sock'}")
    daemon.wait_ready()
    with Client(daemon.endpoint) as client:
        areas = client.call("model_info")["areas"]
    yield daemon, facts, areas
    assert daemon.stop() == 0


@pytest.fixture
def client(served):
    with Client(served[0].endpoint, timeout=5.0) as connection:
        yield connection


def _deployment(facts: dict, **changes) -> dict:
    last = facts["last_deployment"]
    deployment = {"id": "q-1", "service": last["service"], "version": "9.9.9", "environment": "production",
                  "deployment_type": "canary", "started": last["started"].timestamp() + DAY, "change_size": 40}
    deployment.update(changes)
    return deployment


def _params(method: str, facts: dict) -> dict:
    service = facts["last_deployment"]["service"]
    start = facts["last_deployment"]["started"].timestamp()
    return {
        "predict": {"deployment": _deployment(facts)},
        "predict_batch": {"deployments": [_deployment(facts, id=f"b-{i}") for i in range(3)]},
        "suggest_time": {"service": service, "environment": "production", "from": start, "to": start + 3 * DAY},
        "analyze_risk": {"deployment": _deployment(facts)},
        "estimate": {"deployment": _deployment(facts)},
        "forecast": {"service": service, "environment": "production"},
        "recommendations": {"service": service},
        "adaptations": {"service": service},
        "rollback_scenarios": {"service": service},
        "analytics": {"service": service},
    }[method]


AREA_OF = {"predict": "models", "predict_batch": "models", "suggest_time": "estimates", "analyze_risk": "estimates",
           "estimate": "estimates", "forecast": "estimates", "recommendations": "patterns", "adaptations": "patterns",
           "rollback_scenarios": "patterns", "analytics": "patterns"}


@pytest.mark.parametrize("method", sorted(AREA_OF))
def test_area_methods_answer_or_say_model_unavailable(served, client, method):
    _, facts, areas = served
    area = areas[AREA_OF[method]]
    if area["ready"] and method in area["methods"]:
        result = client.call(method, _params(method, facts))
        assert isinstance(result, dict) and result
    else:
        with pytest.raises(RemoteError) as caught:
            client.call(method, _params(method, facts))
        assert caught.value.code == "model_unavailable"
        assert "run `predictor" in str(caught.value)


def test_predict_gives_a_probability_with_reasons_when_a_model_is_trained(served, client):
    _, facts, areas = served
    if not areas["models"]["ready"]:
        with pytest.raises(RemoteError, match="model_unavailable"):
            client.call("predict", _params("predict", facts))
        assert facts["model_version"] is None or "models" in areas  # trained but no runtime yet
        return
    result = client.call("predict", _params("predict", facts))
    assert 0.0 <= result["failure_probability"] <= 1.0
    assert result["deployment_id"] == "q-1"
    assert result["model_version"] == facts["model_version"]
    for key in ("risk_level", "abstained", "base_rate", "factors", "similar_deployments"):
        assert key in result
    batch = client.call("predict_batch", _params("predict_batch", facts))["predictions"]
    assert [p["deployment_id"] for p in batch] == ["b-0", "b-1", "b-2"]


def test_daemon_methods(served, client):
    daemon, facts, _ = served
    assert client.call("ping") == {"pong": True}
    status = client.call("status")
    assert status["endpoint"] == daemon.endpoint and status["protocol"] == 1
    assert status["requests_served"] >= 1 and status["uptime_seconds"] > 0 and status["queue_depth"] == 0
    # the demo's model (UTC, no challenger) answers predicts through the compiled path
    assert status["compiled_path"] is (facts["model_version"] is not None)
    info = client.call("model_info")
    assert set(info["areas"]) == {"models", "estimates", "patterns"}
    assert info["model_version"] == (facts["model_version"] if info["areas"]["models"]["ready"] else None)
    assert [m["version"] for m in info["models"] if m["champion"]] == ([facts["model_version"]] if facts["model_version"] else [])
    assert client.call("feedback", {"request_id": "q-1", "outcome": "success", "useful": True}) == {"stored": True}
    reloaded = client.call("reload")
    assert reloaded["generation"] == info["generation"] + 1
    assert client.call("status")["generation"] == reloaded["generation"]


def test_record_is_seen_at_once_by_the_answerers(served, client):
    _, facts, areas = served
    start = facts["last_deployment"]["started"].timestamp() + 2 * DAY
    deployments = [{"id": f"rec-{i}", "service": "svc-recorded", "environment": "production", "started": start + i * 600,
                    "completed": start + i * 600 + 120, "status": "success" if i else "failure",
                    "deployment_type": "rolling"} for i in range(3)]
    result = client.call("record", {"deployments": deployments,
                                    "services": [{"name": "svc-recorded", "type": "microservice",
                                                  "dependencies": [{"depends_on": facts["services"][0], "kind": "hard"}]}]})
    assert result == {"deployments": 3, "rollbacks": 0, "services": 1, "outcomes": 3}
    again = client.call("record", {"deployments": deployments[:1]})  # upsert: a retry changes nothing
    assert again["deployments"] == 1
    if areas["patterns"]["ready"]:
        seen = client.call("analytics", {"service": "svc-recorded", "from": start - DAY, "to": start + DAY})
        assert seen["deployments"] == 3


BAD_REQUESTS = [
    # (name, payload, code, field)
    ("not msgpack", b"\xc1", "malformed", None),
    ("truncated", b"\x92\x01", "malformed", None),
    ("not a map", b"\x93\x01\x02\x03", "malformed", None),
    ("no id", encode({"protocol": 1, "method": "ping", "params": {}}), "invalid_envelope", "id"),
    ("protocol 2", request_bytes("ping", protocol=2), "unsupported_protocol", "protocol"),
    ("unknown method", request_bytes("predikt"), "unknown_method", "method"),
    ("params not a map", request_bytes("ping")[:-1] + b"\x90", "invalid_envelope", "params"),
    ("deadline passed", request_bytes("ping", deadline_ms=0), "deadline_exceeded", "deadline_ms"),
    ("deployment missing", request_bytes("predict", {}), "invalid_params", "params.deployment"),
    ("service an int", request_bytes("predict", {"deployment": {"service": 5, "environment": "p"}}),
     "invalid_params", "params.deployment.service"),
    ("year 9999", request_bytes("predict", {"deployment": {"service": "a", "environment": "p", "started": 253370764800}}),
     "invalid_params", "params.deployment.started"),
    ("NaN time", request_bytes("predict", {"deployment": {"service": "a", "environment": "p", "started": float("nan")}}),
     "invalid_params", "params.deployment.started"),
    ("negative duration", request_bytes("record", {"deployments": [{"id": "x", "service": "a", "environment": "p",
                                                                  "started": 1, "status": "success", "duration_seconds": -5}]}),
     "invalid_params", "params.deployments[0].duration_seconds"),
    ("completed before started", request_bytes("record", {"deployments": [{"id": "x", "service": "a", "environment": "p",
                                                                         "started": 100, "completed": 50, "status": "success"}]}),
     "invalid_params", "params.deployments[0].completed"),
    ("unknown status", request_bytes("record", {"deployments": [{"id": "x", "service": "a", "environment": "p",
                                                               "started": 1, "status": "exploded"}]}),
     "invalid_params", "params.deployments[0].status"),
    ("empty batch", request_bytes("predict_batch", {"deployments": []}), "invalid_params", "params.deployments"),
    ("batch item broken", request_bytes("predict_batch", {"deployments": [{"service": "a", "environment": "p"}, 7]}),
     "invalid_params", "params.deployments[1]"),
    ("feedback useful a str", request_bytes("feedback", {"request_id": "a", "useful": "yes"}), "invalid_params", "params.useful"),
    ("dependency kind", request_bytes("analyze_risk", {"deployment": {"service": "a"},
                                                       "dependencies": [{"depends_on": "b", "kind": "strong"}]}),
     "invalid_params", "params.dependencies[0].kind"),
    ("record nothing", request_bytes("record", {}), "invalid_params", "params.deployments"),
]


@pytest.mark.parametrize("name,payload,code,field", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_input_gets_an_error_naming_code_and_field(served, name, payload, code, field):
    reply = raw_call(served[0].endpoint, payload)
    assert reply is not None, "no reply"
    assert reply["ok"] is False
    assert (reply["error"]["code"], reply["error"]["field"]) == (code, field), reply["error"]["message"]
    if field:
        assert field in reply["error"]["message"]


def test_extra_fields_are_ignored(served):
    reply = raw_call(served[0].endpoint, request_bytes("ping", {"surprise": [1, 2]}, extra_key={"x": None}))
    assert reply["ok"] is True and reply["result"] == {"pong": True} and reply["id"] == "t-1"


@pytest.mark.parametrize("case", [c for c in load_cases("envelopes") if c["direction"] == "request"],
                         ids=lambda c: c["name"])
def test_request_vectors_are_answered_with_their_id(served, case):
    reply = raw_call(served[0].endpoint, bytes.fromhex(case["hex"]), timeout=20)
    assert reply is not None
    assert reply["id"] is not None and case["hex"].find(reply["id"].encode().hex()) > 0
    assert reply["ok"] or reply["error"]["code"] in ERROR_CODES


def test_req_socket_works_too(served):
    reply = raw_call(served[0].endpoint, request_bytes("ping", request_id="via-req"), socket_type=zmq.REQ)
    assert reply["ok"] and reply["id"] == "via-req"


def test_many_concurrent_dealers_get_their_own_replies(served):
    endpoint = served[0].endpoint
    failures: list[str] = []

    def worker(number: int) -> None:
        context = zmq.Context.instance()
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.connect(endpoint)
        expected = {f"w{number}-{i}" for i in range(100)}
        for request_id in expected:  # pipelined: all sent before any is read
            socket.send_multipart([b"", request_bytes("ping", request_id=request_id)])
        seen = set()
        while len(seen) < len(expected) and socket.poll(5000):
            reply = decode_reply(socket.recv_multipart()[-1])
            seen.add(reply.id)
        socket.close()
        if seen != expected:
            failures.append(f"worker {number}: missing {len(expected - seen)}, foreign {len(seen - expected)}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_unroutable_and_oversized_messages_do_not_stop_the_daemon(served):
    endpoint = served[0].endpoint
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    socket.send(request_bytes("ping"))                               # no delimiter frame
    socket.send_multipart([b"", request_bytes("ping"), b"extra"])     # two payload frames
    socket.send_multipart([b"", b"\x00" * (5 * 1024 * 1024)])        # above ZMQ_MAXMSGSIZE: connection dropped
    assert not socket.poll(300)
    socket.close()
    reply = raw_call(endpoint, request_bytes("ping", request_id="after"))
    assert reply["ok"] and reply["id"] == "after"


def _mutations():
    seeds = [bytes.fromhex(c["hex"]) for c in load_cases("envelopes")[:20]]
    return st.tuples(st.sampled_from(seeds), st.lists(st.tuples(st.integers(0, 4096), st.integers(0, 255)), max_size=6),
                     st.integers(0, 4096)).map(_mutate)


def _mutate(args) -> bytes:
    seed, flips, cut = args
    data = bytearray(seed)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    return bytes(data[: max(0, len(data) - cut % 8)] if cut % 3 == 0 else data)


def test_fuzzed_frames_never_kill_the_daemon(served, client):
    daemon, facts, _ = served
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(daemon.endpoint)
    answered = []

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.binary(max_size=64), _mutations()), min_size=20, max_size=20))
    def send_many(payloads: list[bytes]) -> None:
        for payload in payloads:  # pipelined: 20 frames out, then 20 replies in
            socket.send_multipart([b"", payload])
        for payload in payloads:
            assert socket.poll(10_000), "a frame got no reply"
            reply = decode_reply(socket.recv_multipart()[-1])
            assert reply.ok or reply.error["code"] in ERROR_CODES
            answered.append(reply.ok)

    send_many()
    socket.close()
    assert len(answered) >= 2000
    assert client.call("ping") == {"pong": True}
    assert client.call("status")["requests_served"] >= 2000
    with pytest.raises(RemoteError) as caught:
        client.call("predict", {"deployment": {"service": "a", "environment": "p", "started": -1}})
    assert caught.value.field == "params.deployment.started"


def test_cli_ping_status_and_reload(served, cli):
    daemon = served[0]
    pong = cli("ping", "--endpoint", daemon.endpoint, "--json", check=True)
    assert '"ok": true' in pong.stdout
    status = cli("status", "--endpoint", daemon.endpoint, check=True)
    assert "requests served" in status.stdout and "model version" in status.stdout
    with Client(daemon.endpoint) as client:
        generation = client.call("status")["generation"]
    reloaded = cli("reload", "--endpoint", daemon.endpoint, "--json", check=True)
    assert json.loads(reloaded.stdout)["generation"] == generation + 1
    down = cli("ping", "--endpoint", f"ipc://{daemon.home / 'nobody.sock'}", "--timeout", "0.3")
    assert down.returncode == 1 and "no answer from the predictor daemon" in down.stderr
