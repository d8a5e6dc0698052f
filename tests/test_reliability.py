"""Reliability in CI: the long runs' engine (``bench/reliability.py``) at small N, plus resource limits.

Load and faults against a ``cobalt-mock serve`` process, with exact counts: no loss, no duplicate
beyond Cobalt's one retry, no 5xx, each job's ``delivery_status`` as the receiver's scripted answers
imply. Then retention (oldest first), request bodies over 1 MiB, slow and idle clients.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

import httpx
import pytest

from bench.reliability import Report, Scenario, quick_suite, run
from tests.conftest import HEADERS, Fake
from tests.serve_process import ServeProcess, tracked_processes

SCENARIOS = {scenario.name: scenario for scenario in quick_suite()}


@pytest.fixture
def serve_process() -> Iterator[type[ServeProcess]]:
    yield from tracked_processes()


def ran(name: str) -> tuple[Scenario, Report]:
    scenario = SCENARIOS[name]
    report = run(scenario)
    assert report.problems() == [], report.summary()
    return scenario, report


def test_load_every_fetch_one_job_one_event_one_delivery() -> None:
    scenario, report = ran("load")
    n = scenario.fetches
    assert (report.requests, dict(report.statuses), report.server_5xx) == (n, {202: n}, 0)
    assert (report.accepted, report.jobs_listed, report.jobs_completed, report.events) == (n, n, n, n)
    assert (report.deliveries, report.retries, report.succeeded, report.failed) == (n, 0, n, 0)
    assert (report.losses, report.duplicates, report.orphans, report.bad_signatures) == (0, 0, 0, 0)
    assert report.exit_code == 0


def test_faults_every_attempt_by_cobalts_retry_rule() -> None:
    scenario, report = ran("faults")
    n = scenario.fetches
    answers = [scenario.faults.expected(job_id) for job_id in report.job_ids]
    retried = sum(len(attempts) == 2 for attempts, _ in answers)
    failed = sum(final == "failed" for _, final in answers)
    # the script's shares: 40% of first attempts fail (30% 500, 10% closed), 40% of retries too
    assert 0.3 * n < retried < 0.5 * n
    assert 0.08 * n < failed < 0.24 * n
    assert (report.accepted, report.events, report.server_5xx) == (n, n, 0)
    assert (report.deliveries, report.retries) == (n + retried, retried)
    assert (report.succeeded, report.failed) == (n - failed, failed)
    assert (report.losses, report.duplicates, report.status_mismatches, report.rule_violations) == (
        0,
        0,
        0,
        [],
    )


def test_retention_keeps_memory_bounded_evicting_the_oldest_first() -> None:
    scenario, report = ran("soak")
    assert scenario.retention is not None
    assert report.accepted == scenario.fetches
    assert (report.retained_jobs, report.retained_events) == (scenario.retention, scenario.retention)
    assert report.eviction_problems == []
    assert (report.losses, report.duplicates) == (0, 0)  # every delivery still made, by the rule


def test_shutdown_under_load_loses_nothing_accepted() -> None:
    scenario, report = ran("shutdown-under-load")
    assert scenario.stop_after is not None
    assert report.accepted >= scenario.stop_after
    assert report.deliveries == report.accepted  # every accepted job delivered before the exit
    assert report.exit_code == 0
    assert report.shutdown_seconds is not None
    assert report.shutdown_seconds < 5  # shutdown_grace


def test_webhook_delivery_concurrency_is_bounded() -> None:
    scenario, report = ran("bounded-delivery")
    assert report.max_in_flight == scenario.delivery_concurrency  # reached, never passed
    assert report.deliveries == scenario.fetches


def test_retention_limits_are_settings_and_the_oldest_go_first(serve: Callable[..., Fake]) -> None:
    fake = serve(max_jobs=3, max_events=3, max_journal=4)
    ids = [_complete(fake, str(n)) for n in range(6)]

    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == ids[-3:]
    events = fake.events(sort="created_at", page_size=100)["webhook_events"]
    assert [e["job_id"] for e in events] == ids[-3:]
    journal = fake.http.get("/_mock/requests").json()
    assert [e["seq"] for e in journal["entries"]] == list(
        range(journal["last_seq"] - 3, journal["last_seq"] + 1)
    )


def test_unfinished_jobs_are_never_evicted(serve: Callable[..., Fake]) -> None:
    fake = serve(max_jobs=2)
    fake.http.post("/_mock/jobs/hold")
    held = [fake.fetch({"search_by": "mrn", "mrn": str(n)}).json()["job_id"] for n in range(4)]
    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == held

    fake.http.post("/_mock/jobs/release")
    for job_id in held:
        fake.state.store.wait_for_job(job_id)
    newest = _complete(fake, "new")
    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == [held[-1], newest]


def test_while_max_jobs_are_unfinished_a_new_fetch_waits_its_turn(serve: Callable[..., Fake]) -> None:
    fake = serve(max_jobs=2, delay=60)
    first, second = (fake.fetch({"search_by": "mrn", "mrn": str(n)}).json()["job_id"] for n in range(2))
    with ThreadPoolExecutor(2) as pool:
        gives_up = pool.submit(fake.fetch, {"search_by": "mrn", "mrn": "2"}, timeout=0.2)
        waits = pool.submit(fake.fetch, {"search_by": "mrn", "mrn": "3"})
        with pytest.raises(httpx.TimeoutException):
            gives_up.result()  # no room: it waited, then its client gave up (its place passes on)
        with pytest.raises(FutureTimeout):
            waits.result(timeout=0.2)
        fake.http.post(f"/_mock/jobs/{first}/complete")  # one finishes: the next in line goes ahead
        third = waits.result(timeout=10).json()["job_id"]
    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == [second, third]
    assert fake.state.errors == []


def _complete(fake: Fake, mrn: str) -> str:
    job_id: str = fake.fetch({"search_by": "mrn", "mrn": mrn}).json()["job_id"]
    fake.state.store.wait_for_job(job_id)
    return job_id


# -- request bodies over 1 MiB ------------------------------------------------------------------


def _post_50_mib(url: str, *, chunked: bool) -> tuple[int, bytes]:
    """Stream a 50 MiB body until the server answers or hangs up: (bytes sent, what came back)."""
    parts = urlsplit(url)
    framing = b"transfer-encoding: chunked" if chunked else b"content-length: 52428800"
    head = b"POST /v1/appointments/fetch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in HEADERS.items()) + framing + b"\r\n\r\n"
    piece = b" " * 65536
    chunk = b"10000\r\n" + piece + b"\r\n" if chunked else piece
    sent, answer = 0, b""
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        while sent < 50 * 2**20 and b"\r\n\r\n" not in answer:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            try:
                if readable:
                    data = sock.recv(65536)
                    if not data:
                        break
                    answer += data
                elif writable:
                    sent += sock.send(chunk)
                else:
                    break
            except (BrokenPipeError, ConnectionResetError):
                break
    return sent, answer


@pytest.mark.parametrize("chunked", [True, False], ids=["streamed", "declared"])
def test_a_50_mib_body_is_refused_without_being_read(
    serve_process: type[ServeProcess], chunked: bool
) -> None:
    fake = serve_process("--delay", "0", "--log-level", "warning")
    before = fake.memory()

    sent, answer = _post_50_mib(fake.url, chunked=chunked)

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:100]
    assert sent < 16 * 2**20  # the answer came while the client was still sending (socket buffers)
    assert fake.memory() - before < 16 * 2**20  # nowhere near 50 MiB held
    entry = httpx.get(f"{fake.url}/_mock/requests", params={"kind": "request"}, timeout=10).json()["entries"][
        -1
    ]
    # what the fake read: past 1 MiB when streamed (the journal keeps 64 KiB of it), nothing when declared
    assert (entry["status"], entry["body_truncated"]) == (413, chunked)


# -- slow and idle clients -----------------------------------------------------------------------


def test_slow_and_idle_clients_cannot_hold_the_server(serve_process: type[ServeProcess]) -> None:
    fake = serve_process("--delay", "0", "--log-level", "warning", "--read-timeout", "1")
    parts = urlsplit(fake.url)
    address = (parts.hostname or "", parts.port or 0)
    opened = time.monotonic()
    idle = [socket.create_connection(address, timeout=10) for _ in range(200)]
    slow = [socket.create_connection(address, timeout=10) for _ in range(5)]
    head = b"GET /_mock/health HTTP/1.1\r\nhost: x\r\nx-padding: " + b"a" * 100 + b"\r\n\r\n"
    body_head = b"POST /v1/appointments/fetch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    body_head += (
        b"".join(f"{k}: {v}\r\n".encode() for k, v in HEADERS.items()) + b"content-length: 200\r\n\r\n"
    )
    slow_body = socket.create_connection(address, timeout=10)
    slow_body.sendall(body_head)
    drips = [threading.Thread(target=_drip, args=(s, head)) for s in slow] + [
        threading.Thread(target=_drip, args=(slow_body, b"{" + b" " * 199))
    ]
    try:
        for drip in drips:
            drip.start()
        with httpx.Client(base_url=fake.url, headers=HEADERS, timeout=10) as client:
            latencies = []
            for n in range(20):  # served as usual while 206 connections hang on
                started = time.monotonic()
                assert (
                    client.post(
                        "/v1/appointments/fetch", json={"search_by": "mrn", "mrn": str(n)}
                    ).status_code
                    == 202
                )
                latencies.append(time.monotonic() - started)
        assert max(latencies) < 2  # usually ~10 ms; generous for a busy CI machine
        closed = [_closed_within(s, 5) for s in idle]
        for drip in drips:
            drip.join(10)
    finally:
        for s in [*idle, *slow, slow_body]:
            s.close()
    # each idle or dripping connection was dropped once its read_timeout (1 s) was up
    assert all(closed)
    assert 0.9 < time.monotonic() - opened < 8
    assert all(not drip.is_alive() for drip in drips)
    journal = httpx.get(f"{fake.url}/_mock/requests", params={"kind": "request"}, timeout=10).json()[
        "entries"
    ]
    assert [e["status"] for e in journal if e["method"] == "POST"].count(499) == 1  # the slow body: gone
    assert httpx.get(f"{fake.url}/_mock/health", timeout=10).status_code == 200
    assert "error" not in fake.stderr.lower(), fake.output


def _drip(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` a byte every 100 ms, until the server hangs up."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        if select.select([sock], [], [], 0.1)[0]:  # the server answered or closed: stop
            return


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    if not select.select([sock], [], [], seconds)[0]:
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
