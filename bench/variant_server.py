"""What every Python variant of the benchmark shares: its two routes and its command line.

The lower bound, the naive variant and the graphene + DataLoader peer differ only in how
they answer ``POST /graphql``; the routes, the health check and ``--world FILE --port N``
are the same, so that they are served alike (uvicorn, uvloop and httptools where
installed, as the gateway is).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import graphene
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.world import World

Endpoint = Callable[[Request], Awaitable[Response]]
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


async def _healthz(_request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def variant_app(graphql: Endpoint, lifespan: Lifespan) -> Starlette:
    """``POST /graphql`` answered by ``graphql`` and ``GET /healthz``, with ``lifespan``."""
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def graphene_endpoint(schema: graphene.Schema, context: Callable[[], dict[str, Any]]) -> Endpoint:
    """``POST /graphql`` run by graphene's executor, with a fresh ``context()`` per request."""

    async def graphql(request: Request) -> Response:
        body = orjson.loads(await request.body())
        result = await schema.execute_async(
            body["query"], variable_values=body.get("variables"), context_value=context()
        )
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [{"message": str(error)} for error in result.errors]
        return Response(orjson.dumps(answer), media_type="application/json")

    return graphql


def serve(app: Starlette, port: int) -> None:
    """Serve an ASGI app on 127.0.0.1 with uvicorn, as the gateway's serve command does."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")


def variant_main(
    description: str, create_app: Callable[[World], Starlette], argv: list[str] | None
) -> int:
    """``python -m <variant> --world FILE --port N``: serve the variant over that world."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    serve(create_app(World.load(args.world)), args.port)
    return 0
