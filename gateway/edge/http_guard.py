"""The outermost layer of the app: every response counted, correlated, hardened and never a
traceback, and every GraphQL request given a request id, a span and its log line.

Whatever happens inside, the client gets a JSON answer with a correlation id, and
the operator gets one log line with the same id: a client error is one line at
INFO; only an unexpected exception (a 500) logs its traceback. Every response also gets
the security headers below unless it set its own.

One layer does all of it, in one pass over each response's headers: the work is the
same for every request, and each ASGI layer costs the event loop a coroutine and a
wrapped ``send`` per request.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.core import tracing
from gateway.core.logs import REQUEST_ID
from gateway.edge.metrics import GatewayMetrics
from gateway.edge.request_log import describe_span, log_request
from gateway.edge.request_log import log as requests_log
from gateway.edge.responses import internal_error, printable
from gateway.pipeline.context import RequestContext

log = logging.getLogger(__name__)

CORRELATION_HEADER = "fame-correlation-id"
_CORRELATION_NAME = CORRELATION_HEADER.encode()
GRAPHQL_PATH = "/graphql"
_NO_HEADERS: list[tuple[bytes, bytes]] = []

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
_POLICY = b"content-security-policy"


class _Exchange:
    """One request's correlation id and the status its response started with."""

    __slots__ = ("correlation_id", "html", "send", "status")

    def __init__(self, send: Send) -> None:
        self.correlation_id = uuid.uuid4().hex[:16]
        self.send = send
        self.status = 0
        self.html = False

    async def send_correlated(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers, self.html = hardened(message.get("headers", _NO_HEADERS))
            headers.append((_CORRELATION_NAME, self.correlation_id.encode()))
            message = {**message, "headers": headers}
        await self.send(message)


class ResponseGuard:
    """Counts, correlates, hardens and logs every HTTP exchange; shared by the app's
    middleware (:meth:`around`) and its direct path to ``/graphql``."""

    def __init__(
        self,
        metrics: Callable[[], GatewayMetrics],
        routes: Collection[str],
        logged: Collection[str] = (GRAPHQL_PATH,),
    ) -> None:
        self._metrics = metrics
        self._routes = frozenset(routes)
        self._logged = frozenset(logged)

    def around(self, app: ASGIApp) -> ASGIApp:
        """``app`` with every HTTP request guarded (a Starlette middleware factory)."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
            else:
                await self.serve(app, scope, receive, send)

        return guarded

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request with ``app``: with a request id, a span and a log line
        when its path is a GraphQL one, and guarded in any case."""
        exchange = _Exchange(send)
        if scope.get("path") not in self._logged:
            await self._guard(app, scope, receive, exchange)
            return
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        token = REQUEST_ID.set(request_id)
        try:
            with tracing.server_span(
                scope["method"], scope["path"], request_id, scope.get("headers", _NO_HEADERS)
            ) as span:
                try:
                    await self._guard(app, scope, receive, exchange)
                finally:
                    if span is not None:
                        describe_span(span, scope, exchange.status or 500)
        finally:
            if requests_log.isEnabledFor(logging.INFO):
                log_request(scope, request_id, exchange.status or 500, started)
            REQUEST_ID.reset(token)

    async def _guard(
        self, app: ASGIApp, scope: Scope, receive: Receive, exchange: _Exchange
    ) -> None:
        """Run the app; count, correlate and log what it answered, or answer 500 for it."""
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        state["correlation_id"] = exchange.correlation_id
        status = 0
        try:
            await app(scope, receive, exchange.send_correlated)
            status = exchange.status
        except Exception:
            log.exception(
                "%s %s %s failed unexpectedly",
                exchange.correlation_id,
                scope["method"],
                _path(scope),
            )
            if exchange.status == 0:
                await internal_error(exchange.correlation_id)(
                    scope, receive, exchange.send_correlated
                )
            status = 500
        finally:
            self._count(
                scope,
                state,
                status or exchange.status or 500,
                time.perf_counter() - started,
                exchange.html,
            )
        if 400 <= status < 500:
            log.info(
                "%s %s %s answered %d%s",
                exchange.correlation_id,
                scope["method"],
                _path(scope),
                status,
                f": {printable(str(state['reason']))}" if state.get("reason") else "",
            )

    def _count(
        self, scope: Scope, state: dict[str, object], status: int, seconds: float, html: bool
    ) -> None:
        path = scope.get("path")
        metrics = self._metrics()
        metrics.count_response(path if path in self._routes else "other", status)
        # A GraphQL request is a POST or a GET answered in JSON (a GET for the page is not).
        if path == GRAPHQL_PATH and scope["method"] in {"GET", "POST"} and not html:
            context = state.get("fame_context")
            metrics.observe_request(
                context if isinstance(context, RequestContext) else None, seconds, status
            )


def hardened(
    headers: Iterable[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], bool]:
    """A new list of ``headers`` with the security headers the response did not set itself,
    and whether the response is an HTML page: one pass over the headers for both."""
    result = list(headers)
    present = set()
    html = False
    for name, value in result:
        name = name.lower()
        present.add(name)
        if name == b"content-type" and value.lower().startswith(b"text/html"):
            html = True
    for header in SECURITY_HEADERS:
        if header[0] not in present:
            result.append(header)
    if _POLICY not in present:
        result.append((_POLICY, _PAGE_POLICY if html else _API_POLICY))
    return result, html


def _path(scope: Scope) -> str:
    # Percent-decoded, so it may hold anything: printable ASCII keeps the log one line.
    path = scope.get("path", "")
    return printable(path[:200]) if isinstance(path, str) else ""
