"""The HTTP protocol ``cobalt-mock serve`` gives uvicorn: uvicorn's own, with the read deadline
uvicorn lacks. A connection has ``read_timeout`` seconds, from opening or from its previous answer,
to send a whole request (headers and body); one that is idle or slower is closed, so slow or idle
clients cannot pile up and hold the server.

(Sending each answer's head and body in one socket write instead of uvicorn's two was tried and
measured: more CPU per fetch and a worse p99 on the bench, so uvicorn's writes are kept.)
"""

from __future__ import annotations

import asyncio
import socket
import sys


def http_protocol(read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's ``auto`` HTTP protocol (httptools if installed, else h11) with a read deadline."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class CobaltHTTP(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        # One timer per connection, not one per answer: an answer only moves the deadline, and the
        # timer, when it fires early, sets itself for the deadline it finds (a timer re-armed on
        # every answer was 8% of the fetch bench's CPU).
        _timer: asyncio.TimerHandle | None = None
        _ready_by = 0.0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._ready_by = self.loop.time() + read_timeout
            self._timer = self.loop.call_at(self._ready_by, self._check)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._ready_by = self.loop.time() + read_timeout
            if self._timer is None and not self.transport.is_closing():
                self._timer = self.loop.call_at(self._ready_by, self._check)

        def connection_lost(self, exc: Exception | None) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def _check(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self.loop.time() < self._ready_by - 0.001:  # an answer moved the deadline
                self._timer = self.loop.call_at(self._ready_by, self._check)
                return
            cycle = self.cycle  # the request being read or answered, if any
            if cycle is None or cycle.response_complete or cycle.more_body:
                self.transport.close()
            # else the app is answering: its answer sets a new deadline and timer

    return CobaltHTTP


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
