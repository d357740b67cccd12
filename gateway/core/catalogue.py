"""The catalogue of data items the client view can ask for.

A *data item* is the unit the sharing protocol, the policy, the audit and the
connectors all speak about: ``"<record set>.<field>"``, for example
``"medications.name"``. Items are grouped into *record sets*: the rows an agency
holds about a person (its medications, its alerts, its involvement). Agencies
map the items they hold to their own tables or API fields; the GraphQL types of
the client view are built from the catalogue, so the schema, the planner and
the connectors cannot disagree about what an item is called.

The catalogue is data: the standard one is ``catalogue.toml`` beside this module, and
a deployment adds its own files (``[catalogue] files`` in the gateway settings). The
configured :class:`Catalogue` is ``Settings.catalogue``; the module constants below are
the standard catalogue's, for code that only ever speaks about it (the benchmark).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from importlib.resources import files
from pathlib import Path

from gateway.core.catalogue_files import load_catalogue
from gateway.core.catalogue_model import (
    Catalogue,
    ItemSpec,
    RecordSetSpec,
    SectionSpec,
    ValueKind,
    record_set_of,
)

__all__ = [
    "ITEMS",
    "RECORD_SETS",
    "RECORD_SETS_BY_NAME",
    "SECTIONS",
    "STANDARD",
    "STANDARD_FILE",
    "Catalogue",
    "ItemSpec",
    "RecordSetSpec",
    "SectionSpec",
    "ValueKind",
    "load_catalogue",
    "parsing_catalogue",
    "record_set_of",
    "using_catalogue",
    "with_files",
]

#: The standard catalogue's file, shipped with the package.
STANDARD_FILE = Path(str(files("gateway.core").joinpath("catalogue.toml")))

#: The standard catalogue: what every deployment offers before adding its own files.
STANDARD: Catalogue = load_catalogue([STANDARD_FILE])


def with_files(deployment_files: list[Path]) -> Catalogue:
    """The standard catalogue with a deployment's files added (raises ConfigErrors)."""
    if not deployment_files:
        return STANDARD
    return load_catalogue(deployment_files, STANDARD)


_PARSING: ContextVar[Catalogue | None] = ContextVar("parsing_catalogue", default=None)


@contextlib.contextmanager
def using_catalogue(catalogue: Catalogue) -> Iterator[None]:
    """Within the block, agency files are validated against ``catalogue``.

    The agency loader sets it around a connector kind's ``parse_source``, whose three
    arguments are a public interface (plug-in kinds implement it): a kind reads the
    catalogue with :func:`parsing_catalogue` rather than through a new argument.
    """
    token = _PARSING.set(catalogue)
    try:
        yield
    finally:
        _PARSING.reset(token)


def parsing_catalogue() -> Catalogue:
    """The catalogue the agency file being parsed is validated against (the standard one
    outside :func:`using_catalogue`). A connector reads ``AgencyConfig.catalogue`` later."""
    return _PARSING.get() or STANDARD


#: Sections of the Person type that group record sets by domain: name -> (type, description).
SECTIONS: Mapping[str, tuple[str, str]] = {
    section.name: (section.type_name, section.description) for section in STANDARD.sections
}
RECORD_SETS: tuple[RecordSetSpec, ...] = STANDARD.record_sets
RECORD_SETS_BY_NAME: Mapping[str, RecordSetSpec] = STANDARD.record_sets_by_name
ITEMS: Mapping[str, ItemSpec] = STANDARD.items
