"""The handle's side of the fake's event loop: calls made there, and the errors raised there.

The fake's state belongs to its loop (in the server thread), so ``CobaltMock`` reads and changes it
there. The fake records each exception raised inside it (a handler's 500, a failed job) in
``state.errors``; the plugin hands each one to the test that caused it, once, as the cause of a
``ServerError``, or as a report section of a test that failed anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from mock_server.errors import CobaltMockError

if TYPE_CHECKING:
    import pytest

    from mock_server.model.state import MockState
    from mock_server.testing.session import CobaltMockServer

__all__ = ["LOOP_TIMEOUT", "OnTheLoop", "ServerError"]

T = TypeVar("T")
LOOP_TIMEOUT = 30.0


class ServerError(CobaltMockError):
    """The fake raised inside its thread during a test; the server's traceback is its cause."""


class OnTheLoop:
    """Base of the per-test handle: the fake's state on its loop, and the errors it recorded."""

    server: CobaltMockServer
    _reported: int  # errors already handed to pytest

    @property
    def state(self) -> MockState:
        """The fake's ``MockState`` (for what the handle does not offer)."""
        return self.server.state

    # errors raised inside the server

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the fake raised during this test (handlers' 500s, failed jobs)."""
        return self._settled(lambda: list(self.state.errors))

    def _new_errors(self) -> list[BaseException]:
        def take() -> list[BaseException]:
            errors = self.state.errors[self._reported :]
            self._reported += len(errors)
            return errors

        return self._settled(take)

    def _settled(self, read: Callable[[], T]) -> T:
        """``read()`` of the errors, on the fake's loop once the server has finished with them.

        The server records an error and logs it, traceback and all, in one step of its loop, and a
        client can have its 500 before that step ends (a handler's error is logged after the answer
        is sent). Read on the loop, the errors come after that step: pytest must not format a
        traceback while the server thread formats one, since CPython 3.11's parser keeps one
        recursion counter for all threads ("SystemError: AST constructor recursion depth mismatch"
        in pytest's report, an INTERNALERROR). A server that has stopped has no thread to wait for.
        """
        loop = self.state.loop
        if loop is None or loop.is_closed():
            return read()
        return self._call(read)

    def raise_errors(self, when: str) -> None:
        __tracebackhide__ = True
        errors = self._new_errors()
        if len(errors) == 1:
            raise ServerError(
                f"cobalt-mock: the fake server raised {type(errors[0]).__name__} {when}; "
                "its traceback is above"
            ) from errors[0]
        if errors:
            raise ServerError(
                f"cobalt-mock: the fake server raised {len(errors)} exceptions {when}; see above"
            ) from BaseExceptionGroup("exceptions inside the cobalt-mock server", errors)

    def report_errors(self, item: pytest.Item) -> None:
        import traceback

        errors = self._new_errors()
        if errors:
            text = "\n".join("".join(traceback.format_exception(e)) for e in errors)
            item.add_report_section("call", "cobalt-mock server errors", text)

    # the server's event loop

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn`` on the fake's loop, which owns its state; returns its result."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return self._await(run())

    def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        import asyncio

        loop = self.state.loop
        if loop is None or loop.is_closed():
            coro.close()
            raise CobaltMockError("the cobalt-mock server is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(LOOP_TIMEOUT)
