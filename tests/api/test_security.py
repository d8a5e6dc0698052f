"""Security of ``cobalt-mock serve``: loopback by default, a warning when exposed, secrets kept out of
logs and the journal, constant-time secret checks, and a control API that can be off or need a token.

Servers bound to 0.0.0.0 here get traffic on 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import json
import signal
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mock_server.delivery import webhook as signing
from mock_server.settings import DEFAULT_WEBHOOK_SECRET
from mock_server.testing import receiver as receiver_module
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import WEEK, Fake
from tests.serve_process import ServeProcess, tracked_processes

CLIENT_SECRET = "cs_live_SECRET_client_7f3a9c"
ACCESS_TOKEN = "tok_SECRET_access_token_5be1"
CONTROL_TOKEN = "ctl_SECRET_control_token_91d2"
SECRETS = (CLIENT_SECRET, ACCESS_TOKEN, CONTROL_TOKEN)
AUTH = {"client_id": "ci_live_x", "client_secret": CLIENT_SECRET, "access_token": ACCESS_TOKEN}
BEARER = {"authorization": f"Bearer {CONTROL_TOKEN}"}


@pytest.fixture
def serve_process() -> Iterator[type[ServeProcess]]:
    yield from tracked_processes()


def test_serve_binds_loopback_by_default(serve_process: type[ServeProcess]) -> None:
    fake = serve_process()
    assert fake.url.startswith("http://127.0.0.1:")
    assert "warning" not in fake.stderr


@pytest.mark.parametrize(
    ("flags", "warning", "jobs_status"),
    [
        ((), "so is the control API (/_mock/*): set --control-token or --control false", 200),
        (("--control-token", CONTROL_TOKEN), "the control API needs its token", 401),
        (("--control", "false"), "the control API is off", 404),
    ],
    ids=["open", "token", "off"],
)
def test_an_exposed_server_warns_and_its_control_api_can_be_locked_or_off(
    serve_process: type[ServeProcess], flags: tuple[str, ...], warning: str, jobs_status: int
) -> None:
    fake = serve_process("--host", "0.0.0.0", *flags)
    line = fake.wait_for_line("warning:")
    assert line == f"cobalt-mock: warning: bound to 0.0.0.0, reachable from other machines; {warning}"
    local = fake.url.replace("0.0.0.0", "127.0.0.1")
    assert httpx.get(f"{local}/_mock/jobs", timeout=10).status_code == jobs_status
    if jobs_status == 401:
        assert httpx.get(f"{local}/_mock/jobs", headers=BEARER, timeout=10).status_code == 200
    assert httpx.get(f"{local}/_mock/health", timeout=10).status_code == 200  # the fake's liveness, always


def test_secrets_never_reach_the_logs_and_are_redacted_in_the_journal(
    serve_process: type[ServeProcess], receiver: WebhookReceiver
) -> None:
    fake = serve_process(
        *("--log-level", "debug", "--delay", "0", "--webhook-url", receiver.url),
        *("--client-id", AUTH["client_id"], "--client-secret", CLIENT_SECRET, "--access-token", ACCESS_TOKEN),
        *("--control-token", CONTROL_TOKEN),
    )
    with httpx.Client(base_url=fake.url, timeout=10) as http:
        job_id = http.post("/v1/appointments/fetch", json=WEEK, headers=AUTH).json()["job_id"]
        wrong = {**AUTH, "client_secret": CLIENT_SECRET + "x", "access_token": ACCESS_TOKEN + "x"}
        assert http.post("/v1/appointments/fetch", json=WEEK, headers=wrong).status_code == 401
        assert http.get("/v1/webhook-events", params={"job_id": job_id}, headers=AUTH).status_code == 200
        receiver.wait_for_webhook(job_id)
        scoped = {"access_token": ACCESS_TOKEN}  # the control API takes the token as a query parameter
        assert http.get("/_mock/jobs", params=scoped, headers=BEARER).status_code == 200
        assert http.get("/_mock/jobs", params=scoped).status_code == 401
        journal = http.get("/_mock/requests", params=scoped, headers=BEARER).json()
        config = http.get("/_mock/config", headers=BEARER).json()["config"]
    fake.send(signal.SIGTERM)
    assert fake.wait() == 0

    assert {config[name] for name in ("client_secret", "access_token", "control_token")} == {"***"}
    entries = journal["entries"]
    # the fetch, the events read and the delivery; the 401 was journaled under the wrong token
    assert sorted(e["kind"] for e in entries) == ["delivery", "request", "request"]
    fetched = entries[0]
    assert (fetched["headers"]["client_secret"], fetched["headers"]["access_token"]) == ("***", "***5be1")
    assert fetched["access_token"] == "***5be1"
    recorded = json.dumps(journal)
    logged = fake.output
    assert "/_mock/jobs?access_token=*** HTTP/1.1" in logged  # the access log ran, masked
    for secret in SECRETS:
        assert secret not in recorded
        assert secret not in logged, f"{secret} logged:\n{logged}"


@pytest.fixture
def compare_digest_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Every call of ``hmac.compare_digest``, which still does the comparing."""
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def test_the_receiver_checks_signatures_in_constant_time(compare_digest_calls: list[tuple[Any, Any]]) -> None:
    assert receiver_module.verify is signing.verify
    body = b'{"id":"evt_1","job_id":"job_1"}'
    good = signing.sign(DEFAULT_WEBHOOK_SECRET, body)
    with WebhookReceiver(secret=DEFAULT_WEBHOOK_SECRET) as receiver:
        for signature in (good, "0" * 64):
            headers = {"content-type": "application/json", "cobalt-verification": signature}
            httpx.post(receiver.url, content=body, headers=headers, timeout=10)
        deliveries = receiver.wait_for(lambda d: True, count=2)
    assert [d.signature_valid for d in deliveries] == [True, False]
    compared = {b for _, b in compare_digest_calls}
    assert {good.encode(), b"0" * 64} <= compared  # both answers came from compare_digest


def test_the_fake_checks_credentials_and_the_control_token_in_constant_time(
    serve: Callable[..., Fake], compare_digest_calls: list[tuple[Any, Any]]
) -> None:
    fake = serve(client_secret=CLIENT_SECRET, control_token=CONTROL_TOKEN)
    assert fake.fetch(headers={"client_secret": "cs_guess"}).status_code == 401
    assert fake.http.get("/_mock/jobs", headers={"authorization": "Bearer ctl_guess"}).status_code == 401
    assert (b"cs_guess", CLIENT_SECRET.encode()) in compare_digest_calls
    assert (b"ctl_guess", CONTROL_TOKEN.encode()) in compare_digest_calls
