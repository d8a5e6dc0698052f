"""The fetch endpoint through the app's one pipeline: its answers, its journal entries, its API faults."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from mock_server.api.app import create_app
from mock_server.model.state import MockState
from mock_server.settings import Settings

HEADERS = {"client_id": "ci_test", "client_secret": "cs_test", "access_token": "tok_a"}
WEEK = {"start_date": "2025-01-06", "end_date": "2025-01-12"}


def _call(app: Any, requests: list[dict[str, Any]], root_path: str = "") -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, root_path=root_path)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            return [await client.request(**request) for request in requests]

    return asyncio.run(go())


def _app() -> tuple[Any, MockState]:
    app = create_app(Settings().replace(delay=3600, log_level="warning"))
    return app, app.state.cobalt


@pytest.mark.parametrize("root_path", ["", "/api"])
def test_a_fetch_is_answered_and_journaled_once_on_either_path(root_path: str) -> None:
    app, state = _app()
    url = f"{root_path}/v1/appointments/fetch"
    ok, bad, wrong_type = _call(
        app,
        [
            {"method": "POST", "url": url, "json": WEEK, "headers": HEADERS},
            {"method": "POST", "url": url, "json": {**WEEK, "end_date": "2025-01-20"}, "headers": HEADERS},
            {
                "method": "POST",
                "url": url,
                "content": b"{}",
                "headers": {**HEADERS, "content-type": "text/plain"},
            },
        ],
        root_path,
    )
    assert ok.status_code == 202
    assert ok.headers["content-type"] == "application/json"
    assert int(ok.headers["content-length"]) == len(ok.content)
    assert ok.json()["job_id"] in {j.job_id for j in state.jobs()}
    assert bad.json() == {"success": False, "message": "Date range cannot exceed 7 days."}
    assert (wrong_type.status_code, wrong_type.json()["message"]) == (
        415,
        "Content-Type must be application/json.",
    )
    entries = state.journal(kind="request")
    assert [(e.path, e.status) for e in entries] == [(url, 202), (url, 400), (url, 415)]
    first = entries[0]
    assert first.job_id == ok.json()["job_id"]
    assert first.headers["client_secret"] == "***"
    assert first.headers["access_token"] == "***"  # shorter than 12: nothing of it is shown
    assert first.access_token == "tok_a"
    assert bytes(first.body) == httpx.Request("POST", "/", json=WEEK).content
    assert first.duration_ms is not None


def test_the_first_of_repeated_auth_headers_counts() -> None:
    app, state = _app()
    raw = [("client_id", ""), ("client_id", "ci_late"), ("client_secret", "cs"), ("access_token", "tok_a")]
    (response,) = _call(
        app, [{"method": "POST", "url": "/v1/appointments/fetch", "json": WEEK, "headers": raw}]
    )
    assert (response.status_code, response.json()["message"]) == (
        401,
        "Missing required header(s): client_id",
    )
    (entry,) = state.journal()
    assert entry.headers["client_id"] == ", ci_late"  # the journal keeps both


def test_other_methods_on_the_fetch_path_go_through_starlette() -> None:
    app, _ = _app()
    (response,) = _call(app, [{"method": "GET", "url": "/v1/appointments/fetch", "headers": HEADERS}])
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


def test_a_client_gone_mid_body_is_journaled_as_499_and_a_bug_as_500() -> None:
    app, state = _app()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/appointments/fetch",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            *((k.encode(), v.encode()) for k, v in HEADERS.items()),
        ],
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def hang_up() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    async def body() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"search_by": "mrn", "mrn": "1"}'}

    async def go() -> None:
        await app(dict(scope), hang_up, send)
        state.accept = boom  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="kaboom"):  # re-raised for the server to log, once answered
            await app(dict(scope), body, send)

    asyncio.run(go())
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499, 500]
    gone, failed = state.journal()
    assert (gone.status, gone.error) == (499, None)
    assert (failed.status, failed.error) == (500, "RuntimeError: kaboom")
    assert [str(e) for e in state.errors] == ["kaboom"]


def test_the_configured_api_latency_delays_a_fetch_and_is_journaled() -> None:
    app = create_app(Settings().replace(delay=3600, log_level="warning", api_latency=0.02))
    (response,) = _call(
        app, [{"method": "POST", "url": "/v1/appointments/fetch", "json": WEEK, "headers": HEADERS}]
    )
    assert response.status_code == 202
    (entry,) = app.state.cobalt.journal()
    assert entry.latency_ms == 20
    assert entry.duration_ms is not None
    assert entry.duration_ms >= 20


@pytest.mark.parametrize(
    "blanks",
    [
        {"mrn": ""},
        {"mrn": None},
        {"provider_ids": None},
        {"provider_ids": []},
        {"provider_ids": ""},
        {"search_by": None},
        {"search_by": "", "mrn": "", "provider_ids": []},
    ],
)
def test_blank_fields_are_absent_in_every_mode(blanks: dict[str, Any]) -> None:
    """cobalt-api.md §8: null and "" are missing for every field, used by the mode or not."""
    app, state = _app()
    (response,) = _call(
        app,
        [{"method": "POST", "url": "/v1/appointments/fetch", "json": {**WEEK, **blanks}, "headers": HEADERS}],
    )
    assert response.status_code == 202, response.json()
    assert response.json()["job_id"] in {j.job_id for j in state.jobs()}


def test_blank_fields_a_mode_needs_are_named_missing_and_an_empty_provider_list_is_refused() -> None:
    app, _ = _app()
    url = "/v1/appointments/fetch"
    mrn, providers, empty = _call(
        app,
        [
            {
                "method": "POST",
                "url": url,
                "json": {**WEEK, "search_by": "mrn", "mrn": ""},
                "headers": HEADERS,
            },
            {
                "method": "POST",
                "url": url,
                "json": {**WEEK, "search_by": "provider", "provider_ids": None},
                "headers": HEADERS,
            },
            {
                "method": "POST",
                "url": url,
                "json": {**WEEK, "search_by": "provider", "provider_ids": []},
                "headers": HEADERS,
            },
        ],
    )
    assert mrn.json()["message"] == "Missing required parameters: mrn."
    assert providers.json()["message"] == "Missing required parameters: provider_ids."
    assert (empty.status_code, empty.json()["message"]) == (
        400,
        "Invalid provider_ids. It must be an array of 1 to 10 distinct, non-empty strings.",
    )
