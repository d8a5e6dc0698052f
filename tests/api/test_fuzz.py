"""Hypothesis throws arbitrary bodies, headers, methods and content types at every endpoint: no 5xx, ever.

Accepted fetches run at delay 0, so the generator also meets every date Hypothesis can think of.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.settings import Settings
from mock_server.testing.server import FakeServer
from tests.conftest import HEADERS

PATHS = [
    "/v1/appointments/fetch",
    "/v1/appointments",
    "/v1/webhook-events",
    "/v1/webhook",
    "/v1/webhook/rotate-secret",
    "/v1/webhook/wh_x/rotate-secret",
    "/v1/webhook/wh_x",
    "/_mock/health",
    "/openapi.json",
    "/",
    "/v1/",
]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=15), kids, max_size=4),
    max_leaves=15,
)
dates = st.dates().map(dt.date.isoformat) | st.text(max_size=12)
fetch_like = st.fixed_dictionaries(
    {},
    optional={
        "search_by": st.sampled_from(["date_range", "mrn", "provider", "x", ""]) | json_values,
        "start_date": dates | json_values,
        "end_date": dates | json_values,
        "mrn": st.text() | json_values,
        "provider_ids": st.lists(st.text(max_size=10), max_size=12) | json_values,
        "webhook_url": st.sampled_from(["http://127.0.0.1:9/x", "https://e.com", "x"]) | json_values,
    },
)
bodies = (
    fetch_like.map(lambda b: json.dumps(b).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
)
content_types = (
    st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin-1"]) | header_text
)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[tuple[httpx.Client, Any]]:
    # Nothing registered as a webhook: events are still recorded, the generator still runs.
    settings = Settings().replace(delay=0, max_jobs=200, max_events=200, log_level="warning", port=0)
    with FakeServer(settings) as thread, httpx.Client(base_url=thread.url, timeout=10) as client:
        yield client, thread.state


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.request.method != "HEAD":
        body = response.json()
        assert body["success"] is False
        assert isinstance(body["message"], str)
        assert body["message"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(METHODS),
    path=st.sampled_from(PATHS),
    body=bodies,
    content_type=content_types,
    drop=st.sets(st.sampled_from(sorted(HEADERS))),
    values=st.fixed_dictionaries(dict.fromkeys(HEADERS, header_text)),
    query=st.dictionaries(
        st.sampled_from(
            [
                "start_date",
                "end_date",
                "page",
                "page_size",
                "sort",
                "delivery_status",
                "job_id",
                "patient_name",
                "patient_phone",
                "include_note",
                "appointment_mode",
                "event_type",
            ]
        ),
        st.text(max_size=15),
        max_size=5,
    ),
)
def test_no_input_produces_a_5xx(
    fuzz_server: tuple[httpx.Client, Any],
    method: str,
    path: str,
    body: bytes,
    content_type: str,
    drop: set[str],
    values: dict[str, str],
    query: dict[str, str],
) -> None:
    client, state = fuzz_server
    headers = {k: v for k, v in values.items() if k not in drop}
    headers["content-type"] = content_type
    check(client.request(method, path, content=body, headers=headers, params=query))
    assert state.errors == []


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=fetch_like)
def test_any_fetch_body_is_either_accepted_or_a_400(
    fuzz_server: tuple[httpx.Client, Any], body: dict[str, Any]
) -> None:
    client, state = fuzz_server
    response = client.post("/v1/appointments/fetch", json=body, headers=HEADERS)
    check(response)
    assert response.status_code in (202, 400)
    if response.status_code == 202:
        job = state.wait_for_job(response.json()["job_id"], timeout=30)
        data = job.payload["data"]
        assert data["success"] is True
        assert data["appointment_count"] == len(data["appointments"])
    assert state.errors == []


def test_huge_and_odd_bodies(fuzz_server: tuple[httpx.Client, Any]) -> None:
    client, state = fuzz_server
    json_headers = {**HEADERS, "content-type": "application/json"}
    big = client.post("/v1/appointments/fetch", content=b"{" + b" " * 2_000_000 + b"}", headers=json_headers)
    assert big.status_code == 413
    deep = client.post(
        "/v1/appointments/fetch", content=b"[" * 100_000 + b"]" * 100_000, headers=json_headers
    )
    check(deep)
    odd = {"search_by": "mrn", "mrn": "\x00\u2028\U0001f600"}
    nul = client.post("/v1/appointments/fetch", json=odd, headers=HEADERS)
    assert nul.status_code == 202
    state.wait_for_job(nul.json()["job_id"], timeout=30)
    assert state.errors == []
