"""``create_app``: the Starlette app that plays Cobalt's appointments API.

Handlers are thin: authenticate → read and validate input → ask the state → shape the answer.
Every error, expected or not, leaves in Cobalt's ``{"success": false, "message": ...}`` shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from mock_server import __version__
from mock_server.api import inputs
from mock_server.api.fetch import FETCH_PATH, MSG_CLIENT_GONE, FetchEndpoint, is_fetch
from mock_server.api.pipeline import JournalMiddleware
from mock_server.api.validation import (
    parse_bool_param,
    parse_choice,
    parse_date,
    parse_date_range,
    parse_int_param,
    parse_webhook_url,
)
from mock_server.delivery.keepalive import KeepAliveSender
from mock_server.delivery.senders import HttpxSender, Sender
from mock_server.errors import ApiError
from mock_server.model.ids import utc_now
from mock_server.model.state import Caller, MockState
from mock_server.settings import Settings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("cobalt_mock")

_STATUS_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    413: inputs.MSG_TOO_LARGE,
}


class JSONResponse(Response):
    """orjson-rendered JSON: compact, non-ASCII kept, the same encoder that signs webhooks."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def state_of(request: Request) -> MockState:
    state: MockState = request.app.state.cobalt
    return state


def authenticate(request: Request, *, token: bool = True) -> Caller:
    """Cobalt's auth headers, checked before anything else (``/v1/webhook*`` needs no token)."""
    return inputs.authenticate(state_of(request), request.scope, token=token)


async def read_json(request: Request) -> Any:
    """The JSON body (application/json only, at most ``max_body_bytes``)."""
    values = inputs.header_values(request.scope, inputs.BODY_HEADERS)
    return await inputs.read_json(state_of(request), values, request.receive)


def query_of(request: Request) -> QueryParams:
    """The query string, each parameter given at most once (``?job_id=a&job_id=b`` is not a string)."""
    params = request.query_params
    if len(params) != len(params.multi_items()):
        name = next(name for name in params if len(params.getlist(name)) > 1)
        raise ApiError(400, f"Invalid {name[:40]}. It must be given once.")
    return params


async def list_appointments(request: Request) -> Response:
    caller = authenticate(request)
    params = query_of(request)
    start, end = parse_date_range(params)
    mode = parse_choice(params, "appointment_mode", ("office", "telemedicine"))
    include_note = parse_bool_param(params, "include_note")
    mrn = params.get("patient_mrn") or None
    name = (params.get("patient_name") or "").casefold()
    phone = _digits(params.get("patient_phone", ""))
    found = []
    for appt in state_of(request).store.cache.query(caller.access_token, start, end):
        if (
            (mode is None or appt["appointment_mode"] == mode)
            and (mrn is None or appt["patient_mrn"] == mrn)
            and (not name or name in appt["patient_name"].casefold())
            and (not phone or phone in _digits(appt["patient_phone"]))
        ):
            found.append(appt if include_note else {k: v for k, v in appt.items() if k != "note"})
    return JSONResponse({"success": True, "appointments": found})


def _digits(text: str) -> str:
    """Phone numbers compare by their digits: ``(212) 483-2291`` matches ``2124832291``."""
    return "".join(ch for ch in text if ch.isdigit())


async def list_webhook_events(request: Request) -> Response:
    caller = authenticate(request)
    params = query_of(request)
    page = parse_int_param(params, "page", 1, 1, 1_000_000)
    page_size = parse_int_param(params, "page_size", 50, 1, 100)
    status = parse_choice(params, "delivery_status", ("success", "failed"))
    sort = parse_choice(params, "sort", ("-created_at", "created_at")) or "-created_at"
    start = parse_date(params["start_date"]) if params.get("start_date") else None
    end = parse_date(params["end_date"]) if params.get("end_date") else None
    rows = state_of(request).store.find_events(
        caller.access_token,
        job_id=params.get("job_id") or None,
        event_type=params.get("event_type") or None,
        delivery_status=status,
        start=start,
        end=end,
    )
    if sort == "-created_at":
        rows.reverse()
    chunk = rows[(page - 1) * page_size : page * page_size]
    return JSONResponse(
        {
            "success": True,
            "webhook_events": [row.to_json() for row in chunk],
            "pagination": {
                "current_page": page,
                "total_pages": math.ceil(len(rows) / page_size),
                "total_count": len(rows),
                "page_size": page_size,
            },
        }
    )


# Webhook management


async def register_webhook(request: Request) -> Response:
    authenticate(request, token=False)
    url = parse_webhook_url(await read_json(request))
    hooks = state_of(request).store.webhooks
    hooks.register(url)
    return JSONResponse(
        {"success": True, "message": "Webhook registered successfully", "webhook_secret_key": hooks.secret}
    )


async def get_webhooks(request: Request) -> Response:
    authenticate(request, token=False)
    hooks = state_of(request).store.webhooks
    listed = [hook.to_json() for hook in hooks]
    return JSONResponse(
        {
            "success": True,
            "webhook_url": listed[0]["url"] if listed else None,
            "webhook_urls": listed,
            "webhook_secret_key": hooks.secret,
        }
    )


async def delete_webhook(request: Request) -> Response:
    authenticate(request, token=False)
    if not state_of(request).store.webhooks.remove(request.path_params["hook_id"]):
        raise ApiError(404, "Webhook not found.")
    return JSONResponse({"success": True, "message": "Webhook URL removed successfully"})


async def rotate_secret(request: Request) -> Response:
    authenticate(request, token=False)
    hooks = state_of(request).store.webhooks
    hook_id = request.path_params.get("hook_id")
    if hook_id is not None and hook_id not in hooks:
        raise ApiError(404, "Webhook not found.")
    secret = hooks.rotate(utc_now())
    return JSONResponse(
        {"success": True, "message": "Webhook secret rotated successfully", "webhook_secret_key": secret}
    )


# The fake's own endpoints


async def health(request: Request) -> Response:
    state = state_of(request)
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "jobs": len(state.store.jobs),
            "pending_jobs": state.dispatcher.pending,
            "events": len(state.store.events),
        }
    )


async def openapi(request: Request) -> Response:
    from mock_server.api.openapi import build_openapi

    return JSONResponse(build_openapi(str(request.base_url).rstrip("/")))


# Errors


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), exc.status, headers=exc.headers or None)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = _STATUS_MESSAGES.get(exc.status_code, exc.detail)
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names only the first route's methods; a path may have several
        headers = {"allow": ", ".join(allowed_methods(request))}
    return JSONResponse({"success": False, "message": message}, exc.status_code, headers=headers)


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


async def client_gone(request: Request, exc: Exception) -> Response:
    """The client hung up before its body was complete: nobody to answer, and no bug in the fake."""
    return JSONResponse({"success": False, "message": MSG_CLIENT_GONE}, 499)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug in the fake: still Cobalt's shape, and remembered so the test that caused it fails."""
    state_of(request).errors.append(exc)
    return JSONResponse({"success": False, "message": f"Internal error in cobalt-mock: {exc!r}"}, 500)


_WHY_UNDONE = {"scheduled": "not due yet", "running": "cut off by shutdown_grace", "held": "held"}


def report_stop(state: MockState, undone: list[str], shown: int = 20) -> None:
    """One line at shutdown: which accepted jobs never completed, and why."""
    if not undone:
        log.info("stopped; every accepted job completed")
        return
    groups: dict[str, list[str]] = {}
    for job_id in undone:
        job = state.store.job(job_id)
        groups.setdefault(_WHY_UNDONE.get(job.status, job.status) if job else "gone", []).append(job_id)
    parts = []
    for why, ids in groups.items():
        more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
        parts.append(f"{why}: {', '.join(ids[:shown])}{more}")
    log.warning("stopped; %d job(s) not completed (%s)", len(undone), "; ".join(parts))


def routes(fetch: FetchEndpoint) -> list[BaseRoute]:
    return [
        Route(FETCH_PATH, fetch, methods=["POST"]),
        Route("/v1/appointments", list_appointments, methods=["GET"]),
        Route("/v1/webhook-events", list_webhook_events, methods=["GET"]),
        Route("/v1/webhook", register_webhook, methods=["POST"]),
        Route("/v1/webhook", get_webhooks, methods=["GET"]),
        Route("/v1/webhook/rotate-secret", rotate_secret, methods=["POST"]),
        Route("/v1/webhook/{hook_id}/rotate-secret", rotate_secret, methods=["POST"]),
        Route("/v1/webhook/{hook_id}", delete_webhook, methods=["DELETE"]),
        Route("/_mock/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


class CobaltApp(Starlette):
    """Starlette, with ``POST /v1/appointments/fetch`` served in front of its middleware and router
    (see ``mock_server.api.fetch``); every other request, and the lifespan, go through Starlette."""

    def __init__(self, fetch: FetchEndpoint, **options: Any) -> None:
        super().__init__(**options)
        self.fetch = fetch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if is_fetch(scope):
            await self.fetch(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The fake as an ASGI app. ``transport`` replaces the network for webhook delivery (tests)."""
    state = MockState(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        concurrency = state.settings.delivery_concurrency
        # httpx only when a test swaps the network out: per delivery it costs many times the
        # keep-alive sender's CPU (docs/performance.md, "Webhook sender").
        sender: Sender = (
            KeepAliveSender(max_connections=concurrency)
            if transport is None
            else HttpxSender(transport=transport, max_connections=concurrency)
        )
        state.dispatcher.sender = sender
        try:
            yield
        finally:
            report_stop(state, await state.dispatcher.drain(state.settings.shutdown_grace))
            state.dispatcher.sender = None
            await sender.aclose()

    extra: list[BaseRoute] = []
    if state.settings.control:
        from mock_server.api.control import control_routes  # it imports this module

        extra = control_routes()
    fetch = FetchEndpoint(state)
    app = CobaltApp(
        fetch,
        routes=routes(fetch) + extra,
        middleware=[Middleware(JournalMiddleware, journal=state.journal, latency=state.api_latency)],
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            ClientDisconnect: client_gone,
            Exception: unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.cobalt = state
    return app
