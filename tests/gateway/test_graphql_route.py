"""``/graphql`` behind the response guard answers as Starlette's route alone does: the
same 405s and 413s (a body announced too large, or arriving in chunks past the limit),
and every answer is counted, correlated, hardened and logged with its request id."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from gateway.app import GraphQLEndpoint, create_app
from gateway.core.logs import JsonFormatter, RequestIdFilter
from gateway.edge.http_guard import GRAPHQL_PATH
from tests.support import World

ME = b'{"query": "{ me { agency } }"}'
JSON_BODY = (b"content-type", b"application/json")


class Answer:
    """What an ASGI app sent for one request."""

    def __init__(self, messages: Sequence[Message]) -> None:
        start = messages[0]
        assert start["type"] == "http.response.start"
        self.status: int = start["status"]
        self.headers: dict[str, str] = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in start["headers"]
        }
        self.body = b"".join(m.get("body", b"") for m in messages[1:])

    def essentials(self) -> tuple[Any, ...]:
        """Status, body (without timings) and the headers a route sets itself."""
        body: Any = self.body
        if self.headers.get("content-type", "").startswith("application/"):
            body = json.loads(self.body) if self.body else None
            if isinstance(body, dict):
                body.pop("extensions", None)
        allow = self.headers.get("allow")
        return (
            self.status,
            body,
            self.headers.get("content-type"),
            None if allow is None else {m.strip() for m in allow.split(",")},
        )


async def _call(
    app: ASGIApp,
    method: str,
    headers: Sequence[tuple[bytes, bytes]],
    chunks: Sequence[bytes] = (),
    *,
    path: str = GRAPHQL_PATH,
    root_path: str = "",
) -> Answer:
    """One request as a server sends it: the body in ``chunks``, then a disconnect."""
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ] or [{"type": "http.request", "body": b"", "more_body": False}]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": list(headers),
        "client": ("127.0.0.1", 50000),
        "server": ("gateway.test", 80),
    }
    await app(scope, receive, send)
    return Answer(sent)


def _cases(
    world: World, limit: int
) -> list[tuple[str, str, list[tuple[bytes, bytes]], list[bytes]]]:
    token = (b"authorization", f"Bearer {world.token('sw-patel')}".encode())
    oversized = b'{"query": "{ me { agency } }' + b" " * limit + b'"}'
    exactly = b'{"query": "{ me { agency } }' + b" " * (limit - len(ME)) + b'"}'
    assert len(exactly) == limit

    def length(body: bytes) -> tuple[bytes, bytes]:
        return (b"content-length", str(len(body)).encode())

    return [
        ("a PUT", "PUT", [token, JSON_BODY, length(ME)], [ME]),
        ("a DELETE without a body", "DELETE", [token], []),
        ("an OPTIONS", "OPTIONS", [], []),
        ("a query", "POST", [token, JSON_BODY, length(ME)], [ME]),
        ("a query without a token", "POST", [JSON_BODY, length(ME)], [ME]),
        ("a HEAD", "HEAD", [token], []),
        ("a body of exactly the limit", "POST", [token, JSON_BODY, length(exactly)], [exactly]),
        ("an oversized body", "POST", [token, JSON_BODY, length(oversized)], [oversized]),
        (
            "an oversized body sent in chunks, no length",
            "POST",
            [token, JSON_BODY],
            [oversized[i : i + 8192] for i in range(0, len(oversized), 8192)],
        ),
        (
            "a body in chunks within the limit",
            "POST",
            [token, JSON_BODY],
            [ME[:5], ME[5:12], ME[12:]],
        ),
        (
            "a length over the limit, refused before the body is read (no token)",
            "POST",
            [JSON_BODY, (b"content-length", str(limit + 1).encode())],
            [ME],
        ),
        (
            "a length over the limit on a GET for the explorer page",
            "GET",
            [(b"accept", b"text/html"), (b"content-length", str(limit + 1).encode())],
            [],
        ),
        (
            "an unreadable length (the body counts)",
            "POST",
            [token, JSON_BODY, (b"content-length", b"many")],
            [ME],
        ),
        (
            "two lengths, the first over the limit",
            "POST",
            [token, JSON_BODY, (b"content-length", b"99999999"), length(ME)],
            [ME],
        ),
    ]


async def test_graphql_answers_as_starlettes_route_does(world: World) -> None:
    assert world.gateway is not None
    limit = world.gateway.settings.limits.max_body_bytes
    # The endpoint behind Starlette's router alone, its body limit and its exception
    # handling: the guard around it changes no status, body or Allow header.
    endpoint = GraphQLEndpoint(world.gateway)
    reference = Starlette(
        routes=[Route(GRAPHQL_PATH, endpoint.handle, methods=["GET", "POST"], max_body_size=limit)]
    )
    app = create_app(world.gateway)
    statuses = set()
    for name, method, headers, chunks in _cases(world, limit):
        expected = await _call(reference, method, headers, chunks)
        answered = await _call(app, method, headers, chunks)
        assert answered.essentials() == expected.essentials(), name
        statuses.add(answered.status)
    assert {200, 401, 405, 413} <= statuses


async def test_every_graphql_answer_is_correlated_hardened_counted_and_logged(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.gateway is not None
    limit = world.gateway.settings.limits.max_body_bytes
    app = create_app(world.gateway)
    caplog.set_level(logging.INFO, logger="gateway.requests")
    caplog.set_level(logging.INFO, logger="gateway.edge.http_guard")
    caplog.handler.addFilter(RequestIdFilter())
    answers = []
    for _name, method, headers, chunks in _cases(world, limit):
        answers.append(await _call(app, method, headers, chunks))

    async def broken(_text: str) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(world.gateway.documents, "get", broken)
    token = (b"authorization", f"Bearer {world.token('sw-patel')}".encode())
    answers.append(await _call(app, "POST", [token, JSON_BODY], [ME]))
    assert answers[-1].status == 500

    formatter = JsonFormatter()
    lines = [
        orjson.loads(formatter.format(r)) for r in caplog.records if r.name == "gateway.requests"
    ]
    assert len(lines) == len(answers)
    for answer, line in zip(answers, lines, strict=True):
        correlation = answer.headers["fame-correlation-id"]
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert line["correlation_id"] == correlation
        assert line["status"] == answer.status
        assert line["request_id"] and line["path"] == GRAPHQL_PATH
    assert len({line["request_id"] for line in lines}) == len(lines)
    # The guard's own lines (a client error, the 500) carry the request's id too.
    by_correlation = {line["correlation_id"]: line["request_id"] for line in lines}
    guarded = [
        orjson.loads(formatter.format(r))
        for r in caplog.records
        if r.name == "gateway.edge.http_guard"
    ]
    assert len(guarded) == sum(1 for a in answers if 400 <= a.status < 500 or a.status == 500)
    for line in guarded:
        correlation = line["message"].split(" ", 1)[0]
        assert line["request_id"] == by_correlation[correlation], line

    metrics = (await _call(app, "GET", [], [], path="/metrics")).body.decode()
    for status in sorted({answer.status for answer in answers}):
        served = sum(1 for answer in answers if answer.status == status)
        assert (
            f'fame_http_responses_total{{route="/graphql",status="{status}"}} {served}.0' in metrics
        ), status


async def test_graphql_under_a_root_path_goes_through_the_router(world: World) -> None:
    assert world.gateway is not None
    app = create_app(world.gateway)
    answer = await _call(app, "POST", [JSON_BODY], [ME], path="/api/graphql", root_path="/api")
    assert answer.status == 401
    assert answer.headers["fame-correlation-id"]
