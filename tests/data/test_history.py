"""MRN histories beyond their shape (tests/data/test_generator.py): how visits spread over the window, time
zones (including a zone that switches on a weekday), and unique EHR ids."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from mock_server.data import history
from mock_server.data.history import mrn_history
from mock_server.data.roster import clinic_for

NY = clinic_for(7, "tok_generator", "America/New_York")


def offset_ok(stamp: str, zone: str) -> bool:
    moment = datetime.fromisoformat(stamp)
    expected = moment.replace(tzinfo=ZoneInfo(zone)).utcoffset()
    assert expected is not None
    return moment.utcoffset() == timedelta(minutes=round(expected.total_seconds() / 60))


def test_visits_spread_over_weekdays_and_years() -> None:
    items = [i for n in range(1500) for i in mrn_history(NY, f"spread-{n}")]
    weekdays = Counter(date.fromisoformat(i["datetime"][:10]).weekday() for i in items)
    years = Counter(i["datetime"][:4] for i in items)
    assert set(weekdays) == {0, 1, 2, 3, 4}
    assert max(weekdays.values()) < 0.25 * len(items)  # no weekday takes the weekend's share
    assert set(years) == {"2023", "2024", "2025", "2026"}
    assert min(years.values()) > 0.2 * len(items)


def test_a_patient_mostly_sees_one_provider() -> None:
    shares = []
    for n in range(300):
        visits = mrn_history(NY, f"loyal-{n}")
        shares.append(Counter(i["provider_ehr_id"] for i in visits).most_common(1)[0][1] / len(visits))
    assert 0.6 < sum(shares) / len(shares) < 0.95
    assert min(shares) < 1  # and sometimes someone else


def test_timezone_override_keeps_local_times() -> None:
    la = clinic_for(7, "tok_generator", "America/Los_Angeles")
    for mrn in ("12345", "a-b-c", "ü"):
        ours, theirs = mrn_history(NY, mrn), mrn_history(la, mrn)
        for a, b in zip(ours, theirs, strict=True):
            assert a["datetime"][:23] == b["datetime"][:23]
            assert a["created_at"][:23] == b["created_at"][:23]
            assert offset_ok(b["datetime"], "America/Los_Angeles")
            assert offset_ok(b["created_at"], "America/Los_Angeles")
        assert {k: v for k, v in ours[0].items() if k not in ("datetime", "created_at")} == {
            k: v for k, v in theirs[0].items() if k not in ("datetime", "created_at")
        }


def test_offsets_are_exact_where_the_zone_switches_on_a_weekday() -> None:
    # Cairo moves its clocks at midnight on a Friday in late April: those days take the exact path.
    cairo = clinic_for(7, "tok_generator", "Africa/Cairo")
    switch_days = {"2023-04-28", "2024-04-26", "2025-04-25", "2026-04-24"}
    on_switch_days = 0
    for n in range(400):
        for item in mrn_history(cairo, f"cairo-{n}"):
            assert offset_ok(item["datetime"], "Africa/Cairo"), item
            assert offset_ok(item["created_at"], "Africa/Cairo"), item
            on_switch_days += item["datetime"][:10] in switch_days
    assert on_switch_days


def test_a_repeated_ehr_id_moves_to_a_free_one() -> None:
    numbers = [10_000_000, 99_999_999, 10_000_000, 99_999_999]
    assert history._distinct(numbers) == [10_000_000, 99_999_999, 10_000_001, 10_000_002]
