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

from gateway.config.agencies import read_toml
from gateway.config.protocol_purposes import (
    PURPOSES,
    ConsentForm,
    Establishment,
    Purpose,
    parse_consent_forms,
    parse_purposes,
    strings,
)
from gateway.core.catalogue import STANDARD, Catalogue
from gateway.core.errors import ConfigErrors, Problems
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


_TOP = {
    "title",
    "version",
    "categories",
    "roles",
    "purposes",
    "break_glass",
    "governance",
    "consent_forms",
    "clause",
}
_DEFAULT_SERVICES = AgencyServices()
_CLAUSE = {
    "id",
    "title",
    "agencies",
    "items",
    "category",
    "roles",
    "purposes",
    "basis",
    "sealed",
    "note",
}


def _expand_items(patterns: list[str], catalogue: Catalogue) -> tuple[set[str], list[str]]:
    items: set[str] = set()
    unknown: list[str] = []
    for pattern in patterns:
        if pattern.endswith(".*"):
            rs = catalogue.record_sets_by_name.get(pattern[:-2])
            if rs is None:
                unknown.append(pattern)
                continue
            items.update(item.name for item in rs.items)
        elif pattern in catalogue.items:
            items.add(pattern)
        else:
            unknown.append(pattern)
    return items, unknown


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
    for key in sorted(set(doc) - _TOP):
        problems.add(key, "is not a protocol key", f"Use: {', '.join(sorted(_TOP))}.")
    title = doc.get("title")
    version = doc.get("version")
    if not isinstance(title, str) or not title:
        problems.add("title", "is missing", "Write the protocol's title as the agencies signed it.")
        title = ""
    if not isinstance(version, str) or not version:
        problems.add("version", "is missing", 'Write the signed version, e.g. version = "2026.1".')
        version = ""
    categories = _described(doc, "categories", problems)
    roles = _described(doc, "roles", problems)
    break_glass = doc.get("break_glass", {})
    if not isinstance(break_glass, dict):
        problems.add("break_glass", "is not a table", "Write [break_glass] with roles and hours.")
        break_glass = {}
    bg_roles = strings(break_glass.get("roles", []))
    hours = break_glass.get("hours", 4)
    if bg_roles is None or any(r not in roles for r in bg_roles):
        problems.add(
            "break_glass.roles",
            f"is {bg_roles!r}",
            "List roles declared under [roles] that may break glass.",
        )
        bg_roles = []
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 24:
        problems.add(
            "break_glass.hours", f"is {hours!r}", "Write a number of hours from 0.1 to 24."
        )
        hours = 4
    reasons = break_glass.get("reasons")
    if (
        not isinstance(reasons, dict)
        or not reasons
        or not all(isinstance(v, str) and v for v in reasons.values())
    ):
        problems.add(
            "break_glass.reasons",
            "is missing or not a table of reason categories to descriptions",
            "Write [break_glass.reasons] with the categories a practitioner must choose "
            'from, e.g. unconscious = "The person cannot be asked and needs urgent care."',
        )
        reasons = {}
    governance = doc.get("governance", {})
    if not isinstance(governance, dict):
        problems.add("governance", "is not a table", "Write [governance] with roles.")
        governance = {}
    ig_roles = strings(governance.get("roles", []))
    if ig_roles is None or any(r not in roles for r in ig_roles):
        problems.add(
            "governance.roles",
            f"is {ig_roles!r}",
            "List information-governance roles (caldicott_guardian, ...) declared under [roles].",
        )
        ig_roles = []
    leads = strings(governance.get("lead_guardians", []))
    if leads is None or any(
        "@" not in lead or lead.rsplit("@", 1)[1] not in agency_ids for lead in leads
    ):
        problems.add(
            "governance.lead_guardians",
            f"is {governance.get('lead_guardians')!r}",
            'List "practitioner@agency-id" of guardians who oversee every agency\'s '
            "governance data, or leave it out (each guardian then sees their own agency's).",
        )
        leads = []
    index_roles = strings(governance.get("index_roles", []))
    if index_roles is None or any(r not in roles for r in index_roles):
        problems.add(
            "governance.index_roles",
            f"is {governance.get('index_roles')!r}",
            "List the roles declared under [roles] that keep the person index (link and "
            'unlink records, review uncertain matches), e.g. ["index_administrator"], or '
            "leave it out (then only `fame-gateway index` changes the index)",
        )
        index_roles = []
    purposes = parse_purposes(
        doc, roles, frozenset(bg_roles), frozenset(ig_roles), float(hours), problems
    )
    forms = parse_consent_forms(doc, problems)
    clauses: list[Clause] = []
    index: dict[tuple[str, str], Clause] = {}
    raw_clauses = doc.get("clause", [])
    if not isinstance(raw_clauses, list) or not raw_clauses:
        problems.add("clause", "is missing", "Add one [[clause]] per agreed sharing.")
        raw_clauses = []
    seen_ids: set[str] = set()
    for position, raw in enumerate(raw_clauses):
        clause = _clause(
            raw, position, agency_ids, categories, roles, purposes, catalogue, problems
        )
        if clause is None:
            continue
        if clause.id in seen_ids:
            problems.add(
                f"clause[{position}].id",
                f"{clause.id!r} is used twice",
                "Give each clause its own id.",
            )
            continue
        seen_ids.add(clause.id)
        for agency in sorted(clause.agencies):
            for item in sorted(clause.items):
                other = index.get((agency, item))
                if other is not None:
                    problems.add(
                        f"clause[{position}]",
                        f"covers {agency} {item}, which clause {other.id} already covers",
                        "Cover each agency's item in one clause only.",
                    )
                    continue
                index[(agency, item)] = clause
        clauses.append(clause)
    if not problems.errors:
        _check_categories_carried(categories, clauses, services, problems)
    if problems.errors:
        raise ConfigErrors(problems.errors)
    return SharingProtocol(
        title=str(title),
        version=str(version),
        clauses=tuple(clauses),
        categories=categories,
        roles=roles,
        purposes=purposes,
        break_glass_roles=frozenset(bg_roles),
        break_glass_hours=float(hours),
        governance_roles=frozenset(ig_roles),
        services=services,
        break_glass_reasons=dict(reasons),
        consent_forms=forms,
        lead_guardians=frozenset(leads),
        index_roles=frozenset(index_roles),
        catalogue=catalogue,
        _index=index,
    )


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


def _described(doc: Mapping[str, Any], key: str, problems: Problems) -> dict[str, str]:
    raw = doc.get(key)
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, str) for v in raw.values()):
        problems.add(
            key,
            "is missing or not a table of names to descriptions",
            f'Write [{key}] with name = "description" lines.',
        )
        return {}
    return dict(raw)


def _clause(
    raw: Any,
    position: int,
    agency_ids: set[str],
    categories: Mapping[str, str],
    roles: Mapping[str, str],
    purposes: Mapping[str, Purpose],
    catalogue: Catalogue,
    problems: Problems,
) -> Clause | None:
    where = f"clause[{position}]"
    if not isinstance(raw, dict):
        problems.add(where, "is not a table", "Write it as [[clause]].")
        return None
    before = len(problems.errors)
    for key in sorted(set(raw) - _CLAUSE):
        problems.add(f"{where}.{key}", "is not a clause key", f"Use: {', '.join(sorted(_CLAUSE))}.")
    clause_id, title = raw.get("id"), raw.get("title")
    if not isinstance(clause_id, str) or not clause_id:
        problems.add(f"{where}.id", "is missing", 'Write the clause number, e.g. id = "ISP-3.1".')
    else:
        where = f"clause {clause_id}"
    if not isinstance(title, str) or not title:
        problems.add(f"{where}.title", "is missing", "Say in a few words what is shared.")
    agencies = strings(raw.get("agencies"))
    if agencies is None:
        problems.add(f"{where}.agencies", "is missing", "List the owning agencies' ids.")
        agencies = []
    for agency in agencies:
        if agency not in agency_ids:
            problems.add(
                f"{where}.agencies",
                f"names {agency!r}, which is not a registered agency",
                f"Use one of: {', '.join(sorted(agency_ids))}.",
            )
    patterns = strings(raw.get("items"))
    items: set[str] = set()
    if patterns is None:
        problems.add(
            f"{where}.items", "is missing", 'List items, e.g. ["medications.*", "alerts.severity"].'
        )
    else:
        items, unknown = _expand_items(patterns, catalogue)
        for pattern in unknown:
            problems.add(
                f"{where}.items",
                f"names {pattern!r}, which is not a catalogue item or record set",
                "See `fame-gateway items` for the catalogue.",
            )
    category = raw.get("category")
    if category not in categories:
        problems.add(
            f"{where}.category",
            f"is {category!r}",
            f"Use a category declared under [categories]: {', '.join(sorted(categories))}.",
        )
    clause_roles = strings(raw.get("roles"))
    if clause_roles is None or any(role not in roles for role in clause_roles):
        problems.add(
            f"{where}.roles",
            f"is {raw.get('roles')!r}",
            f"List roles declared under [roles]: {', '.join(sorted(roles))}.",
        )
        clause_roles = []
    clause_purposes = strings(raw.get("purposes"))
    if clause_purposes is None or any(p not in purposes for p in clause_purposes):
        problems.add(
            f"{where}.purposes",
            f"is {raw.get('purposes')!r}",
            f"List purposes declared under [purposes]: {', '.join(sorted(purposes))}.",
        )
        clause_purposes = []
    try:
        basis = Basis(raw.get("basis"))
    except ValueError:
        problems.add(
            f"{where}.basis",
            f"is {raw.get('basis')!r}",
            'Write "explicit", "implied" or "statutory".',
        )
        basis = Basis.EXPLICIT
    sealed = raw.get("sealed", False)
    if not isinstance(sealed, bool):
        problems.add(f"{where}.sealed", f"is {sealed!r}", "Write true or false.")
        sealed = False
    note = raw.get("note", "")
    if not isinstance(note, str):
        problems.add(f"{where}.note", f"is {note!r}", "Write a sentence.")
        note = ""
    if len(problems.errors) > before:
        return None
    assert isinstance(clause_id, str) and isinstance(title, str) and isinstance(category, str)
    return Clause(
        id=clause_id,
        title=title,
        agencies=frozenset(agencies),
        items=frozenset(items),
        category=category,
        roles=frozenset(clause_roles),
        purposes=frozenset(clause_purposes),
        basis=basis,
        sealed=sealed,
        note=note,
    )
