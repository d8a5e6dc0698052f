"""Webhook senders: the contract (``Sender``: a status code or ``DeliveryFailed``) and the httpx one.

``KeepAliveSender`` (``mock_server/delivery/keepalive.py``) is the default; ``HttpxSender`` takes the URLs it
does not (https and anything a URL library would rewrite) and any test that swaps the network out.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import httpx


class DeliveryFailed(Exception):
    """An attempt got no HTTP answer; ``retryable`` is False for timeouts (Cobalt does not retry them)."""

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class Sender(Protocol):
    """POSTs ``body`` and returns the status code, or raises ``DeliveryFailed``."""

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int: ...

    async def aclose(self) -> None: ...


class HttpxSender:
    """The default sender: one pooled ``httpx.AsyncClient``, made on first use.

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

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        import httpx

        client = self._client()
        try:
            async with asyncio.timeout(timeout):
                response = await client.post(url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            raise DeliveryFailed(f"timed out after {timeout:g}s", retryable=False) from None
        except Exception as exc:
            # The sender's contract is "a status or DeliveryFailed": anything else the HTTP stack
            # raises (httpx.HTTPError, or an unmapped httpcore error) is a failed connection.
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}".rstrip(": "), retryable=True) from None
        return response.status_code

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
