"""Deterministic, realistic appointments for a clinic: by date range, by provider, and by patient MRN.

Every provider-day is generated on its own from a ``random.Random`` seeded with a stable digest of
``(seed, access_token, provider, date)``, so a day reads the same whatever range, provider filter or
order it is asked in, and in every process. Nothing depends on today's date. The roster (names drawn
with Faker) lives in ``roster``; this module only uses precomputed tables on the per-day path.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from mock_server.roster import (
    SATURDAY_HOURS,
    Clinic,
    Profile,
    Provider,
    clinic_for,
    find_provider,
    local_time,
    profile_for,
    stable_digest,
    stable_seed,
    weekday_sessions,
)

__all__ = [
    "Clinic",
    "Provider",
    "appointments_in_range",
    "clinic_for",
    "find_provider",
    "mrn_history",
    "range_item",
]


@dataclass(frozen=True, slots=True)
class _Type:
    name: str
    code: str
    durations: tuple[int, ...]
    mode: str
    weight: float
    procedural_weight: float
    reasons: tuple[str, ...]


# fmt: off
_TYPES = (
    _Type("Office Visit", "OV (Office Visit)", (15, 20), "office", 30, 20, (
        "Cough and congestion", "Back pain", "Medication review", "Rash", "Headaches",
        "Abdominal pain", "Dizziness", "Knee pain", "Fatigue", "Ear pain", "Anxiety", "Insomnia",
    )),
    _Type("Follow Up", "FU (Follow Up)", (15, 20), "office", 24, 22, (
        "Follow-up: hypertension", "Follow-up: type 2 diabetes", "Follow-up: hyperlipidemia",
        "Follow-up: asthma", "Follow-up: lab results", "Follow-up: depression",
        "Follow-up: hypothyroidism", "Follow-up: GERD", "Follow-up: post-op check",
    )),
    _Type("New Patient Visit", "NP (New Patient)", (30, 60), "office", 9, 12, (
        "New patient: establish care", "New patient: transfer of care", "New patient consultation",
        "Referral: evaluation",
    )),
    _Type("Annual Physical", "PE (Annual Physical)", (30,), "office", 10, 3, (
        "Annual Checkup", "Annual wellness visit", "Preventive exam", "Sports physical",
        "Pre-employment physical",
    )),
    _Type("Telehealth Visit", "TH (Telehealth)", (15, 20, 30), "telemedicine", 12, 8, (
        "Telehealth: medication refill", "Telehealth: follow-up", "Telehealth: cold symptoms",
        "Telehealth: lab review", "Telehealth: mental health check-in",
    )),
    _Type("Sick Visit", "SV (Sick Visit)", (15,), "office", 8, 4, (
        "Fever", "Flu-like symptoms", "UTI symptoms", "Sinus pain", "Sore throat",
    )),
    _Type("Procedure", "PROC (Procedure)", (30, 60), "office", 3, 25, (
        "Skin lesion removal", "Joint injection", "Wart cryotherapy", "Ear lavage",
        "Laceration repair", "Ingrown toenail removal", "Biopsy",
    )),
    _Type("Nurse Visit", "NV (Nurse Visit)", (15,), "office", 4, 6, (
        "Flu shot", "B12 injection", "Blood pressure check", "Vaccination", "Lab draw",
    )),
)
# fmt: on
_CUM_PRIMARY = tuple(itertools.accumulate(t.weight for t in _TYPES))
_CUM_PROCEDURAL = tuple(itertools.accumulate(t.procedural_weight for t in _TYPES))
_NEW_PATIENT = 2

# fmt: off
_NOTES = (
    "", "", "", "Bring current medication list.", "Fasting labs prior to visit.",
    "Insurance card updated.", "Interpreter needed: Spanish.", "Confirmed via text reminder.",
    "Pt prefers morning appointments.", "Copay collected at check-in.", "Records requested from PCP.",
    "Pt requests female chaperone.", "Recheck BP at visit.", "Prior authorization on file.",
)

# A fixed mix, not one that depends on today: the same day must read the same tomorrow.
_STATUSES = (
    ("CHK (Check Out)", 38), ("CONF (Confirmed)", 22), ("PEN (Pending)", 14), ("ARR (Arrived)", 4),
    ("NS (No Show)", 7), ("CANC (Cancelled)", 10), ("R/S (Rescheduled)", 5),
)
# fmt: on
_STATUS_NAMES = tuple(s for s, _ in _STATUSES)
_STATUS_CUM = tuple(itertools.accumulate(w for _, w in _STATUSES))

_WEEKDAY_BAND = (6, 24)
_SATURDAY_CAP = 8

_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TO_BASE62 = bytes(_BASE62[b % 62] for b in range(256))

# ehr_appointment_id: an injective map of (day, provider slot, appointment index) into 8 digits, so
# roster ids never collide within a ~96-year span; scrambled by a multiplier coprime with the space.
_EHR_SPACE = 90_000_000
_EHR_PROVIDER_SLOTS = 64
_EHR_DAY_SLOTS = 40
_EHR_DAYS = _EHR_SPACE // (_EHR_PROVIDER_SLOTS * _EHR_DAY_SLOTS)
_EHR_MULTIPLIER = 48_271

_GAPS = (15, 15, 20, 30)
_MRN_WINDOW = (date(2023, 1, 1).toordinal(), date(2026, 12, 31).toordinal())


def _walk(
    rng: random.Random, sessions: Sequence[tuple[int, int]], fill: float, cum: tuple[float, ...]
) -> list[tuple[int, int, int]]:
    """Booked slots ``(start minute, type index, duration)``: back to back, with empty gaps."""
    # int(rand() * n) rather than randrange/choice on the per-day path: several times faster.
    rand = rng.random
    slots: list[tuple[int, int, int]] = []
    total = cum[-1]
    for start, end in sessions:
        t = start
        while t < end:
            if rand() < fill:
                kind = bisect.bisect(cum, rand() * total)
                durations = _TYPES[kind].durations
                duration = durations[int(rand() * len(durations))]
                if t + duration <= end:
                    slots.append((t, kind, duration))
                t += duration
            else:
                t += _GAPS[int(rand() * len(_GAPS))]
    return slots


def _created(rng: random.Random, zone_key: str, ordinal: int, start: int, ms: str) -> str:
    """When the appointment was booked: same day up to ~4 h before, or 1-90 days earlier."""
    rand = rng.random
    roll = rand()
    days = 0 if roll < 0.05 else 1 + int(rand() * 14) if roll < 0.5 else 15 + int(rand() * 76)
    days = min(days, ordinal - 1)
    if days:
        second = 7 * 3600 + int(rand() * 12 * 3600)
    else:  # the day opens at 07:30 or later, so this window is never empty
        low = max(6 * 3600, start * 60 - 4 * 3600)
        second = low + int(rand() * (start * 60 - 15 * 60 - low))
    return local_time(zone_key, ordinal - days, second, ms)[0]


def _provider_day(
    clinic: Clinic, provider: Provider, ehr_key: tuple[int, int], profile: Profile, day: date
) -> list[tuple[int, dict[str, Any]]]:
    weekday = day.weekday()
    if weekday == 6:
        return []
    day_key = stable_digest("day", clinic.seed, clinic.access_token, provider.ehr_id, day.isoformat())
    rng = random.Random(int.from_bytes(day_key, "big"))
    if weekday == 5:
        if not profile.saturdays or rng.random() < 0.4:
            return []
        sessions: tuple[tuple[int, int], ...] = (SATURDAY_HOURS,)
        fill, floor, cap = profile.fill * 0.6, 0, _SATURDAY_CAP
    else:
        sessions = weekday_sessions(clinic)
        fill = min(0.95, profile.fill + rng.uniform(-0.12, 0.12))
        floor, cap = _WEEKDAY_BAND
    cum = _CUM_PROCEDURAL if profile.procedural else _CUM_PRIMARY
    slots = _walk(rng, sessions, fill, cum)
    if len(slots) < floor:  # a full walk books at least three per session, so at least six
        slots = _walk(rng, sessions, 1.0, cum)
    if len(slots) > cap:
        slots = [slots[i] for i in sorted(rng.sample(range(len(slots)), cap))]
    location = profile.home if rng.random() < 0.85 else rng.choice(clinic.locations)
    patients = clinic.patients
    chosen = rng.sample(range(len(patients)), len(slots))

    zone_key = clinic.timezone
    ordinal = day.toordinal()
    provider_name = f"{provider.last_name}, {provider.first_name}"
    provider_slot, ehr_salt = ehr_key
    ehr_base = ((ordinal % _EHR_DAYS) * _EHR_PROVIDER_SLOTS + provider_slot) * _EHR_DAY_SLOTS
    rand = rng.random
    out: list[tuple[int, dict[str, Any]]] = []
    for index, ((start, kind, duration), patient_index) in enumerate(zip(slots, chosen, strict=True)):
        appt_type = _TYPES[kind]
        patient = patients[patient_index]
        stamp, offset = local_time(zone_key, ordinal, start * 60)
        slot_digest = hashlib.blake2b(day_key + start.to_bytes(2, "big"), digest_size=12).digest()
        ehr_number = ((ehr_base + index) * _EHR_MULTIPLIER + ehr_salt) % _EHR_SPACE + 10_000_000
        status = _STATUS_NAMES[bisect.bisect(_STATUS_CUM, rand() * _STATUS_CUM[-1])]
        appointment = {
            "id": "appt_" + slot_digest.translate(_TO_BASE62).decode("ascii"),
            "ehr_appointment_id": str(ehr_number),
            "datetime": stamp,
            "duration": duration,
            "status": status,
            "appointment_type": appt_type.name,
            "appointment_mode": appt_type.mode,
            "location": location,
            "reason": appt_type.reasons[int(rand() * len(appt_type.reasons))],
            "note": _NOTES[int(rand() * len(_NOTES))],
            "patient_name": f"{patient.first_name} {patient.last_name}",
            "patient_first_name": patient.first_name,
            "patient_last_name": patient.last_name,
            "patient_mrn": patient.mrn,
            "patient_dob": patient.dob,
            "patient_phone": patient.phone,
            "provider_ehr_id": provider.ehr_id,
            "provider_name": provider_name,
            "created_at": _created(rng, zone_key, ordinal, start, ""),
        }
        out.append((ordinal * 1440 + start - offset, appointment))
    return out


def _ehr_key(clinic: Clinic, provider: Provider) -> tuple[int, int]:
    """The provider's place in the ehr id space (roster index, else a spare slot) and the salt."""
    salt = stable_seed("ehr", clinic.seed, clinic.access_token) % _EHR_SPACE
    for index, member in enumerate(clinic.providers):
        if member.ehr_id == provider.ehr_id:
            return index, salt
    spare = stable_seed("slot", clinic.seed, clinic.access_token, provider.ehr_id)
    return len(clinic.providers) + spare % (_EHR_PROVIDER_SLOTS - len(clinic.providers)), salt


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
    keyed: list[tuple[int, str, dict[str, Any]]] = []
    for provider in providers:
        profile = profile_for(clinic, provider)
        ehr_key = _ehr_key(clinic, provider)
        for day in days:
            keyed.extend(
                (key, provider.ehr_id, a) for key, a in _provider_day(clinic, provider, ehr_key, profile, day)
            )
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [a for _, _, a in keyed]


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


def mrn_history(clinic: Clinic, mrn: str) -> list[dict[str, Any]]:
    """One patient's 2-15 appointments in 2023-2026, the same for the same ``mrn``; sorted by time.

    Items have the MRN webhook's form: code-style types and statuses, millisecond datetimes, and who
    booked each one. Any string is a valid MRN; an EHR would simply have a history for it.
    """
    rng = random.Random(stable_seed("mrn", clinic.seed, clinic.access_token, mrn))
    count = rng.randint(2, 15)
    ordinals: set[int] = set()
    while len(ordinals) < count:
        ordinal = rng.randint(*_MRN_WINDOW)
        weekday = (ordinal - 1) % 7  # date.fromordinal(1) is a Monday
        ordinals.add(ordinal + 7 - weekday if weekday >= 5 else ordinal)
    primary = rng.choice(clinic.providers)
    sessions = weekday_sessions(clinic)
    zone_key = clinic.timezone
    ehr_ids = rng.sample(range(10_000_000, 100_000_000), count)
    items: list[dict[str, Any]] = []
    for position, ordinal in enumerate(sorted(ordinals)):
        provider = primary if rng.random() < 0.7 else rng.choice(clinic.providers)
        profile = profile_for(clinic, provider)
        if position == 0 and rng.random() < 0.6:
            kind = _NEW_PATIENT
        else:
            cum = _CUM_PROCEDURAL if profile.procedural else _CUM_PRIMARY
            kind = bisect.bisect(cum, rng.random() * cum[-1])
        appt_type = _TYPES[kind]
        duration = rng.choice(appt_type.durations)
        session_start, session_end = sessions[rng.randrange(2)]
        start = session_start + 15 * rng.randrange((session_end - session_start - duration) // 15 + 1)
        status = _STATUS_NAMES[bisect.bisect(_STATUS_CUM, rng.random() * _STATUS_CUM[-1])]
        items.append(
            {
                "ehr_appointment_id": str(ehr_ids[position]),
                "datetime": local_time(zone_key, ordinal, start * 60, ".000")[0],
                "appointment_type": appt_type.code,
                "status": status,
                "provider_ehr_id": provider.ehr_id,
                "provider_first_name": provider.first_name,
                "provider_last_name": provider.last_name,
                "reason": rng.choice(appt_type.reasons),
                "location": profile.home if rng.random() < 0.85 else rng.choice(clinic.locations),
                "locked": status.startswith(("CHK", "NS")) and rng.random() < 0.8,
                "created_at": _created(rng, zone_key, ordinal, start, ".000"),
                "created_by": rng.choice(clinic.staff),
            }
        )
    return items
