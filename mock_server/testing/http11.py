"""The receiver's HTTP/1.1 on the wire: reading one request, writing one response, aborting.

Just enough of RFC 9112 for a test receiver that must also misbehave below HTTP: Content-Length
and chunked bodies, keep-alive, ``Expect: 100-continue``; anything malformed raises ``BadRequest``
with the status to answer (400, 413 or 431).
"""

from __future__ import annotations

import asyncio
import http
import re
import socket
import struct
from collections.abc import Sequence

MAX_LINE_BYTES = 64 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 16 * 1024 * 1024

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP/1\.([01])")
BAD_VALUE_CHAR = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
DIGITS = re.compile(r"[0-9]{1,19}")


class BadRequest(Exception):
    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class EndOfStream(BadRequest):
    """The connection ended at a line boundary: fine between requests, malformed inside one."""

    def __init__(self) -> None:
        super().__init__("connection closed in the middle of a request")


class Request:
    """One request as read. A plain class: a dataclass costs the fixture's cold start ~0.5 ms."""

    __slots__ = ("body", "headers", "http10", "keep_alive", "method", "target")

    def __init__(
        self, method: str, target: str, headers: dict[str, str], body: bytes, keep_alive: bool, http10: bool
    ) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.http10 = http10


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    try:
        line = await read_line(reader)
        if line == b"":  # RFC 9112 §2.2: ignore an empty line before the request line
            line = await read_line(reader)
    except EndOfStream:
        return None
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise BadRequest(f"malformed request line {line[:100]!r}")
    method, target, minor = (part.decode("ascii") for part in match.groups())

    pairs: list[tuple[str, str]] = []
    while (raw := await read_line(reader)) != b"":
        if len(pairs) >= MAX_HEADERS:
            raise BadRequest(f"more than {MAX_HEADERS} header fields", 431)
        raw_name, colon, raw_value = raw.partition(b":")
        if not colon or not TOKEN.fullmatch(raw_name):
            raise BadRequest(f"malformed header line {raw[:100]!r}")
        raw_value = raw_value.strip(b" \t")
        if BAD_VALUE_CHAR.search(raw_value):
            raise BadRequest(f"control character in header {raw_name.decode()!r}")
        pairs.append((raw_name.decode("ascii").lower(), raw_value.decode("latin-1")))
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value

    if minor == "1" and "host" not in headers:
        raise BadRequest("HTTP/1.1 request without a Host header")
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    keep_alive = "close" not in tokens if minor == "1" else "keep-alive" in tokens

    length = headers.get("content-length")
    chunked = "transfer-encoding" in headers
    if chunked and (length is not None or minor == "0"):
        raise BadRequest("Transfer-Encoding with Content-Length, or in HTTP/1.0")
    if chunked and headers["transfer-encoding"].lower() != "chunked":
        raise BadRequest(f"unsupported Transfer-Encoding {headers['transfer-encoding']!r}")
    if length is not None and not DIGITS.fullmatch(length):
        raise BadRequest(f"invalid Content-Length {length!r}")
    if length is not None and int(length) > MAX_BODY_BYTES:
        raise BadRequest(f"body of {length} bytes is over {MAX_BODY_BYTES}", 413)
    if (chunked or length not in (None, "0")) and (headers.get("expect", "").lower() == "100-continue"):
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if chunked:
        body = await _read_chunked(reader)
    else:
        body = await _read_exactly(reader, int(length or 0))
    return Request(method, target, headers, body, keep_alive, http10=minor == "0")


async def read_line(reader: asyncio.StreamReader) -> bytes:
    """One line without its CRLF (a bare LF is tolerated)."""
    try:
        raw = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise EndOfStream from None
        raise BadRequest("connection closed in the middle of a line") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(f"line longer than {MAX_LINE_BYTES} bytes", 431) from None
    line = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
    if b"\r" in line:
        raise BadRequest("bare CR in a line")
    return line


async def _read_exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise BadRequest(f"connection closed after {len(exc.partial)} of {n} body bytes") from None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        size_line = await read_line(reader)
        size_text = size_line.split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise BadRequest(f"malformed chunk size line {size_line[:100]!r}")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > MAX_BODY_BYTES:
            raise BadRequest(f"chunked body over {MAX_BODY_BYTES} bytes", 413)
        parts.append(await _read_exactly(reader, size))
        if await read_line(reader) != b"":
            raise BadRequest("chunk data not followed by CRLF")
    for _ in range(MAX_HEADERS + 1):  # trailer fields: read and ignored
        if await read_line(reader) == b"":
            return b"".join(parts)
    raise BadRequest(f"more than {MAX_HEADERS} trailer fields", 431)


async def write_response(
    writer: asyncio.StreamWriter,
    code: int,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    *,
    connection: str | None,
    head: bool = False,
) -> None:
    try:
        reason = http.HTTPStatus(code).phrase
    except ValueError:
        reason = ""
    bodiless = code in (204, 304)
    names = {name for name, _ in headers}
    lines = [f"HTTP/1.1 {code} {reason}"]
    if not bodiless and "content-length" not in names:
        lines.append(f"content-length: {len(body)}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if connection and "connection" not in names:
        lines.append(f"connection: {connection}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    writer.write(data if bodiless or head else data + body)
    await writer.drain()


def reset(writer: asyncio.StreamWriter) -> None:
    """Abort with RST rather than FIN: SO_LINGER with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
