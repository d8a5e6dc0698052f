"""Generated appointments: deterministic in every process and request order, and realistic enough to
test a scheduling integration against (clinic hours, slot lengths, no double booking, DST offsets).

Also covers ``mock_server.data.roster``, the clinic pools the generator draws from.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_server import resources
from mock_server.data import stable
from mock_server.data.generator import appointments_in_range, range_item, range_items
from mock_server.data.history import mrn_history
from mock_server.data.roster import Clinic, clinic_for, find_provider
from mock_server.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
NY = clinic_for(7, "tok_generator", "America/New_York")
BUSY = clinic_for(0, "tok")  # ten providers in Denver: the busiest roster size
WEEK = (date(2025, 1, 13), date(2025, 1, 19))  # Monday..Sunday

RICH_KEYS = [
    "id", "ehr_appointment_id", "datetime", "duration", "status", "appointment_type",
    "appointment_mode", "location", "reason", "note", "patient_name", "patient_first_name",
    "patient_last_name", "patient_mrn", "patient_dob", "patient_phone", "provider_ehr_id",
    "provider_name", "created_at",
]  # fmt: skip
RANGE_KEYS = ["id", "datetime", "appointment_type", "status", "provider_ehr_id", "location"]
MRN_KEYS = [
    "ehr_appointment_id", "datetime", "appointment_type", "status", "provider_ehr_id",
    "provider_first_name", "provider_last_name", "reason", "location", "locked", "created_at",
    "created_by",
]  # fmt: skip
STATUSES = {
    "CHK (Check Out)", "PEN (Pending)", "CONF (Confirmed)", "ARR (Arrived)", "NS (No Show)",
    "CANC (Cancelled)", "R/S (Rescheduled)",
}  # fmt: skip
DURATIONS = {
    "Office Visit": {15, 20}, "Follow Up": {15, 20}, "New Patient Visit": {30, 60},
    "Annual Physical": {30}, "Telehealth Visit": {15, 20, 30}, "Sick Visit": {15},
    "Procedure": {30, 60}, "Nurse Visit": {15},
}  # fmt: skip
US_ZONES = {
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
}  # fmt: skip

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
DATETIME_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000[+-]\d{2}:\d{2}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PHONE = re.compile(r"^\(\d{3}\) [2-9]\d{2}-\d{4}$")
MRN = re.compile(r"^\d{5,8}$")
EHR_ID = re.compile(r"^[1-9]\d{7}$")
APPT_ID = re.compile(r"^appt_[0-9A-Za-z]{12}$")
LAST_FIRST = re.compile(r"^[^,]+, [^,]+$")


def luhn_ok(npi: str) -> bool:
    digits = [int(c) for c in "80840" + npi]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def assert_local(stamp: str, zone: str) -> datetime:
    """``stamp`` carries the offset ``zone`` really has at that local wall time; returns it parsed."""
    moment = datetime.fromisoformat(stamp)
    naive = moment.replace(tzinfo=None)
    expected = naive.replace(tzinfo=ZoneInfo(zone)).utcoffset()
    assert expected is not None
    assert moment.utcoffset() == timedelta(minutes=round(expected.total_seconds() / 60)), stamp
    return moment


def minute_of_day(stamp: str) -> int:
    return int(stamp[11:13]) * 60 + int(stamp[14:16])


def by_provider_day(appointments: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in appointments:
        groups[a["provider_ehr_id"], a["datetime"][:10]].append(a)
    return groups


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# --- the roster ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "token"), [(s, t) for s in (0, 1, -5, 2**40) for t in ("tok_a", "tök ✓", "")]
)
def test_roster_is_plausible(seed: int, token: str) -> None:
    clinic = clinic_for(seed, token)
    assert clinic.seed == seed
    assert clinic.access_token == token
    assert clinic.name
    assert clinic.timezone in US_ZONES
    assert 4 <= len(clinic.providers) <= 10
    ids = [p.ehr_id for p in clinic.providers]
    assert len(set(ids)) == len(ids)
    for p in clinic.providers:
        assert re.fullmatch(r"prov_\d{3,4}", p.ehr_id)
        assert p.first_name
        assert p.last_name
        assert p.specialty
        assert re.fullmatch(r"[12]\d{9}", p.npi)
        assert luhn_ok(p.npi)
    assert 1 <= len(clinic.locations) <= 3
    assert len(set(clinic.locations)) == len(clinic.locations)
    assert "Main Office" in clinic.locations
    assert len(clinic.patients) >= 200
    assert len({p.mrn for p in clinic.patients}) == len(clinic.patients)
    assert len({len(p.mrn) for p in clinic.patients}) == 1  # one MRN width per EHR
    for patient in clinic.patients:
        assert MRN.match(patient.mrn)
        assert DAY.match(patient.dob)
        assert PHONE.match(patient.phone)
        assert patient.first_name
        assert patient.last_name
    assert 3 <= len(clinic.staff) <= 6
    assert all(LAST_FIRST.match(s) for s in clinic.staff)


def test_rosters_differ_by_seed_and_token() -> None:
    a, b, c = clinic_for(1, "tok_a"), clinic_for(2, "tok_a"), clinic_for(1, "tok_b")
    assert a.providers != b.providers
    assert a.providers != c.providers
    assert a.patients != b.patients


def test_clinic_is_cached_and_repr_is_short() -> None:
    assert clinic_for(3, "tok_cache") is clinic_for(3, "tok_cache")
    assert len(repr(NY)) < 3000  # the patient pool is left out


def test_timezone_override_changes_only_the_zone() -> None:
    drawn = clinic_for(7, "tok_generator")
    assert dataclasses.replace(drawn, timezone="America/New_York") == NY
    assert clinic_for(7, "tok_generator", drawn.timezone) is drawn
    assert clinic_for(7, "tok_generator", "Pacific/Honolulu").timezone == "Pacific/Honolulu"


@pytest.mark.parametrize("zone", ["", "Not/AZone", "../etc/passwd", "America"])
def test_unknown_timezone_is_a_config_error(zone: str) -> None:
    with pytest.raises(ConfigError, match="Unknown time zone") as info:
        clinic_for(1, "tok_a", zone)
    assert isinstance(info.value, ValueError)


def test_find_provider_returns_roster_members() -> None:
    for provider in NY.providers:
        assert find_provider(NY, provider.ehr_id) is provider


@pytest.mark.parametrize("ehr_id", ["prov_1", "dr-who", "πρ", "", "prov_" + "9" * 50])
def test_find_provider_synthesizes_unknown_ids_stably(ehr_id: str) -> None:
    provider = find_provider(NY, ehr_id)
    assert provider not in NY.providers
    assert provider.ehr_id == ehr_id
    assert provider.first_name
    assert provider.last_name
    assert provider.specialty
    assert luhn_ok(provider.npi)
    assert find_provider(clinic_for(7, "tok_generator"), ehr_id) == provider
    assert find_provider(clinic_for(7, "tok_other"), ehr_id) != provider


def test_stable_digest_continues_from_a_shared_prefix() -> None:
    prefix = stable.stable_hasher("day", 7, "tok")
    h = prefix.copy()
    stable.add_part(h, "prov_1")
    stable.add_part(h, "2025-01-13")
    assert h.digest() == stable.stable_digest("day", 7, "tok", "prov_1", "2025-01-13")
    assert prefix.digest() == stable.stable_digest("day", 7, "tok")  # the prefix is left as it was
    assert stable.stable_digest("ab", "c") != stable.stable_digest("a", "bc")
    stream = stable.stable_stream("mrn", 7, "tok")
    assert stream.copy().digest(64)[:16] == stream.copy().digest(16)  # a longer read extends a shorter


# --- determinism ---------------------------------------------------------------------------------


def test_same_inputs_same_output() -> None:
    assert appointments_in_range(NY, *WEEK) == appointments_in_range(NY, *WEEK)
    assert mrn_history(NY, "12345") == mrn_history(NY, "12345")


def test_overlapping_ranges_agree_on_shared_days() -> None:
    first = appointments_in_range(NY, date(2025, 1, 13), date(2025, 1, 19))
    second = appointments_in_range(NY, date(2025, 1, 16), date(2025, 1, 22))
    shared = ("2025-01-16", "2025-01-17", "2025-01-18", "2025-01-19")
    assert [a for a in first if a["datetime"][:10] in shared] == [
        a for a in second if a["datetime"][:10] in shared
    ]
    assert any(a["datetime"][:10] in shared for a in first)


def test_request_order_and_granularity_do_not_matter() -> None:
    whole = appointments_in_range(NY, *WEEK)
    one_by_one: list[dict[str, Any]] = []
    for day in reversed(days(*WEEK)):  # later days first
        for provider in reversed(NY.providers):
            one_by_one += appointments_in_range(NY, day, day, [provider.ehr_id])
    one_by_one.sort(key=lambda a: (datetime.fromisoformat(a["datetime"]), a["provider_ehr_id"]))
    assert one_by_one == whole


def test_provider_filter_is_a_subset_of_the_roster_view() -> None:
    whole = appointments_in_range(NY, *WEEK)
    chosen = [NY.providers[1].ehr_id, NY.providers[0].ehr_id]
    assert appointments_in_range(NY, *WEEK, chosen) == [a for a in whole if a["provider_ehr_id"] in chosen]


SUBPROCESS_SCRIPT = """
import json, sys
from datetime import date
from mock_server.data.generator import appointments_in_range
from mock_server.data.roster import clinic_for
from mock_server.data.history import mrn_history
clinic = clinic_for(7, "tok_generator", "America/New_York")
json.dump({
    "clinic": repr(clinic),
    "patients": [repr(p) for p in clinic.patients],
    "range": appointments_in_range(clinic, date(2025, 1, 13), date(2025, 1, 19), None),
    "unknown": appointments_in_range(clinic, date(2025, 1, 13), date(2025, 1, 14), ["dr-who"]),
    "mrn": mrn_history(clinic, "12345"),
}, sys.stdout)
"""


def test_a_separate_process_generates_identical_data() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "4242"}  # a different hash() must change nothing
    result = subprocess.run(
        [sys.executable, "-c", SUBPROCESS_SCRIPT],
        capture_output=True,
        check=True,
        cwd=ROOT,
        env=env,
        text=True,
        timeout=60,
    )
    other = json.loads(result.stdout)
    assert other["clinic"] == repr(NY)
    assert other["patients"] == [repr(p) for p in NY.patients]
    assert other["range"] == appointments_in_range(NY, date(2025, 1, 13), date(2025, 1, 19))
    assert other["unknown"] == appointments_in_range(NY, date(2025, 1, 13), date(2025, 1, 14), ["dr-who"])
    assert other["mrn"] == mrn_history(NY, "12345")


def test_different_seed_or_token_gives_different_data() -> None:
    base = appointments_in_range(clinic_for(1, "tok_a"), *WEEK)
    assert base != appointments_in_range(clinic_for(2, "tok_a"), *WEEK)
    assert base != appointments_in_range(clinic_for(1, "tok_b"), *WEEK)
    assert mrn_history(clinic_for(1, "tok_a"), "12345") != mrn_history(clinic_for(2, "tok_a"), "12345")


# --- realism -------------------------------------------------------------------------------------


def month_of(clinic: Clinic) -> list[dict[str, Any]]:
    return appointments_in_range(clinic, date(2025, 3, 3), date(2025, 3, 30))


@pytest.mark.parametrize("clinic", [NY, BUSY, clinic_for(11, "tok_x")], ids=["ny", "busy", "other"])
def test_schedule_is_realistic(clinic: Clinic) -> None:
    appointments = month_of(clinic)
    providers = {p.ehr_id for p in clinic.providers}
    for (provider_id, day_text), group in by_provider_day(appointments).items():
        assert provider_id in providers
        weekday = date.fromisoformat(day_text).weekday()
        assert weekday != 6, "Sundays are closed"
        if weekday == 5:
            assert len(group) <= 8
            hours = (540, 720)
        else:
            assert 6 <= len(group) <= 24
            hours = (clinic.opens_at, clinic.opens_at + 540)
        booked = sorted((minute_of_day(a["datetime"]), a["duration"]) for a in group)
        for (start, length), (next_start, _) in itertools.pairwise(booked):
            assert start + length <= next_start, f"{provider_id} double-booked on {day_text}"
        for start, length in booked:
            assert hours[0] <= start
            assert start + length <= hours[1]
            assert start + length <= 720 or start >= 780, "nothing is booked over lunch"
    # every weekday of every provider is worked
    weekdays = [d for d in days(date(2025, 3, 3), date(2025, 3, 30)) if d.weekday() < 5]
    assert len(by_provider_day(appointments)) >= len(weekdays) * len(providers)


def test_field_values_are_realistic() -> None:
    appointments = month_of(BUSY)
    patients = {p.mrn: p for p in BUSY.patients}
    providers = {p.ehr_id: p for p in BUSY.providers}
    for a in appointments:
        assert a["duration"] in DURATIONS[a["appointment_type"]]
        assert a["status"] in STATUSES
        assert a["appointment_mode"] == (
            "telemedicine" if a["appointment_type"] == "Telehealth Visit" else "office"
        )
        assert a["location"] in BUSY.locations
        assert a["reason"]
        assert isinstance(a["note"], str)
        patient = patients[a["patient_mrn"]]
        assert (a["patient_first_name"], a["patient_last_name"]) == (patient.first_name, patient.last_name)
        assert a["patient_name"] == f"{patient.first_name} {patient.last_name}"
        assert (a["patient_dob"], a["patient_phone"]) == (patient.dob, patient.phone)
        provider = providers[a["provider_ehr_id"]]
        assert a["provider_name"] == f"{provider.last_name}, {provider.first_name}"
    # a fixed, realistic mix: every status and type shows up, checked-out visits lead
    statuses = Counter(a["status"] for a in appointments)
    assert set(statuses) == STATUSES
    assert statuses.most_common(1)[0][0] == "CHK (Check Out)"
    assert set(Counter(a["appointment_type"] for a in appointments)) == set(DURATIONS)
    assert any(a["note"] == "" for a in appointments)
    assert any(a["note"] for a in appointments)


def test_saturdays_are_rare_and_small_sundays_empty() -> None:
    appointments = [
        a for c in (NY, BUSY) for a in appointments_in_range(c, date(2025, 1, 6), date(2025, 3, 30))
    ]
    by_weekday = Counter(date.fromisoformat(a["datetime"][:10]).weekday() for a in appointments)
    assert by_weekday[6] == 0
    assert 0 < by_weekday[5] < by_weekday[0] / 5


def test_a_patient_is_booked_once_per_provider_day() -> None:
    for group in by_provider_day(month_of(BUSY)).values():
        assert len({a["patient_mrn"] for a in group}) == len(group)


def test_ids_are_unique_and_well_formed() -> None:
    appointments = appointments_in_range(BUSY, date(2025, 1, 1), date(2025, 3, 31))
    appointments += appointments_in_range(BUSY, date(2025, 1, 1), date(2025, 1, 31), ["dr-who", "dr-no"])
    assert len({a["id"] for a in appointments}) == len(appointments)
    assert len({a["ehr_appointment_id"] for a in appointments}) == len(appointments)
    for a in appointments:
        assert APPT_ID.match(a["id"])
        assert EHR_ID.match(a["ehr_appointment_id"])
        assert MRN.match(a["patient_mrn"])
        assert DAY.match(a["patient_dob"])
        assert PHONE.match(a["patient_phone"])


def test_rich_form_keys_order_and_booking_time() -> None:
    appointments = appointments_in_range(NY, *WEEK)
    assert appointments
    for a in appointments:
        assert list(a) == RICH_KEYS
        assert DATETIME.match(a["datetime"])
        assert DATETIME.match(a["created_at"])
        assert isinstance(a["duration"], int)
        assert assert_local(a["created_at"], NY.timezone) < assert_local(a["datetime"], NY.timezone)


def test_results_are_sorted_by_instant_then_provider() -> None:
    for clinic in (NY, BUSY):
        appointments = appointments_in_range(clinic, *WEEK)
        keys = [(datetime.fromisoformat(a["datetime"]), a["provider_ehr_id"]) for a in appointments]
        assert keys == sorted(keys)


def test_range_item_is_the_webhook_projection() -> None:
    appointments = appointments_in_range(NY, *WEEK)
    for a in appointments:
        item = range_item(a)
        assert list(item) == RANGE_KEYS
        assert item == {k: a[k] for k in RANGE_KEYS}
    assert range_items(appointments) == [range_item(a) for a in appointments]


def test_empty_range_when_end_precedes_start() -> None:
    assert appointments_in_range(NY, date(2025, 1, 14), date(2025, 1, 13)) == []


def test_sunday_alone_is_empty() -> None:
    assert appointments_in_range(BUSY, date(2025, 1, 19), date(2025, 1, 19)) == []


def envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "evt_1", "access_token_reference_id": "user_1", "job_id": "job_1",
        "timestamp": "2025-01-20T11:00:00Z", "type": "appointment.live_fetch_completed", "action": "sync",
        "data": data,
    }  # fmt: skip


def test_output_validates_against_the_strict_schemas() -> None:
    rich = appointments_in_range(NY, *WEEK)
    history = mrn_history(NY, "12345")
    items = [range_item(a) for a in rich]
    documents = {
        "appointments-page.strict": {"success": True, "appointments": rich},
        "webhook-date-range.strict": envelope(
            {"success": True, "appointment_count": len(items), "start_date": "2025-01-13",
             "end_date": "2025-01-19", "appointments": items}
        ),
        "webhook-mrn.strict": envelope(
            {"success": True, "search_by": "mrn", "mrn": "12345", "appointment_count": len(history),
             "appointments": history}
        ),
    }  # fmt: skip
    for name, document in documents.items():
        errors = [e.message for e in resources.validator(name).iter_errors(document)]
        assert errors == [], name


# --- provider filter -----------------------------------------------------------------------------


def test_provider_filter_returns_only_requested_providers_including_unknown_ids() -> None:
    requested = [NY.providers[0].ehr_id, "prov_00001", "dr-who", "prov_00001"]
    appointments = appointments_in_range(NY, *WEEK, requested)
    assert {a["provider_ehr_id"] for a in appointments} == set(requested)
    unknown = [a for a in appointments if a["provider_ehr_id"] == "dr-who"]
    synthesized = find_provider(NY, "dr-who")
    assert {a["provider_name"] for a in unknown} == {f"{synthesized.last_name}, {synthesized.first_name}"}
    # the repeated id counts once
    assert len({a["id"] for a in appointments}) == len(appointments)
    # and the unknown provider works a realistic week too
    for (_, day_text), group in by_provider_day(unknown).items():
        if date.fromisoformat(day_text).weekday() < 5:
            assert 6 <= len(group) <= 24


def test_empty_provider_list_gives_nothing() -> None:
    assert appointments_in_range(NY, *WEEK, []) == []


# --- time zones ----------------------------------------------------------------------------------


def test_new_york_offsets_follow_dst() -> None:
    january = appointments_in_range(NY, date(2025, 1, 15), date(2025, 1, 15))
    july = appointments_in_range(NY, date(2025, 7, 15), date(2025, 7, 15))
    assert january
    assert july
    assert {a["datetime"][-6:] for a in january} == {"-05:00"}
    assert {a["datetime"][-6:] for a in july} == {"-04:00"}


def test_dst_change_week_in_new_york() -> None:
    # DST starts Sunday 2025-03-09 at 02:00: Saturday is still EST, Monday is EDT.
    appointments = appointments_in_range(NY, date(2025, 3, 3), date(2025, 3, 14))
    for a in appointments:
        expected = "-05:00" if a["datetime"][:10] < "2025-03-09" else "-04:00"
        assert a["datetime"].endswith(expected)
        assert_local(a["created_at"], NY.timezone)


def test_phoenix_keeps_standard_time() -> None:
    phoenix = clinic_for(7, "tok_generator", "America/Phoenix")
    appointments = appointments_in_range(phoenix, date(2025, 7, 14), date(2025, 7, 14))
    assert {a["datetime"][-6:] for a in appointments} == {"-07:00"}


def test_timezone_override_keeps_local_times() -> None:
    other = clinic_for(7, "tok_generator", "America/Los_Angeles")
    ny, la = appointments_in_range(NY, *WEEK), appointments_in_range(other, *WEEK)
    assert [a["datetime"][:19] for a in ny] == [a["datetime"][:19] for a in la]
    assert {a["datetime"][-6:] for a in la} == {"-08:00"}


def test_offset_is_exact_on_a_day_the_offset_changes() -> None:
    # Iran moved clocks at midnight on weekdays (2021-03-22 is a Monday): the day needs per-time offsets.
    tehran = clinic_for(7, "tok_generator", "Asia/Tehran")
    appointments = appointments_in_range(tehran, date(2021, 3, 19), date(2021, 3, 24))
    monday = [a for a in appointments if a["datetime"].startswith("2021-03-22")]
    assert monday
    assert {a["datetime"][-6:] for a in monday} == {"+04:30"}
    for a in appointments:
        assert_local(a["datetime"], tehran.timezone)
        assert_local(a["created_at"], tehran.timezone)


@pytest.mark.parametrize("start", [date(1, 1, 1), date(1883, 11, 18), date(9999, 12, 25)])
def test_extreme_dates_do_not_fail(start: date) -> None:
    end = min(start + timedelta(days=6), date.max)
    appointments = appointments_in_range(NY, start, end)
    assert appointments
    for a in appointments:
        assert DATETIME.match(a["datetime"])
        assert DATETIME.match(a["created_at"])
        assert assert_local(a["created_at"], NY.timezone) < assert_local(a["datetime"], NY.timezone)


@settings(max_examples=60, deadline=None, database=None)
@given(
    start=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 25)),
    length=st.integers(min_value=0, max_value=6),
    zone=st.sampled_from([*sorted(US_ZONES), "Europe/London", "Australia/Lord_Howe", "UTC"]),
)
def test_every_appointment_lies_inside_the_requested_local_dates(start: date, length: int, zone: str) -> None:
    clinic = clinic_for(7, "tok_generator", zone)
    end = start + timedelta(days=length)
    appointments = appointments_in_range(clinic, start, end)
    for a in appointments:
        assert start.isoformat() <= a["datetime"][:10] <= end.isoformat()
        assert assert_local(a["datetime"], zone) > assert_local(a["created_at"], zone)


# --- MRN history ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mrn", ["12345", "00042", "987654321", "mrn-ä", "\ud800", "😀" * 500, " ", "\x00"])
def test_mrn_history_shape(mrn: str) -> None:
    history = mrn_history(NY, mrn)
    assert 2 <= len(history) <= 15
    assert history == mrn_history(NY, mrn)
    providers = {p.ehr_id: p for p in NY.providers}
    moments = []
    for item in history:
        assert list(item) == MRN_KEYS
        assert EHR_ID.match(item["ehr_appointment_id"])
        assert DATETIME_MS.match(item["datetime"])
        assert DATETIME_MS.match(item["created_at"])
        assert re.fullmatch(r"[A-Z]{2,4} \([A-Za-z ]+\)", item["appointment_type"])
        assert item["status"] in STATUSES
        provider = providers[item["provider_ehr_id"]]
        assert (item["provider_first_name"], item["provider_last_name"]) == (
            provider.first_name,
            provider.last_name,
        )
        assert item["reason"]
        assert item["location"] in NY.locations
        assert isinstance(item["locked"], bool)
        assert item["created_by"] in NY.staff
        moment = assert_local(item["datetime"], NY.timezone)
        assert assert_local(item["created_at"], NY.timezone) < moment
        assert date(2023, 1, 1) <= moment.date() <= date(2026, 12, 31)
        assert moment.weekday() < 5
        moments.append(moment)
    assert moments == sorted(moments)
    assert len({i["ehr_appointment_id"] for i in history}) == len(history)


def test_mrn_histories_differ_and_look_realistic() -> None:
    histories = [mrn_history(NY, str(10000 + i)) for i in range(200)]
    assert len({json.dumps(h) for h in histories}) == len(histories)
    items = [i for h in histories for i in h]
    assert {i["appointment_type"] for i in items} >= {
        "OV (Office Visit)",
        "NP (New Patient)",
        "FU (Follow Up)",
    }
    assert {i["locked"] for i in items} == {True, False}
    assert not any(i["locked"] and i["status"].startswith(("PEN", "CONF")) for i in items)
    assert {len(h) for h in histories} >= {2, 15}


@settings(max_examples=200, deadline=None, database=None)
@given(mrn=st.text(min_size=1))
def test_any_mrn_gives_a_history(mrn: str) -> None:
    history = mrn_history(NY, mrn)
    assert 2 <= len(history) <= 15
    json.dumps(history)
