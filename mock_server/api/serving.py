"""How the fake is served: a pre-bound socket and the one uvicorn configuration that ``cobalt-mock
serve``, the pytest plugin's server thread and the tests all use.

uvicorn has no read deadline, so a slow or idle client could hold a connection forever. Each
connection here gets one (``read_timeout`` seconds, from its opening or its previous answer, to
send a whole request; idle or slower ones are closed) by composition: ``ReadDeadline`` wraps
uvicorn's own protocol object and passes every call through, and the pipeline (``mock_server.api.
pipeline``) tells the connection's ``Deadline`` — found through a context variable that the
request's task inherits — when a request has been read and when it has been answered. Nothing
reads uvicorn's internals.

(Sending each answer's head and body in one socket write instead of uvicorn's two was tried and
measured: more CPU per fetch and a worse p99 on the bench, so uvicorn's writes are kept.)
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import socket
import sys
from typing import TYPE_CHECKING, Any

from mock_server.settings import Settings

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp

CONNECTION: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "cobalt_mock_connection", default=None
)
"""The read deadline of the connection a request arrived on (None when not served by ``ReadDeadline``)."""


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A TCP socket already bound and listening, so its port is ours before any server runs."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":  # on Windows SO_REUSEADDR lets others steal a bound port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def format_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: ASGIApp, settings: Settings, **options: Any) -> uvicorn.Config:
    """The fake's uvicorn configuration; ``options`` (e.g. ``log_config``) are the caller's own."""
    import uvicorn

    values: dict[str, Any] = {
        "http": read_deadline_protocol(settings.read_timeout),
        "ws": "none",  # no WebSocket routes; "auto" would import `websockets` where installed
        "lifespan": "on",
        "log_level": settings.log_level,
        # uvicorn builds each access-log line's arguments (the quoted path among them) before the
        # logger drops them: above `info` nobody sees those lines, so they are not made at all.
        "access_log": settings.log_level in ("trace", "debug", "info"),
        # Nothing here reads the client's address, so X-Forwarded-For is not rewritten into it.
        "proxy_headers": False,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_grace),
        "timeout_keep_alive": 5,
        "limit_concurrency": 4096,
        **options,
    }
    return uvicorn.Config(app, **values)


class Deadline:
    """One connection's read deadline. One timer per connection, not one per answer: an answer only
    moves the deadline, and the timer, when it fires early, sets itself for the deadline it finds
    (a timer re-armed on every answer cost the fetch bench measurably)."""

    __slots__ = ("_loop", "_ready_by", "_seconds", "_timer", "_transport", "busy")

    def __init__(self, transport: asyncio.BaseTransport, loop: asyncio.AbstractEventLoop, seconds: float):
        self._transport = transport
        self._loop = loop
        self._seconds = seconds
        self._ready_by = loop.time() + seconds
        self._timer: asyncio.TimerHandle | None = loop.call_at(self._ready_by, self._check)
        self.busy = False
        """True while the app works on a request it has read: the deadline waits for its answer."""

    def answered(self) -> None:
        """An answer went out: the next request has ``seconds`` from now."""
        self.busy = False
        self._ready_by = self._loop.time() + self._seconds
        if self._timer is None and not self._transport.is_closing():
            self._timer = self._loop.call_at(self._ready_by, self._check)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._transport.is_closing():
            return
        if self._loop.time() < self._ready_by - 0.001:  # an answer moved the deadline
            self._timer = self._loop.call_at(self._ready_by, self._check)
        elif not self.busy:  # idle, or still sending its request: its time is up
            self._transport.close()
        # else the app is answering: its answer sets a new deadline and timer


def read_deadline_protocol(read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's ``auto`` HTTP protocol (httptools if installed, else h11), wrapped with a deadline."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class ReadDeadline(asyncio.Protocol):
        """Passes every protocol call to uvicorn's protocol, with this connection's ``Deadline`` as
        ``CONNECTION`` while uvicorn handles the bytes (so the request tasks it starts see it)."""

        def __init__(self, **uvicorn_arguments: Any) -> None:
            self._inner: asyncio.Protocol = AutoHTTPProtocol(**uvicorn_arguments)
            self._deadline: Deadline | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self._deadline = Deadline(transport, asyncio.get_running_loop(), read_timeout)
            self._inner.connection_made(transport)

        def data_received(self, data: bytes) -> None:
            token = CONNECTION.set(self._deadline)
            try:
                self._inner.data_received(data)
            finally:
                CONNECTION.reset(token)

        def eof_received(self) -> bool | None:
            return self._inner.eof_received()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._inner.connection_lost(exc)

        def pause_writing(self) -> None:
            self._inner.pause_writing()

        def resume_writing(self) -> None:
            self._inner.resume_writing()

    return ReadDeadline
