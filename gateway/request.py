"""One GraphQL request from a validated requester and document to its answer, outside HTTP.

    intent (audit, written while planning) -> plan, decide, fetch, assemble (execution)
    -> disclosure audit -> break-glass notices -> the answer's body and extensions

Nothing is disclosed that the audit has not recorded: if any audit write fails,
the outcome is a refusal and the answer is withheld. The HTTP edge only turns a
request into a call of :meth:`Pipeline.run` and its :class:`Outcome` into a response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    OperationDefinitionNode,
    OperationType,
    execute,
)
from graphql.pyutils import is_awaitable

from gateway.audit.log import AuditUnavailable
from gateway.configuration import Configuration
from gateway.edge.responses import error_entry, execution_error
from gateway.pipeline.context import RequestContext
from gateway.pipeline.execution import FastExecutionContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a request came to: a body to answer with, and its HTTP status.

    ``code`` names a refusal (``AUDIT_UNAVAILABLE``, ``BAD_USER_INPUT``); it is
    None for an answer, partial answers with agency errors included.
    """

    status: int
    body: dict[str, Any]
    code: str | None = None


@dataclass(frozen=True)
class Operation:
    """A validated document, the operation to run in it, and its variables."""

    document: DocumentNode
    selected: OperationDefinitionNode
    variables: dict[str, Any] | None
    name: str | None


class Pipeline:
    """Runs requests under one configuration of the gateway (the one in force when they
    started)."""

    def __init__(self, gateway: Configuration) -> None:
        self.gateway = gateway

    async def run(self, context: RequestContext, operation: Operation) -> Outcome:
        """Execute ``operation`` for ``context``'s requester, audit it, and answer."""
        gateway = self.gateway
        # The intent record is written while the request is planned and decided;
        # the fan-out waits for it before any agency is called. A mutation waits
        # for it before anything at all is changed. With no other request running, the
        # audit writes on the event loop's own thread.
        intent = gateway.audit.intent(context, alone=gateway.in_flight == 1)
        context.intent = intent
        if operation.selected.operation is OperationType.MUTATION:
            try:
                await intent
            except AuditUnavailable:
                return _audit_failed("before anything was changed")
        result = execute(
            gateway.schema,
            operation.document,
            context_value=context,
            variable_values=operation.variables,
            operation_name=operation.name,
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
            return Outcome(
                400,
                {
                    "errors": [
                        execution_error(error) | {"extensions": {"code": "BAD_USER_INPUT"}}
                        for error in result.errors
                    ]
                },
                "BAD_USER_INPUT",
            )
        try:
            await gateway.audit.record(context, alone=gateway.in_flight == 1)
        except AuditUnavailable:
            return _audit_failed("after the agencies answered; the answer is withheld")
        await self._notify_grant_owners(context)
        return Outcome(200, self._answer(result, context))

    async def _notify_grant_owners(self, context: RequestContext) -> None:
        # Each agency whose data a grant (break-glass or safeguarding) delivered gets a
        # notice its systems can read, and its guardians can review the grant; an agency
        # whose call failed disclosed nothing and is told nothing.
        governance = self.gateway.governance
        for assembly in context.assemblies:
            delivered = assembly.delivered
            for person_id, grant in assembly.grants.items():
                agencies = {
                    agency
                    for (person, agency), decisions in delivered.items()
                    if person == person_id and any(d.grant == grant.id for d in decisions.values())
                }
                try:
                    added = await governance.reviews.notify(grant, agencies, governance.clock())
                except Exception:  # the audit already holds the disclosure; keep answering
                    log.exception("notification for grant %s failed", grant.id)
                    continue
                for agency_id in added:
                    url = self.gateway.settings.agency(agency_id).break_glass_webhook
                    if url is not None:
                        self.gateway.post_in_background(
                            url,
                            {
                                "event": (
                                    "break_glass_disclosure"
                                    if grant.break_glass
                                    else "safeguarding_disclosure"
                                ),
                                "purpose": grant.purpose,
                                "grant": grant.id,
                                "agency": agency_id,
                                "personId": grant.person_id,
                                "practitioner": grant.practitioner,
                                "requesterAgency": grant.agency,
                                "reason": grant.reason,
                                "expiresAt": grant.expires_at.isoformat(),
                            },
                        )

    def _answer(self, result: ExecutionResult, context: RequestContext) -> dict[str, Any]:
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


def _audit_failed(when: str) -> Outcome:
    # Fail closed: nothing is disclosed that the audit has not recorded.
    log.exception("the disclosure audit could not be written %s", when)
    message = (
        "the disclosure audit could not be written, so nothing is disclosed; try again shortly"
    )
    return Outcome(
        503, {"errors": [error_entry(message, "AUDIT_UNAVAILABLE")]}, "AUDIT_UNAVAILABLE"
    )
