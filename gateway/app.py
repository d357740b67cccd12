"""The HTTP face of the gateway: ``POST /graphql`` (GraphQL over HTTP, JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from graphql import ExecutionResult, OperationType, execute, get_operation_ast
from graphql.pyutils import is_awaitable
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.audit import AuditUnavailable
from gateway.context import RequestContext
from gateway.errors import AuthenticationError
from gateway.execution import FastExecutionContext
from gateway.http_guard import GRAPHQL_PATH, ResponseGuard
from gateway.purposes import PurposeError, one_purpose_header
from gateway.responses import (
    JSON,
    error_response,
    errors_response,
    execution_error,
    json_response,
    unauthenticated,
)
from gateway.service import Gateway, tune_server_process
from gateway.settings import load_settings

log = logging.getLogger(__name__)


class GraphQLEndpoint:
    """Authenticates, checks, executes and assembles one GraphQL request."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

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
        # The intent record is written while the request is planned and decided;
        # the fan-out waits for it before any agency is called. A mutation waits
        # for it before anything at all is changed.
        intent = asyncio.ensure_future(gateway.audit.intent(context))
        context.intent = intent
        if selected.operation is OperationType.MUTATION:
            try:
                await intent
            except AuditUnavailable:
                return _audit_failed("before anything was changed")
        result = execute(
            gateway.schema,
            prepared.document,
            context_value=context,
            variable_values=variables,
            operation_name=operation,
            execution_context_class=FastExecutionContext,
        )
        if is_awaitable(result):
            result = await result  # type: ignore[misc]
        assert isinstance(result, ExecutionResult)
        try:
            await intent
        except AuditUnavailable:
            return _audit_failed("before any agency was contacted")
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            # Errors outside any field (variables that do not coerce): the request was wrong.
            return errors_response(
                [
                    execution_error(error) | {"extensions": {"code": "BAD_USER_INPUT"}}
                    for error in result.errors
                ]
            )
        try:
            await gateway.audit.record(context)
        except AuditUnavailable:
            return _audit_failed("after the agencies answered; the answer is withheld")
        await self._notify_break_glass(context)
        return json_response(self._response(result, context))

    async def _notify_break_glass(self, context: RequestContext) -> None:
        # Each agency whose data a grant delivered gets a notice its systems can read; an
        # agency whose call failed disclosed nothing and is told nothing.
        governance = self.gateway.governance
        for assembly in context.assemblies:
            delivered = assembly.delivered
            for person_id, grant in assembly.grants.items():
                if not grant.break_glass:
                    continue
                agencies = {
                    agency
                    for (person, agency), decisions in delivered.items()
                    if person == person_id
                    and any(d.break_glass == grant.id for d in decisions.values())
                }
                try:
                    added = await governance.reviews.notify(grant, agencies, governance.clock())
                except Exception:  # the audit already holds the disclosure; keep answering
                    log.exception("break-glass notification for grant %s failed", grant.id)
                    continue
                for agency_id in added:
                    url = self.gateway.settings.agency(agency_id).break_glass_webhook
                    if url is not None:
                        self.gateway.post_in_background(
                            url,
                            {
                                "event": "break_glass_disclosure",
                                "grant": grant.id,
                                "agency": agency_id,
                                "personId": grant.person_id,
                                "practitioner": grant.practitioner,
                                "requesterAgency": grant.agency,
                                "reason": grant.reason,
                                "expiresAt": grant.expires_at.isoformat(),
                            },
                        )

    def _response(self, result: ExecutionResult, context: RequestContext) -> dict[str, Any]:
        response: dict[str, Any] = {}
        errors = [execution_error(error) for error in result.errors or ()]
        for path, error in context.agency_errors:
            errors.append(
                {
                    "message": str(error),
                    "path": list(path),
                    "extensions": {"code": error.code, "agency": error.agency},
                }
            )
        if errors:
            response["errors"] = errors
        response["data"] = result.data
        sources: dict[str, dict[str, Any]] = {}
        for outcome in context.outcomes:
            self.gateway.note_outcome(outcome.agency, outcome.status)
            entry = sources.setdefault(
                outcome.agency, {"status": "ok", "ms": 0.0, "calls": 0, "people": 0, "cached": 0}
            )
            entry["calls"] += int(outcome.called)
            entry["people"] += outcome.people
            entry["cached"] += outcome.cached
            entry["ms"] = round(max(entry["ms"], outcome.milliseconds), 1)
            if outcome.status != "ok":
                entry["status"] = outcome.status
        extensions: dict[str, Any] = {"sources": sources}
        if context.withheld:
            extensions["withheld"] = context.withheld
        if context.break_glass:
            extensions["breakGlass"] = list(context.break_glass.values())
        response["extensions"] = extensions
        return response


def _audit_failed(when: str) -> Response:
    # Fail closed: nothing is disclosed that the audit has not recorded.
    log.exception("the disclosure audit could not be written %s", when)
    return error_response(
        "the disclosure audit could not be written, so nothing is disclosed; try again shortly",
        "AUDIT_UNAVAILABLE",
        503,
    )


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
            Middleware(
                ResponseGuard,
                metrics=lambda: gateway.metrics,
                routes=[route.path for route in routes],
            )
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
