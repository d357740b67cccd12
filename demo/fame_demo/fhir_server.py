"""A small FHIR R4 server for the tests and the demo: aiohttp, on 127.0.0.1.

It serves the resources it is given (each validated with ``fhir.resources`` first),
answers searches by ``identifier``, ``patient`` (and ``patient.identifier``, chained)
and the date parameters, honours ``_elements`` and ``_count`` (with ``next`` links),
takes ``batch`` Bundles POSTed to its base, and publishes a CapabilityStatement at
``/metadata``. With ``clients`` it is also a SMART Backend Services authorisation
server: ``POST /token`` verifies the client assertion's signature against the client's
registered JWKS and issues bearer tokens that every other endpoint then requires.

Every search it runs is recorded in ``calls`` (directly or inside a batch) with the
resources it returned, so a test can check projection at the source: which elements
actually left the server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from fhir.resources.R4B import get_fhir_model_class
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fame_demo.fhir_store import (
    DATE_SEARCHES,
    RESOURCE_TYPES,
    FhirStore,
    SearchError,
)
from fame_demo.local_server import LocalServer

FHIR_JSON = "application/fhir+json"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class FhirCall:
    """One search the server ran: how it came (``get`` or ``batch``), what it asked for,
    its status and the resources it returned (as sent)."""

    via: str
    resource_type: str
    params: tuple[tuple[str, str], ...]
    status: int
    returned: tuple[dict[str, Any], ...] = ()

    def param(self, name: str) -> list[str]:
        """Every value of one parameter."""
        return [value for key, value in self.params if key == name]

    @property
    def elements(self) -> frozenset[str]:
        """The names ``_elements`` asked for (empty when it was absent)."""
        return frozenset(
            part for value in self.param("_elements") for part in value.split(",") if part
        )


@dataclass(frozen=True)
class TokenRequest:
    """One call of the token endpoint: the client it claimed and whether a token was issued."""

    client_id: str | None
    scope: str | None
    issued: bool
    error: str | None = None


@dataclass
class _State:
    store: FhirStore
    clients: dict[str, KeySet]
    token_lifetime: int
    offered: frozenset[str]
    batch: bool
    calls: list[FhirCall] = field(default_factory=list)
    posts: int = 0
    refused: list[str] = field(default_factory=list)
    token_requests: list[TokenRequest] = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)
    seen_jti: set[str] = field(default_factory=set)
    failure_status: int | None = None
    latency_seconds: float = 0.0
    base_url: str = ""


_STATE = web.AppKey("fhir_state", _State)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _outcome(status: int, text: str, code: str = "invalid") -> web.Response:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return web.json_response(body, status=status, content_type=FHIR_JSON)


def _bundle(state: _State, resource_type: str, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Run a search, record it, and return its searchset Bundle (SearchError on a bad one)."""
    params = tuple(params)
    try:
        page = state.store.search(resource_type, params)
    except SearchError:
        state.calls.append(FhirCall("?", resource_type, params, 400))
        raise
    links = [{"relation": "self", "url": f"{state.base_url}/{resource_type}"}]
    if page.next_query is not None:
        links.append(
            {"relation": "next", "url": f"{state.base_url}/{resource_type}?{page.next_query}"}
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{state.base_url}/{resource_type}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in page.resources
        ],
    }


def _record(
    state: _State,
    via: str,
    resource_type: str,
    params: Iterable[tuple[str, str]],
    status: int,
    bundle: Mapping[str, Any] | None,
) -> None:
    returned = tuple(entry["resource"] for entry in (bundle or {}).get("entry", []))
    state.calls.append(FhirCall(via, resource_type, tuple(params), status, returned))


def _authorised(state: _State, request: web.Request) -> bool:
    if not state.clients:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    expiry = state.tokens.get(token) if scheme.lower() == "bearer" else None
    return expiry is not None and expiry > time.time()


def _unauthorised() -> web.Response:
    response = _outcome(401, "a valid bearer token from /token is required", code="login")
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Latency, injected outages and the bearer token, before any FHIR endpoint."""
    state = request.app[_STATE]
    if state.latency_seconds:
        await asyncio.sleep(state.latency_seconds)
    if request.path in {"/token", "/metadata"}:
        return await handler(request)
    if state.failure_status is not None:
        return _outcome(state.failure_status, "the server is failing on purpose", code="transient")
    if not _authorised(state, request):
        state.refused.append(f"{request.method} {request.path}")
        return _unauthorised()
    return await handler(request)


async def _search(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    resource_type = request.match_info["type"]
    params = tuple(request.query.items())
    if resource_type not in state.offered:
        state.calls.append(FhirCall("get", resource_type, params, 404))
        return _outcome(404, f"this server does not serve {resource_type}", code="not-supported")
    try:
        bundle = _bundle(state, resource_type, params)
    except SearchError as exc:
        return _outcome(400, str(exc))
    _record(state, "get", resource_type, params, 200, bundle)
    return web.json_response(bundle, content_type=FHIR_JSON)


async def _batch(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    state.posts += 1
    if not state.batch:
        return _outcome(405, "this server does not take batch Bundles", code="not-supported")
    try:
        body = await request.json()
    except ValueError:
        return _outcome(400, "the body is not JSON")
    if (
        not isinstance(body, dict)
        or body.get("resourceType") != "Bundle"
        or body.get("type") != "batch"
    ):
        return _outcome(400, "POST a Bundle of type batch to the base URL")
    responses = []
    for entry in body.get("entry") or []:
        req = entry.get("request") or {} if isinstance(entry, dict) else {}
        url = str(req.get("url", ""))
        path, _, query = url.partition("?")
        resource_type = path.strip("/")
        params = tuple(parse_qsl(query, keep_blank_values=True))
        if req.get("method") != "GET" or resource_type not in state.offered:
            state.calls.append(FhirCall("batch", resource_type, params, 400))
            responses.append(
                _entry_error("400 Bad Request", f"cannot run {req.get('method')} {url}")
            )
            continue
        try:
            bundle = _bundle(state, resource_type, params)
        except SearchError as exc:
            responses.append(_entry_error("400 Bad Request", str(exc)))
            continue
        _record(state, "batch", resource_type, params, 200, bundle)
        responses.append({"resource": bundle, "response": {"status": "200 OK"}})
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": responses}
    return web.json_response(answer, content_type=FHIR_JSON)


def _entry_error(status: str, text: str) -> dict[str, Any]:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}],
    }
    return {"response": {"status": status, "outcome": outcome}}


def capability_statement(
    base_url: str, offered: Collection[str], *, batch: bool, token_url: str | None
) -> dict[str, Any]:
    """The server's CapabilityStatement (validated with fhir.resources by the caller)."""
    resources = []
    for resource_type in RESOURCE_TYPES:
        if resource_type not in offered:
            continue
        params = [{"name": "_id", "type": "token"}]
        if resource_type == "Patient":
            params.append({"name": "identifier", "type": "token"})
        else:
            params.append({"name": "patient", "type": "reference"})
        params += [
            {"name": name, "type": "date"} for (rt, name) in DATE_SEARCHES if rt == resource_type
        ]
        resources.append(
            {
                "type": resource_type,
                "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": params,
            }
        )
    rest: dict[str, Any] = {"mode": "server", "resource": resources}
    if batch:
        rest["interaction"] = [{"code": "batch"}]
    if token_url is not None:
        rest["security"] = {
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "extension": [
                {
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [{"url": "token", "valueUri": token_url}],
                }
            ],
        }
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "implementation": {"description": "FAME demo FHIR server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [rest],
    }


async def _metadata(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    statement = capability_statement(
        state.base_url,
        state.offered,
        batch=state.batch,
        token_url=f"{state.base_url}/token" if state.clients else None,
    )
    get_fhir_model_class("CapabilityStatement").model_validate(statement)
    return web.json_response(statement, content_type=FHIR_JSON)


async def _token(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    form = await request.post()

    def refuse(status: int, error: str, text: str, client: str | None = None) -> web.Response:
        state.token_requests.append(TokenRequest(client, scope, issued=False, error=error))
        return web.json_response({"error": error, "error_description": text}, status=status)

    scope = str(form.get("scope")) if form.get("scope") is not None else None
    if form.get("grant_type") != "client_credentials":
        return refuse(400, "unsupported_grant_type", "only client_credentials is supported")
    if form.get("client_assertion_type") != _ASSERTION_TYPE:
        return refuse(400, "invalid_request", "client_assertion_type must be jwt-bearer")
    assertion = str(form.get("client_assertion", ""))
    try:
        unverified = _unverified_claims(assertion)
    except ValueError:
        return refuse(400, "invalid_request", "client_assertion is not a JWT")
    client_id = unverified.get("iss")
    keys = state.clients.get(str(client_id))
    if keys is None:
        return refuse(401, "invalid_client", f"unknown client {client_id!r}")
    try:
        token = jwt.decode(assertion, keys, algorithms=["RS384", "ES384"])
    except (JoseError, ValueError) as exc:
        return refuse(
            401,
            "invalid_client",
            f"the assertion's signature does not verify ({exc})",
            str(client_id),
        )
    claims = token.claims
    now = time.time()
    problems = []
    if claims.get("sub") != client_id:
        problems.append("sub must equal iss (the client id)")
    if claims.get("aud") != f"{state.base_url}/token":
        problems.append("aud must be this token endpoint's URL")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp < now or exp > now + 330:
        problems.append("exp must be within five minutes from now")
    jti = claims.get("jti")
    if not isinstance(jti, str) or jti in state.seen_jti:
        problems.append("jti must be present and never reused")
    if problems:
        return refuse(401, "invalid_client", "; ".join(problems), str(client_id))
    assert isinstance(jti, str)
    state.seen_jti.add(jti)
    access_token = secrets.token_urlsafe(32)
    state.tokens[access_token] = now + state.token_lifetime
    state.token_requests.append(TokenRequest(str(client_id), scope, issued=True))
    return web.json_response(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": state.token_lifetime,
            "scope": scope or "",
        }
    )


def _key_set(jwks: Mapping[str, Any]) -> KeySet:
    """A client's registered public keys (a JWKS document)."""
    document: Any = dict(jwks)
    return KeySet.import_key_set(document)


def _unverified_claims(assertion: str) -> dict[str, Any]:
    """The claims of a compact JWS before verification, only to find the client's keys."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise ValueError("not a compact JWS")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a compact JWS") from exc
    if not isinstance(claims, dict):
        raise ValueError("claims are not an object")
    return claims


class FhirServer(LocalServer):
    """The demo FHIR server on a local port: resources in, recorded calls out."""

    def __init__(
        self,
        resources: Iterable[Mapping[str, Any]],
        *,
        clients: Mapping[str, Mapping[str, Any]] | None = None,
        token_lifetime: int = 300,
        offered: Collection[str] = RESOURCE_TYPES,
        batch: bool = True,
    ) -> None:
        """``clients`` maps SMART client ids to their public JWKS; without it no token is
        needed. ``offered`` and ``batch`` shape what the server supports (for checks)."""
        super().__init__(web.Application(middlewares=[_guard]))
        self.state = _State(
            store=FhirStore(resources),
            clients={client: _key_set(jwks) for client, jwks in (clients or {}).items()},
            token_lifetime=token_lifetime,
            offered=frozenset(offered),
            batch=batch,
        )
        self.app[_STATE] = self.state
        self.app.router.add_get("/metadata", _metadata)
        self.app.router.add_post("/token", _token)
        self.app.router.add_post("/", _batch)
        self.app.router.add_get("/{type:[A-Z][A-Za-z]+}", _search)

    @property
    def calls(self) -> list[FhirCall]:
        """Every search run, in order, whether sent alone or in a batch."""
        return self.state.calls

    @property
    def token_requests(self) -> list[TokenRequest]:
        """Every call of the token endpoint."""
        return self.state.token_requests

    @property
    def posts(self) -> int:
        """How many batch Bundles were POSTed with an accepted token."""
        return self.state.posts

    @property
    def refused(self) -> list[str]:
        """The calls refused for want of a valid token (``"POST /"``)."""
        return self.state.refused

    @property
    def token_url(self) -> str:
        """The SMART token endpoint."""
        assert self.base_url is not None, "start the server first"
        return f"{self.base_url}/token"

    def register_client(self, client_id: str, jwks: Mapping[str, Any]) -> None:
        """Register a SMART backend client by its public JWKS (from then on every FHIR
        call needs a token), e.g. once the client's key exists after the server started."""
        self.state.clients[client_id] = _key_set(jwks)

    def forget_calls(self) -> None:
        """Forget the searches, batches and refusals recorded so far (tokens stay valid)."""
        self.state.calls.clear()
        self.state.refused.clear()
        self.state.posts = 0

    def revoke_tokens(self) -> None:
        """Invalidate every access token issued so far (the next call gets a 401)."""
        self.state.tokens.clear()

    def fail_with(self, status: int | None) -> None:
        """Answer every FHIR call (not /metadata or /token) with ``status``; None heals."""
        self.state.failure_status = status

    def slow_down(self, seconds: float) -> None:
        """Delay every answer by ``seconds``."""
        self.state.latency_seconds = seconds

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 picks a free port); returns the base URL, which the
        server's answers use in their links."""
        self.state.base_url = await super().start(host, port)
        return self.state.base_url


async def _serve(port: int, people: int, clients: Mapping[str, Mapping[str, Any]]) -> None:
    from fame_demo.fhir_synthetic import fhir_resources
    from fame_demo.synthetic import generate_population

    population = generate_population()
    server = FhirServer(fhir_resources(population.people[:people]), clients=clients)
    base_url = await server.start(port=port)
    print(f"demo FHIR R4 server on {base_url} ({people} synthetic people)", flush=True)
    if clients:
        print(f"SMART token endpoint: {server.token_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m fame_demo.fhir_server``: serve synthetic resources until interrupted."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fame_demo.fhir_server", description=__doc__)
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--people", type=int, default=8, help="how many demo people it holds")
    parser.add_argument(
        "--client",
        nargs=2,
        action="append",
        default=[],
        metavar=("CLIENT_ID", "JWKS_FILE"),
        help="register a SMART backend client by its public JWKS (then tokens are required)",
    )
    args = parser.parse_args(argv)
    clients = {client: json.loads(Path(file).read_text()) for client, file in args.client}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.people, clients))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
