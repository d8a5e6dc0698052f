"""The control plane under ``/_mock/``: reset, run-time config, jobs, the journal, scenarios,
webhooks and their secrets, and the fake's clock.

Plain HTTP and JSON, so tests in any language and CI scripts can drive it (``MockClient`` wraps it
for Python). Mounted when ``settings.control`` is true; with ``control_token`` set, every call needs
``authorization: Bearer <token>``. Answers are ``{"success": true, ...}``; errors are Cobalt's
``{"success": false, "message": ...}``. ``GET /_mock/health`` belongs to the app and needs no token.

Webhooks here are the same in both versions of Cobalt's webhook API (``webhook_api``): each with its
id, URL, the secret that signs its deliveries and every secret that verifies them now, so a test in
any language can check a signature without knowing which version the fake follows. ``POST
/_mock/clock`` moves the fake's clock forward (``model.clock``): a rotated secret's overlap ends
without waiting for it.

Namespacing: ``access_token`` (a query parameter on reads, a body field on writes) scopes a call to
one access token, so parallel test workers sharing a server do not see or reset each other's state.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mock_server.api.inputs import (
    missing_message,
    parse_bool_param,
    parse_choice,
    parse_int_param,
    read_object,
)
from mock_server.api.pipeline import JSONResponse
from mock_server.data.ids import iso_millis
from mock_server.errors import ApiError, ConfigError
from mock_server.model.behaviours import BEHAVIOURS
from mock_server.model.hooks import Webhook
from mock_server.model.jobs import Job
from mock_server.model.journal import Kind, redact_token
from mock_server.model.state import MockState
from mock_server.settings import is_http_url

JOB_STATUSES = ("scheduled", "held", "stalled", "running", "completed")


def bad_request(exc: ConfigError) -> ApiError:
    text = str(exc)
    text = text[:1].upper() + text[1:]
    return ApiError(400, text if text.endswith((".", "?", "!")) else text + ".")


def token_of(values: Mapping[str, Any]) -> str | None:
    token = values.get("access_token")
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise ApiError(400, "Invalid access_token. It must be a string.")
    return token


def job_json(job: Job, *, detail: bool = True) -> dict[str, Any]:
    return {**job.to_json(detail=detail), "access_token": redact_token(job.access_token)}


def webhook_json(state: MockState, hook: Webhook) -> dict[str, Any]:
    return {
        **hook.to_json(),
        "secret": state.secret_for(hook),
        "valid_secrets": state.valid_secrets(hook),
    }


def authorize(request: Request, token: str | None) -> None:
    """The control plane's guard: with ``control_token`` set, ``authorization: Bearer <token>``."""
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(
            401,
            "Missing or invalid control token. Send the header authorization: Bearer <token>.",
            {"www-authenticate": "Bearer"},
        )


class ControlApi:
    """The ``/_mock/*`` handlers over the model; ``token`` (``control_token``) guards them."""

    def __init__(self, state: MockState, token: str | None) -> None:
        self.state = state
        self.token = token

    def _authorize(self, request: Request) -> None:
        authorize(request, self.token)

    async def _body(self, request: Request) -> dict[str, Any]:
        return await read_object(request.scope, request.receive, self.state.settings.max_body_bytes)

    # state and config

    async def reset(self, request: Request) -> Response:
        self._authorize(request)
        token = token_of(await self._body(request))
        self.state.reset(token)
        return JSONResponse({"success": True, "reset": "all" if token is None else "access_token"})

    async def get_config(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"success": True, "config": self.state.settings.public()})

    async def patch_config(self, request: Request) -> Response:
        self._authorize(request)
        values = await self._body(request)
        try:
            settings = self.state.configure(**values)
        except ConfigError as exc:
            raise bad_request(exc) from None
        return JSONResponse({"success": True, "config": settings.public()})

    # jobs

    async def list_jobs(self, request: Request) -> Response:
        self._authorize(request)
        params = request.query_params
        status = parse_choice(params, "status", JOB_STATUSES)
        detail = parse_bool_param(params, "detail")
        jobs = [job_json(job, detail=detail) for job in self.state.jobs(token_of(params), status)]
        return JSONResponse({"success": True, "jobs": jobs})

    async def get_job(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"success": True, "job": job_json(self.state.job(request.path_params["job_id"]))})

    async def hold(self, request: Request) -> Response:
        self._authorize(request)
        token = token_of(await self._body(request))
        self.state.hold(token)
        return JSONResponse({"success": True, "holding": "all" if token is None else "access_token"})

    async def release(self, request: Request) -> Response:
        self._authorize(request)
        token = token_of(await self._body(request))
        released = self.state.release(token)
        return JSONResponse({"success": True, "released": [job.job_id for job in released]})

    async def complete(self, request: Request) -> Response:
        """Finish a scheduled, held or stalled job now; by default answer once its deliveries ended."""
        self._authorize(request)
        job = self.state.job(request.path_params["job_id"])
        task = self.state.complete_now(job.job_id)
        if parse_bool_param(request.query_params, "wait", default=True):
            await asyncio.shield(task)  # a client that gives up must not cancel the job
        return JSONResponse({"success": True, "job": job_json(job)})

    async def redeliver(self, request: Request) -> Response:
        """Deliver a completed job's webhook again; by default answer once that delivery ended."""
        self._authorize(request)
        job = self.state.job(request.path_params["job_id"])
        task = self.state.redeliver(job.job_id)
        wait = parse_bool_param(request.query_params, "wait", default=True)
        delivery = await asyncio.shield(task) if wait else None
        return JSONResponse({"success": True, "delivery": delivery, "job": job_json(job)})

    # the journal

    async def list_requests(self, request: Request) -> Response:
        self._authorize(request)
        params = request.query_params
        kind = cast("Kind | None", parse_choice(params, "kind", ("request", "delivery")))
        since = parse_int_param(params, "since", 0, 0, 2**62)
        limit = parse_int_param(params, "limit", 0, 0, 1_000_000)
        entries = self.state.journal(
            token_of(params), kind=kind, since=since, job_id=params.get("job_id") or None
        )
        if limit:
            entries = entries[-limit:]
        return JSONResponse(
            {"success": True, "entries": [e.to_json() for e in entries], "last_seq": self.state.journal_seq}
        )

    async def get_request(self, request: Request) -> Response:
        """One journal entry by its ``seq``, whole (the dashboard's frames cut long bodies)."""
        self._authorize(request)
        seq = request.path_params["seq"]
        if not seq.isascii() or not seq.isdigit() or len(seq) > 19:
            raise ApiError(404, f"Journal entry {seq[:40]} not found.")
        return JSONResponse({"success": True, "entry": self.state.journal_entry(int(seq)).to_json()})

    # scenarios

    async def list_scenarios(self, request: Request) -> Response:
        self._authorize(request)
        scenarios = self.state.scenarios(token_of(request.query_params))
        return JSONResponse({"success": True, "scenarios": [s.to_json() for s in scenarios]})

    async def add_scenario(self, request: Request) -> Response:
        self._authorize(request)
        body = await self._body(request)
        try:
            scenario = self.state.add_scenario(body)
        except ConfigError as exc:
            raise bad_request(exc) from None
        return JSONResponse({"success": True, "scenario": scenario.to_json()}, 201)

    async def clear_scenarios(self, request: Request) -> Response:
        self._authorize(request)
        removed = self.state.clear_scenarios(token_of(request.query_params))
        return JSONResponse({"success": True, "removed": removed})

    async def delete_scenario(self, request: Request) -> Response:
        self._authorize(request)
        scenario_id = request.path_params["scenario_id"]
        if not self.state.remove_scenario(scenario_id):
            raise ApiError(404, f"Scenario {scenario_id} not found.")
        return JSONResponse({"success": True, "removed": 1})

    async def list_behaviours(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"success": True, "behaviours": [spec.to_json() for spec in BEHAVIOURS.values()]})

    # webhooks and the clock

    def _webhook(self, request: Request) -> Webhook:
        hook_id = request.path_params["hook_id"]
        hook = self.state.webhook(hook_id)
        if hook is None or hook.id != hook_id:
            raise ApiError(404, f"Webhook {hook_id} not found.")
        return hook

    async def list_webhooks(self, request: Request) -> Response:
        self._authorize(request)
        hooks = [webhook_json(self.state, hook) for hook in self.state.webhooks()]
        return JSONResponse(
            {"success": True, "webhook_api": self.state.settings.webhook_api, "webhooks": hooks}
        )

    async def add_webhook(self, request: Request) -> Response:
        """Register a URL in either version (``{"url": ...}``), as ``POST /v1/webhook`` would."""
        self._authorize(request)
        body = await self._body(request)
        unknown = sorted(set(body) - {"url"})
        if unknown:
            raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}; a webhook takes url.")
        url = body.get("url")
        if url is None or url == "":
            raise ApiError(400, missing_message(["url"]))
        if not isinstance(url, str) or not is_http_url(url):
            raise ApiError(400, "Invalid url. It must be an absolute http or https URL.")
        hook = self.state.register_webhook(url)
        return JSONResponse({"success": True, "webhook": webhook_json(self.state, hook)}, 201)

    async def delete_webhook(self, request: Request) -> Response:
        self._authorize(request)
        self.state.remove_webhook(self._webhook(request).id)
        return JSONResponse({"success": True, "removed": 1})

    async def rotate_secret(self, request: Request) -> Response:
        """A new secret for this webhook, as ``webhook_api`` keeps them: in the guide, the account's
        (every webhook's); in the API reference, this webhook's own."""
        self._authorize(request)
        hook = self._webhook(request)
        self.state.rotate_secret(hook)
        return JSONResponse({"success": True, "webhook": webhook_json(self.state, hook)})

    async def get_clock(self, request: Request) -> Response:
        self._authorize(request)
        return JSONResponse({"success": True, "now": iso_millis(self.state.now())})

    async def advance_clock(self, request: Request) -> Response:
        """``{"advance": seconds}``: move the fake's clock forward."""
        self._authorize(request)
        body = await self._body(request)
        unknown = sorted(set(body) - {"advance"})
        if unknown or "advance" not in body:
            raise ApiError(400, 'Send {"advance": seconds}: how far to move the fake\'s clock forward.')
        try:
            now = self.state.advance_clock(body["advance"])
        except ConfigError as exc:
            raise bad_request(exc) from None
        return JSONResponse({"success": True, "now": iso_millis(now)})

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_mock/reset", self.reset, methods=["POST"]),
            Route("/_mock/config", self.get_config, methods=["GET"]),
            Route("/_mock/config", self.patch_config, methods=["PATCH"]),
            Route("/_mock/jobs", self.list_jobs, methods=["GET"]),
            Route("/_mock/jobs/hold", self.hold, methods=["POST"]),
            Route("/_mock/jobs/release", self.release, methods=["POST"]),
            Route("/_mock/jobs/{job_id}", self.get_job, methods=["GET"]),
            Route("/_mock/jobs/{job_id}/complete", self.complete, methods=["POST"]),
            Route("/_mock/jobs/{job_id}/redeliver", self.redeliver, methods=["POST"]),
            Route("/_mock/requests", self.list_requests, methods=["GET"]),
            Route("/_mock/requests/{seq}", self.get_request, methods=["GET"]),
            Route("/_mock/scenarios", self.list_scenarios, methods=["GET"]),
            Route("/_mock/scenarios", self.add_scenario, methods=["POST"]),
            Route("/_mock/scenarios", self.clear_scenarios, methods=["DELETE"]),
            Route("/_mock/scenarios/{scenario_id}", self.delete_scenario, methods=["DELETE"]),
            Route("/_mock/behaviours", self.list_behaviours, methods=["GET"]),
            Route("/_mock/webhooks", self.list_webhooks, methods=["GET"]),
            Route("/_mock/webhooks", self.add_webhook, methods=["POST"]),
            Route("/_mock/webhooks/{hook_id}", self.delete_webhook, methods=["DELETE"]),
            Route("/_mock/webhooks/{hook_id}/rotate-secret", self.rotate_secret, methods=["POST"]),
            Route("/_mock/clock", self.get_clock, methods=["GET"]),
            Route("/_mock/clock", self.advance_clock, methods=["POST"]),
        ]
