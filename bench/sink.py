"""A webhook receiver cheap enough not to be what a bench cell measures.

It verifies every delivery's ``cobalt-verification`` HMAC over the raw body (as a real receiver
must), counts, and answers ``200``; ``GET /stats`` returns the counts as JSON. One asyncio protocol
with httptools' parser on uvloop: a few microseconds per delivery, where ``WebhookReceiver`` (built to
misbehave on demand, not to be fast) would take a core of its own at these rates.
``python -m bench.sink --secret S`` prints ``sink listening on http://127.0.0.1:PORT/hooks`` first.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import signal
import time
from collections.abc import Awaitable, Callable

import httptools
import orjson

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
SIGNATURE = b"cobalt-verification"

OnDelivery = Callable[[bytes, float, bool], None]
"""Called with (body, arrival time from ``time.perf_counter``, signature valid)."""


class Sink:
    def __init__(self, secret: str, on_delivery: OnDelivery | None = None) -> None:
        self.key = secret.encode()
        self.on_delivery = on_delivery
        self.received = 0
        self.verified = 0

    def stats(self) -> dict[str, int]:
        return {
            "received": self.received,
            "verified": self.verified,
            "invalid": self.received - self.verified,
        }

    def protocol(self) -> asyncio.Protocol:
        return _Connection(self)

    def deliver(self, body: bytes, signature: bytes) -> None:
        arrived = time.perf_counter()
        expected = hmac.new(self.key, body, hashlib.sha256).hexdigest().encode()
        valid = hmac.compare_digest(expected, signature)
        self.received += 1
        self.verified += valid
        if self.on_delivery is not None:
            self.on_delivery(body, arrived, valid)


class _Connection(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.signature = b""
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body, self.signature, self.url = [], b"", b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == SIGNATURE:
            self.signature = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.parser.get_method() == b"GET" and self.url.startswith(b"/stats"):
            data = orjson.dumps(self.sink.stats())
            head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
            self.transport.write(head.encode() + data)
        else:
            self.sink.deliver(b"".join(self.body), self.signature)
            self.transport.write(OK)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(secret: str, port: int) -> None:
    sink = Sink(secret)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(sink.protocol, "127.0.0.1", port, backlog=2048)
    bound = server.sockets[0].getsockname()[1]
    print(f"sink listening on http://127.0.0.1:{bound}/hooks", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def print_result(measure: Callable[[], Awaitable[object]]) -> None:
    """Run ``measure()`` (on uvloop, see ``run``) and print its result as one JSON line: how the
    bench's child processes answer."""

    async def go() -> None:
        print(orjson.dumps(await measure()).decode(), flush=True)

    run(go)


def run(coro_main: Callable[[], object]) -> None:
    """``asyncio.run`` on uvloop when it is installed (as uvicorn's ``auto`` loop would be)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro_main())  # type: ignore[arg-type]
    else:
        uvloop.run(coro_main())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description="A fast, verifying webhook sink for the bench.")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    run(lambda: serve(args.secret, args.port))


if __name__ == "__main__":
    main()
