"""The outermost layer of the app: every response counted, correlated, hardened and never a
traceback.

Whatever happens inside, the client gets a JSON answer with a correlation id, and
the operator gets one log line with the same id: a client error is one line at
INFO; only an unexpected exception (a 500) logs its traceback. Every response also gets
the security headers below unless it set its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge.metrics import GatewayMetrics
from gateway.edge.responses import internal_error, printable
from gateway.pipeline.context import RequestContext

log = logging.getLogger(__name__)

CORRELATION_HEADER = "fame-correlation-id"
GRAPHQL_PATH = "/graphql"

#: Added to every response that does not set its own: answers carry personal data, so no
#: cache keeps them; no content is sniffed into something executable; no URL (which for a
#: GET holds the query) leaks to another site; no page of the gateway is framed.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
#: A JSON answer loads nothing and is framed nowhere; an HTML page brings its own policy
#: for what it loads, and gets at least frame-ancestors.
_API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
_PAGE_POLICY = b"frame-ancestors 'none'"


class ResponseGuard:
    """ASGI middleware: a correlation id per request, a counted status per response."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Callable[[], GatewayMetrics],
        routes: Collection[str],
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; count, correlate and log what it answered, or answer 500 for it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        correlation_id = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        status = 0
        html = False

        async def send_correlated(message: Message) -> None:
            nonlocal status, html
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = hardened(list(message.get("headers", [])))
                headers.append((CORRELATION_HEADER.encode(), correlation_id.encode()))
                html = any(
                    name.lower() == b"content-type" and value.lower().startswith(b"text/html")
                    for name, value in headers
                )
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_correlated)
        except Exception:
            log.exception(
                "%s %s %s failed unexpectedly", correlation_id, scope["method"], _path(scope)
            )
            if status == 0:
                await internal_error(correlation_id)(scope, receive, send_correlated)
            status = 500
        finally:
            self._count(scope, state, status or 500, time.perf_counter() - started, html)
        if 400 <= status < 500:
            log.info(
                "%s %s %s answered %d%s",
                correlation_id,
                scope["method"],
                _path(scope),
                status,
                f": {printable(str(state['reason']))}" if state.get("reason") else "",
            )

    def _count(
        self, scope: Scope, state: dict[str, object], status: int, seconds: float, html: bool
    ) -> None:
        path = _path(scope)
        route = path if path in self._routes else "other"
        metrics = self._metrics()
        metrics.http_responses.labels(route=route, status=str(status)).inc()
        # A GraphQL request is a POST or a GET answered in JSON (a GET for the page is not).
        if path == GRAPHQL_PATH and scope["method"] in {"GET", "POST"} and not html:
            context = state.get("fame_context")
            metrics.observe_request(
                context if isinstance(context, RequestContext) else None, seconds, status
            )


def hardened(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with the security headers the response did not set itself."""
    present = {name.lower() for name, _ in headers}
    added = [(name, value) for name, value in SECURITY_HEADERS if name not in present]
    if b"content-security-policy" not in present:
        html = any(
            name.lower() == b"content-type" and value.lower().startswith(b"text/html")
            for name, value in headers
        )
        added.append((b"content-security-policy", _PAGE_POLICY if html else _API_POLICY))
    return headers + added


def _path(scope: Scope) -> str:
    # Percent-decoded, so it may hold anything: printable ASCII keeps the log one line.
    path = scope.get("path", "")
    return printable(path[:200]) if isinstance(path, str) else ""
