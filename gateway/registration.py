"""What a validated agency file is, and what a connector kind must do to take part.

These sit below both the agency loader (``gateway.agencies``), which asks a kind to
parse its part of a file, and the connectors, which a kind builds from the result:
each side imports this module, and neither imports the other to learn the shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from connectors.base import Connector
from gateway.errors import Problems
from gateway.resilience import Resilience
from gateway.services import DEFAULT as DEFAULT_SERVICES
from gateway.services import AgencyServices


@dataclass(frozen=True)
class AgencyConfig:
    """A registered agency: who it is, how to reach it and which items it maps.

    ``source`` is the kind-specific part (``SqlSource``, ``HttpSource``),
    already validated by the kind's parser.
    """

    id: str
    name: str
    kind: str
    file: Path
    timeout_seconds: float
    demographics_rank: int | None
    items: frozenset[str]
    source: Any
    #: Where to POST a notice when a break-glass grant discloses this agency's data.
    break_glass_webhook: str | None = None
    #: How long the gateway may keep the agency's answers in memory; 0 keeps none.
    cache_seconds: float = 0.0
    resilience: Resilience = field(default_factory=Resilience)
    #: Which of the agency's own teams relate to which of its people (need-to-know).
    services: AgencyServices = DEFAULT_SERVICES


class ConnectorKind(Protocol):
    """A kind of agency system: parses its part of an agency file and builds connectors."""

    name: str

    def parse_source(
        self, doc: Mapping[str, Any], config_dir: Path, problems: Problems
    ) -> object | None:
        """Validate the kind-specific parts of an agency file."""
        ...

    def create(self, agency: AgencyConfig) -> Connector:
        """Build the connector for a validated agency."""
        ...
