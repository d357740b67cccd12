"""The explicit registry of connector kinds an agency file may name."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connectors.base import Connector
from connectors.http import HttpKind
from connectors.sql import SqlKind

if TYPE_CHECKING:
    from gateway.agencies import AgencyConfig, Problems


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


KINDS: Mapping[str, ConnectorKind] = {"sql": SqlKind(), "http": HttpKind()}


def create_connector(agency: AgencyConfig) -> Connector:
    """The connector for an agency, by its kind."""
    return KINDS[agency.kind].create(agency)
