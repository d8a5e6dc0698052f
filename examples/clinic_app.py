"""A small client of Cobalt's live fetch: ask for a week of appointments, then take the webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Store = dict[str, list[dict[str, Any]]]  # job id -> its appointments


def fetch_week(base_url: str, headers: dict[str, str], start: str, end: str) -> str:
    """Ask Cobalt for the appointments from ``start`` to ``end``; returns the job id."""
    response = requests.post(
        f"{base_url}/appointments/fetch",
        headers=headers,
        json={"start_date": start, "end_date": end},
        timeout=10,
    )
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def handle_webhook(raw_body: bytes, signature: str, secret: str, store: Store) -> int:
    """Check the signature over the raw body, store the appointments; returns the status to answer."""
    expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return 401
    event = json.loads(raw_body)
    if event["type"] == "appointment.live_fetch_completed" and event["data"]["success"]:
        store[event["job_id"]] = event["data"]["appointments"]
    return 200


def webhook_app(secret: str, store: Store) -> Starlette:
    """The app's webhook endpoint, ``POST /webhooks/cobalt``."""

    async def receive(request: Request) -> Response:
        signature = request.headers.get("cobalt-verification", "")
        return Response(status_code=handle_webhook(await request.body(), signature, secret, store))

    return Starlette(routes=[Route("/webhooks/cobalt", receive, methods=["POST"])])
