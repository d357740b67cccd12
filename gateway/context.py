"""What one GraphQL request carries through its resolvers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from connectors.base import ConnectorError
from gateway.fanout import Assembly, SourceOutcome
from gateway.requester import Requester

if TYPE_CHECKING:
    from gateway.service import Gateway


@dataclass
class RequestContext:
    """The requester, the running gateway, and what the agencies said during this request."""

    requester: Requester
    gateway: Gateway
    outcomes: list[SourceOutcome] = field(default_factory=list)
    agency_errors: list[tuple[tuple[str | int, ...], ConnectorError]] = field(default_factory=list)

    def record(self, path: tuple[str | int, ...], assembly: Assembly) -> None:
        """Keep an assembly's outcomes and failures for the response's errors and extensions."""
        self.outcomes.extend(assembly.outcomes)
        self.agency_errors.extend((path, error) for error in assembly.errors)
