"""The Information Sharing Protocol as data: ``config/sharing-protocol.toml``.

The protocol is what the agencies signed: every shareable data item, by owning
agency, with its category, the roles that may receive it, the purposes it may
serve and the basis for sharing it. It is written as clauses, each covering
some items of some agencies; every (agency, item) pair is covered by at most
one clause, so every decision can name the one clause it relied on. What no
clause covers is never shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from gateway.config.protocol_models import (
    ClaimedPurpose,
    ClauseTable,
    EmergencyPurpose,
    ProtocolFile,
    declared,
)
from gateway.config.protocol_purposes import PURPOSES, ConsentForm, Establishment, Purpose
from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.config_models import validate
from gateway.core.errors import ConfigErrors, Problems, read_toml
from gateway.core.services import AgencyServices

__all__ = [
    "PURPOSES",
    "Basis",
    "Clause",
    "ConsentForm",
    "Establishment",
    "Purpose",
    "SharingProtocol",
    "load_protocol",
]


class Basis(Enum):
    """Why an item may be shared."""

    #: Shared only with the person's recorded consent.
    EXPLICIT = "explicit"
    #: Shared for the clause's purposes unless the person has objected.
    IMPLIED = "implied"
    #: Shared under a legal duty (e.g. safeguarding) whatever the consent; always audited.
    STATUTORY = "statutory"


@dataclass(frozen=True)
class Clause:
    """One clause of the protocol: which items of which agencies go to whom, for what."""

    id: str
    title: str
    agencies: frozenset[str]
    items: frozenset[str]
    category: str
    roles: frozenset[str]
    purposes: frozenset[str]
    basis: Basis
    sealed: bool = False
    note: str = ""


@dataclass(frozen=True)
class SharingProtocol:
    """The whole protocol, indexed by (agency, item)."""

    title: str
    version: str
    clauses: tuple[Clause, ...]
    categories: Mapping[str, str]
    roles: Mapping[str, str]
    purposes: Mapping[str, Purpose]
    break_glass_roles: frozenset[str]
    break_glass_hours: float
    governance_roles: frozenset[str]
    #: Each agency's need-to-know rules for its own teams (from its agency file).
    services: Mapping[str, AgencyServices] = field(default_factory=dict)
    #: The categories a break-glass reason must be given under, with their descriptions.
    break_glass_reasons: Mapping[str, str] = field(default_factory=dict)
    #: The kinds of evidence a consent record may cite.
    consent_forms: Mapping[str, ConsentForm] = field(default_factory=dict)
    #: ``practitioner@agency`` of guardians who oversee every agency's governance data.
    lead_guardians: frozenset[str] = frozenset()
    #: Roles that keep the person index (link, unlink, review matches) for their agency.
    index_roles: frozenset[str] = frozenset()
    #: The catalogue the clauses' items were validated against.
    catalogue: Catalogue = STANDARD
    _index: Mapping[tuple[str, str], Clause] = field(default_factory=dict, repr=False)

    def clause_for(self, agency: str, item: str) -> Clause | None:
        """The clause covering this agency's item, or None when the protocol does not list it."""
        return self._index.get((agency, item))

    def services_of(self, agency: str) -> AgencyServices:
        """The agency's need-to-know rules (relationships per team when it declares none)."""
        found = self.services.get(agency)
        return found if found is not None else _DEFAULT_SERVICES

    def covers(self, agency: str, item: str) -> bool:
        """Whether the protocol lists this agency's item at all."""
        return (agency, item) in self._index


_DEFAULT_SERVICES = AgencyServices()


def _expand_items(patterns: list[str], catalogue: Catalogue) -> set[str]:
    """Item names, ``set.*`` standing for every item of the record set."""
    items: set[str] = set()
    for pattern in patterns:
        if pattern.endswith(".*"):
            items.update(item.name for item in catalogue.record_sets_by_name[pattern[:-2]].items)
        else:
            items.add(pattern)
    return items


def load_protocol(
    file: Path,
    agency_ids: set[str],
    services: Mapping[str, AgencyServices] | None = None,
    *,
    catalogue: Catalogue = STANDARD,
) -> SharingProtocol:
    """Read and validate the protocol against ``catalogue``; raise ConfigErrors naming
    every problem.

    ``services`` are the agencies' need-to-know rules from their agency files;
    their narrower categories count as carrying a category.
    """
    services = dict(services or {})
    problems = Problems(file)
    doc = read_toml(file)
    context = declared(doc, agency_ids, catalogue)
    read = validate(ProtocolFile, doc, problems, context=context)
    # The clauses are read whatever else is wrong, so that every problem is reported.
    raw_clauses = doc.get("clause")
    clauses = _clauses(raw_clauses if isinstance(raw_clauses, list) else [], context, problems)
    if read is not None and not problems.errors:
        _check_categories_carried(read.categories, clauses, services, problems)
    if read is None or problems.errors:
        raise ConfigErrors(problems.errors)
    break_glass = read.break_glass
    return SharingProtocol(
        title=read.title,
        version=read.version,
        clauses=tuple(clauses),
        categories=read.categories,
        roles=read.roles,
        purposes=_purposes(read, list(doc["purposes"])),
        break_glass_roles=frozenset(break_glass.roles),
        break_glass_hours=break_glass.hours,
        governance_roles=frozenset(read.governance.roles),
        services=services,
        break_glass_reasons=break_glass.reasons,
        consent_forms={
            name: ConsentForm(name, form.description, form.pattern, form.own_words)
            for name, form in read.consent_forms.items()
        },
        lead_guardians=frozenset(read.governance.lead_guardians),
        index_roles=frozenset(read.governance.index_roles),
        catalogue=catalogue,
        _index={(agency, item): c for c in clauses for agency in c.agencies for item in c.items},
    )


def _purposes(read: ProtocolFile, order: list[str]) -> dict[str, Purpose]:
    """The purposes in the order the file declares them; emergency's roles and hours are
    break-glass's."""
    purposes: dict[str, Purpose] = {}
    for name in order:
        body = getattr(read.purposes, name)
        if isinstance(body, EmergencyPurpose):
            purposes[name] = Purpose(
                name,
                body.description,
                Establishment.BREAK_GLASS,
                frozenset(read.break_glass.roles),
                hours=read.break_glass.hours,
            )
        elif isinstance(body, ClaimedPurpose):
            purposes[name] = Purpose(
                name,
                body.description,
                Establishment(body.established),
                frozenset(body.roles),
                hours=body.hours or 0.0,
                reference_pattern=body.reference_pattern or "",
                reference_hint=body.reference_hint or "",
            )
    return purposes


def _clauses(raw: list[Any], context: dict[str, Any], problems: Problems) -> list[Clause]:
    """Each ``[[clause]]`` that is right, named by its id (by position until it has one);
    an id used twice, or an agency's item covered twice, is refused."""
    clauses: list[Clause] = []
    covered: dict[tuple[str, str], Clause] = {}
    for position, body in enumerate(raw):
        if not isinstance(body, dict):
            continue  # the file's model reports it
        named = body.get("id")
        where = f"clause {named}" if isinstance(named, str) and named else f"clause[{position}]"
        table = validate(ClauseTable, body, problems, where, context)
        if table is None:
            continue
        if any(clause.id == table.id for clause in clauses):
            problems.add(
                f"clause[{position}].id",
                f"{table.id!r} is used twice",
                "Give each clause its own id.",
            )
            continue
        clause = Clause(
            id=table.id,
            title=table.title,
            agencies=frozenset(table.agencies),
            items=frozenset(_expand_items(table.items, context["catalogue"])),
            category=table.category,
            roles=frozenset(table.roles),
            purposes=frozenset(table.purposes),
            basis=Basis(table.basis),
            sealed=table.sealed,
            note=table.note,
        )
        for agency in sorted(clause.agencies):
            for item in sorted(clause.items):
                other = covered.setdefault((agency, item), clause)
                if other is not clause:
                    problems.add(
                        f"clause[{position}]",
                        f"covers {agency} {item}, which clause {other.id} already covers",
                        "Cover each agency's item in one clause only.",
                    )
        clauses.append(clause)
    return clauses


def _check_categories_carried(
    categories: Mapping[str, str],
    clauses: list[Clause],
    services: Mapping[str, AgencyServices],
    problems: Problems,
) -> None:
    # A consent or objection can be recorded for any declared category; one that no
    # clause or service carries would be a record that protects nothing.
    carried = {clause.category for clause in clauses}
    for agency_services in services.values():
        carried |= {s.category for s in agency_services.services if s.category is not None}
    for category in categories:
        if not any(c == category or c.startswith(category + ".") for c in carried):
            problems.add(
                f"categories.{category}",
                "is carried by no clause and no agency's service, so a consent or objection "
                "recorded for it would protect nothing",
                "Name it as the category of the clauses (or an agency file's service) whose "
                "items it covers, or remove it.",
            )
