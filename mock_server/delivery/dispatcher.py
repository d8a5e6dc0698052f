"""Completing jobs and delivering their webhooks with Cobalt's rules.

A job's timer fires after its delay; then: generate → serialize once → sign those bytes → record the
event → POST to every registered URL (bounded concurrency) → record each attempt. One retry after
``retry_delay`` on a 5xx, a 429 or a connection error; none on other 4xx or on a timeout. The retry
sends the same bytes, id, timestamp and signature; only ``webhook-attempt`` changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mock_server.delivery.senders import DeliveryFailed, HttpxSender, Sender
from mock_server.delivery.timers import Timetable
from mock_server.model import faults, payloads
from mock_server.model.ids import iso_millis, utc_now
from mock_server.model.jobs import Attempt, EventRow, Job
from mock_server.model.store import Store
from mock_server.settings import Settings
from mock_server.signing import SIGNATURE_HEADER, serialize

# The senders lived here first and stay importable from here.
__all__ = ["DeliveryFailed", "Dispatcher", "HttpxSender", "Sender", "is_retryable_status"]

log = logging.getLogger("cobalt_mock.webhooks")
T = TypeVar("T")


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


class Dispatcher:
    """Owns job timers and delivery tasks for one app."""

    def __init__(self, store: Store, settings: Callable[[], Settings]) -> None:
        self.store = store
        self.settings = settings
        self.sender: Sender | None = None
        self.errors: list[BaseException] = []
        self._timetable: Timetable[Job] = Timetable(self.fire)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._semaphore: asyncio.Semaphore | None = None
        self._running = 0  # jobs fired and not yet completed
        self._waiting: deque[asyncio.Future[None]] = deque()  # fetches waiting for room (``admit``)
        self._admitted = 0  # of them, let through and not yet resumed
        self.on_attempt: Callable[[Job, Attempt], None] | None = None
        """Called with every recorded attempt (the journal)."""
        self.gate = faults.OrderGate()

    # scheduling
    def schedule(self, job: Job, delay: float | None = None) -> None:
        """Complete ``job`` after ``delay`` seconds (its own delay by default); a job scheduled
        again keeps only its new time."""
        job.status = "scheduled"
        self._timetable.add(job.job_id, job, job.delay if delay is None else delay)

    def cancel(self, job_id: str) -> bool:
        cancelled = self._timetable.cancel(job_id)
        if cancelled:
            self._made_room()
        return cancelled

    def fire(self, job: Job) -> asyncio.Task[None]:
        """Start completing ``job`` now."""
        self._timetable.cancel(job.job_id)
        job.status = "running"
        self._running += 1
        return self.track(self._run(job))

    async def _run(self, job: Job) -> None:
        try:
            await self.complete(job)
        finally:
            self._running -= 1
            self._made_room()

    def has_room(self) -> bool:
        """Whether a new job may start now: fewer than ``max_jobs`` unfinished, and no fetch waiting."""
        return not self._waiting and self._unfinished() < self.settings().max_jobs

    async def admit(self, abandoned: Coroutine[Any, Any, Any]) -> bool:
        """Backpressure for new fetches, first come first served: wait while ``max_jobs`` jobs are
        unfinished (scheduled, or being generated and delivered). A client faster than the fake, or
        than its receiver, then sees slower 202s instead of the fake's memory growing without bound.

        True when it is this fetch's turn: create its job now, in the same step. False when
        ``abandoned`` (its client hanging up) finished first; the turn then passes on.
        """
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self._made_room()
        watch = asyncio.ensure_future(abandoned)
        try:
            await asyncio.wait({turn, watch}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            self._leave(turn)
            raise
        finally:
            watch.cancel()
        if turn.done():
            self._admitted -= 1
            return True
        self._leave(turn)
        return False

    def _leave(self, turn: asyncio.Future[None]) -> None:
        if turn in self._waiting:
            self._waiting.remove(turn)
        elif turn.done():  # its turn had come: pass it on
            self._admitted -= 1
            self._made_room()

    def _unfinished(self) -> int:
        return len(self._timetable) + self._running + self._admitted

    def _made_room(self) -> None:
        """An unfinished job finished or was cancelled: the longest-waiting fetches go ahead."""
        while self._waiting and self._unfinished() < self.settings().max_jobs:
            turn = self._waiting.popleft()
            if not turn.done():
                self._admitted += 1  # its place is kept until it runs
                turn.set_result(None)

    def track(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` as a task that shutdown (``drain``) waits for, like a job's completion."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        """A background task's bug is kept in ``errors``, so the test that caused it fails."""
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self.errors.append(exc)
            log.error("background task failed", exc_info=exc)

    @property
    def pending(self) -> int:
        return len(self._timetable)

    # completion
    async def complete(self, job: Job) -> None:
        settings = self.settings()
        try:
            from mock_server.data import generator  # Faker and the tables: loaded with the first job

            clinic = generator.clinic_for(settings.seed, job.access_token, settings.timezone)
            data, cached = faults.build_data(clinic, job)
        except Exception as exc:  # a generator bug must not lose the job: report it, send a failure
            self.errors.append(exc)
            log.exception("generating job %s failed", job.job_id)
            data = payloads.failure_data(
                job,
                "Internal error in cobalt-mock",
                [{"code": "internal_error", "description": repr(exc)}],
            )
            cached = []
        self.store.cache.put(job.access_token, cached)
        await self.publish(job, data)

    async def publish(self, job: Job, data: dict[str, object]) -> None:
        """Record the event for ``data`` and deliver it to every registered URL."""
        if self.store.jobs.get(job.job_id) is not job:  # reset while it ran: record and send nothing
            job.status = "completed"
            return
        now = utc_now()
        payload = payloads.envelope(job, dict(data), now)
        body = serialize(payload)
        job.payload, job.body, job.event_id, job.completed_at = payload, body, payload["id"], now
        hooks = self.store.webhooks
        urls = hooks.urls()
        rows = [EventRow.for_job(job, url, "pending", now) for url in urls] or [
            EventRow.for_job(job, None, "failed", now)
        ]
        self.store.add_events(rows)
        if urls:
            await self.gate.wait(job)
            headers = self.headers_for(job, body)
            for delivery in range(1, faults.deliveries(job) + 1):
                if len(rows) == 1:  # the usual case, without gather's future and task per URL
                    await self.deliver(job, rows[0], body, headers, delivery)
                else:
                    await asyncio.gather(*(self.deliver(job, row, body, headers, delivery) for row in rows))
        job.status = "completed"
        self.gate.passed(job)
        self.store.notify()

    def headers_for(self, job: Job, body: bytes) -> dict[str, str]:
        assert job.payload is not None
        return {
            "content-type": "application/json",
            SIGNATURE_HEADER: faults.signature(job, self.store.webhooks, body),
            "webhook-id": job.payload["id"],
            "webhook-timestamp": job.payload["timestamp"],
        }

    async def redeliver(self, job: Job) -> int:
        """Deliver a completed job's event again to every registered URL; return the delivery number.

        The same bytes, id and timestamp, signed again (with the current secret, unless the job's
        behaviours say otherwise). ``webhook-attempt`` restarts at 1, since Cobalt's retry rule
        applies to each delivery; attempts record which delivery they belong to.
        """
        assert job.body is not None
        assert job.payload is not None
        delivery = max((a.delivery for a in job.attempts), default=0) + 1
        known = {row.webhook_url: row for row in self.store.find_events(job_id=job.job_id)}
        rows = []
        for url in self.store.webhooks.urls():
            row = known.get(url)
            if row is None:
                row = EventRow.for_job(job, url, "pending", utc_now())
                self.store.add_events([row])
            rows.append(row)
        headers = self.headers_for(job, job.body)
        await asyncio.gather(*(self.deliver(job, row, job.body, headers, delivery) for row in rows))
        self.store.notify()
        return delivery

    async def deliver(
        self, job: Job, row: EventRow, body: bytes, headers: dict[str, str], delivery: int = 1
    ) -> None:
        """POST to one URL with Cobalt's retry rule; set the row's final delivery status."""
        assert row.webhook_url is not None
        settings = self.settings()
        url = row.webhook_url
        ok, retry = await self.attempt(job, url, 1, body, headers, settings.webhook_timeout, delivery)
        if retry:
            await asyncio.sleep(settings.retry_delay)
            ok, _ = await self.attempt(job, url, 2, body, headers, settings.retry_timeout, delivery)
        row.delivery_status = "success" if ok else "failed"

    async def attempt(
        self,
        job: Job,
        url: str,
        number: int,
        body: bytes,
        headers: dict[str, str],
        timeout: float,
        delivery: int = 1,
    ) -> tuple[bool, bool]:
        """One POST; returns (succeeded, worth retrying)."""
        sent = {**headers, "webhook-attempt": str(number)}
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings().delivery_concurrency)
        status: int | None = None
        error: str | None = None
        retry = False
        started, clock = utc_now(), time.perf_counter()
        async with self._semaphore:
            try:
                if self.sender is None:
                    raise DeliveryFailed("the server is not running (no HTTP client)", retryable=False)
                status = await self.sender(url, body, sent, timeout)
                retry = is_retryable_status(status)
            except DeliveryFailed as exc:
                error, retry = str(exc), exc.retryable
        duration = (time.perf_counter() - clock) * 1000
        record = Attempt(number, url, iso_millis(started), duration, status, error, sent, body, delivery)
        job.attempts += (record,)
        if self.on_attempt is not None:
            self.on_attempt(job, record)
        log.info(
            "webhook %s job=%s attempt=%d -> %s (%.1f ms)",
            url,
            job.job_id,
            number,
            status if error is None else error,
            duration,
        )
        return (status is not None and 200 <= status < 300), retry

    # shutdown
    async def drain(self, grace: float) -> list[str]:
        """Shutdown: jobs not yet due never start; running ones (deliveries, retries) get ``grace``
        seconds, then are cancelled. Returns the ids of every job not completed, oldest first."""
        for job_id in self._timetable.ids():
            self.cancel(job_id)
        tasks = list(self._tasks)
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        return [job.job_id for job in self.store.jobs.values() if job.status != "completed"]
