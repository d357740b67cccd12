"""A FHIR agency served end to end through /graphql: the gateway's settings register it
(from the shipped template, with SMART Backend Services), the sharing protocol shares part
of what it maps, and the answer, the withheld list and the server's own record of what
left it all agree with the protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fame_demo.fhir_server import FhirServer
from fame_demo.fhir_synthetic import fhir_resources, patient_id
from fame_demo.synthetic import UNSHARED_MARKER, Population
from tests.connectors.fhir_support import (
    AGENCY,
    ALWAYS,
    CLIENT_ID,
    agency_text,
    make_key,
    top_level,
)
from tests.support import DEMO_CONFIG, World

HELD = 4  # the FHIR agency holds the population's first four people
SINCE = "2025-09-01"

# Social workers see the contacts and which assessments were done; the assessments'
# outcomes, the diagnoses and the rest of what the agency maps stay with clinicians.
CLAUSE = f"""
[[clause]]
id = "TEST-FHIR-1"
title = "Wrekin community contacts and assessments"
agencies = ["{AGENCY}"]
items = ["timeline.*", "assessments.kind", "assessments.completed_on", "assessments.assessor"]
category = "health.physical"
roles = ["gp", "nurse", "social_worker", "occupational_therapist"]
purposes = ["direct_care", "care_planning"]
basis = "implied"

[[clause]]
id = "TEST-FHIR-2"
title = "Wrekin clinical records"
agencies = ["{AGENCY}"]
items = [
    "assessments.outcome",
    "conditions.*",
    "care_packages.*",
    "community_episodes.*",
]
category = "health.physical"
roles = ["gp", "nurse"]
purposes = ["direct_care"]
basis = "implied"

[[clause]]
id = "TEST-FHIR-3"
title = "Wrekin identity and contact details"
agencies = ["{AGENCY}"]
items = ["demographics.*"]
category = "demographics"
roles = ["gp", "nurse"]
purposes = ["direct_care"]
basis = "implied"
"""

QUERY = """
query($id: ID!, $since: Date!, $agency: ID!) {
  person(id: $id) {
    timeline(from: $since, agencies: [$agency]) { occurredOn kind agency { id } }
    assessments { kind completedOn outcome agency { id } }
    health { conditions { name code agency { id } } }
  }
}
"""


@pytest.fixture
async def fhir_world(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, FhirServer, list[dict[str, Any]]]]:
    """The demo world plus a FHIR agency requiring SMART tokens, linked by NHS number."""
    key = make_key(tmp_path / "keys-fhir", algorithm="ES384", key_id="gateway-fhir-1")
    resources = fhir_resources(population.people[:HELD])
    server = FhirServer(resources, clients={CLIENT_ID: key.jwks})
    await server.start()
    assert server.base_url is not None
    world = World(tmp_path / "world", population, store_dir)
    try:
        await world.start(
            agencies={AGENCY: agency_text(server.base_url, key=key, token_url=server.token_url)},
            protocol=(DEMO_CONFIG / "sharing-protocol.toml").read_text() + CLAUSE,
        )
        assert world.gateway is not None
        for person in population.people[:HELD]:
            # A FHIR agency's local id is the NHS number.
            await world.gateway.index.register(
                [(AGENCY, person.nhs_number, None)], nhs_number=person.nhs_number
            )
        server.forget_calls()  # start-up's check searched once; only the query counts below
        yield world, server, resources
    finally:
        await world.stop()
        await server.stop()


async def test_a_person_query_gets_only_what_the_protocol_shares(
    fhir_world: tuple[World, FhirServer, list[dict[str, Any]]], population: Population
) -> None:
    world, server, resources = fhir_world
    person = population.people[0]
    subject = {"reference": f"Patient/{patient_id(person)}"}

    result = await world.query(
        QUERY, variables={"id": world.person_id(0), "since": SINCE, "agency": AGENCY}
    )

    assert "errors" not in result, result["errors"]
    answer = result["data"]["person"]
    encounters = [
        r
        for r in resources
        if r["resourceType"] == "Encounter"
        and r["subject"] == subject
        and r["period"]["start"][:10] >= SINCE
    ]
    assert encounters, "the person has encounters in the range"
    assert sorted((e["occurredOn"], e["kind"]) for e in answer["timeline"]) == sorted(
        (r["period"]["start"][:10], r["type"][0]["text"]) for r in encounters
    )
    assert {e["agency"]["id"] for e in answer["timeline"]} == {AGENCY}
    observations = [
        r for r in resources if r["resourceType"] == "Observation" and r["subject"] == subject
    ]
    fhir_assessments = [a for a in answer["assessments"] if a["agency"]["id"] == AGENCY]
    assert sorted((a["kind"], a["completedOn"]) for a in fhir_assessments) == sorted(
        (r["code"]["text"], r["effectiveDateTime"][:10]) for r in observations
    )
    assert fhir_assessments, "the person has assessments at the FHIR agency"
    assert all(a["outcome"] is None for a in fhir_assessments)
    conditions = answer["health"]["conditions"] or []
    assert AGENCY not in {c["agency"]["id"] for c in conditions}

    withheld = {
        (e["item"], e["reason"])
        for e in result["extensions"]["withheld"]
        if e.get("agency") == AGENCY
    }
    assert withheld == {
        ("assessments.outcome", "ROLE_NOT_PERMITTED"),
        ("conditions.name", "ROLE_NOT_PERMITTED"),
        ("conditions.code", "ROLE_NOT_PERMITTED"),
    }

    # At the source: one batch, and nothing beyond the shared elements left the server.
    assert server.posts == 1
    asked = {call.resource_type: call.elements for call in server.calls}
    assert asked == {
        "Patient": {"identifier"},
        "Encounter": {"subject", "period", "type"},
        "Observation": {"subject", "code", "effective"},
    }
    (encounter_search,) = [c for c in server.calls if c.resource_type == "Encounter"]
    assert encounter_search.param("date") == [f"ge{SINCE}"]
    for call in server.calls:
        assert call.via == "batch" and call.status == 200
        for resource in call.returned:
            assert {top_level(key) for key in resource} - ALWAYS <= asked[call.resource_type]
            assert UNSHARED_MARKER not in str(resource)
    assert [t.issued for t in server.token_requests] == [True], "one token, from start-up"
