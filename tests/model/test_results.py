"""A job's result shaped by its behaviours: padding a large result."""

from __future__ import annotations

from mock_server.model.results import pad


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
