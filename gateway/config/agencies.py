"""Agency registration: one TOML file per agency under ``config/agencies/``.

Loading validates every file completely and reports every problem at once,
each naming the file, the key and what to write instead, so that an agency's
integrator can fix the file in one pass. Nothing here contacts a source; the
live check (columns exist, API answers) is the connector's ``check``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.registry import KINDS
from gateway.core.catalogue import STANDARD, Catalogue, using_catalogue
from gateway.core.errors import ConfigError, ConfigErrors, Problems
from gateway.core.registration import AgencyConfig, Resilience
from gateway.core.services import AGENCY, SCOPES, TEAM, AgencyServices, Service

_COMMON_KEYS = {
    "name",
    "kind",
    "timeout_seconds",
    "demographics_rank",
    "relationships",
    "services",
    "source",
    "items",
    "tables",
    "break_glass_webhook",
    "cache_seconds",
    *Resilience.__dataclass_fields__,
}


def read_toml(file: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a ConfigError naming the line."""
    try:
        with file.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            file, "(file)", f"is not valid TOML ({exc})", "Fix the syntax at that line."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            file, "(file)", f"cannot be read ({exc.strerror})", "Check the path and permissions."
        ) from exc


def parse_agency(
    file: Path,
    doc: Mapping[str, Any],
    config_dir: Path,
    problems: Problems,
    *,
    catalogue: Catalogue = STANDARD,
) -> AgencyConfig | None:
    """Validate one agency document against ``catalogue``; returns None when it has problems."""
    agency_id = file.stem
    for key in sorted(set(doc) - _COMMON_KEYS):
        if key == "teams_matter":
            problems.add(
                key,
                "is no longer a key: relationships are per team for every agency",
                "Remove it. Group teams that share their people into [services.<id>] tables "
                '(teams = [...]), or write relationships = "agency" if any of your staff may '
                "see anyone your agency holds.",
            )
            continue
        problems.add(
            key,
            "is not a key an agency file takes",
            f"Remove it; the keys are: {', '.join(sorted(_COMMON_KEYS))}.",
        )
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.add(
            "name", "is missing", 'Write the agency\'s display name, e.g. name = "Shire Council".'
        )
        name = agency_id
    kind_name = doc.get("kind")
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        problems.add(
            "kind",
            f"is {kind_name!r}, which is not a connector kind"
            if kind_name is not None
            else "is missing",
            f"Write one of: {', '.join(repr(k) for k in sorted(KINDS))}.",
        )
    timeout = doc.get("timeout_seconds", 2.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout <= 60:
        problems.add(
            "timeout_seconds", f"is {timeout!r}", "Write a number of seconds from 0.1 to 60."
        )
        timeout = 2.0
    rank = doc.get("demographics_rank")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        problems.add(
            "demographics_rank",
            f"is {rank!r}",
            "Write a whole number from 1 (most authoritative), or leave it out.",
        )
        rank = None
    services = _services(doc, problems)
    raw_items = doc.get("items")
    if not isinstance(raw_items, dict) or not raw_items:
        problems.add(
            "items",
            "is missing or empty",
            "Add an [items] table mapping catalogue items to your fields "
            "(see `fame-gateway items`).",
        )
        raw_items = {}
    for item in raw_items:
        if item not in catalogue.items:
            problems.add(
                f'items."{item}"',
                "is not an item of the client view's catalogue",
                "Use a catalogue item name (see `fame-gateway items`), or remove the line.",
            )
    if rank is not None and not any(item.startswith("demographics.") for item in raw_items):
        problems.add(
            "demographics_rank",
            "is set but the agency maps no demographics items",
            "Map demographics.* items, or remove demographics_rank.",
        )
    webhook = doc.get("break_glass_webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not webhook.startswith(("https://", "http://"))
    ):
        problems.add(
            "break_glass_webhook",
            f"is {webhook!r}",
            "Write the https:// URL that should receive break-glass notices, or leave it out.",
        )
        webhook = None
    cache_seconds = doc.get("cache_seconds", 0)
    if not _number(cache_seconds) or not 0 <= cache_seconds <= 3600:
        problems.add(
            "cache_seconds",
            f"is {cache_seconds!r}",
            "Write how many seconds answers may be kept in memory, from 0 (never, the "
            "default) to 3600.",
        )
        cache_seconds = 0
    resilience = _resilience(doc, float(timeout), problems)
    source = None
    if kind is not None:
        with using_catalogue(catalogue):
            source = kind.parse_source(doc, config_dir, problems)
    if problems.errors:
        return None
    assert isinstance(kind_name, str)
    return AgencyConfig(
        id=agency_id,
        name=name,
        kind=kind_name,
        file=file,
        timeout_seconds=float(timeout),
        demographics_rank=rank,
        items=frozenset(item for item in raw_items if item in catalogue.items),
        source=source,
        break_glass_webhook=webhook,
        cache_seconds=float(cache_seconds),
        resilience=resilience,
        services=services,
        catalogue=catalogue,
    )


def _services(doc: Mapping[str, Any], problems: Problems) -> AgencyServices:
    """``relationships`` and ``[services.<id>]``: need-to-know inside the agency."""
    scope = doc.get("relationships", TEAM)
    if scope not in SCOPES:
        problems.add(
            "relationships",
            f"is {scope!r}",
            f'Write "{TEAM}" (a team relates to the people its service holds: the default) '
            f'or "{AGENCY}" (any team to anyone the agency holds).',
        )
        scope = TEAM
    raw = doc.get("services", {})
    if not isinstance(raw, dict):
        problems.add("services", "is not a table", "Write one [services.<id>] table per service.")
        raw = {}
    services: list[Service] = []
    owner: dict[str, str] = {}
    for service_id, body in raw.items():
        where = f"services.{service_id}"
        if not isinstance(body, dict):
            problems.add(where, "is not a table", f"Write [{where}] with name and teams.")
            continue
        for key in sorted(set(body) - _SERVICE_KEYS):
            problems.add(
                f"{where}.{key}",
                "is not a service key",
                f"Use: {', '.join(sorted(_SERVICE_KEYS))}.",
            )
        name = body.get("name", service_id)
        teams = body.get("teams")
        if (
            not isinstance(teams, list)
            or not teams
            or not all(isinstance(t, str) and t for t in teams)
        ):
            problems.add(
                f"{where}.teams",
                f"is {teams!r}",
                "List the team names your identity provider puts in practitioners' tokens "
                'and the person index holds on links, e.g. teams = ["District Nursing"].',
            )
            teams = []
        for team in teams:
            if team in owner:
                problems.add(
                    f"{where}.teams",
                    f"names {team!r}, which service {owner[team]} already lists",
                    "Put each team in one service.",
                )
            owner[team] = service_id
        category = body.get("category")
        if category is not None and (not isinstance(category, str) or not category):
            problems.add(
                f"{where}.category",
                f"is {category!r}",
                'Write a protocol category, e.g. category = "health.mental", or leave it out.',
            )
            category = None
        open_to = body.get("open_to", [])
        if not isinstance(open_to, list) or not all(isinstance(o, str) for o in open_to):
            problems.add(f"{where}.open_to", f"is {open_to!r}", "List service ids of this file.")
            open_to = []
        services.append(
            Service(
                id=service_id,
                name=str(name),
                teams=frozenset(teams),
                category=category,
                open_to=frozenset(open_to),
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
    return AgencyServices(scope=str(scope), services=tuple(services))


_SERVICE_KEYS = {"name", "teams", "category", "open_to"}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: key -> (smallest, largest, whole numbers only, what it means)
_RESILIENCE_RANGES: Mapping[str, tuple[float, float, bool, str]] = {
    "connect_timeout_seconds": (0.05, 30, False, "seconds to open a connection"),
    "max_concurrent_calls": (1, 1000, True, "calls to the agency in flight at once"),
    "retries": (0, 3, True, "retries after a connection failure"),
    "circuit_failures": (1, 1000, True, "failures that open the circuit"),
    "circuit_window_seconds": (1, 3600, False, "seconds in which those failures count"),
    "circuit_open_seconds": (0.1, 3600, False, "seconds an open circuit waits before a probe"),
}


def _resilience(doc: Mapping[str, Any], timeout: float, problems: Problems) -> Resilience:
    defaults = Resilience()
    values: dict[str, Any] = {
        "connect_timeout_seconds": min(defaults.connect_timeout_seconds, timeout)
    }
    for key, (low, high, whole, meaning) in _RESILIENCE_RANGES.items():
        if key not in doc:
            continue
        value = doc[key]
        if not _number(value) or (whole and not isinstance(value, int)) or not low <= value <= high:
            kind = "a whole number" if whole else "a number"
            problems.add(
                key, f"is {value!r}", f"Write {kind} of {meaning}, from {low:g} to {high:g}."
            )
            continue
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
        problems = Problems(file)
        if not _valid_agency_id(file.stem):
            problems.add(
                "(file name)",
                f"{file.stem!r} is not a usable agency id",
                "Name the file with lower-case letters, digits and hyphens (shire-housing.toml).",
            )
        try:
            doc = read_toml(file)
        except ConfigError as exc:
            errors.append(exc)
            continue
        agency = parse_agency(file, doc, config_dir, problems, catalogue=catalogue)
        errors.extend(problems.errors)
        if agency is not None:
            agencies.append(agency)
    if errors:
        raise ConfigErrors(errors)
    return tuple(agencies)


def _valid_agency_id(value: str) -> bool:
    return (
        bool(value)
        and value[0].isalpha()
        and all(c.islower() or c.isdigit() or c == "-" for c in value)
    )
