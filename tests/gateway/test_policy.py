"""The sharing decision: every permit path and every reason to withhold, one by one.

``decide`` is a pure function, so these tests build a small protocol in memory,
a person with known involvements, consent records and break-glass grants, and
ask it at a fixed ``now``. The matrix below is the readable specification: each
row is one situation and the decision, reason and rule it must give.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import pytest

from fame_demo.practitioners import PRACTITIONERS
from gateway.config.agencies import load_agencies
from gateway.config.protocol import (
    PURPOSES,
    Basis,
    Clause,
    Establishment,
    Purpose,
    SharingProtocol,
    load_protocol,
)
from gateway.core.catalogue import ITEMS, RECORD_SETS_BY_NAME
from gateway.core.services import AGENCY, AgencyServices
from gateway.decide.policy import (
    Consent,
    ConsentDecision,
    Decision,
    Grant,
    Involvement,
    PersonFacts,
    Reason,
    active_grant,
    decide,
    relationship,
)
from gateway.decide.requester import Requester
from tests.support import REPO

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)

PERMIT = ConsentDecision.PERMIT
DENY = ConsentDecision.DENY

# --------------------------------------------------------------------------- the test protocol


def clause(
    clause_id: str,
    agencies: set[str],
    items: list[str],
    category: str,
    roles: set[str],
    purposes: set[str],
    basis: Basis,
    *,
    sealed: bool = False,
) -> Clause:
    """A clause; ``items`` may name whole record sets as ``"<record set>.*"``."""
    expanded: set[str] = set()
    for pattern in items:
        if pattern.endswith(".*"):
            expanded.update(spec.name for spec in RECORD_SETS_BY_NAME[pattern[:-2]].items)
        else:
            assert pattern in ITEMS, pattern
            expanded.add(pattern)
    return Clause(
        id=clause_id,
        title=clause_id,
        agencies=frozenset(agencies),
        items=frozenset(expanded),
        category=category,
        roles=frozenset(roles),
        purposes=frozenset(purposes),
        basis=basis,
        sealed=sealed,
    )


def protocol_of(*clauses: Clause, team_scoped: frozenset[str] = frozenset()) -> SharingProtocol:
    """A SharingProtocol indexed the way load_protocol indexes it (each pair in one clause).

    Agencies in ``team_scoped`` hold relationships per team; the others per agency.
    """
    index: dict[tuple[str, str], Clause] = {}
    for each in clauses:
        for agency in each.agencies:
            for item in each.items:
                assert (agency, item) not in index, (agency, item)
                index[(agency, item)] = each
    return SharingProtocol(
        title="Test protocol",
        version="test",
        clauses=tuple(clauses),
        categories={
            name: name
            for name in (
                "health",
                "health.physical",
                "health.mental",
                "safeguarding",
                "social_care",
            )
        },
        roles={name: name for name in ("gp", "nurse", "social_worker", "housing_officer")},
        purposes={
            name: Purpose(
                name,
                name,
                Establishment.BREAK_GLASS if name == "emergency" else Establishment.ASSERTED,
                frozenset({"gp", "nurse", "social_worker", "housing_officer"}),
            )
            for name in PURPOSES
        },
        break_glass_roles=frozenset({"gp", "nurse", "social_worker"}),
        break_glass_hours=4,
        governance_roles=frozenset({"caldicott_guardian"}),
        services={
            agency: AgencyServices(scope=AGENCY)
            for agency in ("gp-a", "gp-b", "trust", "council", "housing")
            if agency not in team_scoped
        },
        _index=index,
    )


CARE = {"direct_care", "emergency"}

#: gp-a is a GP practice (team-scoped); trust, council and housing are not.
PROTOCOL = protocol_of(
    clause(
        "T-IMPLIED",
        {"gp-a"},
        ["medications.*"],
        "health.physical",
        {"nurse", "social_worker"},
        CARE,
        Basis.IMPLIED,
    ),
    clause(
        "T-EXPLICIT",
        {"gp-a"},
        ["conditions.name"],
        "health.physical",
        {"nurse", "social_worker"},
        CARE,
        Basis.EXPLICIT,
    ),
    clause(
        "T-SEALED",
        {"gp-a"},
        ["conditions.code"],
        "health.physical",
        {"nurse", "social_worker"},
        CARE,
        Basis.IMPLIED,
        sealed=True,
    ),
    clause(
        "T-STATUTORY",
        {"council"},
        ["assessments.*"],
        "safeguarding",
        {"nurse", "gp"},
        {"safeguarding", "emergency"},
        Basis.STATUTORY,
    ),
    clause(
        "T-DIRECT-ONLY",
        {"council"},
        ["timeline.*"],
        "social_care",
        {"nurse", "gp"},
        {"direct_care"},
        Basis.IMPLIED,
    ),
    clause(
        "T-MENTAL",
        {"trust"},
        ["community_episodes.*"],
        "health.mental",
        {"gp", "social_worker"},
        {"direct_care"},
        Basis.EXPLICIT,
    ),
    team_scoped=frozenset({"gp-a"}),
)

# --------------------------------------------------------------------------- people and facts

NURSE = Requester("dn-1", "trust", "District Nursing", frozenset({"nurse"}), "direct_care")
SOCIAL_WORKER = Requester(
    "sw-1", "council", "Older Adults", frozenset({"social_worker"}), "direct_care"
)
GP = Requester("gp-1", "gp-a", "gp-a", frozenset({"gp"}), "direct_care")
HOUSING_OFFICER = Requester(
    "ho-1", "housing", "Tenancy", frozenset({"housing_officer"}), "direct_care"
)

#: Every agency currently involved (gp-a through its own team).
PERSON = PersonFacts(
    "p1",
    (
        Involvement("trust", "District Nursing"),
        Involvement("council", "Older Adults"),
        Involvement("gp-a", "gp-a"),
        Involvement("housing", "Tenancy"),
    ),
)
#: Not known to the trust: its nurse needs a break-glass grant.
UNKNOWN_TO_TRUST = PersonFacts(
    "p1", (Involvement("council", "Older Adults"), Involvement("gp-a", "gp-a"))
)
#: The trust's involvement has ended.
TRUST_ENDED = PersonFacts(
    "p1", (Involvement("trust", "District Nursing", current=False), Involvement("gp-a", "gp-a"))
)


def consent(
    consent_id: str = "c1",
    *,
    decision: ConsentDecision = PERMIT,
    scope: str = "health.physical",
    scope_kind: str = "category",
    recipient: str = "*",
    recipient_kind: str = "agency",
    person_id: str = "p1",
    valid_from: dt.datetime = NOW - 30 * DAY,
    valid_until: dt.datetime | None = None,
    withdrawn_at: dt.datetime | None = None,
) -> Consent:
    """A consent (or, with ``decision=DENY``, an objection) in force at NOW unless told."""
    return Consent(
        id=consent_id,
        person_id=person_id,
        scope_kind=scope_kind,
        scope=scope,
        recipient_kind=recipient_kind,
        recipient=recipient,
        decision=decision,
        valid_from=valid_from,
        valid_until=valid_until,
        withdrawn_at=withdrawn_at,
    )


def objection(consent_id: str = "o1", **fields: Any) -> Consent:
    """An objection in force at NOW unless told."""
    return consent(consent_id, decision=DENY, **fields)


def grant(
    grant_id: str = "g1",
    *,
    practitioner: str = "dn-1",
    agency: str = "trust",
    person_id: str = "p1",
    granted_at: dt.datetime = NOW - HOUR,
    expires_at: dt.datetime = NOW + 3 * HOUR,
    ended_at: dt.datetime | None = None,
) -> Grant:
    """The trust nurse's break-glass grant for p1, active at NOW unless told."""
    return Grant(
        id=grant_id,
        person_id=person_id,
        practitioner=practitioner,
        agency=agency,
        reason="collapsed at home; no record of medicines",
        granted_at=granted_at,
        expires_at=expires_at,
        ended_at=ended_at,
    )


# --------------------------------------------------------------------------- the matrix

NO_CLAUSE = "protocol: no clause lists this item"
NO_RELATIONSHIP = "relationship: none current"
OWN = "own record"


@dataclass(frozen=True)
class Case:
    """One situation and the decision it must give (``expect`` is "permit" or a Reason)."""

    name: str
    requester: Requester
    agency: str
    item: str
    expect: Reason | str
    rule: str
    basis: Basis | None = None
    consents: tuple[Consent, ...] = ()
    grants: tuple[Grant, ...] = ()
    person: PersonFacts = PERSON
    break_glass: str | None = None
    consent: str | None = None


MEDS, DIAGNOSIS, CODE = "medications.name", "conditions.name", "conditions.code"
ASSESSMENT, CASE_NOTE, EPISODE = (
    "assessments.summary",
    "timeline.summary",
    "community_episodes.service",
)
#: The trust nurse asking for direct care; under a grant the purpose becomes emergency.
NURSE_BG = NURSE

CASES: tuple[Case, ...] = (
    # ---- not in the protocol
    Case(
        "item no clause lists",
        NURSE,
        "gp-a",
        "allergies.substance",
        Reason.NOT_IN_PROTOCOL,
        NO_CLAUSE,
    ),
    Case(
        "item listed for another agency only",
        NURSE,
        "housing",
        MEDS,
        Reason.NOT_IN_PROTOCOL,
        NO_CLAUSE,
    ),
    Case(
        "own agency's unlisted item",
        GP,
        "gp-a",
        "allergies.substance",
        Reason.NOT_IN_PROTOCOL,
        NO_CLAUSE,
    ),
    # ---- sealed
    Case(
        "sealed to a related nurse", NURSE, "gp-a", CODE, Reason.SEALED, "T-SEALED", Basis.IMPLIED
    ),
    Case(
        "sealed despite consent",
        NURSE,
        "gp-a",
        CODE,
        Reason.SEALED,
        "T-SEALED",
        Basis.IMPLIED,
        consents=(consent(scope=CODE, scope_kind="item"),),
    ),
    Case(
        "sealed despite break-glass",
        NURSE,
        "gp-a",
        CODE,
        Reason.SEALED,
        "T-SEALED",
        Basis.IMPLIED,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case("sealed item to its own agency", GP, "gp-a", CODE, "permit", OWN, Basis.IMPLIED),
    # ---- relationship
    Case(
        "no involvement",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "ended involvement",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        person=TRUST_ENDED,
    ),
    Case(
        "team-scoped agency, other team",
        replace(GP, team="gp-a-branch"),
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
    ),
    Case(
        "team-scoped agency, no team",
        replace(GP, team=None),
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
    ),
    Case("team-scoped agency, same team", GP, "gp-a", MEDS, "permit", OWN, Basis.IMPLIED),
    Case(
        "agency not team-scoped, other team",
        replace(NURSE, team="Podiatry"),
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
    ),
    Case(
        "grant expired",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(granted_at=NOW - 5 * HOUR, expires_at=NOW - HOUR),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant expires exactly now",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(expires_at=NOW),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant ended early",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(ended_at=NOW - HOUR / 2),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant not yet in force",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(granted_at=NOW + HOUR),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant of another practitioner",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(practitioner="dn-2"),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant of a same-named practitioner of another agency",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(agency="council"),),
        person=UNKNOWN_TO_TRUST,
    ),
    Case(
        "grant for another person",
        NURSE,
        "gp-a",
        MEDS,
        Reason.NO_RELATIONSHIP,
        NO_RELATIONSHIP,
        Basis.IMPLIED,
        grants=(grant(person_id="p2"),),
        person=UNKNOWN_TO_TRUST,
    ),
    # ---- role
    Case(
        "role not in clause",
        HOUSING_OFFICER,
        "gp-a",
        MEDS,
        Reason.ROLE_NOT_PERMITTED,
        "T-IMPLIED",
        Basis.IMPLIED,
    ),
    Case(
        "role not in clause, consent given",
        HOUSING_OFFICER,
        "gp-a",
        DIAGNOSIS,
        Reason.ROLE_NOT_PERMITTED,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(),),
    ),
    Case(
        "sealed is checked before roles",
        HOUSING_OFFICER,
        "gp-a",
        CODE,
        Reason.SEALED,
        "T-SEALED",
        Basis.IMPLIED,
    ),
    Case(
        "role not in statutory clause, safeguarding",
        replace(HOUSING_OFFICER, purpose="safeguarding"),
        "council",
        ASSESSMENT,
        Reason.ROLE_NOT_PERMITTED,
        "T-STATUTORY",
        Basis.STATUTORY,
    ),
    Case(
        "break-glass does not add roles",
        replace(HOUSING_OFFICER, practitioner="dn-1", agency="trust"),
        "gp-a",
        MEDS,
        Reason.ROLE_NOT_PERMITTED,
        "T-IMPLIED",
        Basis.IMPLIED,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    Case(
        "one of several roles suffices",
        replace(HOUSING_OFFICER, roles=frozenset({"housing_officer", "social_worker"})),
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
    ),
    # ---- purpose
    Case(
        "purpose not in clause",
        replace(NURSE, purpose="audit"),
        "gp-a",
        MEDS,
        Reason.PURPOSE_NOT_PERMITTED,
        "T-IMPLIED",
        Basis.IMPLIED,
    ),
    Case(
        "statutory clause, direct care",
        NURSE,
        "council",
        ASSESSMENT,
        Reason.PURPOSE_NOT_PERMITTED,
        "T-STATUTORY",
        Basis.STATUTORY,
    ),
    Case(
        "break-glass purpose is emergency, clause is direct care only",
        NURSE_BG,
        "council",
        CASE_NOTE,
        Reason.PURPOSE_NOT_PERMITTED,
        "T-DIRECT-ONLY",
        Basis.IMPLIED,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    # ---- explicit consent missing or not applicable
    Case(
        "explicit, no consent",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
    ),
    Case(
        "consent for another recipient agency",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(recipient="council"),),
    ),
    Case(
        "consent for another recipient role",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(recipient_kind="role", recipient="social_worker"),),
    ),
    Case(
        "consent of another person",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(person_id="p2"),),
    ),
    Case(
        "consent not yet valid",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(valid_from=NOW + DAY),),
    ),
    Case(
        "consent expired",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(valid_until=NOW - DAY),),
    ),
    Case(
        "consent valid until exactly now",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(valid_until=NOW),),
    ),
    Case(
        "consent withdrawn",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(withdrawn_at=NOW - HOUR),),
    ),
    Case(
        "consent withdrawn exactly now",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(withdrawn_at=NOW),),
    ),
    Case(
        "consent for another category",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope="health.mental"),),
    ),
    Case(
        "consent for a sub-category does not cover the parent",
        SOCIAL_WORKER,
        "trust",
        EPISODE,
        Reason.NO_CONSENT,
        "T-MENTAL",
        Basis.EXPLICIT,
        consents=(consent(scope="health.mental.crisis"),),
    ),
    Case(
        "category scope is a dotted prefix, not a string prefix",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope="health.phys"),),
    ),
    Case(
        "consent for another item",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope="conditions.onset", scope_kind="item"),),
    ),
    Case(
        "consent for another record set",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope="medications.*", scope_kind="item"),),
    ),
    Case(
        "break-glass does not stand in for consent",
        NURSE_BG,
        "gp-a",
        DIAGNOSIS,
        Reason.NO_CONSENT,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    # ---- objections
    Case(
        "objection beats implied",
        NURSE,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(),),
        consent="o1",
    ),
    Case(
        "item objection beats implied",
        NURSE,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(scope=MEDS, scope_kind="item"),),
        consent="o1",
    ),
    Case(
        "record-set objection beats implied",
        NURSE,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(scope="medications.*", scope_kind="item"),),
        consent="o1",
    ),
    Case(
        "objection to the recipient's role",
        NURSE,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(recipient_kind="role", recipient="nurse"),),
        consent="o1",
    ),
    Case(
        "objection to the recipient's agency",
        NURSE,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(recipient="trust"),),
        consent="o1",
    ),
    Case(
        "objection on the parent category",
        SOCIAL_WORKER,
        "trust",
        EPISODE,
        Reason.OBJECTION,
        "T-MENTAL",
        Basis.EXPLICIT,
        consents=(consent("c1", scope="health.mental"), objection(scope="health")),
        consent="o1",
    ),
    Case(
        "objection beats an explicit permit",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.OBJECTION,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent("c1"), objection(scope=DIAGNOSIS, scope_kind="item")),
        consent="o1",
    ),
    Case(
        "objection beats a later explicit permit",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        Reason.OBJECTION,
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(objection(valid_from=NOW - 9 * DAY), consent("c1", valid_from=NOW - DAY)),
        consent="o1",
    ),
    Case(
        "objection holds under break-glass",
        NURSE_BG,
        "gp-a",
        MEDS,
        Reason.OBJECTION,
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(),),
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
        consent="o1",
    ),
    # ---- permits
    Case(
        "own record, any role, no consent", NURSE, "trust", EPISODE, "permit", OWN, Basis.EXPLICIT
    ),
    Case(
        "own record despite an objection",
        NURSE,
        "trust",
        EPISODE,
        "permit",
        OWN,
        Basis.EXPLICIT,
        consents=(objection(scope="health"),),
    ),
    Case("implied", NURSE, "gp-a", MEDS, "permit", "T-IMPLIED", Basis.IMPLIED),
    Case(
        "implied, objection withdrawn",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(withdrawn_at=NOW - HOUR),),
    ),
    Case(
        "implied, objection expired",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(valid_until=NOW - HOUR),),
    ),
    Case(
        "implied, objection not yet in force",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(valid_from=NOW + HOUR),),
    ),
    Case(
        "implied, objection to another agency",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(recipient="council"),),
    ),
    Case(
        "implied, objection to another category",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        consents=(objection(scope="health.mental"),),
    ),
    Case(
        "explicit, category consent",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(),),
        consent="c1",
    ),
    Case(
        "explicit, consent valid from exactly now",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(valid_from=NOW, valid_until=NOW + DAY),),
        consent="c1",
    ),
    Case(
        "explicit, withdrawal dated later",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(withdrawn_at=NOW + HOUR),),
        consent="c1",
    ),
    Case(
        "explicit, item consent",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope=DIAGNOSIS, scope_kind="item"),),
        consent="c1",
    ),
    Case(
        "explicit, record-set consent",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(scope="conditions.*", scope_kind="item"),),
        consent="c1",
    ),
    Case(
        "explicit, consent to the recipient agency",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(recipient="trust"),),
        consent="c1",
    ),
    Case(
        "explicit, consent to the recipient role",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(recipient_kind="role", recipient="nurse"),),
        consent="c1",
    ),
    Case(
        "explicit, consent on the parent category",
        SOCIAL_WORKER,
        "trust",
        EPISODE,
        "permit",
        "T-MENTAL",
        Basis.EXPLICIT,
        consents=(consent(scope="health"),),
        consent="c1",
    ),
    Case(
        "explicit, the one applicable consent among others",
        NURSE,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(
            consent("c-old", valid_until=NOW - DAY),
            consent("c-other", recipient="council"),
            consent("c-now"),
        ),
        consent="c-now",
    ),
    Case(
        "statutory without consent",
        replace(NURSE, purpose="safeguarding"),
        "council",
        ASSESSMENT,
        "permit",
        "T-STATUTORY",
        Basis.STATUTORY,
    ),
    Case(
        "statutory despite an objection",
        replace(NURSE, purpose="safeguarding"),
        "council",
        ASSESSMENT,
        "permit",
        "T-STATUTORY",
        Basis.STATUTORY,
        consents=(
            objection(scope="safeguarding"),
            objection("o2", scope="assessments.*", scope_kind="item"),
        ),
    ),
    Case(
        "break-glass, implied, emergency",
        NURSE_BG,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    Case(
        "break-glass, whatever purpose was asked",
        replace(NURSE, purpose="audit"),
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    Case(
        "break-glass, statutory for emergency",
        NURSE_BG,
        "council",
        ASSESSMENT,
        "permit",
        "T-STATUTORY",
        Basis.STATUTORY,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    Case(
        "break-glass, explicit with consent",
        NURSE_BG,
        "gp-a",
        DIAGNOSIS,
        "permit",
        "T-EXPLICIT",
        Basis.EXPLICIT,
        consents=(consent(),),
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
        consent="c1",
    ),
    Case(
        "break-glass, the active grant among others",
        NURSE_BG,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        grants=(grant("g-old", expires_at=NOW - HOUR, granted_at=NOW - 5 * HOUR), grant("g-now")),
        person=UNKNOWN_TO_TRUST,
        break_glass="g-now",
    ),
    Case(
        "break-glass into the own agency's record",
        NURSE_BG,
        "trust",
        EPISODE,
        "permit",
        OWN,
        Basis.EXPLICIT,
        grants=(grant(),),
        person=UNKNOWN_TO_TRUST,
        break_glass="g1",
    ),
    Case(
        "a relationship makes a grant unnecessary",
        NURSE,
        "gp-a",
        MEDS,
        "permit",
        "T-IMPLIED",
        Basis.IMPLIED,
        grants=(grant(),),
    ),
    Case(
        "a relationship keeps the purpose asked for",
        NURSE,
        "council",
        CASE_NOTE,
        "permit",
        "T-DIRECT-ONLY",
        Basis.IMPLIED,
        grants=(grant(),),
    ),
)


def ask(case: Case) -> Decision:
    """The decision for a matrix row."""
    return decide(
        case.requester,
        case.person,
        case.agency,
        case.item,
        PROTOCOL,
        case.consents,
        case.grants,
        NOW,
    )


def test_the_matrix_names_are_unique() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_decision_matrix(case: Case) -> None:
    decision = ask(case)

    if case.expect == "permit":
        assert decision.permitted, decision
        assert decision.reason is None
    else:
        assert not decision.permitted, decision
        assert decision.reason is case.expect
        assert decision.detail, "a withheld item says why in words"
    assert decision.rule == case.rule
    assert decision.basis is case.basis
    assert decision.break_glass == case.break_glass
    assert decision.consent == case.consent


def test_the_matrix_reaches_every_reason_and_every_permit_path() -> None:
    reasons = {case.expect for case in CASES if isinstance(case.expect, Reason)}
    assert reasons == set(Reason)
    permits = [ask(case) for case in CASES if case.expect == "permit"]
    assert {d.basis for d in permits} == set(Basis)
    assert any(d.rule == OWN for d in permits)
    assert any(d.break_glass for d in permits)
    assert any(d.consent for d in permits)


def test_every_decision_names_a_clause_or_a_rule() -> None:
    clause_ids = {c.id for c in PROTOCOL.clauses}
    for case in CASES:
        decision = ask(case)
        assert decision.rule in clause_ids | {NO_CLAUSE, NO_RELATIONSHIP, OWN}, case.name


def test_a_withheld_decision_explains_itself_in_words() -> None:
    sealed = decide(NURSE, PERSON, "gp-a", CODE, PROTOCOL, (), (), NOW)
    assert "T-SEALED" in sealed.detail and "gp-a" in sealed.detail

    role = decide(HOUSING_OFFICER, PERSON, "gp-a", MEDS, PROTOCOL, (), (), NOW)
    assert "nurse, social_worker" in role.detail

    purpose = decide(replace(NURSE, purpose="audit"), PERSON, "gp-a", MEDS, PROTOCOL, (), (), NOW)
    assert "audit" in purpose.detail and "direct_care" in purpose.detail

    objected = decide(NURSE, PERSON, "gp-a", MEDS, PROTOCOL, (objection("o-7"),), (), NOW)
    assert "o-7" in objected.detail

    team = decide(replace(GP, team="branch"), PERSON, "gp-a", MEDS, PROTOCOL, (), (), NOW)
    assert "team branch" in team.detail

    missing = decide(NURSE, PERSON, "gp-a", "allergies.reaction", PROTOCOL, (), (), NOW)
    assert "allergies.reaction" in missing.detail


# --------------------------------------------------------------------------- building blocks


def test_consent_validity_window_is_half_open() -> None:
    record = consent(valid_from=NOW, valid_until=NOW + DAY)
    assert not record.in_force(NOW - dt.timedelta(microseconds=1))
    assert record.in_force(NOW)
    assert record.in_force(NOW + DAY - dt.timedelta(microseconds=1))
    assert not record.in_force(NOW + DAY)
    assert consent(valid_until=None).in_force(NOW + 1000 * DAY)


def test_a_withdrawal_takes_effect_at_its_time() -> None:
    record = consent(withdrawn_at=NOW)
    assert record.in_force(NOW - dt.timedelta(microseconds=1))
    assert not record.in_force(NOW)
    assert not record.in_force(NOW + DAY)


def test_consent_scope_item_category_and_prefix() -> None:
    nurse = NURSE
    assert consent(scope="health").covers(MEDS, "health.physical", nurse)
    assert consent(scope="health.physical").covers(MEDS, "health.physical", nurse)
    assert not consent(scope="health.physical").covers(MEDS, "health", nurse)
    assert not consent(scope="health.phys").covers(MEDS, "health.physical", nurse)
    assert not consent(scope="heal").covers(MEDS, "health.physical", nurse)
    item = "item"
    assert consent(scope=MEDS, scope_kind=item).covers(MEDS, "health.physical", nurse)
    assert consent(scope="medications.*", scope_kind=item).covers(MEDS, "x", nurse)
    assert not consent(scope="medications.dose", scope_kind=item).covers(MEDS, "x", nurse)
    # An item-scoped record is not read as a category, nor the reverse.
    assert not consent(scope="health.physical", scope_kind=item).covers(
        MEDS, "health.physical", nurse
    )
    assert not consent(scope=MEDS).covers(MEDS, "health.physical", nurse)


def test_consent_recipient_agency_role_or_everyone() -> None:
    assert consent(recipient="*").covers(MEDS, "health.physical", NURSE)
    assert consent(recipient="trust").covers(MEDS, "health.physical", NURSE)
    assert not consent(recipient="council").covers(MEDS, "health.physical", NURSE)
    assert consent(recipient="nurse", recipient_kind="role").covers(MEDS, "health.physical", NURSE)
    assert not consent(recipient="gp", recipient_kind="role").covers(MEDS, "health.physical", NURSE)
    # A role is not an agency: "nurse" as an agency recipient covers no one here.
    assert not consent(recipient="nurse").covers(MEDS, "health.physical", NURSE)


def test_an_objection_to_every_role_applies() -> None:
    record = objection(recipient_kind="role", recipient="*")
    assert record.covers(MEDS, "health.physical", NURSE)


def test_grant_is_active_from_grant_until_expiry_or_end() -> None:
    record = grant(granted_at=NOW, expires_at=NOW + 4 * HOUR)
    assert not record.active(NOW - dt.timedelta(microseconds=1))
    assert record.active(NOW)
    assert not record.active(NOW + 4 * HOUR)
    ended = grant(granted_at=NOW - HOUR, expires_at=NOW + 3 * HOUR, ended_at=NOW)
    assert ended.active(NOW - dt.timedelta(microseconds=1))
    assert not ended.active(NOW)


def test_grant_is_held_by_its_practitioner_in_its_agency_only() -> None:
    record = grant()
    assert record.held_by(NURSE)
    assert not record.held_by(replace(NURSE, practitioner="dn-2"))
    assert not record.held_by(replace(NURSE, agency="council"))


def test_active_grant_picks_the_requesters_grant_for_the_person() -> None:
    mine = grant("mine")
    grants = [grant("other", practitioner="x"), grant("p2", person_id="p2"), mine]
    assert active_grant(NURSE, "p1", grants, NOW) is mine
    assert active_grant(NURSE, "p3", grants, NOW) is None
    assert active_grant(NURSE, "p1", [grant(ended_at=NOW)], NOW) is None


def test_relationship_is_a_current_involvement_of_the_agency() -> None:
    assert relationship(NURSE, PERSON, PROTOCOL) == Involvement("trust", "District Nursing")
    assert relationship(NURSE, TRUST_ENDED, PROTOCOL) is None
    assert relationship(NURSE, UNKNOWN_TO_TRUST, PROTOCOL) is None
    # Team-scoped agencies need the requester's own team; others do not.
    assert relationship(GP, PERSON, PROTOCOL) == Involvement("gp-a", "gp-a")
    assert relationship(replace(GP, team="other"), PERSON, PROTOCOL) is None
    unscoped = replace(PROTOCOL, services={**PROTOCOL.services, "gp-a": AgencyServices(AGENCY)})
    assert relationship(replace(GP, team="other"), PERSON, unscoped) is not None
    # An ended involvement of the same team does not count; a current one does.
    two = PersonFacts(
        "p1",
        (Involvement("gp-a", "gp-a", current=False), Involvement("gp-a", "gp-a")),
    )
    assert relationship(GP, two, PROTOCOL) == Involvement("gp-a", "gp-a")


def test_decide_is_pure() -> None:
    consents = (consent(),)
    grants = (grant(),)
    first = decide(NURSE_BG, UNKNOWN_TO_TRUST, "gp-a", DIAGNOSIS, PROTOCOL, consents, grants, NOW)
    again = decide(NURSE_BG, UNKNOWN_TO_TRUST, "gp-a", DIAGNOSIS, PROTOCOL, consents, grants, NOW)
    assert first == again
    assert consents == (consent(),) and grants == (grant(),)


def test_withdrawing_consent_withholds_from_the_next_decision() -> None:
    given = consent()
    assert decide(NURSE, PERSON, "gp-a", DIAGNOSIS, PROTOCOL, (given,), (), NOW).permitted
    withdrawn = replace(given, withdrawn_at=NOW)
    later = decide(NURSE, PERSON, "gp-a", DIAGNOSIS, PROTOCOL, (withdrawn,), (), NOW)
    assert later.reason is Reason.NO_CONSENT


# --------------------------------------------------------------------------- the shipped protocol


def shipped() -> tuple[SharingProtocol, dict[str, frozenset[str]]]:
    """The demo protocol (team-scoped as the agencies declare) and each agency's mapped items."""
    agencies = load_agencies(REPO / "config" / "agencies")
    protocol = load_protocol(
        REPO / "config" / "sharing-protocol.toml",
        {a.id for a in agencies},
        {a.id: a.services for a in agencies},
    )
    return protocol, {a.id: a.items for a in agencies}


def test_every_decision_on_the_shipped_protocol_names_its_clause() -> None:
    protocol, mapped = shipped()
    everyone = PersonFacts("p1", tuple(Involvement(a, a) for a in mapped))
    for who in PRACTITIONERS:
        for purpose in PURPOSES:
            requester = Requester(who.id, who.agency, who.agency, frozenset(who.roles), purpose)
            for agency, items in mapped.items():
                for item in items:
                    decision = decide(requester, everyone, agency, item, protocol, (), (), NOW)
                    expected = protocol.clause_for(agency, item)
                    assert expected is not None
                    if agency == who.agency:
                        assert decision.rule == OWN
                    else:
                        assert decision.rule == expected.id, (who.id, purpose, agency, item)


def test_shipped_protocol_shows_each_basis_in_the_demo() -> None:
    protocol, _ = shipped()
    nurse = Requester(
        "dn-hughes",
        "shire-community-health",
        "District Nursing (Shirebridge)",
        frozenset({"nurse"}),
        "direct_care",
    )
    person = PersonFacts(
        "p1",
        (
            Involvement("riverside-gp", "riverside-gp"),
            Involvement("shire-adult-social-care", "Older People's Team (North)"),
            Involvement("shire-community-health", "District Nursing (Shirebridge)"),
        ),
    )

    def ask_shipped(
        agency: str, item: str, requester: Requester = nurse, *consents: Consent
    ) -> Decision:
        return decide(requester, person, agency, item, protocol, consents, (), NOW)

    implied = ask_shipped("riverside-gp", "medications.name")
    assert implied.permitted and implied.basis is Basis.IMPLIED
    explicit = ask_shipped("riverside-gp", "conditions.name")
    assert explicit.reason is Reason.NO_CONSENT
    with_consent = ask_shipped("riverside-gp", "conditions.name", nurse, consent())
    assert with_consent.permitted and with_consent.consent == "c1"
    sealed = ask_shipped("riverside-gp", "conditions.code")
    assert sealed.reason is Reason.SEALED
    safeguarding = replace(nurse, purpose="safeguarding")
    statutory = ask_shipped(
        "shire-adult-social-care",
        "assessments.summary",
        safeguarding,
        objection(scope="safeguarding"),
    )
    assert statutory.permitted and statutory.basis is Basis.STATUTORY
    assert ask_shipped("shire-adult-social-care", "assessments.summary").reason is (
        Reason.PURPOSE_NOT_PERMITTED
    )
