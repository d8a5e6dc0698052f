"""The reliability runs' load: ``fetches`` valid fetches at ``concurrency`` keep-alive connections,
each 202's job id recorded with when its fetch was sent; optionally a SIGTERM in the middle."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench.reliability_report import Report, Scenario
from bench.served_fake import ServedFake

CLIENT = {"client_id": "ci_reliability", "client_secret": "cs_reliability"}
HANG = 30.0  # seconds: a fetch not answered by then counts as a hang (admission_timeout is far less)
FIRST_DAY = dt.date(2025, 1, 6)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A fetch the fake answered 202."""

    job_id: str
    token: str
    sent: float
    """``time.time()`` just before the fetch was written: the fake created its job after this moment
    (the fake's own timestamps are on the same wall clock)."""


def fetch_for(i: int, tokens: int, *, light: bool = False) -> tuple[dict[str, Any], str]:
    """The i-th fetch and its access token: of each 4, a one-day range (an MRN if ``light``), a
    single provider over two days, and two MRN searches."""
    token = f"tok_reliability_{(i // 4) % tokens}"
    day = FIRST_DAY + dt.timedelta(days=(i // 16) % 28)
    kind = i % 4
    if kind == 0 and not light:
        return {"start_date": day.isoformat(), "end_date": day.isoformat()}, token
    if kind == 1:
        end = day + dt.timedelta(days=1)
        body = {"search_by": "provider", "provider_ids": [f"prov_{i % 5}"]}
        return {**body, "start_date": day.isoformat(), "end_date": end.isoformat()}, token
    return {"search_by": "mrn", "mrn": str(100_000 + i)}, token


class RawClient:
    """One keep-alive HTTP/1.1 connection, as light as a load client can be: the bench process also
    runs the receiver, and an httpx client at 64 connections would make that receiver the slow part."""

    def __init__(self, url: str) -> None:
        parts = url.split("//", 1)[1].split(":")
        self.host, self.port = parts[0], int(parts[1])
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        try:
            self.writer.write(head.encode() + b"\r\n" + body)
            answer = await self.reader.readuntil(b"\r\n\r\n")
            status = int(answer[9:12])
            fields = {}
            for line in answer.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            content = await self.reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, fields, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(s: Scenario, url: str, report: Report, accepted: list[Accepted], fake: ServedFake) -> None:
    """Send the scenario's fetches; ``accepted`` gets each 202 in the order the answers came."""
    indexes = iter(range(s.fetches))
    seen: set[str] = set()
    signalled = False
    exit_timers: list[asyncio.Task[None]] = []

    async def worker() -> None:
        nonlocal signalled
        client = RawClient(url)
        for i in indexes:
            body, token = fetch_for(i, s.tokens, light=s.light)
            headers = {**CLIENT, "access_token": token, "content-type": "application/json"}
            report.requests += 1
            sent_at, sent = time.time(), time.perf_counter()
            try:
                async with asyncio.timeout(HANG):
                    status, fields, content = await client.post(
                        "/v1/appointments/fetch", headers, orjson.dumps(body)
                    )
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:  # TimeoutError is an OSError
                if isinstance(exc, TimeoutError):
                    report.hangs += 1
                elif signalled:
                    report.refused_after_signal += 1
                else:
                    report.transport_errors[type(exc).__name__] += 1
                continue
            report.latencies.append(time.perf_counter() - sent)
            report.statuses[status] += 1
            if status == 429:  # no room within admission_timeout: refused, never accepted, not lost
                report.refused += 1
                report.refused_without_retry_after += not fields.get("retry-after", "").isdigit()
            if status == 202:
                job_id = orjson.loads(content)["job_id"]
                if job_id in seen:
                    report.duplicate_job_ids += 1
                seen.add(job_id)
                accepted.append(Accepted(job_id, token, sent_at))
                if s.stop_after is not None and len(accepted) >= s.stop_after and not signalled:
                    signalled = True
                    exit_timers.append(asyncio.create_task(time_exit(fake)))
        client.close()

    await asyncio.gather(*(worker() for _ in range(s.concurrency)))
    await asyncio.gather(*exit_timers)
    report.accepted = len(accepted)
    report.job_ids = [a.job_id for a in accepted]


async def time_exit(fake: ServedFake) -> None:
    """SIGTERM now, in the middle of the load; time the exit."""
    started = time.monotonic()
    assert fake.proc is not None
    fake.proc.send_signal(signal.SIGTERM)
    fake.exit_code = await fake.proc.wait()
    fake.shutdown_seconds = time.monotonic() - started
