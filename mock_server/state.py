"""``MockState``: what one running fake owns — its settings, its store and its dispatcher."""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field

from mock_server.settings import Settings
from mock_server.store import Job, Store, new_id, reference_id_for, utc_now
from mock_server.validation import FetchRequest
from mock_server.webhooks import Dispatcher


@dataclass(frozen=True, slots=True)
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

    def __post_init__(self) -> None:
        s = self.settings
        self.store = Store(
            secret=s.webhook_secret, webhook_urls=s.webhook_urls, max_jobs=s.max_jobs, max_events=s.max_events
        )
        self.dispatcher = Dispatcher(self.store, lambda: self.settings)
        self.dispatcher.errors = self.errors
        self._sequence = itertools.count(1)

    def caller(self, client_id: str, access_token: str) -> Caller:
        reference = self.settings.reference_for(access_token) or reference_id_for(access_token)
        return Caller(client_id, access_token, reference)

    def create_job(self, caller: Caller, request: FetchRequest) -> Job:
        """Accept a fetch: record the job and start its timer (the caller answers 202)."""
        number = next(self._sequence)
        delay = self.settings.delay
        seconds = delay.low if delay.kind == "fixed" else delay.draw(_job_rng(self.settings.seed, number))
        job = Job(new_id("job_"), caller.access_token, caller.reference_id, request, utc_now(), seconds)
        self.store.add_job(job)
        self.dispatcher.schedule(job)
        return job

    def reset(self, access_token: str | None = None) -> None:
        for job in list(self.store.jobs.values()):
            if access_token is None or job.access_token == access_token:
                self.dispatcher.cancel(job.job_id)
        self.store.reset(access_token)


def _job_rng(seed: int, number: int) -> random.Random:
    """Per-job draws repeat run to run: the n-th job of a seed always draws the same delay."""
    digest = hashlib.blake2b(f"delay:{seed}:{number}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))
