"""The completion webhook a job sends: its ``data`` as Cobalt documents it for each search mode
(shaped by the job's result behaviours), the event around it, and the signed headers.

The body is serialized once and those exact bytes are signed and sent, as Cobalt does: its
documented Node receiver recomputes the signature over ``JSON.stringify(parsedBody)``, so the JSON
is compact (no spaces, keys in insertion order, non-ASCII not escaped), and raw-body verifiers and
re-stringify verifiers then agree. ``verify`` and ``verify_parsed`` are the receiver's side. Of the
behaviours, ``ehr_failure``, ``empty`` and ``large`` shape the result (if several apply,
``ehr_failure`` wins, then ``empty``, then ``large``); ``bad_signature`` and ``old_secret`` choose
the signature. Nothing here changes any state.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import math
from typing import Any, NamedTuple

import orjson

from mock_server.data.ids import iso_seconds, new_id
from mock_server.model.jobs import EVENT_TYPE, FetchRequest, Job

# How Cobalt serializes and signs a webhook, and how a receiver checks it

SIGNATURE_HEADER = "cobalt-verification"


def serialize(payload: Any) -> bytes:
    """Compact JSON bytes identical to Node's ``JSON.stringify`` for the payloads the fake sends."""
    return orjson.dumps(payload)


def sign(secret: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``body`` keyed with the secret string as given."""
    mac = _keyed(secret).copy()  # the key's two padded blocks are hashed once per secret, not per body
    mac.update(body)
    return mac.hexdigest()


@functools.lru_cache(maxsize=64)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret`` that has hashed nothing yet: copied for each body."""
    return hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)


def signed(payload: Any, secret: str) -> tuple[bytes, str]:
    """``payload`` serialized, and the signature of exactly those bytes: what Cobalt sends."""
    body = serialize(payload)
    return body, sign(secret, body)


def verify(secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of ``signature`` against the raw bytes received."""
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().lower().encode("utf-8", "replace"))


def verify_parsed(secret: str, parsed: Any, signature: str) -> bool:
    """Check the way Cobalt's documented Node receiver does: re-serialize the parsed body, then sign."""
    return verify(secret, serialize(parsed), signature)


# What a job's webhook carries

Result = tuple[dict[str, Any], list[dict[str, Any]]]


class Completion(NamedTuple):
    """What a completed job sends and caches; ``error`` is a bug of the generator, reported while
    a failure webhook goes out instead (a job is never lost)."""

    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    cached: list[dict[str, Any]]
    error: Exception | None = None


def completion(
    job: Job, seed: int, timezone: str | None, now: dt.datetime, secret: str, previous_secret: str | None
) -> Completion:
    """Everything ``job``'s completion sends and caches, in one call."""
    error: Exception | None = None
    try:
        data, cached = result_for(job, seed, timezone)
    except Exception as exc:  # a generator bug must not lose the job: a failure webhook, and the bug
        error, cached = exc, []
        reasons = [{"code": "internal_error", "description": repr(exc)}]
        data = failure_data(job.request, "Internal error in cobalt-mock", reasons)
    payload, body, headers = event(job, data, now, secret, previous_secret)
    return Completion(payload, body, headers, cached, error)


def result_for(job: Job, seed: int, timezone: str | None) -> Result:
    """The webhook ``data`` and the cached appointments for ``job``."""
    # Faker and the generation tables load with the first completed job, not at start-up.
    from mock_server.data import generator, history, roster

    chosen = job.behaviours
    request = job.request
    if "ehr_failure" in chosen:
        params = chosen["ehr_failure"]
        return failure_data(request, params["failure_reason"], params["reasons"]), []
    clinic = roster.clinic_for(seed, job.access_token, timezone)
    large = chosen["large"]["count"] if "large" in chosen and "empty" not in chosen else 0
    if request.search_by == "mrn":
        assert request.mrn is not None
        appointments = [] if "empty" in chosen else history.mrn_history(clinic, request.mrn)
        if large:
            appointments = pad(appointments, large, "ehr_appointment_id")
        return {
            "success": True,
            "search_by": "mrn",
            "mrn": request.mrn,
            "appointment_count": len(appointments),
            "appointments": appointments,
        }, []
    assert request.start_date is not None
    assert request.end_date is not None
    cached: list[dict[str, Any]] = []
    if "empty" not in chosen:
        cached = generator.appointments_in_range(
            clinic, request.start_date, request.end_date, request.provider_ids or None
        )
    if large:
        cached = pad(cached, large, "id", "ehr_appointment_id")
    items = generator.range_items(cached)
    data = {
        "success": True,
        "appointment_count": len(items),
        "start_date": request.start_date.isoformat(),
        "end_date": request.end_date.isoformat(),
        "appointments": items,
    }
    return data, cached


def failure_data(request: FetchRequest, reason: str, reasons: list[dict[str, str]]) -> dict[str, Any]:
    """``data`` for a failed live fetch: Cobalt's failure structure with the mode's own fields."""
    data: dict[str, Any] = {"success": False}
    if request.search_by == "mrn":
        data.update(search_by="mrn", mrn=request.mrn)
    data["appointment_count"] = 0
    if request.start_date is not None and request.end_date is not None:
        data.update(start_date=request.start_date.isoformat(), end_date=request.end_date.isoformat())
    data.update(appointments=[], failure_reason=reason, reasons=reasons)
    return data


def pad(items: list[dict[str, Any]], count: int, *id_fields: str) -> list[dict[str, Any]]:
    """``items`` repeated in place (a, a', a'', b, b', ...) to ``count``, copies with new stable ids.

    Order (and so the sort by time) is kept; an empty list stays empty (a day the clinic is closed).
    """
    if not items or len(items) >= count:
        return items
    copies, extra = divmod(count, len(items))
    taken: set[str] = {str(item[name]) for item in items for name in id_fields}
    out: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        out.append(item)
        for copy in range(1, copies + (position < extra)):
            clone = dict(item)
            for name in id_fields:
                clone[name] = _new_id(str(item[name]), copy, taken)
            out.append(clone)
    return out


def _new_id(original: str, copy: int, taken: set[str]) -> str:
    """An id shaped like ``original`` (``appt_…`` or an 8-digit EHR number), stable and unused."""
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{original}:{copy}:{salt}".encode(), digest_size=8).digest()
        if original.isdigit():
            candidate = str(10_000_000 + int.from_bytes(digest, "big") % 90_000_000)
        else:
            candidate = original.partition("_")[0] + "_" + digest.hex()
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        salt += 1


# Keyed off the real secret so the wrong signature is stable and well-formed, yet never verifies.
BAD_SIGNATURE_KEY = "cobalt-mock-bad-signature:"


def event(
    job: Job, data: dict[str, Any], now: dt.datetime, secret: str, previous_secret: str | None
) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    """``job``'s event for ``data``: the payload, the bytes to send, and their signed headers."""
    payload = envelope(job, data, now)
    body, signature = signed(payload, signing_key(job, secret, previous_secret))
    return payload, body, _headers(payload, signature)


def envelope(job: Job, data: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """The event around ``data``, keys in the documented order."""
    return {
        "id": new_id("evt_"),
        "access_token_reference_id": job.reference_id,
        "job_id": job.job_id,
        "timestamp": _timestamp(now),
        "type": EVENT_TYPE,
        "action": "sync",
        "data": data,
    }


def headers(job: Job, secret: str, previous_secret: str | None) -> dict[str, str]:
    """The delivery headers of ``job``'s recorded event, signed again (a redelivery)."""
    assert job.payload is not None
    assert job.body is not None
    return _headers(job.payload, sign(signing_key(job, secret, previous_secret), job.body))


def _headers(payload: dict[str, Any], signature: str) -> dict[str, str]:
    """``webhook-attempt`` is added per attempt."""
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature,
        "webhook-id": payload["id"],
        "webhook-timestamp": payload["timestamp"],
    }


def signing_key(job: Job, secret: str, previous_secret: str | None) -> str:
    """What signs ``job``'s webhook: the secret, a wrong key on purpose, or the old secret (the model
    rotated when it accepted an ``old_secret`` job, so there is a previous one)."""
    if "bad_signature" in job.behaviours:
        return BAD_SIGNATURE_KEY + secret
    if "old_secret" in job.behaviours and previous_secret is not None:
        return previous_secret
    return secret


_last_timestamp: tuple[float, str] = (math.nan, "")


def _timestamp(now: dt.datetime) -> str:
    """``iso_seconds(now)``, formatted once per second: jobs completing in the same second share it
    (formatting a datetime costs more than the rest of the envelope)."""
    global _last_timestamp
    second = math.floor(now.timestamp())
    cached_second, text = _last_timestamp
    if second != cached_second:
        text = iso_seconds(now)
        _last_timestamp = (second, text)
    return text
