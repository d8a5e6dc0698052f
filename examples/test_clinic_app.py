"""Tests of the clinic app against cobalt-mock's pytest fixtures."""

from __future__ import annotations

import pytest
import requests
from clinic_app import Store, fetch_week, handle_webhook, webhook_app

from mock_server import CobaltMock, ServerThread


@pytest.mark.cobalt_mock(seed=7)
def test_a_fetched_week_is_stored(cobalt_mock: CobaltMock) -> None:
    job_id = fetch_week(cobalt_mock.base_url, cobalt_mock.headers, "2025-01-06", "2025-01-12")

    webhook = cobalt_mock.wait_for_webhook(job_id)  # returns as soon as it arrives
    store: Store = {}
    status = handle_webhook(
        webhook.body, webhook.headers["cobalt-verification"], cobalt_mock.webhook_secret, store
    )

    assert status == 200
    assert len(store[job_id]) == webhook.payload["data"]["appointment_count"] > 0


def test_a_forged_webhook_is_refused(cobalt_mock: CobaltMock) -> None:
    job_id = fetch_week(cobalt_mock.base_url, cobalt_mock.headers, "2025-01-06", "2025-01-06")
    webhook = cobalt_mock.wait_for_webhook(job_id)
    forged = webhook.body.replace(b'"success":true', b'"success":false')
    store: Store = {}

    assert handle_webhook(forged, webhook.headers["cobalt-verification"], "whsec_x", store) == 401
    assert store == {}


def test_more_than_seven_days_is_refused(cobalt_mock: CobaltMock) -> None:
    with pytest.raises(requests.HTTPError, match="400"):
        fetch_week(cobalt_mock.base_url, cobalt_mock.headers, "2025-01-01", "2025-01-08")


def test_the_fake_posts_to_our_own_endpoint(cobalt_mock: CobaltMock) -> None:
    store: Store = {}
    with ServerThread(webhook_app(cobalt_mock.webhook_secret, store)) as ours:
        cobalt_mock.register_webhook(ours.url + "/webhooks/cobalt")
        job_id = fetch_week(cobalt_mock.base_url, cobalt_mock.headers, "2025-01-06", "2025-01-12")
        job = cobalt_mock.wait_for_job(job_id)  # every delivery attempt made

    assert [a.status_code for a in job.attempts if a.url.startswith(ours.url)] == [200]
    webhook = cobalt_mock.wait_for_webhook(job_id)  # the built-in receiver got it too
    assert len(store[job_id]) == webhook.payload["data"]["appointment_count"]
