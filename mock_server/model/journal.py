"""The journal: every API request the fake received and every webhook delivery attempt it made.

Bounded (``max_journal`` entries, oldest out first); secrets are redacted when an entry is made, so
nothing secret is ever kept. Entries carry a sequence number so a reader can ask for what is new
(``since``). Requests under ``/_mock/`` (the control plane) are not journaled: reading the journal
must not change it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mock_server.data.ids import iso_millis
from mock_server.model.jobs import Attempt, Job

MAX_BODY_BYTES = 64 * 1024
_SECRET_HEADERS = frozenset({"client_secret", "authorization", "proxy-authorization", "cookie", "x-api-key"})

Kind = Literal["request", "delivery"]


def redact_token(token: str) -> str:
    """An access token as the journal shows it: its last 4 characters if it is long enough to hide."""
    if not token:
        return ""
    return "***" + token[-4:] if len(token) >= 12 else "***"


_PLAIN, _SECRET, _TOKEN = 0, 1, 2
_NAMES: dict[bytes, tuple[str, int]] = {}  # raw header name → (lower-case name, kind): seen before


def _kind(name: str) -> int:
    """How the journal keeps a (lower-case) header's value: as it is, hidden, or as a token."""
    return _SECRET if name in _SECRET_HEADERS else _TOKEN if name == "access_token" else _PLAIN


def _shown(kind: int, value: str) -> str:
    return "***" if kind == _SECRET else redact_token(value) if kind == _TOKEN else value


def _learn(raw_name: bytes) -> tuple[str, int]:
    name = raw_name.decode("latin-1").lower()
    known = (name, _kind(name))
    if len(_NAMES) < 1024:  # clients send few distinct names; a flood of new ones is not remembered
        _NAMES[raw_name] = known
    return known


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass(slots=True, eq=False)
class RequestEntry:
    """One API call: what came in (redacted) and what went out."""

    seq: int
    at: str | float
    """When it arrived: seconds since the epoch, written out (``iso_millis``) only when read."""
    method: str
    path: str
    query: str
    headers: dict[str, str]
    access_token: str
    latency_ms: float = 0.0
    body: bytearray = field(default_factory=bytearray)
    body_truncated: bool = False
    status: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    job_id: str | None = None
    behaviours: list[dict[str, Any]] | tuple[()] = ()

    kind: Kind = "request"

    def add_body(self, chunk: bytes) -> None:
        if len(self.body) + len(chunk) <= MAX_BODY_BYTES:  # the usual case, without a sliced copy
            self.body += chunk
            return
        room = MAX_BODY_BYTES - len(self.body)
        if len(chunk) > room:
            self.body_truncated = True
        self.body += chunk[: max(room, 0)]

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": self.at if isinstance(self.at, str) else iso_millis(_utc(self.at)),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "access_token": redact_token(self.access_token),
            "body": self.body.decode("utf-8", "replace"),
            "body_truncated": self.body_truncated,
            "status": self.status,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
            "latency_ms": round(self.latency_ms, 3),
            "error": self.error,
            "job_id": self.job_id,
            "behaviours": list(self.behaviours),
        }


@dataclass(slots=True, eq=False)
class DeliveryEntry:
    """One webhook delivery attempt; the ``Attempt`` itself is shared with the job, not copied."""

    seq: int
    job_id: str
    event_id: str | None
    access_token: str
    attempt: Attempt
    kind: Kind = "delivery"

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "at": self.attempt.started_at,
            "job_id": self.job_id,
            "event_id": self.event_id,
            "access_token": redact_token(self.access_token),
            "attempt": self.attempt.to_json(),
        }


Entry = RequestEntry | DeliveryEntry


class Journal:
    """The bounded log; safe to read from any thread."""

    def __init__(self, limit: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=limit)
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def limit(self) -> int:
        assert self._entries.maxlen is not None
        return self._entries.maxlen

    @limit.setter
    def limit(self, value: int) -> None:
        if value == self._entries.maxlen:
            return
        with self._lock:
            self._entries = deque(self._entries, maxlen=value)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def start_scope(self, scope: Mapping[str, Any], first: dict[str, str] | None = None) -> RequestEntry:
        """Journal a request as it arrives, from its ASGI scope: its method, path, query and headers,
        redacted in the same single pass that decodes them (this runs on every API call); the
        pipeline fills in the rest as it happens. ``first``, if given, gets each header's first
        value as sent (lower-case name → value), from that same pass, for the request's handler."""
        headers: dict[str, str] = {}
        if first is None:
            first = {}
        token: str | None = None
        for raw_name, raw_value in scope["headers"]:
            name, kind = _NAMES.get(raw_name) or _learn(raw_name)
            value = raw_value.decode("latin-1")
            shown = value
            if kind != _PLAIN:
                if kind == _TOKEN and token is None:
                    token = value
                shown = _shown(kind, value)
            if name in headers:
                headers[name] = f"{headers[name]}, {shown}"
            else:
                headers[name] = shown
                first[name] = value
        query = scope.get("query_string", b"").decode("latin-1")
        with self._lock:
            entry = RequestEntry(
                self._next(), time.time(), scope["method"], scope["path"], query, headers, token or ""
            )
            self._entries.append(entry)
        return entry

    def record_attempt(self, job: Job, attempt: Attempt) -> None:
        with self._lock:
            self._entries.append(
                DeliveryEntry(self._next(), job.job_id, job.event_id, job.access_token, attempt)
            )

    def entries(
        self,
        access_token: str | None = None,
        *,
        kind: Kind | None = None,
        since: int = 0,
        job_id: str | None = None,
    ) -> list[Entry]:
        """Entries matching every given filter, oldest first."""
        with self._lock:
            snapshot = list(self._entries)
        return [
            e
            for e in snapshot
            if e.seq > since
            and (access_token is None or e.access_token == access_token)
            and (kind is None or e.kind == kind)
            and (job_id is None or e.job_id == job_id)
        ]

    def newest(self, limit: int) -> list[Entry]:
        """The newest ``limit`` entries, newest first."""
        with self._lock:
            return list(itertools.islice(reversed(self._entries), limit))

    def find(self, seq: int) -> Entry | None:
        """The entry numbered ``seq``, if it is still kept (numbers ascend: a binary search)."""
        with self._lock:
            entries = self._entries
            low, high = 0, len(entries)
            while low < high:
                middle = (low + high) // 2
                if entries[middle].seq < seq:
                    low = middle + 1
                else:
                    high = middle
            if low < len(entries) and entries[low].seq == seq:
                return entries[low]
        return None

    def clear(self, access_token: str | None = None) -> None:
        with self._lock:
            if access_token is None:
                self._entries.clear()
            else:
                kept = [e for e in self._entries if e.access_token != access_token]
                self._entries = deque(kept, maxlen=self._entries.maxlen)

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest entry ever made (a reader's next ``since``)."""
        return self._seq

    def __len__(self) -> int:
        return len(self._entries)
