"""Reliability runs: load, faults, a long soak and shutdown, against a real ``cobalt-mock serve`` process.

One engine, two sizes. ``run(Scenario(...))`` starts the fake as a subprocess on loopback, a receiver
that answers each delivery as a deterministic fault script says (by a hash of job id and attempt:
200, 500, or a closed connection), sends ``fetches`` valid fetches at ``concurrency`` connections,
waits for every delivery the script implies, then checks everything against the fake's own API
(``/_mock/jobs``, ``GET /v1/webhook-events``) and the receiver's record: no loss, no duplicate beyond
Cobalt's one retry, every attempt by the retry rules, every event's ``delivery_status`` as the
script implies. It ends with SIGTERM and times the shutdown. ``tests/test_reliability.py`` runs it
small in CI; ``python -m bench.reliability --full`` (``make reliability``) runs the long runs.

The parts: ``bench.fault_script`` (the receiver's answers), ``bench.fault_receiver``,
``bench.served_fake`` (the fake as a child process), ``bench.reliability_load`` (the fetches),
``bench.reliability_checks`` and ``bench.reliability_report`` (the scenario and what it found).

Traffic goes to 127.0.0.1 only; every run is bounded in count and in time (``Scenario.deadline``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import httpx

from bench.fault_receiver import FaultReceiver
from bench.fault_script import CLEAN, FAULTY, SLOW, Answer, FaultScript
from bench.reliability_checks import settled, undelivered, verify_fake, verify_receiver
from bench.reliability_load import Accepted, fetch_for, load
from bench.reliability_report import Report, Scenario
from bench.served_fake import ServedFake

__all__ = [
    "CLEAN",
    "FAULTY",
    "SLOW",
    "Answer",
    "FaultScript",
    "Report",
    "Scenario",
    "fetch_for",
    "full_suite",
    "main",
    "quick_suite",
    "run",
]


def run(scenario: Scenario) -> Report:
    """Run one scenario from start to shutdown; the report says what held and what did not."""
    return asyncio.run(_bounded(scenario))


async def _bounded(scenario: Scenario) -> Report:
    async with asyncio.timeout(scenario.deadline):
        return await _run(scenario)


def _serve_args(s: Scenario, webhook_url: str) -> list[str]:
    keep = s.retention if s.retention is not None else s.fetches + 1
    return [
        *("--delay", "0", "--log-level", "warning", "--retry-delay", str(s.retry_delay)),
        *("--webhook-url", webhook_url, "--max-jobs", str(keep), "--max-events", str(keep)),
        *("--max-journal", str(2 * keep), "--delivery-concurrency", str(s.delivery_concurrency)),
        *(() if s.admission_timeout is None else ("--admission-timeout", str(s.admission_timeout))),
    ]


async def _run(s: Scenario) -> Report:
    report = Report(s)
    receiver = FaultReceiver(s.faults)
    await receiver.start()
    fake = ServedFake(_serve_args(s, receiver.url))
    accepted: list[Accepted] = []  # in the order the 202s came
    try:
        await fake.start()
        sampler = asyncio.create_task(_sample(fake, report, s.sample_every))
        limits = httpx.Limits(max_connections=s.concurrency, max_keepalive_connections=s.concurrency)
        async with httpx.AsyncClient(base_url=fake.url, limits=limits, timeout=30, trust_env=False) as client:
            started = time.monotonic()
            await load(s, fake.url, report, accepted, fake)
            report.load_seconds = time.monotonic() - started
            expected = {a.job_id: s.faults.expected(a.job_id) for a in accepted}
            report.expected_deliveries = sum(len(answers) for answers, _ in expected.values())
            report.expected_retries = sum(len(answers) - 1 for answers, _ in expected.values())
            report.expected_failed = sum(1 for _, final in expected.values() if final == "failed")
            started = time.monotonic()
            await receiver.wait_for(report.expected_deliveries, s.settle_timeout)
            if s.stop_after is None:
                report.settled = await settled(client, s.settle_timeout)
            report.settle_seconds = time.monotonic() - started
            sampler.cancel()
            report.final_rss, report.peak_rss = fake.memory()
            if not report.peak_rss and report.rss_samples:  # stopped already: the samples' peak
                report.peak_rss = report.final_rss = max(rss for _, rss in report.rss_samples)
            started = time.monotonic()
            if s.stop_after is None:
                await verify_fake(client, s, report, accepted, expected, receiver)
            report.verify_seconds = time.monotonic() - started
            if fake.exit_code is None:  # what the fake says about a few lost jobs, while it can
                for job_id in sorted(report.lost | undelivered(accepted, expected, receiver))[:5]:
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
        verify_receiver(s, report, accepted, expected, receiver)
    finally:
        await fake.stop()
        await receiver.stop()
    return report


async def _sample(fake: ServedFake, report: Report, every: float) -> None:
    started = time.monotonic()
    while True:
        report.rss_samples.append((time.monotonic() - started, fake.memory()[0]))
        await asyncio.sleep(every)


# -- the command ---------------------------------------------------------------------------------


def full_suite() -> list[Scenario]:
    """``make reliability``: the issue's two runs at full size, the faults again with Cobalt's own 1 s
    retry delay, a long soak under retention limits, a SIGTERM in the middle of a load, and more
    fetches than ``max_jobs`` has room for (429s, no hang)."""
    return [
        Scenario("load", 10_000, 64),
        Scenario("faults", 10_000, 64, faults=FAULTY),
        Scenario("faults-cobalt-timing", 2_000, 64, faults=FAULTY, retry_delay=1.0),
        Scenario("soak", 50_000, 64, faults=FAULTY, retention=2_000),
        Scenario("shutdown-under-load", 3_000, 64, faults=SLOW, retention=500, stop_after=1_500),
        Scenario("admission", 5_000, 64, faults=SLOW, retention=32, admission_timeout=0.05),
    ]


def quick_suite() -> list[Scenario]:
    """The same scenarios at the size CI runs (``tests/test_reliability.py``), on cheaper fetches."""
    return [
        Scenario("load", 500, 64, light=True),
        Scenario("faults", 500, 64, faults=FAULTY, light=True),
        Scenario("soak", 800, 32, faults=FAULTY, retention=100, light=True),
        Scenario("shutdown-under-load", 300, 32, faults=SLOW, retention=100, stop_after=150, light=True),
        Scenario("bounded-delivery", 48, 16, faults=SLOW, delivery_concurrency=4, light=True),
        Scenario("admission", 200, 32, faults=SLOW, retention=8, admission_timeout=0.15, light=True),
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
