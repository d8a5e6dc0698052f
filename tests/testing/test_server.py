"""ServerThread: uvicorn in a background thread on a pre-bound socket, with nothing left behind."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from mock_server.api.serving import bind_socket, format_url
from mock_server.errors import CobaltMockError
from mock_server.testing.server import ServerThread


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


def make_app(lifespan: Any = None) -> Starlette:
    return Starlette(routes=[Route("/", hello)], lifespan=lifespan)


pytestmark = pytest.mark.usefixtures("no_thread_left")


def test_serves_a_starlette_app_on_a_real_port() -> None:
    server = ServerThread(make_app())
    server.start()
    try:
        assert server.running
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        response = httpx.get(server.url + "/")
        assert response.status_code == 200
        assert response.text == "hello"
        assert repr(server) == f"<ServerThread {server.url} running=True>"
    finally:
        server.stop()
    assert not server.running
    assert server.error is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/")


def test_context_manager_and_two_servers_get_different_ports() -> None:
    with ServerThread(make_app()) as first, ServerThread(make_app()) as second:
        assert first.port != second.port
        assert httpx.get(first.url).text == httpx.get(second.url).text == "hello"


def test_stop_is_idempotent_and_safe_before_start() -> None:
    never_started = ServerThread(make_app())
    never_started.stop()
    never_started.stop()

    server = ServerThread(make_app())
    server.start()
    server.stop()
    server.stop()
    assert server.error is None


def test_a_server_cannot_be_started_twice() -> None:
    with ServerThread(make_app()) as server, pytest.raises(CobaltMockError, match="already started"):
        server.start()


def test_uses_a_socket_bound_before_the_thread_starts() -> None:
    sock = bind_socket()
    port = sock.getsockname()[1]
    # The port is ours and already accepting into the backlog before any server runs.
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    with ServerThread(make_app(), sock=sock) as server:
        assert server.port == port
        assert httpx.get(server.url).status_code == 200


def test_bind_socket_refuses_a_port_in_use() -> None:
    taken = bind_socket()
    try:
        with pytest.raises(OSError, match="in use"):
            bind_socket(port=taken.getsockname()[1])
    finally:
        taken.close()


def test_bad_uvicorn_option_raises_and_closes_the_socket() -> None:
    sock = bind_socket()
    with pytest.raises(TypeError):
        ServerThread(make_app(), sock=sock, no_such_option=True)
    assert sock.fileno() == -1


def test_format_url_brackets_ipv6() -> None:
    assert format_url("::1", 8000) == "http://[::1]:8000"
    assert format_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"


def test_lifespan_that_raises_fails_start_with_the_real_exception() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise LookupError("database 'appointments' is not reachable")
        yield  # pragma: no cover

    server = ServerThread(make_app(lifespan=lifespan))
    with pytest.raises(CobaltMockError, match="failed to start") as caught:
        server.start()
    message = str(caught.value)
    assert server.url in message
    assert "LookupError: database 'appointments' is not reachable" in message
    assert isinstance(caught.value.__cause__, LookupError)
    assert server.error is caught.value.__cause__
    server.stop()  # already reported by start(): no second error


async def failing_lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI app that reports a failed startup without raising."""
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no fixtures directory\n"})


def test_lifespan_that_reports_failure_without_raising() -> None:
    server = ServerThread(failing_lifespan_app)
    with pytest.raises(CobaltMockError, match=r"lifespan reported: no fixtures directory$") as caught:
        server.start()
    assert isinstance(caught.value.__cause__, SystemExit)


async def silent_failing_lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.failed", "message": ""})


def test_lifespan_failure_without_a_message_points_at_the_log() -> None:
    with pytest.raises(CobaltMockError, match=r"exited with code 3 .*uvicorn\.error log"):
        ServerThread(silent_failing_lifespan_app).start()


def test_hanging_startup_times_out_and_is_cancelled() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.Event().wait()  # never set: startup hangs
        yield  # pragma: no cover

    server = ServerThread(make_app(lifespan=lifespan))
    with pytest.raises(CobaltMockError, match=r"did not start within 0\.2s \(it has been stopped\)"):
        server.start(timeout=0.2)
    assert server.error is None
    server.stop()


def test_stop_cancels_a_request_that_never_finishes() -> None:
    entered = threading.Event()

    async def forever(request: Request) -> PlainTextResponse:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    outcomes: list[object] = []

    def client(url: str) -> None:
        try:
            outcomes.append(httpx.get(url, timeout=30).status_code)
        except httpx.HTTPError as exc:  # pragma: no cover - depends on the protocol implementation
            outcomes.append(exc)

    server = ServerThread(Starlette(routes=[Route("/", forever)]))
    server.start()
    caller = threading.Thread(target=client, args=(server.url,))
    caller.start()
    assert entered.wait(10)
    server.stop(timeout=0.3)  # graceful shutdown waits for the request, then cancels it
    caller.join(10)
    assert not caller.is_alive()
    assert outcomes == [500]  # uvicorn answers a cancelled request with a 500, then shuts down
    assert server.error is None


def test_stop_reports_a_blocked_event_loop_and_can_be_retried() -> None:
    entered = threading.Event()
    release = threading.Event()

    async def blocking(request: Request) -> PlainTextResponse:
        entered.set()
        release.wait(30)  # deliberately blocks the server's event loop
        return PlainTextResponse("late")

    responses: list[int] = []
    server = ServerThread(Starlette(routes=[Route("/", blocking)]))
    server.start()
    caller = threading.Thread(target=lambda: responses.append(httpx.get(server.url).status_code))
    caller.start()
    assert entered.wait(10)
    with pytest.raises(CobaltMockError, match=r"did not stop within 0\.1s"):
        server.stop(timeout=0.1)
    release.set()
    server.stop()
    caller.join(10)
    assert responses == [200]


def test_an_error_that_kills_the_thread_is_raised_from_stop() -> None:
    gate = threading.Event()

    async def notify() -> None:
        await asyncio.to_thread(gate.wait, 30)
        raise RuntimeError("tick failed")

    # uvicorn calls callback_notify from its main loop: a way to kill the thread after start.
    server = ServerThread(make_app(), callback_notify=notify, timeout_notify=0)
    server.start()
    gate.set()
    with pytest.raises(CobaltMockError, match="died while serving: RuntimeError: tick failed"):
        server.stop()
    assert isinstance(server.error, RuntimeError)
    server.stop()  # reported once
