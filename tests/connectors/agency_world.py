"""A demo world with one more agency registered from its file, for end-to-end tests of a
connector kind through ``/graphql``: its protocol clause, its person index links, and a
record of what its connector was asked and handed back."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.config import declared_purposes
from connectors.base import FetchRequest, FetchResult
from tests.support import DEMO_CONFIG, World, permissive_protocol


def protocol_with_clauses(
    agency_id: str, shared: Iterable[str], gp_only: Iterable[str] = ()
) -> str:
    """The permissive test protocol plus clauses for ``agency_id``: ``shared`` items go to
    every role, ``gp_only`` items to GPs alone (implied basis, every purpose)."""
    demo = tomllib.loads((DEMO_CONFIG / "sharing-protocol.toml").read_text())

    def listed(names: Iterable[str]) -> str:
        return "[" + ", ".join(f'"{name}"' for name in sorted(names)) + "]"

    permissive = permissive_protocol()
    purposes = declared_purposes(permissive.splitlines())
    lines: list[str] = []
    for suffix, items, roles in (
        ("ALL", list(shared), list(demo["roles"])),
        ("GP", list(gp_only), ["gp"]),
    ):
        if not items:
            continue
        lines += [
            "[[clause]]",
            f'id = "TEST-{agency_id}-{suffix}"',
            f'title = "What {agency_id} shares ({suffix})"',
            f'agencies = ["{agency_id}"]',
            f"items = {listed(items)}",
            'category = "everything"',
            f"roles = {listed(roles)}",
            f"purposes = {listed(purposes)}",
            'basis = "implied"',
        ]
    return permissive + "\n".join(lines) + "\n"


@dataclass
class FetchLog:
    """What one connector was asked and what it handed back, call by call."""

    calls: list[tuple[FetchRequest, FetchResult]] = field(default_factory=list)

    def fields_returned(self) -> set[str]:
        """Every ``record_set.field`` present in any row handed back."""
        return {
            f"{rs_name}.{name}"
            for _, result in self.calls
            for records in result.values()
            for rs_name, rows in records.items()
            for row in rows
            for name in row
            if name != "agency"  # the gateway stamps each row with its source afterwards
        }

    def items_asked(self) -> set[str]:
        """Every item any call asked for."""
        return {item for request, _ in self.calls for item in request.items}


def record_fetches(world: World, agency_id: str) -> FetchLog:
    """Record the real connector's fetches (it still does all the work)."""
    assert world.gateway is not None
    connector = world.gateway.connectors[agency_id]
    real = connector.fetch
    log = FetchLog()

    async def recording(request: FetchRequest) -> FetchResult:
        result = await real(request)
        # Copied: the gateway adds an "agency" to each row it receives.
        log.calls.append(
            (
                request,
                {
                    local_id: {rs: [dict(row) for row in rows] for rs, rows in records.items()}
                    for local_id, records in result.items()
                },
            )
        )
        return result

    setattr(connector, "fetch", recording)  # noqa: B010 - an instance attribute, not the class
    return log


async def link_people(
    world: World, agency_id: str, team: str, local_ids: Mapping[int, str]
) -> dict[int, str]:
    """Link the population's people (by index) to their ids at ``agency_id``; returns
    their gateway ids."""
    assert world.gateway is not None
    ids: dict[int, str] = {}
    for index, local_id in local_ids.items():
        person = world.population.people[index]
        ids[index] = await world.gateway.index.register(
            [(agency_id, local_id, team)], nhs_number=person.nhs_number
        )
    return ids


def withheld(result: Mapping[str, Any], agency_id: str) -> dict[str, str]:
    """``extensions.withheld`` for one agency, as item -> reason."""
    return {
        entry["item"]: entry["reason"]
        for entry in result.get("extensions", {}).get("withheld", [])
        if entry["agency"] == agency_id
    }
