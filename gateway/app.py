"""The HTTP face of the gateway: ``POST /graphql`` (GraphQL over HTTP, JSON)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
)
from graphql.pyutils import is_awaitable
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.audit import AuditUnavailable
from gateway.context import RequestContext
from gateway.errors import AuthenticationError
from gateway.execution import FastExecutionContext
from gateway.purposes import PurposeError
from gateway.service import Gateway
from gateway.settings import load_settings

log = logging.getLogger(__name__)

_JSON = "application/json"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)


def _request_error(message: str, code: str, status: int = 400) -> Response:
    return _json({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


class GraphQLEndpoint:
    """Authenticates, checks, executes and assembles one GraphQL request."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def handle(self, request: Request) -> Response:
        """Dispatch GET (GraphiQL) and POST (queries)."""
        if request.method == "GET":
            if self.gateway.settings.graphiql and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(_GRAPHIQL)
            return _request_error(
                'send queries with POST and a JSON body {"query": ...}', "METHOD_NOT_ALLOWED", 405
            )
        return await self.post(request)

    async def post(self, request: Request) -> Response:
        """Run one query, and count it in the metrics whatever its outcome."""
        started = time.perf_counter()
        response = await self._post(request)
        self.gateway.metrics.observe_request(
            getattr(request.state, "fame_context", None),
            time.perf_counter() - started,
            response.status_code,
        )
        return response

    async def _post(self, request: Request) -> Response:
        """Run one query: nothing reaches an agency until every check has passed."""
        received = time.monotonic()
        gateway = self.gateway
        try:
            requester = await gateway.authenticator.authenticate(
                request.headers.get("authorization"),
                gateway.settings.protocol,
                request.headers.get("fame-purpose-of-use"),
                gateway.http,
            )
        except PurposeError as exc:
            return _request_error(str(exc), exc.code, exc.status)
        except AuthenticationError as exc:
            return _json(
                {"errors": [{"message": str(exc), "extensions": {"code": "UNAUTHENTICATED"}}]},
                401,
                {
                    "WWW-Authenticate": (
                        f'Bearer error="invalid_token", error_description="{_quote(str(exc))}"'
                    )
                },
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != _JSON:
            return _request_error(
                f"send the request as {_JSON}, not {content_type or 'no content type'}",
                "BAD_REQUEST",
                415,
            )
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _request_error("the request body is not valid JSON", "BAD_REQUEST")
        if not isinstance(body, dict):
            return _request_error(
                'the request body must be a JSON object: {"query": "...", "variables": {...}}',
                "BAD_REQUEST",
            )
        query, variables, operation = (
            body.get("query"),
            body.get("variables"),
            body.get("operationName"),
        )
        if not isinstance(query, str) or not query.strip():
            return _request_error('the request has no "query" string', "BAD_REQUEST")
        if variables is not None and not isinstance(variables, dict):
            return _request_error('"variables" must be a JSON object', "BAD_REQUEST")
        if operation is not None and not isinstance(operation, str):
            return _request_error('"operationName" must be a string', "BAD_REQUEST")
        prepared = gateway.documents.get(query)
        if prepared.document is None:
            return _json({"errors": [error.formatted for error in prepared.errors]}, 400)
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
        if _is_mutation(prepared.document, operation):
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
        try:
            await gateway.audit.record(context)
        except AuditUnavailable:
            return _audit_failed("after the agencies answered; the answer is withheld")
        await self._notify_break_glass(context)
        return _json(self._response(result, context))

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
        errors = [_format_error(error) for error in result.errors or ()]
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


def _is_mutation(document: DocumentNode, operation: str | None) -> bool:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation is None or (definition.name and definition.name.value == operation)
        ):
            return definition.operation is OperationType.MUTATION
    return False


def _audit_failed(when: str) -> Response:
    # Fail closed: nothing is disclosed that the audit has not recorded.
    log.exception("the disclosure audit could not be written %s", when)
    return _request_error(
        "the disclosure audit could not be written, so nothing is disclosed; try again shortly",
        "AUDIT_UNAVAILABLE",
        503,
    )


def _format_error(error: GraphQLError) -> dict[str, Any]:
    formatted = error.formatted
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        # An unexpected exception inside a resolver: log it, never leak its text.
        log.error("resolver failed", exc_info=error.original_error)
        formatted = {**formatted, "message": "internal error; the gateway has logged it"}
        formatted["extensions"] = {"code": "INTERNAL"}
    return dict(formatted)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "'")


async def _healthz(_request: Request) -> Response:
    return _json({"status": "ok"})


def create_app(gateway: Gateway) -> Starlette:
    """The ASGI app over a gateway; the lifespan starts it unless already started."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        owned = not gateway.started
        if owned:
            await gateway.start()
        try:
            yield
        finally:
            if owned:
                await gateway.stop()

    endpoint = GraphQLEndpoint(gateway)

    async def readyz(_request: Request) -> Response:
        ready, body = await gateway.readiness()
        return _json(body, 200 if ready else 503)

    async def metrics(_request: Request) -> Response:
        body, content_type = gateway.metrics.render()
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route(
                "/graphql",
                endpoint.handle,
                methods=["GET", "POST"],
                max_body_size=gateway.settings.limits.max_body_bytes,
            ),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
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
