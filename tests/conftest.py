"""Shared fixtures: a real fake server on a pre-bound port, a real receiver, Cobalt auth headers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpcore  # noqa: F401 - see below
import httpx
import jsonschema  # noqa: F401 - see below
import pytest
import referencing  # noqa: F401 - see below

from mock_server.model.state import MockState
from mock_server.settings import DEFAULT_WEBHOOK_SECRET, Settings
from mock_server.testing.receiver import WebhookReceiver
from mock_server.testing.server import FakeServer

# pytester's in-process runs drop the modules first imported inside them. The fake imports these
# lazily and caches objects made from them (validators, the schema registry, exception maps), so
# they are loaded here, before any inner run, to keep one copy of each for the whole session.

T = TypeVar("T")
HEADERS = {"client_id": "ci_test", "client_secret": "cs_test", "access_token": "tok_a"}
WEEK = {"start_date": "2025-01-06", "end_date": "2025-01-12"}


def _providers(end: str, count: int) -> dict[str, Any]:
    ids = [f"prov_{n}" for n in range(count)]
    return {"search_by": "provider", "start_date": "2025-01-06", "end_date": end, "provider_ids": ids}


# Each rule-reading setting (docs/rules.md): its lax value as text (for every form), and a fetch the
# default refuses with Cobalt's message that the lax value accepts.
RULE_READINGS: dict[str, tuple[str, dict[str, Any], str]] = {
    "max_range_days": (
        "8",
        {"start_date": "2025-01-06", "end_date": "2025-01-13"},
        "Date range cannot exceed 7 days.",
    ),
    "max_single_provider_days": (
        "6",
        _providers("2025-01-11", 1),
        "Date range cannot exceed 5 days when fetching a single provider.",
    ),
    "multi_provider_same_day": (
        "false",
        _providers("2025-01-07", 2),
        "start_date must equal end_date when fetching 2 to 10 providers.",
    ),
    "max_providers": (
        "11",
        _providers("2025-01-06", 11),
        "Invalid provider_ids. It must be an array of 1 to 10 distinct, non-empty strings.",
    ),
}


class Fake:
    """A running fake plus an httpx client that sends Cobalt's headers by default."""

    def __init__(self, thread: FakeServer) -> None:
        self.app = thread.app
        self.thread = thread
        self.state: MockState = thread.state
        self.url = thread.url
        self.http = httpx.Client(base_url=thread.url, headers=HEADERS, timeout=10)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the fake's loop, which owns its state (as the plugin's handle does)."""
        assert self.thread.loop is not None

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.thread.loop).result(10)

    def fetch(self, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post("/v1/appointments/fetch", json=WEEK if body is None else body, **kwargs)

    def events(self, **params: Any) -> dict[str, Any]:
        response = self.http.get("/v1/webhook-events", params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def register(self, url: str) -> None:
        """Register ``url`` in the body of the webhook API version the fake follows."""
        field = "url" if self.state.settings.webhook_api == "reference" else "webhook_url"
        response = self.http.post("/v1/webhook", json={field: url})
        assert response.status_code == 200, response.text


@pytest.fixture
def no_thread_left() -> Iterator[None]:
    """Fails a test that leaves a thread running (servers and receivers must stop cleanly)."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads left running: {left}"


@pytest.fixture
def serve() -> Iterator[Callable[..., Fake]]:
    """Start fakes with given settings (delay 0 unless said otherwise); all stopped after the test."""
    started: list[Fake] = []

    def start(**values: Any) -> Fake:
        settings = Settings().replace(**{"delay": 0, "log_level": "warning", "port": 0, **values})
        fake = Fake(FakeServer(settings))
        fake.thread.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.http.close()
        fake.thread.stop()


@pytest.fixture
def fake(serve: Callable[..., Fake]) -> Fake:
    return serve()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=DEFAULT_WEBHOOK_SECRET) as r:
        yield r
