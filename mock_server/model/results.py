"""A job's result: the webhook ``data`` Cobalt documents for each search mode, and the appointments
it writes to the cache, shaped by the job's result behaviours (``ehr_failure``, ``empty``, ``large``;
if several apply, ``ehr_failure`` wins, then ``empty``, then ``large``)."""

from __future__ import annotations

import hashlib
from typing import Any

from mock_server.model.jobs import FetchRequest, Job

Result = tuple[dict[str, Any], list[dict[str, Any]]]


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
    data: dict[str, Any] = {"success": True}
    cached: list[dict[str, Any]] = []
    if request.search_by == "mrn":
        assert request.mrn is not None
        data.update(search_by="mrn", mrn=request.mrn)
        appointments = [] if "empty" in chosen else history.mrn_history(clinic, request.mrn)
        if large:
            appointments = pad(appointments, large, "ehr_appointment_id")
        data.update(appointment_count=len(appointments), appointments=appointments)
        return data, cached
    assert request.start_date is not None
    assert request.end_date is not None
    if "empty" not in chosen:
        cached = generator.appointments_in_range(
            clinic, request.start_date, request.end_date, request.provider_ids or None
        )
    if large:
        cached = pad(cached, large, "id", "ehr_appointment_id")
    items = generator.range_items(cached)
    data.update(
        appointment_count=len(items),
        start_date=request.start_date.isoformat(),
        end_date=request.end_date.isoformat(),
        appointments=items,
    )
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
