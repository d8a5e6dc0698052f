"""The contract's checks, as plain functions: the properties call them, and so do the mutation tests.

Each raises ``AssertionError`` naming the rule that was broken (schema failures included, with
jsonschema's best-matching error and its JSON path). Independent parts of one answer are all checked
before raising, and each part names its rule in ``conformance.RULES``: while a live run's recorder is
active, every part records its verdict there (confirmed, contradicted, or not exercised when, say, an
empty result leaves nothing to check). Signatures are recomputed here with the standard library,
independently of ``mock_server.delivery.webhook``: once over the raw bytes, once the way Cobalt's documented
Node receiver does it (``JSON.stringify(JSON.parse(body))``).
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

from contract_tests.conformance import answered, record
from mock_server.resources import SCHEMA_BASE, registry, validator

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from contract_tests.target import Webhook

ACCEPTED_MESSAGE = "Live fetch request accepted. Results will be sent via webhook when ready."
EVENT_TYPE = "appointment.live_fetch_completed"
SIGNATURE_HEADER = "cobalt-verification"
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
_OFFSET_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+[+-][0-9]{2}:[0-9]{2}")
STATUS_RULE = {400: "error-status-400", 401: "auth-missing-401", 404: "error-shape", 405: "error-shape"}
STATUS_RULE[413] = "body-too-large-413"

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


class Findings:
    """The parts of one answer checked so far: each recorded under its rule, raised together."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, rule: str, ok: bool, message: str) -> bool:
        record(rule, "confirmed" if ok else "contradicted", "" if ok else message)
        if not ok:
            self.failures.append(message)
        return ok

    def fail(self, rule: str, message: str) -> None:
        self.check(rule, False, message)

    def skip(self, rule: str, why: str) -> None:
        record(rule, "not exercised", why)

    def done(self) -> None:
        if self.failures:
            raise AssertionError("\n".join(self.failures))


def _problem(checker: Draft202012Validator, instance: Any, what: str) -> str | None:
    error = best_match(checker.iter_errors(instance))
    if error is None:
        return None
    message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
    return f"{what}: {message} (at {error.json_path})"


def _validate(checker: Draft202012Validator, instance: Any, what: str) -> None:
    problem = _problem(checker, instance, what)
    if problem is not None:
        raise AssertionError(problem)


def check_schema(name: str, instance: Any, what: str | None = None) -> None:
    """``instance`` matches the open schema ``name`` (undocumented extra fields allowed)."""
    _validate(validator(name), instance, what or f"does not match schema {name!r}")


def _exchange(response: httpx.Response) -> None:
    """Keep the answer with the current step, for the report of a contradiction."""
    answered({"status": response.status_code, "body": response.text[:500]})


def _json(response: httpx.Response) -> tuple[Any, str | None]:
    """The answer's JSON, or why it is not JSON."""
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("application/json"):
        request = response.request
        return None, f"{request.method} {request.url.path} answered content-type {content_type!r}"
    try:
        return response.json(), None
    except ValueError:
        return None, f"answer is not JSON: {response.text[:300]!r}"


def _no_5xx(response: httpx.Response, findings: Findings) -> None:
    findings.check(
        "no-5xx", response.status_code < 500, f"answered {response.status_code}: no input may produce a 5xx"
    )


# --- the 202 and the errors -------------------------------------------------------------------------


def check_accepted(response: httpx.Response, *, rule: str | None = None) -> str:
    """A valid fetch: 202, the documented body; returns the ``job_id``.

    ``rule`` is the rule that says this request is valid (a boundary), confirmed with the 202.
    """
    _exchange(response)
    findings = Findings()
    _no_5xx(response, findings)
    code = response.status_code
    accepted = code == 202
    problem = (
        None
        if accepted
        else f"a valid fetch must be accepted with status 202, got {code}: {response.text[:300]}"
    )
    if rule is not None:
        findings.check(rule, accepted, problem or "")
    body: Any = None
    if problem is None:
        body, problem = _json(response)
    if problem is None:
        problem = _problem(
            validator("fetch-accepted"), body, "202 body does not match schema 'fetch-accepted'"
        )
    findings.check("fetch-accepted-202", problem is None, problem or "")
    findings.done()
    message = body["message"]
    findings.check(
        "fetch-accepted-message",
        message == ACCEPTED_MESSAGE,
        f"202 message {message!r} is not {ACCEPTED_MESSAGE!r}",
    )
    findings.done()
    job_id: str = body["job_id"]
    return job_id


def check_error(
    response: httpx.Response, status: int, message: str | None, *, rule: str | None = None
) -> None:
    """An error answer: ``status``, ``{"success": false, "message"}``, and exactly ``message`` if given.

    ``rule`` is the rule that refuses this request (its message's rule); the status has its own rule,
    so a 422 with the right words contradicts our choice of 400, not Cobalt's wording.
    """
    _exchange(response)
    findings = Findings()
    _no_5xx(response, findings)
    code = response.status_code
    status_rule = STATUS_RULE.get(status, "error-shape")
    wording_rule = rule or status_rule
    if code < 300:
        findings.fail(wording_rule, f"expected status {status}, got {code}: {response.text[:300]}")
        findings.done()
    findings.check(
        status_rule, code == status, f"expected status {status}, got {code}: {response.text[:300]}"
    )
    body, problem = _json(response)
    if problem is None:
        problem = _problem(validator("error"), body, f"{code} body does not match schema 'error'")
    if problem is not None:
        findings.fail(wording_rule, problem)
    elif message is not None:
        findings.check(
            wording_rule,
            body["message"] == message,
            f"error message {body['message']!r}, expected {message!r}",
        )
    findings.done()


# --- webhook registration, in the version webhook_api names -------------------------------------------

# Each version's body field and the schemas of its answers (docs/webhook-api.md).
REGISTRATION = {
    "guide": ("webhook_url", "webhook-register-response", "webhook-list-response", "webhook-rotate-response"),
    "reference": (
        "url",
        "webhook-reference-create-response",
        "webhook-reference-list-response",
        "webhook-reference-rotate-response",
    ),
}


def registration_body(api: str, url: str) -> dict[str, str]:
    """``POST /v1/webhook``'s body in ``api``'s version."""
    return {REGISTRATION[api][0]: url}


def _version_answer(response: httpx.Response, api: str, schema: str, what: str) -> Any:
    """A 200 whose body fits ``schema``, recorded under ``webhook-api`` (``api``'s version)."""
    _exchange(response)
    findings = Findings()
    _no_5xx(response, findings)
    body, problem = _json(response)
    if response.status_code != 200:
        problem = f"{what} answered {response.status_code}: {response.text[:300]}"
    if problem is None:
        problem = _problem(validator(schema), body, f"{what} does not match schema {schema!r}")
    findings.check("webhook-api", problem is None, f"webhook_api={api}: {problem}")
    findings.done()
    return body


def check_registration(response: httpx.Response, api: str) -> str:
    """``POST /v1/webhook`` answered in ``api``'s version; returns the secret that signs the webhook."""
    body = _version_answer(response, api, REGISTRATION[api][1], "POST /v1/webhook")
    secret: str = body["webhook_secret_key"] if api == "guide" else body["webhook"]["webhook_secret_key"]
    return secret


def check_listing(response: httpx.Response, api: str) -> list[dict[str, Any]]:
    """``GET /v1/webhook`` answered in ``api``'s version; returns the registered URLs."""
    urls: list[dict[str, Any]] = _version_answer(response, api, REGISTRATION[api][2], "GET /v1/webhook")[
        "webhook_urls"
    ]
    return urls


def check_rotation(response: httpx.Response, api: str) -> str:
    """A rotation answered in ``api``'s version; returns the new secret."""
    body = _version_answer(response, api, REGISTRATION[api][3], "the rotation")
    secret: str = body["webhook_secret_key"] if api == "guide" else body["webhook"]["secret"]
    return secret


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
    expect_failure: bool = False,
    attempt: int = 1,
) -> None:
    """Everything a job's completion event must satisfy, as far as the target lets us see it."""
    if webhook.payload is not None:
        check_payload(webhook.payload, request, job_id)
    if webhook.body is not None and webhook.headers is not None:
        check_delivery(webhook.body, webhook.headers, webhook.payload, secret, attempt=attempt)
    check_data(webhook.data, request, expect_failure=expect_failure)


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


def check_data(data: Any, request: Mapping[str, Any], *, expect_failure: bool = False) -> None:
    """``data`` answers the request: its schema, the count, the dates, the providers, the MRN.

    A job that completes with ``success: false`` breaks ``job-succeeds`` unless ``expect_failure``
    says the request was declared to fail. An empty result checks what it can (the schema, the echoed
    dates or MRN, a count of 0) and records the rules about appointments as not exercised.
    """
    answered({"data": _abridged(data)})
    findings = Findings()
    if not isinstance(data, dict):
        findings.fail("data-schema", f"webhook data is not an object: {data!r}")
        findings.done()
    mode = mode_of(request)
    if data.get("success") is False:
        problem = _problem(
            _definition_validator("failure-data"), data, "failed-fetch data does not match its schema"
        )
        findings.check("failure-shape", problem is None, problem or "")
        if not expect_failure:
            findings.fail(
                "job-succeeds",
                f"a valid fetch must complete with data.success true, got a failure "
                f"(failure_reason {data.get('failure_reason')!r}); declare the request expected to fail "
                "if it should: {data!r:.300}",
            )
        for rule in _DATA_RULES[mode]:
            findings.skip(rule, "the job failed: no data to check")
        findings.done()
        return
    if not expect_failure:
        findings.check(
            "job-succeeds",
            data.get("success") is True,
            f"a valid fetch must complete with data.success true: {data!r:.300}",
        )
    name = DATA_DEF[mode]
    problem = _problem(_definition_validator(name), data, f"webhook data does not match schema {name!r}")
    findings.check("data-schema", problem is None, problem or "")
    appointments = data.get("appointments")
    appointments = [a for a in appointments if isinstance(a, dict)] if isinstance(appointments, list) else []
    empty = "empty result: no appointments to check"
    count = data.get("appointment_count")
    if isinstance(count, int) and isinstance(data.get("appointments"), list):
        if count != len(data["appointments"]) or appointments:
            findings.check(
                "count-matches",
                count == len(data["appointments"]),
                f"appointment_count {count} but {len(data['appointments'])} appointments",
            )
        else:
            findings.skip("count-matches", empty)
    times = [a.get("datetime") for a in appointments]
    if times:
        naive = [t for t in times if not (isinstance(t, str) and _OFFSET_DATETIME.fullmatch(t))]
        findings.check(
            "datetime-offsets",
            not naive,
            f"{len(naive)} appointment datetime(s) without a UTC offset: {naive[:3]}",
        )
    else:
        findings.skip("datetime-offsets", empty)
    if mode == "mrn":
        findings.check(
            "mrn-echoed",
            data.get("mrn") == request["mrn"],
            f"data.mrn {data.get('mrn')!r} is not the requested {request['mrn']!r}",
        )
        findings.done()
        return
    start, end = request["start_date"], request["end_date"]
    findings.check(
        "dates-echoed",
        (data.get("start_date"), data.get("end_date")) == (start, end),
        f"data dates {data.get('start_date')}..{data.get('end_date')} are not the requested {start}..{end}",
    )
    dated = [t for t in times if isinstance(t, str)]
    if dated:
        outside = [t for t in dated if not start <= t[:10] <= end]
        findings.check(
            "inside-range",
            not outside,
            f"{len(outside)} appointment(s) outside {start}..{end}, e.g. {outside[:3]}",
        )
    else:
        findings.skip("inside-range", empty)
    if mode == "provider":
        if appointments:
            asked = set(request["provider_ids"])
            others = sorted({str(a.get("provider_ehr_id")) for a in appointments} - asked)
            findings.check(
                "only-requested-providers",
                not others,
                f"appointments of providers not requested: {others[:5]}",
            )
        else:
            findings.skip("only-requested-providers", empty)
    findings.done()


_DATA_RULES = {
    "date_range": ("data-schema", "count-matches", "datetime-offsets", "dates-echoed", "inside-range"),
    "provider": (
        "data-schema",
        "count-matches",
        "datetime-offsets",
        "dates-echoed",
        "inside-range",
        "only-requested-providers",
    ),
    "mrn": ("data-schema", "count-matches", "datetime-offsets", "mrn-echoed"),
}


def _abridged(data: Any) -> Any:
    """``data`` with at most two appointments, for the report."""
    if (
        isinstance(data, dict)
        and isinstance(data.get("appointments"), list)
        and len(data["appointments"]) > 2
    ):
        return {
            **data,
            "appointments": [*data["appointments"][:2], f"... {len(data['appointments']) - 2} more"],
        }
    return data


# --- polling ----------------------------------------------------------------------------------------


def check_events(response: httpx.Response, job_id: str, webhook: Webhook) -> None:
    """``GET /v1/webhook-events?job_id=`` lists the job's event, and only the job's.

    With a delivered webhook, each listed event's ``data`` must be exactly the delivered ``data``.
    A polled ``webhook`` *is* a listed event, so that comparison cannot apply and is not made.
    """
    _exchange(response)
    findings = Findings()
    if response.status_code != 200:
        findings.fail(
            "events-listed", f"webhook-events answered {response.status_code}: {response.text[:300]}"
        )
        findings.done()
    page, problem = _json(response)
    if problem is None:
        problem = _problem(
            validator("webhook-events-page"),
            _one_appointment_each(page),
            "webhook-events answer does not match its schema",
        )
    findings.check("events-page-shape", problem is None, problem or "")
    findings.done()
    events = page["webhook_events"]
    strangers = [e["job_id"] for e in events if e["job_id"] != job_id]
    findings.check(
        "events-listed",
        not strangers,
        f"webhook-events?job_id={job_id} listed other jobs' events: {strangers[:3]}",
    )
    references = [e.get("access_token_reference_id") for e in events]
    findings.check(
        "token-reference",
        all(isinstance(r, str) and r for r in references),
        f"webhook-events rows without an access_token_reference_id: {references[:3]}",
    )
    completions = [e for e in events if e["event_type"] == EVENT_TYPE]
    findings.check(
        "events-listed", bool(completions), f"webhook-events lists no {EVENT_TYPE} event for job {job_id}"
    )
    payload = webhook.payload
    if not isinstance(payload, dict):
        findings.skip("events-data-delivered", "the event was polled: there is no delivered data to compare")
        findings.done()
        return
    for event in completions:
        findings.check(
            "events-data-delivered",
            event["data"] == webhook.data,
            "webhook-events data differs from the delivered webhook's data",
        )
        assert event["event_id"] == payload["id"], (
            f"webhook-events event_id {event['event_id']!r} is not the delivered id {payload['id']!r}"
        )
        assert event["access_token_reference_id"] == payload["access_token_reference_id"], (
            "webhook-events access_token_reference_id differs from the delivered webhook's"
        )
    findings.done()


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
