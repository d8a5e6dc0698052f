"""The jobs the fake accepted and the webhook events it recorded.

Both are bounded by a retention setting and evicted oldest first, except jobs that have not
finished: nothing the fake has accepted is ever dropped before its event is recorded.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable

from mock_server.model.jobs import EventRow, Job


class Store:
    """Jobs and events of one fake server. Owned by the app, never global."""

    def __init__(self, *, max_jobs: int = 10_000, max_events: int = 10_000) -> None:
        self.max_jobs = max_jobs
        self.max_events = max_events
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.events: deque[EventRow] = deque()
        # Lets other threads (tests, the pytest plugin) await a job without polling.
        self.changed = threading.Condition()
        self._waiters = 0

    def notify(self) -> None:
        # Only when someone waits: a waiter counts itself in, under the lock, before it first checks
        # what it waits for, so one counted after this read sees the change that came before it.
        if self._waiters:
            with self.changed:
                self.changed.notify_all()

    def wait_for_job(self, job_id: str, timeout: float = 5.0) -> Job:
        """Block until ``job_id`` has finished every delivery attempt (call from outside the loop)."""
        with self.changed:
            self._waiters += 1
            try:
                done = self.changed.wait_for(
                    lambda: (job := self.jobs.get(job_id)) is not None and job.status == "completed", timeout
                )
            finally:
                self._waiters -= 1
        job = self.jobs.get(job_id)
        if not done or job is None:
            state = "unknown" if job is None else job.status
            raise TimeoutError(f"job {job_id} did not complete within {timeout:g}s (status: {state})")
        return job

    # jobs
    def add_job(self, job: Job) -> Job:
        self.jobs[job.job_id] = job
        self._evict_jobs()
        return job

    def _evict_jobs(self) -> None:
        excess = len(self.jobs) - self.max_jobs
        if excess <= 0:
            return
        # A stalled (never_complete) job will never record an event, so it may go like a finished one.
        # Stop at the first `excess` found: the oldest is usually done, so each new job costs O(1), not
        # a scan of all `max_jobs` (which made every fetch past the bound pay for the whole store).
        gone: list[str] = []
        for job_id, job in self.jobs.items():
            if job.status in ("completed", "stalled"):
                gone.append(job_id)
                if len(gone) == excess:
                    break
        for job_id in gone:
            del self.jobs[job_id]

    def job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    # events
    def add_events(self, rows: Iterable[EventRow]) -> None:
        self.events.extend(rows)
        while len(self.events) > self.max_events:
            self.events.popleft()

    def find_events(
        self,
        access_token: str | None = None,
        *,
        job_id: str | None = None,
        event_type: str | None = None,
        delivery_status: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[EventRow]:
        """Events matching every given filter, oldest first (dates compare the UTC creation day)."""
        rows = []
        for row in self.events:
            day = row.created_at.date()
            if (
                (access_token is None or row.access_token == access_token)
                and (job_id is None or row.job_id == job_id)
                and (event_type is None or row.event_type == event_type)
                and (delivery_status is None or row.delivery_status == delivery_status)
                and (start is None or day >= start)
                and (end is None or day <= end)
            ):
                rows.append(row)
        return rows

    def reset(self, access_token: str | None = None) -> None:
        """Forget jobs and events: all of them, or one access token's."""
        if access_token is None:
            self.jobs.clear()
            self.events.clear()
        else:
            for job_id in [k for k, j in self.jobs.items() if j.access_token == access_token]:
                del self.jobs[job_id]
            self.events = deque(r for r in self.events if r.access_token != access_token)
