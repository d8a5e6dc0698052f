"""The benchmark suite runs and prints its table. Smoke only: timing never decides a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import report
from bench.load import parse_wrk

ROOT = Path(__file__).resolve().parent.parent


def test_quick_generation_cell_prints_the_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "generation", "--no-save"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cobalt-mock bench, ")
    assert "| measure | bare Starlette | cobalt-mock | ratio | target | |" in lines
    assert any(line.startswith("| generation, appointments/s") for line in lines)


def test_unknown_cells_are_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown cell(s): nope" in done.stderr


def test_every_cell_has_its_rows() -> None:
    load = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "requests": 500}
    results = {
        "fetch": {f"{who}_c{c}": load for who in ("bare", "fake") for c in (1, 32)},
        "delivered": {"bare_c32": load, "fake_c32": load, "jobs_per_s": 50.0},
        "latency": {
            "c1": {"p50_ms": 1.0, "p99_ms": 2.0, "jobs_per_s": 9.0},
            "c32_rate": {"p50_ms": 1.0, "p99_ms": 4.0, "jobs_per_s": 999.0, "rate": 1000.0},
            "c32": {"p50_ms": 3.0, "p99_ms": 9.0, "jobs_per_s": 9.0},
        },
        "sender": {
            k: {f"c{c}": {"cpu_us": 10.0, "p50_ms": 0.1, "p99_ms": 0.2, "per_s": 100.0} for c in (1, 32)}
            for k in ("httpx", "keepalive")
        },
        "start": {"bare": {"median_s": 0.3}, "fake": {"median_s": 0.4}},
        "fixture": {
            "startup_cold_ms": 90.0,
            "startup_warm_ms": 4.0,
            "fetch_to_webhook_7d": {"median_ms": 20.0},
        },
        "generation": {"appointments_per_s": 60_000.0, "appointments_per_week": 800.0},
        "memory": {"jobs": 100, "rss_after_warmup_mb": 80.0, "peak_after_warmup_mb": 90.0, "growth_mb": 10.0},
    }
    meta = {
        "date": "2026-11-26 12:00 UTC",
        "machine": {"system": "Linux", "cores": "2", "cpu": "x", "python": "3.11"},
        "stack": "uvicorn",
        "load": "wrk",
        "mode": "quick",
        "other_cpu": 0.0,
    }
    table = report.render(results, meta)
    assert table.count("\n| ") >= 15
    assert "| fetch req/s, 32 conn (webhooks deferred) | 100 | 100 | 1.00× | ≥ 0.8× | met |" in table
    rated = (
        "| POST → verified delivery p50 / p99 ms, 32 conn at 1,000 jobs/s (999 done/s) | — | 1.00 / 4.00 |"
    )
    assert f"{rated}  | ≤ 3 / ≤ 15 | met |" in table
    assert (
        "32 conn, flat out (saturated: the wait is the queue) (9 done/s) | — | 3.00 / 9.00 |  |  |  |"
        in table
    )


def test_wrk_output_is_read() -> None:
    output = """Running 5s test @ http://127.0.0.1:1/v1/appointments/fetch
  1 threads and 32 connections
  Latency Distribution
     50%    2.88ms
     75%    2.96ms
     90%    3.13ms
     99%  812.00us
  54083 requests in 5.00s, 11.71MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  10815.22
"""
    result = parse_wrk(output)
    assert (result.requests, result.errors) == (54083, 3)
    assert (result.p50_ms, result.p99_ms) == (2.88, 0.812)
