"""Per-test settings, scenarios and held jobs, from the marker."""

import pytest

pytestmark = pytest.mark.cobalt_mock(seed=7)  # every test in the module; a nearer marker wins


@pytest.mark.cobalt_mock(delay=0.2, webhook_secret="whsec_test")
def test_a_slower_fetch_signed_with_our_secret(cobalt_mock):
    assert cobalt_mock.webhook_secret == "whsec_test"
    webhook = cobalt_mock.wait_for_webhook(cobalt_mock.fetch())
    assert webhook.signature_valid


@pytest.mark.cobalt_mock(scenarios=[{"behaviour": "ehr_failure", "times": 1}])
def test_my_app_reports_ehr_outages(cobalt_mock):
    data = cobalt_mock.wait_for_webhook(cobalt_mock.fetch()).payload["data"]
    assert data["success"] is False
    assert data["failure_reason"]


@pytest.mark.cobalt_mock(hold=True)
def test_my_app_shows_a_pending_sync(cobalt_mock):
    job_id = cobalt_mock.fetch()
    assert cobalt_mock.job(job_id).status == "held"
    assert cobalt_mock.release() == [job_id]
    assert cobalt_mock.wait_for_webhook(job_id)
