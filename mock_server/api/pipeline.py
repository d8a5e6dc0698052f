"""The one pipeline every request goes through, and the one renderer of its errors.

``Pipeline`` is pure ASGI middleware: it journals each API request (not ``/_mock/``: reading the
journal must not change it) and counts it as a change once answered (``model.changes``), adds the
configured API latency, and tells the connection's read
deadline (``mock_server.api.serving``) when the request has been read and answered. Handlers raise
``ApiError`` (or let anything else escape); the pipeline answers every error in Cobalt's
``{"success": false, "message": ...}`` shape (``render_error``), and keeps unexpected ones for the
test that caused them. A path's one trailing slash is dropped before routing, so every route
answers both spellings (authentication first, as always) and nothing redirects. It stands in for
Starlette's two exception middlewares, which cost a fetch measurably more than the fetch itself
(``docs/performance.md``). Behind it is Starlette's router, with parameterless routes found by one
lookup first (``LiteralFirst``). The app itself (``mock_server.api.app.CobaltApp``) is a
``Pipeline``, so a request enters the package here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Message, Receive, Scope, Send

from mock_server.api.serving import CONNECTION
from mock_server.errors import ApiError
from mock_server.model.changes import Changes
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


class HeaderValues(dict[str, str]):
    """Each header's first value (lower-case name → value); a header not sent reads as ""."""

    __slots__ = ()

    def __missing__(self, name: str) -> str:
        return ""


def entry_of(scope: Scope) -> RequestEntry | None:
    """The journal entry of the request being handled, for handlers to add what they decided."""
    entry = scope.get(SCOPE_KEY)
    return entry if isinstance(entry, RequestEntry) else None


class Pipeline:
    """Journal, latency, read deadline and the one error renderer, around every HTTP request."""

    def __init__(
        self,
        router: Router,
        journal: Journal,
        latency: Callable[[], float],
        changes: Changes,
        errors: list[BaseException],
    ) -> None:
        self.router = router
        self.app = LiteralFirst(router)
        self.journal = journal
        self.changes = changes
        self.latency = latency
        self.errors = errors

    @property
    def routes(self) -> list[BaseRoute]:
        return self.router.routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as Starlette does: a route that does not match raises HTTPException
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = CONNECTION.get()
        entry: RequestEntry | None = None
        path: str = scope["path"]
        if not path.startswith(CONTROL_PREFIX):
            first = HeaderValues()
            entry = self.journal.start_scope(scope, first)  # the path as sent
            scope[SCOPE_KEY] = entry
            scope[HEADERS_KEY] = first
        if path[-1:] == "/" and path != "/":  # Express's default routing: `/x/` is `/x` (section 8)
            scope["path"] = path[:-1]
        if deadline is not None:
            deadline.busy = True  # its headers are in; a body, if any, is read through `traced_receive`
        body_read = started = False
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

        def traced_send(message: Message) -> Awaitable[None]:  # not a coroutine: one frame fewer per send
            nonlocal started
            kind = message["type"]
            if kind == "http.response.start":
                started = True
                if entry is not None:
                    entry.status = message["status"]
            elif kind == "http.response.body" and deadline is not None and not message.get("more_body"):
                deadline.answered()
            return send(message)

        try:
            if entry is not None:
                seconds = self.latency()
                if seconds > 0:
                    entry.latency_ms = seconds * 1000
                    await wait_at_least(seconds, clock)
            await self.app(scope, traced_receive, traced_send)
        except Exception as exc:
            unexpected = not isinstance(exc, ApiError | HTTPException | ClientDisconnect)
            if unexpected:  # a bug in the fake: kept for the test that caused it, and logged
                self.errors.append(exc)
                if entry is not None:
                    entry.error = f"{type(exc).__name__}: {exc}"
            if started:  # too late for an error answer: the connection ends instead
                raise
            await render_error(exc, Request(scope))(scope, traced_receive, traced_send)
            if unexpected:
                raise  # uvicorn logs it, after the client has its 500
        finally:
            if entry is not None:
                entry.duration_ms = (time.perf_counter() - clock) * 1000
                self.changes.bump()  # the journal entry is complete


class LiteralFirst:
    """Starlette's router, with one shortcut: a request for a route whose path has no parameters
    (the fetch, the listings, health, the control API's) goes straight to that route's app, found by
    one dictionary lookup on (path, method), instead of a regular-expression match against each
    route in turn. What the router does for such a match is done here too (``route``,
    ``endpoint``, ``path_params``, ``router`` in the scope); everything else — templated paths, 404, 405, the
    lifespan, an app mounted under a ``root_path`` — goes to the router itself."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.literal: dict[tuple[str, str], Route] = {}
        # The router takes the first full match. A literal route's pattern matches only its own
        # path, so of the routes before it only the templated ones (and any other kind) can take
        # its requests, besides an earlier literal route for the same path and method; testing
        # just those keeps building an app cheap (each test's server builds one).
        others: list[BaseRoute] = []
        for route in router.routes:
            if not isinstance(route, Route) or route.param_convertors:
                others.append(route)
                continue
            for method in route.methods or ():
                probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
                if (route.path, method) in self.literal or any(
                    other.matches(probe)[0] == Match.FULL for other in others
                ):
                    continue
                self.literal[route.path, method] = route

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # A plain function returning the app's awaitable: one coroutine frame fewer on every request.
        route = None
        if scope["type"] == "http" and not scope.get("root_path"):
            route = self.literal.get((scope["path"], scope["method"]))
        if route is None:
            return self.router(scope, receive, send)
        scope.setdefault("router", self.router)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", ()))
        return route.app(scope, receive, send)


async def wait_at_least(seconds: float, since: float) -> None:
    """Until ``seconds`` after ``since`` (``time.perf_counter``, the clock the journal's durations
    use): the configured latency is a minimum, and the loop's timers may fire up to a tick early."""
    await asyncio.sleep(seconds)
    left = since + seconds - time.perf_counter()
    if left > 0:  # woken early (uvloop's clock counts whole milliseconds): the rest, and a tick more
        await asyncio.sleep(left + 0.001)


def render_error(exc: Exception, request: Request) -> Response:
    """The one error renderer: every error answer in Cobalt's ``{"success": false, "message"}`` shape."""
    if isinstance(exc, ApiError):
        return JSONResponse(exc.body(), exc.status, headers=exc.headers or None)
    if isinstance(exc, HTTPException):
        message = _STATUS_MESSAGES.get(exc.status_code, exc.detail)
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names only the first route's methods; a path may have several
            headers = {"allow": ", ".join(allowed_methods(request))}
        return JSONResponse({"success": False, "message": message}, exc.status_code, headers=headers)
    if isinstance(exc, ClientDisconnect):  # the client hung up mid-body: nobody to answer, no bug
        return JSONResponse({"success": False, "message": MSG_CLIENT_GONE}, 499)
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
