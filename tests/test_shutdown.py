"""Shutdown of ``cobalt-mock serve``: a signal stops intake, finishes due webhooks within the grace
period, reports what it could not finish, and exits 0; a second signal exits at once (code 1)."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from mock_server.testing.receiver import Behaviour, WebhookReceiver
from tests.conftest import HEADERS
from tests.serve_process import ServeProcess, tracked_processes


@pytest.fixture
def serve_process() -> Iterator[type[ServeProcess]]:
    yield from tracked_processes()


def fetch(url: str, mrn: str) -> str:
    response = httpx.post(
        f"{url}/v1/appointments/fetch", json={"search_by": "mrn", "mrn": mrn}, headers=HEADERS, timeout=10
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def refused(url: str, within: float = 2.0) -> bool:
    """True once a new connection to ``url`` is refused (the listener closed), within ``within`` s."""
    parts = urlsplit(url)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.01)  # the listener closes on uvicorn's next tick (100 ms)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_delivers_due_webhooks_reports_the_rest_and_exits_0(
    serve_process: type[ServeProcess], receiver: WebhookReceiver, sig: int
) -> None:
    receiver.default = Behaviour.slow(1.5)
    fake = serve_process("--delay", "0", "--webhook-url", receiver.url, "--log-level", "info")
    due = [fetch(fake.url, str(n)) for n in range(3)]
    later = fetch(fake.url, "mock-slow-60")  # due in a minute: reported, never started
    receiver.wait_for(lambda d: d.job_id in due, count=3)  # in flight; their answers 1.5 s away

    fake.send(sig)
    fake.wait_for_line("shutting down")
    assert refused(fake.url)
    assert fake.proc.poll() is None  # refusing new connections while it still delivers
    assert fake.wait() == 0

    assert fake.exit_seconds is not None
    assert 1.0 < fake.exit_seconds < 5  # waited for the slow answers, within shutdown_grace
    for job_id in due:  # each attempt got its 200: none was cut off
        assert f"job={job_id} attempt=1 -> 200" in fake.stderr, fake.output
    report = fake.wait_for_line("stopped;")
    assert report == f"cobalt-mock: warning: stopped; 1 job(s) not completed (not due yet: {later})"
    assert sorted(d.job_id for d in receiver.deliveries) == sorted(due)


def test_a_retry_due_during_shutdown_is_still_sent(
    serve_process: type[ServeProcess], receiver: WebhookReceiver
) -> None:
    receiver.respond_with(Behaviour.status(500))
    fake = serve_process("--delay", "0", "--retry-delay", "0.5", "--webhook-url", receiver.url)
    job_id = fetch(fake.url, "1")
    receiver.wait_for(lambda d: d.job_id == job_id)

    fake.send(signal.SIGTERM)
    retry = receiver.wait_for(lambda d: d.job_id == job_id and d.attempt == 2)[0]

    assert fake.wait() == 0
    assert retry.status == 200
    assert fake.wait_for_line("stopped;") == "cobalt-mock: stopped; every accepted job completed"


def test_deliveries_still_running_after_the_grace_period_are_cut_off_and_reported(
    serve_process: type[ServeProcess], receiver: WebhookReceiver
) -> None:
    receiver.default = Behaviour.slow(30)
    fake = serve_process("--delay", "0", "--shutdown-grace", "0.5", "--webhook-url", receiver.url)
    job_id = fetch(fake.url, "1")
    receiver.wait_for(lambda d: d.job_id == job_id)

    fake.send(signal.SIGTERM)

    assert fake.wait() == 0
    assert fake.exit_seconds is not None
    assert fake.exit_seconds < 3
    report = fake.wait_for_line("stopped;")
    assert (
        report
        == f"cobalt-mock: warning: stopped; 1 job(s) not completed (cut off by shutdown_grace: {job_id})"
    )


def test_a_second_signal_exits_at_once_with_code_1(
    serve_process: type[ServeProcess], receiver: WebhookReceiver
) -> None:
    # The delivery outlasts every timeout and the grace is a minute: a fake that ignored the second
    # signal would still be draining when `wait` gives up (30 s), and would then exit 0.
    receiver.default = Behaviour.slow(300)
    fake = serve_process(
        *("--delay", "0", "--shutdown-grace", "60", "--webhook-timeout", "300"),
        *("--webhook-url", receiver.url),
    )
    job_id = fetch(fake.url, "1")
    receiver.wait_for(lambda d: d.job_id == job_id, timeout=30)  # the server's first job: it may be slow
    fake.send(signal.SIGTERM)
    fake.wait_for_line("shutting down")

    fake.send(signal.SIGINT)

    assert fake.wait() == 1
    assert fake.last_signal_exit_seconds is not None
    assert fake.last_signal_exit_seconds < 10  # at once (~10 ms), not after the 60 s grace
    assert "cobalt-mock: second signal, exiting now" in fake.stderr
