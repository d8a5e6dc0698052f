"""What each behaviour does: API-level ones answer the fetch call, job-level ones change the job.

- ``api_429`` / ``api_500``: the fetch call answers that status (429 with ``Retry-After``) at once.
- ``api_timeout``: the call holds the connection for ``seconds``, or until the client hangs up or the
  fake is reset, then answers 504 (to whoever is still listening).
- ``ehr_failure``, ``empty``, ``large``: the job's result. If several apply, ``ehr_failure`` wins,
  then ``empty``, then ``large``.
- ``bad_signature``, ``old_secret``: the ``cobalt-verification`` header (bad wins if both apply).
- ``duplicate_delivery``: the whole delivery (with Cobalt's retry rule) runs twice.
- ``out_of_order``: the job completes on time (its event is recorded then, with that timestamp), but
  its webhook waits until a later-created job of the same access token that is not itself
  out_of_order has finished its delivery, so receivers see the later job's webhook first. With no such
  job within ``max_wait`` seconds it is delivered anyway.
- ``slow``, ``never_complete``: the job's timing, applied when the job is created (``MockState``).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NoReturn

from starlette.types import Receive

from mock_server.errors import ApiError
from mock_server.model import payloads
from mock_server.model.behaviours import Applied
from mock_server.model.hooks import WebhookRegistry
from mock_server.model.ids import utc_now
from mock_server.model.jobs import Job
from mock_server.signing import sign

if TYPE_CHECKING:
    from mock_server.data.roster import Clinic

MSG_429 = "Too many requests. Please retry later."
MSG_500 = "Internal server error."
MSG_504 = "Gateway timeout."
# Keyed off the real secret so the wrong signature is stable and well-formed, yet never verifies.
BAD_SIGNATURE_KEY = "cobalt-mock-bad-signature:"


# API level


async def answer_api_fault(
    applied: Applied, receive: Receive, waiting: dict[asyncio.Future[None], str], access_token: str
) -> NoReturn:
    """Raise the ``ApiError`` the fetch call answers with (after holding it, for ``api_timeout``).

    ``waiting`` maps each held connection to its access token, so that a reset can end it.
    """
    if applied.behaviour == "api_429":
        raise ApiError(429, MSG_429, {"retry-after": str(applied.params["retry_after"])})
    if applied.behaviour == "api_500":
        raise ApiError(500, MSG_500)
    await hold_connection(applied.params["seconds"], receive, waiting, access_token)
    raise ApiError(504, MSG_504)


async def hold_connection(
    seconds: float, receive: Receive, waiting: dict[asyncio.Future[None], str], access_token: str
) -> None:
    """Wait ``seconds``, or until the client disconnects, or until ``release_all`` ends the wait.

    Cancellation (a server shutting down) ends the wait at once, like any other await.
    """
    released: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting[released] = access_token
    disconnected = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({released, disconnected}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.pop(released, None)
        disconnected.cancel()


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def release_all(futures: Iterable[asyncio.Future[None]]) -> None:
    """End these held connections now (a reset); safe from any thread."""
    for future in futures:
        if not future.done():
            future.get_loop().call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# Job level: the result


def build_data(clinic: Clinic, job: Job) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The webhook ``data`` and the cached appointments for ``job``, shaped by its behaviours."""
    chosen = job.behaviours
    if "ehr_failure" in chosen:
        params = chosen["ehr_failure"]
        return payloads.failure_data(job, params["failure_reason"], params["reasons"]), []
    data, cached = payloads.build_data(clinic, job)
    if "empty" in chosen:
        data["appointment_count"] = 0
        data["appointments"] = []
        return data, []
    if "large" in chosen:
        count = chosen["large"]["count"]
        if job.request.search_by == "mrn":
            data["appointments"] = pad(data["appointments"], count, "ehr_appointment_id")
        else:
            cached = pad(cached, count, "id", "ehr_appointment_id")
            from mock_server.data import generator  # loaded with the first completed job, not at start

            data["appointments"] = generator.range_items(cached)
        data["appointment_count"] = len(data["appointments"])
    return data, cached


def pad(items: list[dict[str, Any]], count: int, *id_fields: str) -> list[dict[str, Any]]:
    """``items`` repeated in place (a, a', a'', b, b', ...) to ``count``, copies with new stable ids.

    Order (and so the sort by time) is kept; an empty list stays empty (a day the clinic is closed).
    """
    if not items or len(items) >= count:
        return items
    copies, extra = divmod(count, len(items))
    taken: set[str] = {str(item[name]) for item in items for name in id_fields}
    out: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        out.append(item)
        for copy in range(1, copies + (position < extra)):
            clone = dict(item)
            for name in id_fields:
                clone[name] = _new_id(str(item[name]), copy, taken)
            out.append(clone)
    return out


def _new_id(original: str, copy: int, taken: set[str]) -> str:
    """An id shaped like ``original`` (``appt_…`` or an 8-digit EHR number), stable and unused."""
    salt = 0
    while True:
        digest = hashlib.blake2b(f"{original}:{copy}:{salt}".encode(), digest_size=8).digest()
        if original.isdigit():
            candidate = str(10_000_000 + int.from_bytes(digest, "big") % 90_000_000)
        else:
            candidate = original.partition("_")[0] + "_" + digest.hex()
        if candidate not in taken:
            taken.add(candidate)
            return candidate
        salt += 1


# Job level: delivery


def signature(job: Job, hooks: WebhookRegistry, body: bytes) -> str:
    """The ``cobalt-verification`` value for ``body``: right, wrong on purpose, or by the old secret."""
    if "bad_signature" in job.behaviours:
        return sign(BAD_SIGNATURE_KEY + hooks.secret, body)
    if "old_secret" in job.behaviours:
        if hooks.previous_secret is None:
            hooks.rotate(utc_now())
        assert hooks.previous_secret is not None
        return sign(hooks.previous_secret, body)
    return sign(hooks.secret, body)


def deliveries(job: Job) -> int:
    """How many times the whole delivery runs."""
    return 2 if "duplicate_delivery" in job.behaviours else 1


class OrderGate:
    """Holds ``out_of_order`` deliveries back until a later job of the same access token delivered."""

    def __init__(self) -> None:
        self._delivered: dict[str, int] = {}
        self._waiting: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}

    async def wait(self, job: Job) -> None:
        params = job.behaviours.get("out_of_order")
        if params is None or self._delivered.get(job.access_token, 0) > job.number:
            return
        entry = (job.number, asyncio.get_running_loop().create_future())
        queue = self._waiting.setdefault(job.access_token, [])
        queue.append(entry)
        try:
            await asyncio.wait({entry[1]}, timeout=params["max_wait"])
        finally:
            queue.remove(entry)
            if not queue:
                self._waiting.pop(job.access_token, None)

    def passed(self, job: Job) -> None:
        """``job`` finished its delivery: let earlier out_of_order jobs of its token go."""
        if "out_of_order" in job.behaviours:
            return
        token = job.access_token
        self._delivered[token] = max(self._delivered.get(token, 0), job.number)
        for number, future in self._waiting.get(token, []):
            if number < job.number and not future.done():
                future.set_result(None)

    def forget(self, access_token: str | None = None) -> None:
        """Reset: waiting deliveries go now, and the record of what was delivered is dropped."""
        tokens = list(self._waiting) if access_token is None else [access_token]
        for token in tokens:
            for _, future in self._waiting.get(token, []):
                if not future.done():
                    future.set_result(None)
        if access_token is None:
            self._delivered.clear()
        else:
            self._delivered.pop(access_token, None)
