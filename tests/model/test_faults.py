"""Every behaviour, end to end over real HTTP, triggered each way a test can: a scenario through the
control API, the ``X-Cobalt-Mock-Scenario`` header, a magic MRN and a magic provider id.

Webhooks are awaited with the receiver (no sleeps); server-side state is read through the control API.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mock_server import resources
from mock_server.delivery.webhook import verify
from mock_server.model.behaviours import BEHAVIOURS
from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.testing.client import MockClient
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import WEEK, Fake

TRIGGERS = ("control", "header", "mrn", "provider")
DAY = {"start_date": "2025-01-06", "end_date": "2025-01-06"}


@dataclass
class Env:
    fake: Fake
    receiver: WebhookReceiver
    client: MockClient

    def trigger(self, how: str, behaviour: str, value: object = None, **params: Any) -> httpx.Response:
        """One fetch that gets ``behaviour`` (with ``value`` for its main parameter) the ``how`` way."""
        spec = BEHAVIOURS[behaviour]
        if how == "control":
            if value is not None:
                assert spec.primary is not None
                params[spec.primary] = value
            self.client.add_scenario(behaviour, params=params, times=1)
            return self.fake.fetch()
        suffix = "" if value is None else f"={value}"
        if how == "header":
            return self.fake.fetch(headers={"x-cobalt-mock-scenario": behaviour + suffix})
        if how == "mrn":
            mrn = "mock-" + behaviour.replace("_", "-") + ("" if value is None else f"-{value}")
            return self.fake.fetch({"search_by": "mrn", "mrn": mrn})
        provider = "prov_mock_" + behaviour + ("" if value is None else f"_{value}")
        return self.fake.fetch({"search_by": "provider", **DAY, "provider_ids": [provider]})

    def finished(self, job_id: str) -> dict[str, Any]:
        """The job once every delivery attempt is recorded (a receiver sees a POST before that)."""
        self.fake.state.wait_for_job(job_id)
        return self.client.job(job_id)

    def accepted(self, response: httpx.Response) -> str:
        assert response.status_code == 202, response.text
        job_id: str = response.json()["job_id"]
        return job_id


@pytest.fixture
def env(receiver: WebhookReceiver, serve: Callable[..., Fake]) -> Iterator[Env]:
    fake = serve(retry_delay=0.01)
    fake.register(receiver.url)
    with MockClient(fake.url) as client:
        yield Env(fake, receiver, client)


def valid(payload: Any) -> bool:
    """Valid for its mode's schema (the anyOf ``webhook`` schema is slow on thousands of items)."""
    data = payload["data"]
    name = "mrn" if data.get("search_by") == "mrn" else "date-range"
    return bool(resources.validator(f"webhook-{name}").is_valid(payload))


def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Server-side state that has no event to wait on (never a webhook: those use the receiver)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# --- the result ------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRIGGERS)
def test_ehr_failure_sends_the_failure_webhook(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "ehr_failure"))
    data = env.receiver.wait_for_webhook(job_id).payload["data"]
    assert data["success"] is False
    assert data["appointment_count"] == 0
    assert data["appointments"] == []
    assert data["failure_reason"] == BEHAVIOURS["ehr_failure"].params["failure_reason"].default
    assert data["reasons"] == [{"code": "ehr_unavailable", "description": "The EHR did not respond in time."}]
    assert resources.validator("webhook-failure").is_valid(env.receiver.wait_for_webhook(job_id).payload)
    assert env.client.job(job_id)["behaviours"] == {"ehr_failure": BEHAVIOURS["ehr_failure"].defaults()}


def test_ehr_failure_reason_and_reasons_are_params(env: Env) -> None:
    reasons = [{"code": "ehr_auth", "description": "The EHR login expired."}]
    env.client.add_scenario("ehr_failure", params={"failure_reason": "Login expired", "reasons": reasons})
    job_id = env.accepted(env.fake.fetch({"search_by": "mrn", "mrn": "1234"}))
    data = env.receiver.wait_for_webhook(job_id).payload["data"]
    assert (data["failure_reason"], data["reasons"]) == ("Login expired", reasons)
    assert (data["search_by"], data["mrn"]) == ("mrn", "1234")


@pytest.mark.parametrize("how", TRIGGERS)
def test_empty_result(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "empty"))
    payload = env.receiver.wait_for_webhook(job_id).payload
    assert payload["data"]["success"] is True
    assert payload["data"]["appointment_count"] == 0
    assert payload["data"]["appointments"] == []
    assert valid(payload)


@pytest.mark.parametrize("how", TRIGGERS)
def test_large_result(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "large", 3000))
    payload = env.receiver.wait_for_webhook(job_id).payload
    items = payload["data"]["appointments"]
    assert payload["data"]["appointment_count"] == len(items) == 3000
    key = "ehr_appointment_id" if how == "mrn" else "id"
    assert len({item[key] for item in items}) == 3000
    assert valid(payload)
    if how != "mrn":
        request = env.client.job(job_id)["request"]
        assert all(request["start_date"] <= i["datetime"][:10] <= request["end_date"] for i in items)


def test_large_default_count_and_the_cache(env: Env) -> None:
    env.client.add_scenario("large")
    job_id = env.accepted(env.fake.fetch())
    payload = env.receiver.wait_for_webhook(job_id).payload
    assert payload["data"]["appointment_count"] == 2000
    cached = env.fake.http.get("/v1/appointments", params=WEEK).json()["appointments"]
    assert len(cached) == 2000


# --- timing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRIGGERS)
def test_slow_job_takes_the_given_delay(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "slow", 7.5))
    job = env.client.job(job_id)
    assert job["delay"] == 7.5
    assert job["status"] == "scheduled"
    created = dt.datetime.fromisoformat(job["created_at"])
    assert dt.datetime.fromisoformat(job["due_at"]) - created == dt.timedelta(seconds=7.5)
    env.client.complete(job_id)  # rather than wait 7.5 s
    assert env.receiver.wait_for_webhook(job_id)


def test_slow_takes_a_range_or_lognormal_drawn_from_the_seed(env: Env) -> None:
    env.client.add_scenario("slow", params={"delay": "lognormal:30:0.5"})
    first = env.client.job(env.accepted(env.fake.fetch()))["delay"]
    env.client.reset()
    env.client.add_scenario("slow", params={"delay": "lognormal:30:0.5"})
    again = env.client.job(env.accepted(env.fake.fetch()))["delay"]
    assert first == again != 30
    env.client.clear_scenarios()
    env.client.add_scenario("slow", params={"delay": "100..200"}, times=1)
    assert 100 <= env.client.job(env.accepted(env.fake.fetch()))["delay"] <= 200


@pytest.mark.parametrize("how", TRIGGERS)
def test_never_complete_until_completed_on_demand(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "never_complete"))
    assert env.client.job(job_id)["status"] == "stalled"
    assert env.client.jobs(status="stalled")[0]["job_id"] == job_id
    assert env.client.release() == []  # a release does not finish it
    assert env.receiver.call_count == 0
    assert env.client.complete(job_id)["status"] == "completed"
    assert env.receiver.wait_for_webhook(job_id)


# --- the API call ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRIGGERS)
def test_api_429_with_retry_after(env: Env, how: str) -> None:
    response = env.trigger(how, "api_429", 7)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"success": False, "message": "Too many requests. Please retry later."}
    assert env.client.jobs() == []


@pytest.mark.parametrize("how", TRIGGERS)
def test_api_500(env: Env, how: str) -> None:
    response = env.trigger(how, "api_500")
    assert response.status_code == 500
    assert response.json() == {"success": False, "message": "Internal server error."}
    assert env.client.jobs() == []


@pytest.mark.parametrize("how", TRIGGERS)
def test_api_timeout_holds_the_call_then_answers_504(env: Env, how: str) -> None:
    started = time.monotonic()
    response = env.trigger(how, "api_timeout", 0.3)
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 504
    assert response.json() == {"success": False, "message": "Gateway timeout."}
    assert env.client.jobs() == []


def test_api_timeout_ends_when_the_client_gives_up(env: Env) -> None:
    env.client.add_scenario("api_timeout")  # 30 s by default
    with pytest.raises(httpx.ReadTimeout):
        env.fake.fetch(timeout=0.3)
    eventually(lambda: not env.fake.state.holds)
    started = time.monotonic()
    env.fake.thread.stop()  # nothing in flight: the held request noticed the disconnect
    assert time.monotonic() - started < 3


def test_api_timeout_ends_on_reset(env: Env) -> None:
    env.client.add_scenario("api_timeout", params={"seconds": 60})
    answers: list[httpx.Response] = []
    worker = _in_thread(lambda: answers.append(env.fake.fetch()))
    eventually(lambda: bool(env.fake.state.holds))
    env.client.reset("someone_else")  # another token's reset leaves it held
    assert env.fake.state.holds
    env.client.reset()
    worker.join(5)
    assert [r.status_code for r in answers] == [504]


# --- delivery --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", TRIGGERS)
def test_duplicate_delivery(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "duplicate_delivery"))
    first, second = env.receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert first.body == second.body
    assert first.event_id == second.event_id
    assert first.headers["cobalt-verification"] == second.headers["cobalt-verification"]
    assert first.attempt == second.attempt == 1
    assert first.signature_valid
    assert second.signature_valid
    job = env.finished(job_id)
    assert [(a["delivery"], a["attempt"]) for a in job["attempts"]] == [(1, 1), (2, 1)]


@pytest.mark.parametrize("how", TRIGGERS)
def test_out_of_order_is_delivered_after_the_next_job(env: Env, how: str) -> None:
    late = env.accepted(env.trigger(how, "out_of_order"))
    assert env.client.job(late)["behaviours"]["out_of_order"] == {"max_wait": 10.0}
    early = env.accepted(env.fake.fetch())
    got = env.receiver.wait_for(lambda d: d.job_id in (late, early), count=2)
    assert [d.job_id for d in got] == [early, late]
    late_job, early_job = env.finished(late), env.finished(early)
    # The late job completed first (its event and timestamp are older); only its delivery waited.
    assert late_job["completed_at"] <= early_job["completed_at"]
    assert late_job["attempts"][0]["started_at"] >= early_job["attempts"][0]["started_at"]


def test_out_of_order_waits_only_for_the_same_access_token_and_at_most_max_wait(env: Env) -> None:
    env.client.add_scenario("out_of_order", params={"max_wait": 0.3}, times=1)
    late = env.accepted(env.fake.fetch())
    other = env.accepted(env.fake.fetch(headers={"access_token": "tok_other"}))
    got = env.receiver.wait_for(lambda d: d.job_id in (late, other), count=2)
    assert [d.job_id for d in got] == [other, late]  # delivered anyway, after max_wait
    assert env.finished(late)["status"] == "completed"


def test_out_of_order_goes_at_once_if_a_later_job_was_already_delivered(env: Env) -> None:
    env.client.hold()
    late = env.accepted(env.fake.fetch(headers={"x-cobalt-mock-scenario": "out_of_order"}))
    early = env.accepted(env.fake.fetch())
    env.client.complete(early)
    started = time.monotonic()
    env.client.complete(late)  # answers after the delivery: no max_wait spent
    assert time.monotonic() - started < 5
    assert [d.job_id for d in env.receiver.deliveries] == [early, late]


@pytest.mark.parametrize("how", TRIGGERS)
def test_bad_signature(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "bad_signature"))
    delivery = env.receiver.wait_for_webhook(job_id)
    signature = delivery.headers["cobalt-verification"]
    assert len(signature) == 64
    assert int(signature, 16) >= 0
    assert delivery.signature_valid is False
    assert delivery.reserialized_valid is False


@pytest.mark.parametrize("how", TRIGGERS)
def test_old_secret_rotates_first_when_there_is_no_previous_secret(env: Env, how: str) -> None:
    job_id = env.accepted(env.trigger(how, "old_secret"))
    delivery = env.receiver.wait_for_webhook(job_id)
    assert delivery.signature_valid  # the receiver only knows the start-up secret...
    current = env.fake.http.get("/v1/webhook").json()["webhook_secret_key"]
    assert current != DEFAULT_WEBHOOK_SECRET  # ...which is now the previous one
    assert not verify(current, delivery.body, delivery.headers["cobalt-verification"])


def test_old_secret_uses_the_previous_secret_after_a_rotation(env: Env) -> None:
    rotated = env.fake.http.post("/v1/webhook/rotate-secret").json()["webhook_secret_key"]
    env.client.add_scenario("old_secret")
    job_id = env.accepted(env.fake.fetch())
    delivery = env.receiver.wait_for_webhook(job_id)
    assert delivery.signature_valid
    assert env.fake.http.get("/v1/webhook").json()["webhook_secret_key"] == rotated  # no new rotation


def test_behaviours_combine(env: Env) -> None:
    env.client.add_scenario("duplicate_delivery", times=1)
    job_id = env.accepted(env.fake.fetch(headers={"x-cobalt-mock-scenario": "bad_signature, empty"}))
    got = env.receiver.wait_for(lambda d: d.job_id == job_id, count=2)
    assert all(d.signature_valid is False and d.payload["data"]["appointments"] == [] for d in got)
    assert set(env.client.job(job_id)["behaviours"]) == {"bad_signature", "empty", "duplicate_delivery"}


# --- units -----------------------------------------------------------------------------------


def _in_thread(fn: Callable[[], object]) -> Any:
    import threading

    thread = threading.Thread(target=fn)
    thread.start()
    return thread
