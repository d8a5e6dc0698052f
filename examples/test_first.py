import httpx


def test_a_fetched_week_arrives_by_webhook(cobalt_mock):
    response = httpx.post(
        f"{cobalt_mock.base_url}/appointments/fetch",
        headers=cobalt_mock.headers,
        json={"start_date": "2025-01-06", "end_date": "2025-01-12"},
    )
    assert response.status_code == 202
    webhook = cobalt_mock.wait_for_webhook(response.json()["job_id"])  # no sleep: it returns on arrival
    assert webhook.signature_valid
    assert webhook.payload["data"]["appointment_count"] > 0
