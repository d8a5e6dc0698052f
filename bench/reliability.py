"""Reliability runs: load, faults, a long soak and shutdown, against a real ``cobalt-mock serve`` process.

One engine, two sizes. ``run(Scenario(...))`` starts the fake as a subprocess on loopback, a receiver
that answers each delivery as a deterministic fault script says (by a hash of job id and attempt:
200, 500, or a closed connection), sends ``fetches`` valid fetches at ``concurrency`` connections,
waits for every delivery the script implies, then checks everything against the fake's own API
(``/_mock/jobs``, ``GET /v1/webhook-events``) and the receiver's record: no loss, no duplicate beyond
Cobalt's one retry, every attempt by the retry rules, every event's ``delivery_status`` as the
script implies. It ends with SIGTERM and times the shutdown. ``tests/test_reliability.py`` runs it
small in CI; ``python -m bench.reliability --full`` (``make reliability``) runs the long runs.

Traffic goes to 127.0.0.1 only; every run is bounded in count and in time (``Scenario.deadline``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.signing import verify

Answer = Literal["ok", "500", "close"]
CLIENT = {"client_id": "ci_reliability", "client_secret": "cs_reliability"}
FIRST_DAY = dt.date(2025, 1, 6)


# -- the fault script ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultScript:
    """How the receiver answers: by a hash of (seed, job id, attempt), so every run can predict it."""

    fail: float = 0.0  # share of attempts answered 500
    close: float = 0.0  # share of attempts whose connection is closed without an answer
    delay: float = 0.0  # seconds the receiver waits before answering (a slow receiver)
    seed: str = "cobalt-mock"

    def answer(self, job_id: str, attempt: int) -> Answer:
        digest = hashlib.blake2b(f"{self.seed}:{job_id}:{attempt}".encode(), digest_size=8).digest()
        draw = int.from_bytes(digest, "big") / 2**64
        if draw < self.fail:
            return "500"
        if draw < self.fail + self.close:
            return "close"
        return "ok"

    def expected(self, job_id: str) -> tuple[list[Answer], str]:
        """Cobalt's rule applied to the script: the answers a job's attempts get, and its final status.

        A 5xx or a closed connection gets one retry; the retry's answer is final.
        """
        first = self.answer(job_id, 1)
        if first == "ok":
            return ["ok"], "success"
        second = self.answer(job_id, 2)
        return [first, second], "success" if second == "ok" else "failed"


CLEAN = FaultScript()
FAULTY = FaultScript(fail=0.30, close=0.10)
SLOW = FaultScript(delay=0.2)


# -- the receiver --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    job_id: str | None
    attempt: int | None
    event_id: str | None
    timestamp: str | None
    signature: str | None
    signature_ok: bool
    digest: bytes
    at: float  # time.monotonic()
    answer: Answer


class FaultReceiver:
    """A webhook receiver on 127.0.0.1 that answers by the script and records every arrival.

    Plain asyncio streams on the caller's loop; HTTP/1.1 with Content-Length bodies (what the fake
    sends), keep-alive honoured. Cheap: a digest of each body is kept, not the body.
    """

    def __init__(self, script: FaultScript, secret: str = DEFAULT_WEBHOOK_SECRET) -> None:
        self.script = script
        self.secret = secret
        self.arrivals: list[Arrival] = []
        self.malformed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 20)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}/hooks"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def wait_for(self, count: int, timeout: float) -> bool:
        """Until ``count`` arrivals have been recorded (event-driven); False on timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self.arrivals) < count:
                    self._changed.clear()
                    await self._changed.wait()
        return len(self.arrivals) >= count

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    answer = self._record(headers, body)
                    if self.script.delay:
                        await asyncio.sleep(self.script.delay)
                    if answer == "close":
                        return
                    status = b"500 Internal Server Error" if answer == "500" else b"200 OK"
                    writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                finally:
                    self.in_flight -= 1
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        finally:
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes) -> Answer:
        try:
            job_id = orjson.loads(body).get("job_id")
        except (orjson.JSONDecodeError, AttributeError):
            job_id = None
        attempt_text = headers.get("webhook-attempt", "")
        attempt = int(attempt_text) if attempt_text.isdigit() else None
        if not isinstance(job_id, str) or attempt is None:
            self.malformed += 1
            answer: Answer = "ok"
            job_id = job_id if isinstance(job_id, str) else None
        else:
            answer = self.script.answer(job_id, attempt)
        signature = headers.get("cobalt-verification")
        self.arrivals.append(
            Arrival(
                job_id,
                attempt,
                headers.get("webhook-id"),
                headers.get("webhook-timestamp"),
                signature,
                signature is not None and verify(self.secret, body, signature),
                hashlib.blake2b(body, digest_size=16).digest(),
                time.monotonic(),
                answer,
            )
        )
        self._changed.set()
        return answer


# -- the server process --------------------------------------------------------------------------


class ServedFake:
    """``python -m mock_server serve --port 0 ...`` as a child process; stderr kept in a file."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.url = ""
        self.banner = ""
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.exit_code: int | None = None
        self.shutdown_seconds: float | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_server",
            "serve",
            "--port",
            "0",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr_file,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        self.banner = line.decode()
        if "listening on " not in self.banner:
            raise RuntimeError(f"cobalt-mock did not start: {self.banner!r} {self.stderr()!r}")
        self.url = self.banner.split("listening on ")[1].split()[0]
        self._drain = asyncio.create_task(self._discard(self.proc.stdout))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(1 << 16):
            pass

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> tuple[int, int]:
        """(current RSS, peak RSS) in bytes, from /proc (Linux)."""
        values = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(value.split()[0]) * 1024
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    async def terminate(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig``; wait for the exit and time it (``shutdown_seconds``)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.exit_code = await asyncio.wait_for(self.proc.wait(), timeout)
        self.shutdown_seconds = time.monotonic() - started
        return self.exit_code

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)
        self.stderr_file.close()


# -- a scenario and its report -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    fetches: int
    concurrency: int = 64
    faults: FaultScript = CLEAN
    retry_delay: float = 0.05
    tokens: int = 4
    retention: int | None = None  # max_jobs = max_events (journal twice that); None: nothing evicted
    stop_after: int | None = None  # send SIGTERM once this many fetches are accepted
    delivery_concurrency: int = 64
    settle_timeout: float = 60.0  # for the last deliveries after the last fetch
    deadline: float = 900.0  # the whole run
    sample_every: float = 0.25  # RSS samples
    light: bool = False  # MRN and provider fetches only (cheaper to generate: the CI size)


@dataclass
class Report:
    scenario: Scenario
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    job_ids: list[str] = field(default_factory=list)  # the 202s' job ids, in the order they came
    duplicate_job_ids: int = 0
    latencies: list[float] = field(default_factory=list)
    jobs_listed: int = 0
    jobs_completed: int = 0
    events: int = 0
    deliveries: int = 0  # attempts that reached the receiver
    retries: int = 0
    expected_deliveries: int = 0
    expected_retries: int = 0
    succeeded: int = 0  # final delivery_status "success", as the fake recorded it
    failed: int = 0
    expected_failed: int = 0
    duplicates: int = 0  # arrivals beyond what Cobalt's rule allows for the script's answers
    lost: set[str] = field(default_factory=set)  # accepted jobs whose job, event or a delivery is missing
    orphans: int = 0  # arrivals for jobs the client never saw accepted
    status_mismatches: int = 0
    rule_violations: list[str] = field(default_factory=list)
    lost_details: list[str] = field(default_factory=list)  # what the fake says about a few lost jobs
    bad_signatures: int = 0
    max_in_flight: int = 0
    retained_jobs: int | None = None
    retained_events: int | None = None
    eviction_problems: list[str] = field(default_factory=list)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    peak_rss: int = 0
    final_rss: int = 0
    load_seconds: float = 0.0
    settle_seconds: float = 0.0
    verify_seconds: float = 0.0
    shutdown_seconds: float | None = None
    exit_code: int | None = None
    shutdown_line: str = ""
    refused_after_signal: int = 0
    server_errors: list[str] = field(default_factory=list)

    @property
    def losses(self) -> int:
        return len(self.lost)

    @property
    def server_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def problems(self) -> list[str]:
        """Everything that makes the run a failure; empty when the fake held up."""
        out = []
        s = self.scenario
        if self.server_5xx:
            out.append(f"{self.server_5xx} 5xx answer(s)")
        unexpected = {k: v for k, v in self.statuses.items() if k != 202}
        if unexpected:
            out.append(f"fetches not answered 202: {dict(unexpected)}")
        if self.transport_errors and s.stop_after is None:
            out.append(f"transport errors: {dict(self.transport_errors)}")
        names = (
            "duplicate_job_ids",
            "losses",
            "duplicates",
            "orphans",
            "status_mismatches",
            "bad_signatures",
        )
        for name in names:
            if getattr(self, name):
                out.append(f"{name}: {getattr(self, name)}")
        if self.deliveries != self.expected_deliveries:
            out.append(f"deliveries {self.deliveries} != expected {self.expected_deliveries}")
        if self.retries != self.expected_retries:
            out.append(f"retries {self.retries} != expected {self.expected_retries}")
        if s.retention is None and s.stop_after is None and self.failed != self.expected_failed:
            out.append(f"failed deliveries {self.failed} != expected {self.expected_failed}")
        if self.max_in_flight > s.delivery_concurrency:
            out.append(f"{self.max_in_flight} deliveries in flight > delivery_concurrency")
        out.extend(self.rule_violations[:10])
        out.extend(self.eviction_problems)
        out.extend(self.server_errors)
        if self.exit_code != 0:
            out.append(f"exit code {self.exit_code} after SIGTERM")
        if "not completed" in self.shutdown_line:
            out.append(self.shutdown_line)
        return out

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies) or [0.0]
        rss = self.rss_samples
        return {
            "scenario": self.scenario.name,
            "fetches": self.scenario.fetches,
            "concurrency": self.scenario.concurrency,
            "faults": f"{self.scenario.faults.fail:.0%} 500, {self.scenario.faults.close:.0%} closed",
            "requests": self.requests,
            "statuses": dict(sorted(self.statuses.items())),
            "5xx": self.server_5xx,
            "transport_errors": dict(self.transport_errors),
            "refused_after_signal": self.refused_after_signal,
            "jobs": self.accepted,
            "jobs_listed": self.jobs_listed,
            "events": self.events,
            "deliveries": self.deliveries,
            "retries": self.retries,
            "expected_retries": self.expected_retries,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "expected_failed": self.expected_failed,
            "losses": self.losses,
            "duplicates": self.duplicates,
            "orphans": self.orphans,
            "max_deliveries_in_flight": self.max_in_flight,
            "retained_jobs": self.retained_jobs,
            "retained_events": self.retained_events,
            "peak_rss_mib": round(self.peak_rss / 2**20, 1),
            "final_rss_mib": round(self.final_rss / 2**20, 1),
            "rss_mib_by_quarter": [
                round(rss[min(len(rss) - 1, len(rss) * q // 4)][1] / 2**20, 1) for q in (1, 2, 3, 4)
            ]
            if rss
            else [],
            "fetch_p50_ms": round(statistics.median(lat) * 1000, 1),
            "fetch_p99_ms": round(lat[int(len(lat) * 0.99) - 1 if len(lat) > 1 else 0] * 1000, 1),
            "fetches_per_second": round(self.accepted / self.load_seconds, 1) if self.load_seconds else None,
            "load_seconds": round(self.load_seconds, 2),
            "settle_seconds": round(self.settle_seconds, 2),
            "verify_seconds": round(self.verify_seconds, 2),
            "shutdown_seconds": None if self.shutdown_seconds is None else round(self.shutdown_seconds, 3),
            "exit_code": self.exit_code,
            "shutdown_line": self.shutdown_line,
            "problems": self.problems(),
            "lost_details": self.lost_details,
        }


# -- running one ---------------------------------------------------------------------------------


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


def run(scenario: Scenario) -> Report:
    """Run one scenario from start to shutdown; the report says what held and what did not."""
    return asyncio.run(_bounded(scenario))


async def _bounded(scenario: Scenario) -> Report:
    async with asyncio.timeout(scenario.deadline):
        return await _run(scenario)


async def _run(s: Scenario) -> Report:
    report = Report(s)
    receiver = FaultReceiver(s.faults)
    await receiver.start()
    keep = s.retention if s.retention is not None else s.fetches + 1
    fake = ServedFake(
        [
            "--delay",
            "0",
            "--log-level",
            "warning",
            "--retry-delay",
            str(s.retry_delay),
            "--webhook-url",
            receiver.url,
            "--max-jobs",
            str(keep),
            "--max-events",
            str(keep),
            "--max-journal",
            str(2 * keep),
            "--delivery-concurrency",
            str(s.delivery_concurrency),
        ]
    )
    accepted: list[tuple[str, str]] = []  # (job id, access token), in the order the 202s came
    try:
        await fake.start()
        sampler = asyncio.create_task(_sample(fake, report, s.sample_every))
        limits = httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency)
        async with httpx.AsyncClient(base_url=fake.url, limits=limits, timeout=30, trust_env=False) as client:
            started = time.monotonic()
            await _load(s, fake.url, report, accepted, fake)
            report.load_seconds = time.monotonic() - started
            expected = {job_id: s.faults.expected(job_id) for job_id, _ in accepted}
            report.expected_deliveries = sum(len(answers) for answers, _ in expected.values())
            report.expected_retries = sum(len(answers) - 1 for answers, _ in expected.values())
            report.expected_failed = sum(1 for _, final in expected.values() if final == "failed")
            started = time.monotonic()
            await receiver.wait_for(report.expected_deliveries, s.settle_timeout)
            if s.stop_after is None:
                await _settled(client, s.settle_timeout)
            report.settle_seconds = time.monotonic() - started
            sampler.cancel()
            report.final_rss, report.peak_rss = fake.memory()
            if not report.peak_rss and report.rss_samples:  # stopped already: the samples' peak
                report.peak_rss = report.final_rss = max(rss for _, rss in report.rss_samples)
            started = time.monotonic()
            if s.stop_after is None:
                await _verify_fake(client, s, report, accepted, expected, receiver)
            report.verify_seconds = time.monotonic() - started
            if fake.exit_code is None:  # what the fake says about a few lost jobs, while it can
                for job_id in sorted(report.lost | _undelivered(accepted, expected, receiver))[:5]:
                    job = (await client.get(f"/_mock/jobs/{job_id}")).json().get("job", {})
                    tried = [
                        (a["attempt"], a["status_code"], a["error"], a["duration_ms"])
                        for a in job.get("attempts", [])
                    ]
                    report.lost_details.append(f"{job_id}: {job.get('status')} {tried}")
        if fake.exit_code is None:
            await fake.terminate()
        report.exit_code, report.shutdown_seconds = fake.exit_code, fake.shutdown_seconds
        stderr = fake.stderr()
        report.shutdown_line = next((ln for ln in stderr.splitlines() if "stopped;" in ln), "")
        report.server_errors = [ln for ln in stderr.splitlines() if "error" in ln.lower()][:10]
        _verify_receiver(s, report, accepted, expected, receiver)
    finally:
        await fake.stop()
        await receiver.stop()
    return report


async def _sample(fake: ServedFake, report: Report, every: float) -> None:
    started = time.monotonic()
    while True:
        report.rss_samples.append((time.monotonic() - started, fake.memory()[0]))
        await asyncio.sleep(every)


class RawClient:
    """One keep-alive HTTP/1.1 connection, as light as a load client can be: the bench process also
    runs the receiver, and an httpx client at 64 connections would make that receiver the slow part."""

    def __init__(self, url: str) -> None:
        parts = url.split("//", 1)[1].split(":")
        self.host, self.port = parts[0], int(parts[1])
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
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
        return status, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(
    s: Scenario, url: str, report: Report, accepted: list[tuple[str, str]], fake: ServedFake
) -> None:
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
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(30):
                    status, content = await client.post("/v1/appointments/fetch", headers, orjson.dumps(body))
            except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError) as exc:
                if signalled:
                    report.refused_after_signal += 1
                else:
                    report.transport_errors[type(exc).__name__] += 1
                continue
            report.latencies.append(time.perf_counter() - sent)
            report.statuses[status] += 1
            if status == 202:
                job_id = orjson.loads(content)["job_id"]
                if job_id in seen:
                    report.duplicate_job_ids += 1
                seen.add(job_id)
                accepted.append((job_id, token))
                if s.stop_after is not None and len(accepted) >= s.stop_after and not signalled:
                    signalled = True
                    exit_timers.append(asyncio.create_task(_time_exit(fake)))
        client.close()

    await asyncio.gather(*(worker() for _ in range(s.concurrency)))
    await asyncio.gather(*exit_timers)
    report.accepted = len(accepted)
    report.job_ids = [job_id for job_id, _ in accepted]


async def _time_exit(fake: ServedFake) -> None:
    """SIGTERM now, in the middle of the load; time the exit."""
    started = time.monotonic()
    assert fake.proc is not None
    fake.proc.send_signal(signal.SIGTERM)
    fake.exit_code = await fake.proc.wait()
    fake.shutdown_seconds = time.monotonic() - started


async def _settled(client: httpx.AsyncClient, timeout: float) -> None:
    """Until no job is scheduled or running: the last answers the receiver gave are recorded.

    The receiver records an arrival before it answers, so this waits on the fake's documented
    control API (a poll, the one place the run needs one) for the few milliseconds in between.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                busy = 0
                for status in ("scheduled", "running"):
                    jobs = (await client.get("/_mock/jobs", params={"status": status})).json()["jobs"]
                    busy += len(jobs)
                if not busy:
                    return
                await asyncio.sleep(0.02)


async def _verify_fake(
    client: httpx.AsyncClient,
    s: Scenario,
    report: Report,
    accepted: list[tuple[str, str]],
    expected: dict[str, tuple[list[Answer], str]],
    receiver: FaultReceiver,
) -> None:
    """What the fake says: every job listed and completed, its event recorded with the right status."""
    jobs = {j["job_id"]: j for j in (await client.get("/_mock/jobs")).json()["jobs"]}
    report.jobs_listed = len(jobs)
    report.jobs_completed = sum(1 for j in jobs.values() if j["status"] == "completed")
    rows: dict[str, list[dict[str, Any]]] = {}
    for token in sorted({token for _, token in accepted}):
        page = 1
        while True:
            params = {"page": page, "page_size": 100, "sort": "created_at"}
            headers = {**CLIENT, "access_token": token}
            answer = (await client.get("/v1/webhook-events", params=params, headers=headers)).json()
            for row in answer["webhook_events"]:
                rows.setdefault(row["job_id"], []).append(row)
            if page >= answer["pagination"]["total_pages"]:
                break
            page += 1
    report.events = sum(len(r) for r in rows.values())
    health = (await client.get("/_mock/health")).json()
    report.retained_jobs, report.retained_events = health["jobs"], health["events"]
    if s.retention is not None:
        _verify_eviction(s, report, accepted, jobs, rows)
        return
    for job_id, _ in accepted:
        answers, final = expected[job_id]
        job, events = jobs.get(job_id), rows.get(job_id, [])
        if job is None or job["status"] != "completed" or len(events) != 1:
            report.lost.add(job_id)
            continue
        row = events[0]
        report.succeeded += row["delivery_status"] == "success"
        report.failed += row["delivery_status"] == "failed"
        if (
            row["delivery_status"] != final
            or job["attempt_count"] != len(answers)
            or row["event_id"] != job["event_id"]
            or row["webhook_url"] != receiver.url
        ):
            report.status_mismatches += 1


def _verify_eviction(
    s: Scenario,
    report: Report,
    accepted: list[tuple[str, str]],
    jobs: dict[str, Any],
    rows: dict[str, list[dict[str, Any]]],
) -> None:
    """Retention: exactly the limits kept, and nothing old.

    Finished jobs and events go oldest first; unfinished jobs never do, and up to ``max_jobs`` of them
    may be in progress, so a job is certainly gone once ``2 * limit`` newer ones were accepted. (The
    exact order is ``tests/test_reliability.py``'s in-process test.)
    """
    assert s.retention is not None
    limit = s.retention
    order = [job_id for job_id, _ in accepted]
    if report.retained_jobs != min(limit, len(order)):
        report.eviction_problems.append(f"{report.retained_jobs} jobs kept, limit {limit}")
    if report.retained_events != min(limit, len(order)):
        report.eviction_problems.append(f"{report.retained_events} events kept, limit {limit}")
    old = order[: max(0, len(order) - 2 * limit - s.concurrency)]
    if any(job_id in jobs or job_id in rows for job_id in old):
        report.eviction_problems.append("a job or event outlived 2 * limit newer ones")


def _undelivered(
    accepted: list[tuple[str, str]], expected: dict[str, tuple[list[Answer], str]], receiver: FaultReceiver
) -> set[str]:
    """Accepted jobs that are missing an attempt the script implies."""
    arrived = {(a.job_id, a.attempt) for a in receiver.arrivals}
    return {
        job_id
        for job_id, _ in accepted
        if any((job_id, n) not in arrived for n in range(1, len(expected[job_id][0]) + 1))
    }


def _verify_receiver(
    s: Scenario,
    report: Report,
    accepted: list[tuple[str, str]],
    expected: dict[str, tuple[list[Answer], str]],
    receiver: FaultReceiver,
) -> None:
    """What arrived: each job's attempts exactly as Cobalt's rule and the script say."""
    by_job: dict[str | None, list[Arrival]] = {}
    for arrival in receiver.arrivals:
        by_job.setdefault(arrival.job_id, []).append(arrival)
    report.deliveries = len(receiver.arrivals)
    report.retries = sum(1 for a in receiver.arrivals if a.attempt == 2)
    report.bad_signatures = sum(1 for a in receiver.arrivals if not a.signature_ok) + receiver.malformed
    report.max_in_flight = receiver.max_in_flight
    report.orphans = sum(len(v) for k, v in by_job.items() if k not in expected)
    for job_id, _ in accepted:
        answers, _ = expected[job_id]
        want = set(range(1, len(answers) + 1))
        got = sorted(by_job.get(job_id, []), key=lambda a: (a.attempt or 0, a.at))
        numbers = [a.attempt for a in got]
        extra = len(numbers) - len(want & set(numbers))
        report.duplicates += extra
        if want - set(numbers) and job_id not in report.shutdown_line:  # reported at shutdown: not lost
            report.lost.add(job_id)
        if extra or len(got) != 2:
            continue
        first, retry = got
        if (first.event_id, first.timestamp, first.signature, first.digest) != (
            retry.event_id,
            retry.timestamp,
            retry.signature,
            retry.digest,
        ):
            report.rule_violations.append(f"{job_id}: the retry differs from the first attempt")
        if retry.at - first.at < s.retry_delay * 0.9:
            report.rule_violations.append(
                f"{job_id}: retried after {retry.at - first.at:.3f}s < retry_delay {s.retry_delay}"
            )


# -- the command ---------------------------------------------------------------------------------


def full_suite() -> list[Scenario]:
    """``make reliability``: the issue's two runs at full size, the faults again with Cobalt's own 1 s
    retry delay, a long soak under retention limits, and a SIGTERM in the middle of a load."""
    return [
        Scenario("load", 10_000, 64),
        Scenario("faults", 10_000, 64, faults=FAULTY),
        Scenario("faults-cobalt-timing", 2_000, 64, faults=FAULTY, retry_delay=1.0),
        Scenario("soak", 50_000, 64, faults=FAULTY, retention=2_000),
        Scenario("shutdown-under-load", 3_000, 64, faults=SLOW, retention=500, stop_after=1_500),
    ]


def quick_suite() -> list[Scenario]:
    """The same scenarios at the size CI runs (``tests/test_reliability.py``), on cheaper fetches."""
    return [
        Scenario("load", 500, 64, light=True),
        Scenario("faults", 500, 64, faults=FAULTY, light=True),
        Scenario("soak", 800, 32, faults=FAULTY, retention=100, light=True),
        Scenario("shutdown-under-load", 300, 32, faults=SLOW, retention=100, stop_after=150, light=True),
        Scenario("bounded-delivery", 48, 16, faults=SLOW, delivery_concurrency=4, light=True),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the full runs (10,000 fetches each; minutes)")
    parser.add_argument("--only", action="append", help="run only the scenario(s) of this name")
    parser.add_argument("--json", type=Path, help="also write the reports here as JSON")
    args = parser.parse_args(argv)
    suite = full_suite() if args.full else quick_suite()
    if args.only:
        suite = [s for s in suite if s.name in args.only]
    print(f"cobalt-mock reliability, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}", flush=True)
    summaries = []
    for scenario in suite:
        report = run(scenario)
        summary = report.summary()
        summaries.append(summary)
        print(json.dumps(summary, indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(summaries, indent=1) + "\n")
    failed = [s["scenario"] for s in summaries if s["problems"]]
    print("FAILED: " + ", ".join(failed) if failed else "all scenarios held", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
