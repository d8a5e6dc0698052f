"""The dashboard's server side over real HTTP: the index, the page and its assets, the live stream
(what a frame carries, its token, its bound), one journal entry by number, and shutdown with a
stream open. What the page does in a browser is in ``tests/browser/test_dashboard_page.py``."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from mock_server.api import dashboard
from mock_server.api.dashboard import BODY_PREVIEW, MAX_STREAMS, SHOWN_JOBS
from mock_server.delivery.webhook import SIGNATURE_HEADER, sign
from mock_server.model.changes import Changes
from mock_server.model.jobs import Attempt
from mock_server.testing.receiver import Behaviour, WebhookReceiver
from tests.conftest import Fake


class Stream:
    """``GET /_mock/stream`` read as a client does: each ``state`` event's data, parsed."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next_state(self) -> dict[str, Any]:
        event = None
        for line in self.lines:
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "state":
                state: dict[str, Any] = orjson.loads(line[len("data: ") :])
                return state
        raise AssertionError("the stream ended")

    def until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first state for which ``predicate`` holds (each is pushed: nothing polls)."""
        while not predicate(state := self.next_state()):
            pass
        return state


@contextlib.contextmanager
def stream(fake: Fake, token: str | None = None) -> Iterator[Stream]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with httpx.stream("GET", f"{fake.url}/_mock/stream", headers=headers, timeout=30) as response:
        assert response.status_code == 200, response.read()
        yield Stream(response)


def job_of(state: dict[str, Any], job_id: str) -> dict[str, Any] | None:
    return next((job for job in state["jobs"] if job["job_id"] == job_id), None)


def completed(job_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda state: (job := job_of(state, job_id)) is not None and job["status"] == "completed"


def fetch_id(fake: Fake, body: Any = None, **kwargs: Any) -> str:
    response = fake.fetch(body, **kwargs)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


# --- the index, the page, its assets -------------------------------------------------------------


def test_the_index_links_to_the_dashboard_only_when_the_control_api_is_on(serve: Callable[..., Fake]) -> None:
    on, off = serve(), serve(control=False)
    index = httpx.get(on.url + "/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    assert re.findall(r'href="([^"]*)"', index.text) == ["/_mock/ui", "/openapi.json", "/_mock/health"]
    assert 'href="/_mock/ui"' not in httpx.get(off.url + "/").text
    missing = httpx.get(off.url + "/_mock/ui")
    assert (missing.status_code, missing.json()) == (404, {"success": False, "message": "Not found."})
    assert httpx.get(off.url + "/_mock/stream").status_code == 404


def test_the_page_is_served_without_a_token_and_runs_only_its_own_files(serve: Callable[..., Fake]) -> None:
    fake = serve(control_token="sekret")
    page = httpx.get(fake.url + "/_mock/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; script-src 'self'; style-src 'self';")
    assert "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    for name, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        assert f"/_mock/ui/{name}" in page.text
        asset = httpx.get(f"{fake.url}/_mock/ui/{name}")
        assert (asset.status_code, asset.headers["content-type"].split(";")[0]) == (200, kind)
    # nothing from outside: every file it loads is its own
    assert re.findall(r'(?:src|href)="([^"]*)"', page.text) == [
        "/_mock/ui/dashboard.css",
        "/_mock/ui/dashboard.js",
    ]
    unknown = httpx.get(fake.url + "/_mock/ui/secrets.txt")
    assert (unknown.status_code, unknown.json()["success"]) == (404, False)


def test_the_stream_needs_the_control_token_when_one_is_set(serve: Callable[..., Fake]) -> None:
    fake = serve(control_token="sekret")
    refused = httpx.get(fake.url + "/_mock/stream", headers={"authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.json()["message"].startswith("Missing or invalid control token.")
    assert httpx.get(fake.url + "/_mock/requests/1").status_code == 401  # so is one journal entry
    with stream(fake, "sekret") as live:
        assert live.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert live.response.headers["cache-control"] == "no-store"
        assert live.next_state()["settings"]["control_token"] == "***"


# --- what a frame carries -------------------------------------------------------------------------


def test_a_job_and_its_deliveries_arrive_as_they_happen(
    serve: Callable[..., Fake], receiver: WebhookReceiver
) -> None:
    fake = serve(retry_delay=0.01, client_secret="cs_test")
    fake.register(receiver.url + "/hook")
    receiver.respond_with(Behaviour.status(503, body="<b>busy</b>"), Behaviour.status(200, body={"ok": True}))
    with stream(fake) as live:
        first = live.next_state()  # at once, before anything happened
        assert (first["jobs"], first["counts"]["jobs"]) == ([], 0)
        assert first["webhooks"] == [{"id": first["webhooks"][0]["id"], "url": receiver.url + "/hook"}]
        assert first["settings"]["client_secret"] == "***"
        assert first["holding"] == {"all": False, "access_tokens": []}
        job_id = fetch_id(fake, {"search_by": "mrn", "mrn": "<script>x</script>"})
        state = live.until(completed(job_id))
    job = job_of(state, job_id)
    assert job is not None
    assert job["request"] == {"search_by": "mrn", "mrn": "<script>x</script>"}
    assert job["access_token"] == "***"
    assert "payload" not in job
    assert job["body_bytes"] == len(receiver.deliveries[0].body)
    refused, accepted = job["attempts"]
    assert (refused["status_code"], refused["response_body"], refused["signature"]) == (
        503,
        "<b>busy</b>",
        "current",
    )
    assert (accepted["attempt"], accepted["response_body"], accepted["response_truncated"]) == (
        2,
        '{"ok":true}',
        False,
    )
    assert "body" not in accepted
    assert accepted["body_bytes"] == job["body_bytes"]
    assert accepted["headers"]["webhook-attempt"] == "2"
    kinds = [(entry["kind"], entry.get("path")) for entry in state["journal"]]
    assert kinds[-2:] == [("request", "/v1/appointments/fetch"), ("request", "/v1/webhook")]
    assert [entry["attempt"]["attempt"] for entry in state["journal"] if entry["kind"] == "delivery"] == [
        2,
        1,
    ]


# An old_secret delivery is signed with the secret rotated away: the guide keeps no overlap, so
# nothing verifies it; the reference's old secret verifies for 24 h.
@pytest.mark.parametrize(("webhook_api", "old"), [("guide", "invalid"), ("reference", "previous")])
def test_the_signature_verdict_names_the_secret_that_verifies(
    serve: Callable[..., Fake], receiver: WebhookReceiver, webhook_api: str, old: str
) -> None:
    fake = serve(webhook_api=webhook_api)
    fake.register(receiver.url)
    with stream(fake) as live:
        verdicts = {}
        for scenario in ("", "bad_signature", "old_secret"):
            job_id = fetch_id(fake, headers={"x-cobalt-mock-scenario": scenario})
            job = job_of(live.until(completed(job_id)), job_id)
            assert job is not None
            verdicts[scenario] = job["attempts"][0]["signature"]
    assert verdicts == {"": "current", "bad_signature": "invalid", "old_secret": old}


def test_holds_and_a_reset_show_at_once(fake: Fake) -> None:
    with stream(fake) as live:
        live.next_state()
        assert fake.http.post("/_mock/jobs/hold", json={"access_token": "tok_a"}).status_code == 200
        assert live.until(lambda s: s["holding"]["access_tokens"] == ["***"])
        job_id = fetch_id(fake)
        held = job_of(live.until(lambda s: s["counts"]["jobs"] == 1), job_id)
        assert held is not None
        assert held["status"] == "held"
        assert fake.http.post("/_mock/reset").status_code == 200
        state = live.until(lambda s: s["counts"]["jobs"] == 0)
    assert (state["jobs"], state["journal"], state["holding"]["access_tokens"]) == ([], [], [])


def test_a_frame_shows_the_newest_jobs_and_cuts_long_bodies(fake: Fake) -> None:
    fake.http.post("/_mock/jobs/hold")
    ids = [fetch_id(fake) for _ in range(SHOWN_JOBS + 2)]
    long_mrn = "m" * (BODY_PREVIEW + 500)
    fake.fetch({"search_by": "mrn", "mrn": long_mrn})
    with stream(fake) as live:
        state = live.next_state()
    assert state["counts"]["jobs"] == SHOWN_JOBS + 3
    assert [job["job_id"] for job in state["jobs"][1:]] == ids[::-1][: SHOWN_JOBS - 1]
    newest = state["journal"][0]
    assert len(newest["body"]) == BODY_PREVIEW
    assert newest["body_truncated"] is True
    whole = fake.http.get(f"/_mock/requests/{newest['seq']}")
    assert whole.status_code == 200
    assert whole.json()["entry"]["body"] == f'{{"search_by":"mrn","mrn":"{long_mrn}"}}'


def test_one_journal_entry_by_number(fake: Fake) -> None:
    fake.fetch()
    (entry,) = fake.http.get("/_mock/requests").json()["entries"]
    found = fake.http.get(f"/_mock/requests/{entry['seq']}")
    assert found.json() == {"success": True, "entry": entry}
    for seq in (str(entry["seq"] + 1), "abc", "-1", "9" * 30, "１"):
        missing = fake.http.get(f"/_mock/requests/{seq}")
        assert missing.status_code == 404
        assert missing.json()["message"].startswith("Journal entry ")


# --- bounds and shutdown ---------------------------------------------------------------------------


def test_streams_are_bounded_and_a_closed_one_frees_its_place(fake: Fake) -> None:
    with contextlib.ExitStack() as stack:
        streams = [stack.enter_context(stream(fake)) for _ in range(MAX_STREAMS)]
        for live in streams:
            live.next_state()
        refused = httpx.get(fake.url + "/_mock/stream")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "5"
        assert (
            refused.json()["message"]
            == f"Too many live streams open (at most {MAX_STREAMS}); close a dashboard."
        )
        streams[0].response.close()
        # The server frees the place once it has seen the hang-up, a loop turn or so later.
        for _ in range(200):
            with httpx.stream("GET", fake.url + "/_mock/stream", timeout=30) as again:
                if again.status_code == 200:
                    assert Stream(again).next_state()["counts"]["jobs"] == 0
                    break
                assert again.status_code == 503
        else:
            raise AssertionError("the closed stream's place was never freed")


def test_stopping_the_server_ends_open_streams_cleanly(serve: Callable[..., Fake]) -> None:
    # uvicorn waits for open answers up to the graceful timeout (shutdown_grace, here far past
    # ServerThread.stop's own), so a stream the app did not end would hold the stop, then be cut off.
    fake = serve(shutdown_grace=60)
    with stream(fake) as live:
        live.next_state()
        stopper = threading.Thread(target=fake.thread.stop)
        stopper.start()
        rest = list(live.lines)  # ends when the server ends the stream; an abrupt close would raise
        stopper.join(30)
        assert not stopper.is_alive()
    assert all(line == "" or line.startswith(("event:", "data:", ":")) for line in rest)


def test_a_quiet_stream_says_so_and_a_stopping_server_opens_none(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard, "HEARTBEAT", 0.05)
    with stream(fake) as live:
        live.next_state()
        # nothing changed: a comment, so that a dead connection is noticed
        assert next(line for line in live.lines if line) == ": quiet"
    fake.call(fake.app.stopping)
    refused = httpx.get(fake.url + "/_mock/stream")
    assert (refused.status_code, refused.json()["message"]) == (503, "The server is stopping.")


def test_an_unsigned_attempt_has_no_verdict_to_give_and_verdicts_are_bounded(fake: Fake) -> None:
    live = dashboard.StateStream(fake.state, Changes(), None)
    unsigned = Attempt(1, "http://hook", "now", 1.0, 200, None, {}, b"{}")
    signed = Attempt(
        1, "http://hook", "now", 1.0, 200, None, {SIGNATURE_HEADER: sign("whsec_x", b"{}")}, b"{}"
    )
    assert live._verdict("job_1", unsigned, dashboard.Secrets({}, ("whsec_x",))) == "missing"
    by_url = dashboard.Secrets({"http://hook": ("whsec_y", "whsec_x")}, ("whsec_z",))
    assert live._verdict("job_1", signed, by_url) == "previous"
    assert live._verdict("job_1", signed, dashboard.Secrets({}, ("whsec_z",))) == "invalid"
    for number in range(dashboard._VERDICTS_KEPT + 1):
        live._verdict(f"job_{number}", unsigned, dashboard.Secrets({}, ()))
    fake.call(live.snapshot)  # a snapshot starts over once more are kept than the bound
    assert len(live._verdicts) == 0
