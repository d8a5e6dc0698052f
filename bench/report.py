"""The bench's tables: the fetch cells beside the peers, every other measure for the bare app and the
fake with their ratio, and issue 16's targets, each met, missed or n/a. Cells not run (``--only``)
are left out of the first two and read "n/a" in the last."""

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

Row = tuple[str, str, str, str]


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


MEMORY_JOBS = 100_000
"""Issue 16's memory target is over this many jobs after warm-up; a run of fewer is not judged."""

FETCH_CELLS = {"fetch": "reset each round", "fetch_kept": "jobs kept all cell"}
SERVERS = (("bare", "bare Starlette"), ("wiremock", "WireMock"), ("prism", "Prism"), ("fake", "cobalt-mock"))


def rows(results: dict[str, Any]) -> list[Row]:
    """The main table: every cell but the fetch cells (``peers_table``) and the sender cell."""
    out: list[Row] = []
    add: Callable[..., None] = lambda *cells: out.append(tuple(cells))  # noqa: E731
    if delivered := results.get("delivered"):
        bare, fake = delivered["bare_c32"], delivered["fake_c32"]
        add(
            "webhooks delivered: jobs/s at the sink, 32 conn (bare: req/s)",
            _n(bare["rps"]),
            _n(delivered["jobs_per_s"]),
            _ratio(delivered["jobs_per_s"] / bare["rps"]),
        )
        add(
            "webhooks delivered: fetch req/s, 32 conn",
            _n(bare["rps"]),
            _n(fake["rps"]),
            _ratio(fake["rps"] / bare["rps"]),
        )
        add(
            "webhooks delivered: fetch p99 ms, 32 conn",
            _n(bare["p99_ms"], 2),
            _n(fake["p99_ms"], 2),
            _ratio(fake["p99_ms"] / bare["p99_ms"]),
        )
    if latency := results.get("latency"):
        labels = (
            ("c1", "1 conn, flat out"),
            ("c32_rate", "32 conn at {rate} jobs/s"),
            ("c32", "32 conn, flat out (saturated: the wait is the queue)"),
        )
        for key, label in labels:
            if (cell := latency.get(key)) is None:
                continue
            label = label.format(rate=_n(cell.get("rate", 0)))
            add(
                f"POST → verified delivery p50 / p99 ms, {label} ({_n(cell['jobs_per_s'])} done/s)",
                "—",
                f"{_n(cell['p50_ms'], 2)} / {_n(cell['p99_ms'], 2)}",
                "",
            )
    if start := results.get("start"):
        bare_s, fake_s = start["bare"]["median_s"], start["fake"]["median_s"]
        add("CLI start → first 200, s", _n(bare_s, 3), _n(fake_s, 3), _ratio(fake_s / bare_s))
    if fixture := results.get("fixture"):
        cold = _n(fixture["startup_cold_ms"], 1)
        add("pytest fixture ready, ms (first in the process, cobalt-mock's plugin alone)", "—", cold, "")
        if (dev := fixture.get("startup_cold_dev_ms")) is not None:
            add(
                "pytest fixture ready, ms (first in the process, the dev venv's plugins loaded)",
                "—",
                _n(dev, 1),
                "",
            )
        add(
            "pytest fixture ready, ms (another server, imports done)",
            "—",
            _n(fixture["startup_warm_ms"], 1),
            "",
        )
        trip = fixture["fetch_to_webhook_7d"]["median_ms"]
        add("pytest: fetch a week → wait_for_webhook, median ms", "—", _n(trip, 1), "")
    if generation := results.get("generation"):
        rate, week = generation["appointments_per_s"], _n(generation["appointments_per_week"])
        add(f"generation, appointments/s (10 providers, 7 days, {week} a week)", "—", _n(rate), "")
    if memory := results.get("memory"):
        add(
            f"memory over {_n(memory['jobs'])} delivered jobs after warm-up: RSS after warm-up → peak, MB",
            "—",
            f"{_n(memory['rss_after_warmup_mb'])} → {_n(memory['peak_after_warmup_mb'])}",
            f"+{_n(memory['growth_mb'])} MB",
        )
    return out


def peers_table(results: dict[str, Any]) -> str:
    """The fetch cells: the fake beside bare Starlette and the peers, with its ratios to bare and to
    WireMock. A server that did not run reads "n/a"; the reason is listed under the table."""
    header = " | ".join(label for _, label in SERVERS)
    lines = [
        f"| fetch, webhooks deferred | {header} | ÷ bare | ÷ WireMock |",
        "|---|" + "---:|" * (len(SERVERS) + 2),
    ]
    notes: list[str] = []
    labels = dict(SERVERS)
    for cell_name, how in FETCH_CELLS.items():
        if (cell := results.get(cell_name)) is None:
            continue
        for who, reason in cell.get("missing", {}).items():
            note = f"{labels.get(who, who)} n/a: {reason}"
            if note not in notes:
                notes.append(note)
        for c in (1, 32):
            for metric, label, digits in (
                ("rps", "req/s", 0),
                ("p50_ms", "p50 ms", 2),
                ("p99_ms", "p99 ms", 2),
            ):
                values = {who: cell.get(f"{who}_c{c}", {}).get(metric) for who, _ in SERVERS}
                shown = ["n/a" if value is None else _n(value, digits) for value in values.values()]
                fake = values["fake"]
                shown += [
                    "n/a" if fake is None or values[base] is None else _ratio(fake / values[base])
                    for base in ("bare", "wiremock")
                ]
                lines.append(f"| {label}, {c} conn, {how} | " + " | ".join(shown) + " |")
        for who, slices in cell.get("warm_up_rps", {}).items():
            steps = " → ".join(_n(rps) for rps in slices)
            notes.append(
                f"`{cell_name}`: {labels.get(who, who)} warmed up at 32 conn, req/s per slice: {steps}"
            )
        if (jobs := cell.get("jobs_at_end")) is not None:
            notes.append(f"`{cell_name}` ended with {_n(jobs)} jobs in the fake")
    return "\n".join(lines + [f"- {note}" for note in notes])


Target = tuple[str, str, str]
"""(target, what was measured, verdict): the verdict is "met", "**missed**" or "n/a: why"."""


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _fetch_targets(cell_name: str, how: str, cell: dict[str, Any] | None) -> list[Target]:
    names = (
        f"fetch req/s > WireMock's, 32 conn, {how}",
        f"fetch req/s ≥ 0.8× bare, 32 conn, {how}",
        f"fetch p99 ≤ WireMock's, 32 conn, {how}",
    )
    if cell is None or "fake_c32" not in cell:
        return [(name, "", f"n/a: `{cell_name}` not run") for name in names]
    fake, bare, wire = cell["fake_c32"], cell["bare_c32"], cell.get("wiremock_c32")
    ratio = fake["rps"] / bare["rps"]
    to_bare = (names[1], f"{_ratio(ratio)} ({_n(fake['rps'])} vs {_n(bare['rps'])})", _verdict(ratio >= 0.8))
    if wire is None:
        why = f"n/a: WireMock {cell.get('missing', {}).get('wiremock', 'not measured')}"
        return [
            (names[0], f"{_n(fake['rps'])} req/s", why),
            to_bare,
            (names[2], f"{_n(fake['p99_ms'], 2)} ms", why),
        ]
    ratio = fake["rps"] / wire["rps"]
    return [
        (names[0], f"{_n(fake['rps'])} vs {_n(wire['rps'])} ({_ratio(ratio)})", _verdict(ratio > 1)),
        to_bare,
        (
            names[2],
            f"{_n(fake['p99_ms'], 2)} vs {_n(wire['p99_ms'], 2)} ms",
            _verdict(fake["p99_ms"] <= wire["p99_ms"]),
        ),
    ]


def targets(results: dict[str, Any]) -> list[Target]:
    """Issue 16's targets, each met, missed or n/a (its cell not run, WireMock missing, too few jobs)."""
    out: list[Target] = []
    for cell_name, how in FETCH_CELLS.items():
        out += _fetch_targets(cell_name, how, results.get(cell_name))

    def judge(cell: str, name: str, judged: Callable[[dict[str, Any]], tuple[str, str]]) -> None:
        out.append(
            (name, *judged(results[cell])) if cell in results else (name, "", f"n/a: `{cell}` not run")
        )

    def delivered(cell: dict[str, Any]) -> tuple[str, str]:
        jobs, bare = cell["jobs_per_s"], cell["bare_c32"]["rps"]
        return f"{_ratio(jobs / bare)} ({_n(jobs)} jobs/s vs {_n(bare)} req/s)", _verdict(jobs >= 0.4 * bare)

    def latency(key: str, limit: float) -> Callable[[dict[str, Any]], tuple[str, str]]:
        def judged(cell: dict[str, Any]) -> tuple[str, str]:
            rated = cell["c32_rate"]
            return f"{_n(rated[key], 2)} ms ({_n(rated['jobs_per_s'])} done/s)", _verdict(rated[key] <= limit)

        return judged

    def fixture(cell: dict[str, Any]) -> tuple[str, str]:
        return f"{_n(cell['startup_cold_ms'], 1)} ms", _verdict(cell["startup_cold_ms"] <= 100)

    def start(cell: dict[str, Any]) -> tuple[str, str]:
        fake, bare = cell["fake"]["median_s"], cell["bare"]["median_s"]
        return f"{_ratio(fake / bare)} ({_n(fake, 3)} vs {_n(bare, 3)} s)", _verdict(fake <= 1.5 * bare)

    def generation(cell: dict[str, Any]) -> tuple[str, str]:
        rate = cell["appointments_per_s"]
        return f"{_n(rate)}/s", _verdict(rate >= 50_000)

    def memory(cell: dict[str, Any]) -> tuple[str, str]:
        measured = f"+{_n(cell['growth_mb'])} MB over {_n(cell['jobs'])} jobs"
        if cell["jobs"] < MEMORY_JOBS:
            return measured, f"n/a: {_n(cell['jobs'])} jobs, fewer than {_n(MEMORY_JOBS)}"
        return measured, _verdict(cell["growth_mb"] <= 50)

    judge("delivered", "webhooks delivered ≥ 0.4× bare's req/s, 32 conn", delivered)
    judge("latency", "POST → verified delivery p50 ≤ 3 ms at 1,000 jobs/s, 32 conn", latency("p50_ms", 3))
    judge("latency", "POST → verified delivery p99 ≤ 15 ms at 1,000 jobs/s, 32 conn", latency("p99_ms", 15))
    judge("fixture", "first fixture start ≤ 100 ms", fixture)
    judge("start", "CLI start → first 200 ≤ 1.5× bare", start)
    judge("generation", "generation ≥ 50,000 appointments/s", generation)
    judge("memory", f"memory flat within 50 MB over {_n(MEMORY_JOBS)} jobs after warm-up", memory)
    return out


def targets_table(results: dict[str, Any]) -> str:
    lines = ["| issue 16's target | measured | |", "|---|---|---|"]
    lines += [f"| {name} | {measured} | {verdict} |" for name, measured, verdict in targets(results)]
    return "\n".join(lines)


def render(results: dict[str, Any], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    other = meta.get("other_cpu")
    busy = "" if other is None else f" · other processes used {other:.0%} of the CPU meanwhile"
    peers = f" · peers: {meta['peers']}" if meta.get("peers") else ""
    lines = [
        f"cobalt-mock bench, {meta['date']} · {m['system']}, {m['cores']} cores ({m['cpu']}), "
        f"Python {m['python']} · {meta['stack']}{peers} · load: {meta['load']} · {meta['mode']}{busy}",
    ]
    if any(name in results for name in FETCH_CELLS):
        lines += ["", peers_table(results)]
    if table := rows(results):
        lines += ["", "| measure | bare Starlette | cobalt-mock | ratio |", "|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(row) + " |" for row in table]
    if sender := results.get("sender"):
        lines += ["", sender_table(sender)]
    lines += ["", targets_table(results)]
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
