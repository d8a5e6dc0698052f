"""Completing jobs and delivering their webhooks with Cobalt's rules.

A job's timer fires after its delay; then: generate → serialize once → sign those bytes → record the
event → POST to every registered URL (bounded concurrency) → record each attempt. One retry after
``retry_delay`` on a 5xx, a 429 or a connection error; none on other 4xx or on a timeout. The retry
sends the same bytes, id, timestamp and signature; only ``webhook-attempt`` changes. Each URL's
delivery is signed with the secret that ``webhook_api`` gives it (``model.hooks``): the account's
one for every URL in the guide, each webhook's own in the API reference (then the bytes are the
same and only the signature differs).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from mock_server.data.ids import iso_millis, utc_now
from mock_server.delivery import webhook
from mock_server.delivery.ordering import OrderGate
from mock_server.delivery.senders import DeliveryFailed, Reply, Sender
from mock_server.model.cache import AppointmentCache
from mock_server.model.changes import Changes
from mock_server.model.clock import Clock
from mock_server.model.hooks import WebhookRegistry
from mock_server.model.jobs import Attempt, EventRow, Job, Store
from mock_server.model.journal import Journal
from mock_server.model.state import LiveSettings, NoRoom

log = logging.getLogger("cobalt_mock.webhooks")
NO_REPLY = Reply(0)
"""What an attempt that got no answer records as the receiver's (one value, not one per attempt)."""
T = TypeVar("T")


class Timetable(Generic[T]):
    """Calls ``fire(item)`` when each item's delay has passed; ``cancel`` takes one back."""

    def __init__(self, fire: Callable[[T], object]) -> None:
        self._fire = fire
        self._items: dict[str, T] = {}
        # key → the number of its current heap entry; kept apart from the item so that a waiting
        # job costs the garbage collector no (number, item) tuple to walk
        self._entry: dict[str, int] = {}
        self._heap: list[tuple[float, int, str]] = []  # (due, entry number, key); stale ones skipped
        self._numbers = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def add(self, key: str, item: T, delay: float) -> None:
        """Fire ``item`` in ``delay`` seconds, replacing what ``key`` had scheduled (call on the loop)."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(delay, 0.0)
        number = next(self._numbers)
        self._items[key] = item
        self._entry[key] = number
        heapq.heappush(self._heap, (due, number, key))
        if self._timer is None or due < self._timer_at:
            self._arm(loop, due)

    def cancel(self, key: str) -> bool:
        """Take ``key`` back; False if it was not scheduled (or has fired)."""
        if self._items.pop(key, None) is None:
            return False
        del self._entry[key]
        if len(self._heap) > 64 and len(self._heap) > 2 * len(self._items):
            self._heap = [entry for entry in self._heap if self._current(entry)]
            heapq.heapify(self._heap)
        if not self._items and self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return True

    def _current(self, entry: tuple[float, int, str]) -> bool:
        return self._entry.get(entry[2]) == entry[1]

    def _arm(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._due)
        self._timer_at = due

    def _due(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        # call_at may run a little before `due` (the loop's clock resolution): fire what is that close.
        now = loop.time() + getattr(loop, "_clock_resolution", 0.001)
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, number, key = heapq.heappop(heap)
            if self._entry.get(key) == number:
                del self._entry[key]
                self._fire(self._items.pop(key))
        self._rearm(loop)

    def _rearm(self, loop: asyncio.AbstractEventLoop) -> None:
        """A timer for the earliest current entry, unless one is set for it already (``fire`` may
        have scheduled something meanwhile)."""
        due = self.next_due()
        if due is not None and (self._timer is None or due < self._timer_at):
            self._arm(loop, due)

    def next_due(self) -> float | None:
        """The loop time at which the earliest item is due, or None if none is scheduled."""
        heap = self._heap
        while heap and not self._current(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def ids(self) -> Iterator[str]:
        return iter(list(self._items))


def is_retryable_status(status: int) -> bool:
    return status >= 500 or status == 429


def deliveries(job: Job) -> int:
    """How many times the whole delivery runs (twice for ``duplicate_delivery``)."""
    return 2 if "duplicate_delivery" in job.behaviours else 1


class Dispatcher:
    """Owns job timers, admission of new fetches and delivery tasks for one app (the model's
    ``Scheduler``)."""

    def __init__(
        self,
        settings: LiveSettings,
        *,
        store: Store,
        hooks: WebhookRegistry,
        cache: AppointmentCache,
        journal: Journal,
        sender: Sender,
        clock: Clock,
        changes: Changes,
        errors: list[BaseException],
    ) -> None:
        self._live = settings
        self._store = store
        self._hooks = hooks
        self._clock = clock
        self._cache = cache
        self._journal = journal
        self._sender = sender
        self._changes = changes
        self._errors = errors
        self._closed = False
        self._timetable: Timetable[Job] = Timetable(self.fire)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._semaphore = asyncio.Semaphore(settings.current.delivery_concurrency)
        self._running = 0  # jobs fired and not yet completed
        self._waiting: deque[asyncio.Future[None]] = deque()  # fetches waiting for room (``admit``)
        self._admitted = 0  # of them, let through and not yet resumed
        self._gate = OrderGate()

    # scheduling
    def schedule(self, job: Job, delay: float | None = None) -> None:
        """Complete ``job`` after ``delay`` seconds (its own delay by default); a job scheduled
        again keeps only its new time."""
        job.status = "scheduled"
        self._timetable.add(job.job_id, job, job.delay if delay is None else delay)
        self._changes.bump()

    def cancel(self, job_id: str) -> bool:
        cancelled = self._timetable.cancel(job_id)
        if cancelled:
            self._made_room()
        return cancelled

    def complete_now(self, job: Job) -> asyncio.Task[None]:
        self._timetable.cancel(job.job_id)  # a scheduled job's own timer; its place stays taken
        return self.fire(job)

    def forget(self, access_token: str | None) -> None:
        self._gate.forget(access_token)

    def fire(self, job: Job) -> asyncio.Task[None]:
        """Start completing ``job`` now (its timer has fired, or ``complete_now`` took it back)."""
        job.status = "running"
        self._running += 1
        self._changes.bump()
        return self.track(self._run(job))

    async def _run(self, job: Job) -> None:
        try:
            await self.complete(job)
        finally:
            self._running -= 1
            self._made_room()

    def has_room(self) -> bool:
        """Whether a new job may start now: fewer than ``max_jobs`` unfinished, and no fetch waiting."""
        return not self._waiting and self._unfinished() < self._live.current.max_jobs

    def start_now(self, job: Job) -> bool:
        if not self.has_room():
            return False
        self._record(job)
        return True

    async def start(self, job: Job, watch: Callable[[], asyncio.Future[None]]) -> bool:
        gone = watch()
        try:
            if not await self.admit(gone):
                return False
        finally:
            gone.cancel()
        self._record(job)
        return True

    def _record(self, job: Job) -> None:
        self._store.add_job(job)
        if job.status == "scheduled":
            self.schedule(job)
        else:
            self._changes.bump()

    async def admit(self, abandoned: asyncio.Future[None]) -> bool:
        """Backpressure for new fetches, first come first served: wait while ``max_jobs`` jobs are
        unfinished (scheduled, or being generated and delivered). A client faster than the fake, or
        than its receiver, then sees slower 202s instead of the fake's memory growing without bound,
        and past ``admission_timeout`` a 429 instead of an answer that never comes.

        True when it is this fetch's turn: record its job now, in the same step. False when
        ``abandoned`` (its client hanging up) finished first; the turn then passes on. ``NoRoom``
        when the timeout came first.
        """
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self._made_room()
        try:
            await asyncio.wait(
                {turn, abandoned},
                timeout=self._live.current.admission_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            self._leave(turn)
            raise
        if turn.done():
            self._admitted -= 1
            return True
        self._leave(turn)
        if abandoned.done():
            return False
        raise NoRoom(self.retry_after())

    def retry_after(self) -> int:
        """Whole seconds until room is likely, at least 1: 1 while a job is being completed (its
        place frees when its deliveries end), else until the soonest scheduled job is due."""
        due = self._timetable.next_due()
        if self._running or due is None:
            return 1
        return max(1, math.ceil(due - asyncio.get_running_loop().time()))

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
        while self._waiting and self._unfinished() < self._live.current.max_jobs:
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
            self._errors.append(exc)
            log.error("background task failed", exc_info=exc)

    @property
    def pending(self) -> int:
        return len(self._timetable)

    # completion
    async def complete(self, job: Job) -> None:
        """Generate and sign ``job``'s webhook, record its event and deliver it to every registered URL."""
        settings, now = self._live.current, self._clock.now()
        targets = self._hooks.targets(settings.webhook_api)
        key = targets[0][1] if targets else self._hooks.account
        done = webhook.completion(job, settings.seed, settings.timezone, now, key.value, key.previous)
        if done.error is not None:
            self._errors.append(done.error)
            log.error("generating job %s failed", job.job_id, exc_info=done.error)
        self._cache.put(job.access_token, done.cached)
        if self._store.jobs.get(job.job_id) is not job:  # reset while it ran: record and send nothing
            job.status = "completed"
            self._changes.bump()
            return
        job.payload, job.body, job.event_id, job.completed_at = (
            done.payload,
            done.body,
            done.payload["id"],
            now,
        )
        rows = [EventRow.for_job(job, url, "pending", now) for url, _ in targets] or [
            EventRow.for_job(job, None, "failed", now)
        ]
        self._store.add_events(rows)
        self._changes.bump()
        if targets:
            await self._gate.wait(job)
            if len(rows) == 1:  # the usual case, without gather's future and task per URL
                for delivery in range(1, deliveries(job) + 1):
                    await self.deliver(job, rows[0], done.body, done.headers, delivery)
            else:
                signed = [
                    done.headers if other is key else webhook.headers(job, other.value, other.previous)
                    for _, other in targets
                ]
                for delivery in range(1, deliveries(job) + 1):
                    await asyncio.gather(
                        *(
                            self.deliver(job, row, done.body, head, delivery)
                            for row, head in zip(rows, signed, strict=True)
                        )
                    )
        job.status = "completed"
        self._gate.passed(job)
        self._changes.bump()
        self._store.notify()

    def redeliver(self, job: Job) -> asyncio.Task[int]:
        """Deliver a completed job's event again to every registered URL (see ``_redeliver``)."""
        return self.track(self._redeliver(job))

    async def _redeliver(self, job: Job) -> int:
        """The same bytes, id and timestamp, signed again (with each URL's current secret, unless the
        job's behaviours say otherwise). ``webhook-attempt`` restarts at 1, since Cobalt's retry rule
        applies to each delivery; attempts record which delivery they belong to. Returns the
        delivery number."""
        assert job.body is not None
        delivery = max((a.delivery for a in job.attempts), default=0) + 1
        known = {row.webhook_url: row for row in self._store.find_events(job_id=job.job_id)}
        sends = []
        for url, key in self._hooks.targets(self._live.current.webhook_api):
            row = known.get(url)
            if row is None:
                row = EventRow.for_job(job, url, "pending", self._clock.now())
                self._store.add_events([row])
            headers = webhook.headers(job, key.value, key.previous)
            sends.append(self.deliver(job, row, job.body, headers, delivery))
        await asyncio.gather(*sends)
        self._changes.bump()
        self._store.notify()
        return delivery

    async def deliver(
        self, job: Job, row: EventRow, body: bytes, headers: dict[str, str], delivery: int = 1
    ) -> None:
        """POST to one URL with Cobalt's retry rule; set the row's final delivery status."""
        assert row.webhook_url is not None
        settings = self._live.current
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
        reply = NO_REPLY
        status: int | None = None
        error: str | None = None
        retry = False
        started, clock = utc_now(), time.perf_counter()
        if self._closed:  # shut down: no sender any more, and nothing to retry
            error = "the server has stopped"
        else:
            async with self._semaphore:
                try:
                    reply = await self._sender(url, body, sent, timeout)
                    status = reply.status
                    retry = is_retryable_status(status)
                except DeliveryFailed as exc:
                    error, retry = str(exc), exc.retryable
        duration = (time.perf_counter() - clock) * 1000
        record = Attempt(
            number,
            url,
            iso_millis(started),
            duration,
            status,
            error,
            sent,
            body,
            delivery,
            reply.body,
            reply.truncated,
        )
        job.attempts += (record,)
        if self._store.jobs.get(job.job_id) is job:  # not one that a reset forgot mid-delivery
            self._journal.record_attempt(job, record)
            self._changes.bump()
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
        """Jobs not yet due never start; running ones (deliveries, retries) get ``grace`` seconds,
        then are cancelled. Returns the ids of every job not completed, oldest first."""
        for job_id in self._timetable.ids():
            self.cancel(job_id)
        tasks = list(self._tasks)
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still)
        return [job.job_id for job in self._store.jobs.values() if job.status != "completed"]

    async def close(self, grace: float) -> list[str]:
        """Shutdown: ``drain``, then close the sender; later attempts fail. Returns ``drain``'s ids."""
        undone = await self.drain(grace)
        self._closed = True
        await self._sender.aclose()
        return undone
