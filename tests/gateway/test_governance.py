"""The sharing protocol, relationships, consent and break-glass, end to end over the
demo agencies and the demo protocol (config/sharing-protocol.toml)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.governance.state import disclosures
from tests.support import ManualClock, World

ROY = 0  # Roy Bromley: Riverside GP patient known to all four Shire agencies


def _withheld(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (entry["agency"], entry["item"]): entry["reason"]
        for entry in result.get("extensions", {}).get("withheld", [])
    }


CONDITIONS = '{ person(id: "%s") { health { conditions { name code agency { id } } } } }'
MEDICATIONS = '{ person(id: "%s") { health { medications { name agency { id } } } } }'
BREAK_GLASS = (
    'mutation { breakGlass(personId: "%s", reasonCategory: "%s", reason: "%s") '
    "{ id purpose reasonCategory expiresAt } }"
)


async def test_a_gp_cannot_see_another_practices_patient(world: World) -> None:
    roy = world.population.people[ROY]
    assert world.population.gp_of(roy.nhs_number) == "riverside-gp"
    roy_id = world.person_id(ROY)
    # Not on the other practice's caseload.
    caseload = await world.query("{ caseload(first: 500) { id } }", as_="dr-lewis")
    ids = {p["id"] for p in caseload["data"]["caseload"]}
    assert roy_id not in ids
    oakfield = {demo_person_id(p.nhs_number) for p in world.population.people_of("oakfield-gp")}
    assert ids == oakfield
    # Partial details find no one: the query is refused outright.
    for arguments in (
        f'surname: "{roy.family_name}"',
        f'surname: "{roy.family_name}", dateOfBirth: "{roy.date_of_birth}"',
        f'dateOfBirth: "{roy.date_of_birth}", postcode: "{roy.postcode}"',
    ):
        partial = await world.query("{ findPeople(%s) { personId } }" % arguments, as_="dr-lewis")
        assert partial["data"] is None
        assert (
            "NHS number, or surname, date of birth and postcode" in partial["errors"][0]["message"]
        )
    # A near miss finds no one either.
    near = await world.query(
        '{ findPeople(nhsNumber: "%s") { personId } }' % (roy.nhs_number[:-1] + "0"),
        as_="dr-lewis",
    )
    assert near["data"]["findPeople"] == []
    # Exact identifiers give the index entry and nothing more.
    expected = {
        "personId": roy_id,
        "givenName": roy.given_name,
        "familyName": roy.family_name,
        "dateOfBirth": roy.date_of_birth.isoformat(),
        "agencies": [
            "riverside-gp",
            "shire-adult-social-care",
            "shire-community-health",
            "shire-housing",
        ],
    }
    entry_query = "{ findPeople(%s) { personId givenName familyName dateOfBirth agencies } }"
    by_nhs = await world.query(entry_query % f'nhsNumber: "{roy.nhs_number}"', as_="dr-lewis")
    assert by_nhs["data"]["findPeople"] == [expected]
    by_details = await world.query(
        entry_query
        % (
            f'surname: "{roy.family_name.upper()}", dateOfBirth: "{roy.date_of_birth}", '
            f'postcode: "{roy.postcode.lower().replace(" ", "")}"'
        ),
        as_="dr-lewis",
    )
    assert by_details["data"]["findPeople"] == [expected]
    # Asking for the record itself gives nothing from any agency, not even that it exists.
    response = await world.post(
        '{ person(id: "%s") { demographics { givenName phone address } '
        "involvements { team } alerts { summary } health { medications { name } } } }" % roy_id,
        as_="dr-lewis",
    )
    result = response.json()
    assert result["data"] == {"person": None}
    assert [e["extensions"]["code"] for e in result["errors"]] == ["NOT_FOUND"]
    assert _withheld(result) == {} and result["extensions"]["sources"] == {}
    for secret in (roy.phone, roy.address, roy.given_name):
        assert secret not in response.text


async def test_a_withdrawal_is_honoured_on_the_next_query(world: World) -> None:
    roy = world.person_id(ROY)
    before = await world.query(CONDITIONS % roy)
    assert _withheld(before)[("riverside-gp", "conditions.name")] == "NO_CONSENT"
    recorded = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health.physical",
        recipientAgency: "shire-adult-social-care", decision: PERMIT,
        reference: "Signed form SF-2291, scanned to the client record"}) { id decision } }"""
        % roy
    )
    consent_id = recorded["data"]["recordConsent"]["id"]
    for _ in range(2):  # the second run is with every cache warm
        shown = await world.query(CONDITIONS % roy)
        names = [c["name"] for c in shown["data"]["person"]["health"]["conditions"]]
        assert names and all(names)
        assert ("riverside-gp", "conditions.name") not in _withheld(shown)
    withdrawn = await world.query(
        'mutation { withdrawConsent(id: "%s") { withdrawnAt } }' % consent_id
    )
    assert withdrawn["data"]["withdrawConsent"]["withdrawnAt"]
    after = await world.query(CONDITIONS % roy)
    assert _withheld(after)[("riverside-gp", "conditions.name")] == "NO_CONSENT"
    assert after["data"]["person"]["health"]["conditions"] is None


async def test_an_objection_beats_implied_consent(world: World) -> None:
    roy = world.person_id(ROY)
    implied = await world.query(MEDICATIONS % roy)
    assert implied["data"]["person"]["health"]["medications"]
    await world.query(
        """mutation { recordConsent(input: {personId: "%s", item: "medications.*",
        recipientRole: "social_worker", decision: DENY,
        reference: "Stated by phone to P. Patel, call log 2026-06-01"}) { id } }"""
        % roy
    )
    objected = await world.query(MEDICATIONS % roy)
    assert objected["data"]["person"]["health"]["medications"] is None
    assert _withheld(objected)[("riverside-gp", "medications.name")] == "OBJECTION"
    # The objection is to social workers: the GP's own practitioner still sees it.
    gp_view = await world.query(MEDICATIONS % roy, as_="dr-okafor")
    assert gp_view["data"]["person"]["health"]["medications"]


async def test_statutory_safeguarding_items_are_shared_without_consent_and_audited(
    world: World,
) -> None:
    roy = world.person_id(ROY)
    # An objection covering safeguarding does not stop a statutory disclosure.
    await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "safeguarding",
        recipientAgency: "*", decision: DENY, reference: "Letter of 2026-05-02"}) { id } }"""
        % roy
    )
    query = '{ person(id: "%s") { alerts { category summary agency { id } } } }' % roy
    for_care = await world.query(query, as_="dr-okafor")
    assert _withheld(for_care)[("shire-adult-social-care", "alerts.summary")] == (
        "PURPOSE_NOT_PERMITTED"
    )
    # Safeguarding is established for this person by recording the enquiry it serves.
    claimed = await world.query(
        'mutation { claimSafeguarding(personId: "%s", reference: "S42-2026-00123", reason: "%s") '
        "{ purpose reference expiresAt } }"
        % (roy, "Section 42 enquiry opened after bruising was seen at a home visit"),
        as_="dr-okafor",
    )
    assert claimed["data"]["claimSafeguarding"]["purpose"] == "safeguarding"
    assert claimed["data"]["claimSafeguarding"]["reference"] == "S42-2026-00123"
    safeguarding = await world.query(query, as_="dr-okafor")
    council = [
        a
        for a in safeguarding["data"]["person"]["alerts"]
        if a["agency"]["id"] == "shire-adult-social-care"
    ]
    assert council and all(a["summary"] for a in council)
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(disclosures).where(
                        disclosures.c.person_id == roy,
                        disclosures.c.purpose == "safeguarding",
                        disclosures.c.kind == "disclosure",
                    )
                )
            )
            .mappings()
            .all()
        )
    (row,) = rows
    assert row["statutory"] is True
    assert row["practitioner"] == "dr-okafor"
    detail = json.loads(row["agencies"])
    # Items are stored grouped by the basis and clause they rest on.
    groups = detail["shire-adult-social-care"]["disclosed"]
    (statutory,) = [g for g in groups if "alerts.summary" in g["items"]]
    assert (statutory["basis"], statutory["rule"]) == ("statutory", "ISP-3.2")
    assert "Bromley" not in row["agencies"]  # names of items only, never values


async def test_a_break_glass_grant_opens_for_a_short_time_then_expires(
    clocked: tuple[World, ManualClock],
) -> None:
    world, clock = clocked
    roy = world.person_id(ROY)
    refused = await world.query(BREAK_GLASS % (roy, "cannot_consent", "collapsed"), as_="dr-lewis")
    assert "at least 20 characters" in refused["errors"][0]["message"]
    housing = await world.query(
        BREAK_GLASS % (roy, "cannot_consent", "Found collapsed at the surgery door, unresponsive"),
        as_="ho-evans",
    )
    assert housing["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    granted = await world.query(
        BREAK_GLASS % (roy, "cannot_consent", "Found collapsed at the surgery door, unresponsive"),
        as_="dr-lewis",
    )
    grant = granted["data"]["breakGlass"]
    assert grant["purpose"] == "emergency" and grant["reasonCategory"] == "cannot_consent"
    shown = await world.query(
        '{ person(id: "%s") { health { medications { name } conditions { code } } } }' % roy,
        as_="dr-lewis",
    )
    assert shown["data"]["person"]["health"]["medications"]
    (used,) = shown["extensions"]["breakGlass"]
    assert used["grant"] == grant["id"] and "collapsed" in used["reason"]
    # Sealed items never open, break-glass included.
    assert _withheld(shown)[("riverside-gp", "conditions.code")] == "SEALED"
    # The grant is the requester's own: another practitioner gains nothing from it.
    other = await world.query(MEDICATIONS % roy, as_="ho-evans")
    assert _withheld(other)[("riverside-gp", "medications.name")] == "ROLE_NOT_PERMITTED"
    clock.now += dt.timedelta(hours=4, minutes=1)
    expired = await world.query(MEDICATIONS % roy, as_="dr-lewis")
    assert expired["data"] == {"person": None}
    assert [e["extensions"]["code"] for e in expired["errors"]] == ["NOT_FOUND"]
    assert "breakGlass" not in expired["extensions"]


async def test_sealed_items_are_never_shown_outside_their_agency(world: World) -> None:
    roy = world.person_id(ROY)
    await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health",
        recipientAgency: "*", decision: PERMIT, reference: "Form SF-1"}) { id } }"""
        % roy
    )
    for practitioner in ("sw-patel", "dn-hughes", "ho-evans"):
        result = await world.query(CONDITIONS % roy, as_=practitioner)
        assert _withheld(result)[("riverside-gp", "conditions.code")] in ("SEALED",), practitioner
        for condition in result["data"]["person"]["health"]["conditions"] or []:
            assert condition["code"] is None
    own = await world.query(CONDITIONS % roy, as_="dr-okafor")
    assert all(c["code"] for c in own["data"]["person"]["health"]["conditions"])


async def test_consent_needs_a_relationship_and_valid_input(world: World) -> None:
    roy = world.person_id(ROY)
    stranger = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health",
        recipientAgency: "*", decision: PERMIT, reference: "x"}) { id } }"""
        % roy,
        as_="dr-lewis",
    )
    assert stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    both = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health",
        item: "medications.name", recipientAgency: "*", decision: PERMIT, reference: "x"})
        { id } }"""
        % roy
    )
    assert "exactly one of category or item" in both["errors"][0]["message"]
    unknown = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "astrology",
        recipientAgency: "*", decision: PERMIT, reference: "x"}) { id } }"""
        % roy
    )
    assert "not a protocol category" in unknown["errors"][0]["message"]


async def test_explain_tells_governance_leads_what_decided(world: World) -> None:
    roy = world.person_id(ROY)
    query = (
        """{ explainAccess(personId: "%s", agency: "riverside-gp", item: "conditions.name",
        requester: {practitioner: "sw-patel", agency: "shire-adult-social-care",
        team: "Older People's Team (North)", roles: ["social_worker"], purpose: "direct_care"})
        { permitted reason rule basis detail relationship } }"""
        % roy
    )
    explained = await world.query(query, as_="cg-morgan")
    assert explained["data"]["explainAccess"] == {
        "permitted": False,
        "reason": "NO_CONSENT",
        "rule": "ISP-4.2",
        "basis": "EXPLICIT",
        "detail": "clause ISP-4.2 needs the person's explicit consent; none is in force",
        "relationship": "shire-adult-social-care (Older People's Team (North))",
    }
    refused = await world.query(query, as_="sw-patel")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_protocol_is_served_as_data(world: World) -> None:
    result = await world.query(
        "{ sharingProtocol { title version breakGlass { roles hours reasons { name } } "
        "clauses { id agencies items basis sealed } consentForms { name ownWords } } }"
    )
    protocol = result["data"]["sharingProtocol"]
    assert protocol["version"] == "2026.1"
    assert protocol["breakGlass"]["hours"] == 4
    assert [r["name"] for r in protocol["breakGlass"]["reasons"]] == [
        "cannot_consent",
        "risk_to_life",
        "risk_to_others",
        "out_of_hours",
    ]
    assert {f["name"]: f["ownWords"] for f in protocol["consentForms"]} == {
        "signed_form": True,
        "recorded_words": True,
        "best_interests": False,
    }
    sealed = [c for c in protocol["clauses"] if c["sealed"]]
    assert sealed and sealed[0]["items"] == ["conditions.code"]


async def test_quiet_mode_lists_only_paths(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    world = World(tmp_path, population, store_dir)
    await world.start(extra_settings='withheld_detail = "quiet"')
    try:
        result = await world.query(CONDITIONS % world.person_id(ROY))
        entries = result["extensions"]["withheld"]
        assert entries
        assert all(set(entry) == {"path", "reason"} for entry in entries)
        assert {entry["reason"] for entry in entries} == {"WITHHELD"}
        assert ["person", "health", "conditions", "name"] in [e["path"] for e in entries]
    finally:
        await world.stop()
