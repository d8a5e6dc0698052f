"""The one pipeline every request goes through, and the one renderer of its errors.

``Pipeline`` is pure ASGI middleware: it journals each API request (not ``/_mock/``: reading the
journal must not change it), adds the configured API latency, and tells the connection's read
deadline (``mock_server.api.serving``) when the request has been read and answered. Handlers raise
``ApiError`` (or let anything else escape); ``ErrorRenderer`` answers every error in Cobalt's
``{"success": false, "message": ...}`` shape, and keeps unexpected ones for the test that caused them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.api.serving import CONNECTION
from mock_server.errors import ApiError
from mock_server.model.journal import Journal, RequestEntry

SCOPE_KEY = "cobalt_mock.journal_entry"
HEADERS_KEY = "cobalt_mock.headers"
"""Scope key of each header's first value (lower-case name → value), decoded by the journal's pass."""
CONTROL_PREFIX = "/_mock/"
MSG_CLIENT_GONE = "Client closed the connection mid-request."
MSG_TOO_LARGE = "Request body too large."

_STATUS_MESSAGES = {404: "Not found.", 405: "Method not allowed.", 413: MSG_TOO_LARGE}


class JSONResponse(Response):
    """orjson-rendered JSON: compact, non-ASCII kept, the same encoder that signs webhooks."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def entry_of(scope: Scope) -> RequestEntry | None:
    """The journal entry of the request being handled, for handlers to add what they decided."""
    entry = scope.get(SCOPE_KEY)
    return entry if isinstance(entry, RequestEntry) else None


class Pipeline:
    """Journal, latency and read deadline around every HTTP request."""

    def __init__(self, app: ASGIApp, journal: Journal, latency: Callable[[], float]) -> None:
        self.app = app
        self.journal = journal
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = CONNECTION.get()
        entry: RequestEntry | None = None
        if not scope["path"].startswith(CONTROL_PREFIX):
            first: dict[str, str] = {}
            entry = self.journal.start_scope(scope, first)
            scope[SCOPE_KEY] = entry
            scope[HEADERS_KEY] = first
        elif deadline is None:
            await self.app(scope, receive, send)
            return
        if deadline is not None:
            deadline.busy = True  # its headers are in; a body, if any, is read through `traced_receive`
        body_read = False
        clock = time.perf_counter()

        async def traced_receive() -> Message:
            nonlocal body_read
            if deadline is not None and not body_read:
                deadline.busy = False  # waiting on the client: the deadline applies
            message = await receive()
            if message["type"] == "http.request":
                if entry is not None:
                    entry.add_body(message.get("body", b""))
                if not message.get("more_body", False):
                    body_read = True
                    if deadline is not None:
                        deadline.busy = True
            return message

        async def traced_send(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                if entry is not None:
                    entry.status = message["status"]
            elif kind == "http.response.body" and deadline is not None and not message.get("more_body"):
                deadline.answered()
            await send(message)

        try:
            if entry is not None:
                seconds = self.latency()
                if seconds > 0:
                    entry.latency_ms = seconds * 1000
                    await asyncio.sleep(seconds)
            await self.app(scope, traced_receive, traced_send)
        except Exception as exc:  # a bug in the fake: the error renderer answers 500, outside this
            if entry is not None:
                entry.error = f"{type(exc).__name__}: {exc}"
                if entry.status is None:
                    entry.status = 500
            if deadline is not None:
                deadline.answered()
            raise
        finally:
            if entry is not None:
                entry.duration_ms = (time.perf_counter() - clock) * 1000


class ErrorRenderer:
    """Every error answer of the app, in Cobalt's shape (Starlette's ``exception_handlers``)."""

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors

    def handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        return {
            ApiError: self.api_error,
            HTTPException: self.http_error,
            ClientDisconnect: self.client_gone,
            Exception: self.unexpected,
        }

    async def api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), exc.status, headers=exc.headers or None)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = _STATUS_MESSAGES.get(exc.status_code, exc.detail)
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route's methods; a path may have several
            headers = {"allow": ", ".join(allowed_methods(request))}
        return JSONResponse({"success": False, "message": message}, exc.status_code, headers=headers)

    async def client_gone(self, request: Request, exc: Exception) -> Response:
        """The client hung up before its body was complete: nobody to answer, and no bug in the fake."""
        return JSONResponse({"success": False, "message": MSG_CLIENT_GONE}, 499)

    async def unexpected(self, request: Request, exc: Exception) -> Response:
        """A bug in the fake: still Cobalt's shape, and remembered so the test that caused it fails."""
        self.errors.append(exc)
        return JSONResponse({"success": False, "message": f"Internal error in cobalt-mock: {exc!r}"}, 500)


def allowed_methods(request: Request) -> list[str]:
    """Every method served at this request's path; a literal path (``/v1/webhook/rotate-secret``)
    is its own resource, not an instance of a templated one (``/v1/webhook/{hook_id}``)."""
    matching = [
        route
        for route in request.app.routes
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE
    ]
    literal = [route for route in matching if not route.param_convertors]
    return sorted({method for route in literal or matching for method in route.methods or ()})
