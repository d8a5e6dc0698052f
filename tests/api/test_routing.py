"""``LiteralFirst``: parameterless routes by one lookup, everything else by Starlette's router, with
the same answers and the same scope as the router alone gives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.routing import Route, Router
from starlette.types import Message, Receive, Scope, Send

from mock_server.api.pipeline import LiteralFirst


class Endpoint:
    """A plain ASGI endpoint (as ``FetchEndpoint`` is) that notes what the routing put in its scope."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(
            (self.__name__, {key: scope.get(key) for key in ("endpoint", "path_params", "route", "router")})
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": self.__name__.encode()})


seen: list[tuple[str, dict[str, Any]]] = []
TEMPLATED, LITERAL, OTHER = Endpoint("templated"), Endpoint("literal"), Endpoint("other")
ROUTES = [
    Route("/jobs/{job_id}", TEMPLATED, methods=["GET"]),  # listed first: it wins GET /jobs/stats
    Route("/jobs/stats", LITERAL, methods=["GET", "POST"]),
    Route("/other", OTHER, methods=["DELETE"]),
]


def call(app: Any, method: str, path: str, **extra: Any) -> tuple[list[Message], dict[str, Any] | None]:
    seen.clear()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], **extra}
    asyncio.run(app(scope, receive, send))
    return sent, (seen[0][1] if seen else None)


@pytest.mark.parametrize(
    ("method", "path", "served_by"),
    [
        ("GET", "/jobs/stats", "templated"),  # the earlier templated route, as in Starlette
        ("POST", "/jobs/stats", "literal"),
        ("HEAD", "/jobs/stats", "templated"),
        ("GET", "/jobs/7", "templated"),
        ("DELETE", "/other", "other"),
    ],
)
def test_the_same_route_and_scope_as_the_router_alone(method: str, path: str, served_by: str) -> None:
    router = Router(ROUTES)
    plain_sent, plain_scope = call(router, method, path)
    fast_sent, fast_scope = call(LiteralFirst(router), method, path)
    assert fast_sent == plain_sent
    assert fast_sent[-1]["body"] == served_by.encode()
    assert fast_scope == plain_scope
    assert fast_scope is not None
    assert fast_scope["endpoint"].__name__ == served_by


def test_only_literal_routes_no_earlier_route_takes_are_looked_up() -> None:
    table = LiteralFirst(Router(ROUTES)).literal
    assert set(table) == {("/jobs/stats", "POST"), ("/other", "DELETE")}


def test_a_wrong_method_or_an_unknown_path_is_the_routers_answer() -> None:
    router = Router(ROUTES)
    for method, path, status in (("PUT", "/other", 405), ("GET", "/nowhere", 404)):
        plain, _ = call(router, method, path)
        fast, _ = call(LiteralFirst(router), method, path)
        assert fast == plain
        assert fast[0]["status"] == status


def test_under_a_root_path_the_router_decides() -> None:
    # Starlette strips the root path before matching; the lookup leaves such requests to it.
    router = Router(ROUTES)
    plain, plain_scope = call(router, "DELETE", "/api/other", root_path="/api")
    fast, fast_scope = call(LiteralFirst(router), "DELETE", "/api/other", root_path="/api")
    assert fast == plain
    assert fast_scope == plain_scope
    assert fast[0]["status"] == 200
