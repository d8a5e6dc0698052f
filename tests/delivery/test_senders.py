"""The sender contract: one mapping of failures to Cobalt's retry rules, the same from every sender.

HttpxSender's own statuses and errors are in ``test_dispatcher.py``; KeepAliveSender's in
``test_keepalive.py``.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mock_server.delivery.keepalive import KeepAliveSender
from mock_server.delivery.senders import (
    REPLY_LIMIT,
    DeliveryFailed,
    HttpxSender,
    Reply,
    Sender,
    delivery_failure,
)
from mock_server.errors import CobaltMockError


@pytest.mark.parametrize("exc", [TimeoutError(), httpx.ReadTimeout("slow"), httpx.PoolTimeout("full")])
def test_a_timeout_is_not_retried(exc: Exception) -> None:
    failed = delivery_failure(exc, 2)
    assert (failed.retryable, str(failed)) == (False, "timed out after 2s")
    assert isinstance(failed, CobaltMockError)


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            "ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (
            httpx.ConnectError("All connection attempts failed"),
            "ConnectError: All connection attempts failed",
        ),
        (httpx.RemoteProtocolError("closed"), "RemoteProtocolError: closed"),
        (RuntimeError(), "RuntimeError"),
    ],
)
def test_anything_else_that_kept_the_answer_from_arriving_is_retried(exc: Exception, reason: str) -> None:
    failed = delivery_failure(exc, 5)
    assert (failed.retryable, str(failed)) == (True, reason)


def test_every_sender_reports_the_same_failure_the_same_way() -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the sender gives up
        writer.close()

    async def failure(sender: Sender, url: str, timeout: float) -> DeliveryFailed:
        with pytest.raises(DeliveryFailed) as info:
            await sender(url, b"{}", {"content-type": "application/json"}, timeout)
        return info.value

    async def main() -> list[tuple[bool, str]]:
        server = await asyncio.start_server(hang, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        seen: list[tuple[bool, str]] = []
        for sender in (KeepAliveSender(), HttpxSender()):
            slow = await failure(sender, f"http://127.0.0.1:{port}/hooks", 0.2)
            refused = await failure(sender, "http://127.0.0.1:1/hooks", 2)
            seen += [(slow.retryable, str(slow)), (refused.retryable, str(refused).split(":")[0])]
            await sender.aclose()
        server.close()
        return seen

    assert asyncio.run(main()) == [(False, "timed out after 0.2s"), (True, "ConnectError")] * 2


def test_every_sender_keeps_the_start_of_the_answer_body() -> None:
    long = b"<p>" + b"y" * REPLY_LIMIT

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0]))
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: %d\r\n\r\n%s" % (len(long), long))
        await writer.drain()
        writer.close()

    async def main() -> list[Reply]:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
        seen: list[Reply] = []
        for sender in (KeepAliveSender(), HttpxSender()):
            seen.append(await sender(url, b"{}", {"content-type": "application/json"}, 2))
            await sender.aclose()
        server.close()
        return seen

    assert asyncio.run(main()) == [Reply(502, long[:REPLY_LIMIT], True)] * 2
