"""The common part of an agency file as pydantic models (the kind-specific ``[source]``,
``[tables]`` and ``[items]`` targets are the connector kind's to validate)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from connectors.registry import KindUnavailable, find_kind, installed_kinds
from gateway.core.catalogue import parsing_catalogue
from gateway.core.config_models import ConfigModel, Fix, invalid
from gateway.core.services import AGENCY, TEAM

TEAMS_FIX = (
    "List the team names your identity provider puts in practitioners' tokens "
    'and the person index holds on links, e.g. teams = ["District Nursing"].'
)


def _kind(value: str) -> str:
    try:
        find_kind(value)
    except KindUnavailable as exc:
        raise invalid(exc.problem, exc.fix) from exc
    return value


def _kinds_fix() -> str:
    return f"Write one of: {', '.join(repr(k) for k in installed_kinds())}."


def _catalogue_item(value: str) -> str:
    if value not in parsing_catalogue().items:
        raise invalid(
            "is not an item of the client view's catalogue",
            "Use a catalogue item name (see `fame-gateway items`), or remove the line.",
        )
    return value


RELATIONSHIPS_FIX = (
    f'Write "{TEAM}" (a team relates to the people its service holds: the default) '
    f'or "{AGENCY}" (any team to anyone the agency holds).'
)


def _relationships(value: str) -> str:
    if value not in (TEAM, AGENCY):
        raise invalid(f"is {value!r}", RELATIONSHIPS_FIX)
    return value


RESILIENCE = {
    "connect": "seconds to open a connection",
    "calls": "calls to the agency in flight at once",
    "retries": "retries after a connection failure",
    "failures": "failures that open the circuit",
    "window": "seconds in which those failures count",
    "open": "seconds an open circuit waits before a probe",
}


def _range(low: float, high: float, meaning: str, *, whole: bool = False) -> str:
    kind = "a whole number" if whole else "a number"
    return f"Write {kind} of {meaning}, from {low:g} to {high:g}."


_NonEmpty = Annotated[str, Field(min_length=1)]


class ServiceModel(ConfigModel):
    """``[services.<id>]``: teams of the agency that share their people."""

    unknown_key_problem: ClassVar[str] = "is not a service key"

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """Unknown service keys list the ones there are."""
        return cls.unknown_key_problem, f"Use: {', '.join(cls.keys())}."

    name: str | None = None
    teams: Annotated[list[_NonEmpty], Field(min_length=1), Fix(TEAMS_FIX)]
    category: Annotated[
        str | None,
        Field(min_length=1),
        Fix('Write a protocol category, e.g. category = "health.mental", or leave it out.'),
    ] = None
    open_to: Annotated[list[str], Fix("List service ids of this file.")] = []


class AgencyFile(ConfigModel):
    """The keys every agency file takes, whatever its kind."""

    unknown_key_problem: ClassVar[str] = "is not a key an agency file takes"

    @classmethod
    def unknown_key(cls, key: str) -> tuple[str, str]:
        """``teams_matter`` is a key of the past with its own advice."""
        if key == "teams_matter":
            return (
                "is no longer a key: relationships are per team for every agency",
                "Remove it. Group teams that share their people into [services.<id>] tables "
                '(teams = [...]), or write relationships = "agency" if any of your staff may '
                "see anyone your agency holds.",
            )
        return cls.unknown_key_problem, cls.keys_fix(key)

    name: Annotated[
        str,
        Field(min_length=1, pattern=r"\S"),
        Fix('Write the agency\'s display name, e.g. name = "Shire Council".'),
    ]
    kind: Annotated[str, AfterValidator(_kind), Fix(_kinds_fix)]
    timeout_seconds: Annotated[
        float, Field(gt=0, le=60), Fix("Write a number of seconds from 0.1 to 60.")
    ] = 2.0
    demographics_rank: Annotated[
        int | None,
        Field(ge=1),
        Fix("Write a whole number from 1 (most authoritative), or leave it out."),
    ] = None
    relationships: Annotated[str, AfterValidator(_relationships), Fix(RELATIONSHIPS_FIX)] = TEAM
    services: Annotated[
        dict[str, ServiceModel], Fix("Write one [services.<id>] table per service.")
    ] = {}
    source: Any = None
    tables: Any = None
    files: Any = None
    items: Annotated[
        dict[Annotated[str, AfterValidator(_catalogue_item)], Any],
        Field(min_length=1),
        Fix(
            "Add an [items] table mapping catalogue items to your fields "
            "(see `fame-gateway items`)."
        ),
    ]
    break_glass_webhook: Annotated[
        str | None,
        Field(pattern=r"^https?://"),
        Fix("Write the https:// URL that should receive break-glass notices, or leave it out."),
    ] = None
    cache_seconds: Annotated[
        float,
        Field(ge=0, le=3600),
        Fix(
            "Write how many seconds answers may be kept in memory, from 0 (never, the "
            "default) to 3600."
        ),
    ] = 0.0
    connect_timeout_seconds: Annotated[
        float | None, Field(ge=0.05, le=30), Fix(_range(0.05, 30, RESILIENCE["connect"]))
    ] = None
    max_concurrent_calls: Annotated[
        int | None, Field(ge=1, le=1000), Fix(_range(1, 1000, RESILIENCE["calls"], whole=True))
    ] = None
    retries: Annotated[
        int | None, Field(ge=0, le=3), Fix(_range(0, 3, RESILIENCE["retries"], whole=True))
    ] = None
    circuit_failures: Annotated[
        int | None,
        Field(ge=1, le=1000),
        Fix(_range(1, 1000, RESILIENCE["failures"], whole=True)),
    ] = None
    circuit_window_seconds: Annotated[
        float | None, Field(ge=1, le=3600), Fix(_range(1, 3600, RESILIENCE["window"]))
    ] = None
    circuit_open_seconds: Annotated[
        float | None, Field(ge=0.1, le=3600), Fix(_range(0.1, 3600, RESILIENCE["open"]))
    ] = None
