"""The published ``schema.graphql`` against the schema a configuration generates.

A deployment that adds catalogue files changes its client view's schema; CI runs
``fame-gateway schema --check`` so the published contract cannot drift from it.
"""

from __future__ import annotations

import difflib
from pathlib import Path


def schema_drift(published: Path, generated: str, config: str) -> str:
    """A unified diff from the published file to the generated SDL; empty when they agree.

    A missing file counts as empty, so the diff shows the whole schema to be written.
    """
    current = published.read_text() if published.exists() else ""
    if current == generated:
        return ""
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            fromfile=f"{published} (published)",
            tofile=f"{published} (generated from {config})",
        )
    )
