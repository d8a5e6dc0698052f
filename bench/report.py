"""The bench's table: each measure for the bare app and the fake, their ratio, the issue's target, and
whether it was met. Missing cells (``--only``) are left out."""

from __future__ import annotations

import math
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

Row = tuple[str, str, str, str, str, str]


def machine() -> dict[str, str]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "system": f"{platform.system()} {platform.release()}",
        "cores": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
    }


def stack() -> str:
    import starlette
    import uvicorn

    parts = [f"uvicorn {uvicorn.__version__}", f"Starlette {starlette.__version__}"]
    for name in ("httptools", "uvloop"):
        try:
            module = __import__(name)
        except ImportError:
            parts.append(f"no {name}")
        else:
            parts.append(f"{name} {module.__version__}")
    return ", ".join(parts)


def load_tool() -> str:
    if not shutil.which("wrk"):
        return f"bench.client (asyncio, raw keep-alive sockets; Python {sys.version.split()[0]})"
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk (\S+)", done.stdout + done.stderr)
    return f"wrk {match.group(1) if match else ''} (1 thread)".replace("  ", " ")


def _n(value: float, digits: int = 0) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}×"


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def rows(results: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    add: Callable[..., None] = lambda *cells: out.append(tuple(cells))  # noqa: E731
    if fetch := results.get("fetch"):
        for c in (1, 32):
            bare, fake = fetch[f"bare_c{c}"], fetch[f"fake_c{c}"]
            ratio = fake["rps"] / bare["rps"]
            target, met = ("≥ 0.8×", _met(ratio >= 0.8)) if c == 32 else ("", "")
            add(
                f"fetch req/s, {c} conn (webhooks deferred)",
                _n(bare["rps"]),
                _n(fake["rps"]),
                _ratio(ratio),
                target,
                met,
            )
            add(
                f"fetch p50 ms, {c} conn",
                _n(bare["p50_ms"], 2),
                _n(fake["p50_ms"], 2),
                _ratio(fake["p50_ms"] / bare["p50_ms"]),
                "",
                "",
            )
            p99 = fake["p99_ms"] / bare["p99_ms"]
            target, met = ("≤ 1.5×", _met(p99 <= 1.5)) if c == 32 else ("", "")
            add(
                f"fetch p99 ms, {c} conn",
                _n(bare["p99_ms"], 2),
                _n(fake["p99_ms"], 2),
                _ratio(p99),
                target,
                met,
            )
    if delivered := results.get("delivered"):
        bare = delivered["bare_c32"]
        ratio = delivered["jobs_per_s"] / bare["rps"]
        add(
            "webhooks delivered: jobs/s at the sink, 32 conn (bare: req/s)",
            _n(bare["rps"]),
            _n(delivered["jobs_per_s"]),
            _ratio(ratio),
            "≥ 0.4×",
            _met(ratio >= 0.4),
        )
        add(
            "webhooks delivered: fetch req/s, 32 conn",
            _n(bare["rps"]),
            _n(delivered["fake_c32"]["rps"]),
            _ratio(delivered["fake_c32"]["rps"] / bare["rps"]),
            "",
            "",
        )
        add(
            "webhooks delivered: fetch p99 ms, 32 conn",
            _n(bare["p99_ms"], 2),
            _n(delivered["fake_c32"]["p99_ms"], 2),
            _ratio(delivered["fake_c32"]["p99_ms"] / bare["p99_ms"]),
            "",
            "",
        )
    if latency := results.get("latency"):
        rows = (
            ("c1", "1 conn, flat out"),
            ("c32_rate", "32 conn at {rate} jobs/s"),
            ("c32", "32 conn, flat out (saturated: the wait is the queue)"),
        )
        for key, label in rows:
            if (cell := latency.get(key)) is None:
                continue
            target, met = "", ""
            if key == "c32_rate":
                target = "≤ 3 / ≤ 15"
                met = _met(cell["p50_ms"] <= 3 and cell["p99_ms"] <= 15)
            label = label.format(rate=_n(cell.get("rate", 0)))
            add(
                f"POST → verified delivery p50 / p99 ms, {label} ({_n(cell['jobs_per_s'])} done/s)",
                "—",
                f"{_n(cell['p50_ms'], 2)} / {_n(cell['p99_ms'], 2)}",
                "",
                target,
                met,
            )
    if start := results.get("start"):
        ratio = start["fake"]["median_s"] / start["bare"]["median_s"]
        add(
            "CLI start → first 200, s",
            _n(start["bare"]["median_s"], 3),
            _n(start["fake"]["median_s"], 3),
            _ratio(ratio),
            "≤ 1.5×",
            _met(ratio <= 1.5),
        )
    if fixture := results.get("fixture"):
        cold = fixture["startup_cold_ms"]
        add(
            "pytest fixture ready, ms (first in the process)",
            "—",
            _n(cold, 1),
            "",
            "≤ 100",
            _met(cold <= 100),
        )
        add(
            "pytest fixture ready, ms (another server, imports done)",
            "—",
            _n(fixture["startup_warm_ms"], 1),
            "",
            "",
            "",
        )
        trip = fixture["fetch_to_webhook_7d"]["median_ms"]
        add("pytest: fetch a week → wait_for_webhook, median ms", "—", _n(trip, 1), "", "", "")
    if generation := results.get("generation"):
        rate, week = generation["appointments_per_s"], _n(generation["appointments_per_week"])
        add(
            f"generation, appointments/s (10 providers, 7 days, {week} a week)",
            "—",
            _n(rate),
            "",
            "≥ 50,000",
            _met(rate >= 50_000),
        )
    if memory := results.get("memory"):
        growth = memory["growth_mb"]
        add(
            f"memory over {_n(memory['jobs'])} delivered jobs: RSS after warm-up → peak after, MB",
            "—",
            f"{_n(memory['rss_after_warmup_mb'])} → {_n(memory['peak_after_warmup_mb'])}",
            f"+{_n(growth)} MB",
            "≤ +50 MB",
            _met(growth <= 50),
        )
    return out


def render(results: dict[str, Any], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    other = meta.get("other_cpu")
    busy = "" if other is None else f" · other processes used {other:.0%} of the CPU meanwhile"
    lines = [
        f"cobalt-mock bench, {meta['date']} · {m['system']}, {m['cores']} cores ({m['cpu']}), "
        f"Python {m['python']} · {meta['stack']} · load: {meta['load']} · {meta['mode']}{busy}",
        "",
        "| measure | bare Starlette | cobalt-mock | ratio | target | |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    if sender := results.get("sender"):
        lines += ["", sender_table(sender)]
    return "\n".join(lines)


SENDERS = {
    "keepalive": "keep-alive (`KeepAliveSender`)",
    "httpcore": "httpcore pool, used directly",
    "httpx": "httpx (`HttpxSender`)",
    "aiohttp": "aiohttp `ClientSession`",
}


def sender_table(sender: dict[str, Any]) -> str:
    """The webhook-client cell (``bench/sender.py``): each candidate at 1 and 32 in flight."""
    lines = [
        f"Webhook client: the same signed {_n(sender.get('body_bytes', 0))}-byte body to the sink, "
        f"medians of {sender.get('rounds', 1)} rounds (CPU is the sender's process only):",
        "",
        "| client | in flight | CPU µs per delivery | p50 ms | p99 ms | deliveries/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, name in SENDERS.items():
        for flight, cell in sender.get(key, {}).items():
            lines.append(
                f"| {name} | {flight.removeprefix('c')} | {_n(cell['cpu_us'])} | {_n(cell['p50_ms'], 2)} "
                f"| {_n(cell['p99_ms'], 2)} | {_n(cell['per_s'])} |"
            )
    return "\n".join(lines)


class CpuWatch:
    """How much CPU processes other than the bench's own used while it ran (``/proc/stat`` busy time
    minus this process's and its reaped children's): a busy machine makes every ratio noisier."""

    def __init__(self) -> None:
        self.started = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as stat:
                fields = [int(v) for v in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
        total = sum(fields[:8]) / tick
        ours = sum(os.times()[:4])
        return busy, total, ours

    def other_share(self) -> float | None:
        now = self._sample()
        if now is None or self.started is None:
            return None
        busy, total, ours = (b - a for a, b in zip(self.started, now, strict=True))
        return max(0.0, (busy - ours) / total) if total > 0 else None
