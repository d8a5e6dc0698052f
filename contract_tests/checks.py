"""The contract's checks, as plain functions: the properties call them, and so do the mutation tests.

Each raises ``AssertionError`` naming the rule that was broken (schema failures included, with
jsonschema's best-matching error and its JSON path). Signatures are recomputed here with the
standard library, independently of ``mock_server.signing``: once over the raw bytes, once the way
Cobalt's documented Node receiver does it (``JSON.stringify(JSON.parse(body))``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from jsonschema.exceptions import best_match

from mock_server.resources import SCHEMA_BASE, registry, validator

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from contract_tests.target import Webhook

ACCEPTED_MESSAGE = "Live fetch request accepted. Results will be sent via webhook when ready."
EVENT_TYPE = "appointment.live_fetch_completed"
SIGNATURE_HEADER = "cobalt-verification"
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")

# The payload schema, and the schema of its ``data`` alone (all a polled event gives), per mode.
WEBHOOK_SCHEMA = {"date_range": "webhook-date-range", "provider": "webhook-provider", "mrn": "webhook-mrn"}
DATA_DEF = {"date_range": "range-data", "provider": "range-data", "mrn": "mrn-data"}


@functools.cache
def _definition_validator(name: str) -> Draft202012Validator:
    """A validator for ``common.json#/$defs/<name>``, through the kit's one schema registry."""
    from jsonschema import Draft202012Validator

    schema = {"$ref": f"{SCHEMA_BASE}common.json#/$defs/{name}"}
    return Draft202012Validator(
        schema, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _validate(checker: Draft202012Validator, instance: Any, what: str) -> None:
    error = best_match(checker.iter_errors(instance))
    if error is not None:
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        raise AssertionError(f"{what}: {message} (at {error.json_path})")


def check_schema(name: str, instance: Any, what: str | None = None) -> None:
    """``instance`` matches the open schema ``name`` (undocumented extra fields allowed)."""
    _validate(validator(name), instance, what or f"does not match schema {name!r}")


def _json(response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), (
        f"{response.request.method} {response.request.url.path} answered content-type {content_type!r}"
    )
    try:
        return response.json()
    except ValueError:
        raise AssertionError(f"answer is not JSON: {response.text[:300]!r}") from None


# --- the 202 and the errors -------------------------------------------------------------------------


def check_accepted(response: httpx.Response) -> str:
    """A valid fetch: 202, the documented body; returns the ``job_id``."""
    assert response.status_code == 202, (
        f"a valid fetch must be accepted with status 202, got {response.status_code}: {response.text[:300]}"
    )
    body = _json(response)
    check_schema("fetch-accepted", body, "202 body does not match schema 'fetch-accepted'")
    assert body["message"] == ACCEPTED_MESSAGE, f"202 message {body['message']!r} is not {ACCEPTED_MESSAGE!r}"
    job_id: str = body["job_id"]
    return job_id


def check_error(response: httpx.Response, status: int, message: str | None) -> None:
    """An error answer: ``status``, ``{"success": false, "message"}``, and exactly ``message`` if given."""
    assert response.status_code == status, (
        f"expected status {status}, got {response.status_code}: {response.text[:300]}"
    )
    body = _json(response)
    check_schema("error", body, f"{status} body does not match schema 'error'")
    if message is not None:
        assert body["message"] == message, f"error message {body['message']!r}, expected {message!r}"


# --- the completion webhook -------------------------------------------------------------------------


def mode_of(request: Mapping[str, Any]) -> str:
    mode: str = request.get("search_by", "date_range")
    return mode


def check_webhook(
    webhook: Webhook,
    request: Mapping[str, Any],
    job_id: str,
    *,
    secret: str | None,
    expect_success: bool,
    attempt: int = 1,
) -> None:
    """Everything a job's completion event must satisfy, as far as the target lets us see it."""
    if webhook.payload is not None:
        check_payload(webhook.payload, request, job_id)
    if webhook.body is not None and webhook.headers is not None:
        check_delivery(webhook.body, webhook.headers, webhook.payload, secret, attempt=attempt)
    check_data(webhook.data, request, expect_success=expect_success)


def check_payload(payload: Any, request: Mapping[str, Any], job_id: str) -> None:
    """The whole event: this mode's schema (or the failure one), and its job.

    ``webhook.json`` is the ``anyOf`` of the mode and failure schemas, so passing the mode's schema
    implies passing it; checking it as well would cost half a second per MRN payload (jsonschema
    resolves a ``$dynamicRef`` for every field of every appointment in each failing branch).
    """
    assert isinstance(payload, dict), f"webhook body is not a JSON object: {payload!r:.200}"
    failed = isinstance(payload.get("data"), dict) and payload["data"].get("success") is False
    name = "webhook-failure" if failed else WEBHOOK_SCHEMA[mode_of(request)]
    check_schema(name, payload, f"webhook does not match schema {name!r}")
    assert payload["job_id"] == job_id, f"webhook job_id {payload['job_id']!r} is not the 202's {job_id!r}"


def check_delivery(
    body: bytes, headers: Mapping[str, str], payload: Any, secret: str | None, *, attempt: int = 1
) -> None:
    """The delivery headers and the signature, verified over the raw bytes and re-serialized."""
    content_type = headers.get("content-type", "")
    assert content_type.split(";")[0].strip() == "application/json", f"webhook content-type {content_type!r}"
    assert isinstance(payload, dict), "webhook body is not a JSON object"
    assert headers.get("webhook-id") == payload.get("id"), (
        f"webhook-id header {headers.get('webhook-id')!r} is not the payload id {payload.get('id')!r}"
    )
    stamp = headers.get("webhook-timestamp", "")
    try:
        dt.datetime.fromisoformat(stamp)
    except ValueError:
        raise AssertionError(f"webhook-timestamp header {stamp!r} is not ISO 8601") from None
    assert headers.get("webhook-attempt") == str(attempt), (
        f"webhook-attempt header {headers.get('webhook-attempt')!r}, expected {str(attempt)!r}"
    )
    signature = headers.get(SIGNATURE_HEADER)
    assert signature is not None, f"webhook has no {SIGNATURE_HEADER} signature header"
    assert _HEX_SIGNATURE.fullmatch(signature), f"signature {signature!r} is not lowercase hex HMAC-SHA256"
    if secret is None:
        return
    assert hmac.compare_digest(signature, _hmac(secret, body)), (
        "signature does not verify over the raw body bytes with the webhook secret"
    )
    restringified = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert hmac.compare_digest(signature, _hmac(secret, restringified)), (
        "signature does not verify over JSON.stringify(JSON.parse(body)), as Cobalt's Node receiver checks it"
    )


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def check_data(data: Any, request: Mapping[str, Any], *, expect_success: bool) -> None:
    """``data`` answers the request: its schema, the count, the dates, the providers, the MRN."""
    assert isinstance(data, dict), f"webhook data is not an object: {data!r}"
    mode = mode_of(request)
    if data.get("success") is False and not expect_success:
        _validate(_definition_validator("failure-data"), data, "failed-fetch data does not match its schema")
        return
    assert data.get("success") is True, f"a valid fetch must complete with data.success true: {data!r:.300}"
    name = DATA_DEF[mode]
    _validate(_definition_validator(name), data, f"webhook data does not match schema {name!r}")
    appointments = data["appointments"]
    assert data["appointment_count"] == len(appointments), (
        f"appointment_count {data['appointment_count']} but {len(appointments)} appointments"
    )
    if mode == "mrn":
        assert data["mrn"] == request["mrn"], (
            f"data.mrn {data['mrn']!r} is not the requested {request['mrn']!r}"
        )
        return
    start, end = request["start_date"], request["end_date"]
    assert (data["start_date"], data["end_date"]) == (start, end), (
        f"data dates {data['start_date']}..{data['end_date']} are not the requested {start}..{end}"
    )
    outside = [a["datetime"] for a in appointments if not start <= a["datetime"][:10] <= end]
    assert not outside, f"{len(outside)} appointment(s) outside {start}..{end}, e.g. {outside[:3]}"
    if mode == "provider":
        asked = set(request["provider_ids"])
        others = sorted({a["provider_ehr_id"] for a in appointments} - asked)
        assert not others, f"appointments of providers not requested: {others[:5]}"


# --- polling ----------------------------------------------------------------------------------------


def check_events(response: httpx.Response, job_id: str, webhook: Webhook) -> None:
    """``GET /v1/webhook-events?job_id=`` lists the job's event, with exactly the delivered ``data``."""
    assert response.status_code == 200, (
        f"webhook-events answered {response.status_code}: {response.text[:300]}"
    )
    page = _json(response)
    check_schema(
        "webhook-events-page", _one_appointment_each(page), "webhook-events answer does not match its schema"
    )
    events = page["webhook_events"]
    strangers = [e["job_id"] for e in events if e["job_id"] != job_id]
    assert not strangers, f"webhook-events?job_id={job_id} listed other jobs' events: {strangers[:3]}"
    completions = [e for e in events if e["event_type"] == EVENT_TYPE]
    assert completions, f"webhook-events lists no {EVENT_TYPE} event for job {job_id}"
    for event in completions:
        assert event["data"] == webhook.data, "webhook-events data differs from the delivered webhook's data"
        payload = webhook.payload
        if isinstance(payload, dict):
            assert event["event_id"] == payload["id"], (
                f"webhook-events event_id {event['event_id']!r} is not the delivered id {payload['id']!r}"
            )
            assert event["access_token_reference_id"] == payload["access_token_reference_id"], (
                "webhook-events access_token_reference_id differs from the delivered webhook's"
            )


def _one_appointment_each(page: Any) -> Any:
    """The page with each event's appointments cut to the first, for a schema check of its shape.

    Each event's ``data`` is checked below to equal the webhook's, whose every appointment
    ``check_data`` validated; validating them again here, through the ``anyOf`` of all data shapes,
    would cost a quarter second per MRN page.
    """
    if not isinstance(page, dict) or not isinstance(page.get("webhook_events"), list):
        return page
    events = []
    for event in page["webhook_events"]:
        data = event.get("data") if isinstance(event, dict) else None
        if isinstance(data, dict) and isinstance(data.get("appointments"), list):
            event = {**event, "data": {**data, "appointments": data["appointments"][:1]}}
        events.append(event)
    return {**page, "webhook_events": events}
