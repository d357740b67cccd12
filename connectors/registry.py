"""The explicit registry of connector kinds an agency file may name."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import Connector, ConnectorKind
from connectors.fhir import FhirKind
from connectors.http import HttpKind
from connectors.sql import SqlKind
from gateway.core.registration import AgencyConfig

KINDS: Mapping[str, ConnectorKind] = {"sql": SqlKind(), "http": HttpKind(), "fhir": FhirKind()}


def create_connector(agency: AgencyConfig) -> Connector:
    """The connector for an agency, by its kind."""
    return KINDS[agency.kind].create(agency)
