"""KeepAliveSender: the webhook sender's contract on real loopback sockets, against scripted answers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from mock_server.delivery.keepalive import USER_AGENT, KeepAliveSender, plain_target
from mock_server.delivery.senders import REPLY_LIMIT, DeliveryFailed, HttpxSender, Reply

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
CLOSE = b""  # close the connection without answering
HANG = b"hang"  # never answer
HEADERS = {"content-type": "application/json", "cobalt-verification": "ab12", "webhook-attempt": "1"}


class Script:
    """A loopback HTTP/1.1 server answering each request with the next scripted raw answer."""

    def __init__(self, *answers: bytes | tuple[bytes, str]) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"content-length: (\d+)", head)
                body = await reader.readexactly(int(match.group(1))) if match else b""
                self.requests.append(head + body)
                answer = self.answers.pop(0) if self.answers else OK
                then = ""
                if isinstance(answer, tuple):
                    answer, then = answer
                if answer == CLOSE:
                    break
                if answer == HANG:
                    await asyncio.sleep(10)
                writer.write(answer)
                await writer.drain()
                if then == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def run(self, test: Callable[[str], Awaitable[None]]) -> None:
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await test(f"http://127.0.0.1:{port}/hooks/cobalt?x=1")
        finally:
            for writer in self.writers:
                writer.close()
            server.close()


def run(script: Script, test: Callable[[str], Awaitable[None]]) -> None:
    asyncio.run(script.run(test))


async def failure(sender: KeepAliveSender, url: str, timeout: float = 2.0) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as info:
        await sender(url, b"{}", HEADERS, timeout)
    return info.value


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9000/hooks", ("127.0.0.1", 9000, "/hooks", "127.0.0.1:9000")),
        ("http://localhost/a/b?c=d&e=%2F", ("localhost", 80, "/a/b?c=d&e=%2F", "localhost")),
        ("http://[::1]:8080", ("::1", 8080, "/", "[::1]:8080")),
    ],
)
def test_plain_http_urls_are_sent_as_written(url: str, expected: tuple[str, int, str, str]) -> None:
    host, port, target, netloc = expected
    head = f"POST {target} HTTP/1.1\r\nhost: {netloc}\r\nuser-agent: {USER_AGENT}\r\n".encode()
    assert plain_target(url) == (host, port, head)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "http://user:pass@127.0.0.1/hooks",
        "http://bücher.example/hooks",
        "http://127.0.0.1/a b",
        "http://127.0.0.1/ä",
        "http://127.0.0.1/100%",
        "http://127.0.0.1/%zz",
        "http://127.0.0.1:99999/",
        "http:///nohost",
    ],
)
def test_anything_else_goes_to_httpx(url: str) -> None:
    assert plain_target(url) is None


def test_posts_the_exact_bytes_and_keeps_the_connection() -> None:
    script = Script(OK, b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy", OK)

    async def test(url: str) -> None:
        sender = KeepAliveSender()
        assert [await sender(url, b'{"a":1}', HEADERS, 2) for _ in range(3)] == [
            Reply(200),
            Reply(503, b"busy"),
            Reply(200),
        ]
        await sender.aclose()

    run(script, test)
    assert script.connections == 1
    head, _, body = script.requests[0].partition(b"\r\n\r\n")
    assert body == b'{"a":1}'
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /hooks/cobalt?x=1 HTTP/1.1"
    assert b"content-length: 7" in lines
    assert b"cobalt-verification: ab12" in lines
    assert b"webhook-attempt: 1" in lines


def test_bodies_ended_by_close_interim_answers_and_closing_answers() -> None:
    script = Script(
        (b"HTTP/1.1 202 Accepted\r\n\r\nsee you", "close"),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        (b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n", "close"),
        b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    )

    async def test(url: str) -> None:
        sender = KeepAliveSender()
        assert [await sender(url, b"{}", HEADERS, 2) for _ in range(5)] == [
            Reply(202, b"see you"),
            Reply(204),
            Reply(200),
            Reply(200),
            Reply(200, b"ok"),
        ]
        await sender.aclose()

    run(script, test)
    assert script.connections == 4  # new after the close-delimited, the closing and the HTTP/1.0 answers


def test_connection_failures_are_retryable_and_timeouts_are_not() -> None:
    script = Script(
        CLOSE,
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "close"),
        b"nonsense\r\n\r\n",
        HANG,
    )

    async def test(url: str) -> None:
        sender = KeepAliveSender()
        closed = await failure(sender, url)
        assert closed.retryable
        assert str(closed) == "RemoteProtocolError: Server disconnected without sending a response."
        cut = await failure(sender, url)
        assert (cut.retryable, str(cut)) == (
            True,
            "RemoteProtocolError: peer closed connection without sending complete message body",
        )
        malformed = await failure(sender, url)
        assert malformed.retryable
        assert str(malformed).startswith("RemoteProtocolError: malformed response")
        slow = await failure(sender, url, timeout=0.2)
        assert (slow.retryable, str(slow)) == (False, "timed out after 0.2s")
        refused = await failure(sender, "http://127.0.0.1:1/hooks")
        assert refused.retryable
        assert str(refused).startswith("ConnectError: ")
        await sender.aclose()

    run(script, test)


def test_a_reset_connection_is_a_retryable_failure() -> None:
    async def test() -> None:
        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.transport.abort()

        server = await asyncio.start_server(reset, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        sender = KeepAliveSender()
        failed = await failure(sender, f"http://127.0.0.1:{port}/")
        assert failed.retryable
        server.close()
        await sender.aclose()

    asyncio.run(test())


def test_idle_connections_are_bounded_and_dropped_when_stale_or_chatty() -> None:
    script = Script()

    async def test(url: str) -> None:
        sender = KeepAliveSender(max_connections=1)
        await asyncio.gather(sender(url, b"{}", HEADERS, 2), sender(url, b"{}", HEADERS, 2))
        assert script.connections == 2  # two at once; only one kept
        script.writers[-1].close()  # the server drops an idle connection...
        script.writers[0].write(b"HTTP/1.1 200 OK\r\n\r\n")  # ...or talks on one unasked
        await asyncio.sleep(0.05)
        assert await sender(url, b"{}", HEADERS, 2) == Reply(200)
        assert script.connections == 3
        await sender.aclose()

    run(script, test)


def test_urls_it_does_not_take_go_to_the_fallback() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    async def test() -> None:
        fallback = HttpxSender(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        sender = KeepAliveSender(fallback=fallback)
        assert await sender("https://example.com/hooks", b"{}", HEADERS, 2) == Reply(201)
        await sender.aclose()

    asyncio.run(test())
    assert [str(r.url) for r in seen] == ["https://example.com/hooks"]


def test_the_app_uses_it_unless_a_transport_is_given() -> None:
    from mock_server.api.app import make_sender

    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    assert [type(make_sender(t, 4)) for t in (None, transport)] == [KeepAliveSender, HttpxSender]


def test_an_answer_body_is_kept_up_to_the_limit_and_read_to_its_end() -> None:
    long = b"x" * (REPLY_LIMIT + 100)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(long), long)
    script = Script(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: %d\r\n\r\n%s" % (len(long), long),
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunked,
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nafter",
    )

    async def test(url: str) -> None:
        sender = KeepAliveSender()
        cut = Reply(500, long[:REPLY_LIMIT], True)
        assert [await sender(url, b"{}", HEADERS, 2) for _ in range(3)] == [
            cut,
            cut._replace(status=200),
            Reply(200, b"after"),
        ]
        await sender.aclose()

    run(script, test)
    assert script.connections == 1  # a long answer is read to its end: the connection stays usable
