"""Guardians oversee their own agency's grants, disclosures and figures, never their own
grants; a review of "inappropriate" and a revocation end a grant at once and tell the
agencies whose data it disclosed."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.config.tokens import mint_token
from gateway.decide.policy import Grant
from gateway.governance.oversight import Guardian
from gateway.governance.state import break_glass_notifications
from tests.support import DEMO_CONFIG, World

ROY = 0  # Riverside GP patient known to the council, the trust and housing
REASON = "Found collapsed in the waiting room, no carer present"
MEDS_AND_CARE = (
    '{ person(id: "%s") { health { medications { name } } '
    "socialCare { carePackages { service } } } }"
)
REVIEWS = "{ breakGlassReviews(pending: false) { grant { id purpose endedAt } agenciesNotified } }"
REVIEW = (
    'mutation { reviewBreakGlass(id: "%s", outcome: "%s", note: "%s") '
    "{ outcome grant { endedAt endedBy } } }"
)
REVOKE = (
    'mutation { revokeBreakGlass(id: "%s", reason: "%s") { grant { endedAt endedBy endReason } } }'
)
REVOKE_REASON = "The emergency was over an hour before the record was opened"


def _token(world: World, subject: str, agency: str, team: str, *roles: str) -> str:
    assert world.settings is not None
    return mint_token(world.settings, subject=subject, agency=agency, team=team, roles=roles)


def _housing_guardian(world: World) -> str:
    return _token(world, "cg-hale", "shire-housing", "Information Governance", "caldicott_guardian")


def _withheld(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (entry["agency"], entry["item"]): entry["reason"]
        for entry in result.get("extensions", {}).get("withheld", [])
    }


async def _break_glass_and_use(world: World, person_id: str, as_: str = "dr-lewis") -> str:
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") '
        "{ id } }" % (person_id, REASON),
        as_=as_,
    )
    grant_id: str = granted["data"]["breakGlass"]["id"]
    used = await world.query(MEDS_AND_CARE % person_id, as_=as_)
    assert used["data"]["person"]["health"]["medications"]
    return grant_id


def _without_ids(result: dict[str, Any]) -> dict[str, Any]:
    return {"data": result.get("data"), "errors": result.get("errors")}


# --------------------------------------------------------------------------- pure rules


def _grant(practitioner: str = "dr-lewis", agency: str = "oakfield-gp") -> Grant:
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return Grant("g1", "p1", practitioner, agency, REASON, now, now + dt.timedelta(hours=4))


def test_a_guardian_never_reviews_their_own_grant_even_as_a_lead() -> None:
    own = Guardian("dr-lewis", "oakfield-gp", lead=True)
    assert "your own grant" in (own.may_review(_grant(), ["riverside-gp"]) or "")
    assert "your own grant" in (own.may_review(_grant(), []) or "")


def test_who_may_review_follows_the_disclosed_data() -> None:
    council = Guardian("cg-morgan", "shire-adult-social-care", lead=False)
    practice = Guardian("cg-oak", "oakfield-gp", lead=False)
    lead = Guardian("cg-lead", "shire-housing", lead=True)
    assert council.may_review(_grant(), ["shire-adult-social-care"]) is None
    assert council.may_review(_grant(), ["riverside-gp"]) is not None
    # Before anything is disclosed, the holder's own agency answers for the grant.
    assert practice.may_review(_grant(), []) is None
    assert council.may_review(_grant(), []) is not None
    # Once it has disclosed others' data, they review it, not the holder's agency.
    assert practice.may_review(_grant(), ["riverside-gp"]) is not None
    assert practice.sees_grant(_grant(), ["riverside-gp"])
    assert lead.may_review(_grant(), ["riverside-gp"]) is None
    assert not council.sees_grant(_grant(), ["riverside-gp"])


# --------------------------------------------------------------------------- through HTTP


async def test_a_gp_who_is_also_a_guardian_cannot_review_or_revoke_their_own_grant(
    world: World,
) -> None:
    both = _token(world, "dr-okafor", "riverside-gp", "riverside-gp", "gp", "caldicott_guardian")
    oakfield = world.population.people_of("oakfield-gp")[0]
    person = demo_person_id(oakfield.nhs_number)
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "risk_to_life", reason: "%s") '
        "{ id } }" % (person, "Brought in by ambulance after an overdose, cannot give history"),
        token=both,
    )
    grant_id = granted["data"]["breakGlass"]["id"]
    for mutation in (
        REVIEW % (grant_id, "appropriate", "I was there and it was needed"),
        REVOKE % (grant_id, REVOKE_REASON),
    ):
        refused = await world.query(mutation, token=both)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
        assert "your own grant" in refused["errors"][0]["message"]
    # Nothing disclosed yet: another guardian of the holder's practice reviews it.
    reviewed = await world.query(
        REVIEW % (grant_id, "needs_follow_up", "Ask Dr Okafor for the ambulance record"),
        as_="cg-brennan",
    )
    assert reviewed["data"]["reviewBreakGlass"]["outcome"] == "needs_follow_up"


async def test_a_guardian_of_an_unrelated_agency_neither_sees_nor_reviews_a_grant(
    world: World,
) -> None:
    grant_id = await _break_glass_and_use(world, world.person_id(ROY))
    housing = _housing_guardian(world)
    assert (await world.query(REVIEWS, token=housing))["data"]["breakGlassReviews"] == []
    (seen,) = (await world.query(REVIEWS, as_="cg-brennan"))["data"]["breakGlassReviews"]
    assert seen["agenciesNotified"] == ["riverside-gp", "shire-adult-social-care"]
    # Someone else's grant answers exactly as a grant that does not exist.
    for mutation in (
        REVIEW % ("%s", "appropriate", "Looks fine to me"),
        REVOKE % ("%s", REVOKE_REASON),
    ):
        theirs = await world.query(mutation % grant_id, token=housing)
        unknown = await world.query(mutation % uuid.uuid4(), token=housing)
        assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert _without_ids(theirs) == _without_ids(unknown)
    # Practitioners without a governance role see no grants at all.
    refused = await world.query(REVIEWS, as_="sw-patel")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[str, list[dict[str, Any]], asyncio.Event]]:
    """A receiver for notices: its URL, what arrived, and an event set on each arrival."""
    received: list[dict[str, Any]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        arrived.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/notices", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/notices", received, arrived
    finally:
        await runner.cleanup()


async def _wait_for(
    arrived: asyncio.Event, received: list[dict[str, Any]], event: str
) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            found = [notice for notice in received if notice["event"] == event]
            if found:
                return found[0]
            arrived.clear()
            await arrived.wait()


async def _notices(world: World, grant_id: str) -> dict[str, str | None]:
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        rows = await conn.execute(
            select(
                break_glass_notifications.c.agency, break_glass_notifications.c.ended_notice
            ).where(break_glass_notifications.c.grant_id == grant_id)
        )
        return {row.agency: row.ended_notice for row in rows}


async def _webhooked_world(
    tmp_path: Path, population: Population, store_dir: Path, url: str
) -> World:
    council = (DEMO_CONFIG / "agencies" / "shire-adult-social-care.toml").read_text()
    world = World(tmp_path, population, store_dir)
    await world.start(
        agencies={"shire-adult-social-care": f'break_glass_webhook = "{url}"\n' + council}
    )
    return world


async def test_inappropriate_ends_the_grant_at_once_and_tells_the_owners(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    webhook: tuple[str, list[dict[str, Any]], asyncio.Event],
) -> None:
    url, received, arrived = webhook
    world = await _webhooked_world(tmp_path, population, store_dir, url)
    try:
        roy = world.person_id(ROY)
        grant_id = await _break_glass_and_use(world, roy)
        reviewed = await world.query(
            REVIEW % (grant_id, "inappropriate", "No emergency: the patient was at home and well"),
            as_="cg-morgan",
        )
        grant = reviewed["data"]["reviewBreakGlass"]["grant"]
        assert grant["endedAt"] and grant["endedBy"] == "cg-morgan@shire-adult-social-care"
        after = await world.query(MEDS_AND_CARE % roy, as_="dr-lewis")
        # Without the grant Roy is, to Dr Lewis, as an unknown id is.
        assert after["data"]["person"] is None
        assert after["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        assert "breakGlass" not in after["extensions"]
        notice = await _wait_for(arrived, received, "break_glass_review")
        assert notice["grant"] == grant_id and notice["outcome"] == "inappropriate"
        assert notice["agency"] == "shire-adult-social-care"
        assert await _notices(world, grant_id) == {
            "riverside-gp": "break_glass_review",
            "shire-adult-social-care": "break_glass_review",
        }
    finally:
        await world.stop()


async def test_a_guardian_revokes_a_grant_and_the_owners_are_told(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    webhook: tuple[str, list[dict[str, Any]], asyncio.Event],
) -> None:
    url, received, arrived = webhook
    world = await _webhooked_world(tmp_path, population, store_dir, url)
    try:
        roy = world.person_id(ROY)
        grant_id = await _break_glass_and_use(world, roy)
        # The holder ends their own grant with endBreakGlass; revoking is for guardians.
        own = await world.query(REVOKE % (grant_id, REVOKE_REASON), as_="dr-lewis")
        assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        vague = await world.query(REVOKE % (grant_id, "x" * 30), as_="cg-brennan")
        assert vague["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        revoked = await world.query(REVOKE % (grant_id, REVOKE_REASON), as_="cg-brennan")
        grant = revoked["data"]["revokeBreakGlass"]["grant"]
        assert grant["endedBy"] == "cg-brennan@riverside-gp"
        assert grant["endReason"] == f"revoked: {REVOKE_REASON}"
        after = await world.query(MEDS_AND_CARE % roy, as_="dr-lewis")
        assert after["data"]["person"] is None
        assert after["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        again = await world.query(REVOKE % (grant_id, REVOKE_REASON), as_="cg-morgan")
        assert "already ended" in again["errors"][0]["message"]
        notice = await _wait_for(arrived, received, "break_glass_revoked")
        assert notice["grant"] == grant_id and notice["endedBy"] == "cg-brennan@riverside-gp"
        assert set((await _notices(world, grant_id)).values()) == {"break_glass_revoked"}
    finally:
        await world.stop()


DISCLOSURES = (
    '{ disclosures(personId: "%s") { practitioner requesterAgency purpose '
    "agencies { agency disclosed } } }"
)


async def test_a_guardian_reads_only_their_own_agencys_audit(world: World) -> None:
    gp_only = world.population.people[14]
    assert world.population.agencies_of(gp_only.nhs_number) == ("riverside-gp",)
    gp_patient = demo_person_id(gp_only.nhs_number)
    looked = await world.query(
        '{ person(id: "%s") { health { medications { name } } } }' % gp_patient, as_="dr-okafor"
    )
    assert looked["data"]["person"]["health"]["medications"]
    # The council's guardian cannot read the audit of a GP-only patient, and the answer is
    # the same as for an id no one has.
    council_view = await world.query(DISCLOSURES % gp_patient, as_="cg-morgan")
    unknown = await world.query(DISCLOSURES % uuid.uuid4(), as_="cg-morgan")
    assert council_view["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert _without_ids(council_view) == _without_ids(unknown)
    (own,) = (await world.query(DISCLOSURES % gp_patient, as_="cg-brennan"))["data"]["disclosures"]
    assert own["practitioner"] == "dr-okafor"
    # Within a record about a shared person, each guardian sees their own agency's part of
    # another agency's request.
    roy = world.person_id(ROY)
    await _break_glass_and_use(world, roy)
    by_practice = {
        tuple(a["agency"] for a in d["agencies"])
        for d in (await world.query(DISCLOSURES % roy, as_="cg-brennan"))["data"]["disclosures"]
    }
    by_council = {
        tuple(a["agency"] for a in d["agencies"])
        for d in (await world.query(DISCLOSURES % roy, as_="cg-morgan"))["data"]["disclosures"]
    }
    assert by_practice == {("riverside-gp",)}
    assert by_council == {("shire-adult-social-care",)}


async def test_usage_and_explanations_stay_within_the_guardians_agency(world: World) -> None:
    roy = world.person_id(ROY)
    await world.query(MEDS_AND_CARE % roy, as_="dr-okafor")
    await world.query(MEDS_AND_CARE % roy, as_="sw-patel")
    usage = "{ usage { byAgencyAndRole { agency role queries } } }"
    practice = (await world.query(usage, as_="cg-brennan"))["data"]["usage"]["byAgencyAndRole"]
    council = (await world.query(usage, as_="cg-morgan"))["data"]["usage"]["byAgencyAndRole"]
    assert {row["agency"] for row in practice} == {"riverside-gp"}
    assert {row["agency"] for row in council} == {"shire-adult-social-care"}
    explain = (
        '{ explainAccess(personId: "%s", agency: "%s", item: "%s", requester: '
        '{practitioner: "sw-patel", agency: "shire-adult-social-care", '
        'team: "Older People\'s Team (North)", roles: ["social_worker"], '
        'purpose: "direct_care"}) { permitted rule } }'
    )
    # The practice's guardian may not explain the council's own decisions about its data.
    theirs = await world.query(
        explain % (roy, "shire-adult-social-care", "care_packages.service"), as_="cg-brennan"
    )
    assert theirs["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ours = await world.query(explain % (roy, "riverside-gp", "medications.name"), as_="cg-brennan")
    assert ours["data"]["explainAccess"]["permitted"] is True
    gp_patient = demo_person_id(world.population.people[14].nhs_number)
    hidden = await world.query(
        explain % (gp_patient, "shire-adult-social-care", "care_packages.service"), as_="cg-morgan"
    )
    unknown = await world.query(
        explain % (uuid.uuid4(), "shire-adult-social-care", "care_packages.service"),
        as_="cg-morgan",
    )
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert _without_ids(hidden) == _without_ids(unknown)


async def test_a_lead_guardian_oversees_every_agency(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    protocol = (DEMO_CONFIG / "sharing-protocol.toml").read_text()
    protocol = protocol.replace("lead_guardians = []", 'lead_guardians = ["cg-hale@shire-housing"]')
    world = World(tmp_path, population, store_dir)
    await world.start(protocol=protocol)
    try:
        grant_id = await _break_glass_and_use(world, world.person_id(ROY))
        lead = _housing_guardian(world)
        (seen,) = (await world.query(REVIEWS, token=lead))["data"]["breakGlassReviews"]
        assert seen["grant"]["id"] == grant_id
        gp_patient = demo_person_id(world.population.people[14].nhs_number)
        audit = await world.query(DISCLOSURES % gp_patient, token=lead)
        assert audit["data"]["disclosures"] == []
        reviewed = await world.query(
            REVIEW % (grant_id, "appropriate", "Confirmed with the duty GP at Oakfield"),
            token=lead,
        )
        assert reviewed["data"]["reviewBreakGlass"]["outcome"] == "appropriate"
    finally:
        await world.stop()
