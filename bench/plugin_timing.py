"""How much the pytest plugin costs: session start-up, per-test reset, fetch → webhook at delay 0.

Runs a generated test file in a fresh pytest process (so start-up includes the imports a user's
first test pays for) and prints the numbers as JSON. ``python bench/plugin_timing.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

TEST = """
import json, os, time
import requests
from mock_server.pytest_plugin import CobaltMock, CobaltMockServer

ROUNDS = int(os.environ["ROUNDS"])

def test_timing(cobalt_mock, cobalt_mock_server):
    cold = cobalt_mock_server.startup_seconds
    started = time.perf_counter()
    warm = CobaltMockServer(cobalt_mock_server.settings)
    warm.start()
    warm_start = time.perf_counter() - started
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
        handle = CobaltMock(cobalt_mock_server, cobalt_mock_server.settings)
        handle.begin()
        handle.end()
        resets.append(time.perf_counter() - started)
    with open(os.environ["OUT"], "w") as out:
        json.dump({"cold": cold, "warm": warm_start, "round_trips": round_trips[5:], "resets": resets}, out)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--days", type=int, default=7, choices=range(1, 8), help="days fetched (from Monday)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp)
        (path / "test_timing.py").write_text(textwrap.dedent(TEST))
        (path / "pytest.ini").write_text("[pytest]\n")
        out = path / "out.json"
        end = f"2025-01-{5 + args.days:02d}"
        env = {"ROUNDS": str(args.rounds), "OUT": str(out), "END": end, "PATH": ""}
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
            check=True,
            cwd=tmp,
            env=env,
        )
        data = json.loads(out.read_text())

    def ms(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "median_ms": round(statistics.median(ordered) * 1000, 2),
            "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 2),
            "min_ms": round(ordered[0] * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2),
        }

    print(
        json.dumps(
            {
                "session_startup_cold_ms": round(data["cold"] * 1000, 1),
                "session_startup_warm_ms": round(data["warm"] * 1000, 1),
                f"fetch_to_webhook_delay0_{args.days}d_x{args.rounds}": ms(data["round_trips"]),
                f"per_test_reset_x{args.rounds}": ms(data["resets"]),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
