"""``POST /v1/appointments/fetch`` as a plain ASGI endpoint: the fake's hot path.

The other routes go through Starlette's middleware and router; this one is served in front of them
(``CobaltApp``), because on the bench those layers cost more than the fetch itself. So it does for
itself what they do for the others: journal the request, add the configured API latency, and answer
every error in Cobalt's shape. A fetch that reaches it through Starlette after all (an app mounted
under a ``root_path``) is already journaled, and is answered the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import orjson
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from mock_server.api.inputs import check_credentials, header_values, read_json
from mock_server.api.pipeline import SCOPE_KEY, entry_of
from mock_server.api.validation import parse_fetch_request
from mock_server.errors import ApiError, ConfigError
from mock_server.model import faults
from mock_server.model.behaviours import SCENARIO_HEADER
from mock_server.model.journal import RequestEntry

if TYPE_CHECKING:
    from mock_server.model.state import MockState

log = logging.getLogger("cobalt_mock")

FETCH_PATH = "/v1/appointments/fetch"
ACCEPTED_MESSAGE = "Live fetch request accepted. Results will be sent via webhook when ready."
MSG_CLIENT_GONE = "Client closed the connection mid-request."

_HEADERS = {
    b"client_id": "client_id",
    b"client_secret": "client_secret",
    b"access_token": "access_token",
    b"content-type": "content-type",
    b"content-length": "content-length",
    SCENARIO_HEADER.encode(): SCENARIO_HEADER,
}
_WANTED = dict.fromkeys(_HEADERS.values(), "")
_JSON = (b"content-type", b"application/json")
_ACCEPTED_HEAD = b'{"success":true,"message":"' + ACCEPTED_MESSAGE.encode() + b'","job_id":"'


def is_fetch(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["path"] == FETCH_PATH and scope["method"] == "POST")


class FetchEndpoint:
    """Authenticate → validate → choose behaviours → wait for room → create the job → 202."""

    def __init__(self, state: MockState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = entry_of(scope)
        if entry is not None:  # through Starlette: the journal middleware has it, latency included
            values = header_values(scope, _HEADERS)
            status, body, headers = await self.answer(scope, receive, values, None)
            await _respond(send, status, body, headers)
            return
        values = _WANTED.copy()  # filled by the journal's pass over the headers
        entry = self.state.journal.start_scope(scope, values)
        scope[SCOPE_KEY] = entry
        clock = time.perf_counter()
        try:
            seconds = self.state.api_latency()
            if seconds > 0:
                entry.latency_ms = seconds * 1000
                await asyncio.sleep(seconds)
            status, body, headers = await self.answer(scope, receive, values, entry)
            entry.status = status
            await _respond(send, status, body, headers)
        finally:
            entry.duration_ms = (time.perf_counter() - clock) * 1000

    async def answer(
        self, scope: Scope, receive: Receive, values: dict[str, str], entry: RequestEntry | None
    ) -> tuple[int, bytes, dict[str, str] | None]:
        """The status, body and extra headers of the answer; every failure in Cobalt's shape."""
        try:
            job_id = await self.accept(scope, receive, values, entry)
        except ApiError as exc:
            return exc.status, orjson.dumps(exc.body()), exc.headers or None
        except ClientDisconnect:  # nobody to answer, and no bug in the fake
            return 499, orjson.dumps({"success": False, "message": MSG_CLIENT_GONE}), None
        except Exception as exc:  # a bug in the fake: remembered so the test that caused it fails
            self.state.errors.append(exc)
            log.error("fetch failed", exc_info=exc)
            if (current := entry_of(scope)) is not None:
                current.error = f"{type(exc).__name__}: {exc}"
            message = f"Internal error in cobalt-mock: {exc!r}"
            return 500, orjson.dumps({"success": False, "message": message}), None
        return 202, _ACCEPTED_HEAD + job_id.encode() + b'"}', None

    async def accept(
        self, scope: Scope, receive: Receive, values: dict[str, str], entry: RequestEntry | None
    ) -> str:
        """``values``: the first value of each of ``_HEADERS`` ("" when absent)."""
        state = self.state
        caller = check_credentials(state, values)
        fetch = parse_fetch_request(await read_json(state, values, receive, entry))
        try:
            chosen = state.select(caller, fetch, values[SCENARIO_HEADER])
        except ConfigError as exc:
            raise ApiError(400, f"Invalid cobalt-mock scenario: {exc}.") from None
        current = entry_of(scope)
        if chosen.api is not None or chosen.job:
            if current is not None:
                current.behaviours = chosen.to_json()
            if chosen.api is not None:
                await faults.answer_api_fault(chosen.api, receive, state.waiting, caller.access_token)
        dispatcher = state.dispatcher  # while max_jobs jobs are unfinished, wait for a turn
        if not dispatcher.has_room() and not await dispatcher.admit(_disconnected(receive)):
            raise ClientDisconnect()
        job = state.create_job(caller, fetch, chosen.behaviours() if chosen.job else None)
        if current is not None:
            current.job_id = job.job_id
        return job.job_id


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str] | None) -> None:
    raw = [(b"content-length", str(len(body)).encode()), _JSON]
    if headers:
        raw += [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    start: Message = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
