"""Look-ups in the person index leave a trace: every person ``findPeople`` returns or
``knownTo`` shows gets a lookup record in the audit, and the person's report says so."""

from __future__ import annotations

import html
import json

from fhir.resources.R4B.auditevent import AuditEvent
from sqlalchemy import select, text

from gateway.audit.fhir import fhir_audit_events
from gateway.audit.records import disclosure_records
from gateway.audit.reports import subject_report_html
from gateway.audit.usage import usage
from gateway.config.tokens import mint_token
from gateway.governance.state import disclosures
from tests.support import World

ROY = 0  # Roy Bromley: Riverside GP patient known to all four Shire agencies
FIND = '{ findPeople(nhsNumber: "%s") { personId givenName familyName agencies } }'


async def _lookups(world: World) -> list[dict[str, object]]:
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        rows = await conn.execute(
            select(disclosures).where(disclosures.c.kind == "lookup").order_by(disclosures.c.seq)
        )
        return [dict(row) for row in rows.mappings()]


async def test_each_person_found_or_shown_known_to_gets_one_lookup_record(world: World) -> None:
    roy = world.population.people[ROY]
    roy_id = world.person_id(ROY)
    found = await world.query(FIND % roy.nhs_number, as_="dr-lewis")
    assert [entry["personId"] for entry in found["data"]["findPeople"]] == [roy_id]
    nobody = await world.query(FIND % "9990000000", as_="dr-lewis")
    assert nobody["data"]["findPeople"] == []
    # knownTo on a person the requester may see, asked for twice in one request: one record.
    known = await world.query(
        '{ a: person(id: "%s") { knownTo { id } } b: person(id: "%s") { knownTo { id } } }'
        % (roy_id, roy_id),
        as_="sw-patel",
    )
    assert len(known["data"]["a"]["knownTo"]) == 4
    # A person asked for without knownTo is a disclosure, not a lookup.
    await world.query('{ person(id: "%s") { alerts { category } } }' % roy_id, as_="dn-hughes")
    first, second = await _lookups(world)
    assert (first["practitioner"], first["practitioner_name"]) == ("dr-lewis", "Dr Tom Lewis")
    assert (second["practitioner"], second["requester_agency"]) == (
        "sw-patel",
        "shire-adult-social-care",
    )
    for record in (first, second):
        assert record["person_id"] == roy_id
        assert record["purpose"] == "direct_care"
        assert record["agencies"] == "{}"  # no values, not even the index entry's
        assert roy.family_name not in json.dumps(record, default=str)
    # Usage counts a look-up as a query, never as a person viewed or an item disclosed.
    assert world.gateway is not None
    rows, _ = await usage(world.gateway.state_engine)
    (gp,) = [row for row in rows if row.agency == "oakfield-gp"]
    assert (gp.queries, gp.people_viewed, gp.items_disclosed, gp.items_withheld) == (2, 0, 0, 0)


async def test_a_lookup_appears_in_the_subject_report_and_the_fhir_export(world: World) -> None:
    roy = world.population.people[ROY]
    roy_id = world.person_id(ROY)
    await world.query(FIND % roy.nhs_number, as_="dr-lewis")
    await world.query('{ person(id: "%s") { alerts { category } } }' % roy_id, as_="dn-hughes")
    assert world.gateway is not None and world.settings is not None
    engine = world.gateway.state_engine
    records = await disclosure_records(engine, person_id=roy_id, lookups=True)
    assert [r.kind for r in records] == ["lookup", "disclosure"]
    # Readers that want disclosures only still get them only.
    assert [r.kind for r in await disclosure_records(engine, person_id=roy_id)] == ["disclosure"]
    page = subject_report_html("Roy Bromley", records, world.settings)
    assert "Times someone looked you up in the index" in page
    assert "Dr Tom Lewis, GP (family doctor), Oakfield Surgery looked you up in the index" in page
    # The look-up is not counted as an occasion on which records were shown.
    assert page.count('<section class="occasion"') == 1
    events = fhir_audit_events(records, world.settings)
    lookup = AuditEvent.model_validate(events[0])
    assert lookup.type.code == "110112" and lookup.action == "E"
    assert lookup.agent[0].who.identifier.value == "dr-lewis"
    assert {e.what.identifier.value for e in lookup.entity} == {roy_id}
    assert AuditEvent.model_validate(events[1]).type.code == "110106"
    governance = await world.query(
        '{ disclosures(personId: "%s") { kind practitioner practitionerName } }' % roy_id,
        as_="cg-morgan",
    )
    assert governance["data"]["disclosures"] == [
        {"kind": "lookup", "practitioner": "dr-lewis", "practitionerName": "Dr Tom Lewis"},
        {"kind": "disclosure", "practitioner": "dn-hughes", "practitionerName": "Gareth Hughes"},
    ]


async def test_a_lookup_that_cannot_be_audited_is_not_answered(world: World) -> None:
    roy = world.population.people[ROY]
    assert world.gateway is not None
    async with world.gateway.state_engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TRIGGER refuse_lookups BEFORE INSERT ON disclosures "
                "WHEN NEW.kind = 'lookup' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    response = await world.post(FIND % roy.nhs_number, as_="dr-lewis")
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert roy.family_name not in response.text and world.person_id(ROY) not in response.text
    # A query that shows no index entry writes no lookup, so it is answered.
    answered = await world.query(FIND % "9990000000", as_="dr-lewis")
    assert answered["data"]["findPeople"] == []


async def test_the_report_names_the_practitioner_or_falls_back_to_the_login_id(
    world: World,
) -> None:
    roy_id = world.person_id(ROY)
    assert world.settings is not None and world.gateway is not None
    query = '{ person(id: "%s") { alerts { category } } }' % roy_id
    await world.query(query, as_="sw-patel")
    nameless = mint_token(
        world.settings,
        subject="sw-nameless",
        agency="shire-adult-social-care",
        team="Older People's Team (North)",
        roles=("social_worker",),
    )
    await world.query(query, token=nameless)
    records = await disclosure_records(world.gateway.state_engine, person_id=roy_id)
    page = subject_report_html("Roy Bromley", records, world.settings)
    assert (
        html.escape(
            "Priya Patel, social worker, Older People's Team (North) team, "
            "Shire Council Adult Social Care"
        )
        in page
    )
    assert "sw-patel" not in page
    assert "sw-nameless, social worker" in page
