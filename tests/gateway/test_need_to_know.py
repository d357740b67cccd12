"""Need-to-know inside agencies, consent categories that cover what they say, and the
purpose a grant establishes: the pure policy on the shipped protocol and on small ones."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gateway.config.agencies import load_agencies
from gateway.config.protocol import SharingProtocol, load_protocol
from gateway.core.services import AGENCY, TEAM, AgencyServices, Service
from gateway.decide.policy import (
    EMERGENCY,
    SAFEGUARDING,
    Consent,
    ConsentDecision,
    Grant,
    Involvement,
    PersonFacts,
    Reason,
    categories_of,
    decide,
    grant_in_force,
    relationship,
)
from gateway.decide.requester import Requester
from tests.support import REPO

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
TRUST = "shire-community-health"
COUNCIL = "shire-adult-social-care"
GP = "riverside-gp"
DISTRICT_NURSING = "District Nursing (Shirebridge)"
THERAPY = "Community Therapy Team"
CMHT = "Adult Community Mental Health Team"
OLDER_CMHT = "Older Adults Community Mental Health Team"


@pytest.fixture(scope="module")
def protocol() -> SharingProtocol:
    agencies = load_agencies(REPO / "config" / "agencies")
    return load_protocol(
        REPO / "config" / "sharing-protocol.toml",
        {a.id for a in agencies},
        {a.id: a.services for a in agencies},
    )


def nurse(team: str = DISTRICT_NURSING, purpose: str = "direct_care") -> Requester:
    return Requester("dn-1", TRUST, team, frozenset({"nurse"}), purpose)


def gp(purpose: str = "direct_care") -> Requester:
    return Requester("dr-1", GP, GP, frozenset({"gp"}), purpose)


def held_by(*links: tuple[str, str | None]) -> PersonFacts:
    return PersonFacts("p1", tuple(Involvement(agency, team) for agency, team in links))


def objection(scope: str, recipient: str = "*") -> Consent:
    return Consent(
        id="o1",
        person_id="p1",
        scope_kind="category",
        scope=scope,
        recipient_kind="agency",
        recipient=recipient,
        decision=ConsentDecision.DENY,
        valid_from=NOW - dt.timedelta(days=1),
    )


def permit(scope: str) -> Consent:
    return replace(objection(scope), id=f"c-{scope}", decision=ConsentDecision.PERMIT)


def grant(purpose: str, requester: Requester, *, ended: bool = False) -> Grant:
    return Grant(
        id=f"g-{purpose}",
        person_id="p1",
        practitioner=requester.practitioner,
        agency=requester.agency,
        reason="reason",
        granted_at=NOW - dt.timedelta(hours=1),
        expires_at=NOW + dt.timedelta(hours=3),
        ended_at=NOW if ended else None,
        purpose=purpose,
    )


# --------------------------------------------------------------------------- teams and services


def test_a_district_nurse_does_not_relate_to_the_mental_health_teams_patients(
    protocol: SharingProtocol,
) -> None:
    only_cmht = held_by((TRUST, CMHT))
    assert relationship(nurse(), only_cmht, protocol) is None
    decision = decide(nurse(), only_cmht, TRUST, "assessments.summary", protocol, (), (), NOW)
    assert decision.reason is Reason.NO_RELATIONSHIP


def test_teams_of_one_service_share_its_people(protocol: SharingProtocol) -> None:
    held = held_by((TRUST, DISTRICT_NURSING))
    assert relationship(nurse(THERAPY), held, protocol) == Involvement(TRUST, DISTRICT_NURSING)
    # Both mental health teams form one service; neither is open to district nursing.
    assert relationship(nurse(OLDER_CMHT), held_by((TRUST, CMHT)), protocol) is not None
    assert relationship(nurse(CMHT), held, protocol) is None


def test_a_team_in_no_service_relates_only_to_its_own_people(protocol: SharingProtocol) -> None:
    assert relationship(nurse("Night Sitting"), held_by((TRUST, "Night Sitting")), protocol)
    assert relationship(nurse("Night Sitting"), held_by((TRUST, THERAPY)), protocol) is None
    assert relationship(nurse(None), held_by((TRUST, THERAPY)), protocol) is None  # type: ignore[arg-type]


def test_a_link_no_team_holds_is_no_ones_relationship_under_team_scope() -> None:
    services = AgencyServices(TEAM)
    assert not services.relates("A", None)
    assert AgencyServices(AGENCY).relates("A", None)


def test_open_to_lets_another_service_see_a_services_people() -> None:
    services = AgencyServices(
        TEAM,
        (
            Service("nursing", "Nursing", frozenset({"N1"}), open_to=frozenset({"therapy"})),
            Service("therapy", "Therapy", frozenset({"T1"})),
        ),
    )
    assert services.relates("T1", "N1")  # nursing's people are open to therapy
    assert not services.relates("N1", "T1")  # not the other way round
    assert services.visible_teams("T1") == {"T1", "N1"}
    assert services.visible_teams("N1") == {"N1"}
    assert AgencyServices(AGENCY).visible_teams("N1") is None


def test_a_caldicott_guardian_sees_no_case_records_without_their_own_team_involved(
    protocol: SharingProtocol,
) -> None:
    guardian = Requester(
        "cg-1", COUNCIL, "Information Governance", frozenset({"caldicott_guardian"}), "audit"
    )
    client = held_by((COUNCIL, "Older People's Team (North)"))
    decision = decide(guardian, client, COUNCIL, "timeline.summary", protocol, (), (), NOW)
    assert decision.reason is Reason.NO_RELATIONSHIP
    # Even where the agency relates as a whole, a governance role alone is no relationship.
    open_council = replace(
        protocol, services={**protocol.services, COUNCIL: AgencyServices(AGENCY)}
    )
    assert relationship(guardian, client, open_council) is None
    assert relationship(replace(guardian, team="Older People's Team (North)"), client, open_council)


# --------------------------------------------------------------------------- categories


def test_mental_health_teams_hold_mental_health_records(protocol: SharingProtocol) -> None:
    clause = protocol.clause_for(TRUST, "assessments.summary")
    assert clause is not None and clause.category == "health.physical"
    assert categories_of(clause, TRUST, held_by((TRUST, CMHT)), protocol) == {
        "health.physical",
        "health.mental",
    }
    assert categories_of(clause, TRUST, held_by((TRUST, DISTRICT_NURSING)), protocol) == {
        "health.physical"
    }


@pytest.mark.parametrize("scope", ["health.mental", "health"])
def test_a_mental_health_objection_withholds_the_trusts_mental_health_services(
    protocol: SharingProtocol, scope: str
) -> None:
    person = held_by((GP, GP), (TRUST, CMHT))
    for item in ("assessments.summary", "community_episodes.service", "timeline.summary"):
        before = decide(gp(), person, TRUST, item, protocol, (), (), NOW)
        assert before.permitted, item
        after = decide(gp(), person, TRUST, item, protocol, (objection(scope),), (), NOW)
        assert after.reason is Reason.OBJECTION, (scope, item)


def test_a_mental_health_objection_leaves_physical_health_services_alone(
    protocol: SharingProtocol,
) -> None:
    person = held_by((GP, GP), (TRUST, DISTRICT_NURSING))
    decision = decide(
        gp(), person, TRUST, "assessments.summary", protocol, (objection("health.mental"),), (), NOW
    )
    assert decision.permitted


def test_explicit_consent_must_reach_every_category_of_the_record() -> None:
    from tests.gateway.test_policy import PROTOCOL, clause, protocol_of

    base = PROTOCOL.clause_for("gp-a", "conditions.name")
    assert base is not None
    narrowed = protocol_of(
        clause(
            "X",
            {"gp-a"},
            ["conditions.name"],
            "health.physical",
            {"nurse"},
            {"direct_care"},
            base.basis,
        ),
    )
    narrowed = replace(
        narrowed,
        services={
            "gp-a": AgencyServices(
                TEAM, (Service("mh", "MH", frozenset({"gp-a"}), category="health.mental"),)
            ),
            "trust": AgencyServices(AGENCY),
        },
    )
    asker = Requester("dn-1", "trust", "DN", frozenset({"nurse"}), "direct_care")
    person = held_by(("gp-a", "gp-a"), ("trust", "DN"))
    physical_only = decide(
        asker, person, "gp-a", "conditions.name", narrowed, (permit("health.physical"),), (), NOW
    )
    assert physical_only.reason is Reason.NO_CONSENT
    both = decide(
        asker,
        person,
        "gp-a",
        "conditions.name",
        narrowed,
        (permit("health.physical"), permit("health.mental")),
        (),
        NOW,
    )
    assert both.permitted
    assert decide(
        asker, person, "gp-a", "conditions.name", narrowed, (permit("health"),), (), NOW
    ).permitted


# --------------------------------------------------------------------------- grants and purposes


def test_break_glass_stands_in_for_a_relationship_and_makes_the_purpose_emergency(
    protocol: SharingProtocol,
) -> None:
    stranger = gp()
    person = held_by((COUNCIL, "Older People's Team (North)"))
    held = grant(EMERGENCY, stranger)
    assert grant_in_force(stranger, person, protocol, [held], NOW) == held
    decision = decide(stranger, person, COUNCIL, "alerts.summary", protocol, (), [held], NOW)
    assert decision.permitted and decision.break_glass == held.id and decision.grant == held.id
    ended = grant(EMERGENCY, stranger, ended=True)
    assert decide(
        stranger, person, COUNCIL, "alerts.summary", protocol, (), [ended], NOW
    ).reason is (Reason.NO_RELATIONSHIP)


def test_a_safeguarding_grant_needs_a_relationship_and_sets_the_purpose(
    protocol: SharingProtocol,
) -> None:
    asker = gp()
    related = held_by((GP, GP), (COUNCIL, "Older People's Team (North)"))
    item = "assessments.summary"  # the council's Care Act assessments: safeguarding, emergency
    without = decide(asker, related, COUNCIL, item, protocol, (), (), NOW)
    assert without.reason is Reason.PURPOSE_NOT_PERMITTED
    reasoned = grant(SAFEGUARDING, asker)
    under = decide(asker, related, COUNCIL, item, protocol, (), [reasoned], NOW)
    assert under.permitted and under.grant == reasoned.id and under.break_glass is None
    unrelated = held_by((COUNCIL, "Older People's Team (North)"))
    assert grant_in_force(asker, unrelated, protocol, [reasoned], NOW) is None
    assert decide(asker, unrelated, COUNCIL, item, protocol, (), [reasoned], NOW).reason is (
        Reason.NO_RELATIONSHIP
    )


def test_the_purpose_claimed_never_opens_what_only_a_grant_opens(
    protocol: SharingProtocol,
) -> None:
    # The policy trusts Requester.purpose; tests/gateway/test_purposes.py shows that a
    # request can only carry an asserted purpose. Here: asserted purposes open nothing
    # that safeguarding and emergency clauses keep for them.
    related = held_by((GP, GP), (COUNCIL, "Older People's Team (North)"))
    for purpose in ("direct_care", "care_planning"):
        decision = decide(gp(purpose), related, COUNCIL, "alerts.summary", protocol, (), (), NOW)
        assert decision.reason is Reason.PURPOSE_NOT_PERMITTED
