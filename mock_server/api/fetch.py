"""``POST /v1/appointments/fetch``: its input read and checked → the model accepts it (behaviours,
admission, the job) → 202.

An ordinary route through the app's one pipeline (journal, latency, errors); being the hot path, it
is a plain ASGI endpoint that writes its 202 directly, and raises for everything else like every
handler.
"""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope, Send

from mock_server.api.inputs import (
    fetch_input,
    until_disconnect,
)
from mock_server.api.pipeline import entry_of
from mock_server.model.state import MockState

FETCH_PATH = "/v1/appointments/fetch"
ACCEPTED_MESSAGE = "Live fetch request accepted. Results will be sent via webhook when ready."

_ACCEPTED_HEAD = b'{"success":true,"message":"' + ACCEPTED_MESSAGE.encode() + b'","job_id":"'
_JSON = (b"content-type", b"application/json")


class FetchEndpoint:
    def __init__(self, state: MockState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        given = await fetch_input(state.settings, scope, receive)

        def watch() -> asyncio.Future[None]:
            return asyncio.ensure_future(until_disconnect(receive))

        who = given.credentials
        job = await state.accept(
            who.client_id, who.access_token, given.request, given.scenario_header, watch, entry_of(scope)
        )
        if job is None:  # it hung up while waiting for room: nobody to answer
            raise ClientDisconnect()
        body = _ACCEPTED_HEAD + job.job_id.encode() + b'"}'
        start: Message = {
            "type": "http.response.start",
            "status": 202,
            "headers": [(b"content-length", str(len(body)).encode()), _JSON],
        }
        await send(start)
        await send({"type": "http.response.body", "body": body})
