"""Running an ASGI app under uvicorn in a background thread, the pytest-httpserver way.

The socket is bound and listening before the thread starts (port 0, so no port race and no fixed
ports); ``start`` returns once uvicorn reports ``started`` or raises the real reason it did not;
``stop`` asks uvicorn to exit (``should_exit``, then ``force_exit``, as its signal handler does),
joins the thread and, if the startup hangs, cancels it. The thread is a daemon only so that a
server wedged by blocking code cannot hang interpreter exit; ``stop`` never relies on that.

``FakeServer(settings)`` is the one way the kit and its tests start the fake in a thread:
``create_app`` on a ``ServerThread`` with the fake's uvicorn configuration (``mock_server.api.
serving``), the same one ``cobalt-mock serve`` uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.api.app import create_app
from mock_server.api.serving import bind_socket, format_url, uvicorn_config
from mock_server.errors import CobaltMockError
from mock_server.settings import Settings

if TYPE_CHECKING:
    import httpx

    from mock_server.model.state import MockState


class _LifespanWatch:
    """Wraps the app to keep why its lifespan startup failed: uvicorn only logs it, then exits."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.started = False
        self.error: BaseException | None = None
        self.failure_message: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def watched_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.started = True
            elif message["type"] == "lifespan.startup.failed":
                self.failure_message = str(message.get("message") or "").strip() or None
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except BaseException as exc:
            if not self.started:
                self.error = exc
            raise


class _ThreadServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone and tells a waiting thread when it is up;
    ``stopping``, if given, is called as shutdown begins."""

    def __init__(
        self, config: uvicorn.Config, ready: threading.Event, stopping: Callable[[], None] | None
    ) -> None:
        super().__init__(config)
        self.ready = ready
        self.stopping = stopping
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # uvicorn 0.29+ already skips this off the main thread; overriding makes that a guarantee
        # rather than a detail, so a test server never replaces the test runner's handlers.
        yield

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        try:
            await super().serve(sockets=sockets)
        except Exception:
            # uvicorn skips its shutdown when its main loop dies: run it, so its listeners close.
            if self.started:
                await self.shutdown(sockets=sockets)
            raise

    def halt(self) -> None:
        """Called in the server's loop when a graceful exit took too long: a server still starting
        is cancelled; a serving one is told to stop waiting for its connections and tasks."""
        self.force_exit = True
        if not self.started and self.task is not None:
            self.task.cancel()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.stopping is not None:
            self.stopping()
        await super().shutdown(sockets=sockets)


class ServerThread:
    """An ASGI app served by uvicorn on a background thread; a context manager."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        settings: Settings | None = None,
        sock: socket.socket | None = None,
        stopping: Callable[[], None] | None = None,
        **uvicorn_options: Any,
    ) -> None:
        """Serve ``app``; with ``settings`` it is the fake, served with its settings' read deadline
        and limits (``fake_server``), else any ASGI app with uvicorn's own HTTP protocol.
        ``stopping`` is called on the server's loop as its shutdown begins."""
        self._sock = sock if sock is not None else bind_socket(host, port)
        try:
            self.app = app
            self.host: str = self._sock.getsockname()[0]
            self.port: int = self._sock.getsockname()[1]
            self._app = _LifespanWatch(app)
            options: dict[str, Any] = {
                "host": self.host,
                "port": self.port,
                # Leave the host process's logging alone: records propagate to the root logger,
                # where pytest shows them with the failing test, instead of uvicorn's dictConfig.
                "log_config": None,
                **({} if settings is not None else {"http": "auto"}),
                **uvicorn_options,
            }
            config = uvicorn_config(self._app, settings or Settings(log_level="warning"), **options)
        except BaseException:
            self._sock.close()
            raise
        self._ready = threading.Event()
        self._server = _ThreadServer(config, self._ready, stopping)
        self._thread: threading.Thread | None = None
        self._cancelled = False
        self._error_reported = False
        self.error: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The server's event loop while it runs (the loop that owns the app's state)."""
        loop = self._server.loop
        return loop if loop is not None and not loop.is_closed() else None

    @property
    def url(self) -> str:
        return format_url(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._server.started

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; return once uvicorn is listening, or raise why it could not."""
        if self._thread is not None:
            raise CobaltMockError(f"server at {self.url} was already started; make a new one")
        self._thread = threading.Thread(
            target=self._run, name=f"cobalt-mock-uvicorn-{self.port}", daemon=True
        )
        self._thread.start()
        # `ready` is set once uvicorn reports `started`, and also when the thread ends for any
        # reason, so this one wait covers success, failure and a hang.
        if not self._ready.wait(timeout):
            self._halt(timeout)
            self._sock.close()
            self._error_reported = True
            state = "it is still running" if self._thread.is_alive() else "it has been stopped"
            raise CobaltMockError(
                f"ASGI server at {self.url} did not start within {timeout:g}s ({state})"
            ) from self.error
        if not self._server.started or not self._thread.is_alive() or self.error is not None:
            self._thread.join(timeout)
            self._sock.close()
            self._error_reported = True
            raise CobaltMockError(self._failure_text("failed to start")) from self.error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread; safe to call more than once, or before ``start``."""
        thread = self._thread
        if thread is not None:
            self._server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                self._halt(timeout)
            if thread.is_alive():
                raise CobaltMockError(
                    f"ASGI server thread at {self.url} did not stop within {timeout:g}s; "
                    "something is blocking its event loop"
                )
        self._sock.close()
        if self.error is not None and not self._error_reported:
            self._error_reported = True
            raise CobaltMockError(self._failure_text("died while serving")) from self.error

    def _halt(self, timeout: float) -> None:
        """Escalate a stop or a start that timed out, then wait for the thread again."""
        assert self._thread is not None
        self._server.should_exit = True
        loop = self._server.loop
        if loop is not None:
            self._cancelled = True
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to cancel
                loop.call_soon_threadsafe(self._server.halt)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:
            if not (self._cancelled and isinstance(exc, asyncio.CancelledError)):
                # uvicorn turns a failed startup into SystemExit(3) after logging the cause; the
                # lifespan watch kept the cause, which is what the user needs to see.
                self.error = self._app.error if isinstance(exc, SystemExit) and self._app.error else exc
        finally:
            self._ready.set()

    def _failure_text(self, what: str) -> str:
        text = f"ASGI server at {self.url} {what}"
        cause = self.error
        if cause is None:
            return f"{text}: uvicorn stopped without an error (see the uvicorn.error log)"
        if not isinstance(cause, SystemExit):
            return f"{text}: {type(cause).__name__}: {cause}"
        if self._app.failure_message:
            return f"{text}; the app's lifespan reported: {self._app.failure_message}"
        return f"{text}: uvicorn exited with code {cause.code} (see the uvicorn.error log)"

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<ServerThread {self.url} running={self.running}>"


class FakeServer(ServerThread):
    """The fake (``create_app(settings)``) on a ``ServerThread`` with its settings' configuration;
    ``transport`` replaces the network for webhook delivery. ``state`` is its model."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        settings = settings or Settings()
        app = create_app(settings, transport=transport)
        self.state: MockState = app.state.cobalt
        super().__init__(
            app, settings.host, settings.port, settings=settings, sock=sock, stopping=app.stopping
        )
