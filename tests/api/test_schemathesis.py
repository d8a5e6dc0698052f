"""Schemathesis against the fake's own ``/openapi.json``: every check, a bounded number of examples.

Positive and negative data for every operation, with all of Schemathesis's checks: no 5xx, every
answer fits its documented status, content type, headers and schema, invalid input is refused and
valid input accepted. One exception, made precise: a schema cannot state the date rules (a real
calendar day, end not before start, at most 7 days, the provider limits), so a schema-valid request
may get a 400 only with the message of a rule it really breaks, which this file works out on its own.

The fake runs with strict credentials (so ``ignored_auth`` means something) and an ``httpx``
``MockTransport`` for webhooks: Schemathesis registers random webhook URLs, and nothing may leave
the machine. At the end, what Schemathesis found in the fake, each pinned down by a plain test.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mock_server.api.inputs import (
    MSG_END_BEFORE_START,
    MSG_INVALID_DATE,
    MSG_PROVIDER_IDS,
    MSG_PROVIDER_RANGE_TOO_LONG,
    MSG_PROVIDERS_ONE_DAY,
    MSG_RANGE_TOO_LONG,
)
from mock_server.api.openapi import build_openapi
from mock_server.settings import Settings
from mock_server.testing.server import FakeServer
from tests.conftest import HEADERS, Fake

AUTH = {"client_id": "ci_st", "client_secret": "cs_schemathesis", "access_token": "tok_schemathesis"}
EXAMPLES = 25  # per operation and mode; the whole file runs in about 15 s on 2 cores
DATE_RULES = {"/v1/appointments/fetch", "/v1/appointments"}

# The document the fake serves (the test below shows they are the same).
schema = schemathesis.openapi.from_dict(build_openapi())
# Unknown query parameters are ignored, as by most APIs (the document does not forbid them), so
# negative data does not add undeclared ones.
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_extra_parameters=False
)
schema.config.checks.update(included_check_names=["all"])
# The API reference's webhook operations, from the document a reference-mode fake serves.
reference_schema = schemathesis.openapi.from_dict(build_openapi(Settings(webhook_api="reference"))).include(
    path_regex="^/v1/webhook(/|$)"
)
reference_schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], allow_extra_parameters=False
)
reference_schema.config.checks.update(included_check_names=["all"])


@schema.hook
def filter_case(context: Any, case: Any) -> bool:
    """Negative data that reaches the wire as ``?name=`` is not negative: the document allows an empty
    optional query parameter (``allowEmptyValue``; the fake reads it as left out)."""
    if case.meta is None or not case.meta.generation.mode.is_negative:
        return True
    return not any(value in ("", None, []) for value in (case.query or {}).values())


class Offline:
    """The fake, its webhooks sent nowhere (an ``httpx.MockTransport`` that answers 200)."""

    def __init__(self, webhook_api: str = "guide") -> None:
        self.delivered: list[str] = []
        transport = httpx.MockTransport(self._deliver)
        settings = Settings().replace(delay=0, log_level="warning", port=0, webhook_api=webhook_api, **AUTH)
        self.server = FakeServer(settings, transport=transport)
        self.state = self.server.state

    def _deliver(self, request: httpx.Request) -> httpx.Response:
        self.delivered.append(str(request.url))
        return httpx.Response(200)


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[str, Offline]]:
    served = Offline()
    with served.server as thread:
        yield thread.url, served


@pytest.fixture(scope="module")
def reference_fake() -> Iterator[tuple[str, Offline]]:
    served = Offline("reference")
    with served.server as thread:
        yield thread.url, served


@reference_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_reference_fake_meets_its_openapi(case: Any, reference_fake: tuple[str, Offline]) -> None:
    url, served = reference_fake
    case.call_and_validate(base_url=url, headers=credentials_for(case), timeout=10)
    assert served.state.errors == []


def test_a_reference_fake_serves_the_reference_document(reference_fake: tuple[str, Offline]) -> None:
    url, _ = reference_fake
    served = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert served == build_openapi(Settings(webhook_api="reference"))


def test_the_tested_document_is_the_served_one(fake: tuple[str, Offline]) -> None:
    url, _ = fake
    served = httpx.get(f"{url}/openapi.json", timeout=10).json()
    assert served == build_openapi()
    loaded = schemathesis.openapi.from_url(f"{url}/openapi.json")
    assert sorted(op.ok().label for op in loaded.get_all_operations()) == sorted(
        op.ok().label for op in schema.get_all_operations()
    )


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_fake_meets_its_openapi(case: Any, fake: tuple[str, Offline]) -> None:
    url, served = fake
    semantic = case.operation.path in DATE_RULES
    response = case.call_and_validate(
        base_url=url,
        headers=credentials_for(case),
        excluded_checks=[positive_data_acceptance] if semantic else [],
        timeout=10,
    )
    if semantic and case.meta.generation.mode.is_positive:
        broken = date_rules_broken(case)
        message = response.json().get("message")
        if broken:
            assert (response.status_code, message in broken) == (400, True), (broken, response.text)
        else:
            assert response.status_code in (200, 202), response.text
    assert served.state.errors == []


def credentials_for(case: Any) -> dict[str, str]:
    """The working credentials, in place of the generated ones: all of them for a valid case, and
    for an invalid one only those its headers kept. A case made invalid by leaving an auth header
    out must stay without it, or the fake rightly accepts what the check expects it to refuse."""
    if case.meta.generation.mode.is_positive:
        return AUTH
    present = {name.lower() for name in case.headers or {}}
    return {name: value for name, value in AUTH.items() if name in present}


def date_rules_broken(case: Any) -> set[str]:
    """The messages of the rules a schema cannot state that this schema-valid request breaks."""
    if case.operation.path == "/v1/appointments":
        mode, values = "cache", case.query
    else:
        mode, values = case.body.get("search_by") or "date_range", case.body  # blank is absent
        if mode == "mrn":
            return set()
    try:
        start = dt.date.fromisoformat(values["start_date"])
        end = dt.date.fromisoformat(values["end_date"])
    except ValueError:
        return {MSG_INVALID_DATE}
    if end < start:
        return {MSG_END_BEFORE_START}
    days = (end - start).days + 1
    providers = values.get("provider_ids", []) if mode == "provider" else []
    broken = set()
    if mode == "date_range" and days > 7:
        broken.add(MSG_RANGE_TOO_LONG)
    if len(set(providers)) != len(providers):
        broken.add(MSG_PROVIDER_IDS)
    if len(providers) == 1 and days > 5:
        broken.add(MSG_PROVIDER_RANGE_TOO_LONG)
    if len(providers) > 1 and days > 1:
        broken.add(MSG_PROVIDERS_ONE_DAY)
    return broken


# -- what Schemathesis found, pinned down --------------------------------------------------------


def test_a_405_allows_every_method_the_path_serves(serve: Callable[..., Fake]) -> None:
    fake = serve()
    allowed = {
        "/v1/webhook": "GET, HEAD, POST",  # Starlette named only the first route's: POST
        "/v1/webhook/rotate-secret": "POST",  # not DELETE: a literal path is not a webhook id
        "/v1/webhook/wh_x": "DELETE",
    }
    for path, methods in allowed.items():
        response = fake.http.request("OPTIONS", path)
        assert (response.status_code, response.headers["allow"]) == (405, methods)


def test_request_bodies_take_no_unknown_fields_and_blank_means_absent(serve: Callable[..., Fake]) -> None:
    fake = serve()
    registered = fake.http.post("/v1/webhook", json={"webhook_url": "http://127.0.0.1:9/h", "x": 1})
    assert (registered.status_code, registered.json()["message"]) == (
        400,
        "Unknown field x; this server follows the guide's webhook API (webhook_url).",
    )
    # "" counts as missing for every field (cobalt-api.md §8): left out where the mode does not use it
    blank = fake.fetch({"start_date": "2025-01-06", "end_date": "2025-01-06", "mrn": ""})
    assert blank.status_code == 202
    missing = fake.fetch({"search_by": "mrn", "mrn": ""})
    assert (missing.status_code, missing.json()["message"]) == (400, "Missing required parameters: mrn.")


def test_query_parameters_are_given_once_and_empty_means_left_out(serve: Callable[..., Fake]) -> None:
    fake = serve()
    assert fake.http.get("/v1/webhook-events?page=&delivery_status=&sort=").status_code == 200
    repeated = fake.http.get("/v1/webhook-events?job_id=a&job_id=b")
    assert (repeated.status_code, repeated.json()["message"]) == (
        400,
        "Invalid job_id. It must be given once.",
    )
    cache = fake.http.get("/v1/appointments?start_date=2025-01-06&end_date=2025-01-06&end_date=2025-01-07")
    assert cache.status_code == 400


def test_a_client_gone_mid_body_is_no_error_of_the_fake(serve: Callable[..., Fake]) -> None:
    fake = serve()
    parts = urlsplit(fake.url)
    head = "POST /v1/appointments/fetch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()) + "content-length: 1000\r\n\r\n{"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode())
    deadline = time.monotonic() + 5
    while not any(e.status for e in fake.state.journal(kind="request")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the server thread notices the hang-up on its next read
    assert [e.status for e in fake.state.journal(kind="request")] == [499]
    assert fake.state.errors == []
