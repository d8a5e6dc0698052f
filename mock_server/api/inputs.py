"""Reading a request off the raw ASGI scope: Cobalt's auth headers and the JSON body.

Shared by the Starlette routes and the plain-ASGI fetch endpoint (``mock_server.api.fetch``), so both
check credentials, media type and size the same way and word their errors the same way.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from mock_server.api.validation import parse_json_body
from mock_server.errors import ApiError

if TYPE_CHECKING:
    from mock_server.model.journal import RequestEntry
    from mock_server.model.state import Caller, MockState

MSG_TOO_LARGE = "Request body too large."
MSG_MEDIA_TYPE = "Content-Type must be application/json."

AUTH_HEADERS = {b"client_id": "client_id", b"client_secret": "client_secret", b"access_token": "access_token"}
WEBHOOK_AUTH_HEADERS = {b"client_id": "client_id", b"client_secret": "client_secret"}
BODY_HEADERS = {b"content-type": "content-type", b"content-length": "content-length"}


def header_values(scope: Scope, names: Mapping[bytes, str]) -> dict[str, str]:
    """``request.headers.get(name, "")`` for each of ``names`` (raw lower-case name → name), in one
    pass over the raw headers instead of one per name; the first of repeated headers wins."""
    values = dict.fromkeys(names.values(), "")
    seen: set[bytes] = set()
    for key, value in scope["headers"]:
        if key in names and key not in seen:
            seen.add(key)
            values[names[key]] = value.decode("latin-1")
    return values


def check_credentials(state: MockState, values: Mapping[str, str], *, token: bool = True) -> Caller:
    """Cobalt's three headers (``values`` from ``header_values``), checked before anything else;
    ``/v1/webhook*`` needs no access token."""
    names = ("client_id", "client_secret", "access_token") if token else ("client_id", "client_secret")
    missing = [name for name in names if not values[name].strip()]
    if missing:
        raise ApiError(401, f"Missing required header(s): {', '.join(missing)}")
    settings = state.settings
    if settings.strict_credentials:
        expected = {"client_id": settings.client_id, "client_secret": settings.client_secret}
        if token:
            expected["access_token"] = settings.access_token
        for name, want in expected.items():
            if want is not None and not hmac.compare_digest(values[name].encode(), want.encode()):
                raise ApiError(401, "Invalid credentials.")
    return state.caller(values["client_id"], values["access_token"] if token else "")


def authenticate(state: MockState, scope: Scope, *, token: bool = True) -> Caller:
    return check_credentials(
        state, header_values(scope, AUTH_HEADERS if token else WEBHOOK_AUTH_HEADERS), token=token
    )


async def read_json(
    state: MockState,
    values: Mapping[str, str],
    receive: Receive,
    entry: RequestEntry | None = None,
) -> Any:
    """The JSON body: application/json only (``values`` holds the two ``BODY_HEADERS``), refused past
    ``max_body_bytes`` before it is read whole. Chunks also go to ``entry`` when one is given (the
    fetch endpoint journals for itself; elsewhere the journal middleware sees the body)."""
    media_type = values["content-type"].split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, MSG_MEDIA_TYPE)
    limit = state.settings.max_body_bytes
    declared = values["content-length"]
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, MSG_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if entry is not None:
                entry.add_body(chunk)
            size += len(chunk)
            if size > limit:
                raise ApiError(413, MSG_TOO_LARGE)
            if not message.get("more_body", False):
                return parse_json_body(b"".join(chunks) + chunk if chunks else chunk)
            chunks.append(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()
