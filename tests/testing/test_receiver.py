"""WebhookReceiver: records deliveries, checks signatures, answers as scripted, never falls over."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from mock_server.delivery.webhook import serialize, sign
from mock_server.errors import CobaltMockError, ConfigError
from mock_server.testing.receiver import Behaviour, Delivery, WebhookReceiver, WebhookTimeout

SECRET = "whsec_test_secret"


pytestmark = pytest.mark.usefixtures("no_thread_left")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as started:
        yield started


def webhook(job_id: str = "job_1", **data: object) -> dict[str, object]:
    return {
        "id": f"evt_{job_id}",
        "access_token_reference_id": "user_1",
        "job_id": job_id,
        "timestamp": "2025-01-07T11:00:00Z",
        "type": "appointment.live_fetch_completed",
        "action": "sync",
        "data": {"success": True, **data},
    }


def deliver(
    url: str,
    payload: object,
    *,
    secret: str = SECRET,
    attempt: int = 1,
    body: bytes | None = None,
    client: httpx.Client | None = None,
) -> httpx.Response:
    """POST the way the fake's dispatcher does: compact JSON, signed over the bytes sent."""
    content = serialize(payload) if body is None else body
    event_id = payload.get("id") if isinstance(payload, dict) else None
    headers = {
        "content-type": "application/json",
        "cobalt-verification": sign(secret, content),
        "webhook-id": str(event_id),
        "webhook-timestamp": "2025-01-07T11:00:00Z",
        "webhook-attempt": str(attempt),
    }
    if client is not None:
        return client.post(url, content=content, headers=headers)
    return httpx.post(url, content=content, headers=headers)


def raw_exchange(receiver: WebhookReceiver, data: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes, then read until the receiver closes the connection."""
    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# -- recording -----------------------------------------------------------------------------------


def test_records_a_delivery_with_headers_body_and_parsed_fields(receiver: WebhookReceiver) -> None:
    payload = webhook("job_42", appointment_count=0, appointments=[])
    response = deliver(f"{receiver.url}/hooks/cobalt?tenant=a", payload, attempt=2)

    assert response.status_code == 200
    assert response.json() == {"received": True}
    assert response.headers["content-type"] == "application/json"
    [delivery] = receiver.deliveries
    assert delivery.method == "POST"
    assert delivery.path == "/hooks/cobalt?tenant=a"
    assert delivery.body == serialize(payload)
    assert delivery.payload == payload
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-id"] == "evt_job_42"
    assert delivery.attempt == 2
    assert delivery.event_id == "evt_job_42"
    assert delivery.job_id == "job_42"
    assert delivery.status == 200
    assert delivery.signature_valid is True
    assert delivery.reserialized_valid is True
    assert delivery.received_at <= time.monotonic()


def test_list_helpers(receiver: WebhookReceiver) -> None:
    assert receiver  # truthy even when empty
    assert len(receiver) == 0
    assert not receiver.called
    assert receiver.last is None
    deliver(receiver.url, webhook("job_a"))
    deliver(receiver.url, webhook("job_b"))
    assert len(receiver) == receiver.call_count == 2
    assert receiver.called
    assert receiver.last is not None
    assert receiver.last.job_id == "job_b"
    assert repr(receiver) == f"<WebhookReceiver {receiver.url} deliveries=2>"
    copy = receiver.deliveries
    copy.clear()
    assert len(receiver) == 2


def test_non_json_body_and_odd_headers(receiver: WebhookReceiver) -> None:
    response = httpx.post(
        receiver.url,
        content=b"not json",
        headers=[("webhook-attempt", "first"), ("x-dup", "a"), ("x-dup", "b")],
    )
    assert response.status_code == 200
    delivery = receiver.deliveries[0]
    assert delivery.payload is None
    assert delivery.job_id is None
    assert delivery.attempt is None
    assert delivery.event_id is None
    assert delivery.headers["x-dup"] == "a, b"
    assert delivery.signature_valid is False  # a secret is configured but nothing was signed
    assert delivery.reserialized_valid is False


def test_job_id_must_be_a_string(receiver: WebhookReceiver) -> None:
    deliver(receiver.url, {"job_id": 7})
    deliver(receiver.url, [1, 2])
    assert [d.job_id for d in receiver.deliveries] == [None, None]


# -- signatures ----------------------------------------------------------------------------------


def test_signature_over_compact_json_with_non_ascii_passes_both_checks(
    receiver: WebhookReceiver,
) -> None:
    payload = webhook("job_utf8", provider="José Núñez", note="日本語 ✓")
    deliver(receiver.url, payload)
    delivery = receiver.deliveries[0]
    assert "José".encode() in delivery.body  # sent unescaped, as JSON.stringify does
    assert delivery.payload == payload
    assert delivery.signature_valid is True
    assert delivery.reserialized_valid is True


def test_wrong_secret_fails_both_checks(receiver: WebhookReceiver) -> None:
    deliver(receiver.url, webhook(), secret="whsec_someone_else")
    delivery = receiver.deliveries[0]
    assert delivery.signature_valid is False
    assert delivery.reserialized_valid is False


def test_raw_and_reserialized_checks_can_disagree(receiver: WebhookReceiver) -> None:
    payload = webhook(provider="José")
    # Pretty, ASCII-escaped JSON signed over the bytes sent: raw check passes, Node's fails.
    pretty = json.dumps(payload, indent=2).encode()
    deliver(receiver.url, payload, body=pretty)
    # Signed over compact JSON but sent pretty: only the re-serializing check passes.
    httpx.post(
        receiver.url,
        content=pretty,
        headers={"cobalt-verification": sign(SECRET, serialize(payload))},
    )
    first, second = receiver.deliveries
    assert (first.signature_valid, first.reserialized_valid) == (True, False)
    assert (second.signature_valid, second.reserialized_valid) == (False, True)
    assert first.describe().endswith("signature valid over the raw body, INVALID re-serialized")
    assert second.describe().endswith("signature INVALID over the raw body, valid re-serialized")


def test_signature_checks_with_several_secrets_and_none() -> None:
    with WebhookReceiver("whsec_new", secrets=["whsec_old"]) as rotating:
        assert rotating.secrets == ("whsec_new", "whsec_old")
        deliver(rotating.url, webhook("job_old"), secret="whsec_old")
        deliver(rotating.url, webhook("job_new"), secret="whsec_new")
        rotating.secrets = ["whsec_newer"]
        deliver(rotating.url, webhook("job_stale"), secret="whsec_new")
        assert [d.signature_valid for d in rotating.deliveries] == [True, True, False]

    with WebhookReceiver() as unchecked:
        deliver(unchecked.url, webhook())
        delivery = unchecked.deliveries[0]
        assert delivery.signature_valid is None
        assert delivery.reserialized_valid is None
        assert "signature not checked (no secret configured)" in delivery.describe()


def test_missing_signature_header_is_invalid(receiver: WebhookReceiver) -> None:
    httpx.post(receiver.url, json=webhook())
    delivery = receiver.deliveries[0]
    assert delivery.signature_valid is False
    assert delivery.reserialized_valid is False
    assert delivery.describe().endswith("no cobalt-verification header")


def test_json_null_body_counts_as_json(receiver: WebhookReceiver) -> None:
    deliver(receiver.url, None)
    delivery = receiver.deliveries[0]
    assert delivery.payload is None
    assert delivery.reserialized_valid is True
    assert "job_id=None" in delivery.describe()


# -- scripted answers ----------------------------------------------------------------------------


def test_queued_behaviours_are_consumed_in_order_then_the_default(receiver: WebhookReceiver) -> None:
    receiver.respond_with(
        Behaviour.status(500),
        Behaviour.status(429, headers={"Retry-After": "1"}),
        Behaviour.status(400, body={"error": "bad"}),
        Behaviour.slow(0.2, then_status=202),
        Behaviour.close(),
    )
    outcomes: list[object] = []
    with httpx.Client() as client:
        for n in range(6):
            started = time.monotonic()
            try:
                response = deliver(receiver.url, webhook(f"job_{n}"), client=client)
            except httpx.RemoteProtocolError:
                outcomes.append("closed")
                continue
            outcomes.append(response.status_code)
            if n == 1:
                assert response.headers["retry-after"] == "1"
            if n == 2:
                assert response.json() == {"error": "bad"}
            if n == 3:
                assert time.monotonic() - started >= 0.2
    assert outcomes == [500, 429, 400, 202, "closed", 200]
    assert [d.status for d in receiver.deliveries] == [500, 429, 400, 202, None, 200]


def test_close_drops_the_connection_without_an_answer(receiver: WebhookReceiver) -> None:
    receiver.respond_with(Behaviour.close())
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        deliver(receiver.url, webhook())
    assert receiver.deliveries[0].status is None
    assert "dropped the connection" in receiver.deliveries[0].describe()
    assert deliver(receiver.url, webhook()).status_code == 200


def test_reset_aborts_the_connection(receiver: WebhookReceiver) -> None:
    receiver.respond_with(Behaviour.reset())
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        deliver(receiver.url, webhook())
    assert receiver.deliveries[0].status is None
    assert deliver(receiver.url, webhook()).status_code == 200


def test_default_is_settable_and_bodies_take_several_forms(receiver: WebhookReceiver) -> None:
    assert receiver.default == Behaviour.status(200, body={"received": True})
    receiver.default = Behaviour.status(503, body="down for maintenance")
    response = deliver(receiver.url, webhook())
    assert response.status_code == 503
    assert response.text == "down for maintenance"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"

    receiver.respond_with(
        Behaviour.status(200, body=b"\x00\x01"),
        Behaviour.status(200, headers={"Content-Type": "application/x-custom"}, body=b"x"),
        Behaviour.status(599),
    )
    binary = deliver(receiver.url, webhook())
    assert binary.content == b"\x00\x01"
    assert binary.headers["content-type"] == "application/octet-stream"
    assert deliver(receiver.url, webhook()).headers["content-type"] == "application/x-custom"
    unknown = deliver(receiver.url, webhook())
    assert unknown.status_code == 599
    assert "content-type" not in unknown.headers


def test_head_and_204_answers_carry_no_body(receiver: WebhookReceiver) -> None:
    head = httpx.head(receiver.url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b'{"received":true}'))
    refused = raw_exchange(receiver, b"HEAD / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n")
    assert refused.startswith(b"HTTP/1.1 431 ")
    assert b"\r\ncontent-length: " in refused  # that of the text a GET would get...
    assert refused.endswith(b"\r\n\r\n")  # ...and no body
    receiver.respond_with(Behaviour.status(204, body=b"ignored"))
    reply = raw_exchange(
        receiver, b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 204 No Content\r\n")
    assert b"content-length" not in reply
    assert reply.endswith(b"\r\n\r\n")


def test_behaviour_validation() -> None:
    with pytest.raises(ConfigError, match="from 200 to 599"):
        Behaviour.status(100)
    with pytest.raises(ConfigError, match="from 200 to 599"):
        Behaviour.status(True)
    with pytest.raises(ConfigError, match="not a valid response header"):
        Behaviour.status(200, headers={"x-bad": "a\r\nset-cookie: x"})
    with pytest.raises(ConfigError, match="not a valid response header"):
        Behaviour.status(200, headers={"bad name": "x"})
    with pytest.raises(ConfigError, match="not a valid response header"):
        Behaviour.status(200, headers={"x-name": "José"})  # h11 sends ASCII only
    with pytest.raises(ConfigError, match="content-length is the receiver's to set"):
        Behaviour.slow(1, headers={"Content-Length": "5"})
    with pytest.raises(ConfigError, match="seconds >= 0"):
        Behaviour.slow(-1)
    assert Behaviour.status(500).describe() == "answer 500"
    assert Behaviour.slow(6).describe() == "answer 200 after 6s"
    assert Behaviour.close().describe() == "close the connection"
    assert Behaviour.reset().describe() == "reset the connection"


def test_clear_forgets_state_but_keeps_secrets(receiver: WebhookReceiver) -> None:
    receiver.respond_with(Behaviour.status(500))
    receiver.default = Behaviour.status(503)
    raw_exchange(receiver, b"nonsense\r\n\r\n")
    deliver(receiver.url, webhook())
    receiver.clear()
    assert receiver.deliveries == []
    assert receiver.rejected == []
    assert receiver.errors == []
    assert receiver.default == Behaviour.status(200, body={"received": True})
    assert deliver(receiver.url, webhook()).status_code == 200
    assert receiver.deliveries[0].signature_valid is True


# -- HTTP/1.1 ------------------------------------------------------------------------------------


def test_keep_alive_serves_several_requests_on_one_connection(receiver: WebhookReceiver) -> None:
    with httpx.Client() as client:
        addresses = set()
        for n in range(4):
            response = deliver(receiver.url, webhook(f"job_{n}"), client=client)
            assert response.status_code == 200
            addresses.add(response.extensions["network_stream"].get_extra_info("client_addr"))
    assert len(addresses) == 1
    assert [d.job_id for d in receiver.deliveries] == ["job_0", "job_1", "job_2", "job_3"]


def test_pipelined_requests_and_http_1_0(receiver: WebhookReceiver) -> None:
    request = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    closing = b"POST /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    reply = raw_exchange(receiver, request + closing)
    assert reply.count(b"HTTP/1.1 200 OK") == 2
    assert reply.lower().count(b"connection: close") == 1

    # HTTP/1.0 gets its answer and a closed connection, keep-alive asked for or not (h11 does not do
    # HTTP/1.0 keep-alive): no half-close here, so a receiver that kept the connection would hang.
    assert b"connection: close" in raw_exchange(receiver, b"GET /c HTTP/1.0\r\n\r\n").lower()
    kept = raw_exchange(receiver, b"GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert kept.startswith(b"HTTP/1.1 200 OK")
    assert b"connection: close" in kept.lower()
    assert [d.path for d in receiver.deliveries] == ["/a", "/b", "/c", "/d"]


def test_obsolete_line_folding_is_unfolded(receiver: WebhookReceiver) -> None:
    # RFC 9112 §5.2: a server either rejects obs-fold or replaces it with spaces; h11 does the latter.
    reply = raw_exchange(
        receiver, b"POST / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\nConnection: close\r\n\r\n"
    )
    assert reply.startswith(b"HTTP/1.1 200 OK")
    assert receiver.deliveries[0].headers["x-folded"] == "a b"


def test_behaviour_can_close_after_answering(receiver: WebhookReceiver) -> None:
    receiver.respond_with(Behaviour.status(200, headers={"Connection": "close"}))
    reply = raw_exchange(receiver, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" * 2)
    assert reply.count(b"HTTP/1.1") == 1
    assert len(receiver) == 1


def test_chunked_body_and_expect_continue(receiver: WebhookReceiver) -> None:
    body = b'{"job_id":"job_chunked"}'
    chunked = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5;ext=1\r\n"
        + body[:5]
        + b"\r\n"
        + format(len(body) - 5, "x").encode()
        + b"\r\n"
        + body[5:]
        + b"\r\n0\r\nx-trailer: 1\r\n\r\n"
    )
    assert raw_exchange(receiver, chunked).startswith(b"HTTP/1.1 200 OK")
    assert receiver.deliveries[0].body == body
    assert receiver.deliveries[0].job_id == "job_chunked"

    with socket.create_connection((receiver.host, receiver.port), timeout=5) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert sock.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"{}")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 OK")
    assert receiver.deliveries[1].payload == {}


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"GARBAGE\r\n\r\n", 400, "illegal request line"),
        (b"\r\nPOST / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "no request line received"),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "unsupported HTTP version 2.0"),
        (b"POST / HTTP/1.1\r\nHost x\r\n\r\n", 400, "illegal header line"),
        (b"POST / HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n", 400, "continuation line at start of headers"),
        (b"POST / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", 400, "illegal header line"),
        (b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 400, "Missing mandatory Host: header"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "Found multiple Host: headers"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n",
            400,
            "conflicting Content-Length headers",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413, "over"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
            400,
            "Transfer-Encoding with Content-Length",
        ),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "in HTTP/1.0"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            400,  # h11 hints 501; the receiver answers a 4xx
            "Only Transfer-Encoding: chunked is supported",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400, "illegal header line"),
        # A head still incomplete after 64 KiB; h11 counts only what it has not parsed yet, and the
        # receiver reads up to 64 KiB at a time, so anything over 128 KiB is caught whatever the reads.
        (b"GET /" + b"a" * 140_000 + b" HTTP/1.1\r\n\r\n", 431, "Receive buffer too long"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\n" + b"X-A: 1\r\n" * 101 + b"\r\n",
            431,
            "more than 100 header fields",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "illegal chunk header",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            400,
            "malformed chunk footer",
        ),
        (  # h11 does not tell a chunk's size before its data, so the data goes over the limit
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n"
            + b"a" * (16 * 1024 * 1024 + 1),
            413,
            "chunked body over",
        ),
        (  # h11 hands over the trailer section once it is complete
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + b"t: 1\r\n" * 102
            + b"\r\n",
            431,
            "more than 100 trailer fields",
        ),
    ],
)
def test_malformed_requests_get_an_error_and_the_receiver_keeps_serving(
    receiver: WebhookReceiver, data: bytes, status: int, reason: str
) -> None:
    reply = raw_exchange(receiver, data)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
    assert b"connection: close" in reply.lower()
    assert reason.encode() in reply
    assert len(receiver.rejected) == 1
    assert reason in receiver.rejected[0]
    assert receiver.deliveries == []
    assert deliver(receiver.url, webhook()).status_code == 200


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc", "(received 3 bytes, expected 10)"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "(incomplete chunked read)",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\n", "peer unexpectedly closed connection"),
        (b"POST / HTTP/1.1\r\nHost: x", "peer unexpectedly closed connection"),
    ],
)
def test_truncated_requests_are_rejected(receiver: WebhookReceiver, data: bytes, reason: str) -> None:
    reply = raw_exchange(receiver, data, half_close=True)
    assert reply.startswith(b"HTTP/1.1 400 Bad Request")
    [rejection] = receiver.rejected
    assert rejection.startswith("400: ")
    assert rejection.endswith(reason)


def test_a_long_rejection_reason_is_cut_short(receiver: WebhookReceiver) -> None:
    reply = raw_exchange(receiver, b"POST / HTTP/1.1\r\nHost: x\r\n" + b"x" * 5000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 400 ")
    [rejection] = receiver.rejected
    assert rejection.startswith("400: illegal header line")
    assert rejection.endswith("...")
    assert len(rejection) < 300
    assert len(reply) < 500


def test_a_connection_closed_between_requests_is_not_an_error(receiver: WebhookReceiver) -> None:
    assert raw_exchange(receiver, b"", half_close=True) == b""
    one = raw_exchange(
        receiver, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", half_close=True
    )
    assert one.count(b"HTTP/1.1 200 OK") == 1
    assert len(receiver) == 1
    assert receiver.rejected == []
    assert receiver.errors == []


def test_an_internal_failure_costs_one_connection_and_is_reported(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object) -> Delivery:
        raise KeyError("oops")

    monkeypatch.setattr(receiver, "_delivery", broken)
    with pytest.raises(httpx.RemoteProtocolError):
        deliver(receiver.url, webhook())
    monkeypatch.undo()
    assert deliver(receiver.url, webhook("job_ok")).status_code == 200
    assert [type(e) for e in receiver.errors] == [KeyError]
    assert "webhook receiver failed while handling a request" in caplog.text
    with pytest.raises(WebhookTimeout, match=r"The receiver itself failed 1 time\(s\):\n  - KeyError"):
        receiver.wait_for_webhook("job_missing", timeout=0)


# -- waiting -------------------------------------------------------------------------------------


def test_wait_for_webhook_returns_as_soon_as_it_arrives(receiver: WebhookReceiver) -> None:
    go = threading.Event()

    def send_later() -> None:
        go.wait(5)
        deliver(receiver.url, webhook("job_other"))
        deliver(receiver.url, webhook("job_wanted"))

    sender = threading.Thread(target=send_later)
    sender.start()
    started = time.monotonic()
    go.set()
    delivery = receiver.wait_for_webhook("job_wanted", timeout=30)
    elapsed = time.monotonic() - started
    sender.join(5)
    assert delivery.job_id == "job_wanted"
    assert elapsed < 5  # woken by the delivery, not by the timeout


def test_wait_for_counts_and_returns_the_first_matches(receiver: WebhookReceiver) -> None:
    for attempt in (1, 2):
        deliver(receiver.url, webhook("job_r"), attempt=attempt)
    deliver(receiver.url, webhook("job_s"))
    found = receiver.wait_for(lambda d: d.job_id == "job_r", count=2, timeout=1)
    assert [d.attempt for d in found] == [1, 2]
    with pytest.raises(WebhookTimeout, match="waiting for 3 deliveries: retries of job_r"):
        receiver.wait_for(lambda d: d.job_id == "job_r", count=3, timeout=0, description="retries of job_r")


def test_timeout_message_lists_every_delivery_that_arrived(receiver: WebhookReceiver) -> None:
    receiver.respond_with(Behaviour.status(500), Behaviour.close())
    deliver(receiver.url, webhook("job_1"), attempt=1)
    with pytest.raises(httpx.RemoteProtocolError):
        deliver(receiver.url, webhook("job_1"), attempt=2, secret="wrong")
    httpx.post(receiver.url + "/other", content=b"<xml/>")
    raw_exchange(receiver, b"BROKEN\r\n\r\n")

    with pytest.raises(WebhookTimeout) as caught:
        receiver.wait_for_webhook("job_2", timeout=0.05)
    error = caught.value
    assert isinstance(error, AssertionError)
    assert isinstance(error, CobaltMockError)
    lines = str(error).splitlines()
    assert lines[0] == f"Timed out after 0.05s waiting for a webhook for job_id 'job_2' at {receiver.url}."
    assert lines[1] == "3 deliveries arrived, none matched:"
    assert lines[2].endswith("POST / job_id='job_1' id='evt_job_1' attempt=1; answered 500; signature valid")
    assert lines[3].endswith(
        "POST / job_id='job_1' id='evt_job_1' attempt=2; dropped the connection; signature INVALID"
    )
    assert lines[4].endswith(
        "POST /other body not JSON (6 bytes) id=None; answered 200; no cobalt-verification header"
    )
    assert lines[2].startswith("  1. +")
    assert lines[5:] == [
        "1 malformed request(s) were rejected:",
        "  - 400: illegal request line: bytearray(b'BROKEN')",
    ]


def test_timeout_message_when_nothing_arrived(receiver: WebhookReceiver) -> None:
    with pytest.raises(WebhookTimeout) as caught:
        receiver.wait_for(lambda d: d.attempt == 2, timeout=0.01)
    assert str(caught.value) == (
        f"Timed out after 0.01s waiting for a delivery matching <lambda> at {receiver.url}.\n"
        "No deliveries arrived (is the webhook registered with this receiver's URL?)."
    )


def test_timeout_message_counts_partial_matches(receiver: WebhookReceiver) -> None:
    deliver(receiver.url, webhook("job_r"))

    def second_attempt(delivery: Delivery) -> bool:
        return delivery.job_id == "job_r"

    with pytest.raises(WebhookTimeout, match="1 delivery arrived, 1 matched:"):
        receiver.wait_for(second_attempt, count=2, timeout=0)
    with pytest.raises(WebhookTimeout, match="matching second_attempt"):
        receiver.wait_for(second_attempt, count=2, timeout=0)


def test_timeout_message_elides_the_middle_of_a_long_list(receiver: WebhookReceiver) -> None:
    one_request = b"POST /n HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    raw_exchange(receiver, one_request * 104 + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with pytest.raises(WebhookTimeout) as caught:
        receiver.wait_for_webhook("job_none", timeout=0)
    lines = str(caught.value).splitlines()
    assert lines[1] == "105 deliveries arrived, none matched:"
    assert lines[2].startswith("  1. +")
    assert lines[51].startswith("  50. +")
    assert lines[52] == "  ... 5 more ..."
    assert lines[53].startswith("  56. +")
    assert lines[-1].startswith("  105. +")
    assert lines[-1].endswith(
        "GET /last body not JSON (0 bytes) id=None; answered 200; no cobalt-verification header"
    )


def test_async_wait_inside_asyncio_run(receiver: WebhookReceiver) -> None:
    async def scenario() -> tuple[Delivery, int]:
        async with httpx.AsyncClient() as client:
            waiting = asyncio.create_task(receiver.wait_for_webhook_async("job_async", timeout=10))
            await asyncio.sleep(0)  # the waiter is registered before anything is sent
            body = serialize(webhook("job_async"))
            response = await client.post(
                receiver.url, content=body, headers={"cobalt-verification": sign(SECRET, body)}
            )
            return await waiting, response.status_code

    delivery, status = asyncio.run(scenario())
    assert delivery.job_id == "job_async"
    assert delivery.signature_valid is True
    assert status == 200


def test_async_wait_returns_at_once_if_already_there_and_times_out_cleanly(
    receiver: WebhookReceiver,
) -> None:
    deliver(receiver.url, webhook("job_early"))

    async def scenario() -> None:
        early = await receiver.wait_for_webhook_async("job_early", timeout=0)
        assert early.job_id == "job_early"
        with pytest.raises(WebhookTimeout, match="waiting for a webhook for job_id 'job_late'"):
            await receiver.wait_for_webhook_async("job_late", timeout=0.05)

    asyncio.run(scenario())
    assert receiver._async_waiters == set()


def test_a_closed_test_loop_does_not_break_the_receiver(receiver: WebhookReceiver) -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    receiver._async_waiters.add((loop, asyncio.Event()))
    assert deliver(receiver.url, webhook()).status_code == 200
    assert receiver.errors == []


# -- lifecycle -----------------------------------------------------------------------------------


def test_stop_drops_open_connections_and_leaves_no_thread() -> None:
    receiver = WebhookReceiver()
    receiver.stop()  # before start: only closes the socket
    receiver = WebhookReceiver()
    receiver.start()
    errors: list[Exception] = []

    def stuck_client() -> None:
        try:
            httpx.post(receiver.url, json=webhook("job_slow"), timeout=30)
        except httpx.HTTPError as exc:
            errors.append(exc)

    idle = httpx.Client()
    idle.post(receiver.url, json={})  # leaves an idle keep-alive connection open
    receiver.respond_with(Behaviour.slow(30))
    caller = threading.Thread(target=stuck_client)
    caller.start()
    receiver.wait_for_webhook("job_slow")
    receiver.stop()
    receiver.stop()
    caller.join(5)
    idle.close()
    assert len(errors) == 1
    with pytest.raises(httpx.ConnectError):
        httpx.post(receiver.url, json={})


def test_cannot_start_twice(receiver: WebhookReceiver) -> None:
    with pytest.raises(CobaltMockError, match="already started"):
        receiver.start()


def test_start_failure_is_raised_with_its_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("no sockets for you")

    monkeypatch.setattr(asyncio, "start_server", refuse)
    receiver = WebhookReceiver()
    with pytest.raises(CobaltMockError, match="failed to start: PermissionError: no sockets") as caught:
        receiver.start()
    assert isinstance(caught.value.__cause__, PermissionError)
    receiver.stop()  # already reported


def test_a_thread_that_dies_later_is_reported_by_stop() -> None:
    receiver = WebhookReceiver()
    receiver.start()
    loop = receiver._loop
    assert loop is not None
    # Stopping the loop under asyncio.run fails it: a stand-in for any crash of the thread.
    loop.call_soon_threadsafe(loop.stop)
    with pytest.raises(CobaltMockError, match="died") as caught:
        receiver.stop()
    assert isinstance(caught.value.__cause__, RuntimeError)
    receiver.stop()  # reported once
