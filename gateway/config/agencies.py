"""Agency registration: one TOML file per agency under ``config/agencies/``.

Loading validates every file completely and reports every problem at once,
each naming the file, the key and what to write instead, so that an agency's
integrator can fix the file in one pass. Nothing here contacts a source; the
live check (columns exist, API answers) is the connector's ``check``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.registry import KindUnavailable, find_kind
from gateway.config.agency_models import AgencyFile
from gateway.core.catalogue import STANDARD, Catalogue, using_catalogue
from gateway.core.config_models import validate
from gateway.core.errors import ConfigError, ConfigErrors, Problems, read_toml
from gateway.core.registration import AgencyConfig, Resilience
from gateway.core.services import AgencyServices, Service


def parse_agency(
    file: Path,
    doc: Mapping[str, Any],
    config_dir: Path,
    problems: Problems,
    *,
    catalogue: Catalogue = STANDARD,
) -> AgencyConfig | None:
    """Validate one agency document; returns None when it has problems.

    The common keys are one pydantic model (``AgencyFile``); the kind, when it is one,
    validates its own ``[source]``, ``[tables]`` and item targets whatever else is wrong,
    so that every problem of the file is reported at once.
    """
    # The model's item check and the kind's parser read the catalogue being loaded.
    with using_catalogue(catalogue):
        common = validate(AgencyFile, doc, problems)
    kind = None
    kind_name = doc.get("kind")
    if isinstance(kind_name, str):
        # An unknown or broken kind is reported by the model; here it only stops the parse.
        with contextlib.suppress(KindUnavailable):
            kind = find_kind(kind_name)
    source = None
    if kind is not None:
        with using_catalogue(catalogue):
            source = kind.parse_source(doc, config_dir, problems)
    if common is None:
        return None
    if common.demographics_rank is not None and not any(
        item.startswith("demographics.") for item in common.items
    ):
        problems.add(
            "demographics_rank",
            "is set but the agency maps no demographics items",
            "Map demographics.* items, or remove demographics_rank.",
        )
    services = _services(common, problems)
    resilience = _resilience(common, problems)
    if problems.errors:
        return None
    return AgencyConfig(
        id=file.stem,
        name=common.name,
        kind=common.kind,
        file=file,
        timeout_seconds=float(common.timeout_seconds),
        demographics_rank=common.demographics_rank,
        items=frozenset(common.items),
        source=source,
        break_glass_webhook=common.break_glass_webhook,
        cache_seconds=float(common.cache_seconds),
        resilience=resilience,
        services=services,
        catalogue=catalogue,
    )


def _services(common: AgencyFile, problems: Problems) -> AgencyServices:
    """``relationships`` and ``[services.<id>]``: need-to-know inside the agency."""
    services: list[Service] = []
    owner: dict[str, str] = {}
    for service_id, body in common.services.items():
        for team in body.teams:
            if team in owner:
                problems.add(
                    f"services.{service_id}.teams",
                    f"names {team!r}, which service {owner[team]} already lists",
                    "Put each team in one service.",
                )
            owner[team] = service_id
        services.append(
            Service(
                id=service_id,
                name=body.name if body.name is not None else service_id,
                teams=frozenset(body.teams),
                category=body.category,
                open_to=frozenset(body.open_to),
            )
        )
    known = {service.id for service in services}
    for service in services:
        for other in sorted(service.open_to - known):
            problems.add(
                f"services.{service.id}.open_to",
                f"names {other!r}, which is not a service of this agency",
                f"Use one of: {', '.join(sorted(known))}.",
            )
    return AgencyServices(scope=common.relationships, services=tuple(services))


def _resilience(common: AgencyFile, problems: Problems) -> Resilience:
    defaults = Resilience()
    timeout = float(common.timeout_seconds)
    values: dict[str, Any] = {
        "connect_timeout_seconds": min(defaults.connect_timeout_seconds, timeout)
    }
    for key in Resilience.__dataclass_fields__:
        value = getattr(common, key)
        if value is not None:
            values[key] = value
    if values["connect_timeout_seconds"] > timeout:
        problems.add(
            "connect_timeout_seconds",
            f"is longer than timeout_seconds ({timeout:g})",
            "Make it at most timeout_seconds, which bounds the whole call.",
        )
        values["connect_timeout_seconds"] = timeout
    return Resilience(**values)


def load_agencies(
    directory: Path, config_dir: Path | None = None, *, catalogue: Catalogue = STANDARD
) -> tuple[AgencyConfig, ...]:
    """Load and validate every ``*.toml`` in ``directory`` against ``catalogue``; raise
    ConfigErrors listing all."""
    config_dir = config_dir or directory.parent
    if not directory.is_dir():
        raise ConfigErrors(
            [
                ConfigError(
                    directory,
                    "(directory)",
                    "does not exist",
                    "Create it and add one <agency-id>.toml per agency.",
                )
            ]
        )
    errors: list[ConfigError] = []
    agencies: list[AgencyConfig] = []
    files = sorted(directory.glob("*.toml"))
    if not files:
        errors.append(
            ConfigError(
                directory,
                "(directory)",
                "holds no agency files",
                "Add one <agency-id>.toml per agency.",
            )
        )
    for file in files:
        agency, problems = load_agency_file(file, config_dir, catalogue=catalogue)
        errors.extend(problems)
        if agency is not None:
            agencies.append(agency)
    if errors:
        raise ConfigErrors(errors)
    return tuple(agencies)


def valid_agency_id(value: str) -> bool:
    """Whether a file name's stem can be an agency id (lower-case letters, digits, hyphens)."""
    return (
        bool(value)
        and value[0].isalpha()
        and all(c.islower() or c.isdigit() or c == "-" for c in value)
    )


def load_agency_file(
    file: Path, config_dir: Path, *, catalogue: Catalogue = STANDARD
) -> tuple[AgencyConfig | None, list[ConfigError]]:
    """One agency file alone (its name, its TOML, every key), with every problem of it;
    the agency only when it has none."""
    problems = Problems(file)
    if not valid_agency_id(file.stem):
        problems.add(
            "(file name)",
            f"{file.stem!r} is not a usable agency id",
            "Name the file with lower-case letters, digits and hyphens (shire-housing.toml).",
        )
    try:
        doc = read_toml(file)
    except ConfigError as exc:
        return None, [exc]
    agency = parse_agency(file, doc, config_dir, problems, catalogue=catalogue)
    return (agency if not problems.errors else None), problems.errors
