"""``MockState``: what one running fake owns — its settings, its store and its dispatcher.

Also the test controls (scenarios, holding and finishing jobs, redelivery, run-time config, reset)
and the journal. Methods that start timers or tasks must run on the server's event loop; called from
another thread (a test, the pytest plugin) they hop onto it and wait for the result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import itertools
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mock_server.delivery.dispatcher import Dispatcher
from mock_server.errors import ApiError, ConfigError
from mock_server.model import faults
from mock_server.model.hooks import WebhookRegistry
from mock_server.model.ids import new_id, reference_id_for, utc_now
from mock_server.model.jobs import Attempt, FetchRequest, Job
from mock_server.model.journal import Journal
from mock_server.model.scenarios import Scenario, ScenarioBook, Selection
from mock_server.model.store import Store
from mock_server.settings import Delay, Settings

T = TypeVar("T")
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


@dataclass(frozen=True)  # one per client: no slots (they cost the import a second class)
class Caller:
    """Who made an API call: the three auth headers (access token empty for webhook calls)."""

    client_id: str
    access_token: str
    reference_id: str


@dataclass
class MockState:
    settings: Settings
    store: Store = field(init=False)
    dispatcher: Dispatcher = field(init=False)
    errors: list[BaseException] = field(default_factory=list)
    journal: Journal = field(init=False)
    scenarios: ScenarioBook = field(init=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    """The server's loop, set when the app starts."""

    def __post_init__(self) -> None:
        s = self.settings
        self.store = Store(
            secret=s.webhook_secret,
            webhook_urls=s.webhook_urls,
            max_jobs=s.max_jobs,
            max_events=s.max_events,
            max_cached_appointments=s.max_cached_appointments,
        )
        self.dispatcher = Dispatcher(self.store, lambda: self.settings)
        self.dispatcher.errors = self.errors
        self._sequence = itertools.count(1)
        self.initial_settings = s
        self.journal = Journal(s.max_journal)
        self.dispatcher.on_attempt = self._journal_attempt
        self.scenarios = ScenarioBook()
        self._holding: set[str | None] = set()  # access tokens whose new jobs wait; None: every token
        self._api_sequence = itertools.count(1)
        self.waiting: dict[asyncio.Future[None], str] = {}  # api_timeout connections → access token

    def caller(self, client_id: str, access_token: str) -> Caller:
        return _caller(client_id, access_token, self.settings.token_references)

    def create_job(
        self, caller: Caller, request: FetchRequest, behaviours: Mapping[str, Mapping[str, Any]] | None = None
    ) -> Job:
        """Accept a fetch: record the job and start its timer (the caller answers 202).

        ``behaviours`` (job-level, from ``select``) go with the job; ``slow`` replaces the delay,
        ``never_complete`` leaves it stalled, and a hold on its access token leaves it held.
        """
        number = next(self._sequence)
        chosen = {name: dict(params) for name, params in behaviours.items()} if behaviours else {}
        delay = Delay.parse(chosen["slow"]["delay"]) if "slow" in chosen else self.settings.delay
        seconds = delay.low if delay.kind == "fixed" else delay.draw(_job_rng(self.settings.seed, number))
        job = Job(
            new_id("job_"),
            caller.access_token,
            caller.reference_id,
            request,
            utc_now(),
            seconds,
            number=number,
            behaviours=chosen,
        )
        self.store.add_job(job)
        if "never_complete" in chosen:
            job.status = "stalled"
        elif self.holding(job.access_token):
            job.status = "held"
        else:
            self.dispatcher.schedule(job)
        return job

    def _journal_attempt(self, job: Job, attempt: Attempt) -> None:
        if self.store.jobs.get(job.job_id) is job:  # not one that a reset forgot mid-delivery
            self.journal.record_attempt(job, attempt)

    # scenarios

    def add_scenario(self, scenario: Mapping[str, Any]) -> Scenario:
        """Add a scenario from its JSON form (``mock_server.model.scenarios``); ``ConfigError`` if invalid."""
        return self.scenarios.add(scenario)

    def clear_scenarios(self, access_token: str | None = None) -> int:
        """Remove all scenarios, or those matching only ``access_token``; return how many went."""
        return self.scenarios.clear(access_token)

    def select(self, caller: Caller, request: FetchRequest, header: str = "") -> Selection:
        """The behaviours for one fetch: header and magic values, then scenarios (consumed here)."""
        return self.scenarios.select(self.settings.seed, caller.access_token, request, header)

    # job control

    def hold(self, access_token: str | None = None) -> None:
        """New jobs (of ``access_token``, or every token's) wait in status "held" until released."""
        self._holding.add(access_token)

    def holding(self, access_token: str) -> bool:
        return None in self._holding or access_token in self._holding

    def release(self, access_token: str | None = None) -> list[Job]:
        """Stop holding (every token, or one) and let held jobs (all, or that token's) run.

        Each completes at its due time, or at once if that has passed. Releasing one token while
        every token is held releases that token's jobs; its new jobs are still held.
        """
        return self._on_loop(self._release, access_token)

    def _release(self, access_token: str | None) -> list[Job]:
        if access_token is None:
            self._holding.clear()
        else:
            self._holding.discard(access_token)
        now, released = utc_now(), []
        for job in list(self.store.jobs.values()):
            if job.status == "held" and access_token in (None, job.access_token):
                self.dispatcher.schedule(job, max(0.0, (job.due_at - now).total_seconds()))
                released.append(job)
        return released

    def job(self, job_id: str) -> Job:
        """The job, or ``ApiError(404)``."""
        job = self.store.job(job_id)
        if job is None:
            raise ApiError(404, f"Job {job_id} not found.")
        return job

    def complete_now(self, job_id: str) -> asyncio.Task[None]:
        """Finish a scheduled, held or stalled job now; the task ends after its deliveries."""
        job = self.job(job_id)
        if job.status not in ("scheduled", "held", "stalled"):
            raise ApiError(409, f"Job {job_id} is already {job.status}.")
        return self._on_loop(self._complete_now, job)

    def _complete_now(self, job: Job) -> asyncio.Task[None]:
        self.dispatcher.cancel(job.job_id)
        return self.dispatcher.fire(job)

    def redeliver(self, job_id: str) -> asyncio.Task[int]:
        """Deliver a completed job's webhook again (see ``Dispatcher.redeliver``); the task's result
        is the delivery number."""
        job = self.job(job_id)
        if job.status != "completed" or job.body is None:
            raise ApiError(409, f"Job {job_id} has not completed, so it has no webhook to redeliver.")
        return self._on_loop(lambda: self.dispatcher.track(self.dispatcher.redeliver(job)))

    # run time

    def configure(self, **values: object) -> Settings:
        """Change settings at run time (parsed like everything else); new jobs use them."""
        fixed = sorted(set(values) & FIXED_AT_START)
        if fixed:
            raise ConfigError(f"cannot be changed while running: {', '.join(fixed)}")
        self._apply(self.settings.replace(**values))
        return self.settings

    def _apply(self, settings: Settings) -> None:
        self.settings = settings
        self.store.max_jobs, self.store.max_events = settings.max_jobs, settings.max_events
        self.store.cache.limit = settings.max_cached_appointments
        if self.journal.limit != settings.max_journal:
            self.journal.limit = settings.max_journal

    def api_latency(self) -> float:
        """Seconds to wait before answering the next API request (``api_latency``, from the seed)."""
        delay = self.settings.api_latency
        if delay.kind == "fixed":
            return delay.low
        return delay.draw(_job_rng(self.settings.seed, next(self._api_sequence), "api"))

    def reset(self, access_token: str | None = None) -> None:
        """Forget one access token's jobs, events, cache, journal, scenarios and hold, or everything.

        A full reset also restores the start-up settings, webhook registrations and secret, and
        restarts the sequences that per-job draws use, so each test starts like a fresh server.
        Connections held by ``api_timeout`` are answered (504) at once.
        """
        self._on_loop(self._reset, access_token)

    def _reset(self, access_token: str | None) -> None:
        for job in list(self.store.jobs.values()):
            if access_token is None or job.access_token == access_token:
                self.dispatcher.cancel(job.job_id)
        self.store.reset(access_token)
        self.journal.clear(access_token)
        self.scenarios.clear(access_token)
        self.dispatcher.gate.forget(access_token)
        faults.release_all([f for f, token in self.waiting.items() if access_token in (None, token)])
        if access_token is None:
            self._holding.clear()
            self._apply(self.initial_settings)
            initial = self.initial_settings
            self.store.webhooks = WebhookRegistry(initial.webhook_secret, initial.webhook_urls)
            self._sequence = itertools.count(1)
            self._api_sequence = itertools.count(1)
        else:
            self._holding.discard(access_token)

    def _on_loop(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the server's loop: directly if this is that loop (or none runs)."""
        loop = self.loop
        if loop is None or not loop.is_running() or _running_loop() is loop:
            return fn(*args)
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=30)


@functools.lru_cache(maxsize=1024)
def _caller(client_id: str, access_token: str, token_references: tuple[tuple[str, str], ...]) -> Caller:
    """Callers are immutable and few: made once each, not on every API call."""
    return Caller(client_id, access_token, _reference(token_references, access_token))


def _reference(token_references: tuple[tuple[str, str], ...], access_token: str) -> str:
    """The token's ``access_token_reference_id``: configured (``Settings.reference_for``), else
    derived (once per token: ``_caller`` is cached)."""
    return dict(token_references).get(access_token) or reference_id_for(access_token)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _job_rng(seed: int, number: int, kind: str = "delay") -> random.Random:
    """Per-job draws repeat run to run: the n-th job of a seed always draws the same delay."""
    digest = hashlib.blake2b(f"{kind}:{seed}:{number}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
