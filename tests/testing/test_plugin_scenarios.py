"""Every behaviour, set per test with the pytest marker (the control API and magic values are in
test_faults): what a user of the plugin writes, run against the plugin's own session fake."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from mock_server.testing.handle import CobaltMock

WEEK = {"start_date": "2025-01-06", "end_date": "2025-01-12"}


def scenario(behaviour: str, **params: Any) -> Any:
    return pytest.mark.cobalt_mock(scenarios=[{"behaviour": behaviour, "params": params, "times": 1}])


def post(cobalt_mock: CobaltMock, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        cobalt_mock.base_url + "/appointments/fetch",
        json=body or WEEK,
        headers=cobalt_mock.headers,
        timeout=10,
    )


@scenario("ehr_failure")
def test_ehr_failure(cobalt_mock: CobaltMock) -> None:
    data = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]
    assert data["success"] is False
    assert data["appointment_count"] == 0
    assert data["appointments"] == []
    assert data["failure_reason"]
    assert data["reasons"][0]["code"] == "ehr_unavailable"


@scenario("empty")
def test_empty(cobalt_mock: CobaltMock) -> None:
    data = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]
    assert (data["success"], data["appointment_count"], data["appointments"]) == (True, 0, [])


@scenario("large", count=2500)
def test_large(cobalt_mock: CobaltMock) -> None:
    data = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]
    assert data["appointment_count"] == len(data["appointments"]) == 2500
    assert len({a["id"] for a in data["appointments"]}) == 2500


@scenario("slow", delay=42)
def test_slow(cobalt_mock: CobaltMock) -> None:
    job_id = cobalt_mock.fetch()
    job = cobalt_mock.job(job_id)
    assert (job.delay, job.status) == (42.0, "scheduled")
    assert cobalt_mock.complete(job_id).status == "completed"  # rather than wait 42 s
    assert cobalt_mock.wait_for_webhook(job_id).payload["job_id"] == job_id


@scenario("never_complete")
def test_never_complete(cobalt_mock: CobaltMock) -> None:
    job_id = cobalt_mock.fetch()
    assert cobalt_mock.job(job_id).status == "stalled"
    assert cobalt_mock.release() == []
    assert cobalt_mock.receiver.call_count == 0
    cobalt_mock.complete(job_id)
    assert cobalt_mock.wait_for_webhook(job_id)


@scenario("api_429", retry_after=9)
def test_api_429(cobalt_mock: CobaltMock) -> None:
    response = post(cobalt_mock)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "9"
    assert response.json()["success"] is False
    assert cobalt_mock.jobs == []
    assert post(cobalt_mock).status_code == 202  # times=1: the next call goes through


@scenario("api_500")
def test_api_500(cobalt_mock: CobaltMock) -> None:
    response = post(cobalt_mock)
    assert response.status_code == 500
    assert response.json() == {"success": False, "message": "Internal server error."}
    assert cobalt_mock.jobs == []


@scenario("api_timeout", seconds=0.2)
def test_api_timeout(cobalt_mock: CobaltMock) -> None:
    started = time.monotonic()
    response = post(cobalt_mock)
    assert time.monotonic() - started >= 0.2
    assert response.status_code == 504
    assert cobalt_mock.jobs == []


@scenario("duplicate_delivery")
def test_duplicate_delivery(cobalt_mock: CobaltMock) -> None:
    job_id = cobalt_mock.fetch()
    first, second = cobalt_mock.receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert first.body == second.body
    assert first.event_id == second.event_id


@scenario("out_of_order")
def test_out_of_order(cobalt_mock: CobaltMock) -> None:
    late = cobalt_mock.fetch()
    early = cobalt_mock.fetch()
    got = cobalt_mock.receiver.wait_for(lambda d: d.job_id in (late, early), count=2)
    assert [d.job_id for d in got] == [early, late]


@scenario("bad_signature")
def test_bad_signature(cobalt_mock: CobaltMock) -> None:
    job_id = cobalt_mock.fetch()
    with pytest.raises(AssertionError, match="signature"):
        cobalt_mock.wait_for_webhook(job_id)
    delivery = cobalt_mock.wait_for_webhook(job_id, verify=False)
    assert delivery.signature_valid is False


@scenario("old_secret")
def test_old_secret(cobalt_mock: CobaltMock) -> None:
    before = cobalt_mock.webhook_secret
    delivery = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
    assert cobalt_mock.webhook_secret != before  # rotated first: the delivery used the old one
    assert delivery.signature_valid


@pytest.mark.cobalt_mock(hold=True)
def test_hold_then_release_and_redeliver(cobalt_mock: CobaltMock) -> None:
    job_id = cobalt_mock.fetch()
    assert cobalt_mock.job(job_id).status == "held"
    assert cobalt_mock.release() == [job_id]
    first = cobalt_mock.wait_for_webhook(job_id)
    cobalt_mock.wait_for_job(job_id)
    assert cobalt_mock.redeliver(job_id) == 2
    deliveries = cobalt_mock.receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert deliveries[1].body == first.body
    kinds = [entry["kind"] for entry in cobalt_mock.journal(job_id=job_id)]
    assert kinds.count("delivery") == 2


@pytest.mark.cobalt_mock(scenarios={"behaviour": "empty", "match": {"search_by": "mrn"}})
def test_a_single_scenario_dict_and_matching(cobalt_mock: CobaltMock) -> None:
    mrn = cobalt_mock.wait_for_webhook(cobalt_mock.fetch({"search_by": "mrn", "mrn": "77"})).payload["data"]
    week = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]
    assert mrn["appointment_count"] == 0
    assert week["appointment_count"] > 0


def test_scenarios_do_not_leak_between_tests(cobalt_mock: CobaltMock) -> None:
    cobalt_mock.add_scenario(behaviour="api_500")
    assert post(cobalt_mock).status_code == 500
    assert cobalt_mock.clear_scenarios() == 1
    assert post(cobalt_mock).status_code == 202


def test_no_scenario_from_an_earlier_test(cobalt_mock: CobaltMock) -> None:
    assert len(cobalt_mock.state.scenarios()) == 0
    assert post(cobalt_mock).status_code == 202
