"""The completion webhook's payload, shaped exactly as Cobalt documents it for each search mode."""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from mock_server.model.ids import iso_seconds, new_id
from mock_server.model.jobs import EVENT_TYPE, Job

if TYPE_CHECKING:
    from mock_server.data.roster import Clinic


def build_data(clinic: Clinic, job: Job) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``data`` for a successful fetch, and the rich appointments it puts in the cache (if any)."""
    from mock_server.data import generator  # loaded with the first completed job, not at start

    request = job.request
    if request.search_by == "mrn":
        assert request.mrn is not None
        history = generator.mrn_history(clinic, request.mrn)
        data = {
            "success": True,
            "search_by": "mrn",
            "mrn": request.mrn,
            "appointment_count": len(history),
            "appointments": history,
        }
        return data, []
    assert request.start_date is not None
    assert request.end_date is not None
    appointments = generator.appointments_in_range(
        clinic, request.start_date, request.end_date, request.provider_ids or None
    )
    items = generator.range_items(appointments)
    data = {
        "success": True,
        "appointment_count": len(items),
        "start_date": request.start_date.isoformat(),
        "end_date": request.end_date.isoformat(),
        "appointments": items,
    }
    return data, appointments


def failure_data(job: Job, reason: str, reasons: list[dict[str, str]]) -> dict[str, Any]:
    """``data`` for a failed live fetch: Cobalt's failure structure with the mode's own fields."""
    request = job.request
    data: dict[str, Any] = {"success": False}
    if request.search_by == "mrn":
        data.update(search_by="mrn", mrn=request.mrn)
    data["appointment_count"] = 0
    if request.start_date is not None and request.end_date is not None:
        data.update(start_date=request.start_date.isoformat(), end_date=request.end_date.isoformat())
    data.update(appointments=[], failure_reason=reason, reasons=reasons)
    return data


def envelope(job: Job, data: dict[str, Any], now: dt.datetime, event_id: str | None = None) -> dict[str, Any]:
    """The event around ``data``, keys in the documented order."""
    return {
        "id": event_id or new_id("evt_"),
        "access_token_reference_id": job.reference_id,
        "job_id": job.job_id,
        "timestamp": _timestamp(now),
        "type": EVENT_TYPE,
        "action": "sync",
        "data": data,
    }


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
