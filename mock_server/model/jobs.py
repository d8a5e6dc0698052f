"""The fake's jobs: the fetch a client asked for, the job, its event and attempts, and the ``Store``
that keeps jobs and events. Both are bounded by a retention setting and evicted oldest first,
except jobs that have not finished: nothing the fake has accepted is ever dropped before its event
is recorded.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from mock_server.data.ids import iso_millis

SearchBy = Literal["date_range", "mrn", "provider"]
SEARCH_MODES: tuple[SearchBy, ...] = ("date_range", "mrn", "provider")


class FetchRequest(NamedTuple):
    """A validated ``POST /v1/appointments/fetch`` body (a named tuple: immutable, and cheap to make
    and to keep by the ten thousand, since the garbage collector does not track it)."""

    search_by: SearchBy
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    mrn: str | None = None
    provider_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The canonical body: what the journal shows and what seeds per-job draws."""
        out: dict[str, Any] = {"search_by": self.search_by}
        if self.start_date is not None and self.end_date is not None:
            out["start_date"] = self.start_date.isoformat()
            out["end_date"] = self.end_date.isoformat()
        if self.mrn is not None:
            out["mrn"] = self.mrn
        if self.provider_ids:
            out["provider_ids"] = list(self.provider_ids)
        return out


EVENT_TYPE = "appointment.live_fetch_completed"

# "held": waiting for /_mock/jobs/release; "stalled": a never_complete job, finished only on demand.
JobStatus = Literal["scheduled", "held", "stalled", "running", "completed"]
DeliveryStatus = Literal["pending", "success", "failed"]


@dataclass(slots=True, eq=False)
class Attempt:
    """One POST of a webhook to one URL, as the fake saw it."""

    attempt: int
    url: str
    started_at: str
    duration_ms: float
    status_code: int | None
    error: str | None
    headers: dict[str, str]
    body: bytes
    delivery: int = 1
    """Which delivery of the event: 1, then 2... for a duplicate_delivery or a redelivery."""
    response_body: bytes = b""
    """The start of the receiver's answer body (``delivery.senders.REPLY_LIMIT`` bytes at most)."""
    response_truncated: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_json(self) -> dict[str, Any]:
        return {
            "delivery": self.delivery,
            "attempt": self.attempt,
            "url": self.url,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 3),
            "status_code": self.status_code,
            "error": self.error,
            "headers": self.headers,
            "body": self.body.decode("utf-8"),
            "response_body": self.response_body.decode("utf-8", "replace"),
            "response_truncated": self.response_truncated,
        }


@dataclass(slots=True, eq=False)
class Job:
    """A live fetch the fake accepted, from its 202 to its last delivery attempt."""

    job_id: str
    access_token: str
    reference_id: str
    request: FetchRequest
    created_at: dt.datetime
    delay: float
    status: JobStatus = "scheduled"
    event_id: str | None = None
    completed_at: dt.datetime | None = None
    payload: dict[str, Any] | None = None
    body: bytes | None = None
    attempts: tuple[Attempt, ...] = ()
    """Every POST of its event so far, oldest first (a tuple: a waiting job holds no list)."""
    number: int = 0
    """The job's place in creation order (1, 2, ...)."""
    behaviours: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Scenario behaviours chosen for this job: name → params."""

    @property
    def due_at(self) -> dt.datetime:
        return self.created_at + dt.timedelta(seconds=self.delay)

    def to_json(self, *, detail: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "access_token_reference_id": self.reference_id,
            "request": self.request.to_json(),
            "created_at": iso_millis(self.created_at),
            "delay": self.delay,
            "due_at": iso_millis(self.due_at),
            "completed_at": iso_millis(self.completed_at) if self.completed_at else None,
            "event_id": self.event_id,
            "attempt_count": len(self.attempts),
            "behaviours": self.behaviours,
        }
        if detail:
            out["payload"] = self.payload
            out["attempts"] = [a.to_json() for a in self.attempts]
        return out


@dataclass(slots=True, eq=False)
class EventRow:
    """One row of ``GET /v1/webhook-events``: an event and the URL it went (or did not go) to."""

    event_id: str
    webhook_url: str | None
    delivery_status: DeliveryStatus
    data: dict[str, Any]
    created_at: dt.datetime
    job_id: str
    reference_id: str
    access_token: str
    event_type: str = EVENT_TYPE

    @classmethod
    def for_job(cls, job: Job, url: str | None, status: DeliveryStatus, created_at: dt.datetime) -> EventRow:
        """The row for ``job``'s recorded event (``job.payload`` set) going to ``url``."""
        assert job.payload is not None
        return cls(
            job.payload["id"],
            url,
            status,
            job.payload["data"],
            created_at,
            job.job_id,
            job.reference_id,
            job.access_token,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "webhook_url": self.webhook_url,
            "delivery_status": self.delivery_status,
            "data": self.data,
            "created_at": iso_millis(self.created_at),
            "job_id": self.job_id,
            "access_token_reference_id": self.reference_id,
        }


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
