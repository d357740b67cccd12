"""The registry of connector kinds an agency file may name: built in, or installed plug-ins.

A plug-in is a Python distribution installed into the gateway's environment that
registers a ``ConnectorKind`` under the entry point group ``fame_gateway.connectors``;
the entry point's name is the kind's name. Agency files name kinds only, so the
gateway runs the code of distributions its operator installed, never code found by
a path or module name written in a configuration file. A plug-in is imported only
when an agency names its kind, so a broken plug-in nobody uses stops nothing.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from importlib import metadata
from typing import cast

from connectors.base import Connector, ConnectorKind
from connectors.csv import CsvKind
from connectors.fhir import FhirKind
from connectors.http import HttpKind
from connectors.sql import SqlKind
from gateway.core.registration import AgencyConfig

log = logging.getLogger(__name__)

#: The entry point group a plug-in distribution registers its kinds under.
ENTRY_POINT_GROUP = "fame_gateway.connectors"

#: The kinds built into the gateway; a plug-in cannot replace one of these.
KINDS: Mapping[str, ConnectorKind] = {
    "sql": SqlKind(),
    "http": HttpKind(),
    "csv": CsvKind(),
    "fhir": FhirKind(),
}

_HOW_TO_INSTALL = (
    "A kind from a plug-in is installed with pip into the gateway's environment "
    "(pip install <distribution>), which registers it under the entry point group "
    f"{ENTRY_POINT_GROUP}; see docs/connectors.md"
)

_loaded: dict[tuple[str, str, str], ConnectorKind] = {}


class KindUnavailable(Exception):
    """An agency file names a kind that is not installed or cannot be used.

    ``problem`` and ``fix`` are the two halves of the ConfigError reported at ``kind``.
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}. {fix}")


def plugin_entry_points() -> dict[str, list[metadata.EntryPoint]]:
    """The installed plug-ins' entry points by kind name (built-in names excluded)."""
    found: dict[str, list[metadata.EntryPoint]] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in KINDS:
            log.warning(
                "the connector kind %r of %s is ignored: %r is built into the gateway",
                entry.name,
                _distribution(entry),
                entry.name,
            )
            continue
        found.setdefault(entry.name, []).append(entry)
    return found


def installed_kinds() -> dict[str, str]:
    """Every kind an agency file may name, with where it comes from ("built in" or a
    distribution and its version)."""
    kinds = dict.fromkeys(KINDS, "built in")
    for name, entries in plugin_entry_points().items():
        kinds[name] = " and ".join(_distribution(entry) for entry in entries)
    return dict(sorted(kinds.items()))


def find_kind(name: str) -> ConnectorKind:
    """The kind an agency file names; raises KindUnavailable saying what to do instead."""
    built_in = KINDS.get(name)
    if built_in is not None:
        return built_in
    entries = plugin_entry_points().get(name)
    if not entries:
        raise KindUnavailable(
            f"is {name!r}, which is not an installed connector kind", _choices(name)
        )
    if len(entries) > 1:
        raise KindUnavailable(
            f"is {name!r}, which several installed distributions register: "
            + ", ".join(_distribution(entry) for entry in entries),
            "Uninstall all but one of them (pip uninstall <distribution>).",
        )
    return _load(entries[0])


def create_connector(agency: AgencyConfig) -> Connector:
    """The connector for an agency, by its kind."""
    return find_kind(agency.kind).create(agency)


def _load(entry: metadata.EntryPoint) -> ConnectorKind:
    key = (entry.name, entry.value, _distribution(entry))
    found = _loaded.get(key)
    if found is not None:
        return found
    where = f"the connector kind {entry.name!r} from {_distribution(entry)}"
    reinstall = (
        f"Reinstall or upgrade that distribution (pip install --force-reinstall "
        f"{_distribution_name(entry)}), or ask its authors; its entry point is "
        f"{entry.name} = {entry.value!r}."
    )
    try:
        target = entry.load()
    except Exception as exc:  # whatever the plug-in's import raised: report it, whole
        raise KindUnavailable(
            f"names {where}, which failed to load ({type(exc).__name__}: {exc})", reinstall
        ) from exc
    try:
        kind: object = target() if inspect.isclass(target) else target
    except Exception as exc:
        raise KindUnavailable(
            f"names {where}, whose class could not be created without arguments "
            f"({type(exc).__name__}: {exc})",
            reinstall,
        ) from exc
    missing = _unsatisfied(kind, entry.name)
    if missing:
        raise KindUnavailable(
            f"names {where}, which is not a ConnectorKind: {'; '.join(missing)}",
            "Its authors must fix it (the protocol is in docs/connectors.md); " + reinstall,
        )
    # Checked as far as a Protocol can be at run time: its name and methods' arities.
    loaded = cast(ConnectorKind, kind)
    _loaded[key] = loaded
    return loaded


def _unsatisfied(kind: object, name: str) -> list[str]:
    """What ``kind`` lacks of the ConnectorKind protocol (Protocols cannot check values)."""
    missing: list[str] = []
    declared = getattr(kind, "name", None)
    if declared != name:
        missing.append(f"its name is {declared!r}, not {name!r} as its entry point says")
    for method, arguments in (("parse_source", 3), ("create", 1)):
        function = getattr(kind, method, None)
        if not callable(function):
            missing.append(f"it has no method {method}")
            continue
        try:
            inspect.signature(function).bind(*([None] * arguments))
        except TypeError:
            missing.append(f"its {method} does not take {arguments} argument(s)")
        except ValueError:
            pass  # no signature to inspect (a builtin): trust it
    return missing


def _choices(name: str) -> str:
    listed = ", ".join(f"{kind!r} ({origin})" for kind, origin in installed_kinds().items())
    path_like = any(mark in name for mark in ":/\\") or name.endswith(".py")
    lead = (
        "Agency files name a kind, never a module or file to load code from. " if path_like else ""
    )
    return f"{lead}Write one of the installed kinds: {listed}. {_HOW_TO_INSTALL}."


def _distribution(entry: metadata.EntryPoint) -> str:
    dist = entry.dist
    if dist is None:
        return "an unnamed distribution"
    return f"the distribution {dist.name} {dist.version}"


def _distribution_name(entry: metadata.EntryPoint) -> str:
    return entry.dist.name if entry.dist is not None else "<distribution>"
