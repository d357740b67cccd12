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
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict

from connectors.source_models import NonEmpty
from gateway.core.catalogue import Catalogue, with_files
from gateway.core.config_models import ConfigModel, Fix, validate
from gateway.core.errors import ConfigErrors, Problems, read_toml


class CatalogueTable(ConfigModel):
    """``[catalogue]`` of the settings."""

    unknown_key_problem: ClassVar[str] = "is not a catalogue setting"

    files: Annotated[
        list[NonEmpty],
        Fix('List catalogue files relative to this file, e.g. files = ["catalogue/*.toml"].'),
    ] = []


#: The settings' ``catalogue`` key, as the settings model and ``CatalogueOnly`` declare it.
CatalogueField = Annotated[
    CatalogueTable | None, Fix('Write a table: [catalogue] files = ["catalogue/*.toml"].')
]


class CatalogueOnly(ConfigModel):
    """The settings file read for its ``[catalogue]`` alone, other keys ignored."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    catalogue: CatalogueField = None


def catalogue_files(raw: Any, config_dir: Path, problems: Problems) -> list[Path]:
    """The files ``[catalogue]`` (``raw``, as the file has it) names, globs expanded in
    order, each once."""
    read = validate(CatalogueOnly, {"catalogue": raw}, problems)
    if read is None or read.catalogue is None:
        return []
    return matching_files(read.catalogue, config_dir, problems)


def matching_files(table: CatalogueTable, config_dir: Path, problems: Problems) -> list[Path]:
    """The files ``table`` names, globs expanded in order, each once."""
    found: list[Path] = []
    for pattern in table.files:
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


def load_configured_catalogue(
    table: CatalogueTable | None, config_dir: Path, problems: Problems
) -> Catalogue | None:
    """The standard catalogue plus the deployment's files; None when they have problems
    (reported in ``problems`` for the settings file, or raised as ConfigErrors for the
    catalogue files themselves)."""
    before = len(problems.errors)
    paths = matching_files(table, config_dir, problems) if table is not None else []
    if len(problems.errors) > before:
        return None
    return with_files(paths)


def catalogue_of_settings(file: Path) -> Catalogue:
    """The catalogue a settings file configures, reading nothing else of the configuration
    (for ``fame-gateway schema``, which needs neither agencies nor keys)."""
    file = file.resolve()
    doc = read_toml(file)
    problems = Problems(file)
    read = validate(CatalogueOnly, doc, problems)
    catalogue = None
    if read is not None:
        catalogue = load_configured_catalogue(read.catalogue, file.parent, problems)
    if catalogue is None:
        raise ConfigErrors(problems.errors)
    return catalogue
