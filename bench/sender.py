"""Which webhook client: the same signed ~2 KB bodies posted to the verifying sink (``bench.sink``,
its own process) on uvloop, as the fake does, by each candidate sender in turn.

Candidates: ``keepalive`` (the hand-written ``KeepAliveSender``), ``httpcore`` (an
``httpcore.AsyncConnectionPool`` used directly, no httpx layer), ``httpx`` (``HttpxSender``, an
``httpx.AsyncClient``) and ``aiohttp`` (a ``ClientSession``; a dev dependency, measured only
here). For each, at 1 and at 32 deliveries in flight: CPU per delivery (this process only; the
sink has its own), latency p50/p99 and deliveries/s. ``--rounds`` rounds, the order rotated each
round, a fresh sender per cell; the medians are reported with every round's value beside them.
Prints one JSON object. ``python -m bench.sender SINK_URL --secret S``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

from bench.sink import print_result
from mock_server.delivery.keepalive import KeepAliveSender
from mock_server.delivery.senders import HttpxSender, Reply
from mock_server.delivery.webhook import sign

BODY = orjson.dumps({"job_id": "job_bench", "data": {"appointments": ["x" * 40] * 45}})
CONCURRENCY = (1, 32)
WARMUP = 64


def candidates() -> dict[str, Callable[[], Any]]:
    return {
        "keepalive": lambda: KeepAliveSender(max_connections=64),
        "httpcore": BarePool,
        "httpx": lambda: HttpxSender(max_connections=64),
        "aiohttp": Aiohttp,
    }


class BarePool:
    """httpcore's pool with nothing around it but the total deadline every sender keeps."""

    def __init__(self) -> None:
        import httpcore

        self.pool = httpcore.AsyncConnectionPool(max_connections=64, max_keepalive_connections=64)

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        async with asyncio.timeout(timeout):
            response = await self.pool.request("POST", url, headers=list(headers.items()), content=body)
        return Reply.of(response.status, response.content)

    async def aclose(self) -> None:
        await self.pool.aclose()


class Aiohttp:
    """An ``aiohttp.ClientSession``, as its manual has it: one session, a total timeout per request."""

    def __init__(self) -> None:
        self.session: Any = None

    async def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Reply:
        import aiohttp

        if self.session is None:
            connector = aiohttp.TCPConnector(limit=64)
            self.session = aiohttp.ClientSession(connector=connector, trust_env=False)
        limit = aiohttp.ClientTimeout(total=timeout)
        async with self.session.post(url, data=body, headers=headers, timeout=limit) as response:
            return Reply.of(int(response.status), await response.read())

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()


async def cell(
    make: Callable[[], Any], url: str, headers: dict[str, str], posts: int, c: int
) -> dict[str, float]:
    sender = make()
    latencies: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            began = time.perf_counter()
            reply = await sender(url, BODY, headers, 5.0)
            latencies.append(time.perf_counter() - began)
            assert reply.status == 200, reply

    await asyncio.gather(*(worker(max(1, WARMUP // c)) for _ in range(c)))  # connections, imports
    latencies.clear()
    per_worker = posts // c
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(per_worker) for _ in range(c)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await sender.aclose()
    done = per_worker * c
    latencies.sort()
    return {
        "cpu_us": 1e6 * cpu / done,
        "p50_ms": 1000 * latencies[done // 2],
        "p99_ms": 1000 * latencies[min(done - 1, int(done * 0.99))],
        "per_s": done / wall,
    }


async def compare(url: str, secret: str, posts: int, rounds: int) -> dict[str, object]:
    headers = {"content-type": "application/json", "cobalt-verification": sign(secret, BODY)}
    made = candidates()
    names = list(made)
    runs: dict[str, dict[str, list[dict[str, float]]]] = {
        n: {f"c{c}": [] for c in CONCURRENCY} for n in names
    }
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for c in CONCURRENCY:
            for name in order:
                runs[name][f"c{c}"].append(await cell(made[name], url, headers, posts, c))
    result: dict[str, object] = {"body_bytes": len(BODY), "posts": posts, "rounds": rounds}
    for name in names:
        result[name] = {
            key: {
                **{m: statistics.median(r[m] for r in cells) for m in cells[0]},
                "runs": {m: [round(r[m], 3) for r in cells] for m in cells[0]},
            }
            for key, cells in runs[name].items()
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sink")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    print_result(lambda: compare(args.sink, args.secret, args.posts, args.rounds))


if __name__ == "__main__":
    main()
