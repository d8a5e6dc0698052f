"""The control plane under ``/_mock/``: reset, run-time config, jobs, the journal and scenarios.

Plain HTTP and JSON, so tests in any language and CI scripts can drive it (``MockClient`` wraps it
for Python). Mounted when ``settings.control`` is true; with ``control_token`` set, every call needs
``authorization: Bearer <token>``. Answers are ``{"success": true, ...}``; errors are Cobalt's
``{"success": false, "message": ...}``. ``GET /_mock/health`` belongs to the app and needs no token.

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

from mock_server.api.app import JSONResponse, state_of
from mock_server.api.validation import MSG_NOT_OBJECT, parse_choice, parse_int_param, parse_json_body
from mock_server.errors import ApiError, ConfigError
from mock_server.model.behaviours import BEHAVIOURS
from mock_server.model.jobs import Job
from mock_server.model.journal import Kind, redact_token
from mock_server.model.state import MockState

JOB_STATUSES = ("scheduled", "held", "stalled", "running", "completed")


def authorize(request: Request) -> MockState:
    state = state_of(request)
    token = state.settings.control_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(
                401,
                "Missing or invalid control token. Send the header authorization: Bearer <token>.",
                {"www-authenticate": "Bearer"},
            )
    return state


def bad_request(exc: ConfigError) -> ApiError:
    text = str(exc)
    text = text[:1].upper() + text[1:]
    return ApiError(400, text if text.endswith((".", "?", "!")) else text + ".")


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object body; an empty body is ``{}`` (any content type, for curl's sake)."""
    limit = state_of(request).settings.max_body_bytes
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "Request body too large.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return {}
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, MSG_NOT_OBJECT)
    return body


def token_of(values: Mapping[str, Any]) -> str | None:
    token = values.get("access_token")
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise ApiError(400, "Invalid access_token. It must be a string.")
    return token


def flag(request: Request, name: str, default: bool) -> bool:
    raw = parse_choice(request.query_params, name, ("true", "false", "1", "0"))
    return default if raw is None else raw in ("true", "1")


def job_json(job: Job, *, detail: bool = True) -> dict[str, Any]:
    return {**job.to_json(detail=detail), "access_token": redact_token(job.access_token)}


# State and config


async def reset(request: Request) -> Response:
    state = authorize(request)
    token = token_of(await read_object(request))
    state.reset(token)
    return JSONResponse({"success": True, "reset": "all" if token is None else "access_token"})


async def get_config(request: Request) -> Response:
    state = authorize(request)
    return JSONResponse({"success": True, "config": state.settings.public()})


async def patch_config(request: Request) -> Response:
    state = authorize(request)
    values = await read_object(request)
    try:
        settings = state.configure(**values)
    except ConfigError as exc:
        raise bad_request(exc) from None
    return JSONResponse({"success": True, "config": settings.public()})


# Jobs


async def list_jobs(request: Request) -> Response:
    state = authorize(request)
    params = request.query_params
    token = token_of(params)
    status = parse_choice(params, "status", JOB_STATUSES)
    detail = flag(request, "detail", False)
    jobs = [
        job_json(job, detail=detail)
        for job in list(state.store.jobs.values())
        if token in (None, job.access_token) and status in (None, job.status)
    ]
    return JSONResponse({"success": True, "jobs": jobs})


async def get_job(request: Request) -> Response:
    state = authorize(request)
    return JSONResponse({"success": True, "job": job_json(state.job(request.path_params["job_id"]))})


async def hold(request: Request) -> Response:
    state = authorize(request)
    token = token_of(await read_object(request))
    state.hold(token)
    return JSONResponse({"success": True, "holding": "all" if token is None else "access_token"})


async def release(request: Request) -> Response:
    state = authorize(request)
    token = token_of(await read_object(request))
    released = state.release(token)
    return JSONResponse({"success": True, "released": [job.job_id for job in released]})


async def complete(request: Request) -> Response:
    """Finish a scheduled, held or stalled job now; by default answer once its deliveries ended."""
    state = authorize(request)
    job = state.job(request.path_params["job_id"])
    task = state.complete_now(job.job_id)
    if flag(request, "wait", True):
        await asyncio.shield(task)  # a client that gives up must not cancel the job
    return JSONResponse({"success": True, "job": job_json(job)})


async def redeliver(request: Request) -> Response:
    """Deliver a completed job's webhook again; by default answer once that delivery ended."""
    state = authorize(request)
    job = state.job(request.path_params["job_id"])
    task = state.redeliver(job.job_id)
    delivery = await asyncio.shield(task) if flag(request, "wait", True) else None
    return JSONResponse({"success": True, "delivery": delivery, "job": job_json(job)})


# The journal


async def list_requests(request: Request) -> Response:
    state = authorize(request)
    params = request.query_params
    kind = cast("Kind | None", parse_choice(params, "kind", ("request", "delivery")))
    since = parse_int_param(params, "since", 0, 0, 2**62)
    limit = parse_int_param(params, "limit", 0, 0, 1_000_000)
    entries = state.journal.entries(
        token_of(params), kind=kind, since=since, job_id=params.get("job_id") or None
    )
    if limit:
        entries = entries[-limit:]
    return JSONResponse(
        {"success": True, "entries": [e.to_json() for e in entries], "last_seq": state.journal.last_seq}
    )


# Scenarios


async def list_scenarios(request: Request) -> Response:
    state = authorize(request)
    scenarios = state.scenarios.list(token_of(request.query_params))
    return JSONResponse({"success": True, "scenarios": [s.to_json() for s in scenarios]})


async def add_scenario(request: Request) -> Response:
    state = authorize(request)
    body = await read_object(request)
    try:
        scenario = state.add_scenario(body)
    except ConfigError as exc:
        raise bad_request(exc) from None
    return JSONResponse({"success": True, "scenario": scenario.to_json()}, 201)


async def clear_scenarios(request: Request) -> Response:
    state = authorize(request)
    removed = state.clear_scenarios(token_of(request.query_params))
    return JSONResponse({"success": True, "removed": removed})


async def delete_scenario(request: Request) -> Response:
    state = authorize(request)
    scenario_id = request.path_params["scenario_id"]
    if not state.scenarios.remove(scenario_id):
        raise ApiError(404, f"Scenario {scenario_id} not found.")
    return JSONResponse({"success": True, "removed": 1})


async def list_behaviours(request: Request) -> Response:
    authorize(request)
    return JSONResponse({"success": True, "behaviours": [spec.to_json() for spec in BEHAVIOURS.values()]})


def control_routes() -> list[BaseRoute]:
    return [
        Route("/_mock/reset", reset, methods=["POST"]),
        Route("/_mock/config", get_config, methods=["GET"]),
        Route("/_mock/config", patch_config, methods=["PATCH"]),
        Route("/_mock/jobs", list_jobs, methods=["GET"]),
        Route("/_mock/jobs/hold", hold, methods=["POST"]),
        Route("/_mock/jobs/release", release, methods=["POST"]),
        Route("/_mock/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/_mock/jobs/{job_id}/complete", complete, methods=["POST"]),
        Route("/_mock/jobs/{job_id}/redeliver", redeliver, methods=["POST"]),
        Route("/_mock/requests", list_requests, methods=["GET"]),
        Route("/_mock/scenarios", list_scenarios, methods=["GET"]),
        Route("/_mock/scenarios", add_scenario, methods=["POST"]),
        Route("/_mock/scenarios", clear_scenarios, methods=["DELETE"]),
        Route("/_mock/scenarios/{scenario_id}", delete_scenario, methods=["DELETE"]),
        Route("/_mock/behaviours", list_behaviours, methods=["GET"]),
    ]
