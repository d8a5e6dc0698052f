"""The server the contract suite talks to: the fake in-process, or a real Cobalt over HTTPS.

Both are driven over HTTP only, through the same ``Target`` surface, so every property runs
unchanged against either. They differ in how a job's completion event is awaited:

* ``FakeTarget`` starts the fake on a free port with a local ``WebhookReceiver`` registered on it
  through ``POST /v1/webhook``; the receiver's secret comes from ``GET /v1/webhook``, so signatures
  are checked for real, over the exact bytes delivered.
* ``PollingTarget`` (the real API, or any URL) polls ``GET /v1/webhook-events?job_id=`` about once a
  second, Cobalt's documented alternative to webhooks, so no public URL is needed. Polling yields the
  event's ``data`` only: no envelope, raw bytes or signature, so those checks are skipped there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Self

import httpx

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

    is_fake = False

    def __init__(
        self, base_url: str, headers: dict[str, str], *, webhook_timeout: float, pace: float = 0.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.webhook_timeout = webhook_timeout
        self.webhook_secret: str | None = None
        self.pace = pace
        self._last_request = 0.0
        self.http = httpx.Client(
            base_url=self.base_url,
            headers=self.headers,
            timeout=30,
            trust_env=not self.is_fake,  # proxies from the environment, but never for the local fake
            event_hooks={"request": [self._wait_turn]},
        )

    def _wait_turn(self, request: httpx.Request) -> None:
        """At most one request per ``pace`` seconds (the live profile's courtesy to a real API)."""
        if self.pace:
            wait = self._last_request + self.pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()

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
    ) -> None:
        super().__init__(base_url, headers, webhook_timeout=webhook_timeout, pace=pace)
        self.poll_interval = poll_interval

    def await_webhook(self, job_id: str, timeout: float | None = None) -> Webhook:
        """Poll ``GET /v1/webhook-events?job_id=`` until the job's completion event is listed."""
        timeout = self.webhook_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            response = self.events(job_id)
            assert response.status_code == 200, (
                f"GET /webhook-events?job_id={job_id} answered {response.status_code}: {response.text[:500]}"
            )
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
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {EVENT_TYPE} event for job {job_id} after polling for {timeout:g}s")
            time.sleep(self.poll_interval)


class FakeTarget(Target):
    """An ASGI app (the fake, or a broken variant of it) served on a free port, plus a receiver."""

    is_fake = True

    def __init__(self, app: Any, *, webhook_timeout: float = 10.0) -> None:
        self.server = ServerThread(app)
        self.receiver = WebhookReceiver()
        super().__init__(self.server.url + "/v1", FAKE_HEADERS, webhook_timeout=webhook_timeout)

    def start(self, *, register: bool = True) -> FakeTarget:
        """Serve, start the receiver and register it, all over HTTP like any Cobalt client.

        ``register=False`` leaves the fake without a webhook URL, as a real API is when polled.
        """
        try:
            self.server.start()
            self.receiver.start()
            if register:
                url = self.receiver.url + "/cobalt"
                registered = self.request("POST", "webhook", body={"webhook_url": url})
                assert registered.status_code == 200, f"registering the receiver: {registered.text}"
            listed = self.request("GET", "webhook")
            assert listed.status_code == 200, f"reading the webhook secret: {listed.text}"
            self.webhook_secret = listed.json()["webhook_secret_key"]
            self.receiver.secrets = [self.webhook_secret]
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
    app = create_app(Settings().replace(**{**FAKE_SETTINGS, **settings}))
    return FakeTarget(app).start(register=register)
