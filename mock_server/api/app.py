"""``create_app``: the Starlette app that plays Cobalt's appointments API, built in one call.

This is where the fake is put together: every model object, the dispatcher and the sender are made
here and handed to what uses them; the routes go to Starlette's router, behind the one pipeline.
``app.state.cobalt`` is the model (``MockState``) for the test tooling.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from starlette.datastructures import State
from starlette.routing import BaseRoute, Route, Router

from mock_server.api.control import ControlApi
from mock_server.api.dashboard import dashboard_routes, index_route
from mock_server.api.fetch import FETCH_PATH, FetchEndpoint
from mock_server.api.handlers import CobaltApi
from mock_server.api.pipeline import Pipeline
from mock_server.delivery.dispatcher import Dispatcher
from mock_server.delivery.keepalive import KeepAliveSender
from mock_server.delivery.senders import HttpxSender, Sender
from mock_server.model.behaviours import ScenarioBook
from mock_server.model.cache import AppointmentCache
from mock_server.model.changes import Changes
from mock_server.model.clock import Clock
from mock_server.model.hooks import WebhookRegistry
from mock_server.model.jobs import Store
from mock_server.model.journal import Journal
from mock_server.model.state import Holds, LiveSettings, MockState
from mock_server.settings import Settings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("cobalt_mock")

_WHY_UNDONE = {"scheduled": "not due yet", "running": "cut off by shutdown_grace", "held": "held"}


def create_app(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sender: Sender | None = None,
) -> CobaltApp:
    """The fake as an ASGI app. For tests, ``transport`` replaces the network for webhook delivery,
    or ``sender`` replaces the webhook sender itself."""
    settings = settings or Settings()
    live = LiveSettings(settings)
    errors: list[BaseException] = []
    store = Store(max_jobs=settings.max_jobs, max_events=settings.max_events)
    clock = Clock()
    hooks = WebhookRegistry(settings.webhook_secret, settings.webhook_urls, seed=settings.seed, clock=clock)
    cache = AppointmentCache(settings.max_cached_appointments)
    journal = Journal(settings.max_journal)
    changes = Changes()
    dispatcher = Dispatcher(
        live,
        store=store,
        hooks=hooks,
        cache=cache,
        journal=journal,
        sender=sender or make_sender(transport, settings.delivery_concurrency),
        clock=clock,
        changes=changes,
        errors=errors,
    )
    state = MockState(
        live,
        store=store,
        hooks=hooks,
        cache=cache,
        journal=journal,
        scenarios=ScenarioBook(),
        scheduler=dispatcher,
        holds=Holds(),
        clock=clock,
        changes=changes,
        errors=errors,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        yield
        report_stop(state, await dispatcher.close(state.settings.shutdown_grace))

    routes = cobalt_routes(CobaltApi(state), FetchEndpoint(state))
    routes.append(index_route(dashboard=settings.control))
    if settings.control:
        routes += ControlApi(state, settings.control_token).routes()
        routes += dashboard_routes(state, changes, settings.control_token)
    # No redirects: the pipeline routes `/x/` as `/x`, and a redirect's Location would come from `Host`.
    router = Router(routes, redirect_slashes=False, lifespan=lifespan)
    return CobaltApp(router, journal, state, changes, errors)


class CobaltApp(Pipeline):
    """The fake as an ASGI app: the one pipeline (``Pipeline``: journal, latency, read deadline,
    every error rendered) in front of Starlette's router. Not ``Starlette`` itself, whose two
    exception middlewares cost each fetch more than its own work (measured in
    ``docs/performance.md``); the pipeline renders errors in their place, once. ``state.cobalt``
    is the model (``MockState``)."""

    def __init__(
        self,
        router: Router,
        journal: Journal,
        model: MockState,
        changes: Changes,
        errors: list[BaseException],
    ) -> None:
        super().__init__(router, journal, model.api_latency, changes, errors)
        self.state = State()
        self.state.cobalt = model

    def stopping(self) -> None:
        """The server has begun to shut down: live streams (the dashboard's) end now, since uvicorn
        waits for every open response before it stops. Call on the server's loop."""
        self.changes.close()


def cobalt_routes(api: CobaltApi, fetch: FetchEndpoint) -> list[BaseRoute]:
    return [
        Route(FETCH_PATH, fetch, methods=["POST"]),
        Route("/v1/appointments", api.list_appointments, methods=["GET"]),
        Route("/v1/webhook-events", api.list_webhook_events, methods=["GET"]),
        Route("/v1/webhook", api.register_webhook, methods=["POST"]),
        Route("/v1/webhook", api.get_webhooks, methods=["GET"]),
        Route("/v1/webhook/rotate-secret", api.rotate_account_secret, methods=["POST"]),
        Route("/v1/webhook/{hook_id}/rotate-secret", api.rotate_webhook_secret, methods=["POST"]),
        Route("/v1/webhook/{hook_id}", api.delete_webhook, methods=["DELETE"]),
        Route("/_mock/health", api.health, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
    ]


def make_sender(transport: httpx.AsyncBaseTransport | None, concurrency: int) -> Sender:
    """The webhook sender: the keep-alive one, or httpx over ``transport`` when a test swaps the
    network out (``docs/performance.md`` measures both)."""
    if transport is None:
        return KeepAliveSender(max_connections=concurrency)
    return HttpxSender(transport=transport, max_connections=concurrency)


def report_stop(state: MockState, undone: list[str], shown: int = 20) -> None:
    """One line at shutdown: which accepted jobs never completed, and why."""
    if not undone:
        log.info("stopped; every accepted job completed")
        return
    groups: dict[str, list[str]] = {}
    for job_id in undone:
        job = state.find_job(job_id)
        groups.setdefault(_WHY_UNDONE.get(job.status, job.status) if job else "gone", []).append(job_id)
    parts = []
    for why, ids in groups.items():
        more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
        parts.append(f"{why}: {', '.join(ids[:shown])}{more}")
    log.warning("stopped; %d job(s) not completed (%s)", len(undone), "; ".join(parts))
