"""One patient's appointment history (the MRN search): 2-15 visits in 2023-2026.

A history is a pure function of ``(seed, access_token, mrn)``. Its draws are the bytes of one SHAKE-256
digest of those parts, read at fixed places (so no draw depends on how many came before it), and each
draw indexes a table built once per clinic: providers with their type mix and usual location, valid
start times per slot length, and each day of the window as stamp text. A new patient then costs a
digest and some indexing, not a seeded ``random.Random`` and a ``datetime`` per field.
"""

from __future__ import annotations

import functools
import struct
from datetime import date
from typing import TYPE_CHECKING, Any

from mock_server.data.catalog import (
    KIND_BYTE,
    LOCKABLE,
    NEW_PATIENT,
    PROCEDURAL_KIND_BYTE,
    STATUS_BYTE,
    STATUS_NAMES,
    TYPES,
)
from mock_server.data.clock import HHMM, SECONDS, booking, day_parts, local_time
from mock_server.data.roster import Clinic, profile_for, weekday_sessions
from mock_server.data.stable import add_part, by_identity, stable_stream

if TYPE_CHECKING:
    from mock_server.data.stable import Stream

# The window (it opens on a Monday and ends on a Thursday) has this many weekdays; the i-th is
# ``_FIRST + i // 5 * 7 + i % 5``. Visits there may have been booked up to ``_BOOKED_AHEAD`` days before.
_FIRST = date(2023, 1, 2).toordinal()
_LAST = date(2026, 12, 31).toordinal()
_WEEKDAYS = (_LAST - _FIRST) // 7 * 5 + (_LAST - _FIRST) % 7 + 1
_BOOKED_AHEAD = 90
_BOOKING_FIRST = _FIRST - _BOOKED_AHEAD

# Layout of a history's digest: the number of visits and the primary provider (a byte each); per
# visit, its day and the booking time of day (16 bits each), its EHR id (32 bits), then one chunk of
# single-byte draws per visit (see ``mrn_history``).
_MAX_VISITS = 15
_WIDE = struct.Struct(f">{2 * _MAX_VISITS}H{_MAX_VISITS}I")
_CHUNK = 11
_DIGEST_SIZE = 2 + _WIDE.size + _MAX_VISITS * _CHUNK
_EHR_SPACE = 90_000_000

# Byte thresholds: a byte below them happens with about that probability.
_PRIMARY = 179  # 70%: the visit is with the patient's usual provider
_FIRST_IS_NEW = 154  # 60%: the first visit in the window is the new-patient visit
_AT_HOME = 218  # 85%: the provider's usual location
_LOCKED = 205  # 80%: a checked-out or no-show visit is locked


# Tables built once per clinic (plain tuples: unpacked on the hot path, and free to define at import).
_Member = tuple[str, str, str, tuple[int, ...], tuple[int, ...], tuple[str, ...]]
"""A provider as the history draws them: ehr id, first and last name, then 256-entry tables indexed by
a random byte: the visit's type, the type of the first visit in the window (often the new-patient
visit), and the location."""
_Kind = tuple[str, tuple[str, ...], tuple[tuple[tuple[int, str], ...], ...]]
"""A type's code, its reasons, and per slot length the possible ``(start, "HH:MM:00")``."""
_Days = tuple[tuple[str, str] | None, ...]
"""Every day from ``_BOOKING_FIRST`` to ``_LAST`` as ``("2025-01-15T", ".000-05:00")``, None if the
zone's offset changes that day."""
_Tables = tuple[
    "Stream", tuple[_Member, ...], tuple[tuple[int, ...], ...], tuple[_Kind, ...], _Days, tuple[str, ...]
]
"""The ``("mrn", seed, token)`` stream; the members; per primary provider, which member a visit is
with, by byte; the types; the days; the staff."""


def _spread(items: tuple[Any, ...], size: int) -> tuple[Any, ...]:
    """``items`` spread evenly over ``size`` entries."""
    return tuple(items[j * len(items) // size] for j in range(size))


@functools.lru_cache(maxsize=32)
def _zone_days(zone_key: str) -> _Days:
    days = (day_parts(zone_key, ordinal) for ordinal in range(_BOOKING_FIRST, _LAST + 1))
    return tuple(None if parts is None else (parts[0], ".000" + parts[1]) for parts in days)


def _build(clinic: Clinic) -> _Tables:
    providers = clinic.providers
    members: list[_Member] = []
    for provider in providers:
        profile = profile_for(clinic, provider)
        mix = PROCEDURAL_KIND_BYTE if profile.procedural else KIND_BYTE
        others = tuple(x for x in clinic.locations if x != profile.home) or (profile.home,)
        members.append(
            (
                provider.ehr_id,
                provider.first_name,
                provider.last_name,
                mix,
                (NEW_PATIENT,) * _FIRST_IS_NEW + _spread(mix, 256 - _FIRST_IS_NEW),
                (profile.home,) * _AT_HOME + _spread(others, 256 - _AT_HOME),
            )
        )
    everyone = tuple(range(len(providers)))
    picks = tuple((primary,) * _PRIMARY + _spread(everyone, 256 - _PRIMARY) for primary in everyone)
    stream = stable_stream("mrn", clinic.seed, clinic.access_token)
    return stream, tuple(members), picks, _kinds(clinic.opens_at), _zone_days(clinic.timezone), clinic.staff


@functools.lru_cache(maxsize=16)
def _kinds(opens_at: int) -> tuple[_Kind, ...]:
    sessions = weekday_sessions(opens_at)
    return tuple(
        (
            kind.code,
            kind.reasons,
            tuple(
                tuple(
                    (start, HHMM[start] + ":00")
                    for low, high in sessions
                    for start in range(low, high - duration + 1, 15)
                )
                for duration in kind.durations
            ),
        )
        for kind in TYPES
    )


_tables = by_identity(_build, size=256)  # as many as clinic_for keeps


def mrn_history(clinic: Clinic, mrn: str) -> list[dict[str, Any]]:
    """One patient's 2-15 appointments in 2023-2026, the same for the same ``mrn``; sorted by time.

    Items have the MRN webhook's form: code-style types and statuses, millisecond datetimes, and who
    booked each one. Any string is a valid MRN; an EHR would simply have a history for it.
    """
    stream, members, picks, kinds, days, staff = _tables(clinic)
    h = stream.copy()
    add_part(h, mrn)
    draws = h.digest(_DIGEST_SIZE)
    count = 2 + (draws[0] * 14 >> 8)
    wide = _WIDE.unpack_from(draws, 2)
    # Distinct weekdays in order: ``count`` sorted draws from the window less count - 1 days, the
    # i-th moved on by i days.
    span = _WEEKDAYS - count + 1
    spots = sorted([x * span >> 16 for x in wide[:count]])
    numbers = [x % _EHR_SPACE + 10_000_000 for x in wide[2 * _MAX_VISITS : 2 * _MAX_VISITS + count]]
    if len(set(numbers)) < count:
        numbers = _distinct(numbers)
    pick = picks[draws[1] * len(members) >> 8]
    zone_key = clinic.timezone
    items: list[dict[str, Any]] = []
    at = 2 + _WIDE.size
    for position in range(count):
        who, kind, slot, when, status, why, where, lock, roll, back, clerk = draws[at : at + _CHUNK]
        at += _CHUNK
        ehr_id, first_name, last_name, mix, first_mix, locations = members[pick[who]]
        code, reasons, options = kinds[(first_mix if position == 0 else mix)[kind]]
        starts = options[slot * len(options) >> 8]
        start, clock = starts[when * len(starts) >> 8]
        weeks, weekday = divmod(spots[position] + position, 5)
        ordinal = _FIRST + 7 * weeks + weekday
        parts = days[ordinal - _BOOKING_FIRST]
        if parts is None:
            stamp = local_time(zone_key, ordinal, start * 60, ".000")[0]
        else:
            stamp = parts[0] + clock + parts[1]
        ordinal, second = booking(ordinal, start, roll, back, wide[_MAX_VISITS + position])
        parts = days[ordinal - _BOOKING_FIRST]
        if parts is None:
            created = local_time(zone_key, ordinal, second, ".000")[0]
        else:
            created = parts[0] + HHMM[second // 60] + SECONDS[second % 60] + parts[1]
        state = STATUS_BYTE[status]
        items.append(
            {
                "ehr_appointment_id": str(numbers[position]),
                "datetime": stamp,
                "appointment_type": code,
                "status": STATUS_NAMES[state],
                "provider_ehr_id": ehr_id,
                "provider_first_name": first_name,
                "provider_last_name": last_name,
                "reason": reasons[why * len(reasons) >> 8],
                "location": locations[where],
                "locked": LOCKABLE[state] and lock < _LOCKED,
                "created_at": created,
                "created_by": staff[clerk * len(staff) >> 8],
            }
        )
    return items


def _distinct(numbers: list[int]) -> list[int]:
    """EHR ids are unique within a history: a repeated one (about one history in 10^6) moves on."""
    taken: set[int] = set()
    out = []
    for number in numbers:
        while number in taken:
            number = (number - 10_000_000 + 1) % _EHR_SPACE + 10_000_000
        taken.add(number)
        out.append(number)
    return out
