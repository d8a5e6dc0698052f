"""The reliability runs' checks: what the fake says (``/_mock/jobs``, ``GET /v1/webhook-events``,
``/_mock/health``) and what the receiver saw, against the fault script and Cobalt's retry rule."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
from typing import Any

import httpx

from bench.fault_receiver import Arrival, FaultReceiver
from bench.fault_script import Answer
from bench.reliability_load import CLIENT, Accepted
from bench.reliability_report import Report, Scenario

Expected = dict[str, tuple[list[Answer], str]]  # job id → the answers its attempts get, final status

# The fake's attempt times are whole milliseconds (truncated) plus a duration rounded to a microsecond.
CLOCK_SLACK = 0.002


async def settled(client: httpx.AsyncClient, timeout: float) -> bool:
    """Until no job is scheduled or running: the last answers the receiver gave are recorded.

    The receiver records an arrival before it answers, so this waits on the fake's documented
    control API (a poll, the one place the run needs one) for the few milliseconds in between.
    False if jobs were still busy after ``timeout``.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while True:
                busy = 0
                for status in ("scheduled", "running"):
                    jobs = (await client.get("/_mock/jobs", params={"status": status})).json()["jobs"]
                    busy += len(jobs)
                if not busy:
                    return True
                await asyncio.sleep(0.02)
    return False


async def verify_fake(
    client: httpx.AsyncClient,
    s: Scenario,
    report: Report,
    accepted: list[Accepted],
    expected: Expected,
    receiver: FaultReceiver,
) -> None:
    """What the fake says: every job listed and completed, its event recorded with the right status."""
    jobs = {j["job_id"]: j for j in (await client.get("/_mock/jobs")).json()["jobs"]}
    report.jobs_listed = len(jobs)
    report.jobs_completed = sum(1 for j in jobs.values() if j["status"] == "completed")
    rows: dict[str, list[dict[str, Any]]] = {}
    for token in sorted({a.token for a in accepted}):
        page = 1
        while True:
            params: dict[str, str | int] = {"page": page, "page_size": 100, "sort": "created_at"}
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
        ended = await _ended(client, s.retention, accepted, jobs)
        verify_eviction(s, report, accepted, rows, ended)
        return
    for a in accepted:
        answers, final = expected[a.job_id]
        job, events = jobs.get(a.job_id), rows.get(a.job_id, [])
        if job is None or job["status"] != "completed" or len(events) != 1:
            report.lost.add(a.job_id)
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


async def _ended(
    client: httpx.AsyncClient, limit: int, accepted: list[Accepted], jobs: dict[str, Any]
) -> dict[str, float]:
    """When each kept job's last attempt ended (wall clock), for the kept jobs that fewer than
    ``limit`` fetches were sent after: no other can break the rule ``verify_eviction`` checks."""
    newest = {a.job_id for a in sorted(accepted, key=lambda a: a.sent)[-limit:]}
    ended = {}
    for job_id in sorted(set(jobs) - newest):
        attempts = (await client.get(f"/_mock/jobs/{job_id}")).json()["job"]["attempts"]
        if attempts:
            ended[job_id] = max(
                dt.datetime.fromisoformat(a["started_at"]).timestamp() + a["duration_ms"] / 1000
                for a in attempts
            )
    return ended


def verify_eviction(
    s: Scenario,
    report: Report,
    accepted: list[Accepted],
    rows: dict[str, list[dict[str, Any]]],
    ended: dict[str, float],
) -> None:
    """Retention: exactly the limits kept, and the oldest gone first. (The exact order is
    ``tests/test_reliability.py``'s in-process test; these are the rules, checked without timing.)

    Events go strictly oldest first, and each is recorded when its job starts, in the order the jobs
    were created (``--delay 0``): the kept ones are the newest ``limit`` jobs'. The 202s may come in
    a little out of that order, by less than one per connection.

    Jobs go oldest *finished* first; an unfinished job is never evicted, however many newer ones come
    meanwhile (so no count of newer jobs bounds how long an old one may stay). Once a job has
    finished, each new job evicts it or an older finished one, and at most ``limit - 1`` older ones
    are kept: a kept job finished before ``limit`` more fetches were sent would break the rule.
    """
    assert s.retention is not None
    limit = s.retention
    if report.retained_jobs != min(limit, len(accepted)):
        report.eviction_problems.append(f"{report.retained_jobs} jobs kept, limit {limit}")
    if report.retained_events != min(limit, len(accepted)):
        report.eviction_problems.append(f"{report.retained_events} events kept, limit {limit}")
    position = {a.job_id: i for i, a in enumerate(accepted)}
    cut = len(accepted) - limit - s.concurrency
    stale = [job_id for job_id in rows if position.get(job_id, cut) < cut]
    if stale:
        report.eviction_problems.append(
            f"{len(stale)} event(s) kept though over {limit} newer were recorded, e.g. {stale[0]}"
        )
    sent = sorted(a.sent for a in accepted)
    overdue = {}
    for job_id, end in ended.items():
        newer = len(sent) - bisect.bisect_right(sent, end + CLOCK_SLACK)
        if newer >= limit:
            overdue[job_id] = newer
    if overdue:
        job_id = max(overdue, key=overdue.__getitem__)
        report.eviction_problems.append(
            f"{len(overdue)} job(s) kept though finished before {limit} newer fetches were sent, e.g. "
            f"{job_id}: {overdue[job_id]} after it"
        )


def undelivered(accepted: list[Accepted], expected: Expected, receiver: FaultReceiver) -> set[str]:
    """Accepted jobs that are missing an attempt the script implies."""
    arrived = {(a.job_id, a.attempt) for a in receiver.arrivals}
    return {
        a.job_id
        for a in accepted
        if any((a.job_id, n) not in arrived for n in range(1, len(expected[a.job_id][0]) + 1))
    }


def verify_receiver(
    s: Scenario, report: Report, accepted: list[Accepted], expected: Expected, receiver: FaultReceiver
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
    for a in accepted:
        answers, _ = expected[a.job_id]
        want = set(range(1, len(answers) + 1))
        got = sorted(by_job.get(a.job_id, []), key=lambda arrival: (arrival.attempt or 0, arrival.at))
        numbers = [arrival.attempt for arrival in got]
        extra = len(numbers) - len(want & set(numbers))
        report.duplicates += extra
        if want - set(numbers) and a.job_id not in report.shutdown_line:  # reported at shutdown: not lost
            report.lost.add(a.job_id)
        if extra or len(got) != 2:
            continue
        first, retry = got
        if (first.event_id, first.timestamp, first.signature, first.digest) != (
            retry.event_id,
            retry.timestamp,
            retry.signature,
            retry.digest,
        ):
            report.rule_violations.append(f"{a.job_id}: the retry differs from the first attempt")
        if retry.at - first.at < s.retry_delay * 0.9:
            report.rule_violations.append(
                f"{a.job_id}: retried after {retry.at - first.at:.3f}s < retry_delay {s.retry_delay}"
            )
