"""Dispatcher: Cobalt's delivery and retry rules, with a scripted sender and with httpx's MockTransport."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from mock_server.delivery.dispatcher import Dispatcher, is_retryable_status
from mock_server.delivery.senders import DeliveryFailed, HttpxSender, Reply
from mock_server.delivery.webhook import verify
from mock_server.model.cache import AppointmentCache
from mock_server.model.changes import Changes
from mock_server.model.clock import Clock
from mock_server.model.hooks import WebhookRegistry
from mock_server.model.jobs import FetchRequest, Job, Store
from mock_server.model.journal import Journal
from mock_server.model.state import LiveSettings
from mock_server.settings import Settings

SECRET = "whsec_unit"
FAST = Settings(delay=0, retry_delay=0.01, seed=3)


class ScriptedSender:
    """Answers each POST with the next scripted outcome: a status code, a Reply or a DeliveryFailed."""

    def __init__(self, *outcomes: int | Reply | DeliveryFailed) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, bytes, dict[str, str], float]] = []

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        self.calls.append((url, body, headers, timeout))
        outcome = self.outcomes.pop(0) if self.outcomes else 200
        if isinstance(outcome, DeliveryFailed):
            raise outcome
        return outcome if isinstance(outcome, Reply) else Reply(outcome)

    async def aclose(self) -> None:
        pass


class BrokenSender(ScriptedSender):
    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        raise RuntimeError("sender bug")


def dispatcher_for(
    sender: Any, urls: tuple[str, ...] = ("http://hook/a",), settings: Settings = FAST
) -> tuple[Dispatcher, Store, list[BaseException]]:
    """A dispatcher with its own store and registry (``urls``), and the errors list it reports to."""
    store, errors, clock = Store(), [], Clock()
    dispatcher = Dispatcher(
        LiveSettings(settings),
        store=store,
        hooks=WebhookRegistry(SECRET, urls, seed=settings.seed, clock=clock),
        cache=AppointmentCache(1000),
        journal=Journal(100),
        sender=sender,
        clock=clock,
        changes=Changes(),
        errors=errors,
    )
    return dispatcher, store, errors


def make_job(search: FetchRequest | None = None) -> Job:
    request = search or FetchRequest("date_range", dt.date(2025, 1, 6), dt.date(2025, 1, 7))
    return Job("job_test", "tok", "user_ref", request, dt.datetime.now(dt.UTC), 0.0)


def run(
    sender: Any, urls: tuple[str, ...] = ("http://hook/a",), settings: Settings = FAST
) -> tuple[Job, Store, Dispatcher]:
    dispatcher, store, _ = dispatcher_for(sender, urls, settings)
    job = store.add_job(make_job())

    async def main() -> None:
        await dispatcher.complete(job)

    asyncio.run(main())
    return job, store, dispatcher


def test_success_is_one_attempt_with_cobalt_headers() -> None:
    sender = ScriptedSender(200)
    job, store, _ = run(sender)
    assert len(sender.calls) == 1
    url, body, headers, timeout = sender.calls[0]
    assert url == "http://hook/a"
    assert timeout == 5.0
    assert headers["content-type"] == "application/json"
    assert headers["webhook-attempt"] == "1"
    payload = json.loads(body)
    assert headers["webhook-id"] == payload["id"] == job.event_id
    assert headers["webhook-timestamp"] == payload["timestamp"]
    assert verify(SECRET, body, headers["cobalt-verification"])
    assert job.status == "completed"
    assert job.body == body
    assert [a.status_code for a in job.attempts] == [200]
    assert [row.delivery_status for row in store.events] == ["success"]
    assert store.events[0].data == payload["data"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_5xx_and_429_are_retried_once_with_identical_bytes(status: int) -> None:
    sender = ScriptedSender(status, status)
    job, store, _ = run(sender)
    assert len(sender.calls) == 2
    (_, body1, h1, t1), (_, body2, h2, t2) = sender.calls
    assert body1 == body2
    assert (t1, t2) == (5.0, 2.0)
    assert {k: v for k, v in h1.items() if k != "webhook-attempt"} == {
        k: v for k, v in h2.items() if k != "webhook-attempt"
    }
    assert (h1["webhook-attempt"], h2["webhook-attempt"]) == ("1", "2")
    assert [a.attempt for a in job.attempts] == [1, 2]
    assert store.events[0].delivery_status == "failed"


def test_retry_that_succeeds_marks_success() -> None:
    sender = ScriptedSender(500, 200)
    _, store, _ = run(sender)
    assert store.events[0].delivery_status == "success"


def test_connection_error_is_retried() -> None:
    sender = ScriptedSender(DeliveryFailed("ConnectError", retryable=True), 200)
    job, _, _ = run(sender)
    assert [a.error for a in job.attempts] == ["ConnectError", None]
    assert [a.status_code for a in job.attempts] == [None, 200]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422, 301, 302])
def test_other_statuses_are_not_retried(status: int) -> None:
    sender = ScriptedSender(status)
    job, store, _ = run(sender)
    assert len(sender.calls) == 1
    assert store.events[0].delivery_status == "failed"
    assert job.attempts[0].status_code == status


def test_timeouts_are_not_retried() -> None:
    sender = ScriptedSender(DeliveryFailed("timed out after 5s", retryable=False))
    job, store, _ = run(sender)
    assert len(sender.calls) == 1
    assert job.attempts[0].error == "timed out after 5s"
    assert store.events[0].delivery_status == "failed"


def test_retry_waits_retry_delay() -> None:
    sender = ScriptedSender(500, 200)
    job, _, _ = run(sender, settings=Settings(delay=0, retry_delay=0.2))
    first, second = (dt.datetime.fromisoformat(a.started_at) for a in job.attempts)
    assert (second - first).total_seconds() >= 0.2 - 0.002  # timestamps are kept to the millisecond


def test_default_retry_rule_is_cobalts() -> None:
    s = Settings()
    assert (s.retry_delay, s.webhook_timeout, s.retry_timeout) == (1.0, 5.0, 2.0)
    assert [is_retryable_status(c) for c in (200, 400, 429, 499, 500, 599)] == [
        False,
        False,
        True,
        False,
        True,
        True,
    ]


def test_every_registered_url_gets_the_same_event() -> None:
    sender = ScriptedSender(200, 500, 500)
    job, store, _ = run(sender, urls=("http://hook/a", "http://hook/b"))
    bodies = {call[1] for call in sender.calls}
    assert len(bodies) == 1
    assert sorted(call[0] for call in sender.calls) == ["http://hook/a", "http://hook/b", "http://hook/b"]
    assert {row.webhook_url: row.delivery_status for row in store.events} == {
        "http://hook/a": "success",
        "http://hook/b": "failed",
    }
    assert len({row.event_id for row in store.events}) == 1
    assert len(job.attempts) == 3


@pytest.mark.parametrize("api", ["guide", "reference"])
def test_each_url_is_signed_with_the_secret_its_version_gives_it(api: str) -> None:
    """The same bytes to every URL; the guide signs them all with the account's secret, the API
    reference each with its webhook's own, on the first delivery and on a redelivery alike."""
    sender = ScriptedSender()
    dispatcher, store, _ = dispatcher_for(sender, (), dataclasses.replace(FAST, webhook_api=api))
    hooks = dispatcher._hooks
    a, b = hooks.register("http://hook/a"), hooks.register("http://hook/b")
    job = store.add_job(make_job())
    keys: list[dict[str, str]] = []

    async def main() -> None:
        keys.append({h.url: hooks.signer(h, api).value for h in (a, b)})
        await dispatcher.complete(job)
        hooks.rotate(api, b)  # a redelivery signs with what signs now
        keys.append({h.url: hooks.signer(h, api).value for h in (a, b)})
        assert await dispatcher.redeliver(job) == 2

    asyncio.run(main())
    assert (keys[0]["http://hook/a"] == keys[0]["http://hook/b"]) is (api == "guide")
    assert len({body for _, body, _, _ in sender.calls}) == 1
    assert len(sender.calls) == 4
    for number, (url, body, headers, _) in enumerate(sender.calls):
        assert verify(keys[number // 2][url], body, headers["cobalt-verification"]), (number, url)


def test_no_registered_url_still_records_the_event() -> None:
    sender = ScriptedSender()
    job, store, _ = run(sender, urls=())
    assert sender.calls == []
    assert [(r.webhook_url, r.delivery_status, r.job_id) for r in store.events] == [
        (None, "failed", job.job_id)
    ]
    assert job.status == "completed"


def test_a_closed_dispatcher_means_a_failed_attempt_not_a_crash() -> None:
    async def main() -> tuple[Job, Store]:
        dispatcher, store, _ = dispatcher_for(ScriptedSender(200))
        await dispatcher.close(0)
        job = store.add_job(make_job())
        await dispatcher.complete(job)
        return job, store

    job, store = asyncio.run(main())
    assert job.attempts[0].error == "the server has stopped"
    assert store.events[0].delivery_status == "failed"


def test_generator_errors_become_failure_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    from mock_server.data import generator

    def boom(*args: object) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(generator, "appointments_in_range", boom)
    sender = ScriptedSender(200)
    dispatcher, store, errors = dispatcher_for(sender)
    job = store.add_job(make_job())
    asyncio.run(dispatcher.complete(job))
    data = json.loads(sender.calls[0][1])["data"]
    assert data["success"] is False
    assert data["appointment_count"] == 0
    assert data["reasons"][0]["code"] == "internal_error"
    assert isinstance(errors[0], RuntimeError)
    assert job.status == "completed"


def test_httpx_sender_statuses_and_errors() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/refused":
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("slow", request=request)
        if request.url.path == "/dropped":
            raise httpx.RemoteProtocolError("closed", request=request)
        return httpx.Response(202, content=b"queued")

    async def main() -> list[object]:
        sender = HttpxSender(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        results: list[object] = []
        for path in ("/ok", "/refused", "/slow", "/dropped"):
            try:
                results.append(
                    await sender(f"http://h{path}", b"{}", {"content-type": "application/json"}, 1.0)
                )
            except DeliveryFailed as exc:
                results.append(exc.retryable)
        await sender.client.aclose()
        return results

    assert asyncio.run(main()) == [Reply(202, b"queued"), True, False, True]
    assert seen[0].content == b"{}"
    assert seen[0].headers["content-type"] == "application/json"


def test_httpx_sender_enforces_a_total_timeout() -> None:
    async def slow_handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return httpx.Response(200)  # pragma: no cover - never reached

    async def main() -> bool:
        sender = HttpxSender(httpx.AsyncClient(transport=httpx.MockTransport(slow_handler)))
        try:
            await sender("http://h/", b"{}", {}, 0.05)
        except DeliveryFailed as exc:
            return exc.retryable
        finally:
            await sender.client.aclose()
        return True  # pragma: no cover

    assert asyncio.run(main()) is False


def test_schedule_cancel_and_drain() -> None:
    async def main() -> tuple[list[str], int, str]:
        dispatcher, store, _ = dispatcher_for(ScriptedSender(), ())
        later = store.add_job(make_job())
        dispatcher.schedule(later, delay=60)
        assert dispatcher.pending == 1
        assert dispatcher.cancel("job_test") is True
        assert dispatcher.cancel("job_test") is False
        dispatcher.schedule(later, delay=60)
        undone = await dispatcher.drain(0.1)
        now = store.add_job(Job("job_now", "tok", "ref", later.request, later.created_at, 0.0))
        await dispatcher.fire(now)
        return undone, dispatcher.pending, now.status

    assert asyncio.run(main()) == (["job_test"], 0, "completed")


def test_a_bug_in_a_background_task_is_kept_in_errors() -> None:
    async def main() -> list[BaseException]:
        dispatcher, store, errors = dispatcher_for(BrokenSender())
        task = dispatcher.fire(store.add_job(make_job()))
        await asyncio.wait([task])
        return errors

    (error,) = asyncio.run(main())
    assert isinstance(error, RuntimeError)
    assert str(error) == "sender bug"


def test_httpx_sender_turns_any_transport_exception_into_a_failed_connection() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise OSError("All connection attempts failed")  # not an httpx.HTTPError

    async def main() -> bool:
        sender = HttpxSender(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        try:
            await sender("http://h/", b"{}", {}, 1.0)
        except DeliveryFailed as exc:
            return exc.retryable
        finally:
            await sender.client.aclose()
        return False  # pragma: no cover

    assert asyncio.run(main()) is True


class BlockedSender(ScriptedSender):
    """Holds every POST until ``release`` is set: a job stays running meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        await self.release.wait()
        return Reply(200)


def test_retry_after_is_when_room_is_likely() -> None:
    async def main() -> list[int]:
        sender = BlockedSender()
        dispatcher, store, _ = dispatcher_for(sender)
        seen = [dispatcher.retry_after()]  # nothing unfinished
        later = store.add_job(make_job())
        dispatcher.schedule(later, delay=10.2)
        seen.append(dispatcher.retry_after())  # the soonest due job, rounded up
        running = store.add_job(Job("job_run", "tok", "ref", later.request, later.created_at, 0.0))
        task = dispatcher.fire(running)
        seen.append(dispatcher.retry_after())  # a job completing: its place frees any moment
        sender.release.set()
        await task
        dispatcher.cancel(later.job_id)
        return seen

    assert asyncio.run(main()) == [1, 11, 1]


def test_each_attempt_keeps_the_start_of_the_receivers_answer() -> None:
    sender = ScriptedSender(Reply(503, b"<h1>down</h1>"), Reply(200, b"x" * 4096, True))
    job, _, _ = run(sender)
    assert [(a.response_body, a.response_truncated) for a in job.attempts] == [
        (b"<h1>down</h1>", False),
        (b"x" * 4096, True),
    ]
    assert job.attempts[0].to_json()["response_body"] == "<h1>down</h1>"
    assert job.attempts[1].to_json()["response_truncated"] is True
