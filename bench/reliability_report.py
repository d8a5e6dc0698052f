"""A reliability scenario (what to run) and its report (what happened, and what makes it a failure)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.fault_script import CLEAN, FaultScript


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
    admission_timeout: float | None = None  # None: the fake's default


@dataclass
class Report:
    scenario: Scenario
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    refused: int = 0  # 429: no room within admission_timeout (never accepted, so never lost)
    refused_without_retry_after: int = 0
    hangs: int = 0  # fetches not answered within the load client's timeout
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
    settled: bool = True  # every job finished within settle_timeout once the last fetch was answered
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
        unexpected = {k: v for k, v in self.statuses.items() if k not in (202, 429)}
        if unexpected:
            out.append(f"fetches not answered 202: {dict(unexpected)}")
        if self.transport_errors and s.stop_after is None:
            out.append(f"transport errors: {dict(self.transport_errors)}")
        names = (
            "hangs",
            "refused_without_retry_after",
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
        if not self.settled:
            out.append(f"jobs still scheduled or running {s.settle_timeout:g}s after the last delivery")
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
            "refused": self.refused,
            "hangs": self.hangs,
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
