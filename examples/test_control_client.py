"""The control API from Python: MockClient speaks /_mock/* to any running fake."""

from mock_server import MockClient


def test_scenarios_hold_and_the_journal(cobalt_mock):
    with MockClient(cobalt_mock.url) as mock:  # e.g. MockClient("http://127.0.0.1:8765")
        mock.add_scenario("ehr_failure", match={"search_by": "mrn"}, times=1)
        mock.add_scenario("api_429", params={"retry_after": 5}, probability=0.1)
        assert [s["behaviour"] for s in mock.scenarios()] == ["ehr_failure", "api_429"]

        mock.hold()
        job_id = cobalt_mock.fetch({"search_by": "mrn", "mrn": "10023"})
        assert mock.job(job_id)["status"] == "held"
        assert mock.release() == [job_id]
        assert cobalt_mock.wait_for_webhook(job_id).payload["data"]["success"] is False
        cobalt_mock.wait_for_job(job_id)  # the attempt is journaled once the receiver has answered

        kinds = [entry["kind"] for entry in mock.requests(job_id=job_id)]
        assert "delivery" in kinds
        mock.reset()
        assert mock.scenarios() == []
