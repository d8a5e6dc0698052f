"""What the pytest plugin costs a user's suite: fixture start-up, per-test reset, fetch → webhook.

Runs a generated test file in fresh pytest processes, so the cold start-up includes every import a
user's first ``cobalt_mock`` test pays for (pytest itself is already loaded, as it would be); the
cold start is the median of several processes, since one sample is mostly the machine's noise.
Prints one JSON object. ``python -m bench.fixture [--rounds N] [--days N] [--processes N]``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import orjson

from bench.servers import clean_env

TEST = """
import json, os, time
import requests

ROUNDS = int(os.environ["ROUNDS"])

def test_timing(cobalt_mock, cobalt_mock_server):
    cold = cobalt_mock_server.startup_seconds
    warm_starts = []
    for _ in range(3):
        started = time.perf_counter()
        warm = type(cobalt_mock_server)(cobalt_mock_server.settings)
        warm.start()
        warm_starts.append(time.perf_counter() - started)
        warm.stop()

    round_trips = []
    with requests.Session() as http:
        http.headers.update(cobalt_mock.headers)
        for _ in range(ROUNDS + 5):
            started = time.perf_counter()
            response = http.post(cobalt_mock.base_url + "/appointments/fetch",
                                 json={"start_date": "2025-01-06", "end_date": os.environ["END"]})
            cobalt_mock.wait_for_webhook(response.json()["job_id"])
            round_trips.append(time.perf_counter() - started)
    resets = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        handle = type(cobalt_mock)(cobalt_mock_server, cobalt_mock_server.settings)
        handle.begin()
        handle.end()
        resets.append(time.perf_counter() - started)
    with open(os.environ["OUT"], "w") as out:
        json.dump({"cold": cold, "warm": min(warm_starts), "round_trips": round_trips[5:],
                   "resets": resets}, out)
"""


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[max(0, int(len(ordered) * 0.9) - 1)] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def other_plugins() -> list[str]:
    """The installed pytest plugins other than cobalt-mock's (entry points in ``pytest11``)."""
    names = {entry.name for entry in importlib.metadata.entry_points(group="pytest11")}
    return sorted(names - {"cobalt_mock"})


def measure(rounds: int, days: int, processes: int = 5) -> dict[str, object]:
    """The first process times everything; the others (one round each) only add cold starts.

    The cold start is measured as a suite with cobalt-mock's plugin alone would see it (every other
    installed plugin disabled with ``-p no:NAME``), and again with the dev environment's plugins
    loaded, which import much of what the fake needs (Starlette, anyio, asyncio) before the fixture's
    clock starts; the processes of the two kinds alternate.
    """
    alone = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        (path / "test_timing.py").write_text(textwrap.dedent(TEST))
        (path / "pytest.ini").write_text("[pytest]\n")
        out = path / "out.json"
        runs: dict[str, list[dict[str, Any]]] = {"alone": [], "dev": []}
        for n in range(max(1, processes)):
            for kind in ("alone", "dev") if n % 2 == 0 else ("dev", "alone"):
                first = n == 0 and kind == "alone"
                env = clean_env() | {
                    "ROUNDS": str(rounds if first else 1),
                    "OUT": str(out),
                    "END": f"2025-01-{5 + days:02d}",
                }
                command = [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-p",
                    "no:randomly",
                ]
                command += [*(alone if kind == "alone" else ()), str(path)]
                subprocess.run(command, check=True, cwd=tmp, env=env, capture_output=True, timeout=120)
                runs[kind].append(orjson.loads(out.read_bytes()))
    data = runs["alone"][0]
    colds = {kind: [run["cold"] * 1000 for run in kind_runs] for kind, kind_runs in runs.items()}
    return {
        "startup_cold_ms": statistics.median(colds["alone"]),
        "startup_cold_runs_ms": [round(cold, 1) for cold in colds["alone"]],
        "startup_cold_dev_ms": statistics.median(colds["dev"]),
        "startup_cold_dev_runs_ms": [round(cold, 1) for cold in colds["dev"]],
        "plugins_disabled": other_plugins(),
        "startup_warm_ms": data["warm"] * 1000,
        f"fetch_to_webhook_{days}d": _ms(data["round_trips"]),
        "reset": _ms(data["resets"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--days", type=int, default=7, choices=range(1, 8), help="days fetched (from Monday)")
    parser.add_argument("--processes", type=int, default=5, help="fresh processes for the cold start")
    args = parser.parse_args()
    print(orjson.dumps(measure(args.rounds, args.days, args.processes), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
