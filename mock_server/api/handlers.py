"""Cobalt's documented endpoints besides the fetch: the appointment cache, webhook events (polling),
webhook registration; and the fake's health and OpenAPI document.

Each handler is thin: authenticate → read and validate input → one call on the model → shape the
answer. Errors are raised as ``ApiError`` and rendered by the pipeline.
"""

from __future__ import annotations

import math

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from mock_server.api.inputs import (
    BODY_HEADERS,
    Credentials,
    authenticate,
    header_values,
    parse_bool_param,
    parse_choice,
    parse_date,
    parse_date_range,
    parse_int_param,
    parse_webhook_url,
    read_json,
)
from mock_server.api.pipeline import JSONResponse
from mock_server.errors import ApiError
from mock_server.model.state import MockState
from mock_server.version import __version__

MSG_NO_WEBHOOK = "Webhook not found."
# Each version's rotation route, in the other version: not a route of the API it follows.
MSG_GUIDE_ROTATE = (
    "POST /v1/webhook/rotate-secret is the guide's; this server follows the API reference's "
    "webhook API (POST /v1/webhook/{id}/rotate-secret)."
)
MSG_REFERENCE_ROTATE = (
    "POST /v1/webhook/{id}/rotate-secret is the API reference's; this server follows the guide's "
    "webhook API (POST /v1/webhook/rotate-secret)."
)


class CobaltApi:
    def __init__(self, state: MockState) -> None:
        self.state = state

    def _caller(self, request: Request, *, token: bool = True) -> Credentials:
        return authenticate(self.state.settings, request.scope, token=token)

    # reads

    async def list_appointments(self, request: Request) -> Response:
        caller = self._caller(request)
        params = query_of(request)
        start, end = parse_date_range(params)
        mode = parse_choice(params, "appointment_mode", ("office", "telemedicine"))
        include_note = parse_bool_param(params, "include_note")
        mrn = params.get("patient_mrn") or None
        name = (params.get("patient_name") or "").casefold()
        phone = _digits(params.get("patient_phone", ""))
        found = []
        for appt in self.state.appointments(caller.access_token, start, end):
            if (
                (mode is None or appt["appointment_mode"] == mode)
                and (mrn is None or appt["patient_mrn"] == mrn)
                and (not name or name in appt["patient_name"].casefold())
                and (not phone or phone in _digits(appt["patient_phone"]))
            ):
                found.append(appt if include_note else {k: v for k, v in appt.items() if k != "note"})
        return JSONResponse({"success": True, "appointments": found})

    async def list_webhook_events(self, request: Request) -> Response:
        caller = self._caller(request)
        params = query_of(request)
        page = parse_int_param(params, "page", 1, 1, 1_000_000)
        page_size = parse_int_param(params, "page_size", 50, 1, 100)
        status = parse_choice(params, "delivery_status", ("success", "failed"))
        sort = parse_choice(params, "sort", ("-created_at", "created_at")) or "-created_at"
        start = parse_date(params["start_date"]) if params.get("start_date") else None
        end = parse_date(params["end_date"]) if params.get("end_date") else None
        rows = self.state.events(
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

    # webhook management, in the version ``webhook_api`` names (``docs/webhook-api.md``)

    async def register_webhook(self, request: Request) -> Response:
        self._caller(request, token=False)
        values = header_values(request.scope, BODY_HEADERS)
        body = await read_json(values, request.receive, self.state.settings.max_body_bytes)
        api = self.state.settings.webhook_api
        hook = self.state.register_webhook(parse_webhook_url(body, api))
        if api == "guide":
            return JSONResponse(
                {
                    "success": True,
                    "message": "Webhook registered successfully",
                    "webhook_secret_key": self.state.account_secret,
                }
            )
        secret = self.state.secret_for(hook)
        created = {"webhook_id": hook.id, "webhook_url": hook.url, "webhook_secret_key": secret}
        return JSONResponse({"success": True, "webhook": created})

    async def get_webhooks(self, request: Request) -> Response:
        """The guide's answer; the reference documents no GET, and has no account secret to show."""
        self._caller(request, token=False)
        listed = [hook.to_json() for hook in self.state.webhooks()]
        answer: dict[str, object] = {
            "success": True,
            "webhook_url": listed[0]["url"] if listed else None,
            "webhook_urls": listed,
        }
        if self.state.settings.webhook_api == "guide":
            answer["webhook_secret_key"] = self.state.account_secret
        return JSONResponse(answer)

    async def delete_webhook(self, request: Request) -> Response:
        self._caller(request, token=False)
        if not self.state.remove_webhook(request.path_params["hook_id"]):
            raise ApiError(404, MSG_NO_WEBHOOK)
        return JSONResponse({"success": True, "message": "Webhook URL removed successfully"})

    async def rotate_account_secret(self, request: Request) -> Response:
        """The guide's ``POST /v1/webhook/rotate-secret``: the account's one secret."""
        self._caller(request, token=False)
        if self.state.settings.webhook_api != "guide":
            raise ApiError(404, MSG_GUIDE_ROTATE)
        secret = self.state.rotate_secret()
        return JSONResponse(
            {"success": True, "message": "Webhook secret rotated successfully", "webhook_secret_key": secret}
        )

    async def rotate_webhook_secret(self, request: Request) -> Response:
        """The API reference's ``POST /v1/webhook/{id}/rotate-secret``: that webhook's secret."""
        self._caller(request, token=False)
        if self.state.settings.webhook_api != "reference":
            raise ApiError(404, MSG_REFERENCE_ROTATE)
        hook_id = request.path_params["hook_id"]
        hook = self.state.webhook(hook_id)
        if hook is None or hook.id != hook_id:
            raise ApiError(404, MSG_NO_WEBHOOK)
        secret = self.state.rotate_secret(hook)
        return JSONResponse({"success": True, "webhook": {"id": hook.id, "secret": secret}})

    # the fake's own

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, **self.state.counts()})

    async def openapi(self, request: Request) -> Response:
        from mock_server.api.openapi import build_openapi  # built on demand: it reads every schema

        return JSONResponse(build_openapi(self.state.settings))


def query_of(request: Request) -> QueryParams:
    """The query string, each parameter given at most once (``?job_id=a&job_id=b`` is not a string)."""
    params = request.query_params
    if len(params) != len(params.multi_items()):
        name = next(name for name in params if len(params.getlist(name)) > 1)
        raise ApiError(400, f"Invalid {name[:40]}. It must be given once.")
    return params


def _digits(text: str) -> str:
    """Phone numbers compare by their digits: ``(212) 483-2291`` matches ``2124832291``."""
    return "".join(ch for ch in text if ch.isdigit())
