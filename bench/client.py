"""A raw keep-alive HTTP/1.1 client: the fallback load generator, and the latency probe's client.

``python -m bench.client URL --connections 32 --seconds 5 --body week`` runs in its own process (so
it never shares a core's interpreter with a server) and prints one JSON object: requests, seconds,
requests/s, p50/p99 latency in ms and error counts. Used only when ``wrk`` is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

HEADERS = {
    "content-type": "application/json",
    "client_id": "ci_bench",
    "client_secret": "cs_bench",
    "access_token": "tok_bench_clinic",
}
WEEK = b'{"start_date":"2025-01-06","end_date":"2025-01-12"}'


def bodies(kind: str, prefix: str = "c") -> Iterator[bytes]:
    """``week``: the README's one-week date-range fetch, every time; ``mrn``: MRN fetches, each a new
    patient (2-15 appointments, a ~2 KB webhook), so no two jobs generate the same data."""
    if kind == "week":
        return itertools.repeat(WEEK)
    return (b'{"search_by":"mrn","mrn":"bench-%s-%d"}' % (prefix.encode(), n) for n in itertools.count(1))


def request_bytes(host: str, path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {len(body)}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    return head.encode() + b"\r\n" + body


class Connection:
    """One keep-alive connection; ``post`` returns (status, body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def load(url: str, connections: int, seconds: float, kind: str, limit: int | None) -> dict[str, object]:
    parts = urlsplit(url)
    host = parts.netloc
    latencies: list[float] = []
    errors = {"non_2xx": 0, "socket": 0}
    sent = itertools.count()
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        source = bodies(kind, f"c{index}")
        try:
            conn = await Connection.open(url)
        except OSError:
            errors["socket"] += 1
            return
        try:
            while time.perf_counter() < deadline and (limit is None or next(sent) < limit):
                data = request_bytes(host, parts.path, next(source))
                started = time.perf_counter()
                status, _ = await conn.send(data)
                latencies.append(time.perf_counter() - started)
                if not 200 <= status < 400:
                    errors["non_2xx"] += 1
        except (OSError, asyncio.IncompleteReadError):
            errors["socket"] += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "tool": "python-client",
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        **errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Fallback load generator (keep-alive, raw sockets).")
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--body", choices=("week", "mrn"), default="week")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many requests")
    args = parser.parse_args()
    from bench.sink import print_result

    print_result(lambda: load(args.url, args.connections, args.seconds, args.body, args.limit))


if __name__ == "__main__":
    main()
