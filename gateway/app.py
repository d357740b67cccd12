"""The HTTP face of the gateway: ``/graphql`` (GraphQL over HTTP: POST, and GET for queries)."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import OperationType, get_operation_ast
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config.settings import load_settings
from gateway.configuration import Configuration
from gateway.core.errors import AuthenticationError
from gateway.edge.documents import SHA256_HEX, TrustedDocuments, document_hash
from gateway.edge.explorer import Explorer, SamplePractitioner
from gateway.edge.http_guard import CORRELATION_HEADER, GRAPHQL_PATH, ResponseGuard
from gateway.edge.practitioner_page import PractitionerPage
from gateway.edge.purposes import PurposeError, one_purpose_header
from gateway.edge.responses import (
    JSON,
    Answers,
    error_response,
    json_response,
    negotiate,
    not_acceptable,
)
from gateway.pipeline.context import RequestContext
from gateway.request import Operation, Pipeline
from gateway.service import Gateway, tune_server_process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GraphQLParams:
    """The parameters of one GraphQL-over-HTTP request, from its URL (GET) or body (POST)."""

    query: str | None
    variables: dict[str, Any] | None
    operation: str | None
    extensions: dict[str, Any] | None


#: A GET's query string is refused beyond this; proxies cut long URLs well before it, and
#: the document inside is held to the same length limit as one sent with POST.
MAX_URL_QUERY_BYTES = 32 * 1024


class GraphQLEndpoint:
    """Speaks HTTP for ``/graphql``: negotiates the answer's media type, authenticates,
    reads the parameters and the document, and hands the request to the pipeline, whose
    outcome it turns into a response."""

    def __init__(self, gateway: Gateway, explorer: Explorer | None = None) -> None:
        self.gateway = gateway
        http = gateway.settings.http
        self.trusted = TrustedDocuments(http.documents_manifest)
        self.trusted_only = http.trusted_only
        self.explorer = explorer or Explorer(gateway.settings)
        if self.trusted_only and not len(self.trusted):
            log.warning(
                "trusted_only is set and no document is registered: every query is refused "
                "until `fame-gateway documents add` registers some"
            )

    async def handle(self, request: Request) -> Response:
        """GraphiQL for a browser's GET; GraphQL over HTTP (GET for queries, POST) otherwise."""
        if (
            request.method == "GET"
            and self.gateway.settings.graphiql
            and "text/html" in request.headers.get("accept", "")
        ):
            return self.explorer.page()
        media_type = negotiate(",".join(request.headers.getlist("accept")))
        if media_type is None:
            return not_acceptable()
        return await self.run(request, Answers(media_type))

    async def run(self, request: Request, answers: Answers) -> Response:
        """Run one operation under the configuration in force when it arrived, whatever a
        reload puts in force meanwhile."""
        with self.gateway.serving() as configuration:
            return await self._run(request, answers, configuration)

    async def _run(self, request: Request, answers: Answers, gateway: Configuration) -> Response:
        """Run one operation: nothing reaches an agency until every check has passed."""
        received = time.monotonic()
        try:
            requester = await gateway.authenticator.authenticate(
                request.headers.getlist("authorization"),
                gateway.settings.protocol,
                one_purpose_header(request.headers.getlist("fame-purpose-of-use")),
                self.gateway.http,
            )
        except PurposeError as exc:
            request.state.reason = str(exc)
            return answers.refusal(str(exc), exc.code, exc.status)
        except AuthenticationError as exc:
            request.state.reason = str(exc)
            return answers.unauthenticated(str(exc))
        params = (
            self._from_url(request, answers)
            if request.method == "GET"
            else await self._from_body(request, answers)
        )
        if isinstance(params, Response):
            return params
        found = self._document(params, answers)
        if isinstance(found, Response):
            return found
        query, query_hash = found
        prepared = await gateway.documents.get(query)
        if prepared.document is None:
            return answers.request_errors(prepared.errors)
        selected = get_operation_ast(prepared.document, params.operation)
        if selected is None:
            return answers.request_error(
                f"the document has no operation named {params.operation!r}"
                if params.operation is not None
                else "the document has several operations; name the one to run in operationName",
                "BAD_REQUEST",
            )
        if request.method == "GET" and selected.operation is not OperationType.QUERY:
            # GET must be safe: a link, a prefetch or a cached page must never change anything.
            return answers.not_allowed(
                f"a {selected.operation.value} must be sent with POST; GET runs queries only",
                "POST",
            )
        context = RequestContext(
            requester=requester,
            gateway=gateway,
            query_hash=query_hash,
            deadline=received + gateway.settings.limits.deadline_seconds,
        )
        request.state.fame_context = context
        outcome = await Pipeline(gateway).run(
            context, Operation(prepared.document, selected, params.variables, params.operation)
        )
        if outcome.code == "BAD_USER_INPUT":
            return answers.request_errors(outcome.body["errors"])
        return answers.body(outcome.body, outcome.status)

    def _from_url(self, request: Request, answers: Answers) -> GraphQLParams | Response:
        """GET: ``query``, ``operationName``, and ``variables`` and ``extensions`` as
        URL-encoded JSON."""
        if len(request.scope.get("query_string", b"")) > MAX_URL_QUERY_BYTES:
            return answers.refusal(
                f"the URL's query is longer than {MAX_URL_QUERY_BYTES} bytes; send the "
                "query with POST",
                "BAD_REQUEST",
                414,
            )
        values: dict[str, str | None] = {}
        for name in ("query", "variables", "operationName", "extensions"):
            sent = request.query_params.getlist(name)
            if len(sent) > 1:
                return answers.refusal(f"send {name} once, not {len(sent)} times", "BAD_REQUEST")
            values[name] = sent[0] if sent else None
        decoded: dict[str, Any] = {}
        for name in ("variables", "extensions"):
            text = values[name]
            if text is None or text == "":
                decoded[name] = None
                continue
            try:
                decoded[name] = orjson.loads(text)
            except orjson.JSONDecodeError:
                return answers.refusal(
                    f"{name} must be URL-encoded JSON (an object)", "BAD_REQUEST"
                )
        return _checked(
            {
                "query": values["query"],
                "operationName": values["operationName"],
                **decoded,
            },
            answers,
        )

    async def _from_body(self, request: Request, answers: Answers) -> GraphQLParams | Response:
        """POST: a JSON object (UTF-8) with query, variables, operationName, extensions."""
        content_type, _, parameters = request.headers.get("content-type", "").partition(";")
        content_type = content_type.strip().lower()
        if content_type != JSON:
            return answers.refusal(
                f"send the request as {JSON}, not {content_type[:60] or 'no content type'}",
                "BAD_REQUEST",
                415,
            )
        charset = _charset(parameters)
        if charset not in (None, "utf-8", "utf8"):
            return answers.refusal(
                f"send the request body as UTF-8, not {charset[:30]}", "BAD_REQUEST", 415
            )
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return answers.refusal("the request body is not valid JSON (UTF-8)", "BAD_REQUEST")
        if isinstance(body, list):
            return answers.refusal(
                "the request body must be a JSON object, not a batch (a JSON array); send one "
                "query per request",
                "BAD_REQUEST",
            )
        if not isinstance(body, dict):
            return answers.refusal(
                'the request body must be a JSON object: {"query": "...", "variables": {...}}',
                "BAD_REQUEST",
            )
        return _checked(body, answers)

    def _document(self, params: GraphQLParams, answers: Answers) -> tuple[str, str] | Response:
        """The document to run and its hash: sent, or registered under the hash sent."""
        query = params.query
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is not None:
            wanted = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if (
                not isinstance(wanted, str)
                or not SHA256_HEX.fullmatch(wanted)
                or persisted.get("version", 1) != 1
            ):
                return answers.refusal(
                    'extensions.persistedQuery must be {"version": 1, "sha256Hash": "<64 hex '
                    'digits>"}',
                    "BAD_REQUEST",
                )
            if query is None:
                registered = self.trusted.get(wanted)
                if registered is None:
                    return answers.request_error(
                        f"no document is registered under sha256 {wanted}; send the query "
                        "with its hash, or register it with `fame-gateway documents add`",
                        "PERSISTED_QUERY_NOT_FOUND",
                    )
                return registered, wanted
            if document_hash(query) != wanted:
                return answers.refusal(
                    "extensions.persistedQuery.sha256Hash is not the sha256 of the query sent",
                    "PERSISTED_QUERY_HASH_MISMATCH",
                )
        if query is None or not query.strip():
            return answers.refusal('the request has no "query" string', "BAD_REQUEST")
        query_hash = document_hash(query)
        if self.trusted_only and not self.trusted.trusts(query_hash):
            return answers.request_error(
                "this gateway runs registered (trusted) documents only, and this document is "
                "not one; register it with `fame-gateway documents add` and send it, or its "
                "sha256 in extensions.persistedQuery",
                "DOCUMENT_NOT_TRUSTED",
            )
        return query, query_hash


def _checked(body: dict[str, Any], answers: Answers) -> GraphQLParams | Response:
    """The parameters of a decoded request, or the 400 naming the first of the wrong type."""
    query, variables = body.get("query"), body.get("variables")
    operation, extensions = body.get("operationName"), body.get("extensions")
    if query is not None and not isinstance(query, str):
        return answers.refusal('the request has no "query" string', "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        return answers.refusal('"variables" must be a JSON object', "BAD_REQUEST")
    if operation is not None and not isinstance(operation, str):
        return answers.refusal('"operationName" must be a string', "BAD_REQUEST")
    if extensions is not None and not isinstance(extensions, dict):
        return answers.refusal('"extensions" must be a JSON object', "BAD_REQUEST")
    return GraphQLParams(query, variables, operation, extensions)


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


async def _healthz(_request: Request) -> Response:
    return json_response({"status": "ok"})


def create_app(
    gateway: Gateway,
    practitioners: Sequence[SamplePractitioner] = (),
    *,
    stop_on_shutdown: bool = False,
) -> Starlette:
    """The ASGI app over a gateway; the lifespan starts it unless already started, and
    stops it at shutdown if it started it or ``stop_on_shutdown`` says so.

    ``practitioners``: the demo world's sample practitioners, whom the schema explorer
    offers demo tokens for (in demo mode only).
    """

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
            if owned or stop_on_shutdown:
                await gateway.stop()

    explorer = Explorer(gateway.settings, practitioners)
    endpoint = GraphQLEndpoint(gateway, explorer)
    # The practitioner's page signs in with the explorer's demo tokens (demo mode only).
    page = PractitionerPage(lambda: gateway.settings, explorer.practitioners, explorer.demo_token)

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
        *(explorer.routes() if gateway.settings.graphiql else []),
        *page.routes(),
    ]
    guard = ResponseGuard(metrics=lambda: gateway.metrics, routes=[route.path for route in routes])
    middleware = [Middleware(guard.around)]
    origins = gateway.settings.http.cors_origins
    if origins:
        # Inside the guard, so that preflights are counted and correlated too. Tokens are
        # bearer headers, never cookies: credentials stay off.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Fame-Purpose-Of-Use"],
                expose_headers=[CORRELATION_HEADER],
                allow_credentials=False,
                max_age=600,
            )
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


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
    return create_app(Gateway(load_settings(config), config_file=config))
