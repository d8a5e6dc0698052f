"""The journal: one entry per API request and per delivery attempt, redacted, bounded; API latency."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mock_server.api.app import create_app
from mock_server.model.jobs import Attempt, FetchRequest, Job
from mock_server.model.journal import MAX_BODY_BYTES, Journal, RequestEntry, redact_token
from mock_server.model.state import MockState
from mock_server.settings import Settings
from mock_server.testing.receiver import Behaviour, WebhookReceiver
from tests.conftest import HEADERS, WEEK, Fake

LONG_TOKEN = "at_live_0123456789abcd"


def entries(fake: Fake, **params: Any) -> list[dict[str, Any]]:
    response = fake.http.get("/_mock/requests", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["entries"]
    return found


# --- units -----------------------------------------------------------------------------------


def test_redaction() -> None:
    assert redact_token("") == ""
    assert redact_token("short_token") == "***"
    assert redact_token(LONG_TOKEN) == "***abcd"
    raw = [
        ("Client_Secret", "cs_live_x"),
        ("access_token", LONG_TOKEN),
        ("authorization", "Bearer t"),
        ("cookie", "a=b"),
        ("client_id", "ci_live_x"),
        ("cobalt-verification", "ab12"),
        ("x-many", "1"),
        ("x-many", "2"),
    ]
    entry = Journal(1).start_scope(_scope([(name.encode(), value.encode()) for name, value in raw]))
    assert entry.access_token == LONG_TOKEN
    assert entry.headers == {
        "client_secret": "***",
        "access_token": "***abcd",
        "authorization": "***",
        "cookie": "***",
        "client_id": "ci_live_x",
        "cobalt-verification": "ab12",  # a signature is not a secret
        "x-many": "1, 2",
    }


def _scope(headers: list[tuple[bytes, bytes]] | None = None, path: str = "/v1/webhook") -> dict[str, Any]:
    return {"method": "GET", "path": path, "query_string": b"", "headers": headers or []}


def _token(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"access_token", token.encode())]


def test_bodies_are_truncated() -> None:
    entry = RequestEntry(1, "t", "POST", "/", "", {}, "")
    entry.add_body(b"a" * (MAX_BODY_BYTES - 1))
    assert entry.to_json()["body_truncated"] is False
    entry.add_body(b"bc")
    entry.add_body(b"d")
    assert entry.body_truncated
    assert len(entry.body) == MAX_BODY_BYTES
    assert entry.to_json()["body"].endswith("ab")


def _attempt() -> Attempt:
    return Attempt(1, "http://hook", "now", 1.0, 200, None, {}, b"{}")


def test_journal_is_bounded_filtered_and_resizable() -> None:
    journal = Journal(3)
    request = FetchRequest("mrn", mrn="1")
    job = Job("job_1", "tok_b", "user_1", request, dt.datetime.now(dt.UTC), 0.0)
    for token in ("tok_a", "tok_b", "tok_a", "tok_b"):
        journal.start_scope(_scope(_token(token)))
    journal.record_attempt(job, _attempt())
    assert len(journal) == 3
    assert journal.last_seq == 5
    assert [e.seq for e in journal.entries()] == [3, 4, 5]
    assert [e.seq for e in journal.entries("tok_b")] == [4, 5]
    assert [e.seq for e in journal.entries(kind="delivery")] == [5]
    assert [e.seq for e in journal.entries(since=4)] == [5]
    assert [e.seq for e in journal.entries(job_id="job_1")] == [5]
    journal.limit = 2
    assert journal.limit == 2
    assert [e.seq for e in journal.entries()] == [4, 5]
    journal.clear("tok_b")
    assert journal.entries() == []
    journal.start_scope(_scope(_token("tok_a"), "/"))
    journal.clear()
    assert len(journal) == 0
    assert journal.last_seq == 6  # sequence numbers never repeat


# --- every request, as received ----------------------------------------------------------------


def test_every_api_request_is_journaled_with_secrets_redacted(fake: Fake) -> None:
    headers = {**HEADERS, "access_token": LONG_TOKEN}
    accepted = fake.fetch(headers=headers)
    fake.http.get("/v1/appointments", params={"start_date": "2025-01-06", "end_date": "2025-01-06"})
    httpx.post(f"{fake.url}/v1/appointments/fetch", json=WEEK)  # 401
    fake.http.post("/v1/appointments/fetch", content=b"{oops", headers={"content-type": "application/json"})
    fake.http.get("/nowhere")  # 404
    fake.http.delete("/v1/appointments/fetch")  # 405
    fake.http.get("/_mock/jobs")  # the control plane is not journaled
    fake.http.get("/_mock/health")

    got = entries(fake)
    assert [(e["method"], e["path"], e["status"]) for e in got] == [
        ("POST", "/v1/appointments/fetch", 202),
        ("GET", "/v1/appointments", 200),
        ("POST", "/v1/appointments/fetch", 401),
        ("POST", "/v1/appointments/fetch", 400),
        ("GET", "/nowhere", 404),
        ("DELETE", "/v1/appointments/fetch", 405),
    ]
    first = got[0]
    assert first["kind"] == "request"
    assert first["headers"]["client_secret"] == "***"
    assert first["headers"]["access_token"] == "***abcd"
    assert first["headers"]["client_id"] == "ci_test"
    assert first["access_token"] == "***abcd"
    assert first["body"] == '{"start_date":"2025-01-06","end_date":"2025-01-12"}'
    assert first["body_truncated"] is False
    assert first["job_id"] == accepted.json()["job_id"]
    assert first["behaviours"] == []
    assert first["duration_ms"] > 0
    assert first["error"] is None
    assert dt.datetime.fromisoformat(first["at"])
    assert got[1]["query"] == "start_date=2025-01-06&end_date=2025-01-06"
    assert got[2]["access_token"] == ""
    assert got[3]["body"] == "{oops"
    assert LONG_TOKEN not in fake.http.get("/_mock/requests").text
    assert "cs_test" not in fake.http.get("/_mock/requests").text


def test_journal_reads_are_scoped_and_paged(fake: Fake) -> None:
    fake.fetch()
    fake.fetch(headers={**HEADERS, "access_token": "tok_b"})
    fake.http.get("/v1/webhook")
    assert [e["seq"] for e in entries(fake)] == [1, 2, 3]
    assert [e["seq"] for e in entries(fake, access_token="tok_b")] == [2]
    assert [e["seq"] for e in entries(fake, since=1, limit=1)] == [3]
    assert [e["seq"] for e in entries(fake, kind="request", limit=2)] == [2, 3]
    assert fake.http.get("/_mock/requests").json()["last_seq"] == 3
    assert fake.http.get("/_mock/requests", params={"kind": "x"}).status_code == 400
    assert fake.http.get("/_mock/requests", params={"since": "-1"}).status_code == 400


def test_the_fetch_entry_records_the_chosen_behaviours(fake: Fake) -> None:
    fake.http.post("/_mock/scenarios", json={"behaviour": "api_429", "params": {"retry_after": 2}})
    fake.fetch()
    entry = entries(fake)[-1]
    assert entry["status"] == 429
    assert entry["job_id"] is None
    assert entry["behaviours"] == [{"behaviour": "api_429", "params": {"retry_after": 2}, "source": "scn_1"}]


def test_every_delivery_attempt_is_journaled(receiver: WebhookReceiver, serve: Callable[..., Fake]) -> None:
    fake = serve(retry_delay=0.01)
    fake.register(receiver.url)
    receiver.respond_with(Behaviour.status(500))
    job_id = fake.fetch().json()["job_id"]
    job = fake.state.wait_for_job(job_id)
    deliveries = entries(fake, kind="delivery")
    assert [(d["attempt"]["attempt"], d["attempt"]["status_code"]) for d in deliveries] == [
        (1, 500),
        (2, 200),
    ]
    assert deliveries[0]["job_id"] == job_id
    assert deliveries[0]["event_id"] == job.event_id
    assert deliveries[0]["access_token"] == "***"
    assert deliveries[1]["attempt"] == job.attempts[1].to_json()
    assert deliveries[1]["at"] == job.attempts[1].started_at
    assert [e["kind"] for e in entries(fake, job_id=job_id)] == ["request", "delivery", "delivery"]


def test_an_unexpected_error_is_journaled_as_a_500() -> None:
    app = create_app(Settings().replace(delay=0))
    state: MockState = app.state.cobalt

    def broken(*args: object, **kwargs: object) -> Job:
        raise RuntimeError("boom")

    state.accept = broken  # type: ignore[method-assign]

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            return await client.post("/v1/appointments/fetch", json=WEEK, headers=HEADERS)

    response = asyncio.run(call())
    assert response.status_code == 500
    (entry,) = state.journal()
    assert isinstance(entry, RequestEntry)
    assert entry.status == 500
    assert entry.error == "RuntimeError: boom"
    assert [str(e) for e in state.errors] == ["boom"]


def test_retention_is_a_setting(serve: Callable[..., Fake]) -> None:
    fake = serve(max_journal=2)
    for _ in range(5):
        fake.http.get("/v1/webhook")
    assert [e["seq"] for e in entries(fake)] == [4, 5]


# --- API latency -------------------------------------------------------------------------------


def test_api_latency_delays_api_answers_but_not_the_control_plane(serve: Callable[..., Fake]) -> None:
    fake = serve(api_latency=1)  # a second, so that a busy machine cannot make the control plane as slow
    started = time.monotonic()
    assert fake.http.get("/v1/webhook").status_code == 200
    assert time.monotonic() - started >= 1
    started = time.monotonic()
    (entry,) = entries(fake)
    assert time.monotonic() - started < 1
    assert entry["latency_ms"] == 1000
    assert entry["duration_ms"] >= 1000


@pytest.mark.parametrize("latency", ["0.1..0.5", "lognormal:0.2:0.5"])
def test_api_latency_draws_repeat_for_a_seed(latency: str) -> None:
    def draws(seed: int) -> list[float]:
        state: MockState = create_app(Settings().replace(api_latency=latency, seed=seed)).state.cobalt
        return [state.api_latency() for _ in range(5)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert len(set(draws(1))) == 5
    assert create_app(Settings()).state.cobalt.api_latency() == 0


def test_newest_entries_and_one_entry_by_number() -> None:
    journal = Journal(4)
    for token in ("tok_a", "tok_b", "tok_a", "tok_b", "tok_a", "tok_b"):
        journal.start_scope(_scope(_token(token)))
    assert [e.seq for e in journal.newest(2)] == [6, 5]
    assert [e.seq for e in journal.newest(10)] == [6, 5, 4, 3]
    assert [journal.find(seq) is not None for seq in range(8)] == [False] * 3 + [True] * 4 + [False]
    journal.clear("tok_a")  # numbers with gaps
    assert [e.seq for e in journal.newest(10)] == [6, 4]
    assert [getattr(journal.find(seq), "seq", None) for seq in (3, 4, 5, 6)] == [None, 4, None, 6]
