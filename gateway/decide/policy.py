"""The sharing decision: a pure function of who asks, about whom, for which item.

    (requester, person facts, agency, item, protocol, consents, grants, time)
        -> Decision: permit, or withhold with a reason

No I/O happens here; the caller gathers the facts (person index links,
consent records, break-glass grants) once per request and asks this function
per (person, agency, item). Every decision names the protocol clause, or the
rule, it relied on, so that it can be explained and audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from gateway.config.protocol import Basis, Clause, SharingProtocol
from gateway.core.catalogue import record_set_of
from gateway.decide.requester import Requester


class Reason(Enum):
    """Why an item was withheld."""

    NOT_IN_PROTOCOL = "NOT_IN_PROTOCOL"
    SEALED = "SEALED"
    NO_RELATIONSHIP = "NO_RELATIONSHIP"
    ROLE_NOT_PERMITTED = "ROLE_NOT_PERMITTED"
    PURPOSE_NOT_PERMITTED = "PURPOSE_NOT_PERMITTED"
    NO_CONSENT = "NO_CONSENT"
    OBJECTION = "OBJECTION"


class ConsentDecision(Enum):
    """What the person said."""

    PERMIT = "permit"
    DENY = "deny"


@dataclass(frozen=True)
class Involvement:
    """A current (or ended) involvement of an agency, and its team, with the person."""

    agency: str
    team: str | None = None
    current: bool = True


@dataclass(frozen=True)
class PersonFacts:
    """What the policy needs to know about the person: who is involved with them."""

    person_id: str
    involvements: tuple[Involvement, ...] = ()


@dataclass(frozen=True)
class Consent:
    """A person's recorded consent or objection.

    It covers either a category or a single item (``scope``, with
    ``scope_kind`` "category" or "item"), for a recipient agency or role, or
    ``*`` for everyone; it is valid from ``valid_from`` until ``valid_until``
    (open when None) unless withdrawn.
    """

    id: str
    person_id: str
    scope_kind: str
    scope: str
    recipient_kind: str
    recipient: str
    decision: ConsentDecision
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None
    withdrawn_at: dt.datetime | None = None
    recorded_by: str = ""
    reference: str = ""

    def in_force(self, now: dt.datetime) -> bool:
        """Whether the record applies at ``now``."""
        if self.withdrawn_at is not None and self.withdrawn_at <= now:
            return False
        if now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until

    def covers(self, item: str, category: str, requester: Requester) -> bool:
        """Whether the record is about this item (or its category) and this recipient."""
        if self.scope_kind == "item":
            scope_ok = self.scope == item or self.scope == f"{record_set_of(item)}.*"
        else:
            scope_ok = self.scope == category or category.startswith(self.scope + ".")
        if not scope_ok:
            return False
        if self.recipient == "*":
            return True
        if self.recipient_kind == "agency":
            return self.recipient == requester.agency
        return self.recipient in requester.roles


#: The purpose a break-glass grant establishes.
EMERGENCY = "emergency"
#: The purpose a recorded safeguarding reason establishes.
SAFEGUARDING = "safeguarding"


@dataclass(frozen=True)
class Grant:
    """A time-limited grant to one requester about one person, establishing a purpose.

    ``purpose`` is ``emergency`` for break-glass, which stands in for a
    relationship with the person; ``safeguarding`` for a recorded safeguarding
    reason (an enquiry or referral), which needs a relationship as well. Either
    way, while the grant is in force the requester's decisions about that
    person are made for the grant's purpose, and the audit records it.
    """

    id: str
    person_id: str
    practitioner: str
    agency: str
    reason: str
    granted_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None
    purpose: str = EMERGENCY
    #: For break-glass: the protocol's reason category the practitioner chose.
    reason_category: str | None = None

    @property
    def break_glass(self) -> bool:
        """Whether this is emergency access standing in for a relationship."""
        return self.purpose == EMERGENCY

    def active(self, now: dt.datetime) -> bool:
        """Whether the grant is in force at ``now``."""
        if self.ended_at is not None and self.ended_at <= now:
            return False
        return self.granted_at <= now < self.expires_at

    def held_by(self, requester: Requester) -> bool:
        """Whether this requester is the one the grant was made to."""
        return self.practitioner == requester.practitioner and self.agency == requester.agency


@dataclass(frozen=True)
class Decision:
    """Permit, or withhold with a reason; names the clause or rule relied on.

    ``break_glass`` is the break-glass grant used, when access rested on one;
    ``grant`` the grant (break-glass or safeguarding) whose purpose the decision
    was made for; ``consent`` the consent record that decided, when one did.
    """

    permitted: bool
    rule: str
    reason: Reason | None = None
    basis: Basis | None = None
    break_glass: str | None = None
    consent: str | None = None
    detail: str = ""
    grant: str | None = None


def relationship(
    requester: Requester, person: PersonFacts, protocol: SharingProtocol
) -> Involvement | None:
    """The requester's legitimate relationship with the person, if there is one.

    A current involvement of the requester's agency, held by a team the
    requester's own team may rely on (the agency's need-to-know rules: by
    default its own team or service). Information-governance roles alone make no
    relationship: a Caldicott guardian sees governance data, not case records,
    unless their own team is involved.
    """
    services = protocol.services_of(requester.agency)
    governance_only = requester.roles <= protocol.governance_roles
    for involvement in person.involvements:
        if not involvement.current or involvement.agency != requester.agency:
            continue
        if governance_only and involvement.team != requester.team:
            continue
        if services.relates(requester.team, involvement.team):
            return involvement
    return None


def categories_of(
    clause: Clause, agency: str, person: PersonFacts, protocol: SharingProtocol
) -> frozenset[str]:
    """The consent categories an agency's item about the person falls under: the clause's,
    and any narrower one of the agency's services that hold the person (the trust's mental
    health teams hold ``health.mental`` records whatever clause they travel under)."""
    held = protocol.services_of(agency).categories_held(
        i.team for i in person.involvements if i.agency == agency and i.current
    )
    return frozenset({clause.category}) | held


def active_grant(
    requester: Requester,
    person_id: str,
    grants: Sequence[Grant],
    now: dt.datetime,
    purpose: str = EMERGENCY,
) -> Grant | None:
    """The requester's own active grant for this person and purpose, if any."""
    for grant in grants:
        if (
            grant.person_id == person_id
            and grant.purpose == purpose
            and grant.held_by(requester)
            and grant.active(now)
        ):
            return grant
    return None


def grant_in_force(
    requester: Requester,
    person: PersonFacts,
    protocol: SharingProtocol,
    grants: Sequence[Grant],
    now: dt.datetime,
) -> Grant | None:
    """The grant whose purpose the requester's decisions about the person are made for.

    With a relationship, a safeguarding grant (a recorded reason) if one is in
    force; without one, only a break-glass grant can stand in.
    """
    if relationship(requester, person, protocol) is not None:
        return active_grant(requester, person.person_id, grants, now, SAFEGUARDING)
    return active_grant(requester, person.person_id, grants, now, EMERGENCY)


def decide(
    requester: Requester,
    person: PersonFacts,
    agency: str,
    item: str,
    protocol: SharingProtocol,
    consents: Sequence[Consent],
    grants: Sequence[Grant],
    now: dt.datetime,
) -> Decision:
    """Whether ``agency``'s ``item`` about ``person`` may be shown to ``requester`` at ``now``."""
    clause = protocol.clause_for(agency, item)
    if clause is None:
        return Decision(
            False,
            "protocol: no clause lists this item",
            Reason.NOT_IN_PROTOCOL,
            detail=f"the protocol does not list {agency}'s {item}",
        )
    own_agency = requester.agency == agency
    if clause.sealed and not own_agency:
        return Decision(
            False,
            clause.id,
            Reason.SEALED,
            clause.basis,
            detail=f"clause {clause.id} seals this item to {agency}",
        )
    related = relationship(requester, person, protocol)
    grant = (
        active_grant(requester, person.person_id, grants, now, SAFEGUARDING)
        if related is not None
        else active_grant(requester, person.person_id, grants, now, EMERGENCY)
    )
    if related is None and grant is None:
        return Decision(
            False,
            "relationship: none current",
            Reason.NO_RELATIONSHIP,
            clause.basis,
            detail=(
                f"{requester.agency}"
                + (f" team {requester.team}" if requester.team else "")
                + " has no current involvement with the person and no break-glass grant"
            ),
        )
    if own_agency:
        # An agency's own records reach its own practitioners with a relationship;
        # the protocol governs sharing between agencies.
        return _with_grant(Decision(True, "own record", basis=clause.basis), grant)
    purpose = grant.purpose if grant is not None else requester.purpose
    categories = categories_of(clause, agency, person, protocol)
    return _with_grant(
        _by_clause(requester, person, item, clause, categories, purpose, consents, now), grant
    )


def _with_grant(decision: Decision, grant: Grant | None) -> Decision:
    if grant is None:
        return decision
    return replace(decision, grant=grant.id, break_glass=grant.id if grant.break_glass else None)


def _by_clause(
    requester: Requester,
    person: PersonFacts,
    item: str,
    clause: Clause,
    categories: frozenset[str],
    purpose: str,
    consents: Sequence[Consent],
    now: dt.datetime,
) -> Decision:
    if not clause.roles & requester.roles:
        return Decision(
            False,
            clause.id,
            Reason.ROLE_NOT_PERMITTED,
            clause.basis,
            detail=f"clause {clause.id} is for roles {', '.join(sorted(clause.roles))}",
        )
    if purpose not in clause.purposes:
        return Decision(
            False,
            clause.id,
            Reason.PURPOSE_NOT_PERMITTED,
            clause.basis,
            detail=f"clause {clause.id} serves {', '.join(sorted(clause.purposes))}, not {purpose}",
        )
    if clause.basis is Basis.STATUTORY:
        return Decision(
            True,
            clause.id,
            basis=Basis.STATUTORY,
            detail=f"clause {clause.id}: shared under a statutory duty, whatever the consent",
        )
    in_force = [c for c in consents if c.person_id == person.person_id and c.in_force(now)]
    # An objection to any category the item falls under withholds it.
    objection = next(
        (
            c
            for c in in_force
            if c.decision is ConsentDecision.DENY
            and any(c.covers(item, category, requester) for category in categories)
        ),
        None,
    )
    if objection is not None:
        return Decision(
            False,
            clause.id,
            Reason.OBJECTION,
            clause.basis,
            consent=objection.id,
            detail=f"the person objected (record {objection.id})",
        )
    if clause.basis is Basis.IMPLIED:
        return Decision(True, clause.id, basis=Basis.IMPLIED)
    # Explicit consent must reach every category the item falls under: consent to share
    # physical health records does not open the mental health team's.
    permits = [
        next(
            (
                c
                for c in in_force
                if c.decision is ConsentDecision.PERMIT and c.covers(item, category, requester)
            ),
            None,
        )
        for category in sorted(categories)
    ]
    permit = permits[0] if all(p is not None for p in permits) else None
    if permit is None:
        return Decision(
            False,
            clause.id,
            Reason.NO_CONSENT,
            clause.basis,
            detail=f"clause {clause.id} needs the person's explicit consent; none is in force",
        )
    return Decision(True, clause.id, basis=Basis.EXPLICIT, consent=permit.id)
