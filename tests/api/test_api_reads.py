"""Polling (`/v1/webhook-events`) and the appointment cache (`/v1/appointments`); webhook management is
in ``test_webhook_api``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from mock_server.testing.receiver import WebhookReceiver
from tests.api.test_app import error
from tests.conftest import WEEK, Fake


def test_events_are_empty_before_and_recorded_without_any_webhook(fake: Fake) -> None:
    page = fake.events(job_id="job_unknown")
    assert page == {
        "success": True,
        "webhook_events": [],
        "pagination": {"current_page": 1, "total_pages": 0, "total_count": 0, "page_size": 50},
    }
    job_id = fake.fetch().json()["job_id"]
    fake.state.wait_for_job(job_id, timeout=10)
    (row,) = fake.events(job_id=job_id)["webhook_events"]
    assert list(row) == [
        "event_id",
        "event_type",
        "webhook_url",
        "delivery_status",
        "data",
        "created_at",
        "job_id",
        "access_token_reference_id",
    ]
    assert (row["event_type"], row["webhook_url"], row["delivery_status"]) == (
        "appointment.live_fetch_completed",
        None,
        "failed",
    )
    assert row["data"]["appointment_count"] == len(row["data"]["appointments"])


def test_event_data_is_the_delivered_data(fake: Fake, receiver: WebhookReceiver) -> None:
    fake.register(receiver.url)
    job_id = fake.fetch().json()["job_id"]
    delivery = receiver.wait_for_webhook(job_id, timeout=10)
    fake.state.wait_for_job(job_id, timeout=10)
    (row,) = fake.events(job_id=job_id)["webhook_events"]
    assert row["data"] == delivery.payload["data"]
    assert row["event_id"] == delivery.payload["id"]
    assert row["access_token_reference_id"] == delivery.payload["access_token_reference_id"]
    assert row["delivery_status"] == "success"
    assert fake.events(delivery_status="success")["pagination"]["total_count"] == 1
    assert fake.events(delivery_status="failed")["pagination"]["total_count"] == 0


def test_events_pagination_sort_and_filters(fake: Fake) -> None:
    ids = [fake.fetch({"search_by": "mrn", "mrn": str(n)}).json()["job_id"] for n in range(5)]
    for job_id in ids:
        fake.state.wait_for_job(job_id, timeout=10)
    newest_first = [r["job_id"] for r in fake.events()["webhook_events"]]
    assert newest_first == ids[::-1]
    oldest_first = [r["job_id"] for r in fake.events(sort="created_at")["webhook_events"]]
    assert oldest_first == ids
    page2 = fake.events(page=2, page_size=2)
    assert [r["job_id"] for r in page2["webhook_events"]] == ids[::-1][2:4]
    assert page2["pagination"] == {"current_page": 2, "total_pages": 3, "total_count": 5, "page_size": 2}
    assert fake.events(page=9)["webhook_events"] == []
    assert fake.events(event_type="other.event")["pagination"]["total_count"] == 0
    assert fake.events(event_type="appointment.live_fetch_completed")["pagination"]["total_count"] == 5
    today = fake.events()["webhook_events"][0]["created_at"][:10]
    assert fake.events(start_date=today, end_date=today)["pagination"]["total_count"] == 5
    assert fake.events(start_date="2000-01-01", end_date="2000-01-02")["pagination"]["total_count"] == 0


def test_events_are_scoped_to_the_access_token(fake: Fake) -> None:
    job_id = fake.fetch().json()["job_id"]
    fake.state.wait_for_job(job_id, timeout=10)
    other = fake.http.get("/v1/webhook-events", params={"job_id": job_id}, headers={"access_token": "tok_b"})
    assert other.json()["webhook_events"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page": "0"}, "Invalid page"),
        ({"page": "x"}, "Invalid page"),
        ({"page_size": "101"}, "Invalid page_size"),
        ({"page_size": "0"}, "Invalid page_size"),
        ({"delivery_status": "sent"}, "Invalid delivery_status"),
        ({"sort": "created"}, "Invalid sort"),
        ({"start_date": "yesterday"}, "Invalid date format"),
    ],
)
def test_events_reject_bad_query(fake: Fake, params: dict[str, str], fragment: str) -> None:
    assert fragment in error(fake.http.get("/v1/webhook-events", params=params), 400)


def test_appointment_cache_serves_what_fetches_wrote(fake: Fake) -> None:
    def cached(**params: str) -> list[dict[str, object]]:
        response = fake.http.get("/v1/appointments", params={**WEEK, **params})
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["success", "appointments"]
        result: list[dict[str, object]] = body["appointments"]
        return result

    assert cached() == []
    job_id = fake.fetch().json()["job_id"]
    job = fake.state.wait_for_job(job_id, timeout=10)
    everything = cached()
    delivered = job.payload["data"]["appointments"]
    assert [a["id"] for a in everything] == [a["id"] for a in delivered]
    first = everything[0]
    assert "note" not in first
    assert "note" in cached(include_note="true")[0]
    assert "note" not in cached(include_note="")[0]  # an empty parameter is one left out
    for key in ("datetime", "status", "appointment_type", "provider_ehr_id", "location"):
        assert first[key] == delivered[0][key]
    assert all(
        a["patient_mrn"] == first["patient_mrn"] for a in cached(patient_mrn=str(first["patient_mrn"]))
    )
    fragment = str(first["patient_last_name"])[1:4].upper()
    by_name = cached(patient_name=fragment)
    assert first["id"] in [a["id"] for a in by_name]
    assert all(fragment.casefold() in str(a["patient_name"]).casefold() for a in by_name)
    phone_digits = "".join(ch for ch in str(first["patient_phone"]) if ch.isdigit())
    assert first["id"] in [a["id"] for a in cached(patient_phone=phone_digits)]
    modes = {a["appointment_mode"] for a in cached(appointment_mode="telemedicine")}
    assert modes <= {"telemedicine"}
    one_day = fake.http.get("/v1/appointments", params={"start_date": "2025-01-07", "end_date": "2025-01-07"})
    assert {a["datetime"][:10] for a in one_day.json()["appointments"]} == {"2025-01-07"}
    other_token = fake.http.get("/v1/appointments", params=WEEK, headers={"access_token": "tok_b"})
    assert other_token.json()["appointments"] == []


def test_mrn_fetches_do_not_touch_the_cache(fake: Fake) -> None:
    job_id = fake.fetch({"search_by": "mrn", "mrn": "1"}).json()["job_id"]
    fake.state.wait_for_job(job_id, timeout=10)
    assert fake.state.appointments("tok_a", dt.date.min, dt.date.max) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "Missing required parameters: start_date, end_date."),
        ({"start_date": "2025-01-01"}, "Missing required parameters: end_date."),
        (
            {"start_date": "2025-1-1", "end_date": "2025-01-02"},
            "Invalid date format. Use ISO format (YYYY-MM-DD).",
        ),
        (
            {**WEEK, "appointment_mode": "home"},
            "Invalid appointment_mode. Must be one of: office, telemedicine.",
        ),
    ],
)
def test_appointment_cache_query_errors(fake: Fake, params: dict[str, str], message: str) -> None:
    assert error(fake.http.get("/v1/appointments", params=params), 400) == message


def test_health_and_openapi(fake: Fake) -> None:
    health = fake.http.get("/_mock/health", headers={"client_id": "", "access_token": ""})
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    doc = fake.http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/v1/appointments/fetch" in doc["paths"]


def test_the_cache_keeps_at_most_max_cached_appointments(serve: Callable[..., Fake]) -> None:
    fake = serve(max_cached_appointments=50)
    for day in ("2025-01-06", "2025-01-07"):
        job_id = fake.fetch({"start_date": day, "end_date": day}).json()["job_id"]
        fake.state.wait_for_job(job_id, timeout=10)
    assert len(fake.state.appointments("tok_a", dt.date.min, dt.date.max)) == 50
    newest = fake.http.get("/v1/appointments", params={"start_date": "2025-01-07", "end_date": "2025-01-07"})
    assert len(newest.json()["appointments"]) == 50  # the oldest (the 6th's) went first
