"""What the fake's jobs are made of: the fetch a client asked for, the job, its event and attempts."""

from __future__ import annotations

import datetime as dt
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


@dataclass(slots=True)
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
        }


@dataclass(slots=True)
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


@dataclass(slots=True)
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
