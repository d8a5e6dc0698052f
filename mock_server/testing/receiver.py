"""A local webhook receiver: records every delivery and answers as a test tells it to.

h11 reads and writes the HTTP/1.1 (parsing, framing, keep-alive, ``Expect: 100-continue``); the
sockets are the receiver's own, on ``asyncio.start_server`` rather than an ASGI app, because it must
be able to misbehave below HTTP: hang before answering, close the connection without an answer, or
reset it. It runs on its own event loop in its own thread, on a socket bound (port 0) before the
thread starts. Anything malformed gets a 4xx (400, 413 or 431) and a closed connection; nothing a
client sends can stop it serving.

Each delivery is checked twice against the receiver's secrets: HMAC over the raw bytes, and the way
Cobalt's documented Node receiver does it (re-serialize the parsed body, then HMAC).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import h11
import orjson

from mock_server.api.serving import bind_socket, format_url
from mock_server.delivery.webhook import SIGNATURE_HEADER, serialize, verify, verify_parsed
from mock_server.errors import CobaltMockError, ConfigError

__all__ = ["Behaviour", "Delivery", "WebhookReceiver", "WebhookTimeout"]

logger = logging.getLogger(__name__)

MAX_LISTED = 100  # deliveries listed in a timeout message
MAX_HEAD_BYTES = 64 * 1024  # h11's max_incomplete_event_size: a head still incomplete past it is a 431
MAX_HEADERS = 100  # header (and trailer) fields in one request; h11 sets no such limit
MAX_BODY_BYTES = 16 * 1024 * 1024
_READ_BYTES = 64 * 1024
_LINGER_SECONDS = 1.0  # how long a refused client may go on sending before the connection closes

_PHRASES = {status.value: status.phrase for status in http.HTTPStatus}
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_CONTINUE = h11.InformationalResponse(status_code=100, headers=[], reason="Continue")
_DIGITS = re.compile(r"[0-9]{1,19}")


class WebhookTimeout(CobaltMockError, AssertionError):
    """The awaited delivery did not arrive in time; the message lists what did arrive."""


@dataclass(frozen=True)
class Behaviour:
    """How the receiver answers one request. Build one with the class methods."""

    action: Literal["respond", "close", "reset"] = "respond"
    code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay: float = 0.0

    @classmethod
    def status(cls, code: int, headers: Mapping[str, str] | None = None, body: object = b"") -> Behaviour:
        """Answer ``code``. ``body`` is bytes, text, or anything JSON-serializable."""
        return cls._respond(code, headers, body, 0.0)

    @classmethod
    def slow(
        cls,
        seconds: float,
        then_status: int = 200,
        headers: Mapping[str, str] | None = None,
        body: object = b"",
    ) -> Behaviour:
        """Wait ``seconds`` after the request has arrived, then answer ``then_status``."""
        if not seconds >= 0:
            raise ConfigError(f"a slow answer needs seconds >= 0; got {seconds!r}")
        return cls._respond(then_status, headers, body, float(seconds))

    @classmethod
    def close(cls) -> Behaviour:
        """Read the request, then close the connection without answering."""
        return cls(action="close", code=0)

    @classmethod
    def reset(cls) -> Behaviour:
        """Read the request, then abort the connection with a TCP reset."""
        return cls(action="reset", code=0)

    @classmethod
    def _respond(cls, code: int, headers: Mapping[str, str] | None, body: object, delay: float) -> Behaviour:
        if isinstance(code, bool) or not isinstance(code, int) or not 200 <= code <= 599:
            raise ConfigError(f"a receiver answers with a status from 200 to 599; got {code!r}")
        pairs = [(str(name).lower(), str(value)) for name, value in (headers or {}).items()]
        if framing := _FRAMING.intersection(name for name, _ in pairs):
            raise ConfigError(f"not a valid response header: {min(framing)} is the receiver's to set")
        try:  # h11's own checks, now rather than as a dropped connection when it answers
            h11.Response(status_code=code, headers=pairs)
        except (h11.LocalProtocolError, UnicodeEncodeError) as exc:
            raise ConfigError(f"not a valid response header: {exc}") from None
        data, content_type = _encode_body(body)
        if data and content_type and all(name != "content-type" for name, _ in pairs):
            pairs.insert(0, ("content-type", content_type))
        return cls(action="respond", code=code, headers=tuple(pairs), body=data, delay=delay)

    def describe(self) -> str:
        if self.action != "respond":
            return "close the connection" if self.action == "close" else "reset the connection"
        return f"answer {self.code}" + (f" after {self.delay:g}s" if self.delay else "")


def _encode_body(body: object) -> tuple[bytes, str | None]:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return serialize(body), "application/json"


DEFAULT_BEHAVIOUR = Behaviour.status(200, body={"received": True})


@dataclass(frozen=True)
class Delivery:
    """One request the receiver recorded, with its signature checked as Cobalt's receivers do."""

    method: str
    path: str  # the request target as sent, query string included
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    payload: Any  # the parsed JSON body, or None if it is not JSON
    received_at: float  # time.monotonic()
    attempt: int | None  # webhook-attempt
    event_id: str | None  # webhook-id
    job_id: str | None  # payload["job_id"]
    signature_valid: bool | None  # HMAC of the raw bytes; None when no secret is configured
    reserialized_valid: bool | None  # HMAC of JSON.stringify(JSON.parse(body)), as Node does
    status: int | None  # what the receiver answered; None if it dropped the connection

    def describe(self) -> str:
        """One line for failure messages: what arrived and what the receiver made of it."""
        if self.payload is not None or self.body.strip() == b"null":
            about = f"job_id={self.job_id!r} id={self.event_id!r} attempt={self.attempt}"
        else:
            about = f"body not JSON ({len(self.body)} bytes) id={self.event_id!r}"
        answered = "dropped the connection" if self.status is None else f"answered {self.status}"
        return f"{self.method} {self.path} {about}; {answered}; {self._describe_signature()}"

    def _describe_signature(self) -> str:
        if self.signature_valid is None:
            return "signature not checked (no secret configured)"
        if SIGNATURE_HEADER not in self.headers:
            return f"no {SIGNATURE_HEADER} header"
        raw = "valid" if self.signature_valid else "INVALID"
        parsed = "valid" if self.reserialized_valid else "INVALID"
        if raw == parsed:
            return f"signature {raw}"
        return f"signature {raw} over the raw body, {parsed} re-serialized"


class WebhookReceiver:
    """Records webhook deliveries on a local port; tests wait for them and script the answers."""

    def __init__(
        self,
        secret: str | None = None,
        *,
        secrets: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._secrets = (*((secret,) if secret is not None else ()), *secrets)
        self._sock = bind_socket(host, port)
        self.host: str = self._sock.getsockname()[0]
        self.port: int = self._sock.getsockname()[1]
        self._cond = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._queue: deque[Behaviour] = deque()
        self._default = DEFAULT_BEHAVIOUR
        self._rejected: list[str] = []
        self._errors: list[BaseException] = []
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._epoch = time.monotonic()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._serving = False
        self._error_reported = False
        self.error: BaseException | None = None

    # -- configuration ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return format_url(self.host, self.port)

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    @secrets.setter
    def secrets(self, value: Sequence[str]) -> None:
        """Replace the secrets checked from now on (e.g. after registering or rotating)."""
        self._secrets = tuple(value)

    @property
    def default(self) -> Behaviour:
        with self._cond:
            return self._default

    @default.setter
    def default(self, behaviour: Behaviour) -> None:
        with self._cond:
            self._default = behaviour

    def respond_with(self, *behaviours: Behaviour) -> None:
        """Queue answers: each next request consumes one; then ``default`` applies again."""
        with self._cond:
            self._queue.extend(behaviours)

    def clear(self) -> None:
        """Forget deliveries, queued answers, rejections and errors; restore the default answer."""
        with self._cond:
            self._deliveries.clear()
            self._queue.clear()
            self._default = DEFAULT_BEHAVIOUR
            self._rejected.clear()
            self._errors.clear()
            self._epoch = time.monotonic()

    # -- what arrived -------------------------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._cond:
            return list(self._deliveries)

    @property
    def rejected(self) -> list[str]:
        """Why each malformed request was answered 400 (they are not deliveries)."""
        with self._cond:
            return list(self._rejected)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected failures inside the receiver itself; each cost a dropped connection."""
        with self._cond:
            return list(self._errors)

    def __len__(self) -> int:
        with self._cond:
            return len(self._deliveries)

    def __bool__(self) -> bool:
        return True  # a receiver with no deliveries yet is still a receiver

    @property
    def call_count(self) -> int:
        return len(self)

    @property
    def called(self) -> bool:
        return len(self) > 0

    @property
    def last(self) -> Delivery | None:
        with self._cond:
            return self._deliveries[-1] if self._deliveries else None

    # -- waiting ------------------------------------------------------------------------------

    def wait_for(
        self,
        predicate: Callable[[Delivery], bool],
        timeout: float = 5.0,
        *,
        count: int = 1,
        description: str | None = None,
    ) -> list[Delivery]:
        """Block until ``count`` deliveries match; return the first ``count`` of them."""
        with self._cond:
            found = self._cond.wait_for(lambda: self._enough(predicate, count), timeout)
            if found is None:
                raise self._timeout(predicate, timeout, count, description)
            return found

    async def wait_for_async(
        self,
        predicate: Callable[[Delivery], bool],
        timeout: float = 5.0,
        *,
        count: int = 1,
        description: str | None = None,
    ) -> list[Delivery]:
        """``wait_for`` for a test's own event loop: the loop keeps running while it waits."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._cond:
            self._async_waiters.add(waiter)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    waiter[1].clear()
                    with self._cond:
                        found = self._enough(predicate, count)
                    if found is not None:
                        return found
                    await waiter[1].wait()
        except TimeoutError:
            with self._cond:
                raise self._timeout(predicate, timeout, count, description) from None
        finally:
            with self._cond:
                self._async_waiters.discard(waiter)

    def wait_for_webhook(self, job_id: str, timeout: float = 5.0) -> Delivery:
        """The first delivery whose payload has this ``job_id``."""
        return self.wait_for(
            lambda d: d.job_id == job_id, timeout, description=f"a webhook for job_id {job_id!r}"
        )[0]

    async def wait_for_webhook_async(self, job_id: str, timeout: float = 5.0) -> Delivery:
        found = await self.wait_for_async(
            lambda d: d.job_id == job_id, timeout, description=f"a webhook for job_id {job_id!r}"
        )
        return found[0]

    def _enough(self, predicate: Callable[[Delivery], bool], count: int) -> list[Delivery] | None:
        found = [delivery for delivery in self._deliveries if predicate(delivery)]
        return found[:count] if len(found) >= count else None

    def _timeout(
        self,
        predicate: Callable[[Delivery], bool],
        timeout: float,
        count: int,
        description: str | None,
    ) -> WebhookTimeout:
        """The failure message users read: what was awaited, and everything that did arrive."""
        what = description or f"a delivery matching {getattr(predicate, '__name__', predicate)}"
        if count > 1:
            what = f"{count} deliveries: {what}"
        lines = [f"Timed out after {timeout:g}s waiting for {what} at {self.url}."]
        if not self._deliveries:
            lines.append("No deliveries arrived (is the webhook registered with this receiver's URL?).")
        else:
            matched = sum(1 for delivery in self._deliveries if predicate(delivery))
            n = len(self._deliveries)
            lines.append(
                f"{n} {'delivery' if n == 1 else 'deliveries'} arrived, {matched or 'none'} matched:"
            )
            shown = [
                f"  {i}. +{d.received_at - self._epoch:.2f}s {d.describe()}"
                for i, d in enumerate(self._deliveries, 1)
            ]
            if n > MAX_LISTED:  # a benchmark's thousands would bury the message: keep both ends
                half = MAX_LISTED // 2
                shown = [*shown[:half], f"  ... {n - 2 * half} more ...", *shown[-half:]]
            lines.extend(shown)
        if self._rejected:
            lines.append(f"{len(self._rejected)} malformed request(s) were rejected:")
            lines.extend(f"  - {reason}" for reason in self._rejected)
        if self._errors:
            lines.append(f"The receiver itself failed {len(self._errors)} time(s):")
            lines.extend(f"  - {type(exc).__name__}: {exc}" for exc in self._errors)
        return WebhookTimeout("\n".join(lines))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise CobaltMockError(f"receiver at {self.url} was already started; make a new one")
        self._thread = threading.Thread(
            target=self._run, name=f"cobalt-mock-receiver-{self.port}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(timeout) or not self._serving:
            self._error_reported = True
            with contextlib.suppress(CobaltMockError):
                self.stop(timeout)
            cause = self.error
            reason = f": {type(cause).__name__}: {cause}" if cause else f" within {timeout:g}s"
            raise CobaltMockError(f"webhook receiver at {self.url} failed to start{reason}") from cause

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving, drop open connections and join the thread; safe to repeat."""
        thread = self._thread
        if thread is not None:
            loop, stopping = self._loop, self._stopping
            if loop is not None and stopping is not None:
                with contextlib.suppress(RuntimeError):  # loop already closed: thread is ending
                    loop.call_soon_threadsafe(stopping.set)
            thread.join(timeout)
            if thread.is_alive():
                raise CobaltMockError(
                    f"webhook receiver thread at {self.url} did not stop within {timeout:g}s"
                )
        self._sock.close()
        if self.error is not None and not self._error_reported:
            self._error_reported = True
            raise CobaltMockError(f"webhook receiver at {self.url} died") from self.error

    def __enter__(self) -> WebhookReceiver:
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
        return f"<WebhookReceiver {self.url} deliveries={len(self)}>"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle_connection, sock=self._sock)
        self._serving = True
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            connections = list(self._connections)
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()

    # -- HTTP/1.1 -----------------------------------------------------------------------------

    async def _handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._converse(reader, writer)
        except OSError:
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # stop() cancels open connections; ending quietly keeps asyncio's stream callback from
            # logging the cancellation as an error (it calls task.exception() on Python 3.11).
            pass
        except Exception as exc:
            # A bug here must cost one connection, not the receiver; timeouts report it.
            logger.exception("webhook receiver failed while handling a request")
            with self._cond:
                self._errors.append(exc)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        while True:
            head = False
            try:
                request = await _next_event(conn, reader, writer)
                if not isinstance(request, h11.Request):
                    return  # ConnectionClosed: the client left between requests
                head = request.method == b"HEAD"
                headers = _headers(request)
                body = await _read_body(conn, reader, writer)
            except h11.RemoteProtocolError as refused:
                await self._reject(conn, reader, writer, refused, head=head)
                return
            with self._cond:
                behaviour = self._queue.popleft() if self._queue else self._default
            self._record(self._delivery(request, headers, body, behaviour))
            if behaviour.action == "close":
                return
            if behaviour.action == "reset":
                _reset(writer)
                return
            if behaviour.delay:
                await asyncio.sleep(behaviour.delay)
            writer.write(_answer(conn, behaviour, head=head))
            await writer.drain()
            if conn.our_state is not h11.DONE:  # MUST_CLOSE: either side said close, or HTTP/1.0
                return
            conn.start_next_cycle()

    async def _reject(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        refused: h11.RemoteProtocolError,
        *,
        head: bool,
    ) -> None:
        """Record and answer a request the receiver will not take, then end the connection."""
        # h11 hints 501 for a transfer coding it does not know; the receiver's word is a 4xx.
        hint = refused.error_status_hint
        status = hint if 400 <= hint < 500 else 400
        reason = str(refused)
        reason = reason if len(reason) <= 200 else f"{reason[:200]}..."
        with self._cond:
            self._rejected.append(f"{status}: {reason}")
        answer = Behaviour.status(status, {"connection": "close"}, f"{_PHRASES[status]}: {reason}\n")
        writer.write(_answer(conn, answer, head=head))
        await writer.drain()
        # Closing on unread input would send a reset that can destroy the answer before the client
        # reads it (RFC 9112 §9.6): send FIN, then discard what still comes, for a while.
        writer.write_eof()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_LINGER_SECONDS):
                while await reader.read(_READ_BYTES):
                    pass

    def _delivery(
        self, request: h11.Request, headers: dict[str, str], body: bytes, behaviour: Behaviour
    ) -> Delivery:
        try:
            payload, is_json = orjson.loads(body), True
        except orjson.JSONDecodeError:
            payload, is_json = None, False
        secrets = self._secrets
        signature = headers.get(SIGNATURE_HEADER)
        raw_ok: bool | None = None
        parsed_ok: bool | None = None
        if secrets:
            raw_ok = signature is not None and any(verify(s, body, signature) for s in secrets)
            parsed_ok = (
                signature is not None
                and is_json
                and any(verify_parsed(s, payload, signature) for s in secrets)
            )
        attempt = headers.get("webhook-attempt", "")
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        return Delivery(
            method=request.method.decode("ascii"),
            path=request.target.decode("ascii"),
            headers=headers,
            body=body,
            payload=payload,
            received_at=time.monotonic(),
            attempt=int(attempt) if _DIGITS.fullmatch(attempt) else None,
            event_id=headers.get("webhook-id"),
            job_id=job_id if isinstance(job_id, str) else None,
            signature_valid=raw_ok,
            reserialized_valid=parsed_ok,
            status=behaviour.code if behaviour.action == "respond" else None,
        )

    def _record(self, delivery: Delivery) -> None:
        with self._cond:
            self._deliveries.append(delivery)
            self._cond.notify_all()
            waiters = list(self._async_waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that test's loop has closed meanwhile
                loop.call_soon_threadsafe(event.set)


async def _next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> h11.Event:
    """The next h11 event, reading as h11 needs and sending ``100 Continue`` when h11 says a client waits."""
    while (event := conn.next_event()) is h11.NEED_DATA:
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(_CONTINUE))
        conn.receive_data(await reader.read(_READ_BYTES))
    assert isinstance(event, h11.Event)  # not PAUSED: each cycle starts before its request is read
    return event


def _headers(request: h11.Request) -> dict[str, str]:
    """The request's fields (repeats joined with ", "), after the limits and rules h11 leaves to us.

    Refusals raise ``h11.RemoteProtocolError``, as h11's own do, so one handler answers them all.
    """
    if request.http_version not in (b"1.0", b"1.1"):  # h11 reads any HTTP/x.y, HTTP/2's preface too
        raise h11.RemoteProtocolError(f"unsupported HTTP version {request.http_version.decode()}")
    if len(request.headers) > MAX_HEADERS:
        raise h11.RemoteProtocolError(f"more than {MAX_HEADERS} header fields", error_status_hint=431)
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.headers:
        name, value = raw_name.decode("ascii"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    # h11 would frame these by Transfer-Encoding alone; RFC 9112 §6.1 and §6.3 call them faulty
    # framing, the shape request smuggling takes.
    if "transfer-encoding" in headers and ("content-length" in headers or request.http_version == b"1.0"):
        raise h11.RemoteProtocolError("Transfer-Encoding with Content-Length, or in HTTP/1.0")
    length = headers.get("content-length", "0")  # digits: h11 has checked it
    if int(length) > MAX_BODY_BYTES:
        raise h11.RemoteProtocolError(
            f"body of {length} bytes is over {MAX_BODY_BYTES}", error_status_hint=413
        )
    return headers


async def _read_body(
    conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bytes:
    """The request's body, up to ``MAX_BODY_BYTES``; a declared length was checked in ``_headers``."""
    parts: list[bytes] = []
    size = 0
    while isinstance(event := await _next_event(conn, reader, writer), h11.Data):
        size += len(event.data)
        if size > MAX_BODY_BYTES:
            raise h11.RemoteProtocolError(f"chunked body over {MAX_BODY_BYTES} bytes", error_status_hint=413)
        parts.append(event.data)
    assert isinstance(event, h11.EndOfMessage)  # h11 raises for anything else inside a body
    if len(event.headers) > MAX_HEADERS:
        raise h11.RemoteProtocolError(f"more than {MAX_HEADERS} trailer fields", error_status_hint=431)
    return b"".join(parts)


def _answer(conn: h11.Connection, behaviour: Behaviour, *, head: bool) -> bytes:
    """The response's bytes as h11 writes them, framed by Content-Length."""
    code = behaviour.code
    headers = list(behaviour.headers)
    body = behaviour.body
    if code in (204, 304):  # never a body, so no framing header
        body = b""
    else:
        headers.insert(0, ("content-length", str(len(body))))
    if head:  # the headers a GET would get, no body
        body = b""
    data = conn.send(h11.Response(status_code=code, headers=headers, reason=_PHRASES.get(code, "")))
    if body:
        data += conn.send(h11.Data(data=body))
    return data + conn.send(h11.EndOfMessage())


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with RST rather than FIN: SO_LINGER with a zero timeout, then abort."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
