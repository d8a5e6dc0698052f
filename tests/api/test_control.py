"""The /_mock/ control plane over real HTTP: auth, reset and namespacing, config, jobs, hold/release,
complete, redeliver, scenarios — and the same controls as ``MockState`` methods (the plugin's API)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import HEADERS, WEEK, Fake

TOKEN_B = {**HEADERS, "access_token": "tok_b"}


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    return body


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"success", "message"}
    assert body["success"] is False
    message: str = body["message"]
    return message


@pytest.fixture
def hooked(receiver: WebhookReceiver, serve: Callable[..., Fake]) -> tuple[Fake, WebhookReceiver]:
    fake = serve(retry_delay=0.01)
    fake.register(receiver.url)
    return fake, receiver


def job_id_of(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


# --- mounting and auth -----------------------------------------------------------------------


def test_control_token_is_required_when_set(serve: Callable[..., Fake]) -> None:
    fake = serve(control_token="sekret")
    message = error(httpx.get(f"{fake.url}/_mock/jobs"), 401)
    assert message == "Missing or invalid control token. Send the header authorization: Bearer <token>."
    wrong = httpx.get(f"{fake.url}/_mock/jobs", headers={"authorization": "Bearer nope"})
    assert error(wrong, 401) == message
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert error(httpx.get(f"{fake.url}/_mock/jobs", headers={"authorization": "Basic sekret"}), 401)
    ok(httpx.get(f"{fake.url}/_mock/jobs", headers={"authorization": "Bearer sekret"}))
    assert httpx.get(f"{fake.url}/_mock/health").status_code == 200  # health needs no token
    config = ok(httpx.get(f"{fake.url}/_mock/config", headers={"authorization": "bearer sekret"}))["config"]
    assert config["control_token"] == "***"


def test_control_can_be_switched_off_but_health_stays(serve: Callable[..., Fake]) -> None:
    fake = serve(control=False)
    assert error(httpx.post(f"{fake.url}/_mock/reset"), 404) == "Not found."
    assert error(httpx.get(f"{fake.url}/_mock/jobs"), 404) == "Not found."
    assert httpx.get(f"{fake.url}/_mock/health").json()["status"] == "ok"


def test_unknown_ids_are_404_in_cobalt_shape(fake: Fake) -> None:
    for method, path in [
        ("GET", "/_mock/jobs/job_nope"),
        ("POST", "/_mock/jobs/job_nope/complete"),
        ("POST", "/_mock/jobs/job_nope/redeliver"),
    ]:
        assert error(fake.http.request(method, path), 404) == "Job job_nope not found."
    assert error(fake.http.delete("/_mock/scenarios/scn_9"), 404) == "Scenario scn_9 not found."
    assert error(fake.http.put("/_mock/reset"), 405) == "Method not allowed."


def test_bodies_are_json_objects_of_bounded_size(serve: Callable[..., Fake]) -> None:
    fake = serve(max_body_bytes=100)
    assert error(fake.http.post("/_mock/reset", content=b"[1]"), 400) == "Request body must be a JSON object."
    assert error(fake.http.post("/_mock/reset", content=b"{"), 400) == "Request body must be valid JSON."
    big = b'{"access_token": "' + b"x" * 200 + b'"}'
    assert error(fake.http.post("/_mock/reset", content=big), 413) == "Request body too large."
    assert error(fake.http.post("/_mock/reset", json={"access_token": 5}), 400) == (
        "Invalid access_token. It must be a string."
    )
    # any content type, and an empty body, will do (curl -X POST)
    ok(fake.http.post("/_mock/reset", content=b"", headers={"content-type": "text/plain"}))
    ok(fake.http.post("/_mock/reset", content=b'{"access_token": ""}'))


# --- reset and namespacing -------------------------------------------------------------------


def test_reset_one_access_token_leaves_the_others(fake: Fake) -> None:
    fake.state.configure(delay=60)
    a = job_id_of(fake.fetch())
    b = job_id_of(fake.fetch(headers=TOKEN_B))
    fake.http.post("/_mock/scenarios", json={"behaviour": "empty", "match": {"access_token": "tok_a"}})
    fake.http.post("/_mock/scenarios", json={"behaviour": "empty", "match": {"access_token": "tok_b"}})
    fake.http.post("/_mock/jobs/hold", json={"access_token": "tok_a"})

    assert ok(fake.http.post("/_mock/reset", json={"access_token": "tok_a"}))["reset"] == "access_token"
    jobs = ok(fake.http.get("/_mock/jobs"))["jobs"]
    assert [j["job_id"] for j in jobs] == [b]
    assert error(fake.http.get(f"/_mock/jobs/{a}"), 404)
    entries = ok(fake.http.get("/_mock/requests"))["entries"]
    assert {e["access_token"] for e in entries} == {"***"}
    assert ok(fake.http.get("/_mock/requests", params={"access_token": "tok_a"}))["entries"] == []
    assert len(ok(fake.http.get("/_mock/requests", params={"access_token": "tok_b"}))["entries"]) == 1
    scenarios = ok(fake.http.get("/_mock/scenarios"))["scenarios"]
    assert [s["match"] for s in scenarios] == [{"access_token": "tok_b"}]
    assert not fake.state.holding("tok_a")
    assert fake.state.settings.delay.low == 60  # a token's reset keeps the config


def test_full_reset_is_a_fresh_server(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, _ = hooked
    fake.http.patch("/_mock/config", json={"delay": 60})
    fake.http.post("/v1/webhook/rotate-secret")
    fake.http.post("/v1/webhook", json={"webhook_url": "http://127.0.0.1:9/extra"})
    job_id_of(fake.fetch())
    fake.http.post("/_mock/scenarios", json={"behaviour": "empty"})
    fake.http.post("/_mock/jobs/hold", json={})

    assert ok(fake.http.post("/_mock/reset"))["reset"] == "all"
    assert ok(fake.http.get("/_mock/jobs"))["jobs"] == []
    assert ok(fake.http.get("/_mock/requests"))["entries"] == []
    assert ok(fake.http.get("/_mock/scenarios"))["scenarios"] == []
    assert ok(fake.http.get("/_mock/config"))["config"]["delay"] == "0"
    hooks = fake.http.get("/v1/webhook").json()
    assert hooks["webhook_urls"] == []  # registrations as at start-up (none were configured)
    assert hooks["webhook_secret_key"] == DEFAULT_WEBHOOK_SECRET
    assert not fake.state.holding("tok_a")


def test_jobs_are_listed_per_access_token_and_status(fake: Fake) -> None:
    fake.state.configure(delay=60)
    a = job_id_of(fake.fetch())
    b = job_id_of(fake.fetch(headers=TOKEN_B))
    listed = ok(fake.http.get("/_mock/jobs"))["jobs"]
    assert [j["job_id"] for j in listed] == [a, b]
    assert "attempts" not in listed[0]
    assert [
        j["job_id"] for j in ok(fake.http.get("/_mock/jobs", params={"access_token": "tok_b"}))["jobs"]
    ] == [b]
    assert ok(fake.http.get("/_mock/jobs", params={"status": "completed"}))["jobs"] == []
    assert len(ok(fake.http.get("/_mock/jobs", params={"status": "scheduled", "detail": "1"}))["jobs"]) == 2
    assert "attempts" in ok(fake.http.get("/_mock/jobs", params={"detail": "true"}))["jobs"][0]
    assert error(fake.http.get("/_mock/jobs", params={"status": "lost"}), 400).startswith("Invalid status.")
    assert error(fake.http.get("/_mock/jobs", params={"detail": "yes"}), 400).startswith("Invalid detail.")


def test_a_job_shows_request_due_time_and_every_attempt(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    receiver.respond_with(*[receiver.default.status(503)])
    job_id = job_id_of(fake.fetch())
    fake.state.wait_for_job(job_id)
    job = ok(fake.http.get(f"/_mock/jobs/{job_id}"))["job"]
    assert job["request"] == {"search_by": "date_range", **WEEK}
    assert job["status"] == "completed"
    assert job["due_at"] == job["created_at"]  # delay 0
    assert job["access_token"] == "***"
    first, second = job["attempts"]
    assert (first["attempt"], first["status_code"], second["attempt"], second["status_code"]) == (
        1,
        503,
        2,
        200,
    )
    delivered = receiver.deliveries[-1]
    assert second["body"].encode() == delivered.body
    assert second["headers"]["cobalt-verification"] == delivered.headers["cobalt-verification"]
    assert second["url"] == receiver.url
    assert second["duration_ms"] >= 0
    assert job["payload"]["id"] == job["event_id"] == second["headers"]["webhook-id"]


# --- config ----------------------------------------------------------------------------------


def test_config_is_read_and_patched_at_run_time(fake: Fake) -> None:
    config = ok(fake.http.get("/_mock/config"))["config"]
    assert config["delay"] == "0"
    assert config["api_latency"] == "0"
    changed = ok(fake.http.patch("/_mock/config", json={"delay": "50..60", "seed": "7", "max_journal": 3}))
    assert (changed["config"]["delay"], changed["config"]["seed"]) == ("50..60", 7)
    job = ok(fake.http.get(f"/_mock/jobs/{job_id_of(fake.fetch())}"))["job"]
    assert 50 <= job["delay"] <= 60  # new jobs use the new delay
    for _ in range(5):
        fake.http.get("/v1/webhook")
    assert len(ok(fake.http.get("/_mock/requests"))["entries"]) == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"delay": "soon"}, "Delay: delay must be seconds, a range like 1..5, or lognormal:M:S; got 'soon'."),
        ({"nope": 1}, "Unknown setting(s): nope."),
        ({"port": 1}, "Cannot be changed while running: port."),
        (
            {"webhook_secret": "x", "control": False},
            "Cannot be changed while running: control, webhook_secret.",
        ),
    ],
)
def test_bad_config_is_a_400(fake: Fake, values: dict[str, Any], message: str) -> None:
    assert error(fake.http.patch("/_mock/config", json=values), 400) == message
    assert fake.state.settings.delay.low == 0


# --- hold, release, complete -----------------------------------------------------------------


def test_hold_then_release_all(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    assert ok(fake.http.post("/_mock/jobs/hold"))["holding"] == "all"
    a = job_id_of(fake.fetch())
    b = job_id_of(fake.fetch(headers=TOKEN_B))
    assert [j["status"] for j in ok(fake.http.get("/_mock/jobs"))["jobs"]] == ["held", "held"]
    assert receiver.call_count == 0
    assert ok(fake.http.post("/_mock/jobs/release"))["released"] == [a, b]
    assert receiver.wait_for_webhook(a)
    assert receiver.wait_for_webhook(b)
    c = job_id_of(fake.fetch())  # no longer holding
    assert receiver.wait_for_webhook(c)


def test_hold_one_access_token(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    assert ok(fake.http.post("/_mock/jobs/hold", json={"access_token": "tok_a"}))["holding"] == "access_token"
    held = job_id_of(fake.fetch())
    free = job_id_of(fake.fetch(headers=TOKEN_B))
    assert receiver.wait_for_webhook(free)
    assert ok(fake.http.get(f"/_mock/jobs/{held}"))["job"]["status"] == "held"
    assert ok(fake.http.post("/_mock/jobs/release", json={"access_token": "tok_b"}))["released"] == []
    assert ok(fake.http.post("/_mock/jobs/release", json={"access_token": "tok_a"}))["released"] == [held]
    assert receiver.wait_for_webhook(held)


def test_release_keeps_the_due_time(fake: Fake) -> None:
    fake.state.configure(delay=300)
    fake.state.hold()
    job_id = job_id_of(fake.fetch())
    ok(fake.http.post("/_mock/jobs/release"))
    assert ok(fake.http.get(f"/_mock/jobs/{job_id}"))["job"]["status"] == "scheduled"
    assert fake.state.counts()["pending_jobs"] == 1


def test_complete_finishes_a_held_job_now_and_answers_after_delivery(
    hooked: tuple[Fake, WebhookReceiver],
) -> None:
    fake, receiver = hooked
    fake.http.post("/_mock/jobs/hold")
    job_id = job_id_of(fake.fetch())
    job = ok(fake.http.post(f"/_mock/jobs/{job_id}/complete"))["job"]
    assert job["status"] == "completed"
    assert [a["status_code"] for a in job["attempts"]] == [200]
    assert receiver.deliveries[0].job_id == job_id
    message = error(fake.http.post(f"/_mock/jobs/{job_id}/complete"), 409)
    assert message == f"Job {job_id} is already completed."


def test_complete_a_scheduled_job_without_waiting(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    fake.state.configure(delay=300)
    job_id = job_id_of(fake.fetch())
    job = ok(fake.http.post(f"/_mock/jobs/{job_id}/complete", params={"wait": "false"}))["job"]
    assert job["status"] in ("running", "completed")
    assert receiver.wait_for_webhook(job_id)
    assert fake.state.counts()["pending_jobs"] == 0


# --- redeliver -------------------------------------------------------------------------------


def test_redeliver_posts_the_same_event_again(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    job_id = job_id_of(fake.fetch())
    fake.state.wait_for_job(job_id)
    late = WebhookReceiver(secret=DEFAULT_WEBHOOK_SECRET)
    with late:
        fake.register(late.url)  # registered after the job completed: gets the redelivery
        body = ok(fake.http.post(f"/_mock/jobs/{job_id}/redeliver"))
        assert body["delivery"] == 2
        first, again = receiver.wait_for(lambda d: d.job_id == job_id, count=2)
        assert again.body == first.body
        assert again.event_id == first.event_id
        assert again.attempt == 1  # each delivery runs Cobalt's retry rule afresh
        assert again.signature_valid
        assert late.wait_for_webhook(job_id).body == first.body
        attempts = body["job"]["attempts"]
        assert sorted((a["delivery"], a["url"]) for a in attempts) == sorted(
            [(1, receiver.url), (2, receiver.url), (2, late.url)]
        )
        events = fake.events(job_id=job_id)["webhook_events"]
        assert {(e["webhook_url"], e["delivery_status"]) for e in events} == {
            (receiver.url, "success"),
            (late.url, "success"),
        }
        assert ok(fake.http.post(f"/_mock/jobs/{job_id}/redeliver", params={"wait": "0"}))["delivery"] is None
        fake.http.delete(f"/v1/webhook/{fake.http.get('/v1/webhook').json()['webhook_urls'][1]['id']}")
        fake.state.wait_for_job(job_id)


def test_redeliver_needs_a_completed_job(fake: Fake) -> None:
    fake.state.configure(delay=300)
    job_id = job_id_of(fake.fetch())
    message = error(fake.http.post(f"/_mock/jobs/{job_id}/redeliver"), 409)
    assert message == f"Job {job_id} has not completed, so it has no webhook to redeliver."


# --- scenarios -------------------------------------------------------------------------------


def test_scenarios_are_added_listed_and_removed(fake: Fake) -> None:
    added = ok(fake.http.post("/_mock/scenarios", json={"behaviour": "api_500", "times": 2}), 201)["scenario"]
    assert added == {
        "id": "scn_1",
        "behaviour": "api_500",
        "params": {},
        "match": {},
        "times": 2,
        "seen": 0,
        "used": 0,
        "remaining": 2,
    }
    fake.http.post("/_mock/scenarios", json={"behaviour": "empty", "match": {"access_token": "tok_b"}})
    fake.http.post("/_mock/scenarios", json={"behaviour": "large", "match": {"access_token": "tok_c"}})
    assert fake.fetch().status_code == 500
    listed = ok(fake.http.get("/_mock/scenarios"))["scenarios"]
    assert [(s["id"], s["used"], s["remaining"]) for s in listed] == [
        ("scn_1", 1, 1),
        ("scn_2", 0, None),
        ("scn_3", 0, None),
    ]
    only_b = ok(fake.http.get("/_mock/scenarios", params={"access_token": "tok_b"}))["scenarios"]
    assert [s["id"] for s in only_b] == ["scn_1", "scn_2"]  # scenarios for every token apply to b too
    assert ok(fake.http.delete("/_mock/scenarios/scn_1"))["removed"] == 1
    assert ok(fake.http.delete("/_mock/scenarios", params={"access_token": "tok_b"}))["removed"] == 1
    assert ok(fake.http.delete("/_mock/scenarios"))["removed"] == 1
    assert fake.fetch().status_code == 202


def test_an_exhausted_scenario_is_dropped(fake: Fake) -> None:
    fake.http.post("/_mock/scenarios", json={"behaviour": "api_500", "times": 1})
    assert fake.fetch().status_code == 500
    assert ok(fake.http.get("/_mock/scenarios"))["scenarios"] == []
    assert fake.fetch().status_code == 202


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"behaviour": "explode"}, "Unknown behaviour 'explode'; expected one of: ehr_failure, empty"),
        ({"behaviour": "slow", "params": {"delay": "x"}}, "Slow.delay: delay must be seconds"),
        ({"behaviour": "empty", "times": 0}, "Times: expected a number from 1 to 1e+06, got 0."),
        ({"behaviour": "empty", "match": {"mrn": 5}}, "Match.mrn must be a non-empty string."),
        ({}, "A scenario needs a behaviour."),
    ],
)
def test_invalid_scenarios_are_a_400(fake: Fake, scenario: dict[str, Any], message: str) -> None:
    assert error(fake.http.post("/_mock/scenarios", json=scenario), 400).startswith(message)


def test_a_bad_scenario_header_or_magic_value_is_a_400(fake: Fake) -> None:
    message = error(fake.fetch(headers={"x-cobalt-mock-scenario": "explode"}), 400)
    assert message.startswith("Invalid cobalt-mock scenario: unknown behaviour 'explode'")
    message = error(fake.fetch({"search_by": "mrn", "mrn": "mock-slow-soon"}), 400)
    assert message.startswith("Invalid cobalt-mock scenario: magic mrn 'mock-slow-soon': slow.delay:")
    assert fake.fetch({"search_by": "mrn", "mrn": "mock-patient-7"}).status_code == 202  # not magic


def test_behaviours_are_listed_with_their_magic_values(fake: Fake) -> None:
    listed = ok(fake.http.get("/_mock/behaviours"))["behaviours"]
    assert len(listed) == 12
    slow = next(b for b in listed if b["behaviour"] == "slow")
    assert slow == {
        "behaviour": "slow",
        "level": "job",
        "summary": slow["summary"],
        "params": {"delay": "30"},
        "magic_mrn": "mock-slow-N",
        "magic_provider_id": "prov_mock_slow_N",
    }


# --- the same controls as MockState methods, from the test's thread (the plugin's way) -------


def test_model_methods_work_on_the_fakes_loop(hooked: tuple[Fake, WebhookReceiver]) -> None:
    fake, receiver = hooked
    state = fake.state
    fake.call(state.hold, "tok_a")
    held = job_id_of(fake.fetch())
    assert [job.job_id for job in fake.call(state.release, "tok_a")] == [held]
    assert receiver.wait_for_webhook(held)

    scenario = fake.call(state.add_scenario, {"behaviour": "never_complete", "times": 1})
    assert scenario.id == "scn_1"
    stalled = job_id_of(fake.fetch())
    assert fake.call(state.job, stalled).status == "stalled"
    fake.call(state.complete_now, stalled)
    assert state.wait_for_job(stalled).status == "completed"
    fake.call(state.redeliver, stalled)
    assert len(receiver.wait_for(lambda d: d.job_id == stalled, count=2)) == 2
    assert [e.kind for e in state.journal(job_id=stalled)][:1] == ["request"]

    fake.call(state.add_scenario, {"behaviour": "empty"})
    assert fake.call(state.clear_scenarios) == 1
    fake.call(state.reset)
    assert len(fake.call(state.jobs)) == 0
    assert len(state.journal()) == 0


# --- webhooks and the clock ------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["guide", "reference"])
def test_webhooks_look_the_same_in_both_versions(serve: Callable[..., Fake], api: str) -> None:
    fake = serve(webhook_api=api)
    assert ok(fake.http.get("/_mock/webhooks")) == {"success": True, "webhook_api": api, "webhooks": []}
    added = ok(fake.http.post("/_mock/webhooks", json={"url": "http://127.0.0.1:9/a"}), 201)["webhook"]
    assert list(added) == ["id", "url", "secret", "valid_secrets"]
    assert added["valid_secrets"] == [added["secret"]]
    assert (added["secret"] == DEFAULT_WEBHOOK_SECRET) is (api == "guide")  # the account's, or its own
    other = ok(fake.http.post("/_mock/webhooks", json={"url": "http://127.0.0.1:9/b"}), 201)["webhook"]
    rotated = ok(fake.http.post(f"/_mock/webhooks/{added['id']}/rotate-secret"))["webhook"]
    assert rotated["secret"] != added["secret"]
    overlap = [rotated["secret"], added["secret"]] if api == "reference" else [rotated["secret"]]
    assert rotated["valid_secrets"] == overlap
    listed = {h["id"]: h for h in ok(fake.http.get("/_mock/webhooks"))["webhooks"]}
    shares = listed[other["id"]]["secret"] == rotated["secret"]
    assert shares is (api == "guide")  # the guide rotated the account's one secret
    assert ok(fake.http.delete(f"/_mock/webhooks/{other['id']}")) == {"success": True, "removed": 1}
    assert [h["id"] for h in ok(fake.http.get("/_mock/webhooks"))["webhooks"]] == [added["id"]]


def test_webhook_and_clock_errors(fake: Fake) -> None:
    assert error(fake.http.post("/_mock/webhooks", json={}), 400) == "Missing required parameters: url."
    assert error(fake.http.post("/_mock/webhooks", json={"url": "x"}), 400) == (
        "Invalid url. It must be an absolute http or https URL."
    )
    assert error(fake.http.post("/_mock/webhooks", json={"webhook_url": "http://h/"}), 400) == (
        "Unknown field(s): webhook_url; a webhook takes url."
    )
    assert error(fake.http.delete("/_mock/webhooks/wh_nope"), 404) == "Webhook wh_nope not found."
    assert error(fake.http.post("/_mock/webhooks/wh_nope/rotate-secret"), 404) == "Webhook wh_nope not found."
    for body in ({}, {"advance": 1, "at": 2}, {"seconds": 1}):
        assert "how far to move the fake's clock forward" in error(
            fake.http.post("/_mock/clock", json=body), 400
        )
    assert "only moves forward" in error(fake.http.post("/_mock/clock", json={"advance": -1}), 400)
    assert "takes seconds" in error(fake.http.post("/_mock/clock", json={"advance": "1"}), 400)
    assert "takes seconds" in error(fake.http.post("/_mock/clock", json={"advance": True}), 400)
    assert "at most 36500 days" in error(fake.http.post("/_mock/clock", json={"advance": 1e12}), 400)


def test_the_clock_moves_forward_and_a_full_reset_sets_it_back(fake: Fake) -> None:
    import datetime as dt

    def now() -> dt.datetime:
        text = ok(fake.http.get("/_mock/clock"))["now"]
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    real = dt.datetime.now(dt.UTC)
    assert abs(now() - real) < dt.timedelta(minutes=1)
    moved = ok(fake.http.post("/_mock/clock", json={"advance": 7200}))["now"]
    assert moved.endswith("Z")
    assert now() - real > dt.timedelta(hours=1, minutes=59)
    job_id = job_id_of(fake.fetch())
    assert fake.state.job(job_id).created_at - real > dt.timedelta(hours=1, minutes=59)
    ok(fake.http.post("/_mock/reset", json={"access_token": "tok_a"}))
    assert now() - real > dt.timedelta(hours=1, minutes=59)  # a token's reset keeps the clock
    ok(fake.http.post("/_mock/reset"))
    assert abs(now() - real) < dt.timedelta(minutes=1)
