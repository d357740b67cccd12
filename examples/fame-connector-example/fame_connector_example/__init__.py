"""An example FAME Gateway connector kind: ``jsonl``, a case system's JSON-lines export.

Installed with pip, it registers ``JsonLinesKind`` under the entry point group
``fame_gateway.connectors`` (see this distribution's pyproject.toml), and agency files
then name it as ``kind = "jsonl"``. It is written only against the gateway's connector
protocol (``connectors.base``), its catalogue, and the models and adapter agency files
are read with (``gateway.core.config_models``, ``connectors.source_models``), as any
plug-in kind should be.
"""

from fame_connector_example.connector import JsonLinesConnector, JsonLinesKind

__all__ = ["JsonLinesConnector", "JsonLinesKind"]
