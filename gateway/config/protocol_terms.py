"""The terms of the protocol document: how the protocol is applied to every request.

Section 1 of the document :mod:`gateway.config.protocol_render` writes, in plain words
for the agencies' information governance leads: the bases for sharing, the
purposes of use and how each is established, the relationships that let a team
see a person's records, the categories consent is recorded under, the evidence a
consent must cite, break-glass and governance.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.protocol import Establishment, Purpose, SharingProtocol
from gateway.config.protocol_blocks import (
    Block,
    Bullets,
    Heading,
    Namer,
    Para,
    Table,
    Text,
    code,
    codes,
    declared_order,
    hours,
    joined_codes,
    slug,
    strong,
    t,
)
from gateway.core.services import AGENCY, AgencyServices, Service

__all__ = ["terms"]

_BASES: tuple[tuple[str, str], ...] = (
    (
        "Explicit",
        "Shared only while the person's recorded consent is in force: consent for the item "
        "or for its category, given to the recipient's agency or role (or to everyone). "
        "An objection withholds it.",
    ),
    (
        "Implied",
        "Shared with the clause's roles for the clause's purposes unless the person has "
        "objected (to the item or its category, for the recipient's agency or role).",
    ),
    (
        "Statutory",
        "Shared under a legal duty, for the clause's purposes only, whatever the person's "
        "consent or objection. Every disclosure is recorded in the audit trail.",
    ),
    (
        "Sealed",
        "Never leaves the owning agency: no role, purpose, consent or break-glass opens it.",
    ),
)


def terms(
    protocol: SharingProtocol, services: Mapping[str, AgencyServices], agency_name: Namer
) -> list[Block]:
    """Section 1 of the document; ``services`` are the need-to-know rules of each agency."""
    blocks: list[Block] = [
        Heading(2, t("1. How the protocol is applied"), "how"),
        Heading(3, t("Bases for sharing"), "bases"),
        Table(("Basis", "Meaning"), tuple((t(strong(b)), t(m)) for b, m in _BASES)),
        Para(
            t(
                "Whatever the basis, a recipient must hold one of the clause's roles, make the "
                "request for one of its purposes, and have a legitimate relationship with the "
                "person: a team they may rely on currently involved with the person (see ",
                strong("Relationships inside each agency"),
                "), or an active break-glass grant of their own. A role alone is not enough: "
                "without a relationship a practitioner finds at most the person's index entry.",
            )
        ),
        Para(
            t(
                "An agency's own practitioners with a relationship see the agency's own "
                "records; the clauses govern what passes between agencies."
            )
        ),
    ]
    blocks += _purposes(protocol)
    blocks += _relationships(protocol, services, agency_name)
    blocks += [
        Heading(3, t("Roles"), "roles"),
        Table(
            ("Role", "Description", "May break glass", "Governance"),
            tuple(
                (
                    t(code(name)),
                    t(text),
                    t("yes" if name in protocol.break_glass_roles else "no"),
                    t("yes" if name in protocol.governance_roles else "no"),
                )
                for name, text in protocol.roles.items()
            ),
        ),
    ]
    blocks += _categories(protocol, services, agency_name)
    blocks += _consent_evidence(protocol)
    blocks += _break_glass(protocol)
    blocks += _governance(protocol, agency_name)
    return blocks


# ----------------------------------------------------------------------------- purposes

_HOW: Mapping[Establishment, str] = {
    Establishment.ASSERTED: "Asserted: from the practitioner's identity provider",
    Establishment.REASONED: "Reasoned: per person, by recording the enquiry or referral",
    Establishment.BREAK_GLASS: "Break-glass only",
}


def _purposes(protocol: SharingProtocol) -> list[Block]:
    def how(purpose: Purpose) -> Text:
        if purpose.established is Establishment.ASSERTED:
            return t(_HOW[purpose.established])
        return t(_HOW[purpose.established], "; lasts ", hours(purpose.hours))

    by_kind = {
        kind: [p for p in protocol.purposes.values() if p.established is kind]
        for kind in Establishment
    }
    blocks: list[Block] = [
        Heading(3, t("Purposes of use"), "purposes"),
        Para(
            t(
                "Every request is made for one purpose of use, and a clause shares its items "
                "for the purposes it lists only. A purpose is established, never merely "
                "claimed: each says who may claim it and how it comes to apply."
            )
        ),
        Table(
            ("Purpose", "Meaning", "Who may claim it", "How it is established"),
            tuple(
                (
                    t(code(name)),
                    t(purpose.description),
                    codes(declared_order(purpose.roles, protocol.roles)),
                    how(purpose),
                )
                for name, purpose in protocol.purposes.items()
            ),
        ),
    ]
    lines: list[Text] = []
    if by_kind[Establishment.ASSERTED]:
        lines.append(
            t(
                strong("Asserted"),
                " (",
                joined_codes([p.name for p in by_kind[Establishment.ASSERTED]]),
                "): the practitioner's own identity provider vouches for it. The token it "
                "issues at log-in names the purposes the practitioner may work under; a "
                "request may choose among them (the ",
                code("Fame-Purpose-Of-Use"),
                " header), never add one, and a role the purpose does not list cannot claim it.",
            )
        )
    for purpose in by_kind[Establishment.REASONED]:
        lines.append(
            t(
                strong("Reasoned"),
                " (",
                code(purpose.name),
                "): applies to one person at a time, and only once the practitioner has "
                "recorded the enquiry or referral it serves: its reference and, in their own "
                "words, what is happening. The reference is ",
                purpose.reference_hint,
                "; it must match ",
                code(purpose.reference_pattern),
                ". The record is a grant for that practitioner and that person, lasting ",
                hours(purpose.hours),
                ", which the guardians review as they review break-glass. It needs a "
                "relationship with the person already: it changes the purpose the "
                "practitioner works under for that person, not whom they may see. Asked for "
                "without a record, it is refused.",
            )
        )
    for purpose in by_kind[Establishment.BREAK_GLASS]:
        lines.append(
            t(
                strong("Break-glass only"),
                " (",
                code(purpose.name),
                "): applies only under a break-glass grant (see ",
                strong("Break-glass"),
                "); asked for otherwise, by header or token, it is refused.",
            )
        )
    blocks.append(Bullets(tuple(lines)))
    blocks.append(
        Para(
            t(
                "The audit trail records the purpose each disclosure was made for; under a "
                "grant it is the grant's purpose."
            )
        )
    )
    return blocks


# ----------------------------------------------------------------------------- relationships


def _relationships(
    protocol: SharingProtocol, services: Mapping[str, AgencyServices], agency_name: Namer
) -> list[Block]:
    governance = declared_order(protocol.governance_roles, protocol.roles)
    blocks: list[Block] = [
        Heading(3, t("Relationships inside each agency"), "relationships"),
        Para(
            t(
                "A role is not a reason to see a record: inside one agency, as between "
                "agencies, a practitioner needs a relationship with the person. The "
                "relationship is held by the team involved with the person. Each agency's "
                "registration groups its teams into services: the teams of one service share "
                "their people, and a service may be opened to the teams of another service of "
                "the same agency. A team named in no service relates to its own people only."
            )
        ),
    ]
    if governance:
        blocks.append(
            Para(
                t(
                    "A governance role alone gives no relationship: a ",
                    joined_codes(governance, "or"),
                    " sees governance data (grants, disclosures and usage figures), not case "
                    "records, unless their own team is involved with the person.",
                )
            )
        )
    for agency_id in sorted(services, key=lambda a: (agency_name(a), a)):
        blocks += _agency_relationships(protocol, agency_id, services[agency_id], agency_name)
    return blocks


def _agency_relationships(
    protocol: SharingProtocol, agency_id: str, rules: AgencyServices, agency_name: Namer
) -> list[Block]:
    blocks: list[Block] = [
        # The agency's id is left to its heading under items by agency, which links to it.
        Heading(4, t(agency_name(agency_id)), slug(f"relationships-{agency_id}"))
    ]
    if rules.scope == AGENCY:
        blocks.append(
            Para(
                t(
                    "Relationships are held by the whole agency: any of its practitioners "
                    "relates to anyone the agency holds."
                )
            )
        )
        return blocks
    if not rules.services:
        blocks.append(
            Para(
                t(
                    "Relationships are held per team, and each team is a service of its own: a "
                    "practitioner relates only to the people their own team holds."
                )
            )
        )
        return blocks
    blocks.append(
        Para(
            t(
                "Relationships are held per team: a practitioner relates to the people held "
                "by the teams of their own service, and by the teams of any service open to "
                "theirs (third column). A practitioner of another of the agency's services "
                "has none."
            )
        )
    )
    names = {service.id: service.name for service in rules.services}
    rows: list[tuple[Text, ...]] = []
    for service in rules.services:
        seen_by = sorted(names.get(other, other) for other in service.open_to)
        rows.append(
            (
                t(service.name, " (", code(service.id), ")"),
                t(", ".join(sorted(service.teams))),
                t(", ".join(seen_by) if seen_by else "no other service"),
                t(code(service.category)) if service.category else t("as its clauses say"),
            )
        )
    blocks.append(
        Table(("Service", "Teams", "Its people also seen by", "Consent category"), tuple(rows))
    )
    for service in rules.services:
        if service.category:
            blocks.append(_narrower(protocol, service))
    return blocks


def _narrower(protocol: SharingProtocol, service: Service) -> Para:
    assert service.category is not None
    covering = [c for c in _ancestors(service.category) if c in protocol.categories]
    return Para(
        t(
            "Records held by the teams of ",
            service.name,
            " are ",
            code(service.category),
            " records, whatever clause they are shared under: a person's objection to ",
            joined_codes([service.category, *covering], "or"),
            " withholds them.",
        )
    )


def _ancestors(category: str) -> list[str]:
    """The categories that cover ``category``, nearest first: ``a.b.c`` -> ``a.b``, ``a``."""
    parts = category.split(".")
    return [".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1)]


# ----------------------------------------------------------------------------- categories


def _categories(
    protocol: SharingProtocol, services: Mapping[str, AgencyServices], agency_name: Namer
) -> list[Block]:
    blocks: list[Block] = [
        Heading(3, t("Categories"), "categories"),
        Para(
            t(
                "Consent and objections are recorded per category or per item. Categories form "
                "a hierarchy: a record for a category covers its sub-categories (the names "
                "that continue it after a dot), never the other way round."
            )
        ),
    ]
    rows: list[tuple[Text, ...]] = []
    for name, text in protocol.categories.items():
        children = [c for c in protocol.categories if c.startswith(name + ".")]
        carriers = [c.id for c in protocol.clauses if c.category == name]
        carriers += [
            f"{service.name} ({agency_name(agency_id)})"
            for agency_id in sorted(services, key=lambda a: (agency_name(a), a))
            for service in services[agency_id].services
            if service.category == name
        ]
        rows.append(
            (
                t(code(name)),
                t(text),
                codes(children),
                t(", ".join(carriers) if carriers else "through its sub-categories"),
            )
        )
    blocks.append(Table(("Category", "Description", "Covers", "Carried by"), tuple(rows)))
    return blocks


# ----------------------------------------------------------------------------- consent evidence


def _consent_evidence(protocol: SharingProtocol) -> list[Block]:
    return [
        Heading(3, t("Consent evidence"), "consent-evidence"),
        Para(
            t(
                "A consent or objection is recorded, or withdrawn, by a practitioner involved "
                "with the person, with a reference to its evidence. The reference must cite "
                "evidence of one of the forms below, so a reference that names nothing is "
                "refused. ",
                strong("Withdrawing an objection needs evidence in the person's own words"),
                " (a form marked yes below): the person said it, not someone on their behalf.",
            )
        ),
        Table(
            ("Form", "What it is", "The reference contains", "The person's own words"),
            tuple(
                (
                    t(code(form.name)),
                    t(form.description),
                    t(code(form.pattern)),
                    t("yes" if form.own_words else "no"),
                )
                for form in protocol.consent_forms.values()
            ),
        ),
    ]


# ------------------------------------------------------------------------ break-glass, governance


def _break_glass(protocol: SharingProtocol) -> list[Block]:
    blocks: list[Block] = [Heading(3, t("Break-glass"), "break-glass")]
    bg_roles = declared_order(protocol.break_glass_roles, protocol.roles)
    if not bg_roles:
        blocks.append(Para(t("No role may break glass under this protocol.")))
        return blocks
    emergency = [
        p.name for p in protocol.purposes.values() if p.established is Establishment.BREAK_GLASS
    ]
    blocks.append(
        Bullets(
            (
                t(
                    "Who may: practitioners in the roles ",
                    codes(bg_roles),
                    ", for a person they have no relationship with.",
                ),
                t(
                    "Why: they choose one of the reason categories below and say, in their own "
                    "words, what is happening. A reason without real content (a repeated "
                    "character, or the same words as their last) is refused."
                ),
                t(
                    "How long: the grant lasts ",
                    hours(protocol.break_glass_hours),
                    ", covers one person, is the practitioner's alone, and ends sooner when "
                    "they end it or a guardian revokes it.",
                ),
                t(
                    "What it opens: under a grant the purpose of use is ",
                    joined_codes(emergency or ["emergency"], "or"),
                    ". Only clauses that list that purpose and the practitioner's role "
                    "apply; explicit items still need consent and an objection still "
                    "withholds an implied item.",
                ),
                t(strong("Sealed items never open"), ", break-glass included."),
                t(
                    "Every access under a grant is recorded in the audit trail as break-glass, "
                    "for that purpose. Each agency whose data was delivered under it is "
                    "notified, and the person is told in their subject report."
                ),
                t(
                    "Review: a guardian of each agency whose data it opened reviews the grant, "
                    "never the practitioner who broke glass. A review of ",
                    strong("inappropriate"),
                    " ends the grant at once and notifies the agencies whose data it opened.",
                ),
            )
        )
    )
    if protocol.break_glass_reasons:
        blocks.append(
            Table(
                ("Reason category", "When it applies"),
                tuple(
                    (t(code(name)), t(text)) for name, text in protocol.break_glass_reasons.items()
                ),
            )
        )
    return blocks


def _governance(protocol: SharingProtocol, agency_name: Namer) -> list[Block]:
    blocks: list[Block] = [
        Heading(3, t("Governance"), "governance"),
        Para(
            t(
                "The roles ",
                joined_codes(declared_order(protocol.governance_roles, protocol.roles)),
                " sign this protocol for their agency and review the audit trail: "
                "every disclosure, every break-glass access and every safeguarding record. "
                "Each guardian sees grants, disclosures and usage figures for their own "
                "agency's data and people only.",
            )
        ),
    ]
    if protocol.index_roles:
        blocks.append(
            Para(
                t(
                    "The person index is kept by ",
                    joined_codes(declared_order(protocol.index_roles, protocol.roles)),
                    ", each for their own agency: they link and unlink their "
                    "agency's records of a person and decide the uncertain matches waiting "
                    "for review. Every link records how it was made and by whom, and is "
                    "recorded in the audit trail. These roles see no one's records.",
                )
            )
        )
    if not protocol.lead_guardians:
        blocks.append(
            Para(t("No lead guardian is named: no guardian sees another agency's governance data."))
        )
        return blocks
    leads: list[Text] = []
    for lead in sorted(protocol.lead_guardians):
        practitioner, agency_id = lead.rsplit("@", 1)
        leads.append(t(code(practitioner), " of ", agency_name(agency_id)))
    blocks += [
        Para(t("These lead guardians oversee every agency's governance data:")),
        Bullets(tuple(leads)),
    ]
    return blocks
