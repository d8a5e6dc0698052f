"""Webhook senders: the contract they all keep, and the one mapping of their failures to Cobalt's rules.

A sender POSTs a body and returns the receiver's ``Reply`` (its status code and the start of its
answer's body), or raises ``DeliveryFailed``; every sender turns whatever kept an answer from
arriving into that with ``delivery_failure``. ``KeepAliveSender``
(``mock_server.delivery.keepalive``) sends over the network; ``HttpxSender`` sends through an
``httpx`` transport a test passes (``httpx.MockTransport``: delivery without sockets), and takes the
URLs the keep-alive sender does not.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, NamedTuple, Protocol

from mock_server.errors import CobaltMockError

if TYPE_CHECKING:
    import httpx


REPLY_LIMIT = 4096
"""Bytes of a receiver's answer body kept with each attempt: enough to read an error, bounded
because every attempt is kept (``max_jobs``, ``max_journal``)."""


class Reply(NamedTuple):
    """A receiver's answer: its status code and the first ``REPLY_LIMIT`` bytes of its body."""

    status: int
    body: bytes = b""
    truncated: bool = False
    """The body was longer than ``REPLY_LIMIT``."""

    @classmethod
    def of(cls, status: int, body: bytes) -> Reply:
        if len(body) > REPLY_LIMIT:
            return cls(status, body[:REPLY_LIMIT], True)
        return cls(status, body)


class DeliveryFailed(CobaltMockError):
    """An attempt got no HTTP answer; ``retryable`` is False for timeouts (Cobalt does not retry them)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Sender(Protocol):
    """POSTs ``body`` within ``timeout`` seconds and returns the ``Reply``, or raises
    ``DeliveryFailed`` (made by ``delivery_failure``); ``aclose`` drops its connections."""

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply: ...

    async def aclose(self) -> None: ...


def delivery_failure(exc: Exception, timeout: float) -> DeliveryFailed:
    """Cobalt's retry rules for an attempt that raised ``exc`` instead of answering: a timeout is
    not retried; anything else that kept the answer from arriving (refused, reset, closed before or
    during the answer, malformed, or an error of the HTTP stack itself) is."""
    if _is_timeout(exc):
        return DeliveryFailed(f"timed out after {timeout:g}s", retryable=False)
    return DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": "), retryable=True)


def _is_timeout(exc: Exception) -> bool:
    if isinstance(exc, TimeoutError):
        return True
    # Looked up, not imported: an httpx timeout exists only once httpx is imported, and importing
    # it here would make every start pay for what HttpxSender imports only when it is used.
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TimeoutException)


class HttpxSender:
    """One pooled ``httpx.AsyncClient``, made on first use.

    Made lazily so that start-up does not pay for importing httpx and building its TLS context;
    pass ``transport`` (e.g. ``httpx.MockTransport``) to test delivery without sockets.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
    ) -> None:
        self.client = client
        self.transport = transport
        self.max_connections = max_connections

    def _client(self) -> httpx.AsyncClient:
        if self.client is None:
            import httpx

            limits = httpx.Limits(max_connections=self.max_connections, max_keepalive_connections=32)
            self.client = httpx.AsyncClient(transport=self.transport, limits=limits, trust_env=False)
        return self.client

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        client = self._client()
        try:
            async with asyncio.timeout(timeout):
                async with client.stream("POST", url, content=body, headers=headers) as response:
                    answer = bytearray()
                    async for chunk in response.aiter_bytes():  # to the end: the connection is reused
                        if len(answer) <= REPLY_LIMIT:
                            answer += chunk[: REPLY_LIMIT + 1 - len(answer)]
        except Exception as exc:  # the contract: a Reply or DeliveryFailed
            raise delivery_failure(exc, timeout) from None
        return Reply.of(response.status_code, bytes(answer))

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
