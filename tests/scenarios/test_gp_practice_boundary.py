"""The field's lesson: a GP never sees another practice's patients.

In the pilots, GPs found they could see the names of each other's patients and asked to
be cut off. Here a GP's relationship is with their own practice's patients only: Dr
Okafor's caseload is Riverside's patients and no one else, and Dr Lewis's Oakfield's.
Asking for the other practice's patient is answered exactly as an unknown id is, with
no agency even asked. Exact identifiers give the index entry (who is involved, so the
GP knows whom to call), never a record; and the other practice's guardian finds that
look-up in the audit.
"""

from __future__ import annotations

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import GP_PRACTICES, OAKFIELD_GP, RIVERSIDE_GP
from tests.scenarios.helpers import FIELDS, assert_not_available, expected
from tests.support import World

GP_OF = {RIVERSIDE_GP: "dr-okafor", OAKFIELD_GP: "dr-lewis"}
GUARDIAN_OF = {RIVERSIDE_GP: "cg-brennan"}
RECORD = """{ person(id: "%s") {
  demographics { givenName familyName } involvements { %s }
  health { medications { %s } }
} }""" % ("%s", FIELDS["involvement"], FIELDS["medications"])


def _other(practice: str) -> str:
    (other,) = (p for p in GP_PRACTICES if p != practice)
    return other


async def test_each_gps_caseload_is_their_own_practices_patients_only(world: World) -> None:
    population = world.population
    for practice, gp in GP_OF.items():
        result = await world.query("{ caseload(first: 200) { id } }", as_=gp)
        shown = {entry["id"] for entry in result["data"]["caseload"]}
        own = {demo_person_id(p.nhs_number) for p in population.people_of(practice)}
        theirs = {demo_person_id(p.nhs_number) for p in population.people_of(_other(practice))}
        assert own and theirs
        assert shown == own, gp
        assert not shown & theirs, gp


async def test_another_practices_patient_is_answered_as_an_unknown_id(world: World) -> None:
    population = world.population
    for practice, gp in GP_OF.items():
        other = _other(practice)
        for patient in population.people_of(other):
            response = await world.post(RECORD % demo_person_id(patient.nhs_number), as_=gp)
            assert_not_available(response.json())
            # Nothing of the record reaches the other practice's GP, not even the name
            # beside the id: the answer is the one an id nobody holds gets.
            assert patient.family_name not in response.text, (gp, patient.full_name)
            for medicine in expected(population, patient, other, "medications"):
                assert medicine["name"] not in response.text


async def test_exact_identifiers_give_only_the_index_entry_and_are_audited(world: World) -> None:
    population = world.population
    patient = population.people_of(RIVERSIDE_GP)[0]
    patient_id = demo_person_id(patient.nhs_number)
    found = await world.query(
        '{ findPeople(nhsNumber: "%s") { personId givenName familyName agencies } }'
        % patient.nhs_number,
        as_="dr-lewis",
    )
    assert found["data"]["findPeople"] == [
        {
            "personId": patient_id,
            "givenName": patient.given_name,
            "familyName": patient.family_name,
            "agencies": sorted(population.agencies_of(patient.nhs_number)),
        }
    ]
    record = await world.query(RECORD % patient_id, as_="dr-lewis")
    assert_not_available(record)

    # Riverside's guardian sees that Oakfield's GP looked Riverside's patient up.
    audit = await world.query(
        '{ disclosures(personId: "%s") { kind practitioner requesterAgency } }' % patient_id,
        as_=GUARDIAN_OF[RIVERSIDE_GP],
    )
    assert {
        "kind": "lookup",
        "practitioner": "dr-lewis",
        "requesterAgency": OAKFIELD_GP,
    } in audit["data"]["disclosures"]
