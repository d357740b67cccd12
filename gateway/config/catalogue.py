"""``[catalogue]`` of the gateway settings: the deployment's own catalogue files.

::

    [catalogue]
    files = ["catalogue/*.toml"]      # relative to the settings file; globs allowed

Each file adds sections, record sets and items to the standard catalogue, in the
format of the standard ``gateway/core/catalogue.toml``. Adding one changes the
client view's schema: ``fame-gateway schema --check`` says so until
``schema.graphql`` is regenerated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config.agencies import read_toml
from gateway.core.catalogue import Catalogue, with_files
from gateway.core.errors import ConfigErrors, Problems

_KEYS = ("files",)


def catalogue_files(raw: Any, config_dir: Path, problems: Problems) -> list[Path]:
    """The files ``[catalogue]`` names, globs expanded in order, each once."""
    if not isinstance(raw, dict):
        problems.add(
            "catalogue", f"is {raw!r}", 'Write a table: [catalogue] files = ["catalogue/*.toml"].'
        )
        return []
    for key in raw:
        if key not in _KEYS:
            problems.add(
                f"catalogue.{key}", "is not a catalogue setting", "Remove it; the key is: files."
            )
    patterns = raw.get("files", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        problems.add(
            "catalogue.files",
            f"is {patterns!r}",
            'List catalogue files relative to this file, e.g. files = ["catalogue/*.toml"].',
        )
        return []
    found: list[Path] = []
    for pattern in patterns:
        if Path(pattern).is_absolute():
            matches = sorted(Path(pattern).parent.glob(Path(pattern).name))
        else:
            matches = sorted(config_dir.glob(pattern))
        matches = [path.resolve() for path in matches if path.is_file()]
        if not matches:
            problems.add(
                "catalogue.files",
                f"names {pattern!r}, which matches no file",
                f"Create the file (relative to {config_dir}) or remove the pattern.",
            )
        found.extend(path for path in matches if path not in found)
    return found


def load_configured_catalogue(raw: Any, config_dir: Path, problems: Problems) -> Catalogue | None:
    """The standard catalogue plus the deployment's files; None when they have problems
    (reported in ``problems`` for the settings file, or raised as ConfigErrors for the
    catalogue files themselves)."""
    before = len(problems.errors)
    paths = catalogue_files(raw, config_dir, problems) if raw is not None else []
    if len(problems.errors) > before:
        return None
    return with_files(paths)


def catalogue_of_settings(file: Path) -> Catalogue:
    """The catalogue a settings file configures, reading nothing else of the configuration
    (for ``fame-gateway schema``, which needs neither agencies nor keys)."""
    file = file.resolve()
    doc = read_toml(file)
    problems = Problems(file)
    catalogue = load_configured_catalogue(doc.get("catalogue"), file.parent, problems)
    if catalogue is None:
        raise ConfigErrors(problems.errors)
    return catalogue
