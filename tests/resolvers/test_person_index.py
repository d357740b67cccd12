"""linkPerson, unlinkPerson and the review queue through /graphql with real tokens: an
index administrator changes their own agency's links, and each change is in the audit;
a practitioner, or another agency's administrator, is refused saying why."""

from __future__ import annotations

from typing import Any

from gateway.audit.chain import verify_chain
from gateway.audit.index_events import index_records
from gateway.config.tokens import mint_token
from gateway.governance.linkage import IncomingRecord, Linkage
from tests.support import World

ROY = 0  # a Riverside GP patient known to the council, the trust and housing
LINK = (
    'mutation { linkPerson(personId: "%s", agency: "%s", localId: "%s", team: "%s", '
    'note: "registered at the practice today") '
    "{ action personId agency localId teams method score by } }"
)
UNLINK = (
    'mutation { unlinkPerson(personId: "%s", agency: "%s", localId: "%s", '
    'reason: "registered in error") { action teams method by } }'
)
REVIEWS = (
    "{ personIndexReviews { id agency localId givenName candidatePersonId score explanation } }"
)


def _admin(world: World, agency: str = "riverside-gp") -> str:
    assert world.settings is not None
    return mint_token(
        world.settings,
        subject="ix-morgan",
        agency=agency,
        team="Records",
        roles=("index_administrator",),
        name="Morgan Reed",
    )


def _error(result: dict[str, Any]) -> tuple[str, str]:
    [error] = result["errors"]
    return error["extensions"]["code"], error["message"]


async def test_an_index_administrator_links_and_unlinks_and_it_is_audited(
    world: World,
) -> None:
    roy = world.person_id(ROY)
    token = _admin(world)
    linked = await world.query(
        LINK % (roy, "riverside-gp", "RGP-NEW-1", "riverside-gp"), token=token
    )
    assert "errors" not in linked, linked
    assert linked["data"]["linkPerson"] == {
        "action": "link",
        "personId": roy,
        "agency": "riverside-gp",
        "localId": "RGP-NEW-1",
        "teams": ["riverside-gp"],
        "method": "manual",
        "score": None,
        "by": "ix-morgan@riverside-gp",
    }
    assert world.gateway is not None
    links = await world.gateway.index.links([roy])
    assert "RGP-NEW-1" in {link.local_id for link in links[roy]["riverside-gp"]}

    unlinked = await world.query(UNLINK % (roy, "riverside-gp", "RGP-NEW-1"), token=token)
    assert unlinked["data"]["unlinkPerson"] == {
        "action": "unlink",
        "teams": ["riverside-gp"],
        "method": "manual",
        "by": "ix-morgan@riverside-gp",
    }
    links = await world.gateway.index.links([roy])
    assert "RGP-NEW-1" not in {link.local_id for link in links[roy]["riverside-gp"]}
    again = await world.query(UNLINK % (roy, "riverside-gp", "RGP-NEW-1"), token=token)
    assert again["data"] is None or again["data"]["unlinkPerson"] is None
    assert _error(again)[0] == "NOT_FOUND"

    records = await index_records(world.gateway.state_engine, roy)
    assert [(r.action, r.local_id, r.method, r.practitioner, r.roles) for r in records] == [
        ("link", "RGP-NEW-1", "manual", "ix-morgan", ("index_administrator",)),
        ("unlink", "RGP-NEW-1", "manual", "ix-morgan", ("index_administrator",)),
    ]
    assert {r.requester_agency for r in records} == {"riverside-gp"}
    assert (await verify_chain(world.gateway.state_engine)).ok


async def test_practitioners_and_other_agencies_are_refused(world: World) -> None:
    roy = world.person_id(ROY)
    refused = await world.query(LINK % (roy, "riverside-gp", "RGP-NEW-2", "riverside-gp"))
    assert _error(refused) == (
        "FORBIDDEN",
        "only index administrators (index_administrator) may change or review the person "
        "index; ask your agency's index administrator",
    )
    assert _error(await world.query(UNLINK % (roy, "riverside-gp", "x")))[0] == "FORBIDDEN"
    assert _error(await world.query(REVIEWS))[0] == "FORBIDDEN"
    # Another agency's records are that agency's administrator's to link.
    other = await world.query(
        LINK % (roy, "shire-housing", "HOU-NEW-1", "Tenancy"), token=_admin(world)
    )
    code, message = _error(other)
    assert code == "FORBIDDEN" and "their own agency's records only (riverside-gp)" in message
    assert world.gateway is not None
    links = await world.gateway.index.links([roy])
    assert "RGP-NEW-2" not in {link.local_id for link in links[roy]["riverside-gp"]}
    assert await index_records(world.gateway.state_engine) == []
    # An index administrator sees no one's records.
    person = await world.query(
        '{ person(id: "%s") { demographics { givenName } } }' % roy, token=_admin(world)
    )
    assert person["data"]["person"] is None


async def test_the_review_queue_is_decided_by_the_agency_s_administrator(world: World) -> None:
    assert world.gateway is not None
    roy = world.population.people[ROY]
    twin = IncomingRecord(
        line=0,
        agency_id="riverside-gp",
        local_id="RGP-TWIN-1",
        given_name="Zebedee",
        family_name=roy.family_name,
        date_of_birth=roy.date_of_birth,
        postcodes=(roy.postcode,),
        team="riverside-gp",
    )
    summary = await Linkage(world.gateway.index.state).import_records([twin], "operator")
    assert summary.outcomes[0].outcome == "queued"

    housing = _admin(world, "shire-housing")
    assert (await world.query(REVIEWS, token=housing))["data"]["personIndexReviews"] == []
    [review] = (await world.query(REVIEWS, token=_admin(world)))["data"]["personIndexReviews"]
    assert (review["localId"], review["candidatePersonId"]) == ("RGP-TWIN-1", world.person_id(ROY))
    assert "given_name disagree" in review["explanation"]
    decide = 'mutation { %s(id: "%s", note: "a twin") { action personId method by } }'
    not_theirs = await world.query(
        decide % ("rejectPersonIndexReview", review["id"]), token=housing
    )
    assert _error(not_theirs)[0] == "NOT_FOUND"
    rejected = await world.query(
        decide % ("rejectPersonIndexReview", review["id"]), token=_admin(world)
    )
    change = rejected["data"]["rejectPersonIndexReview"]
    assert change["action"] == "review_rejected" and change["method"] == "new"
    assert change["personId"] != world.person_id(ROY)
    records = await index_records(world.gateway.state_engine, change["personId"])
    assert [(r.action, r.review_id) for r in records] == [("review_rejected", review["id"])]
