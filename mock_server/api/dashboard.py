"""The dashboard: ``GET /_mock/ui``, a page the fake serves itself, fed by ``GET /_mock/stream``
(Server-Sent Events of what it shows); and ``GET /``, a small index that links to it.

The page is static HTML with a small script and stylesheet, shipped in the package
(``api/static/``): no build step, nothing from outside, no template engine. It is a client of the
control API like any other: it reads the stream and acts through ``/_mock/*`` and the public API.
The page itself carries no data, so it is served without the control token (a browser cannot send
one when it opens a URL); the stream and every call the page makes need it, like the control API.
The page reads the stream with ``fetch`` (which can send ``authorization: Bearer``), not
``EventSource`` (which cannot), so the token never goes into a URL or an access log.

The stream sends one ``state`` event at once and another after each change (``model.changes``),
at most one per ``FRAME_INTERVAL``: it queues nothing, a client that reads slowly simply skips
states, and one frame's bytes serve every client at that version. At most ``MAX_STREAMS`` are open.
"""

from __future__ import annotations

import asyncio
import functools
import html
import importlib.resources
from typing import Any, NamedTuple

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from mock_server.api.control import authorize, job_json
from mock_server.api.inputs import until_disconnect
from mock_server.delivery.webhook import SIGNATURE_HEADER, verify
from mock_server.errors import ApiError
from mock_server.model.changes import Changes
from mock_server.model.jobs import Attempt, Job
from mock_server.model.journal import DeliveryEntry, Entry, redact_token
from mock_server.model.state import MockState
from mock_server.version import __version__

UI_PATH = "/_mock/ui"
STREAM_PATH = "/_mock/stream"
MAX_STREAMS = 8
FRAME_INTERVAL = 0.25
"""Seconds between two frames of one stream, at least: a burst of changes is one frame."""
HEARTBEAT = 15.0
"""Seconds of quiet after which a stream sends a comment, so a dead connection is noticed."""
SHOWN_JOBS = 50
SHOWN_ENTRIES = 50
BODY_PREVIEW = 2048
"""Characters of a journal entry's body in a frame; the page fetches the whole entry on demand."""

_ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
# The page runs only its own script and style: even markup that got into it could run nothing.
_PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
_VERDICTS_KEPT = 4096


@functools.cache
def asset(name: str) -> bytes:
    """A file of the page, as shipped in the package."""
    return importlib.resources.files(__package__).joinpath("static", name).read_bytes()


def dashboard_routes(state: MockState, changes: Changes, token: str | None) -> list[BaseRoute]:
    """The page and its assets (no token: they carry no data), and the stream (the token's)."""
    return [
        Route(UI_PATH, page, methods=["GET"]),
        Route(UI_PATH + "/{name}", page_asset, methods=["GET"]),
        Route(STREAM_PATH, StateStream(state, changes, token), methods=["GET"]),
    ]


async def page(request: Request) -> Response:
    return Response(asset("dashboard.html"), media_type="text/html", headers=_PAGE_HEADERS)


async def page_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _ASSETS:
        raise ApiError(404, "Not found.")
    return Response(asset(name), media_type=_ASSETS[name], headers=_PAGE_HEADERS)


class Secrets(NamedTuple):
    """The secrets valid now: each registered URL's, and the account's for any other URL."""

    by_url: dict[str, tuple[str, ...]]
    account: tuple[str, ...]


class StateStream:
    """``GET /_mock/stream``: ``text/event-stream`` of ``state`` events until the client leaves or
    the server stops; ``token`` is the ``control_token``."""

    def __init__(self, state: MockState, changes: Changes, token: str | None) -> None:
        self.state = state
        self.changes = changes
        self.token = token
        self.streams = 0
        self._frame: tuple[int, bytes] = (-1, b"")
        self._verdicts: dict[tuple[Any, ...], str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authorize(Request(scope), self.token)
        if self.changes.closed:
            raise ApiError(503, "The server is stopping.")
        if self.streams >= MAX_STREAMS:
            raise ApiError(
                503,
                f"Too many live streams open (at most {MAX_STREAMS}); close a dashboard.",
                {"retry-after": "5"},
            )
        self.streams += 1
        try:
            await self._serve(receive, send)
        finally:
            self.streams -= 1

    async def _serve(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # a proxy in front must not hold the frames back
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        gone = asyncio.ensure_future(until_disconnect(receive))
        shown, last = -1, -FRAME_INTERVAL
        try:
            while not gone.done() and not self.changes.closed:
                if self.changes.version != shown:
                    wait = last + FRAME_INTERVAL - loop.time()
                    if wait > 0:
                        await asyncio.wait({gone}, timeout=wait)
                        continue
                    shown, frame = self.frame()
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
                    last = loop.time()
                    continue
                changed = asyncio.ensure_future(self.changes.wait(shown))
                done, _ = await asyncio.wait(
                    {changed, gone}, timeout=HEARTBEAT, return_when=asyncio.FIRST_COMPLETED
                )
                changed.cancel()
                if not done:
                    await send({"type": "http.response.body", "body": b": quiet\n\n", "more_body": True})
        finally:
            gone.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def frame(self) -> tuple[int, bytes]:
        """The current state as one SSE event, made once per version for every stream."""
        version = self.changes.version
        if self._frame[0] != version:
            data = orjson.dumps(self.snapshot())  # compact: one line, as an SSE data field needs
            self._frame = (version, b"event: state\ndata: " + data + b"\n\n")
        return version, self._frame[1]

    def snapshot(self) -> dict[str, Any]:
        """What the page shows: the newest jobs with their attempts (bodies left out), the newest
        journal entries (bodies cut), the webhooks, the holds, the settings and the counts."""
        state = self.state
        # The secrets that verify each webhook now, as its version keeps them; a URL no longer
        # registered is judged against the account's.
        account = tuple(state.valid_secrets(None))
        by_url = {hook.url: tuple(state.valid_secrets(hook)) for hook in state.webhooks()}
        secrets = Secrets(by_url, account)
        if len(self._verdicts) > _VERDICTS_KEPT:
            self._verdicts.clear()
        all_held, held = state.held_tokens()
        return {
            "version": self.changes.version,
            "counts": state.counts(),
            "shown": {"jobs": SHOWN_JOBS, "journal": SHOWN_ENTRIES},
            "holding": {"all": all_held, "access_tokens": [redact_token(t) for t in held]},
            "jobs": [self._job(job, secrets) for job in state.recent_jobs(SHOWN_JOBS)],
            "journal": [self._entry(entry, secrets) for entry in state.recent_journal(SHOWN_ENTRIES)],
            "webhooks": [hook.to_json() for hook in state.webhooks()],
            "settings": state.settings.public(),
        }

    def _job(self, job: Job, secrets: Secrets) -> dict[str, Any]:
        out = job_json(job, detail=False)
        out["body_bytes"] = None if job.body is None else len(job.body)
        out["attempts"] = [self._attempt(job.job_id, a, secrets) for a in job.attempts]
        return out

    def _attempt(self, job_id: str, attempt: Attempt, secrets: Secrets) -> dict[str, Any]:
        return {
            "delivery": attempt.delivery,
            "attempt": attempt.attempt,
            "url": attempt.url,
            "started_at": attempt.started_at,
            "duration_ms": round(attempt.duration_ms, 3),
            "status_code": attempt.status_code,
            "error": attempt.error,
            "headers": attempt.headers,
            "body_bytes": len(attempt.body),
            "response_body": attempt.response_body.decode("utf-8", "replace"),
            "response_truncated": attempt.response_truncated,
            "signature": self._verdict(job_id, attempt, secrets),
        }

    def _verdict(self, job_id: str, attempt: Attempt, secrets: Secrets) -> str:
        """Would a receiver holding the secrets valid now accept it: ``current`` or ``previous``
        (the secret that verifies), ``invalid``, or ``missing`` (no signature header)?"""
        valid = secrets.by_url.get(attempt.url, secrets.account)
        key = (job_id, attempt.delivery, attempt.attempt, attempt.url, valid)
        verdict = self._verdicts.get(key)
        if verdict is None:
            signature = attempt.headers.get(SIGNATURE_HEADER)
            if signature is None:
                verdict = "missing"
            else:
                matching = [i for i, secret in enumerate(valid) if verify(secret, attempt.body, signature)]
                verdict = "invalid" if not matching else "current" if matching[0] == 0 else "previous"
            self._verdicts[key] = verdict
        return verdict

    def _entry(self, entry: Entry, secrets: Secrets) -> dict[str, Any]:
        if isinstance(entry, DeliveryEntry):
            return {
                "seq": entry.seq,
                "kind": entry.kind,
                "at": entry.attempt.started_at,
                "job_id": entry.job_id,
                "event_id": entry.event_id,
                "access_token": redact_token(entry.access_token),
                "attempt": self._attempt(entry.job_id, entry.attempt, secrets),
            }
        out = entry.to_json()
        body: str = out["body"]
        if len(body) > BODY_PREVIEW:
            out["body"], out["body_truncated"] = body[:BODY_PREVIEW], True
        return out


def index_route(*, dashboard: bool) -> Route:
    """``GET /``: what this server is, with links to the dashboard (when the control API is on),
    the OpenAPI document and the health check."""
    links = [("/openapi.json", "OpenAPI document"), ("/_mock/health", "health")]
    if dashboard:
        links.insert(0, (UI_PATH, "dashboard: jobs, deliveries, journal, actions"))
    items = "".join(f'<li><a href="{href}">{html.escape(text)}</a></li>' for href, text in links)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>cobalt-mock</title></head>'
        f"<body><h1>cobalt-mock {html.escape(__version__)}</h1>"
        "<p>A local fake of Cobalt's appointments live-fetch API.</p>"
        f"<ul>{items}</ul></body></html>"
    ).encode()

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html", headers={"x-content-type-options": "nosniff"})

    return Route("/", index, methods=["GET"])
