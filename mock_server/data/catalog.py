"""What an appointment can be: types with their slot lengths and reasons, notes and statuses.

Weighted choices are precomputed as 256-entry lookup tables, so generating an appointment picks one
with a random byte (``table[byte]``) instead of a bisect or ``random.choices``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence


class AppointmentType:
    """A kind of visit; ``weight`` is its share of a primary-care day, ``procedural_weight`` of a
    procedural specialist's. (A plain class: a dataclass costs ~1 ms of import time.)"""

    __slots__ = ("code", "durations", "mode", "name", "procedural_weight", "reasons", "weight")

    def __init__(
        self,
        name: str,
        code: str,
        durations: tuple[int, ...],
        mode: str,
        weight: float,
        procedural_weight: float,
        reasons: tuple[str, ...],
    ) -> None:
        self.name = name
        self.code = code
        self.durations = durations
        self.mode = mode
        self.weight = weight
        self.procedural_weight = procedural_weight
        self.reasons = reasons


# fmt: off
TYPES = (
    AppointmentType("Office Visit", "OV (Office Visit)", (15, 20), "office", 30, 20, (
        "Cough and congestion", "Back pain", "Medication review", "Rash", "Headaches",
        "Abdominal pain", "Dizziness", "Knee pain", "Fatigue", "Ear pain", "Anxiety", "Insomnia",
    )),
    AppointmentType("Follow Up", "FU (Follow Up)", (15, 20), "office", 24, 22, (
        "Follow-up: hypertension", "Follow-up: type 2 diabetes", "Follow-up: hyperlipidemia",
        "Follow-up: asthma", "Follow-up: lab results", "Follow-up: depression",
        "Follow-up: hypothyroidism", "Follow-up: GERD", "Follow-up: post-op check",
    )),
    AppointmentType("New Patient Visit", "NP (New Patient)", (30, 60), "office", 9, 12, (
        "New patient: establish care", "New patient: transfer of care", "New patient consultation",
        "Referral: evaluation",
    )),
    AppointmentType("Annual Physical", "PE (Annual Physical)", (30,), "office", 10, 3, (
        "Annual Checkup", "Annual wellness visit", "Preventive exam", "Sports physical",
        "Pre-employment physical",
    )),
    AppointmentType("Telehealth Visit", "TH (Telehealth)", (15, 20, 30), "telemedicine", 12, 8, (
        "Telehealth: medication refill", "Telehealth: follow-up", "Telehealth: cold symptoms",
        "Telehealth: lab review", "Telehealth: mental health check-in",
    )),
    AppointmentType("Sick Visit", "SV (Sick Visit)", (15,), "office", 8, 4, (
        "Fever", "Flu-like symptoms", "UTI symptoms", "Sinus pain", "Sore throat",
    )),
    AppointmentType("Procedure", "PROC (Procedure)", (30, 60), "office", 3, 25, (
        "Skin lesion removal", "Joint injection", "Wart cryotherapy", "Ear lavage",
        "Laceration repair", "Ingrown toenail removal", "Biopsy",
    )),
    AppointmentType("Nurse Visit", "NV (Nurse Visit)", (15,), "office", 4, 6, (
        "Flu shot", "B12 injection", "Blood pressure check", "Vaccination", "Lab draw",
    )),
)
NEW_PATIENT = 2

NOTES = (
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
STATUS_NAMES = tuple(s for s, _ in _STATUSES)
LOCKABLE = tuple(s.startswith(("CHK", "NS")) for s in STATUS_NAMES)
"""Per status: whether the EHR may have locked the visit (checked out or a no-show)."""


def spread(weights: Sequence[float], size: int) -> tuple[int, ...]:
    """A ``size``-entry table of indices into ``weights``, each appearing in proportion to its weight:
    a weighted draw is ``table[uniform index]``. Exact when ``size`` is a multiple of the total."""
    cum = list(itertools.accumulate(weights))
    return tuple(bisect.bisect(cum, (j + 0.5) * cum[-1] / size) for j in range(size))


KIND_BYTE = spread([t.weight for t in TYPES], 256)
PROCEDURAL_KIND_BYTE = spread([t.procedural_weight for t in TYPES], 256)
STATUS_BYTE = spread([w for _, w in _STATUSES], 256)

GAPS = (15, 15, 20, 30)
"""Minutes a provider's day moves on by at a slot that is not booked."""


@functools.lru_cache(maxsize=1024)
def step_table(procedural: bool, bookings: int) -> tuple[tuple[int, int], ...]:
    """One step of a provider's day per random byte: ``bookings`` of the 256 entries book a slot,
    ``(type index, duration)`` in the type mix's proportions with an even share of each type's slot
    lengths; the others are empty time, ``(-1, gap minutes)``."""
    cum = list(itertools.accumulate(t.procedural_weight if procedural else t.weight for t in TYPES))
    steps: list[tuple[int, int]] = []
    for j in range(bookings):
        u = (j + 0.5) / bookings * cum[-1]
        kind = bisect.bisect(cum, u)
        low = cum[kind - 1] if kind else 0.0
        durations = TYPES[kind].durations
        steps.append((kind, durations[int((u - low) / (cum[kind] - low) * len(durations))]))
    gaps = 256 - bookings
    steps.extend((-1, GAPS[j * len(GAPS) // gaps]) for j in range(gaps))
    return tuple(_STEPS.setdefault(step, step) for step in steps)  # a few hundred tables share ~20 tuples


_STEPS: dict[tuple[int, int], tuple[int, int]] = {}
