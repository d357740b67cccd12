"""What a validated agency file is, its protection settings included.

These sit below both the agency loader (``gateway.config.agencies``), which asks a kind to
parse its part of a file, and the connectors, which a kind builds from the result:
each side imports this module, and neither imports the other to learn the shape.
What a connector kind must do (``ConnectorKind``) is in ``connectors.base``, with
the connector it builds, so that this module imports nothing from the connectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.services import DEFAULT as DEFAULT_SERVICES
from gateway.core.services import AgencyServices


@dataclass(frozen=True)
class Resilience:
    """How an agency is protected; every field is a key of the agency's file."""

    #: Seconds to open a connection (TCP, TLS, database handshake).
    connect_timeout_seconds: float = 1.0
    #: Calls in flight at once; more wait for a slot within their time budget.
    max_concurrent_calls: int = 10
    #: Extra attempts after a connection failure; reads only, within the retry budget.
    retries: int = 1
    #: Failures within ``circuit_window_seconds`` that open the circuit.
    circuit_failures: int = 5
    circuit_window_seconds: float = 30.0
    #: How long an open circuit refuses calls before one probe is let through.
    circuit_open_seconds: float = 15.0


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
    #: The catalogue the file was validated against, whose items the connector reads.
    catalogue: Catalogue = STANDARD
