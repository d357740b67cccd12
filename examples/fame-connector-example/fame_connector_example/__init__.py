"""An example FAME Gateway connector kind: ``jsonl``, a case system's JSON-lines export.

Installed with pip, it registers ``JsonLinesKind`` under the entry point group
``fame_gateway.connectors`` (see this distribution's pyproject.toml), and agency files
then name it as ``kind = "jsonl"``. It is written only against the gateway's connector
protocol (``connectors.base``) and its catalogue, as any plug-in kind should be.
"""

from fame_connector_example.connector import JsonLinesConnector, JsonLinesKind

__all__ = ["JsonLinesConnector", "JsonLinesKind"]
