"""Which webhook client: ``HttpxSender`` against ``KeepAliveSender``, posting the same signed ~2 KB
bodies to the verifying sink (``bench.sink``, its own process) on uvloop, as the fake does.

For each: CPU per POST one at a time, and POSTs/s with 64 in flight (the default
``delivery_concurrency``). Prints one JSON object. ``python -m bench.sender SINK_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import orjson

from bench.sink import print_result
from mock_server.delivery.keepalive import KeepAliveSender
from mock_server.delivery.senders import HttpxSender
from mock_server.signing import sign

BODY = orjson.dumps({"job_id": "job_bench", "data": {"appointments": ["x" * 40] * 45}})


async def measure(sender: Any, url: str, secret: str, posts: int) -> dict[str, float]:
    headers = {"content-type": "application/json", "cobalt-verification": sign(secret, BODY)}
    for _ in range(50):  # connections and imports
        await sender(url, BODY, headers, 5.0)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(posts):
        await sender(url, BODY, headers, 5.0)
    one_cpu, one_wall = time.process_time() - cpu, time.perf_counter() - wall
    slots = asyncio.Semaphore(64)

    async def post() -> None:
        async with slots:
            await sender(url, BODY, headers, 5.0)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(post() for _ in range(posts)))
    many_cpu, many_wall = time.process_time() - cpu, time.perf_counter() - wall
    await sender.aclose()
    return {
        "sequential_ms": 1000 * one_wall / posts,
        "cpu_us_per_post": 1e6 * min(one_cpu, many_cpu) / posts,
        "posts_per_s_64": posts / many_wall,
    }


async def compare(url: str, secret: str, posts: int) -> dict[str, object]:
    return {
        "httpx": await measure(HttpxSender(max_connections=64), url, secret, posts),
        "keepalive": await measure(KeepAliveSender(max_idle=64), url, secret, posts),
        "body_bytes": len(BODY),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sink")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--posts", type=int, default=2000)
    args = parser.parse_args()

    print_result(lambda: compare(args.sink, args.secret, args.posts))


if __name__ == "__main__":
    main()
