"""The fake over real HTTP: auth, every validation row, response shapes, the webhook flow, the cache."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mock_server.delivery.webhook import verify, verify_parsed
from mock_server.resources import data_dir, read_json
from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import HEADERS, RULE_READINGS, WEEK, Fake

JOB_ID = re.compile(r"^job_[0-9A-Za-z]{22}$")


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "message"}
    assert body["success"] is False
    message: str = body["message"]
    return message


# --- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        (["access_token"], "access_token"),
        (["client_id", "client_secret"], "client_id, client_secret"),
        (["client_id", "client_secret", "access_token"], "client_id, client_secret, access_token"),
    ],
)
def test_missing_headers_are_named(fake: Fake, drop: list[str], named: str) -> None:
    headers = {k: v for k, v in HEADERS.items() if k not in drop}
    response = httpx.post(f"{fake.url}/v1/appointments/fetch", json=WEEK, headers=headers)
    assert error(response, 401) == f"Missing required header(s): {named}"


def test_empty_header_counts_as_missing_and_is_checked_before_the_body(fake: Fake) -> None:
    response = fake.http.post(
        "/v1/appointments/fetch",
        content=b"not json",
        headers={"access_token": "", "content-type": "text/plain"},
    )
    assert error(response, 401) == "Missing required header(s): access_token"


def test_webhook_calls_need_no_access_token(fake: Fake) -> None:
    headers = {"client_id": "ci", "client_secret": "cs"}
    assert httpx.get(f"{fake.url}/v1/webhook", headers=headers).status_code == 200
    assert error(httpx.get(f"{fake.url}/v1/webhook", headers={"client_id": "ci"}), 401).endswith(
        "client_secret"
    )


def test_strict_credentials(serve: Callable[..., Fake]) -> None:
    fake = serve(client_id="ci_live_1", client_secret="cs_live_1", access_token="at_1")
    assert error(fake.fetch(), 401) == "Invalid credentials."
    good = {"client_id": "ci_live_1", "client_secret": "cs_live_1", "access_token": "at_1"}
    assert fake.fetch(headers=good).status_code == 202
    assert (
        error(fake.http.get("/v1/webhook", headers={**good, "client_secret": "x"}), 401)
        == "Invalid credentials."
    )
    assert fake.http.get("/v1/webhook", headers={**good, "access_token": "other"}).status_code == 200


# --- fetch validation over HTTP -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Missing required parameters: start_date, end_date."),
        ({"start_date": "2025-01-01"}, "Missing required parameters: end_date."),
        (
            {"start_date": "01/01/2025", "end_date": "2025-01-02"},
            "Invalid date format. Use ISO format (YYYY-MM-DD).",
        ),
        (
            {"start_date": "2025-02-30", "end_date": "2025-03-01"},
            "Invalid date format. Use ISO format (YYYY-MM-DD).",
        ),
        ({"start_date": "2025-01-02", "end_date": "2025-01-01"}, "end_date must be after start_date."),
        ({"start_date": "2025-01-01", "end_date": "2025-01-08"}, "Date range cannot exceed 7 days."),
        ({"search_by": "mrn"}, "Missing required parameters: mrn."),
        ({"search_by": "everything"}, "Invalid search_by. Must be one of: date_range, mrn, provider."),
        ([1, 2], "Request body must be a JSON object."),
    ],
)
def test_validation_rows(fake: Fake, body: Any, message: str) -> None:
    assert error(fake.fetch(body), 400) == message


@pytest.mark.parametrize("name", sorted(RULE_READINGS))
def test_each_rule_reading_is_a_setting(serve: Callable[..., Fake], name: str) -> None:
    lax, body, documented = RULE_READINGS[name]
    assert error(serve().fetch(body), 400) == documented  # the stricter reading by default
    assert serve(**{name: lax}).fetch(body).status_code == 202


def test_a_configured_limit_is_named_in_its_message(serve: Callable[..., Fake]) -> None:
    fake = serve(max_range_days=3, max_single_provider_days=2, max_providers=4)
    assert error(fake.fetch({**WEEK, "end_date": "2025-01-09"}), 400) == "Date range cannot exceed 3 days."
    one = {
        "search_by": "provider",
        "provider_ids": ["p"],
        "start_date": "2025-01-06",
        "end_date": "2025-01-08",
    }
    assert error(fake.fetch(one), 400) == "Date range cannot exceed 2 days when fetching a single provider."
    five = {**one, "provider_ids": list("abcde"), "end_date": "2025-01-06"}
    assert error(fake.fetch(five), 400) == (
        "Invalid provider_ids. It must be an array of 1 to 4 distinct, non-empty strings."
    )
    two = {**one, "provider_ids": ["a", "b"], "end_date": "2025-01-07"}
    assert error(fake.fetch(two), 400) == "start_date must equal end_date when fetching 2 to 4 providers."
    served = fake.http.get("/openapi.json").json()
    assert "date_range up to 3 days" in served["paths"]["/v1/appointments/fetch"]["post"]["description"]
    assert served["components"]["schemas"]["fetch-request"]["properties"]["provider_ids"]["anyOf"][0] == {
        "type": "array",
        "minItems": 1,
        "maxItems": 4,
        "items": {"type": "string", "minLength": 1},
    }


def test_malformed_json(fake: Fake) -> None:
    response = fake.http.post(
        "/v1/appointments/fetch", content=b'{"start_date": ', headers={"content-type": "application/json"}
    )
    assert error(response, 400) == "Request body must be valid JSON."


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_content_type_must_be_json(fake: Fake, content_type: str) -> None:
    response = fake.http.post(
        "/v1/appointments/fetch", content=json.dumps(WEEK).encode(), headers={"content-type": content_type}
    )
    assert error(response, 415) == "Content-Type must be application/json."


def test_json_with_charset_is_fine(fake: Fake) -> None:
    response = fake.http.post(
        "/v1/appointments/fetch",
        content=json.dumps(WEEK).encode(),
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert response.status_code == 202


def test_body_over_limit_is_refused(serve: Callable[..., Fake]) -> None:
    fake = serve(max_body_bytes=1000)
    big = json.dumps({**WEEK, "pad": "x" * 2000}).encode()
    assert error(
        fake.http.post("/v1/appointments/fetch", content=big, headers={"content-type": "application/json"}),
        413,
    )

    def chunks() -> Any:  # no content-length: refused while streaming
        for _ in range(20):
            yield b" " * 100

    streamed = fake.http.post(
        "/v1/appointments/fetch", content=chunks(), headers={"content-type": "application/json"}
    )
    assert error(streamed, 413) == "Request body too large."


def test_unknown_path_and_wrong_method(fake: Fake) -> None:
    assert error(fake.http.get("/v1/nothing"), 404) == "Not found."
    assert error(fake.http.put("/v1/appointments/fetch", json=WEEK), 405) == "Method not allowed."
    assert error(fake.http.delete("/v1/appointments"), 405) == "Method not allowed."


def every_route(fake: Fake) -> list[tuple[str, str]]:
    """(method, path) of every route the fake serves, its path parameters filled in."""
    return sorted(
        (method, re.sub(r"\{[^}]+\}", "x", route.path))
        for route in fake.app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    )


def test_a_trailing_slash_is_the_same_route_everywhere(fake: Fake) -> None:
    # `/` (the index) is its own slashed spelling; `//` is another path, as in Express. The
    # dashboard's stream never ends, so it is not asked here (tests/api/test_dashboard.py).
    routes = [(m, path) for m, path in every_route(fake) if path not in ("/", "/_mock/stream")]
    assert {path.split("/")[1] for _, path in routes} == {"v1", "_mock", "openapi.json"}
    for method, path in routes:
        body = {"json": {}} if method in ("POST", "PATCH") else {}
        plain = fake.http.request(method, path, **body)
        slashed = fake.http.request(method, path + "/", **body)
        assert (slashed.status_code, "location" in slashed.headers) == (plain.status_code, False), path
        # The route's own answer, not the router's (a missing page file is the page route's 404).
        if slashed.status_code >= 400 and not path.startswith("/_mock/ui/"):
            assert slashed.json()["message"] == plain.json()["message"], path
            assert slashed.json()["message"] not in ("Not found.", "Method not allowed."), path


def test_a_trailing_slash_authenticates_first_and_is_journaled_as_sent(fake: Fake) -> None:
    unauthenticated = httpx.post(f"{fake.url}/v1/appointments/fetch/", json=WEEK, timeout=10)
    assert error(unauthenticated, 401) == "Missing required header(s): client_id, client_secret, access_token"
    assert fake.http.post("/v1/appointments/fetch/", json=WEEK).status_code == 202
    entries = fake.http.get("/_mock/requests", params={"kind": "request"}).json()["entries"]
    assert [(e["path"], e["status"]) for e in entries[-2:]] == [
        ("/v1/appointments/fetch/", 401),
        ("/v1/appointments/fetch/", 202),
    ]
    assert error(fake.http.get("/v1/appointments/fetch//"), 404) == "Not found."  # one slash, as Express


def test_nothing_is_built_from_the_host_header(fake: Fake) -> None:
    for path in ("/openapi.json", "/openapi.json/", "/v1/appointments/fetch/", "/v1/nothing/"):
        answer = fake.http.get(path, headers={"host": "attacker.invalid"})
        assert answer.status_code < 300 or answer.status_code >= 400, path
        assert "attacker.invalid" not in answer.text + str(answer.headers), path


# --- acceptance and the webhook -------------------------------------------------------------------


def test_accepted_answer(fake: Fake) -> None:
    response = fake.fetch()
    assert response.status_code == 202
    body = response.json()
    assert list(body) == ["success", "message", "job_id"]
    assert body["success"] is True
    assert body["message"] == "Live fetch request accepted. Results will be sent via webhook when ready."
    assert JOB_ID.match(body["job_id"])
    assert fake.fetch().json()["job_id"] != body["job_id"]


def documented(name: str) -> dict[str, Any]:
    result: dict[str, Any] = read_json(data_dir("fixtures") / name / "valid-documented.json")
    return result


def test_date_range_webhook_matches_the_documented_shape(fake: Fake, receiver: WebhookReceiver) -> None:
    fake.register(receiver.url + "/hooks")
    job_id = fake.fetch().json()["job_id"]
    delivery = receiver.wait_for_webhook(job_id, timeout=10)
    payload = delivery.payload
    example = documented("webhook-date-range")
    assert list(payload) == list(example)
    assert list(payload["data"]) == list(example["data"])
    assert all(list(a) == list(example["data"]["appointments"][0]) for a in payload["data"]["appointments"])
    assert payload["type"] == "appointment.live_fetch_completed"
    assert payload["action"] == "sync"
    assert payload["job_id"] == job_id
    assert re.match(r"^evt_[0-9A-Za-z]{22}$", payload["id"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", payload["timestamp"])
    data = payload["data"]
    assert data["success"] is True
    assert (data["start_date"], data["end_date"]) == (WEEK["start_date"], WEEK["end_date"])
    assert data["appointment_count"] == len(data["appointments"]) > 0
    assert all(WEEK["start_date"] <= a["datetime"][:10] <= WEEK["end_date"] for a in data["appointments"])
    # headers and signature, checked both ways Cobalt's receivers do it
    headers = delivery.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == payload["id"]
    assert headers["webhook-timestamp"] == payload["timestamp"]
    assert headers["webhook-attempt"] == "1"
    assert re.match(r"^[0-9a-f]{64}$", headers["cobalt-verification"])
    assert verify(DEFAULT_WEBHOOK_SECRET, delivery.body, headers["cobalt-verification"])
    assert verify_parsed(DEFAULT_WEBHOOK_SECRET, json.loads(delivery.body), headers["cobalt-verification"])
    assert delivery.signature_valid
    assert delivery.reserialized_valid
    assert delivery.path == "/hooks"


def test_mrn_webhook_matches_the_documented_shape(fake: Fake, receiver: WebhookReceiver) -> None:
    fake.register(receiver.url)
    job_id = fake.fetch({"search_by": "mrn", "mrn": "12345"}).json()["job_id"]
    payload = receiver.wait_for_webhook(job_id, timeout=10).payload
    example = documented("webhook-mrn")
    assert list(payload) == list(example)
    assert list(payload["data"]) == list(example["data"])
    assert payload["data"]["search_by"] == "mrn"
    assert payload["data"]["mrn"] == "12345"
    appointments = payload["data"]["appointments"]
    assert payload["data"]["appointment_count"] == len(appointments) > 0
    assert all(list(a) == list(example["data"]["appointments"][0]) for a in appointments)
    assert all(
        re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", a["datetime"]) for a in appointments
    )


def test_mrn_history_is_stable_and_non_ascii_survives(fake: Fake, receiver: WebhookReceiver) -> None:
    fake.register(receiver.url)
    first = fake.fetch({"search_by": "mrn", "mrn": "Zoë-東京"}).json()["job_id"]
    second = fake.fetch({"search_by": "mrn", "mrn": "Zoë-東京"}).json()["job_id"]
    a, b = receiver.wait_for_webhook(first, timeout=10), receiver.wait_for_webhook(second, timeout=10)
    assert a.payload["data"] == b.payload["data"]
    assert "Zoë-東京".encode() in a.body  # sent raw, not \u-escaped, like JSON.stringify
    assert a.signature_valid
    assert a.reserialized_valid


def test_provider_mode_returns_only_requested_providers(fake: Fake, receiver: WebhookReceiver) -> None:
    fake.register(receiver.url)
    body = {
        "search_by": "provider",
        "provider_ids": ["prov_x1", "prov_x2"],
        "start_date": "2025-01-07",
        "end_date": "2025-01-07",
    }
    job_id = fake.fetch(body).json()["job_id"]
    data = receiver.wait_for_webhook(job_id, timeout=10).payload["data"]
    assert list(data) == ["success", "appointment_count", "start_date", "end_date", "appointments"]
    assert {a["provider_ehr_id"] for a in data["appointments"]} == {"prov_x1", "prov_x2"}
    assert data["appointment_count"] == len(data["appointments"])


def test_every_registered_url_gets_the_event(fake: Fake, receiver: WebhookReceiver) -> None:
    with WebhookReceiver(secret=DEFAULT_WEBHOOK_SECRET) as other:
        fake.register(receiver.url + "/one")
        fake.register(other.url + "/two")
        job_id = fake.fetch().json()["job_id"]
        a, b = receiver.wait_for_webhook(job_id, timeout=10), other.wait_for_webhook(job_id, timeout=10)
    assert a.body == b.body
    assert a.headers["cobalt-verification"] == b.headers["cobalt-verification"]
    rows = fake.events(job_id=job_id)["webhook_events"]
    assert sorted(r["webhook_url"] for r in rows) == sorted([receiver.url + "/one", other.url + "/two"])


# --- retry rules against a real receiver ----------------------------------------------------------


def deliveries_for(receiver: WebhookReceiver, job_id: str, count: int) -> list[Any]:
    return receiver.wait_for(lambda d: d.job_id == job_id, timeout=10, count=count)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_retried_once_on_5xx_and_429(
    serve: Callable[..., Fake], receiver: WebhookReceiver, status: int
) -> None:
    from mock_server.testing.receiver import Behaviour

    fake = serve(retry_delay=0.05)
    fake.register(receiver.url)
    receiver.respond_with(Behaviour.status(status))
    job_id = fake.fetch().json()["job_id"]
    first, second = deliveries_for(receiver, job_id, 2)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.body == second.body
    assert first.event_id == second.event_id
    assert first.headers["cobalt-verification"] == second.headers["cobalt-verification"]
    assert first.headers["webhook-timestamp"] == second.headers["webhook-timestamp"]
    assert second.received_at - first.received_at >= 0.05
    job = fake.state.wait_for_job(job_id, timeout=10)
    assert [a.status_code for a in job.attempts] == [status, 200]


def test_not_retried_on_400(fake: Fake, receiver: WebhookReceiver) -> None:
    from mock_server.testing.receiver import Behaviour

    fake.register(receiver.url)
    receiver.respond_with(Behaviour.status(400))
    job_id = fake.fetch().json()["job_id"]
    deliveries_for(receiver, job_id, 1)
    job = fake.state.wait_for_job(job_id, timeout=10)
    assert [a.status_code for a in job.attempts] == [400]
    assert fake.events(job_id=job_id)["webhook_events"][0]["delivery_status"] == "failed"


def test_not_retried_on_timeout(serve: Callable[..., Fake], receiver: WebhookReceiver) -> None:
    from mock_server.testing.receiver import Behaviour

    fake = serve(webhook_timeout=0.2, retry_delay=0.01)
    fake.register(receiver.url)
    receiver.respond_with(Behaviour.slow(1.0))
    job_id = fake.fetch().json()["job_id"]
    job = fake.state.wait_for_job(job_id, timeout=10)
    assert len(job.attempts) == 1
    assert job.attempts[0].status_code is None
    assert "timed out" in (job.attempts[0].error or "")


def test_retried_on_closed_connection(serve: Callable[..., Fake], receiver: WebhookReceiver) -> None:
    from mock_server.testing.receiver import Behaviour

    fake = serve(retry_delay=0.01)
    fake.register(receiver.url)
    receiver.respond_with(Behaviour.close())
    job_id = fake.fetch().json()["job_id"]
    job = fake.state.wait_for_job(job_id, timeout=10)
    assert [a.status_code for a in job.attempts] == [None, 200]
    assert fake.events(job_id=job_id)["webhook_events"][0]["delivery_status"] == "success"


def test_retried_on_connection_refused(serve: Callable[..., Fake]) -> None:
    from mock_server.api.serving import bind_socket

    sock = bind_socket()  # a port nobody answers on: bound, then closed
    port = sock.getsockname()[1]
    sock.close()
    fake = serve(retry_delay=0.01)
    fake.register(f"http://127.0.0.1:{port}/gone")
    job_id = fake.fetch().json()["job_id"]
    job = fake.state.wait_for_job(job_id, timeout=10)
    assert [a.attempt for a in job.attempts] == [1, 2]
    assert all(a.error for a in job.attempts)
