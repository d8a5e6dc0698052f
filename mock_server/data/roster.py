"""A clinic's stable cast: its name, time zone, hours, providers, locations, patients and staff.

Everything is derived from a stable digest of ``(seed, access_token)``, never from Python's per-process
``hash()``, so every process builds the same roster. Faker draws the names; the few hundred patients
are drawn from Faker's own weighted en_US name tables through the seeded Faker's ``random``, because
``Faker.first_name()`` re-weighs ~700 names on every call and would make a clinic cost ~60 ms.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from mock_server.data.stable import stable_seed
from mock_server.settings import check_timezone

PATIENT_POOL_SIZE = 300

# Zone, weight, area codes of the region: a clinic's patients mostly have local numbers.
_ZONES: tuple[tuple[str, float, tuple[int, ...]], ...] = (
    ("America/New_York", 0.34, (212, 404, 617, 718, 305, 914, 215, 973)),
    ("America/Chicago", 0.28, (312, 773, 214, 713, 512, 612, 314, 615)),
    ("America/Denver", 0.10, (303, 720, 801, 505, 406)),
    ("America/Phoenix", 0.07, (602, 480, 623, 520)),
    ("America/Los_Angeles", 0.17, (213, 310, 415, 619, 206, 503, 702)),
    ("America/Anchorage", 0.02, (907,)),
    ("Pacific/Honolulu", 0.02, (808,)),
)
_ZONE_CUM = tuple(itertools.accumulate(w for _, w, _ in _ZONES))

_LOCATIONS = (
    "Northside Clinic",
    "Downtown Office",
    "Westside Clinic",
    "East Campus",
    "Riverside Office",
    "South Clinic",
    "Lakeview Office",
)

# Clinic kind -> (name suffixes, specialty mix of its providers).
_KINDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        ("Family Medicine", "Family Practice", "Primary Care"),
        ("Family Medicine",) * 6 + ("Internal Medicine", "Family Nurse Practitioner"),
    ),
    (
        ("Internal Medicine", "Internal Medicine Associates", "Adult Medicine"),
        ("Internal Medicine",) * 6 + ("Endocrinology", "Cardiology", "Physician Assistant"),
    ),
    (("Pediatrics", "Children's Clinic"), ("Pediatrics",) * 5 + ("Pediatric Nurse Practitioner",)),
    (
        ("Medical Group", "Health Partners", "Medical Associates"),
        (
            "Family Medicine",
            "Internal Medicine",
            "Cardiology",
            "Dermatology",
            "Orthopedics",
            "Obstetrics & Gynecology",
            "Endocrinology",
            "Gastroenterology",
        ),
    ),
)
_PEDIATRIC_KIND = 2
_MULTISPECIALTY_KIND = 3
# Fixed birth-date window (no "today"), so a patient's age never depends on when the fake runs.
_BORN_FROM, _PEDIATRIC_BORN_FROM, _BORN_UNTIL = (
    date(y, m, d).toordinal() for y, m, d in ((1932, 1, 1), (2007, 1, 1), (2024, 12, 31))
)


@dataclass(frozen=True, slots=True)
class Provider:
    ehr_id: str
    first_name: str
    last_name: str
    npi: str
    specialty: str


@dataclass(frozen=True, slots=True)
class Patient:
    first_name: str
    last_name: str
    mrn: str
    dob: str
    phone: str


@dataclass(frozen=True, slots=True)
class Clinic:
    seed: int
    access_token: str
    name: str
    timezone: str
    providers: tuple[Provider, ...]
    locations: tuple[str, ...]
    patients: tuple[Patient, ...] = field(repr=False)
    staff: tuple[str, ...]
    """Front-desk staff as ``"Last, First"``: who booked an appointment (``created_by``)."""
    opens_at: int
    """Weekday opening time, minutes after local midnight; the day lasts nine hours with lunch."""


@functools.cache
def _name_tables() -> tuple[tuple[str, ...], tuple[float, ...], tuple[str, ...], tuple[float, ...]]:
    """Faker's en_US first and last names with cumulative weights, for fast weighted draws."""
    from faker.providers.person.en_US import Provider as _EnUsPerson

    firsts = _EnUsPerson.first_names
    lasts = _EnUsPerson.last_names
    return (
        tuple(firsts),
        tuple(itertools.accumulate(firsts.values())),
        tuple(lasts),
        tuple(itertools.accumulate(lasts.values())),
    )


def _names(rng: random.Random, k: int) -> list[tuple[str, str]]:
    first, first_cum, last, last_cum = _name_tables()
    return list(
        zip(
            rng.choices(first, cum_weights=first_cum, k=k),
            rng.choices(last, cum_weights=last_cum, k=k),
            strict=True,
        )
    )


def _npi(rng: random.Random) -> str:
    """A 10-digit NPI whose check digit is Luhn-valid over the ``80840`` health-card prefix."""
    body = str(rng.randint(1, 2)) + f"{rng.randrange(10**8):08d}"
    total = 0
    # Luhn over "80840" + body + check digit: from the right, the body's last digit is doubled.
    for i, ch in enumerate(reversed("80840" + body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _phone(rng: random.Random, area_codes: Sequence[int]) -> str:
    area = rng.choice(area_codes) if rng.random() < 0.85 else rng.choice(_ZONES[0][2] + _ZONES[1][2])
    exchange = rng.randrange(201, 1000)
    if exchange == 555 or exchange % 100 == 11:  # 555 reads as fake, N11 are service codes
        exchange += 1
    return f"({area}) {exchange}-{rng.randrange(10000):04d}"


def _dob(rng: random.Random, pediatric: bool) -> str:
    low = _PEDIATRIC_BORN_FROM if pediatric else _BORN_FROM
    return date.fromordinal(rng.randint(low, _BORN_UNTIL)).isoformat()


@functools.lru_cache(maxsize=256)
def _build_clinic(seed: int, access_token: str) -> Clinic:
    # Faker is imported on first use: it is a third of the server's start-up otherwise.
    import faker

    fake = faker.Faker("en_US")
    fake.seed_instance(stable_seed("clinic", seed, access_token))
    rng = fake.random
    zone, _, area_codes = _ZONES[bisect.bisect(_ZONE_CUM, rng.random() * _ZONE_CUM[-1])]
    kind = rng.randrange(len(_KINDS))
    suffixes, specialties = _KINDS[kind]
    stem = fake.city() if rng.random() < 0.5 else fake.last_name()
    name = f"{stem} {rng.choice(suffixes)}"

    n_providers = rng.randint(4, 10)
    numbers = rng.sample(range(100, 10000), n_providers)
    providers = tuple(
        Provider(f"prov_{num}", fake.first_name(), fake.last_name(), _npi(rng), rng.choice(specialties))
        for num in numbers
    )
    extra = rng.sample(_LOCATIONS, rng.choices((0, 1, 2), weights=(5, 3, 2))[0])
    locations = ("Main Office", *extra) if rng.random() < 0.8 or not extra else (*extra, "Main Office")

    mrn_digits = rng.randint(5, 8)
    mrns = rng.sample(range(10 ** (mrn_digits - 1), 10**mrn_digits), PATIENT_POOL_SIZE)
    pediatric = kind == _PEDIATRIC_KIND
    patients = tuple(
        Patient(first, last, str(mrn), _dob(rng, pediatric), _phone(rng, area_codes))
        for (first, last), mrn in zip(_names(rng, PATIENT_POOL_SIZE), mrns, strict=True)
    )
    staff = tuple(f"{fake.last_name()}, {fake.first_name()}" for _ in range(rng.randint(3, 6)))
    return Clinic(
        seed=seed,
        access_token=access_token,
        name=name,
        timezone=zone,
        providers=providers,
        locations=locations,
        patients=patients,
        staff=staff,
        opens_at=rng.choice((450, 480, 480, 480, 510, 540)),
    )


@functools.lru_cache(maxsize=256)
def clinic_for(seed: int, access_token: str, timezone: str | None = None) -> Clinic:
    """The clinic behind ``access_token``: the same roster in every process for the same seed.

    ``timezone`` replaces the drawn zone and changes nothing else; an unknown zone is a
    ``ConfigError``.
    """
    clinic = _build_clinic(seed, access_token)
    if timezone is None or timezone == clinic.timezone:
        return clinic
    return dataclasses.replace(clinic, timezone=check_timezone(timezone))


def find_provider(clinic: Clinic, ehr_id: str) -> Provider:
    """The roster provider with ``ehr_id``, or one synthesized from ``(seed, token, ehr_id)``.

    A client may ask for any provider id; an EHR would know it, so the fake invents a stable one.
    """
    for provider in clinic.providers:
        if provider.ehr_id == ehr_id:
            return provider
    rng = random.Random(stable_seed("provider", clinic.seed, clinic.access_token, ehr_id))
    ((first, last),) = _names(rng, 1)
    specialty = rng.choice(_KINDS[_MULTISPECIALTY_KIND][1])
    return Provider(ehr_id, first, last, _npi(rng), specialty)


# The clinic's working week, in minutes after local midnight.
LUNCH = (720, 780)
DAY_LENGTH = 540
SATURDAY_HOURS = (540, 720)
_PROCEDURAL = frozenset({"Dermatology", "Orthopedics", "Obstetrics & Gynecology", "Gastroenterology"})


def weekday_sessions(opens_at: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Morning and afternoon bookable hours ``(start, end)`` around the lunch break, for a clinic
    opening ``opens_at`` minutes after midnight."""
    return (opens_at, LUNCH[0]), (LUNCH[1], opens_at + DAY_LENGTH)


class Profile:
    """How one provider works: stable per (seed, token, provider), roster member or not.

    ``fill``: the share of bookable time booked on an average weekday; ``saturdays``: whether they
    work some Saturdays; ``home``: the location they usually work at; ``procedural``: a specialty
    with procedures. (A plain class: a frozen dataclass costs ~1 ms of import time.)
    """

    __slots__ = ("fill", "home", "procedural", "saturdays")

    def __init__(self, fill: float, saturdays: bool, home: str, procedural: bool) -> None:
        self.fill = fill
        self.saturdays = saturdays
        self.home = home
        self.procedural = procedural


def profile_for(clinic: Clinic, provider: Provider) -> Profile:
    return _profile(clinic.seed, clinic.access_token, provider.ehr_id, clinic.locations, provider.specialty)


@functools.lru_cache(maxsize=4096)
def _profile(
    seed: int, access_token: str, ehr_id: str, locations: tuple[str, ...], specialty: str
) -> Profile:
    """Drawn once per provider, not per appointment: seeding a ``Random`` costs more than the draws."""
    rng = random.Random(stable_seed("profile", seed, access_token, ehr_id))
    return Profile(
        fill=rng.uniform(0.5, 0.9),
        saturdays=rng.random() < 0.25,
        home=rng.choice(locations),
        procedural=specialty in _PROCEDURAL,
    )
