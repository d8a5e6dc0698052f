"""Reading a request off the raw ASGI scope: Cobalt's auth headers, the body, a client hanging up.

Every endpoint reads its input through these, so credentials, media type and size are checked the
same way and their errors are worded the same way everywhere.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from mock_server.api.pipeline import MSG_TOO_LARGE
from mock_server.api.validation import MSG_NOT_OBJECT, parse_json_body
from mock_server.errors import ApiError
from mock_server.model.state import Caller, MockState

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


async def read_json(values: Mapping[str, str], receive: Receive, limit: int) -> Any:
    """A JSON body: application/json only (``values`` holds the two ``BODY_HEADERS``)."""
    media_type = values["content-type"].split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, MSG_MEDIA_TYPE)
    return parse_json_body(await read_body(values, receive, limit))


async def read_object(scope: Scope, receive: Receive, limit: int) -> dict[str, Any]:
    """A JSON object body where an empty body is ``{}``, of any content type (for curl's sake)."""
    raw = await read_body(header_values(scope, BODY_HEADERS), receive, limit)
    if not raw.strip():
        return {}
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise ApiError(400, MSG_NOT_OBJECT)
    return body


async def read_body(values: Mapping[str, str], receive: Receive, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes: before it is read when its declared length is
    larger, else as soon as what arrived is."""
    declared = values["content-length"]
    if declared.isdigit() and int(declared) > limit:
        raise ApiError(413, MSG_TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ApiError(413, MSG_TOO_LARGE)
            if not message.get("more_body", False):
                return b"".join(chunks) + chunk if chunks else chunk
            chunks.append(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


async def until_disconnect(receive: Receive) -> None:
    """Returns when the client hangs up (call once the body has been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
