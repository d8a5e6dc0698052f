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
from bench.reliability_checks import verify_eviction
from bench.reliability_load import Accepted
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


def test_the_soak_tells_an_old_job_kept_while_unfinished_from_one_kept_too_long() -> None:
    scenario = SCENARIOS["soak"]
    limit = scenario.retention
    assert limit is not None
    accepted = [Accepted(f"job_{i}", "tok", sent=float(i)) for i in range(800)]  # one fetch a second
    newest = {a.job_id: [{}] for a in accepted[-limit:]}

    def problems(rows: dict[str, list[dict[str, object]]], ended: dict[str, float]) -> list[str]:
        report = Report(scenario, retained_jobs=limit, retained_events=limit)
        verify_eviction(scenario, report, accepted, rows, ended)
        return report.eviction_problems

    # job_3 still unfinished until after the last fetch was sent: kept, however old (never evicted)
    assert problems(newest, {"job_3": 799.5}) == []
    # job_3 finished with 299 fetches still to come: each would have evicted it or an older one
    assert len(problems(newest, {"job_3": 500.0})) == 1
    # events go strictly oldest first: job_3's cannot outlast 796 newer ones
    assert len(problems({**newest, "job_3": [{}]}, {})) == 1


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


def test_past_max_jobs_fetches_are_refused_not_hung_and_nothing_accepted_is_lost() -> None:
    scenario, report = ran("admission")
    assert (report.refused > 0, report.accepted > 0) == (True, True)  # 32 clients for the 8 places
    assert report.accepted + report.refused == report.requests == scenario.fetches
    assert dict(report.statuses) == {202: report.accepted, 429: report.refused}
    assert (report.hangs, report.refused_without_retry_after, report.losses) == (0, 0, 0)
    assert report.deliveries == report.accepted  # every accepted job delivered, none of the refused
    assert report.exit_code == 0


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
        fake.state.wait_for_job(job_id)
    newest = _complete(fake, "new")
    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == [held[-1], newest]


def test_while_max_jobs_are_unfinished_a_new_fetch_waits_its_turn(serve: Callable[..., Fake]) -> None:
    fake = serve(max_jobs=2, delay=60, admission_timeout=60)
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


def test_past_admission_timeout_a_fetch_gets_429_with_retry_after(serve: Callable[..., Fake]) -> None:
    fake = serve(max_jobs=3, delay=3600, admission_timeout=0.2)
    held = [fake.fetch({"search_by": "mrn", "mrn": str(n)}).json()["job_id"] for n in range(3)]

    refused = fake.fetch({"search_by": "mrn", "mrn": "3"})  # bounded by admission_timeout, not by us

    assert (refused.status_code, refused.json()) == (
        429,
        {"success": False, "message": "Too many fetches in progress. Retry later."},
    )
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600  # when the soonest job is due
    assert [j["job_id"] for j in fake.http.get("/_mock/jobs").json()["jobs"]] == held  # none dropped
    fake.http.post(f"/_mock/jobs/{held[0]}/complete")
    assert fake.fetch({"search_by": "mrn", "mrn": "4"}).status_code == 202  # room again
    assert fake.http.patch("/_mock/config", json={"admission_timeout": 0}).status_code == 200
    at_once = fake.fetch({"search_by": "mrn", "mrn": "5"})  # 0: no wait at all
    assert (at_once.status_code, at_once.headers["retry-after"].isdigit()) == (429, True)
    assert fake.state.errors == []


def _complete(fake: Fake, mrn: str) -> str:
    job_id: str = fake.fetch({"search_by": "mrn", "mrn": mrn}).json()["job_id"]
    fake.state.wait_for_job(job_id)
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
    read_timeout = 4.0
    fake = serve_process("--delay", "0", "--log-level", "warning", "--read-timeout", str(read_timeout))
    _complete_a_first_job(fake.url)
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
        # Not held: a fetch waiting on those connections would be answered only once they are dropped,
        # read_timeout after they opened. (Usually ~10 ms each; 2 s only catches that.)
        assert max(latencies) < 2
        closed_at = _closed_by(idle, opened + read_timeout + 10)
        for drip in drips:
            drip.join(10)
    finally:
        for s in [*idle, *slow, slow_body]:
            s.close()
    # each idle connection was dropped once its read_timeout was up: not before, and not never
    assert len(closed_at) == len(idle)
    assert min(closed_at) - opened > read_timeout - 0.05
    assert all(not drip.is_alive() for drip in drips)
    journal = httpx.get(f"{fake.url}/_mock/requests", params={"kind": "request"}, timeout=10).json()[
        "entries"
    ]
    assert [e["status"] for e in journal if e["method"] == "POST"].count(499) == 1  # the slow body: gone
    assert httpx.get(f"{fake.url}/_mock/health", timeout=10).status_code == 200
    assert "error" not in fake.stderr.lower(), fake.output


def _complete_a_first_job(url: str) -> None:
    """The server's first job loads the data generator on its loop (~0.15 s idle, ~1 s under coverage on
    a shared core, all of it added to a fetch answered meanwhile): done before anything is timed."""
    with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
        client.post("/_mock/jobs/hold").raise_for_status()
        job_id = client.post("/v1/appointments/fetch", json={"search_by": "mrn", "mrn": "99"}).json()[
            "job_id"
        ]
        client.post(f"/_mock/jobs/{job_id}/complete").raise_for_status()  # answers once it has completed
        client.post("/_mock/jobs/release").raise_for_status()


def _drip(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` a byte every 100 ms, until the server hangs up."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except OSError:
            return
        if select.select([sock], [], [], 0.1)[0]:  # the server answered or closed: stop
            return


def _closed_by(socks: list[socket.socket], deadline: float) -> list[float]:
    """When each of ``socks`` was seen closed by the server (``time.monotonic()``), waiting at most
    until ``deadline``; one that got data instead, or was still open, is left out."""
    waiting, closed_at = list(socks), []
    while waiting and (left := deadline - time.monotonic()) > 0:
        for sock in select.select(waiting, [], [], left)[0]:
            waiting.remove(sock)
            try:
                data = sock.recv(1)
            except ConnectionResetError:
                data = b""
            if data == b"":
                closed_at.append(time.monotonic())
    return closed_at
