"""The benchmark suite runs and prints its table. Smoke only: timing never decides a test."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bench import cells, peers, report
from bench import fixture as fixture_bench
from bench.bare_app import ACCEPTED
from bench.load import LoadResult, parse_wrk
from bench.servers import Process

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
    assert "| measure | bare Starlette | cobalt-mock | ratio |" in lines
    assert "| generation ≥ 50,000 appointments/s | " in done.stdout
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


LOAD = {"rps": 100.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0, "requests": 500}
META = {
    "date": "2026-11-26 12:00 UTC",
    "machine": {"system": "Linux", "cores": "2", "cpu": "x", "python": "3.11"},
    "stack": "uvicorn",
    "peers": "WireMock 3.13.2 (Java 17), Prism n/a",
    "load": "wrk",
    "mode": "quick",
    "other_cpu": 0.0,
}


def _load(rps: float, p99: float = 2.0) -> dict[str, float]:
    return {**LOAD, "rps": rps, "p99_ms": p99}


def _all_cells() -> dict[str, Any]:
    fetch = {f"{who}_c{c}": LOAD for who in ("bare", "fake", "wiremock") for c in (1, 32)}
    return {
        "fetch": {**fetch, "missing": {"prism": "node not found"}},
        "fetch_kept": {
            **fetch,
            "missing": {"prism": "node not found"},
            "warm_up_rps": {"wiremock": [1_000.0, 9_000.5]},
            "jobs_at_end": 12_345,
        },
        "delivered": {"bare_c32": LOAD, "fake_c32": LOAD, "jobs_per_s": 50.0},
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
            "startup_cold_dev_ms": 70.0,
            "startup_warm_ms": 4.0,
            "fetch_to_webhook_7d": {"median_ms": 20.0},
        },
        "generation": {"appointments_per_s": 60_000.0, "appointments_per_week": 800.0},
        "memory": {
            "jobs": 100_000,
            "rss_after_warmup_mb": 80.0,
            "peak_after_warmup_mb": 90.0,
            "growth_mb": 10.0,
        },
    }


def test_every_cell_has_its_rows() -> None:
    table = report.render(_all_cells(), META)
    assert table.splitlines()[0].endswith(
        "uvicorn · peers: WireMock 3.13.2 (Java 17), Prism n/a · load: wrk · quick · other processes used 0% "
        "of the CPU meanwhile"
    )
    assert (
        "| fetch, webhooks deferred | bare Starlette | WireMock | Prism | cobalt-mock | ÷ bare | ÷ WireMock |"
        in table
    )
    assert "| req/s, 32 conn, reset each round | 100 | 100 | n/a | 100 | 1.00× | 1.00× |" in table
    assert "| p99 ms, 1 conn, jobs kept all cell | 2.00 | 2.00 | n/a | 2.00 | 1.00× | 1.00× |" in table
    assert table.count("- Prism n/a: node not found") == 1  # said once for both cells
    assert "- `fetch_kept` ended with 12,345 jobs in the fake" in table
    assert "- `fetch_kept`: WireMock warmed up at 32 conn, req/s per slice: 1,000 → 9,000" in table
    rated = (
        "| POST → verified delivery p50 / p99 ms, 32 conn at 1,000 jobs/s (999 done/s) | — | 1.00 / 4.00 |  |"
    )
    assert rated in table
    assert "| CLI start → first 200, s | 0.300 | 0.400 | 1.33× |" in table
    assert (
        "| pytest fixture ready, ms (first in the process, cobalt-mock's plugin alone) | — | 90.0 |  |"
        in table
    )
    assert (
        "| pytest fixture ready, ms (first in the process, the dev venv's plugins loaded) | — | 70.0 |  |"
        in table
    )
    assert "| issue 16's target | measured | |" in table
    assert (
        "| fetch req/s > WireMock's, 32 conn, reset each round | 100 vs 100 (1.00×) | **missed** |" in table
    )


def _verdicts(results: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {name: (measured, verdict) for name, measured, verdict in report.targets(results)}


def test_every_target_is_judged_from_its_cell() -> None:
    results = _all_cells()
    results["fetch"] |= {
        "fake_c32": _load(90.0, 5.0),
        "bare_c32": _load(100.0),
        "wiremock_c32": _load(80.0, 9.0),
    }
    results["fetch_kept"] |= {
        "fake_c32": _load(70.0, 9.5),
        "bare_c32": _load(100.0),
        "wiremock_c32": _load(80.0, 9.0),
    }
    verdicts = _verdicts(results)
    assert len(verdicts) == 13
    assert verdicts["fetch req/s > WireMock's, 32 conn, reset each round"] == ("90 vs 80 (1.12×)", "met")
    assert verdicts["fetch req/s ≥ 0.8× bare, 32 conn, reset each round"] == ("0.90× (90 vs 100)", "met")
    assert verdicts["fetch p99 ≤ WireMock's, 32 conn, reset each round"] == ("5.00 vs 9.00 ms", "met")
    assert verdicts["fetch req/s > WireMock's, 32 conn, jobs kept all cell"][1] == "**missed**"
    assert verdicts["fetch req/s ≥ 0.8× bare, 32 conn, jobs kept all cell"] == (
        "0.70× (70 vs 100)",
        "**missed**",
    )
    assert verdicts["fetch p99 ≤ WireMock's, 32 conn, jobs kept all cell"] == (
        "9.50 vs 9.00 ms",
        "**missed**",
    )
    assert verdicts["webhooks delivered ≥ 0.4× bare's req/s, 32 conn"] == (
        "0.50× (50 jobs/s vs 100 req/s)",
        "met",
    )
    assert verdicts["POST → verified delivery p50 ≤ 3 ms at 1,000 jobs/s, 32 conn"] == (
        "1.00 ms (999 done/s)",
        "met",
    )
    assert verdicts["POST → verified delivery p99 ≤ 15 ms at 1,000 jobs/s, 32 conn"][1] == "met"
    assert verdicts["first fixture start ≤ 100 ms"] == ("90.0 ms", "met")
    assert verdicts["CLI start → first 200 ≤ 1.5× bare"] == ("1.33× (0.400 vs 0.300 s)", "met")
    assert verdicts["generation ≥ 50,000 appointments/s"] == ("60,000/s", "met")
    assert verdicts["memory flat within 50 MB over 100,000 jobs after warm-up"] == (
        "+10 MB over 100,000 jobs",
        "met",
    )


def test_targets_at_their_lines() -> None:
    results = _all_cells()
    results["delivered"]["jobs_per_s"] = 39.9
    results["latency"]["c32_rate"] |= {"p50_ms": 3.0, "p99_ms": 15.01}
    results["fixture"]["startup_cold_ms"] = 100.01
    results["start"]["fake"]["median_s"] = 0.44
    results["generation"]["appointments_per_s"] = 49_999.0
    results["memory"] |= {"growth_mb": 50.5}
    verdicts = {name: verdict for name, (_, verdict) in _verdicts(results).items()}
    assert verdicts["webhooks delivered ≥ 0.4× bare's req/s, 32 conn"] == "**missed**"
    assert verdicts["POST → verified delivery p50 ≤ 3 ms at 1,000 jobs/s, 32 conn"] == "met"
    assert verdicts["POST → verified delivery p99 ≤ 15 ms at 1,000 jobs/s, 32 conn"] == "**missed**"
    assert verdicts["first fixture start ≤ 100 ms"] == "**missed**"
    assert verdicts["CLI start → first 200 ≤ 1.5× bare"] == "met"
    assert verdicts["generation ≥ 50,000 appointments/s"] == "**missed**"
    assert verdicts["memory flat within 50 MB over 100,000 jobs after warm-up"] == "**missed**"


def test_targets_without_their_cell_wiremock_or_enough_jobs_are_not_judged() -> None:
    fetch = {f"{who}_c{c}": LOAD for who in ("bare", "fake") for c in (1, 32)}
    results = {
        "fetch": {**fetch, "missing": {"wiremock": "java not found"}},
        "memory": {
            "jobs": 6_000,
            "rss_after_warmup_mb": 80.0,
            "peak_after_warmup_mb": 81.0,
            "growth_mb": 1.0,
        },
    }
    verdicts = _verdicts(results)
    assert verdicts["fetch req/s > WireMock's, 32 conn, reset each round"] == (
        "100 req/s",
        "n/a: WireMock java not found",
    )
    assert verdicts["fetch req/s ≥ 0.8× bare, 32 conn, reset each round"][1] == "met"
    assert verdicts["fetch p99 ≤ WireMock's, 32 conn, reset each round"][1] == "n/a: WireMock java not found"
    assert verdicts["fetch req/s ≥ 0.8× bare, 32 conn, jobs kept all cell"] == (
        "",
        "n/a: `fetch_kept` not run",
    )
    assert verdicts["first fixture start ≤ 100 ms"] == ("", "n/a: `fixture` not run")
    assert verdicts["memory flat within 50 MB over 100,000 jobs after warm-up"] == (
        "+1 MB over 6,000 jobs",
        "n/a: 6,000 jobs, fewer than 100,000",
    )
    table = report.render(results, META)
    assert "| req/s, 32 conn, reset each round | 100 | n/a | n/a | 100 | 1.00× | n/a |" in table
    assert "- WireMock n/a: java not found" in table
    assert "jobs kept all cell" not in table.split("| issue 16's target")[0]


def _home(tmp_path: Path, present: dict[str, str]) -> Path:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "package.json").write_text(
        json.dumps({"dependencies": {"wiremock": "3.13.2", "@stoplight/prism-cli": "5.14.2"}})
    )
    for package, version in present.items():
        (tmp_path / "node_modules" / package).mkdir(parents=True)
        (tmp_path / "node_modules" / package / "package.json").write_text(json.dumps({"version": version}))
    if "wiremock" in present:
        (tmp_path / "node_modules" / "wiremock" / "build").mkdir()
        (tmp_path / "node_modules" / "wiremock" / "build" / "wiremock-standalone-3.13.2.jar").write_bytes(b"")
    return tmp_path


def _which(*missing: str) -> Callable[[str], str | None]:
    return lambda tool: None if tool in missing else f"/usr/bin/{tool}"


def test_installed_peers_at_their_pins_need_no_install(tmp_path: Path) -> None:
    home = _home(tmp_path, {"wiremock": "3.13.2", "@stoplight/prism-cli": "5.14.2"})
    installs: list[Path] = []

    def npm_ci(where: Path) -> str | None:
        installs.append(where)
        return None

    assert peers.unavailable(home, _which(), npm_ci) == {}
    assert installs == []


def test_a_stale_install_is_redone_and_a_failed_one_names_why(tmp_path: Path) -> None:
    home = _home(tmp_path, {"wiremock": "3.12.0"})
    assert peers.stale(peers.pinned(home), peers.installed(home)) == ["@stoplight/prism-cli", "wiremock"]
    failed = peers.unavailable(home, _which(), lambda where: "npm ci failed: E404")
    assert failed == {"wiremock": "npm ci failed: E404", "prism": "npm ci failed: E404"}
    did_nothing = peers.unavailable(home, _which(), lambda where: None)
    assert did_nothing == dict.fromkeys(
        ("wiremock", "prism"), "npm ci left @stoplight/prism-cli, wiremock out"
    )


def test_missing_tools_leave_only_their_peer_out(tmp_path: Path) -> None:
    home = _home(tmp_path, {"wiremock": "3.13.2", "@stoplight/prism-cli": "5.14.2"})
    assert peers.unavailable(home, _which("java"), lambda where: None) == {"wiremock": "java not found"}
    assert peers.unavailable(home, _which("node", "java"), lambda where: None) == {
        "wiremock": "java not found",
        "prism": "node not found",
    }
    bare = _home(tmp_path / "bare", {})
    assert peers.unavailable(bare, _which("npm"), lambda where: None) == {
        "wiremock": "npm not found, so not installed",
        "prism": "npm not found, so not installed",
    }
    assert peers.unavailable(bare, _which("npm", "java"), lambda where: None)["wiremock"] == "java not found"


def test_the_stubs_answer_what_the_bare_app_does(tmp_path: Path) -> None:
    peers.wiremock_stubs(tmp_path)
    fetch = json.loads((tmp_path / "mappings" / "fetch.json").read_text())
    assert fetch["request"] == {"method": "POST", "url": "/v1/appointments/fetch"}
    assert fetch["response"]["status"] == 202
    assert json.loads(fetch["response"]["body"]) == ACCEPTED
    assert fetch["response"]["headers"]["content-length"] == str(len(fetch["response"]["body"]))
    peers.prism_document(tmp_path / "openapi.json")
    paths = json.loads((tmp_path / "openapi.json").read_text())["paths"]
    answer = paths["/v1/appointments/fetch"]["post"]["responses"]["202"]["content"]["application/json"]
    assert answer["example"] == ACCEPTED
    assert "/_mock/health" in paths


def test_a_peer_is_warmed_until_it_stops_speeding_up(monkeypatch: pytest.MonkeyPatch) -> None:
    rates = iter([100.0, 400.0, 900.0, 1000.0, 940.0, 1020.0, 1040.0, 5000.0])
    monkeypatch.setattr(cells, "run_load", lambda *args: LoadResult("wrk", 1, 1.0, next(rates), 1.0, 1.0, 0))
    server = cast(Process, SimpleNamespace(url="http://127.0.0.1:1"))
    assert cells._warm(server, 60) == [100.0, 400.0, 900.0, 1000.0, 940.0, 1020.0, 1040.0]
    rates = iter([100.0, 200.0, 300.0])
    assert cells._warm(server, 4) == [100.0, 200.0]  # the limit, though still speeding up


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


def test_the_fixture_cold_start_runs_with_cobalt_mocks_plugin_alone() -> None:
    others = fixture_bench.other_plugins()
    assert "cobalt_mock" not in others
    assert "xdist" in others  # a dev dependency whose plugin the cold start must not load
