"""One log line and one span per GraphQL request, both carrying its request id.

The line says who asked (practitioner and agency), for what purpose, how each agency
answered and how long it took, the HTTP status, and the milliseconds taken: never a
value about a person, a query's text or variables, nor the token. The request id is
the one the audit's records carry, so an operator can go from a log line to the
disclosures it made.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import Scope

from gateway.core.logs import FIELDS
from gateway.pipeline.context import RequestContext

log = logging.getLogger("gateway.requests")


def _context(scope: Scope) -> RequestContext | None:
    context = scope.get("state", {}).get("fame_context")
    return context if isinstance(context, RequestContext) else None


def describe_span(span: Any, scope: Scope, status: int) -> None:
    """Set the request's outcome on its server span."""
    span.set_attribute("http.response.status_code", status)
    context = _context(scope)
    if context is not None:
        span.set_attribute("fame.requester.agency", context.requester.agency)
        span.set_attribute("fame.purpose", context.requester.purpose)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))


def request_fields(scope: Scope, request_id: str, status: int, ms: float) -> dict[str, Any]:
    """The log line's fields: identifiers, outcomes and timings only."""
    fields: dict[str, Any] = {
        "event": "request",
        "request_id": request_id,
        "method": scope.get("method"),
        "path": scope.get("path"),
        "status": status,
        "ms": round(ms, 1),
    }
    state = scope.get("state", {})
    # The id the client was given (the fame-correlation-id header), when it was.
    correlation = state.get("correlation_id")
    if correlation is not None:
        fields["correlation_id"] = correlation
    context = _context(scope)
    if context is None:
        # Refused before anyone was identified (no or a bad token, a malformed request).
        fields.update(practitioner=None, agency=None, purpose=None, agencies={})
        return fields
    requester = context.requester
    agencies: dict[str, dict[str, Any]] = {}
    for outcome in context.outcomes:
        entry = agencies.setdefault(
            outcome.agency, {"status": "ok", "ms": 0.0, "calls": 0, "cached": 0}
        )
        if outcome.status != "ok":
            entry["status"] = outcome.status
        entry["ms"] = round(max(entry["ms"], outcome.milliseconds), 1)
        entry["calls"] += int(outcome.called)
        entry["cached"] += outcome.cached
    fields.update(
        practitioner=requester.practitioner,
        agency=requester.agency,
        purpose=requester.purpose,
        agencies=agencies,
    )
    return fields


def log_request(scope: Scope, request_id: str, status: int, started: float) -> None:
    """The request's one line at INFO, ``started`` being its ``time.perf_counter()``."""
    fields = request_fields(scope, request_id, status, (time.perf_counter() - started) * 1000)
    log.info(
        "%s %s %d in %.1f ms",
        fields["method"],
        fields["path"],
        status,
        fields["ms"],
        extra={FIELDS: fields},
    )
