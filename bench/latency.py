"""POST → verified delivery: how long a client waits for its webhook, at delay 0.

One process holds both ends, so both timestamps come from one clock: a verifying sink (registered
with ``POST /v1/webhook``) and ``--connections`` clients, each looping "POST an MRN fetch, wait until
its webhook has arrived and its signature verified". Prints one JSON object.
``python -m bench.latency FAKE_URL --connections 32 --seconds 5 [--rate 1000]``.

Without ``--rate`` the clients go as fast as they can (closed loop): the fake is saturated and each
client's wait is mostly the others' jobs ahead of its own (p50 ≈ connections ÷ throughput). With
``--rate`` the clients together start that many jobs a second, evenly spaced, and a job's latency
counts from when it was due to start, so a client held up by a slow answer is not excused for the
jobs it could not send meanwhile (no coordinated omission): the latency of a fake under that load.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from urllib.parse import urlsplit

import orjson

from bench.client import Connection, bodies, percentile, request_bytes
from bench.sink import Sink, print_result


async def probe(
    fake: str, connections: int, seconds: float, warmup: float, rate: float = 0.0
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    arrived: dict[str, tuple[float, bool]] = {}
    waiting: dict[str, asyncio.Future[None]] = {}

    def on_delivery(body: bytes, at: float, valid: bool) -> None:
        job_id = orjson.loads(body)["job_id"]
        arrived[job_id] = (at, valid)
        future = waiting.pop(job_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    secret = await _secret_of(fake)
    sink = Sink(secret, on_delivery)
    server = await loop.create_server(sink.protocol, "127.0.0.1", 0)
    hook = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    await _register(fake, hook)

    host, path = urlsplit(fake).netloc, "/v1/appointments/fetch"
    latencies: list[float] = []
    invalid = lost = 0
    start = time.perf_counter()
    measure_from, deadline = start + warmup, start + warmup + seconds

    async def worker(index: int) -> None:
        nonlocal invalid, lost
        source = bodies("mrn", f"p{index}-{int(start * 1000)}")
        conn = await Connection.open(fake)
        interval = connections / rate if rate else 0.0
        due = start + interval * index / connections  # the clients' turns spread evenly
        try:
            while True:
                if rate:
                    if (wait := due - time.perf_counter()) > 0:
                        await asyncio.sleep(wait)
                    sent, due = due, due + interval
                else:
                    sent = time.perf_counter()
                if sent >= deadline:
                    break
                status, body = await conn.send(request_bytes(host, path, next(source)))
                if status != 202:
                    raise RuntimeError(f"fetch answered {status}: {body[:200]!r}")
                job_id = orjson.loads(body)["job_id"]
                if job_id not in arrived:
                    future = waiting[job_id] = loop.create_future()
                    try:
                        await asyncio.wait_for(future, 10)
                    except TimeoutError:
                        lost += 1
                        continue
                at, valid = arrived.pop(job_id)
                if sent >= measure_from:
                    latencies.append(at - sent)
                    invalid += not valid
        finally:
            conn.close()

    try:
        await asyncio.gather(*(worker(i) for i in range(connections)))
    finally:
        await _unregister(fake, hook)
        server.close()
    elapsed = deadline - measure_from
    ordered = sorted(latencies)
    return {
        "connections": connections,
        "rate": rate,
        "deliveries": len(ordered),
        "jobs_per_s": len(ordered) / elapsed,
        "p50_ms": percentile(ordered, 0.50) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "invalid": invalid,
        "lost": lost,
    }


async def _call(base: str, method: str, path: str, body: bytes = b"") -> bytes:
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"{method} {path} HTTP/1.1\r\nhost: {parts.netloc}\r\nconnection: close\r\n"
    head += "client_id: ci_bench\r\nclient_secret: cs_bench\r\n"
    head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    data = await reader.read()
    writer.close()
    status = int(data[9:12])
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {data[:300]!r}")
    return data.partition(b"\r\n\r\n")[2]


async def _secret_of(base: str) -> str:
    secret: str = orjson.loads(await _call(base, "GET", "/v1/webhook"))["webhook_secret_key"]
    return secret


async def _register(base: str, url: str) -> None:
    await _call(base, "POST", "/v1/webhook", orjson.dumps({"webhook_url": url}))


async def _unregister(base: str, url: str) -> None:
    listed = orjson.loads(await _call(base, "GET", "/v1/webhook"))["webhook_urls"]
    for hook in listed:
        if hook["url"] == url:
            await _call(base, "DELETE", f"/v1/webhook/{hook['id']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="POST → verified webhook latency at delay 0.")
    parser.add_argument("fake")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=0.0, help="jobs/s from all clients (0: flat out)")
    args = parser.parse_args()

    print_result(lambda: probe(args.fake, args.connections, args.seconds, args.warmup, args.rate))


if __name__ == "__main__":
    main()
