"""The yardstick: a bare Starlette app on the same uvicorn configuration as ``cobalt-mock serve``.

It answers ``POST /v1/appointments/fetch`` with a 202 of the same size class as the fake's (it reads
the body, validates nothing, starts nothing) and ``GET /_mock/health`` with 200, so every bench cell
sends both servers the same requests. ``python -m bench.bare_app --port 0`` prints
``bare listening on http://127.0.0.1:PORT`` as its first line, like the fake's CLI. It imports nothing
from ``mock_server``, so its start-up is Starlette's and uvicorn's alone.
"""

from __future__ import annotations

import argparse
import socket
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ACCEPTED = {
    "success": True,
    "message": "Live fetch request accepted. Results will be sent via webhook when ready.",
    "job_id": "job_0123456789ABCDEFGHIJKL",
}


async def fetch(request: Request) -> Response:
    await request.body()
    return JSONResponse(ACCEPTED, 202)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/appointments/fetch", fetch, methods=["POST"]),
        Route("/_mock/health", health, methods=["GET"]),
    ]
)


def uvicorn_options() -> dict[str, object]:
    """The serving stack both servers use: httptools and uvloop where installed, no access log.

    ``cobalt-mock serve`` passes the same limits (keep-alive 5 s, 4096 connections, no WebSockets)
    and leaves ``http``/``loop`` on ``auto``, which picks the same two when they are installed.
    """
    options: dict[str, object] = {
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": 5,
        "limit_concurrency": 4096,
        "timeout_graceful_shutdown": 5,
        "ws": "none",
    }
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        options["http"] = "h11"
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        options["loop"] = "asyncio"
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bare Starlette yardstick.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)
    print(f"bare listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, **uvicorn_options())  # type: ignore[arg-type]
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
