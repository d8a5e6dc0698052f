"""The reliability runs' webhook receiver: answers each delivery as the fault script says and records
every arrival (a digest of its body, its headers, when it came, what it was answered)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from dataclasses import dataclass

import orjson

from bench.fault_script import Answer, FaultScript
from mock_server.delivery.webhook import verify
from mock_server.settings import DEFAULT_WEBHOOK_SECRET


@dataclass(frozen=True, slots=True)
class Arrival:
    job_id: str | None
    attempt: int | None
    event_id: str | None
    timestamp: str | None
    signature: str | None
    signature_ok: bool
    digest: bytes
    at: float  # time.monotonic()
    answer: Answer


class FaultReceiver:
    """A webhook receiver on 127.0.0.1 that answers by the script and records every arrival.

    Plain asyncio streams on the caller's loop; HTTP/1.1 with Content-Length bodies (what the fake
    sends), keep-alive honoured. Cheap: a digest of each body is kept, not the body.
    """

    def __init__(self, script: FaultScript, secret: str = DEFAULT_WEBHOOK_SECRET) -> None:
        self.script = script
        self.secret = secret
        self.arrivals: list[Arrival] = []
        self.malformed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.url = ""
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, limit=1 << 20)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}/hooks"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def wait_for(self, count: int, timeout: float) -> bool:
        """Until ``count`` arrivals have been recorded (event-driven); False on timeout."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self.arrivals) < count:
                    self._changed.clear()
                    await self._changed.wait()
        return len(self.arrivals) >= count

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    answer = self._record(headers, body)
                    if self.script.delay:
                        await asyncio.sleep(self.script.delay)
                    if answer == "close":
                        return
                    status = b"500 Internal Server Error" if answer == "500" else b"200 OK"
                    writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                finally:
                    self.in_flight -= 1
                if headers.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            return
        finally:
            writer.close()

    def _record(self, headers: dict[str, str], body: bytes) -> Answer:
        try:
            job_id = orjson.loads(body).get("job_id")
        except (orjson.JSONDecodeError, AttributeError):
            job_id = None
        attempt_text = headers.get("webhook-attempt", "")
        attempt = int(attempt_text) if attempt_text.isdigit() else None
        if not isinstance(job_id, str) or attempt is None:
            self.malformed += 1
            answer: Answer = "ok"
            job_id = job_id if isinstance(job_id, str) else None
        else:
            answer = self.script.answer(job_id, attempt)
        signature = headers.get("cobalt-verification")
        self.arrivals.append(
            Arrival(
                job_id,
                attempt,
                headers.get("webhook-id"),
                headers.get("webhook-timestamp"),
                signature,
                signature is not None and verify(self.secret, body, signature),
                hashlib.blake2b(body, digest_size=16).digest(),
                time.monotonic(),
                answer,
            )
        )
        self._changed.set()
        return answer
