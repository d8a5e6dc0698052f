"""The completion webhook: a large result padded, the signature chosen by the job's behaviours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mock_server.delivery.dispatcher import deliveries
from mock_server.delivery.webhook import pad, signing_key
from mock_server.model.jobs import FetchRequest, Job


def _job(**behaviours: dict[str, Any]) -> Job:
    request = FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    return Job("job_x", "tok", "user_x", request, dt.datetime.now(dt.UTC), 0.0, behaviours=behaviours)


def test_signing_key_choices() -> None:
    assert signing_key(_job(), "whsec_now", None) == "whsec_now"
    assert signing_key(_job(bad_signature={}), "whsec_now", None) not in ("whsec_now", "")
    assert signing_key(_job(old_secret={}), "whsec_now", "whsec_old") == "whsec_old"
    assert signing_key(_job(old_secret={}), "whsec_now", None) == "whsec_now"  # nothing older yet
    assert deliveries(_job(duplicate_delivery={})) == 2
    assert deliveries(_job()) == 1


def test_pad_keeps_order_and_makes_unique_ids() -> None:
    items = [{"id": "appt_a", "n": 1}, {"id": "appt_b", "n": 2}]
    padded = pad(items, 5, "id")
    assert [p["n"] for p in padded] == [1, 1, 1, 2, 2]
    assert len({p["id"] for p in padded}) == 5
    assert all(p["id"].startswith("appt_") for p in padded)
    assert pad(items, 5, "id") == padded  # stable
    assert pad([], 5, "id") == []
    assert pad(items, 1, "id") is items


def test_pad_avoids_ids_already_taken() -> None:
    items = [{"ehr_appointment_id": "12345678"}]
    first = pad(items, 2, "ehr_appointment_id")[1]["ehr_appointment_id"]
    items.append({"ehr_appointment_id": first})
    padded = pad(items, 4, "ehr_appointment_id")
    ids = [p["ehr_appointment_id"] for p in padded]
    assert len(set(ids)) == 4
    assert all(i.isdigit() and len(i) == 8 for i in ids)
