"""What goes on the wire for a completed job: the event around its ``data``, and the signed headers.

The body is serialized once (``signing.serialize``) and those exact bytes are signed and sent, as
Cobalt does. The ``bad_signature`` and ``old_secret`` behaviours choose the signature here; nothing
here changes any state.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from mock_server.data.ids import iso_seconds, new_id
from mock_server.model.jobs import EVENT_TYPE, Job
from mock_server.signing import SIGNATURE_HEADER, sign

# Keyed off the real secret so the wrong signature is stable and well-formed, yet never verifies.
BAD_SIGNATURE_KEY = "cobalt-mock-bad-signature:"


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


def headers(job: Job, body: bytes, secret: str, previous_secret: str | None) -> dict[str, str]:
    """The delivery headers of ``job``'s recorded event (``webhook-attempt`` is added per attempt)."""
    assert job.payload is not None
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(job, body, secret, previous_secret),
        "webhook-id": job.payload["id"],
        "webhook-timestamp": job.payload["timestamp"],
    }


def signature(job: Job, body: bytes, secret: str, previous_secret: str | None) -> str:
    """The ``cobalt-verification`` value for ``body``: right, wrong on purpose, or by the old secret
    (the model rotated when it accepted an ``old_secret`` job, so there is a previous one)."""
    if "bad_signature" in job.behaviours:
        return sign(BAD_SIGNATURE_KEY + secret, body)
    if "old_secret" in job.behaviours and previous_secret is not None:
        return sign(previous_secret, body)
    return sign(secret, body)


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
