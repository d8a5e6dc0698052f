"""Deliberately broken fakes: each breaks one documented rule, to prove the contract suite notices.

Two mechanisms, neither of which touches ``mock_server``:

* ``Rewriting``, an ASGI middleware around ``create_app(...)`` that rewrites the fake's HTTP answers
  (a status, a field, a message) after the fake has produced them;
* a wrapper around the fake's webhook sender (``SwitchedSender``, given to ``create_app``; the callable
  ``(url, body, headers, timeout) -> status`` its lifespan installs), which alters what is delivered,
  or what the dispatcher learns about a delivery (so its retry decision goes wrong). Payload edits are
  re-signed with the fake's secret, so that each mutant breaks only its own rule.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract_tests.checks import ACCEPTED_MESSAGE, SIGNATURE_HEADER
from contract_tests.target import FAKE_SETTINGS, FakeTarget
from mock_server.api.app import create_app, make_sender
from mock_server.api.inputs import MSG_END_BEFORE_START, MSG_RANGE_TOO_LONG
from mock_server.delivery.senders import DeliveryFailed, Reply, Sender
from mock_server.delivery.webhook import sign
from mock_server.settings import Settings

SECRET = "whsec_contract_mutant_secret"

SendFn = Callable[[str, bytes, dict[str, str], float], Awaitable[Reply]]
SenderWrap = Callable[[SendFn], SendFn]


# --- rewriting HTTP answers -------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request and the fake's answer, which a rewrite may change in place."""

    method: str
    path: str
    request_body: bytes
    status: int
    body: Any  # the answer's parsed JSON
    request_headers: tuple[tuple[str, str], ...] = ()
    headers: dict[str, str] = field(default_factory=dict)  # added to the answer
    query: str = ""

    def request_json(self) -> Any:
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None


Rewrite = Callable[[Exchange], None]


class Rewriting:
    """Buffers each request and JSON answer of ``app`` so that ``rewrite`` can change the answer.

    With ``rewrite`` None it passes everything through untouched: the unbroken fake.
    """

    def __init__(self, app: ASGIApp, rewrite: Rewrite | None = None) -> None:
        self.app = app
        self.rewrite = rewrite

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rewrite = self.rewrite
        if scope["type"] != "http" or rewrite is None:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its request
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        request_body = b"".join(chunks)
        sent = scope["path"], request_body  # what the client sent, for the rewrite to see
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": request_body, "more_body": False}

        start: dict[str, Any] = {}
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        raw = b"".join(parts)
        if rewrite is None:
            await send(start)
            await send({"type": "http.response.body", "body": raw})
            return
        exchange = Exchange(
            scope["method"],
            *sent,
            start["status"],
            json.loads(raw),
            tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]),
            query=scope.get("query_string", b"").decode("latin-1"),
        )
        rewrite(exchange)
        raw = json.dumps(exchange.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode("ascii")))
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in exchange.headers.items()]
        await send({"type": "http.response.start", "status": exchange.status, "headers": headers})
        await send({"type": "http.response.body", "body": raw})


def _is_accepted(x: Exchange) -> bool:
    return x.path.endswith("/appointments/fetch") and x.status == 202


def accepted_status_200(x: Exchange) -> None:
    if _is_accepted(x):
        x.status = 200


def accepted_job_id_renamed(x: Exchange) -> None:
    if _is_accepted(x):
        x.body["jobId"] = x.body.pop("job_id")


def error_message_missing(x: Exchange) -> None:
    if x.status >= 400:
        x.body.pop("message", None)


def error_message_reworded(x: Exchange) -> None:
    if x.status >= 400:
        x.body["message"] = x.body["message"].rstrip(".")  # "... cannot exceed 7 days"


def error_status_422(x: Exchange) -> None:
    if x.status == 400:
        x.status = 422


def auth_status_403(x: Exchange) -> None:
    if x.status == 401:
        x.status = 403


def seven_days_rejected(x: Exchange) -> None:
    """Counts the range exclusively: a 7-day range (start + 6) is refused as too long."""
    body = x.request_json()
    if _is_accepted(x) and isinstance(body, dict) and body.get("search_by", "date_range") == "date_range":
        days = dt.date.fromisoformat(body["end_date"]) - dt.date.fromisoformat(body["start_date"])
        if days.days == 6:
            x.status, x.body = 400, {"success": False, "message": MSG_RANGE_TOO_LONG}


def long_range_accepted(x: Exchange) -> None:
    """Forgets the 7-day limit: accepts what it should refuse."""
    if x.status == 400 and x.body.get("message") == MSG_RANGE_TOO_LONG:
        x.status, x.body = 202, {"success": True, "message": ACCEPTED_MESSAGE, "job_id": "job_mutant"}


def events_data_differs(x: Exchange) -> None:
    """``GET /v1/webhook-events`` lists data that is not what was delivered (one appointment short)."""
    if x.path.endswith("/webhook-events") and x.status == 200:
        for event in x.body["webhook_events"]:
            data = event["data"]
            if data.get("appointments"):
                data["appointments"].pop()
                data["appointment_count"] = len(data["appointments"])


def accepted_message_reworded(x: Exchange) -> None:
    if _is_accepted(x):
        x.body["message"] = "Live fetch request accepted."


def _refuse_range(x: Exchange, message: str, when: Callable[[int], bool]) -> None:
    """Answers 202 where the fake refused a range with ``message`` and ``when(end - start)`` holds."""
    body = x.request_json()
    if x.status == 400 and x.body.get("message") == message and isinstance(body, dict):
        try:
            days = (dt.date.fromisoformat(body["end_date"]) - dt.date.fromisoformat(body["start_date"])).days
        except (KeyError, TypeError, ValueError):
            return
        if when(days):
            x.status, x.body = 202, {"success": True, "message": ACCEPTED_MESSAGE, "job_id": "job_mutant"}


def eight_days_accepted(x: Exchange) -> None:
    """Counts 7 days exclusively: end - start = 7 is accepted."""
    _refuse_range(x, MSG_RANGE_TOO_LONG, lambda days: days == 7)


def end_before_start_accepted(x: Exchange) -> None:
    _refuse_range(x, MSG_END_BEFORE_START, lambda days: True)


def polled(edit: Callable[[dict[str, Any]], None]) -> Rewrite:
    """``GET /v1/webhook-events`` lists each event's ``data`` edited: what a polling client reads."""

    def rewrite(x: Exchange) -> None:
        if x.path.endswith("/webhook-events") and x.status == 200:
            for event in x.body["webhook_events"]:
                if isinstance(event.get("data"), dict) and event["data"].get("success") is not False:
                    edit(event["data"])

    return rewrite


def _events_not_listed(x: Exchange) -> None:
    if x.path.endswith("/webhook-events") and x.status == 200:
        x.body["webhook_events"] = []
        x.body["pagination"]["total_count"] = 0


def _failed(data: dict[str, Any]) -> None:
    data.clear()
    data.update(
        success=False,
        appointment_count=0,
        appointments=[],
        failure_reason="EHR unavailable",
        reasons=[{"code": "ehr_unavailable", "description": "The EHR did not respond in time."}],
    )


def _no_offset(data: dict[str, Any]) -> None:
    for appointment in data["appointments"]:
        appointment["datetime"] = appointment["datetime"][:19]


def _shift_last_outside_range(data: dict[str, Any]) -> None:
    if "end_date" in data:
        _shift_last_outside(data)


def _day_later_range(data: dict[str, Any]) -> None:
    if "end_date" in data:
        _day_later(data)


def _mrn_other(data: dict[str, Any]) -> None:
    if "mrn" in data:
        data["mrn"] += "0"


# --- altering webhook deliveries --------------------------------------------------------------------


def compact(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _edit_payload(edit: Callable[[dict[str, Any]], None]) -> SenderWrap:
    """Deliver an edited payload, correctly serialized and signed: only ``edit``'s rule breaks."""

    def wrap(send: SendFn) -> SendFn:
        async def mutated(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
            payload = json.loads(body)
            edit(payload)
            new = compact(payload)
            return await send(url, new, {**headers, SIGNATURE_HEADER: sign(SECRET, new)}, timeout)

        return mutated

    return wrap


def _edit_delivery(edit: Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]) -> SenderWrap:
    """Deliver other bytes or headers, as ``edit`` says (nothing re-signed unless it does so)."""

    def wrap(send: SendFn) -> SendFn:
        async def mutated(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
            body, headers = edit(body, dict(headers))
            return await send(url, body, headers, timeout)

        return mutated

    return wrap


def _report_status(change: Callable[[int], int]) -> SenderWrap:
    """Deliver faithfully, but tell the dispatcher another status (so it decides wrongly on retry)."""

    def wrap(send: SendFn) -> SendFn:
        async def mutated(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
            reply = await send(url, body, headers, timeout)
            return reply._replace(status=change(reply.status))

        return mutated

    return wrap


def _data(edit: Callable[[dict[str, Any]], None]) -> SenderWrap:
    return _edit_payload(lambda payload: edit(payload["data"]))


def _shift_last_outside(data: dict[str, Any]) -> None:
    if data["appointments"]:
        last = data["appointments"][-1]
        after = dt.date.fromisoformat(data["end_date"]) + dt.timedelta(days=1)
        last["datetime"] = after.isoformat() + last["datetime"][10:]


def _intruding_provider(data: dict[str, Any]) -> None:
    if data["appointments"]:
        data["appointments"][0]["provider_ehr_id"] = "prov_not_requested"


def _day_later(data: dict[str, Any]) -> None:
    data["end_date"] = (dt.date.fromisoformat(data["end_date"]) + dt.timedelta(days=1)).isoformat()


def _renamed(mapping: dict[str, Any], old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def _wrong_secret(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    headers[SIGNATURE_HEADER] = sign(SECRET + "-rotated-away", body)
    return body, headers


def _without(name: str) -> Callable[[bytes, dict[str, str]], tuple[bytes, dict[str, str]]]:
    def edit(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        headers.pop(name, None)
        return body, headers

    return edit


def _pretty(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Sends spaced-out JSON under the signature of the compact bytes."""
    return json.dumps(json.loads(body), ensure_ascii=False).encode("utf-8"), headers


def _ascii_escaped(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """Escapes non-ASCII as \\uXXXX and signs those bytes: raw-body verifiers agree, but Node's
    ``JSON.stringify(JSON.parse(body))`` gives other bytes, so Cobalt's documented receiver rejects it."""
    new = json.dumps(json.loads(body), separators=(",", ":")).encode("ascii")
    headers[SIGNATURE_HEADER] = sign(SECRET, new)
    return new, headers


def _other_event_id(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    headers["webhook-id"] = "evt_not_the_payload_id"
    return body, headers


def _retry_resigned(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A retry built afresh: a new timestamp, so new bytes and a new signature."""
    if headers.get("webhook-attempt") == "2":
        payload = json.loads(body)
        payload["timestamp"] = "2001-01-01T00:00:00Z"
        body = compact(payload)
        headers[SIGNATURE_HEADER] = sign(SECRET, body)
    return body, headers


def _retry_numbered_1(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    if headers.get("webhook-attempt") == "2":
        headers["webhook-attempt"] = "1"
    return body, headers


def _retried_twice(send: SendFn) -> SendFn:
    """After a failed retry, a third attempt."""

    async def mutated(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        reply = await send(url, body, headers, timeout)
        if headers.get("webhook-attempt") == "2" and (reply.status >= 500 or reply.status == 429):
            reply = await send(url, body, {**headers, "webhook-attempt": "3"}, timeout)
        return reply

    return mutated


def _timeouts_retryable(send: SendFn) -> SendFn:
    async def mutated(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        try:
            return await send(url, body, headers, timeout)
        except DeliveryFailed as exc:
            raise DeliveryFailed(str(exc), retryable=True) from None

    return mutated


def _unstable_ids() -> SenderWrap:
    counter = itertools.count()

    def edit(data: dict[str, Any]) -> None:
        if data["appointments"]:
            first = data["appointments"][0]
            key = "id" if "id" in first else "ehr_appointment_id"
            first[key] = f"{first[key]}-{next(counter)}"

    return _data(edit)


# --- the catalogue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    """A fake that breaks ``rule``, by rewriting its answers and/or wrapping its webhook sender."""

    name: str
    rule: str
    rewrite: Rewrite | None = None
    sender: SenderWrap | None = None


MUTANTS = [
    # the 202 and the 4xx answers
    Mutant("accepted-status-200", "a valid fetch is answered 202", rewrite=accepted_status_200),
    Mutant("accepted-job-id-renamed", "the 202 body carries job_id", rewrite=accepted_job_id_renamed),
    Mutant("seven-day-range-rejected", "7 days counted inclusively are allowed", rewrite=seven_days_rejected),
    Mutant("long-range-accepted", "a range over 7 days is refused", rewrite=long_range_accepted),
    Mutant("error-status-422", "an invalid body is answered 400", rewrite=error_status_422),
    Mutant("error-message-missing", "an error body carries message", rewrite=error_message_missing),
    Mutant(
        "error-message-reworded", "error messages are Cobalt's, word for word", rewrite=error_message_reworded
    ),
    Mutant("auth-status-403", "a missing auth header is answered 401", rewrite=auth_status_403),
    # the webhook's payload
    Mutant(
        "webhook-job-id-wrong",
        "the webhook carries the 202's job_id",
        sender=_edit_payload(lambda p: p.update(job_id=p["job_id"] + "_other")),
    ),
    Mutant(
        "webhook-type-wrong",
        "type is appointment.live_fetch_completed",
        sender=_edit_payload(lambda p: p.update(type="appointment.fetch_completed")),
    ),
    Mutant(
        "webhook-start-date-missing", "data carries start_date", sender=_data(lambda d: d.pop("start_date"))
    ),
    Mutant(
        "webhook-count-renamed",
        "data carries appointment_count",
        sender=_data(lambda d: _renamed(d, "appointment_count", "appointmentCount")),
    ),
    Mutant(
        "webhook-count-wrong",
        "appointment_count == len(appointments)",
        sender=_data(lambda d: d.update(appointment_count=d["appointment_count"] + 1)),
    ),
    Mutant(
        "appointment-outside-range",
        "appointments lie inside the requested dates",
        sender=_data(_shift_last_outside),
    ),
    Mutant("dates-not-echoed", "data echoes the requested dates", sender=_data(_day_later)),
    Mutant(
        "provider-not-requested",
        "provider mode returns only the requested providers",
        sender=_data(_intruding_provider),
    ),
    Mutant("mrn-not-echoed", "MRN mode echoes the mrn", sender=_data(lambda d: d.update(mrn=d["mrn"] + "0"))),
    Mutant("events-data-differs", "webhook-events data is the delivered data", rewrite=events_data_differs),
    # delivery headers and the signature
    Mutant("signature-wrong-secret", "signed with the webhook secret", sender=_edit_delivery(_wrong_secret)),
    Mutant(
        "signature-missing", "a cobalt-verification header", sender=_edit_delivery(_without(SIGNATURE_HEADER))
    ),
    Mutant(
        "signature-over-other-bytes", "the signature is over the bytes sent", sender=_edit_delivery(_pretty)
    ),
    Mutant("non-ascii-escaped", "JSON.stringify-compatible bytes", sender=_edit_delivery(_ascii_escaped)),
    Mutant("webhook-id-mismatch", "webhook-id equals the payload id", sender=_edit_delivery(_other_event_id)),
    Mutant(
        "attempt-header-missing",
        "a webhook-attempt header",
        sender=_edit_delivery(_without("webhook-attempt")),
    ),
    # retries
    Mutant(
        "no-retry-on-5xx",
        "a 5xx is retried once",
        sender=_report_status(lambda s: 400 if s >= 500 or s == 429 else s),
    ),
    Mutant(
        "retry-on-4xx",
        "a 4xx is not retried",
        sender=_report_status(lambda s: 500 if 400 <= s < 500 and s != 429 else s),
    ),
    Mutant("retry-on-timeout", "a timeout is not retried", sender=_timeouts_retryable),
    Mutant(
        "retry-resigned",
        "a retry keeps body, timestamp and signature",
        sender=_edit_delivery(_retry_resigned),
    ),
    Mutant(
        "retry-attempt-not-2", "a retry says webhook-attempt: 2", sender=_edit_delivery(_retry_numbered_1)
    ),
    Mutant("retried-twice", "one retry only", sender=_retried_twice),
    # determinism
    Mutant("nondeterministic", "the same request gives the same data", sender=_unstable_ids()),
]
BY_NAME = {mutant.name: mutant for mutant in MUTANTS}

# What a polling client of a real API can see break: HTTP answers and the webhook-events rows.
# name -> (the break, the rule the live run's report must find contradicted)
LIVE_BREAKS: dict[str, tuple[Mutant, str]] = {
    m.name: (m, rule)
    for m, rule in [
        (BY_NAME["accepted-status-200"], "fetch-accepted-202"),
        (BY_NAME["accepted-job-id-renamed"], "fetch-accepted-202"),
        (
            Mutant("accepted-message-reworded", "the 202 message", rewrite=accepted_message_reworded),
            "fetch-accepted-message",
        ),
        (BY_NAME["error-status-422"], "error-status-400"),
        (BY_NAME["error-message-missing"], "end-before-start-refused"),
        (BY_NAME["error-message-reworded"], "invalid-date-refused"),
        (BY_NAME["seven-day-range-rejected"], "range-7-days-allowed"),
        (
            Mutant("eight-days-accepted", "7 days counted inclusively", rewrite=eight_days_accepted),
            "range-8-days-refused",
        ),
        (BY_NAME["long-range-accepted"], "range-too-long-refused"),
        (
            Mutant(
                "end-before-start-accepted", "end before start refused", rewrite=end_before_start_accepted
            ),
            "end-before-start-refused",
        ),
        (BY_NAME["auth-status-403"], "auth-missing-401"),
        (
            Mutant(
                "polled-count-wrong",
                "appointment_count",
                rewrite=polled(lambda d: d.update(appointment_count=d["appointment_count"] + 1)),
            ),
            "count-matches",
        ),
        (
            Mutant(
                "polled-outside-range",
                "appointments inside the range",
                rewrite=polled(_shift_last_outside_range),
            ),
            "inside-range",
        ),
        (
            Mutant(
                "polled-provider-not-requested",
                "only requested providers",
                rewrite=polled(_intruding_provider),
            ),
            "only-requested-providers",
        ),
        (Mutant("polled-mrn-not-echoed", "the mrn echoed", rewrite=polled(_mrn_other)), "mrn-echoed"),
        (
            Mutant("polled-dates-not-echoed", "the dates echoed", rewrite=polled(_day_later_range)),
            "dates-echoed",
        ),
        (
            Mutant("polled-datetime-no-offset", "datetimes with an offset", rewrite=polled(_no_offset)),
            "datetime-offsets",
        ),
        (
            Mutant(
                "polled-count-a-string",
                "field types",
                rewrite=polled(lambda d: d.update(appointment_count=str(d["appointment_count"]))),
            ),
            "data-schema",
        ),
        (
            Mutant("events-not-listed", "webhook-events lists the job's event", rewrite=_events_not_listed),
            "events-listed",
        ),
        (Mutant("every-job-fails", "a valid fetch succeeds", rewrite=polled(_failed)), "job-succeeds"),
    ]
}


class Switchable:
    """One running fake that can be broken as any mutant, switched between tests.

    Starting a fake per mutant costs a server start and stop each; one fake whose rewrite and sender
    are swapped serves them all. ``become(None)`` is the unbroken fake (the control).
    """

    def __init__(self, *, await_timeout: float = 2.0, **settings: object) -> None:
        chosen = Settings().replace(**{**FAKE_SETTINGS, "webhook_secret": SECRET, **settings})
        self.sender = SwitchedSender(make_sender(None, chosen.delivery_concurrency))
        app = create_app(chosen, sender=self.sender)
        self.middleware = Rewriting(app)
        self.target = FakeTarget(
            self.middleware, webhook_timeout=await_timeout, webhook_api=chosen.webhook_api
        ).start()

    def become(self, mutant: Mutant | None) -> FakeTarget:
        """The target, now broken as ``mutant`` says, its receiver cleared."""
        self.middleware.rewrite = mutant.rewrite if mutant else None
        self.sender.switch(mutant.sender if mutant else None)
        self.target.receiver.clear()
        return self.target

    def close(self) -> None:
        self.sender.switch(None)
        self.target.close()


class SwitchedSender:
    """The fake's webhook sender, through the current mutant's wrapper when it has one."""

    def __init__(self, real: Sender) -> None:
        self.real = real
        self.current: SendFn = real

    def switch(self, wrap: SenderWrap | None) -> None:
        self.current = wrap(self.real) if wrap else self.real

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        return await self.current(url, body, headers, timeout)

    async def aclose(self) -> None:
        await self.real.aclose()
