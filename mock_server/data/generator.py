"""Deterministic, realistic appointments for a clinic: by date range, by provider, and by patient MRN.

Each provider-day is generated on its own (``schedule``), so a day reads the same whatever range,
provider filter or order it is asked in, and in every process; an MRN's history likewise depends only
on the MRN (``history``). Nothing depends on today's date. The roster (names drawn with Faker) lives
in ``roster``; the per-appointment path draws from precomputed tables only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from operator import itemgetter
from typing import Any

from mock_server.data.roster import Clinic, find_provider
from mock_server.data.schedule import provider_day, seats

_FIRST_KEY = itemgetter(0)


def appointments_in_range(
    clinic: Clinic, start: date, end: date, provider_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Every appointment of the providers (default: the roster) on local dates ``start..end``.

    Rich cached form (cobalt-api.md §6), sorted by instant then provider id. Unknown provider ids
    get a synthesized provider; repeated ids count once.
    """
    if provider_ids is None:
        providers = list(clinic.providers)
    else:
        providers = [find_provider(clinic, ehr_id) for ehr_id in dict.fromkeys(provider_ids)]
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    keyed: list[tuple[int, dict[str, Any]]] = []
    for seat in seats(clinic, providers):
        for day in days:
            provider_day(clinic, seat, day, keyed)
    keyed.sort(key=_FIRST_KEY)
    return [a for _, a in keyed]


def range_item(appointment: dict[str, Any]) -> dict[str, Any]:
    """The date-range webhook's projection of a rich appointment (cobalt-api.md §3)."""
    return {
        "id": appointment["id"],
        "datetime": appointment["datetime"],
        "appointment_type": appointment["appointment_type"],
        "status": appointment["status"],
        "provider_ehr_id": appointment["provider_ehr_id"],
        "location": appointment["location"],
    }


def range_items(appointments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``range_item`` of each appointment (inlined: one list comprehension, no call per item)."""
    return [
        {
            "id": a["id"],
            "datetime": a["datetime"],
            "appointment_type": a["appointment_type"],
            "status": a["status"],
            "provider_ehr_id": a["provider_ehr_id"],
            "location": a["location"],
        }
        for a in appointments
    ]
