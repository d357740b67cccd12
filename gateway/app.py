"""The HTTP face of the gateway: ``POST /graphql`` (GraphQL over HTTP, JSON)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from graphql import get_operation_ast
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.config.settings import load_settings
from gateway.core.errors import AuthenticationError
from gateway.edge.http_guard import GRAPHQL_PATH, ResponseGuard
from gateway.edge.purposes import PurposeError, one_purpose_header
from gateway.edge.request_log import RequestLog
from gateway.edge.responses import (
    JSON,
    error_response,
    errors_response,
    json_response,
    unauthenticated,
)
from gateway.pipeline.context import RequestContext
from gateway.request import Operation, Pipeline
from gateway.service import Gateway, tune_server_process

log = logging.getLogger(__name__)


class GraphQLEndpoint:
    """Speaks HTTP for ``/graphql``: authenticates, checks the body and the document, and
    hands the request to the pipeline, whose outcome it turns into a response."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pipeline = Pipeline(gateway)

    async def handle(self, request: Request) -> Response:
        """Dispatch GET (GraphiQL) and POST (queries)."""
        if request.method == "GET":
            if self.gateway.settings.graphiql and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(_GRAPHIQL)
            return error_response(
                'send queries with POST and a JSON body {"query": ...}', "METHOD_NOT_ALLOWED", 405
            )
        return await self.post(request)

    async def post(self, request: Request) -> Response:
        """Run one query: nothing reaches an agency until every check has passed."""
        received = time.monotonic()
        gateway = self.gateway
        try:
            requester = await gateway.authenticator.authenticate(
                request.headers.getlist("authorization"),
                gateway.settings.protocol,
                one_purpose_header(request.headers.getlist("fame-purpose-of-use")),
                gateway.http,
            )
        except PurposeError as exc:
            request.state.reason = str(exc)
            return error_response(str(exc), exc.code, exc.status)
        except AuthenticationError as exc:
            request.state.reason = str(exc)
            return unauthenticated(str(exc))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            return error_response(
                f"send the request as {JSON}, not {content_type[:60] or 'no content type'}",
                "BAD_REQUEST",
                415,
            )
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return error_response("the request body is not valid JSON (UTF-8)", "BAD_REQUEST")
        if isinstance(body, list):
            return error_response(
                "the request body must be a JSON object, not a batch (a JSON array); send one "
                "query per request",
                "BAD_REQUEST",
            )
        if not isinstance(body, dict):
            return error_response(
                'the request body must be a JSON object: {"query": "...", "variables": {...}}',
                "BAD_REQUEST",
            )
        query, variables, operation = (
            body.get("query"),
            body.get("variables"),
            body.get("operationName"),
        )
        if not isinstance(query, str) or not query.strip():
            return error_response('the request has no "query" string', "BAD_REQUEST")
        if variables is not None and not isinstance(variables, dict):
            return error_response('"variables" must be a JSON object', "BAD_REQUEST")
        if operation is not None and not isinstance(operation, str):
            return error_response('"operationName" must be a string', "BAD_REQUEST")
        prepared = await gateway.documents.get(query)
        if prepared.document is None:
            return errors_response(prepared.errors)
        selected = get_operation_ast(prepared.document, operation)
        if selected is None:
            return error_response(
                f"the document has no operation named {operation!r}"
                if operation is not None
                else "the document has several operations; name the one to run in operationName",
                "BAD_REQUEST",
            )
        context = RequestContext(
            requester=requester,
            gateway=gateway,
            query_hash=hashlib.sha256(query.encode()).hexdigest(),
            deadline=received + gateway.settings.limits.deadline_seconds,
        )
        request.state.fame_context = context
        outcome = await self.pipeline.run(
            context, Operation(prepared.document, selected, variables, operation)
        )
        return json_response(outcome.body, outcome.status)


async def _healthz(_request: Request) -> Response:
    return json_response({"status": "ok"})


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI app over a gateway; the lifespan starts it unless already started."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        owned = not gateway.started
        if owned:
            # A server process (uvicorn --factory) owns its gateway.
            await gateway.start()
            tune_server_process()
        try:
            yield
        finally:
            if owned:
                await gateway.stop()

    endpoint = GraphQLEndpoint(gateway)

    scrape = ScrapeAccess(gateway)

    async def readyz(request: Request) -> Response:
        ready, body = await gateway.readiness()
        if not scrape.allowed(request):
            # A load balancer needs only the status; the agencies' states are for operators.
            body = {"status": body["status"]}
        return json_response(body, 200 if ready else 503)

    async def metrics(request: Request) -> Response:
        refusal = scrape.refusal(request)
        if refusal is not None:
            return refusal
        body, content_type = gateway.metrics.render()
        return Response(body, media_type=content_type)

    routes = [
        Route(
            GRAPHQL_PATH,
            endpoint.handle,
            methods=["GET", "POST"],
            max_body_size=gateway.settings.limits.max_body_bytes,
        ),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            # Outermost, so that the guard's own lines carry the request id too.
            Middleware(RequestLog),
            Middleware(
                ResponseGuard,
                metrics=lambda: gateway.metrics,
                routes=[route.path for route in routes],
            ),
        ],
        lifespan=lifespan,
    )


class ScrapeAccess:
    """Who may read /metrics and the details of /readyz.

    In demo mode anyone on the machine may. In production mode only a scraper
    sending ``Authorization: Bearer <token>`` with the token held in the variable
    that ``metrics_token_env`` names; with no token configured they stay closed.
    """

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        self._open = settings.demo
        variable = settings.metrics_token_env
        token = os.environ.get(variable, "") if variable else ""
        self._token = token.encode() if token else None

    def allowed(self, request: Request) -> bool:
        """Whether the request may see operational detail."""
        if self._open:
            return True
        if self._token is None:
            return False
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode("latin-1"), self._token
        )

    def refusal(self, request: Request) -> Response | None:
        """None when the request may scrape; otherwise the 401 or 403 that says why not."""
        if self.allowed(request):
            return None
        if self._token is None:
            return error_response(
                "metrics are closed in production mode until metrics_token_env names a variable "
                "holding a scrape token; set it and send 'Authorization: Bearer <token>'",
                "FORBIDDEN",
                403,
            )
        return error_response(
            "send the scrape token as 'Authorization: Bearer <token>'", "UNAUTHENTICATED", 401
        )


def app_from_environment() -> Starlette:
    """App factory for ``uvicorn --factory``: settings from ``FAME_CONFIG``."""
    config = Path(os.environ.get("FAME_CONFIG", "config/gateway.toml"))
    return create_app(Gateway(load_settings(config)))


_GRAPHIQL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FAME Gateway — GraphiQL</title>
<link rel="stylesheet"
 href="https://unpkg.com/graphiql@3/graphiql.min.css"></head>
<body style="margin:0"><div id="graphiql" style="height:100vh"></div>
<script crossorigin
 src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
<script crossorigin
 src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
<script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
<script>
const token = sessionStorage.getItem("fame-token")
  || prompt("Bearer token (fame-gateway token ...)");
sessionStorage.setItem("fame-token", token || "");
const fetcher = GraphiQL.createFetcher(
  {url: "/graphql", headers: {Authorization: "Bearer " + token}});
ReactDOM.createRoot(document.getElementById("graphiql"))
  .render(React.createElement(GraphiQL, {fetcher}));
</script></body></html>
"""
