"""The bench's cells: each starts its own processes, measures, stops them, and returns plain numbers.

A cell that compares the fake with the bare app alternates them round by round (which goes first
alternates too) and keeps the median of the rounds. Servers run as ``cobalt-mock serve`` and
``python -m bench.bare_app``; the sink that receives webhooks is ``bench.sink``.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from bench import fixture as fixture_bench
from bench import peers, profile
from bench.load import LoadResult, run_count, run_load
from bench.servers import (
    ROOT,
    Process,
    bare_command,
    cache_bytecode,
    clean_env,
    fake_command,
    sink_command,
    start,
)

SECRET = "whsec_bench_0123456789abcdef"  # noqa: S105 - a public bench secret
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Plan:
    seconds: float  # per load cell
    rounds: int
    start_runs: int
    fixture_rounds: int
    generation_seconds: float
    memory_warmup: int
    memory_jobs: int
    sender_posts: int
    peer_warmup: float
    """At most this many seconds of load on each peer before its first round (see ``_warm``)."""
    profile: bool = False
    """Sample the fake with py-spy in the first 32-connection fetch round and delivered round."""

    @classmethod
    def full(cls) -> Plan:
        return cls(5, 3, 5, 30, 3.0, 10_000, 100_000, 2_000, 60)

    @classmethod
    def quick(cls) -> Plan:
        return cls(1, 1, 2, 5, 0.6, 2_000, 6_000, 300, 4)


@contextlib.contextmanager
def profiled(plan: Plan, fake: Process, name: str, out: dict[str, object]) -> Iterator[None]:
    """Sample ``fake`` with py-spy while the block runs (if ``plan.profile``); summary into ``out``."""
    spy = (
        profile.record(fake.pid, plan.seconds - 0.5, RESULTS / f"profile-{name}.txt")
        if plan.profile
        else None
    )
    try:
        yield
    finally:
        if spy is not None:
            spy.wait(60)
            raw = RESULTS / f"profile-{name}.txt"
            out[f"profile_{name}"] = profile.summarize(raw) if raw.exists() else "py-spy wrote nothing"


@contextlib.contextmanager
def running(*specs: tuple[str, list[str], bool]) -> Iterator[list[Process]]:
    """Start each ``(name, command, has_health)`` in order; stop them all, last first."""
    started: list[Process] = []
    try:
        for name, command, health in specs:
            started.append(start(name, command, health=health))
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def _median(results: list[LoadResult]) -> dict[str, float]:
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
    }


def fetch(plan: Plan) -> dict[str, object]:
    """Fetch throughput and latency at 1 and 32 connections, webhooks deferred, the fake reset before
    each of its rounds (so every round starts from an empty fake, as the bare app's does); the peers
    (``bench.peers``) in the same rounds."""
    return _fetch_cell(plan, reset=True)


def fetch_kept(plan: Plan) -> dict[str, object]:
    """The fetch cell without the resets: the jobs accepted pile up for the whole cell (warm-up
    included), as in a long load test against one fake."""
    return _fetch_cell(plan, reset=False)


def _fetch_cell(plan: Plan, *, reset: bool) -> dict[str, object]:
    """Webhooks deferred: delay 3600 s, and ``max_jobs`` above what a cell can create, since
    unfinished jobs are never evicted. Every server gets the same rounds; which goes first
    alternates (forward in even rounds, backward in odd ones)."""
    deferred = fake_command("--delay", "3600", "--max-jobs", "10000000")
    with (
        running(("bare", bare_command(), True), ("fake", deferred, True)) as (bare, fake),
        peers.running() as (peer_servers, missing),
    ):
        servers = [bare, *peer_servers, fake]
        warm_up = {s.name: run_load(s.url, 32, 1) for s in servers}  # imports, caches, the validator
        warmed = {s.name: _warm(s, plan.peer_warmup) for s in peer_servers}
        runs: dict[str, list[LoadResult]] = {}
        extra: dict[str, object] = {}
        for round_ in range(plan.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            for connections in (1, 32):
                for server in order:
                    if server is fake and reset:
                        _reset(fake)
                    sample = plan.profile and server is fake and connections == 32 and round_ == 0
                    with profiled(
                        replace(plan, profile=sample), fake, "fetch" if reset else "fetch_kept", extra
                    ):
                        result = run_load(server.url, connections, plan.seconds, "week")
                    runs.setdefault(f"{server.name}_c{connections}", []).append(result)
        if not reset:  # every answered fetch left a job behind (none fails: wrk counts errors)
            extra["jobs_at_end"] = warm_up["fake"].requests + sum(
                r.requests for r in runs["fake_c1"] + runs["fake_c32"]
            )
    return {
        **{key: _median(results) for key, results in runs.items()},
        "missing": missing,
        "warm_up_rps": warmed,
        **extra,
    }


WARM_SLICE = 2
"""Seconds per warm-up slice of a peer."""


def _warm(server: Process, limit: float) -> list[float]:
    """Load a peer (its JIT compiles the hot path meanwhile) at 32 connections in slices until
    three slices in a row fail to beat the best so far by 5 %, or ``limit`` seconds have passed;
    returns each slice's req/s, so the results show whether it was still speeding up."""
    slices: list[float] = []
    best, flat = 0.0, 0
    while flat < 3 and len(slices) * WARM_SLICE < limit:
        slices.append(run_load(server.url, 32, WARM_SLICE).rps)
        flat = flat + 1 if slices[-1] < best * 1.05 else 0
        best = max(best, slices[-1])
    return slices


def delivered(plan: Plan) -> dict[str, object]:
    """Every fetch's webhook delivered (delay 0) to a verifying sink; jobs/s counted at the sink.

    MRN fetches, each a new patient: 2-15 appointments, a ~2 KB signed body per job. The bare app
    gets the same requests in the alternate rounds.
    """
    with running(("sink", sink_command(SECRET), False)) as (sink,):
        hooked = fake_command("--delay", "0", "--webhook-url", sink.url, "--webhook-secret", SECRET)
        with running(("bare", bare_command(), True), ("fake", hooked, True)) as (bare, fake):
            run_load(bare.url, 32, 1, "mrn")
            run_load(fake.url, 32, 1, "mrn")
            _settle(sink)
            bare_runs: list[LoadResult] = []
            fake_runs: list[LoadResult] = []
            jobs_per_s: list[float] = []
            extra: dict[str, object] = {}
            for round_ in range(plan.rounds):
                for server in (bare, fake) if round_ % 2 == 0 else (fake, bare):
                    if server is bare:
                        bare_runs.append(run_load(bare.url, 32, plan.seconds, "mrn"))
                        continue
                    before = _sink_stats(sink)["received"]
                    with profiled(
                        replace(plan, profile=plan.profile and round_ == 0), fake, "delivered", extra
                    ):
                        result = run_load(fake.url, 32, plan.seconds, "mrn")
                    jobs_per_s.append((_sink_stats(sink)["received"] - before) / result.seconds)
                    fake_runs.append(result)
                    _settle(sink)
            stats = _sink_stats(sink)
    return {
        "bare_c32": _median(bare_runs),
        "fake_c32": _median(fake_runs),
        "jobs_per_s": statistics.median(jobs_per_s),
        "deliveries": stats["received"],
        "invalid_signatures": stats["invalid"],
        **extra,
    }


def _reset(fake: Process) -> None:
    """``POST /_mock/reset``: forget every job (cancelling their timers), event and journal entry."""
    _http(fake.url, "POST", "/_mock/reset", b"{}")


def _http(base: str, method: str, path: str, body: bytes = b"") -> bytes:
    import socket

    port = int(base.rsplit(":", 1)[1].split("/")[0])
    head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n"
    head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data[9:12])
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
    return data.partition(b"\r\n\r\n")[2]


def _sink_stats(sink: Process) -> dict[str, int]:
    stats: dict[str, int] = orjson.loads(_http(sink.url, "GET", "/stats"))
    return stats


def _settle(sink: Process, quiet: float = 0.3, limit: float = 60.0) -> int:
    """Wait until the sink has seen no new delivery for ``quiet`` seconds: the fake's backlog is done."""
    deadline = time.perf_counter() + limit
    last = _sink_stats(sink)["received"]
    while time.perf_counter() < deadline:
        time.sleep(quiet)
        now = _sink_stats(sink)["received"]
        if now == last:
            return now
        last = now
    return last


LATENCY_RATE = 1_000
"""Jobs/s offered by the 32 clients of the target row (see ``bench.latency``): a load the fake
carries with room to spare, as a latency is measured; flat out, the wait is the queue."""


def latency(plan: Plan) -> dict[str, object]:
    """POST → verified delivery at delay 0, one client per connection awaiting each webhook: one
    client flat out, 32 at ``LATENCY_RATE`` jobs/s, and 32 flat out (saturated)."""
    out: dict[str, object] = {}
    with running(("fake", fake_command("--delay", "0"), True)) as (fake,):
        for key, connections, rate in (("c1", 1, 0), ("c32_rate", 32, LATENCY_RATE), ("c32", 32, 0)):
            command = [sys.executable, "-m", "bench.latency", fake.url, "--connections", str(connections)]
            command += ["--seconds", str(plan.seconds), "--warmup", str(min(1.0, plan.seconds))]
            out[key] = _json_of([*command, "--rate", str(rate)], plan.seconds + 60)
    return out


def sender(plan: Plan) -> dict[str, object]:
    """The webhook client, chosen by measurement: each candidate sender at 1 and 32 in flight."""
    with running(("sink", sink_command(SECRET), False)) as (sink,):
        command = [sys.executable, "-m", "bench.sender", sink.url, "--secret", SECRET]
        command += ["--posts", str(plan.sender_posts), "--rounds", str(plan.rounds)]
        return _json_of(command, 300)


def startup(plan: Plan) -> dict[str, object]:
    """Process start to the first 200 from ``GET /_mock/health``: the CLI against the bare app."""
    times: dict[str, list[float]] = {"bare": [], "fake": []}
    commands = {"bare": bare_command(), "fake": fake_command()}
    cache_bytecode()
    for run in range(plan.start_runs):
        for name in ("bare", "fake") if run % 2 == 0 else ("fake", "bare"):
            with running((name, commands[name], True)) as (server,):
                times[name].append(server.ready_seconds)
    return {name: {"median_s": statistics.median(v), "min_s": min(v)} for name, v in times.items()}


def fixture(plan: Plan) -> dict[str, object]:
    """The pytest plugin in fresh pytest processes (``start_runs`` of each kind, see ``bench.fixture``):
    cold and warm fixture start, reset, round trip."""
    cache_bytecode()
    return fixture_bench.measure(plan.fixture_rounds, 7, plan.start_runs)


def generation(plan: Plan) -> dict[str, object]:
    """Appointments/s for a busy 7-day, 10-provider clinic: the best of three processes (another
    process on the machine only ever slows a run down)."""
    command = [sys.executable, "-m", "bench.generation", "--seconds", str(plan.generation_seconds / 3)]
    runs = [_json_of(command, plan.generation_seconds + 60) for _ in range(3)]
    best = max(runs, key=lambda run: float(run["appointments_per_s"]))  # type: ignore[arg-type]
    return {**best, "runs_appointments_per_s": [run["appointments_per_s"] for run in runs]}


def memory(plan: Plan) -> dict[str, object]:
    """RSS over ``memory_jobs`` delivered jobs with default retention, after a warm-up of
    ``memory_warmup`` jobs.

    After the warm-up the kernel's peak-RSS mark is reset (``/proc/PID/clear_refs``), so the peak
    reported is the peak after warm-up.
    """
    with running(("sink", sink_command(SECRET), False)) as (sink,):
        hooked = fake_command("--delay", "0", "--webhook-url", sink.url, "--webhook-secret", SECRET)
        with running(("fake", hooked, True)) as (fake,):
            started = time.perf_counter()
            created = run_count(fake.url, plan.memory_warmup, "mrn")
            warm_jobs = _settle(sink)
            warm = fake.memory_mb()
            reset = _reset_peak(fake)
            created += run_count(fake.url, plan.memory_jobs, "mrn")
            jobs = _settle(sink) - warm_jobs
            end = fake.memory_mb()
            elapsed = time.perf_counter() - started
    peak = end["VmHWM"] if reset else max(end["VmHWM"], end["VmRSS"])
    return {
        "jobs": jobs,
        "warmup_jobs": warm_jobs,
        "rss_after_warmup_mb": warm["VmRSS"],
        "rss_end_mb": end["VmRSS"],
        "peak_after_warmup_mb": peak,
        "peak_is_since_warmup": reset,
        "growth_mb": peak - warm["VmRSS"],
        "fetches": created,
        "seconds": elapsed,
    }


def _reset_peak(process: Process) -> bool:
    try:
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _json_of(command: list[str], timeout: float) -> dict[str, object]:
    done = subprocess.run(
        command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    result: dict[str, object] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


CELLS = {
    "fetch": fetch,
    "fetch_kept": fetch_kept,
    "delivered": delivered,
    "latency": latency,
    "sender": sender,
    "start": startup,
    "fixture": fixture,
    "generation": generation,
    "memory": memory,
}
