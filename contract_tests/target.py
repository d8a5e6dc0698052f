"""The server the contract suite talks to: the fake in-process, or a real Cobalt over HTTPS.

Both are driven over HTTP only, through the same ``Target`` surface, so every property runs
unchanged against either. They differ in how a job's completion event is awaited:

* ``FakeTarget`` starts the fake on a free port with a local ``WebhookReceiver`` registered on it
  through ``POST /v1/webhook``, in the version of the webhook API the fake follows (``webhook_api``);
  the receiver's secret comes from that answer, so signatures are checked for real, over the exact
  bytes delivered.
* ``PollingTarget`` (the real API, or any URL) polls ``GET /v1/webhook-events?job_id=`` about once a
  second, Cobalt's documented alternative to webhooks, so no public URL is needed. A 429 or 503 to a
  poll is a busy API, not a broken one: it waits as ``Retry-After`` says (or backs off) and polls
  again, within the job's timeout. Polling yields the event's ``data`` only: no envelope, raw bytes
  or signature, so those rules are reported as not exercised there.

Proxies come from the environment (``HTTP(S)_PROXY``, ``NO_PROXY``) for a remote host; a loopback
target is always reached directly, whatever the environment says.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx

from contract_tests import checks
from mock_server.api.app import create_app
from mock_server.settings import Settings
from mock_server.testing.receiver import Delivery, WebhookReceiver
from mock_server.testing.server import ServerThread

EVENT_TYPE = "appointment.live_fetch_completed"
AUTH_NAMES = ("client_id", "client_secret", "access_token")
FAKE_HEADERS = {"client_id": "ci_contract", "client_secret": "cs_contract", "access_token": "at_contract"}
# The fake's delivery rules made quick: no job delay, a 50 ms retry delay instead of Cobalt's 1 s.
FAKE_SETTINGS: dict[str, object] = {"delay": 0, "retry_delay": 0.05, "log_level": "warning"}

_UNSET: Any = object()
# A busy API answers these to a poll; anything else that is not 200 is an answer to check.
BUSY = (429, 503)
MAX_BACKOFF = 30.0


class NotCompleted(AssertionError):
    """No completion event was seen in time; ``busy`` when the API kept answering 429/503."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address: traffic that must never go through a proxy."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after(response: httpx.Response, now: float, fallback: float) -> float:
    """Seconds to wait as the answer's ``Retry-After`` says (seconds or an HTTP date), else ``fallback``."""
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return fallback
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class Webhook:
    """A job's completion event as the target exposes it.

    ``payload``, ``body`` and ``headers`` are the delivered request (a receiver saw it); they are
    ``None`` when the event was polled, and then ``event`` is the ``webhook-events`` row.
    """

    data: Any
    payload: Any = None
    body: bytes | None = None
    headers: dict[str, str] | None = None
    event: dict[str, Any] | None = None

    @classmethod
    def of(cls, delivery: Delivery) -> Webhook:
        payload = delivery.payload
        data = payload.get("data") if isinstance(payload, dict) else None
        return cls(data=data, payload=payload, body=delivery.body, headers=dict(delivery.headers))


class Target:
    """A Cobalt API at ``base_url`` (ending in ``/v1``) with the three auth headers."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        webhook_timeout: float,
        pace: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.webhook_timeout = webhook_timeout
        self.webhook_secret: str | None = None
        self.pace = pace
        self.clock = clock
        self.sleep = sleep
        self._last_request: float | None = None
        self.sent: Counter[str] = Counter()  # requests sent, polls apart
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=self.headers,
            timeout=30,
            trust_env=not is_loopback(httpx.URL(self.base_url).host),
            event_hooks={"request": [self._wait_turn]},
        )

    def _wait_turn(self, request: httpx.Request) -> None:
        """At most one request per ``pace`` seconds (the live run's courtesy to a real API)."""
        self.sent["polls" if request.url.path.endswith("/webhook-events") else "requests"] += 1
        if self.pace:
            if self._last_request is not None:
                wait = self._last_request + self.pace - self.clock()
                if wait > 0:
                    self.sleep(wait)
            self._last_request = self.clock()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = _UNSET,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One call. ``body`` is sent as UTF-8 JSON, ``content`` as is; ``headers`` replace the auth ones."""
        extra: dict[str, str] = {}
        if body is not _UNSET:
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if content is not None:
            extra["content-type"] = "application/json"
        request = self.http.build_request(method, path.lstrip("/"), content=content, params=params)
        if headers is not None:
            for name in AUTH_NAMES:
                del request.headers[name]
            request.headers.update(headers)
        request.headers.update(extra)
        return self.http.send(request)

    def fetch(self, body: Any = _UNSET, **options: Any) -> httpx.Response:
        return self.request("POST", "appointments/fetch", body=body, **options)

    def events(self, job_id: str) -> httpx.Response:
        return self.request("GET", "webhook-events", params={"job_id": job_id})

    def await_webhook(self, job_id: str, timeout: float | None = None) -> Webhook:
        raise NotImplementedError

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class PollingTarget(Target):
    """A real Cobalt (or any server) whose completion events are polled, not received."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        *,
        webhook_timeout: float = 120.0,
        pace: float = 1.0,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            base_url, headers, webhook_timeout=webhook_timeout, pace=pace, clock=clock, sleep=sleep
        )
        self.poll_interval = poll_interval
        self.waits: list[tuple[int, float]] = []  # (status, seconds) of each back-off, for the report

    def await_webhook(self, job_id: str, timeout: float | None = None) -> Webhook:
        """Poll ``GET /v1/webhook-events?job_id=`` until the job's completion event is listed.

        A 429 or 503 waits ``Retry-After`` (else doubles the wait, up to 30 s) and polls again; a wait
        that would end past the deadline fails now, naming the busy answer, instead of sleeping.
        """
        timeout = self.webhook_timeout if timeout is None else timeout
        deadline = self.clock() + timeout
        backoff = self.poll_interval
        while True:
            response = self.events(job_id)
            if response.status_code in BUSY:
                wait = retry_after(response, time.time(), min(max(backoff, 1.0), MAX_BACKOFF))
                backoff = min(max(backoff, 1.0) * 2, MAX_BACKOFF)
                if self.clock() + wait > deadline:
                    raise NotCompleted(
                        f"no {EVENT_TYPE} event for job {job_id} within {timeout:g}s: the API answered "
                        f"{response.status_code} to a poll and asked to wait {wait:g}s more",
                        busy=True,
                    )
                self.waits.append((response.status_code, wait))
                self.sleep(wait)
                continue
            assert response.status_code == 200, (
                f"GET /webhook-events?job_id={job_id} answered {response.status_code}: {response.text[:500]}"
            )
            backoff = self.poll_interval
            answer = response.json()
            events = answer.get("webhook_events") if isinstance(answer, dict) else None
            assert isinstance(events, list), (
                f"GET /webhook-events answered no webhook_events list: {answer!r}"
            )
            for event in events:
                if (
                    isinstance(event, dict)
                    and event.get("job_id") == job_id
                    and event.get("event_type") == EVENT_TYPE
                ):
                    return Webhook(data=event.get("data"), event=event)
            left = deadline - self.clock()
            if left <= 0:
                raise NotCompleted(f"no {EVENT_TYPE} event for job {job_id} after polling for {timeout:g}s")
            self.sleep(min(self.poll_interval, left))


class FakeTarget(Target):
    """An ASGI app (the fake, or a broken variant of it) served on a free port, plus a receiver."""

    def __init__(self, app: Any, *, webhook_timeout: float = 10.0, webhook_api: str = "guide") -> None:
        self.webhook_api = webhook_api
        self.server = ServerThread(app)
        self.receiver = WebhookReceiver()
        super().__init__(self.server.url + "/v1", FAKE_HEADERS, webhook_timeout=webhook_timeout)

    def start(self, *, register: bool = True) -> FakeTarget:
        """Serve, start the receiver and register it, all over HTTP like any Cobalt client.

        ``register=False`` leaves the fake without a webhook URL, as a real API is when polled.
        Each answer must be the ``webhook_api`` version's (the ``webhook-api`` rule).
        """
        api = self.webhook_api
        try:
            self.server.start()
            self.receiver.start()
            if register:
                url = self.receiver.url + "/cobalt"
                created = self.request("POST", "webhook", body=checks.registration_body(api, url))
                self.webhook_secret = checks.check_registration(created, api)
                self.receiver.secrets = [self.webhook_secret]
            listed = checks.check_listing(self.request("GET", "webhook"), api)
            assert [hook["url"] for hook in listed] == ([url] if register else []), listed
        except BaseException:
            self.close()
            raise
        return self

    def await_webhook(self, job_id: str, timeout: float | None = None) -> Webhook:
        """The first delivery carrying ``job_id``, awaited on the receiver (no sleeping)."""
        timeout = self.webhook_timeout if timeout is None else timeout
        return Webhook.of(self.receiver.wait_for_webhook(job_id, timeout))

    def await_deliveries(self, job_id: str, count: int, timeout: float | None = None) -> list[Delivery]:
        timeout = self.webhook_timeout if timeout is None else timeout
        return self.receiver.wait_for(
            lambda d: d.job_id == job_id, timeout, count=count, description=f"webhooks for job {job_id!r}"
        )

    def deliveries(self, job_id: str) -> list[Delivery]:
        return [d for d in self.receiver.deliveries if d.job_id == job_id]

    def await_settled(self, job_id: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """The job's event rows once none is ``pending``: every delivery attempt has been made.

        The fake sets a row's ``delivery_status`` after its last attempt (retry included), so this is
        how a test learns that no further attempt is coming without waiting out a retry delay.
        """
        timeout = self.webhook_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            response = self.events(job_id)
            assert response.status_code == 200, response.text
            rows: list[dict[str, Any]] = response.json()["webhook_events"]
            if rows and all(row["delivery_status"] != "pending" for row in rows):
                return rows
            if time.monotonic() >= deadline:
                statuses = [row["delivery_status"] for row in rows]
                raise AssertionError(f"deliveries of job {job_id} not settled after {timeout:g}s: {statuses}")
            time.sleep(0.01)

    def close(self) -> None:
        try:
            super().close()
            self.server.stop()
        finally:
            self.receiver.stop()


def start_fake(*, register: bool = True, **settings: object) -> FakeTarget:
    """The fake with the suite's quick settings (overridable), started and ready."""
    chosen = Settings().replace(**{**FAKE_SETTINGS, **settings})
    return FakeTarget(create_app(chosen), webhook_api=chosen.webhook_api).start(register=register)
