"""The pipeline every request goes through: journal, API latency, and one renderer for errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.model.journal import Journal, RequestEntry

SCOPE_KEY = "cobalt_mock.journal_entry"
CONTROL_PREFIX = "/_mock/"


def entry_of(scope: Scope) -> RequestEntry | None:
    """The journal entry of the request being handled, for handlers to add what they decided."""
    entry = scope.get(SCOPE_KEY)
    return entry if isinstance(entry, RequestEntry) else None


class JournalMiddleware:
    """Journals every HTTP request outside ``/_mock/``, after adding the configured API latency."""

    def __init__(self, app: ASGIApp, journal: Journal, latency: Callable[[], float]) -> None:
        self.app = app
        self.journal = journal
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = self.journal.start_scope(scope)
        scope[SCOPE_KEY] = entry
        clock = time.perf_counter()

        async def journaled_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                entry.add_body(message.get("body", b""))
            return message

        async def journaled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        try:
            seconds = self.latency()
            if seconds > 0:
                entry.latency_ms = seconds * 1000
                await asyncio.sleep(seconds)
            await self.app(scope, journaled_receive, journaled_send)
        except Exception as exc:  # a bug in the fake: the app's error handler answers 500
            entry.error = f"{type(exc).__name__}: {exc}"
            if entry.status is None:
                entry.status = 500
            raise
        finally:
            entry.duration_ms = (time.perf_counter() - clock) * 1000
