"""The daemon's compiled receive-answer-send step (predictor/daemon/_zmqloop.c) over real
sockets: it answers what its answer callable takes, hands everything else back as frames, and
the real daemon's replies through it are the Python path's bytes, logged as they were."""

from __future__ import annotations

import time

import pytest
import zmq

from daemon_helpers import DaemonProcess, request_bytes
from predictor.daemon.server import compiled_step
from predictor.models.runtime import load_answerer
from predictor.protocol import decode_request, encode
from predictor.store import open_store

DAY = 86400


@pytest.fixture
def step():
    serve_one = compiled_step()
    assert serve_one is not None, "predictor/daemon/_zmqloop.c was not built or found no libzmq (see setup.py)"
    return serve_one


@pytest.fixture
def sockets(tmp_path):
    context = zmq.Context.instance()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVTIMEO, 30)
    endpoint = f"ipc://{tmp_path / 'step.sock'}"
    router.bind(endpoint)
    made = [router]

    def client(kind: int = zmq.DEALER) -> zmq.Socket:
        socket = context.socket(kind)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.RCVTIMEO, 2000)
        socket.connect(endpoint)
        made.append(socket)
        return socket

    yield router, client
    for socket in made:
        socket.close()


def wait_for(step, router, answer):
    """Serve one message (a few 30 ms timeouts are allowed while it travels)."""
    for _ in range(100):
        got = step(router.underlying, answer)
        if got is not None:
            return got
    raise AssertionError("no message arrived")


def test_it_answers_what_the_callable_takes_and_replies_to_the_sender(step, sockets):
    router, client = sockets
    dealer, req = client(), client(zmq.REQ)
    seen = []

    def answer(payload, waited_ms):
        seen.append((payload, waited_ms))
        return ("id-" + payload.decode(), b"reply to " + payload, "predict")

    dealer.send_multipart([b"", b"one"])
    assert wait_for(step, router, answer) == ("id-one", b"one", b"reply to one", "predict")
    assert dealer.recv_multipart() == [b"", b"reply to one"]
    req.send(b"two")  # REQ adds the empty delimiter itself
    assert wait_for(step, router, answer) == ("id-two", b"two", b"reply to two", "predict")
    assert req.recv() == b"reply to two"
    assert seen == [(b"one", 0.0), (b"two", 0.0)]


def test_what_the_callable_declines_comes_back_as_frames_unanswered(step, sockets):
    router, client = sockets
    dealer = client()
    dealer.send_multipart([b"", b"for python"])
    frames = wait_for(step, router, lambda payload, waited: None)
    assert frames[1:] == [b"", b"for python"] and len(frames[0]) > 0  # the routing id, then the message
    dealer.send_multipart([b"no delimiter"])  # not the routed envelope: never offered to the callable
    frames = wait_for(step, router, lambda payload, waited: pytest.fail("offered an unroutable message"))
    assert frames[1:] == [b"no delimiter"]
    dealer.send_multipart([b"", b"a", b"b"])  # two payload frames: Python words the refusal
    assert wait_for(step, router, lambda payload, waited: pytest.fail("offered"))[1:] == [b"", b"a", b"b"]
    with pytest.raises(zmq.Again):
        dealer.recv_multipart(zmq.NOBLOCK)  # nothing was sent back


def test_a_quiet_socket_gives_none_after_its_receive_timeout(step, sockets):
    router, _ = sockets
    started = time.monotonic()
    assert step(router.underlying, lambda payload, waited: pytest.fail("no message")) is None
    assert 0.02 <= time.monotonic() - started < 1.0


def test_a_failing_callable_raises_and_the_socket_keeps_serving(step, sockets):
    router, client = sockets
    dealer = client()

    def broken(payload, waited):
        raise ValueError("broken answer")

    dealer.send_multipart([b"", b"x"])
    with pytest.raises(ValueError, match="broken answer"):
        wait_for(step, router, broken)
    dealer.send_multipart([b"", b"y"])
    with pytest.raises(TypeError, match="None or"):
        wait_for(step, router, lambda payload, waited: ("id", "not bytes", "predict"))
    dealer.send_multipart([b"", b"z"])
    assert wait_for(step, router, lambda payload, waited: ("z", b"ok", "m")) == ("z", b"z", b"ok", "m")
    assert dealer.recv_multipart() == [b"", b"ok"]


def test_load_refuses_a_library_that_is_not_loaded():
    from predictor.daemon import _zmqloop

    with pytest.raises(OSError, match="not loaded"):
        _zmqloop.load("/nonexistent/libzmq.so.5")


def test_the_daemons_compiled_replies_are_the_python_paths_bytes_and_are_logged(demo, copy_home):
    """The real daemon answers predicts (and a batch without factors) through the compiled step
    and path; the same payloads answered afterwards in-process by the Python path give the same
    bytes, and the prediction log holds every one of them."""
    _, facts = demo
    last = facts["last_deployment"]
    base = {"service": last["service"], "environment": last["environment"],
            "started": last["started"].timestamp() + DAY}
    deployments = [
        base,
        {**base, "id": "ledger-1", "version": "9.9.9", "deployment_type": "canary", "change_size": 40,
         "initiator": "ops", "metadata": {"ticket": "OPS-7", "lines_changed": 120}, "resources": ["cpu"],
         "parent_id": None, "automated": True, "status": "in-progress", "completed": None},
        {**base, "started": base["started"] + 3600.25, "configuration": {"replicas": 3}},
    ]
    payloads = []
    for i, deployment in enumerate(deployments):
        payloads.append(request_bytes("predict", {"deployment": deployment}, request_id=f"c-{i}", deadline_ms=5000))
        payloads.append(request_bytes("predict", {"deployment": deployment, "explain": False}, request_id=f"u-{i}"))
    payloads.append(request_bytes("predict_batch", {"deployments": deployments, "explain": False}, request_id="batch"))
    daemon = DaemonProcess(copy_home, f"ipc://{copy_home / 'c.sock'}")
    try:
        daemon.wait_ready()
        context = zmq.Context.instance()
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RCVTIMEO, 10_000)
        dealer.connect(daemon.endpoint)
        replies = []
        for payload in payloads:
            dealer.send_multipart([b"", payload])
            replies.append(dealer.recv_multipart()[1])
        dealer.close()
    finally:
        assert daemon.stop() == 0
    with open_store(copy_home / "history.duckdb") as store:
        answerer = load_answerer(store)
        logged = dict(store.con.execute("SELECT request_id, method FROM predictions").fetchall())
    for payload, reply in zip(payloads, replies):
        request = decode_request(payload)
        expected = encode({"protocol": 1, "id": request.id, "ok": True,
                           "result": answerer.methods[request.method](request.params)})
        assert reply == expected, request.id
        assert answerer.wire.answer(payload, 0.0) is not None  # ... and it was the compiled path's to answer
    assert all(logged.get(f"{kind}-{i}") == "predict" for kind in "cu" for i in range(len(deployments))), logged
    assert [logged.get(f"batch#{i}") for i in range(len(deployments))] == ["predict_batch"] * len(deployments), logged
