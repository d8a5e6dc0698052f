"""Driving load: ``wrk`` when installed (Debian: ``apt-get install wrk``), else ``bench.client``.

Either runs as its own process, sends the same fetch requests (``bench.client.HEADERS``; a fixed
one-week body or a new MRN each time), is bounded in time (and optionally in count), and reports
requests/s with p50/p99 latency.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from bench.client import HEADERS, WEEK

FETCH_PATH = "/v1/appointments/fetch"


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def tool() -> str:
    return "wrk" if shutil.which("wrk") else "python-client"


def _lua(kind: str) -> str:
    lines = ['wrk.method = "POST"']
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in HEADERS.items()]
    if kind == "week":
        lines.append(f"wrk.body = '{WEEK.decode()}'")
    else:
        # A new patient per request: every job generates its own data.
        lines += [
            "local n = 0",
            "local tag = tostring(math.random(1, 1000000000))",
            "request = function()",
            "  n = n + 1",
            '  local body = \'{"search_by":"mrn","mrn":"bench-\' .. tag .. "-" .. n .. \'"}\'',
            "  return wrk.format(nil, nil, nil, body)",
            "end",
        ]
    return "\n".join(lines) + "\n"


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> LoadResult:
    requests, seconds = re.search(r"(\d+) requests in ([0-9.]+)(\w+),", output).groups()[:2]  # type: ignore[union-attr]
    unit = re.search(r"\d+ requests in [0-9.]+(\w+),", output).group(1)  # type: ignore[union-attr]
    elapsed = float(seconds) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)  # type: ignore[union-attr]
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(match.group(1))
    if match := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(g) for g in match.groups())
    return LoadResult("wrk", int(requests), elapsed, int(requests) / elapsed, _ms(p50), _ms(p99), errors)


def run_count(base_url: str, count: int, kind: str, connections: int = 32, limit: float = 600) -> int:
    """At least ``count`` fetches (fewer only if ``limit`` seconds pass first); returns how many.

    wrk runs for a whole number of seconds, so it runs in slices sized from the rate so far.
    """
    if tool() != "wrk":
        return run_load(base_url, connections, limit, kind, count).requests
    done, rate, deadline = 0, 0.0, time.perf_counter() + limit
    while done < count and time.perf_counter() < deadline:
        seconds = min(30.0, max(1.0, (count - done) / rate)) if rate else 1.0
        result = run_load(base_url, connections, seconds, kind)
        done += result.requests
        rate = max(result.rps, 1.0)
    return done


def run_load(
    base_url: str, connections: int, seconds: float, kind: str = "week", limit: int | None = None
) -> LoadResult:
    """POST fetches at ``connections`` concurrency for ``seconds`` (the Python client also stops
    after ``limit`` answers; wrk cannot stop early, see ``run_count``)."""
    url = base_url + FETCH_PATH
    timeout = seconds + 30
    if tool() == "wrk":
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "fetch.lua"
            script.write_text(_lua(kind))
            command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
            command += ["--timeout", "10s", "-s", str(script), url]
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
        return parse_wrk(done.stdout)
    command = [sys.executable, "-m", "bench.client", url, "--connections", str(connections)]
    command += ["--seconds", str(seconds), "--body", kind]
    if limit is not None:
        command += ["--limit", str(limit)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    data = orjson.loads(done.stdout)
    return LoadResult(
        "python-client",
        data["requests"],
        data["seconds"],
        data["rps"],
        data["p50_ms"],
        data["p99_ms"],
        data["non_2xx"] + data["socket"],
    )
