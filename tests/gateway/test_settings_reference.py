"""The demo's ``config/gateway.toml`` is the settings reference the README points to: every
key the settings accept appears in it, set or shown in a comment with what it does."""

from __future__ import annotations

import re

import pydantic

from gateway.config.settings_models import (
    DocumentsTable,
    HttpTable,
    IssuerTable,
    LimitsTable,
    ListenTable,
    LoggingSettings,
    SettingsFile,
    TracingSettings,
)
from tests.support import DEMO_CONFIG

#: Each table's model, by how the file names the table.
TABLES: dict[str, type[pydantic.BaseModel]] = {
    "listen": ListenTable,
    "limits": LimitsTable,
    "http": HttpTable,
    "documents": DocumentsTable,
    "tracing": TracingSettings,
    "logging": LoggingSettings,
    "issuers": IssuerTable,
}


def _written(text: str, table: str | None, key: str) -> bool:
    """Whether ``key`` is written (or shown commented out) at the top level or in ``table``."""
    if table is None:
        return re.search(rf"(?m)^#?\s*{key}\s*=", text) is not None or (
            re.search(rf"(?m)^#?\s*\[\[?{key}\]?\]", text) is not None
        )
    # Inline tables (listen = { host = ..., port = ... }) count as the table's keys.
    inline = re.search(rf"(?m)^#?\s*{table}\s*=\s*\{{[^}}]*\b{key}\s*=", text)
    block = re.search(rf"(?ms)^#?\s*\[\[?{table}\]?\]\n(.*?)(?=^#?\s*\[\[?[a-z_]+\]?\]|\Z)", text)
    in_block = block is not None and re.search(rf"(?m)^#?\s*{key}\s*=", block.group(1))
    return inline is not None or bool(in_block)


def test_every_settings_key_is_in_the_commented_demo_settings() -> None:
    text = (DEMO_CONFIG / "gateway.toml").read_text()
    missing = [key for key in SettingsFile.model_fields if not _written(text, None, key)]
    missing += [
        f"{table}.{key}"
        for table, model in TABLES.items()
        for key in model.model_fields
        if not _written(text, table, key)
    ]
    assert missing == [], f"config/gateway.toml does not show {missing}"


def test_the_check_sees_a_missing_key() -> None:
    # The check itself can fail: a file without the tracing table shows none of its keys.
    assert not _written("mode = 'demo'\n", "tracing", "exporter")
    assert _written("[tracing]\n# exporter = 'otlp'\n", "tracing", "exporter")
    assert not _written("[tracing]\n[logging]\nexporter = 1\n", "tracing", "exporter")
