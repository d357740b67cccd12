"""A person the requester may not see is answered exactly as an id nobody has: same
shape, same error, same bytes apart from the id, for people and governance queries."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.config.settings import load_settings
from gateway.core.errors import ConfigError
from gateway.governance.migrate import upgrade_schema
from gateway.governance.state import create_state_engine, disclosures
from gateway.service import Gateway
from tests.support import World

ROY = 0  # Roy Bromley: Riverside GP patient known to all four Shire agencies
PERSON = """{ person(id: "%s") { id knownTo { id name } demographics { givenName familyName }
  involvements { team } alerts { category } health { medications { name } } } }"""
CONSENTS = '{ consents(personId: "%s") { id scope decision } }'
RECORD_CONSENT = """mutation { recordConsent(input: {personId: "%s", category: "health",
  recipientAgency: "*", decision: PERMIT, reference: "Signed form SF-2291"}) { id } }"""
EXPLAIN = """{ explainAccess(personId: "%s", agency: "shire-adult-social-care",
  item: "timeline.summary", requester: {practitioner: "x", agency: "shire-housing",
  roles: ["housing_officer"], purpose: "direct_care"}) { permitted reason rule relationship } }"""
DISCLOSURES = '{ disclosures(personId: "%s") { seq practitioner } }'


async def _same_apart_from_ids(
    world: World, query: str, existing: str, as_: str
) -> tuple[bytes, httpx.Response]:
    unknown = str(uuid.uuid4())
    seen = await world.post(query % existing, as_=as_)
    absent = await world.post(query % unknown, as_=as_)
    assert seen.status_code == absent.status_code == 200
    # Nothing in the answer is timed or counted per agency: no agency was asked for either.
    assert seen.content.replace(existing.encode(), b"ID") == absent.content.replace(
        unknown.encode(), b"ID"
    )
    return seen.content, seen


def _not_found(body: bytes, hint: str = "findPeople") -> dict[str, Any]:
    """The one NOT_FOUND error, whose message says where to turn (``hint``)."""
    result: dict[str, Any] = orjson.loads(body)
    (error,) = result["errors"]
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert hint in error["message"]
    return result


async def test_person_unrelated_and_unknown_answer_identically(world: World) -> None:
    roy = world.population.people[ROY]
    body, response = await _same_apart_from_ids(world, PERSON, world.person_id(ROY), "dr-lewis")
    result = _not_found(body)
    assert result["data"] == {"person": None}
    assert result["extensions"] == {"sources": {}}
    for secret in (roy.given_name, roy.family_name, "riverside-gp"):
        assert secret not in response.text
    # Both attempts are audited, each with one disclosure record (so both cost one write):
    # the real person's says what was withheld, the unknown id's holds nothing.
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        rows = (
            await conn.execute(
                select(disclosures.c.person_id, disclosures.c.agencies)
                .where(disclosures.c.kind == "disclosure")
                .order_by(disclosures.c.seq)
            )
        ).all()
    (seen, absent) = rows
    assert seen[0] == world.person_id(ROY) and absent[0] != seen[0]
    reasons = {
        group["reason"] for entry in orjson.loads(seen[1]).values() for group in entry["withheld"]
    }
    assert reasons == {"NO_RELATIONSHIP"} and absent[1] == "{}"
    # The same query for someone the requester works with answers in full, knownTo included.
    own = await world.query(PERSON % world.person_id(ROY), as_="dr-okafor")
    assert "errors" not in own and len(own["data"]["person"]["knownTo"]) == 4


async def test_a_break_glass_grant_makes_the_person_available(world: World) -> None:
    roy = world.person_id(ROY)
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") { id } }' % (roy, "Found collapsed at the surgery door, unresponsive"),
        as_="dr-lewis",
    )
    assert granted["data"]["breakGlass"]["id"]
    shown = await world.query(PERSON % roy, as_="dr-lewis")
    assert "errors" not in shown
    assert shown["data"]["person"]["id"] == roy and shown["data"]["person"]["knownTo"]


async def test_a_caseload_and_aliases_keep_answering_around_an_unavailable_person(
    world: World,
) -> None:
    mine, theirs = world.person_id(ROY), str(uuid.uuid4())
    result = await world.query(
        '{ a: person(id: "%s") { id } b: person(id: "%s") { id } }' % (mine, theirs),
        as_="dr-okafor",
    )
    assert result["data"] == {"a": {"id": mine}, "b": None}
    (error,) = result["errors"]
    assert error["path"] == ["b"] and error["extensions"]["code"] == "NOT_FOUND"


async def test_consents_unrelated_and_unknown_answer_identically(world: World) -> None:
    roy = world.person_id(ROY)
    for query, data in ((CONSENTS, None), (RECORD_CONSENT, {"recordConsent": None})):
        body, _ = await _same_apart_from_ids(world, query, roy, "dr-lewis")
        assert _not_found(body)["data"] == data
    # Someone involved is answered.
    assert (await world.query(CONSENTS % roy, as_="sw-patel"))["data"]["consents"] == []


async def test_governance_queries_unrelated_and_unknown_answer_identically(
    world: World, population: Population
) -> None:
    council = {p.nhs_number for p in population.people_of("shire-adult-social-care")}
    stranger = next(p for p in population.people if p.nhs_number not in council)
    stranger_id = demo_person_id(stranger.nhs_number)
    await world.query('{ person(id: "%s") { id } }' % stranger_id, as_="dr-okafor")
    for query in (EXPLAIN, DISCLOSURES):
        body, _ = await _same_apart_from_ids(world, query, stranger_id, "cg-morgan")
        assert _not_found(body, "a guardian of an agency that holds the person")["data"] is None
    # The council's guardian is answered about the council's own clients.
    explained = await world.query(EXPLAIN % world.person_id(ROY), as_="cg-morgan")
    assert explained["data"]["explainAccess"]["permitted"] is False


async def test_production_refuses_a_person_index_of_demo_ids(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    world = World(tmp_path, population, store_dir)
    await world.start()  # demo mode: the index is seeded with ids derived from NHS numbers
    assert world.settings is not None
    config = world.settings.config_dir / "gateway.toml"
    await world.stop()
    text = config.read_text()
    config.write_text(text.replace('mode = "demo"', 'mode = "production"'))
    production = Gateway(load_settings(config))
    with pytest.raises(ConfigError) as refused:
        await production.start(check_sources=False)
    assert "demo" in str(refused.value) and "state_database" in str(refused.value)
    assert not production.started
    # A production index of random ids starts, and starts again once it holds people.
    production_text = config.read_text()
    assert "/state.sqlite" in production_text
    config.write_text(production_text.replace("/state.sqlite", "/production-state.sqlite"))
    settings = load_settings(config)
    # In production the schema is the operator's to make (`fame-gateway db upgrade`).
    engine = create_state_engine(settings.state_database)
    try:
        await upgrade_schema(engine)
    finally:
        await engine.dispose()
    gateway = Gateway(settings)
    await gateway.start(check_sources=False)
    try:
        await gateway.index.register([("shire-housing", "H-1")], nhs_number="9990000001")
    finally:
        await gateway.stop()
    await gateway.start(check_sources=False)
    await gateway.stop()
