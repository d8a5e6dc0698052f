"""``MockState``: the fake's model — every operation the API, the control plane and the test handle
perform, over the objects that hold its state.

Like moto's backends: handlers are thin and call one method here; nothing outside reaches into the
objects behind it. Its collaborators are given to it when it is built (``mock_server.api.app``
builds them all); the one that completes jobs and sends webhooks is a ``Scheduler`` from the
delivery layer above, known here only by that protocol. Methods run on the server's event loop
(the test handle hops onto it first).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import itertools
import random
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, NoReturn, Protocol

from mock_server.data.ids import new_id, reference_id_for
from mock_server.errors import ApiError, ConfigError
from mock_server.model.behaviours import Applied, Scenario, ScenarioBook
from mock_server.model.cache import AppointmentCache
from mock_server.model.changes import Changes
from mock_server.model.clock import Clock
from mock_server.model.hooks import Webhook, WebhookRegistry
from mock_server.model.jobs import EventRow, FetchRequest, Job, Store
from mock_server.model.journal import Entry, Journal, Kind, RequestEntry
from mock_server.settings import Delay, Settings

MSG_429 = "Too many requests. Please retry later."
MSG_500 = "Internal server error."
MSG_504 = "Gateway timeout."
MSG_NO_ROOM = "Too many fetches in progress. Retry later."

# Settings a running server cannot take back: they shaped its socket, its client or its registry.
FIXED_AT_START = frozenset(
    {
        "host",
        "port",
        "control",
        "control_token",
        "delivery_concurrency",
        "read_timeout",
        "webhook_urls",
        "webhook_secret",
    }
)


class LiveSettings:
    """The settings in force now (``configure`` changes them) and the ones a full reset restores."""

    def __init__(self, settings: Settings) -> None:
        self.current = settings
        self.initial = settings


class NoRoom(Exception):
    """No place for a new job came within ``admission_timeout``; room is likely in ``retry_after``
    whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"no room for a new job; retry in {retry_after}s")
        self.retry_after = retry_after


class Scheduler(Protocol):
    """What the model asks of the delivery layer (``mock_server.delivery.dispatcher.Dispatcher``)."""

    def start_now(self, job: Job) -> bool:
        """``start`` without waiting: True if there was room and the job is recorded and started,
        False (nothing done) if it must wait for a place."""

    async def start(self, job: Job, watch: Callable[[], asyncio.Future[None]]) -> bool:
        """When ``start_now`` found no room: wait for a place among the unfinished jobs (first come
        first served, while ``max_jobs`` are unfinished), then record the job and, unless it is held
        or stalled, start its timer. False when the client hung up first (``watch()``'s future
        ended); ``NoRoom`` when no place came within ``admission_timeout``."""

    def schedule(self, job: Job, delay: float | None = None) -> None:
        """Complete ``job`` after ``delay`` seconds (its own delay by default)."""

    def cancel(self, job_id: str) -> bool:
        """Take back a scheduled job's timer."""

    def complete_now(self, job: Job) -> asyncio.Task[None]:
        """Complete ``job`` now; the task ends after its deliveries."""

    def redeliver(self, job: Job) -> asyncio.Task[int]:
        """Deliver a completed job's event again; the task's result is the delivery number."""

    def forget(self, access_token: str | None) -> None:
        """A reset: let waiting out-of-order deliveries go and forget their order."""

    @property
    def pending(self) -> int:
        """Jobs waiting for their due time."""

    async def drain(self, grace: float) -> list[str]:
        """Stop every timer; give running completions ``grace`` seconds, then cancel them."""


class Holds:
    """Connections an ``api_timeout`` fault holds open, so that a reset can answer them at once."""

    def __init__(self) -> None:
        self._held: dict[asyncio.Future[None], str] = {}

    def add(self, access_token: str) -> asyncio.Future[None]:
        released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held[released] = access_token
        return released

    def discard(self, released: asyncio.Future[None]) -> None:
        self._held.pop(released, None)

    def release(self, access_token: str | None = None) -> None:
        for released, token in list(self._held.items()):
            if access_token in (None, token) and not released.done():
                released.set_result(None)

    def __len__(self) -> int:
        return len(self._held)


class Caller(NamedTuple):
    """Who made an API call: the three auth headers (access token empty for webhook calls)."""

    client_id: str
    access_token: str
    reference_id: str


class MockState:
    def __init__(
        self,
        settings: LiveSettings,
        *,
        store: Store,
        hooks: WebhookRegistry,
        cache: AppointmentCache,
        journal: Journal,
        scenarios: ScenarioBook,
        scheduler: Scheduler,
        holds: Holds,
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
        self._scenarios = scenarios
        self._scheduler = scheduler
        self.holds = holds
        self._changes = changes
        self.errors = errors
        """Exceptions raised inside the fake (a handler's 500, a failed job), for their test."""
        self._holding: set[str | None] = set()  # access tokens whose new jobs wait; None: every token
        self._sequence = itertools.count(1)
        self._api_sequence = itertools.count(1)

    @property
    def settings(self) -> Settings:
        return self._live.current

    # callers and fetches

    async def accept(
        self,
        client_id: str,
        access_token: str,
        request: FetchRequest,
        header: str,
        watch: Callable[[], asyncio.Future[None]],
        entry: RequestEntry | None = None,
    ) -> Job | None:
        """Accept a fetch: choose its behaviours, answer an API-level one, wait for room, record
        the job and start it. Returns the job (the caller answers 202), or None when the client hung
        up while waiting for room; with no room within ``admission_timeout``, 429 with Retry-After
        (the job was never recorded: nothing accepted is dropped). ``watch()`` makes a future that
        ends when the client hangs up (made only when something waits); ``entry`` is the request's
        journal entry.

        Behaviours come from the ``x-cobalt-mock-scenario`` ``header``, magic values and scenarios
        (consumed here). ``api_429``/``api_500`` raise their ``ApiError`` at once; ``api_timeout``
        holds the call for its ``seconds``, until the client hangs up or a reset, then raises 504.
        Of job-level ones, ``slow`` replaces the delay, ``never_complete`` leaves the job stalled, a
        hold on its access token leaves it held, and ``old_secret`` rotates each secret that signs
        (the account's, or every webhook's) now if it has no previous one to sign with.
        """
        settings = self.settings
        caller = _caller(client_id, access_token, settings.token_references)
        try:
            selection = self._scenarios.select(settings.seed, caller.access_token, request, header)
        except ConfigError as exc:
            raise ApiError(400, f"Invalid cobalt-mock scenario: {exc}.") from None
        if entry is not None and (selection.api is not None or selection.job):
            entry.behaviours = selection.to_json()
        if selection.api is not None:
            await self._answer_fault(selection.api, caller.access_token, watch)
        job = self._job(caller, request, selection.behaviours() if selection.job else {})
        if not self._scheduler.start_now(job):  # the usual case starts it at once, without a wait
            try:
                if not await self._scheduler.start(job, watch):
                    return None
            except NoRoom as full:
                raise ApiError(429, MSG_NO_ROOM, {"retry-after": str(full.retry_after)}) from None
        if entry is not None:
            entry.job_id = job.job_id
        return job

    def _job(self, caller: Caller, request: FetchRequest, chosen: dict[str, dict[str, Any]]) -> Job:
        number = next(self._sequence)
        settings = self.settings
        delay = Delay.parse(chosen["slow"]["delay"]) if "slow" in chosen else settings.delay
        seconds = delay.low if delay.kind == "fixed" else delay.draw(_job_rng(settings.seed, number))
        job = Job(
            new_id("job_"),
            caller.access_token,
            caller.reference_id,
            request,
            self._clock.now(),
            seconds,
            number=number,
            behaviours=chosen,
        )
        if "old_secret" in chosen:
            self._hooks.rotate_unrotated(settings.webhook_api)
        if "never_complete" in chosen:
            job.status = "stalled"
        elif self.holding(job.access_token):
            job.status = "held"
        return job

    async def _answer_fault(
        self, applied: Applied, access_token: str, watch: Callable[[], asyncio.Future[None]]
    ) -> NoReturn:
        if applied.behaviour == "api_429":
            raise ApiError(429, MSG_429, {"retry-after": str(applied.params["retry_after"])})
        if applied.behaviour == "api_500":
            raise ApiError(500, MSG_500)
        released, gone = self.holds.add(access_token), watch()
        try:
            await asyncio.wait(
                {released, gone}, timeout=applied.params["seconds"], return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self.holds.discard(released)
            gone.cancel()
        raise ApiError(504, MSG_504)

    def api_latency(self) -> float:
        """Seconds to wait before answering the next API request (``api_latency``, from the seed)."""
        delay = self.settings.api_latency
        if delay.kind == "fixed":
            return delay.low
        return delay.draw(_job_rng(self.settings.seed, next(self._api_sequence), "api"))

    # what the API reads

    def appointments(self, access_token: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Cached appointments of ``access_token`` on the clinic's local dates ``start..end``."""
        return self._cache.query(access_token, start, end)

    def events(
        self,
        access_token: str | None = None,
        *,
        job_id: str | None = None,
        event_type: str | None = None,
        delivery_status: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[EventRow]:
        """Recorded webhook events matching every given filter, oldest first."""
        return self._store.find_events(
            access_token,
            job_id=job_id,
            event_type=event_type,
            delivery_status=delivery_status,
            start=start,
            end=end,
        )

    def counts(self) -> dict[str, int]:
        """What ``/_mock/health`` reports."""
        return {
            "jobs": len(self._store.jobs),
            "pending_jobs": self._scheduler.pending,
            "events": len(self._store.events),
        }

    def journal(
        self,
        access_token: str | None = None,
        *,
        kind: Kind | None = None,
        since: int = 0,
        job_id: str | None = None,
    ) -> list[Entry]:
        """Journal entries matching every given filter, oldest first (safe from any thread)."""
        return self._journal.entries(access_token, kind=kind, since=since, job_id=job_id)

    def recent_journal(self, limit: int) -> list[Entry]:
        """The newest ``limit`` journal entries, newest first (without copying the whole journal)."""
        return self._journal.newest(limit)

    def journal_entry(self, seq: int) -> Entry:
        """The journal entry numbered ``seq``, or ``ApiError(404)``."""
        entry = self._journal.find(seq)
        if entry is None:
            raise ApiError(404, f"Journal entry {seq} not found.")
        return entry

    @property
    def journal_seq(self) -> int:
        """The newest journal sequence number ever given: a reader's next ``since``."""
        return self._journal.last_seq

    # webhooks (``model.hooks``: the guide's one secret per account, or the reference's per webhook)

    @property
    def account_secret(self) -> str:
        """The guide's one secret, which signs every webhook there (``GET /v1/webhook`` shows it)."""
        return self._hooks.account.value

    def secret_for(self, hook: Webhook) -> str:
        """The secret that signs ``hook``'s deliveries now, as ``webhook_api`` says."""
        return self._hooks.signer(hook, self.settings.webhook_api).value

    def valid_secrets(self, hook: Webhook | None) -> list[str]:
        """The secrets that verify a delivery to ``hook`` now: the signing one, and the one it
        replaced while the version's overlap lasts (none in the guide, 24 h in the reference).
        Without a webhook, the guide's account secrets (the reference has none to give)."""
        api = self.settings.webhook_api
        if hook is None:
            return self._hooks.verifying(self._hooks.account) if api == "guide" else []
        return self._hooks.verifying(self._hooks.signer(hook, api))

    def webhooks(self) -> list[Webhook]:
        return list(self._hooks)

    def webhook(self, id_or_url: str) -> Webhook | None:
        """The webhook with this id, or registered at this URL."""
        return self._hooks.find(id_or_url)

    def webhook_urls(self) -> list[str]:
        return self._hooks.urls()

    def register_webhook(self, url: str) -> Webhook:
        hook = self._hooks.register(url)
        self._changes.bump()
        return hook

    def remove_webhook(self, hook_id: str) -> bool:
        removed = self._hooks.remove(hook_id)
        self._changes.bump()
        return removed

    def rotate_secret(self, hook: Webhook | None = None) -> str:
        """A new signing secret, as ``webhook_api`` keeps them: the account's (guide; ``hook``, if
        given, shares it) or ``hook``'s own (reference). Returns it."""
        secret = self._hooks.rotate(self.settings.webhook_api, hook)
        self._changes.bump()
        return secret

    # the fake's clock

    def now(self) -> dt.datetime:
        return self._clock.now()

    def advance_clock(self, seconds: float) -> dt.datetime:
        """Move the fake's clock forward (``ConfigError`` unless 0 <= seconds); returns its time."""
        return self._clock.advance(seconds)

    # scenarios

    def add_scenario(self, scenario: Mapping[str, Any]) -> Scenario:
        """Add a scenario from its JSON form (see ``model.behaviours``); ``ConfigError`` if invalid."""
        return self._scenarios.add(scenario)

    def scenarios(self, access_token: str | None = None) -> list[Scenario]:
        return self._scenarios.list(access_token)

    def remove_scenario(self, scenario_id: str) -> bool:
        return self._scenarios.remove(scenario_id)

    def clear_scenarios(self, access_token: str | None = None) -> int:
        """Remove all scenarios, or those matching only ``access_token``; return how many went."""
        return self._scenarios.clear(access_token)

    # jobs

    def jobs(self, access_token: str | None = None, status: str | None = None) -> list[Job]:
        """Jobs (of one access token, in one status, if given), oldest first."""
        return [
            job
            for job in self._store.jobs.values()
            if access_token in (None, job.access_token) and status in (None, job.status)
        ]

    def recent_jobs(self, limit: int) -> list[Job]:
        """The newest ``limit`` jobs, newest first (without a pass over every job)."""
        return list(itertools.islice(reversed(self._store.jobs.values()), limit))

    def find_job(self, job_id: str) -> Job | None:
        return self._store.job(job_id)

    def job(self, job_id: str) -> Job:
        """The job, or ``ApiError(404)``."""
        job = self._store.job(job_id)
        if job is None:
            raise ApiError(404, f"Job {job_id} not found.")
        return job

    def wait_for_job(self, job_id: str, timeout: float = 5.0) -> Job:
        """Block until the job has finished every delivery attempt (call from outside the loop)."""
        return self._store.wait_for_job(job_id, timeout)

    def hold(self, access_token: str | None = None) -> None:
        """New jobs (of ``access_token``, or every token's) wait in status "held" until released."""
        self._holding.add(access_token)
        self._changes.bump()

    def holding(self, access_token: str) -> bool:
        return None in self._holding or access_token in self._holding

    def held_tokens(self) -> tuple[bool, list[str]]:
        """Whether every token's new jobs are held, and which access tokens' are held by name."""
        return None in self._holding, sorted(token for token in self._holding if token is not None)

    def release(self, access_token: str | None = None) -> list[Job]:
        """Stop holding (every token, or one) and let held jobs (all, or that token's) run.

        Each completes at its due time, or at once if that has passed. Releasing one token while
        every token is held releases that token's jobs; its new jobs are still held.
        """
        if access_token is None:
            self._holding.clear()
        else:
            self._holding.discard(access_token)
        now, released = self._clock.now(), []
        for job in self.jobs(access_token, "held"):
            self._scheduler.schedule(job, max(0.0, (job.due_at - now).total_seconds()))
            released.append(job)
        self._changes.bump()
        return released

    def complete_now(self, job_id: str) -> asyncio.Task[None]:
        """Finish a scheduled, held or stalled job now; the task ends after its deliveries."""
        job = self.job(job_id)
        if job.status not in ("scheduled", "held", "stalled"):
            raise ApiError(409, f"Job {job_id} is already {job.status}.")
        return self._scheduler.complete_now(job)

    def redeliver(self, job_id: str) -> asyncio.Task[int]:
        """Deliver a completed job's webhook again; the task's result is the delivery number."""
        job = self.job(job_id)
        if job.status != "completed" or job.body is None:
            raise ApiError(409, f"Job {job_id} has not completed, so it has no webhook to redeliver.")
        return self._scheduler.redeliver(job)

    # run time

    def configure(self, **values: object) -> Settings:
        """Change settings at run time (parsed like everything else); new jobs use them."""
        fixed = sorted(set(values) & FIXED_AT_START)
        if fixed:
            raise ConfigError(f"cannot be changed while running: {', '.join(fixed)}")
        self._apply(self.settings.replace(**values))
        self._changes.bump()
        return self.settings

    async def restart(self, settings: Settings) -> None:
        """Like a fresh server with ``settings`` (the test handle, between tests): cancel whatever
        still runs, make ``settings`` what a full reset restores, and reset."""
        await self._scheduler.drain(0)
        self._live.initial = settings
        self.reset()

    def _apply(self, settings: Settings) -> None:
        self._live.current = settings
        self._store.max_jobs, self._store.max_events = settings.max_jobs, settings.max_events
        self._cache.limit = settings.max_cached_appointments
        self._journal.limit = settings.max_journal

    def reset(self, access_token: str | None = None) -> None:
        """Forget one access token's jobs, events, cache, journal, scenarios and hold, or everything.

        A full reset also restores the start-up settings, webhook registrations and secrets, and
        the fake's clock, and restarts the sequences that per-job draws use, so each test starts
        like a fresh server.
        Connections held by ``api_timeout`` are answered (504) at once.
        """
        for job in self.jobs(access_token):
            self._scheduler.cancel(job.job_id)
        self._store.reset(access_token)
        self._cache.clear(access_token)
        self._journal.clear(access_token)
        self._scenarios.clear(access_token)
        self._scheduler.forget(access_token)
        self.holds.release(access_token)
        if access_token is None:
            self._holding.clear()
            initial = self._live.initial
            self._apply(initial)
            self._clock.reset()
            self._hooks.reset(initial.webhook_secret, initial.webhook_urls, initial.seed)
            self._sequence = itertools.count(1)
            self._api_sequence = itertools.count(1)
        else:
            self._holding.discard(access_token)
        self._changes.bump()


@functools.lru_cache(maxsize=1024)
def _caller(client_id: str, access_token: str, token_references: tuple[tuple[str, str], ...]) -> Caller:
    """Callers are immutable and few: made once each, not on every API call."""
    reference = dict(token_references).get(access_token) or reference_id_for(access_token)
    return Caller(client_id, access_token, reference)


def _job_rng(seed: int, number: int, kind: str = "delay") -> random.Random:
    """Per-job draws repeat run to run: the n-th job of a seed always draws the same delay."""
    digest = hashlib.blake2b(f"{kind}:{seed}:{number}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
