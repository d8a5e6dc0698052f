"""The read deadline the fake's uvicorn configuration adds (``cobalt-mock serve`` and the plugin alike)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from mock_server.api.app import create_app
from mock_server.api.serving import uvicorn_config
from mock_server.settings import Settings
from mock_server.testing.server import FakeServer

READ_TIMEOUT = 0.3
HEALTH = b"GET /_mock/health HTTP/1.1\r\nhost: x\r\n\r\n"


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    settings = Settings().replace(
        log_level="warning", port=0, api_latency=2 * READ_TIMEOUT, read_timeout=READ_TIMEOUT
    )
    with FakeServer(settings) as thread:
        yield thread.host, thread.port


def _answer_then_close(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it hangs up, and when it hung up (awaited, not slept)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic()


def test_an_idle_keep_alive_connection_is_closed_a_read_timeout_after_its_last_answer(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        time.sleep(0.05)  # the answer moves the deadline past the timer set at connection
        sock.sendall(HEALTH)  # the control plane: answered at once (no api_latency)
        sent = time.monotonic()
        received, closed = _answer_then_close(sock)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert READ_TIMEOUT * 0.9 <= closed - sent < 5


def test_an_answer_slower_than_the_deadline_is_not_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(HEALTH.replace(b"/_mock/health", b"/v1/webhook"))  # journaled: api_latency applies
        sent = time.monotonic()
        received, closed = _answer_then_close(sock)
    assert received.startswith(b"HTTP/1.1 401 ")  # answered after 0.6 s, past the 0.3 s deadline
    assert 2 * READ_TIMEOUT + READ_TIMEOUT * 0.9 <= closed - sent < 5  # then a new deadline ran


def test_a_request_trickling_in_is_closed_at_the_deadline(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        opened = time.monotonic()
        sock.sendall(b"GET /_mock/health HTTP/1.1\r\n")  # and never the rest
        received, closed = _answer_then_close(sock)
    assert received == b""
    assert READ_TIMEOUT * 0.9 <= closed - opened < 5


@pytest.mark.parametrize(
    ("level", "logged"), [("warning", False), ("error", False), ("info", True), ("debug", True)]
)
def test_access_lines_are_made_only_where_the_log_level_shows_them(level: str, logged: bool) -> None:
    settings = Settings().replace(log_level=level)
    config = uvicorn_config(create_app(settings), settings)
    assert config.access_log is logged
    assert config.proxy_headers is False  # nothing reads the client's address; X-Forwarded-For is not applied
