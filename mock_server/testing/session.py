"""The session's fake for the pytest plugin: uvicorn in a thread and a webhook receiver.

``CobaltMockServer`` is what the session fixture ``cobalt_mock_server`` starts once (per xdist
worker) and stops at the end; each test's ``CobaltMock`` handle (``mock_server.testing.handle``) works on
it. Only the standard library and ``mock_server.settings`` load at import; the fake's dependencies
load when it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mock_server.settings import Settings

if TYPE_CHECKING:
    import asyncio

    import httpx

    from mock_server.model.state import MockState
    from mock_server.testing.receiver import WebhookReceiver
    from mock_server.testing.server import FakeServer

__all__ = ["CobaltMockServer"]


class CobaltMockServer:
    """One fake (uvicorn in a thread) and one ``WebhookReceiver``, with the session's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.startup_seconds = 0.0
        self.thread: FakeServer | None = None
        self.receiver: WebhookReceiver | None = None
        self._http: httpx.Client | None = None

    def start(self) -> None:
        from mock_server.testing.receiver import WebhookReceiver
        from mock_server.testing.server import FakeServer

        s = self.settings
        self.thread = FakeServer(s)
        self.thread.start()
        # Loopback whatever the fake binds: the fake delivers from this machine.
        self.receiver = WebhookReceiver(secret=s.webhook_secret)
        self.receiver.start()

    def stop(self) -> None:
        """Stop the fake, then the receiver (once the fake's keep-alive connections to it are gone)."""
        thread, receiver, http = self.thread, self.receiver, self._http
        self.thread = self.receiver = self._http = None
        try:
            if thread is not None:
                thread.stop()
        finally:
            if http is not None:
                http.close()
            if receiver is not None:
                receiver.stop()

    @property
    def state(self) -> MockState:
        assert self.thread is not None, "the cobalt-mock server has not started"
        return self.thread.state

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The fake's event loop, which owns its state; None once it has stopped."""
        return self.thread.loop if self.thread is not None else None

    @property
    def url(self) -> str:
        assert self.thread is not None, "the cobalt-mock server has not started"
        return self.thread.url

    @property
    def http(self) -> httpx.Client:
        """An httpx client for the fake (no proxies from the environment: it is on loopback)."""
        if self._http is None:
            import httpx

            self._http = httpx.Client(base_url=self.url, timeout=10, trust_env=False)
        return self._http
