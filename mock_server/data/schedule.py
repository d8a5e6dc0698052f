"""One provider's day: which slots are booked, with whom, and each appointment's rich form.

A provider-day is generated on its own from the bytes of a SHAKE-256 digest of
``(seed, access_token, provider, date)``, read at fixed places, so it reads the same whatever range,
provider filter or order it is asked in, and in every process. The per-day path only indexes tables,
one random byte per choice: weighted choices, patients' fields and each day's stamp text are
precomputed, never drawn with ``random`` or formatted per appointment.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from mock_server.data.catalog import NOTES, STATUS_BYTE, STATUS_NAMES, TYPES, step_table
from mock_server.data.clock import HHMM, SECONDS, booking, day_parts, local_time
from mock_server.data.ids import TO_BASE62
from mock_server.data.roster import (
    DAY_LENGTH,
    LUNCH,
    SATURDAY_HOURS,
    Clinic,
    Profile,
    Provider,
    profile_for,
    weekday_sessions,
)
from mock_server.data.stable import add_part, by_identity, stable_seed, stable_stream

if TYPE_CHECKING:
    from mock_server.data.stable import Stream

_WEEKDAY_BAND = (6, 24)
_SATURDAY_CAP = 8


# ehr_appointment_id: an injective map of (day, provider slot, appointment index) into 8 digits, so
# roster ids never collide within a ~96-year span; scrambled by a multiplier coprime with the space.
_EHR_SPACE = 90_000_000
_EHR_PROVIDER_SLOTS = 64
_EHR_DAY_SLOTS = 40
_EHR_DAYS = _EHR_SPACE // (_EHR_PROVIDER_SLOTS * _EHR_DAY_SLOTS)
_EHR_MULTIPLIER = 48_271

# Layout of a provider-day's digest. Three single bytes: whether a Saturday is worked, the day's fill
# and its location; one byte per step of the day's walk (at most 34 steps of 15+ minutes in the nine
# hours), twice (a walk that booked too little is walked again full); a sort byte per slot (a day
# over its cap keeps the lowest); the patients (16 bits each); then per appointment a chunk of bytes
# (status, reason, note, booking time) and its 12-character id.
_WALK = 40
_MAX_SLOTS = 40
# Each step moves on 15 minutes or more, so a session takes at most ceil(length / 15) steps.
assert (
    _WALK
    >= (DAY_LENGTH - (LUNCH[1] - LUNCH[0])) // 15 + 2
    >= (SATURDAY_HOURS[1] - SATURDAY_HOURS[0]) // 15 + 1
)
_MAX = max(_WEEKDAY_BAND[1], _SATURDAY_CAP)
_PATIENTS = struct.Struct(f">{_MAX}H")
_AT_WALKS = 3
_AT_CAP = _AT_WALKS + 2 * _WALK
_AT_PATIENTS = _AT_CAP + _MAX_SLOTS
_AT_CHUNKS = _AT_PATIENTS + _PATIENTS.size
_CHUNK = 7
_AT_IDS = _AT_CHUNKS + _MAX * _CHUNK
_ID = 12
_DIGEST_SIZE = _AT_IDS + _MAX * _ID

_SATURDAY_OFF = 102  # a byte below it: 40% of an on-Saturdays provider's Saturdays are off
_AT_HOME = 218  # 85%: the provider's usual location


_Patient = tuple[str, str, str, str, str, str]
"""name, first name, last name, MRN, birth date, phone."""
_Tables = tuple["Stream", tuple[_Patient, ...], tuple[tuple[int, int], ...], int]
"""What every provider-day of a clinic shares: the ``("day", seed, token)`` stream (add the provider
and the date for the day's bytes), the patients, the weekday sessions and the ehr id salt. A plain
tuple, unpacked on the hot path."""


def _build(clinic: Clinic) -> _Tables:
    return (
        stable_stream("day", clinic.seed, clinic.access_token),
        tuple(
            (f"{p.first_name} {p.last_name}", p.first_name, p.last_name, p.mrn, p.dob, p.phone)
            for p in clinic.patients
        ),
        weekday_sessions(clinic.opens_at),
        stable_seed("ehr", clinic.seed, clinic.access_token) % _EHR_SPACE,
    )


_tables = by_identity(_build, size=256)  # as many as clinic_for keeps


def _walk(
    steps: bytes, sessions: Sequence[tuple[int, int]], table: tuple[tuple[int, int], ...]
) -> list[tuple[int, int, int]]:
    """Booked slots ``(start minute, type index, duration)``: back to back, with empty gaps."""
    step = iter(steps).__next__
    slots: list[tuple[int, int, int]] = []
    for start, end in sessions:
        t = start
        while t < end:
            kind, length = table[step()]
            if kind >= 0 and t + length <= end:
                slots.append((t, kind, length))
            t += length
    return slots


Seat = tuple[_Tables, Provider, Profile, int, int, int]
"""A provider as one request generates them: the clinic's tables, the provider and their profile,
their place in the ehr id space, and their rank among the request's provider ids in sorted order (and
how many there are), which breaks ties of an instant."""


def provider_day(clinic: Clinic, seat: Seat, day: date, out: list[tuple[int, dict[str, Any]]]) -> None:
    """Append the provider's appointments that day to ``out``, keyed by instant then provider id."""
    tables, provider, profile, ehr_slot, rank, ranks = seat
    weekday = day.weekday()
    if weekday == 6 or (weekday == 5 and not profile.saturdays):
        return
    stream, patients, weekday_hours, ehr_salt = tables
    h = stream.copy()
    add_part(h, provider.ehr_id)
    add_part(h, day.isoformat())
    draws = h.digest(_DIGEST_SIZE)
    saturday, jitter, place = draws[0], draws[1], draws[2]
    if weekday == 5:
        if saturday < _SATURDAY_OFF:
            return
        sessions: Sequence[tuple[int, int]] = (SATURDAY_HOURS,)
        fill, floor, cap = profile.fill * 0.6, 0, _SATURDAY_CAP
    else:
        sessions = weekday_hours
        fill = min(0.95, profile.fill + (jitter - 127.5) * (0.12 / 127.5))
        floor, cap = _WEEKDAY_BAND
    walk = draws[_AT_WALKS : _AT_WALKS + _WALK]
    slots = _walk(walk, sessions, step_table(profile.procedural, round(fill * 256)))
    if len(slots) < floor:  # a full walk books at least three per session, so at least six
        walk = draws[_AT_WALKS + _WALK : _AT_CAP]
        slots = _walk(walk, sessions, step_table(profile.procedural, 256))
    if len(slots) > cap:
        order = draws[_AT_CAP : _AT_CAP + len(slots)]
        slots = [slots[i] for i in sorted(sorted(range(len(slots)), key=order.__getitem__)[:cap])]
    if not slots:
        return
    locations = clinic.locations
    location = profile.home if place < _AT_HOME else locations[(place - _AT_HOME) * len(locations) // 38]
    chosen = _distinct(_PATIENTS.unpack_from(draws, _AT_PATIENTS), len(slots), len(patients))
    ids = draws[_AT_IDS : _AT_IDS + _ID * len(slots)].translate(TO_BASE62).decode("ascii")

    zone_key = clinic.timezone
    ordinal = day.toordinal()
    parts = day_parts(zone_key, ordinal)
    provider_id = provider.ehr_id
    provider_name = f"{provider.last_name}, {provider.first_name}"
    ehr_base = ((ordinal % _EHR_DAYS) * _EHR_PROVIDER_SLOTS + ehr_slot) * _EHR_DAY_SLOTS
    at = _AT_CHUNKS
    for index, (start, kind, duration) in enumerate(slots):
        status, why, note, roll, back, hi, lo = draws[at : at + _CHUNK]
        at += _CHUNK
        appt_type = TYPES[kind]
        name, first, last, mrn, dob, phone = patients[chosen[index]]
        if parts is None:
            stamp, offset = local_time(zone_key, ordinal, start * 60)
        else:
            stamp, offset = parts[0] + HHMM[start] + ":00" + parts[1], parts[2]
        ehr_number = ((ehr_base + index) * _EHR_MULTIPLIER + ehr_salt) % _EHR_SPACE + 10_000_000
        reasons = appt_type.reasons
        booked_on, second = booking(ordinal, start, roll, back, hi << 8 | lo)
        booked = day_parts(zone_key, booked_on)
        if booked is None:
            created = local_time(zone_key, booked_on, second)[0]
        else:
            created = booked[0] + HHMM[second // 60] + SECONDS[second % 60] + booked[1]
        appointment = {
            "id": "appt_" + ids[_ID * index : _ID * index + _ID],
            "ehr_appointment_id": str(ehr_number),
            "datetime": stamp,
            "duration": duration,
            "status": STATUS_NAMES[STATUS_BYTE[status]],
            "appointment_type": appt_type.name,
            "appointment_mode": appt_type.mode,
            "location": location,
            "reason": reasons[why * len(reasons) >> 8],
            "note": NOTES[note * len(NOTES) >> 8],
            "patient_name": name,
            "patient_first_name": first,
            "patient_last_name": last,
            "patient_mrn": mrn,
            "patient_dob": dob,
            "patient_phone": phone,
            "provider_ehr_id": provider_id,
            "provider_name": provider_name,
            "created_at": created,
        }
        out.append(((ordinal * 1440 + start - offset) * ranks + rank, appointment))


def _distinct(draws: tuple[int, ...], count: int, size: int) -> list[int]:
    """``count`` distinct indices below ``size`` from 16-bit draws; a repeat takes the next free one."""
    chosen = [x * size >> 16 for x in draws[:count]]
    if len(set(chosen)) < count:
        seen: set[int] = set()
        for i, index in enumerate(chosen):
            while index in seen:
                index = (index + 1) % size
            seen.add(index)
            chosen[i] = index
    return chosen


def seats(clinic: Clinic, providers: Sequence[Provider]) -> list[Seat]:
    """The request's providers, ranked by id for ties of an instant."""
    tables = _tables(clinic)
    ranks = {ehr_id: rank for rank, ehr_id in enumerate(sorted(p.ehr_id for p in providers))}
    return [
        (tables, p, profile_for(clinic, p), _ehr_slot(clinic, p), ranks[p.ehr_id], len(ranks))
        for p in providers
    ]


def _ehr_slot(clinic: Clinic, provider: Provider) -> int:
    """The provider's place in the ehr id space: roster index, else a spare slot."""
    for index, member in enumerate(clinic.providers):
        if member.ehr_id == provider.ehr_id:
            return index
    spare = stable_seed("slot", clinic.seed, clinic.access_token, provider.ehr_id)
    return len(clinic.providers) + spare % (_EHR_PROVIDER_SLOTS - len(clinic.providers))
