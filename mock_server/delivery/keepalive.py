"""The network webhook sender: POSTs over pooled keep-alive HTTP/1.1 connections on the loop's own
transports, with httptools (uvicorn's parser) reading the answer.

Hand-written protocol code, kept because it is measured to be worth it (``python -m bench --only
sender``; figures in ``docs/performance.md``): against httpx, httpcore's pool used directly and
aiohttp, each delivery costs several times less CPU (one write of head and body, a C parser, no
per-request object graph), and the fake's delivery throughput is bound by CPU per delivery.
It keeps the ``Sender`` contract and maps its failures with ``delivery_failure``, like every sender.
Only plain ``http://`` URLs with an ASCII host and an already-encoded path go this way; https and
anything else a URL library would rewrite goes to the fallback (``HttpxSender``), as does
everything where httptools is not installed.
"""

from __future__ import annotations

import asyncio
import functools
import string
from typing import Any
from urllib.parse import urlsplit

from mock_server.delivery.senders import REPLY_LIMIT, HttpxSender, Reply, Sender, delivery_failure
from mock_server.version import __version__

try:
    import httptools
except ImportError:  # pragma: no cover - httptools ships with CPython installs
    httptools = None  # type: ignore[assignment]  # then the fallback does the work

_PATH_CHARS = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?%")
_HEX = frozenset(string.hexdigits)
USER_AGENT = f"cobalt-mock/{__version__}"


@functools.lru_cache(maxsize=256)
def plain_target(url: str) -> tuple[str, int, bytes] | None:
    """``(host, port, request head up to the headers)`` for a URL this sender takes as it is, else None."""
    try:
        parts = urlsplit(url)
        port = 80 if parts.port is None else parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme != "http" or not host or not host.isascii() or parts.username or parts.password:
        return None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not target.startswith("/") or not _encoded(target) or not parts.netloc.isprintable():
        return None
    head = f"POST {target} HTTP/1.1\r\nhost: {parts.netloc}\r\nuser-agent: {USER_AGENT}\r\n"
    return host, port, head.encode("ascii")


def _encoded(target: str) -> bool:
    """Only characters that go on the wire as they are, and ``%`` only as ``%XX``."""
    if not set(target) <= _PATH_CHARS:
        return False
    pieces = target.split("%")
    return all(len(piece) >= 2 and piece[0] in _HEX and piece[1] in _HEX for piece in pieces[1:])


class ConnectError(Exception):
    """No connection to the receiver (refused, unreachable)."""


class ReadError(Exception):
    """The connection failed while the answer was awaited."""


class RemoteProtocolError(Exception):
    """The receiver closed early or answered something that is not HTTP/1.1.

    The three are named as httpcore names them, so a failure reads the same whichever sender met it.
    """


class KeepAliveSender:
    """A ``Sender``: one POST per call, connections kept per origin (up to ``max_connections`` idle).

    URLs it does not take go to ``fallback`` (an ``HttpxSender`` by default).
    """

    def __init__(self, *, max_connections: int = 64, fallback: Sender | None = None) -> None:
        self.max_connections = max_connections
        self.fallback = fallback or HttpxSender(max_connections=max_connections)
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        target = plain_target(url) if httptools is not None else None
        if target is None:
            return await self.fallback(url, body, headers, timeout)
        host, port, head = target
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        data = b"%scontent-length: %d\r\n%s\r\n%s" % (head, len(body), lines.encode("latin-1"), body)
        try:
            return await self._exchange(host, port, data, timeout)
        except Exception as exc:  # the contract: a Reply or DeliveryFailed, whatever the socket did
            raise delivery_failure(exc, timeout) from None

    async def _exchange(self, host: str, port: int, data: bytes, timeout: float) -> Reply:
        """Connect if no idle connection is left, send, read the answer: all within ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = (host, port)
        connection = self._checkout(key)
        if connection is None:
            try:
                async with asyncio.timeout_at(deadline):
                    _, connection = await loop.create_connection(_Connection, host, port)
            except TimeoutError:
                raise  # a timeout, however it comes, stays one (it is an OSError too)
            except OSError as exc:
                raise ConnectError(str(exc)) from None
        # A plain timer on the answer's future, not ``asyncio.timeout``: the same deadline at a
        # fraction of the cost, on every delivery.
        answer = connection.send(data)
        timer = loop.call_at(deadline, _time_out, answer)
        try:
            reply = await answer
        except BaseException:
            connection.abort()
            raise
        finally:
            timer.cancel()
        if connection.reusable:
            self._checkin(key, connection)
        else:
            connection.abort()
        return reply

    def _checkout(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.usable:
                return connection
            connection.abort()
        return None

    def _checkin(self, key: tuple[str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) < self.max_connections:
            idle.append(connection)
        else:
            connection.abort()

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.abort()
        self._idle.clear()
        await self.fallback.aclose()


def _time_out(answer: asyncio.Future[Reply]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class _Connection(asyncio.Protocol):
    """One connection: sends a request, parses the answer, says whether it can be used again."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Reply] | None = None
        self.status = 0
        self.body = bytearray()  # the answer's first REPLY_LIMIT + 1 bytes (one more tells it was cut)
        self.headers_done = False
        self.framed = False  # Content-Length or Transfer-Encoding: else the body ends at close
        self.reusable = False
        self.closed = False

    @property
    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> asyncio.Future[Reply]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.status, self.headers_done, self.framed, self.reusable = 0, False, False, False
        self.body = bytearray()
        self.transport.write(data)
        return self.waiter

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for: do not reuse
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"malformed response ({exc})"))

    def eof_received(self) -> bool:
        self.closed = True
        if self.headers_done and not self.framed and self.status not in (204, 304):
            self._finish()  # a body delimited by the end of the connection is complete
        elif not self.headers_done:
            self._fail(RemoteProtocolError("Server disconnected without sending a response."))
        else:
            self._fail(RemoteProtocolError("peer closed connection without sending complete message body"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ReadError(str(exc)) if exc else RemoteProtocolError("connection closed"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_body(self, chunk: bytes) -> None:
        if len(self.body) <= REPLY_LIMIT:
            self.body += chunk[: REPLY_LIMIT + 1 - len(self.body)]

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # an interim answer: the real one follows
            self.status, self.headers_done, self.framed = 0, False, False
            self.body = bytearray()
            return
        self.reusable = self.parser.should_keep_alive() and not self.closed
        self._finish()

    def _finish(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(Reply.of(self.status, bytes(self.body)))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
