"""The emergency department's records as its own system holds them: FHIR R4 resources.

For each person the department knows, a ``Patient`` (its local id as the resource id,
the NHS number under the NHS's identifier system), and for each attendance an
``Encounter`` (emergency class, ``period.start``, ``reasonCode``, the clinician as
``participant``, the outcome as ``hospitalization.dischargeDisposition``) and a
``Condition`` recording the presenting complaint against that encounter. A FHIR server
serves these; the demo's SQL stand-in holds the same facts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fame_demo.synthetic import EMERGENCY_DEPARTMENT, Population

#: The identifier system of NHS numbers in FHIR (NHS England's FHIR identifiers).
NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
#: The department's own identifier system for its medical record numbers (invented).
MRN_SYSTEM = "https://fhir.severn-valley-hospitals.demo.invalid/Id/mrn"
#: HL7 v3 ActCode for an emergency encounter.
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

Resource = dict[str, Any]


def patient_resource(population: Population, local_id: str) -> Resource:
    """The department's ``Patient`` for the person it knows as ``local_id``."""
    (row,) = population.rows(EMERGENCY_DEPARTMENT, local_id, "demographics")
    born = row["date_of_birth"]
    assert isinstance(born, date)
    return {
        "resourceType": "Patient",
        "id": local_id,
        "identifier": [
            {"system": NHS_NUMBER_SYSTEM, "value": row["nhs_number"]},
            {"system": MRN_SYSTEM, "value": local_id},
        ],
        "name": [{"use": "official", "family": row["family_name"], "given": [row["given_name"]]}],
        "gender": row["gender"],
        "birthDate": born.isoformat(),
        "address": [{"use": "home", "text": row["address"], "postalCode": row["postcode"]}],
        "telecom": [{"system": "phone", "value": row["phone"], "use": "home"}],
    }


def attendance_resources(population: Population, local_id: str) -> list[Resource]:
    """An ``Encounter`` and a ``Condition`` per attendance of the person, oldest first."""
    resources: list[Resource] = []
    rows = population.rows(EMERGENCY_DEPARTMENT, local_id, "ed_attendances")
    for number, row in enumerate(rows, start=1):
        arrived = row["arrived_on"]
        assert isinstance(arrived, date)
        encounter_id = f"{local_id}-att-{number}"
        resources.append(
            {
                "resourceType": "Encounter",
                "id": encounter_id,
                "status": "finished" if arrived < population.as_of else "in-progress",
                "class": {"system": _ACT_CODE, "code": "EMER", "display": "emergency"},
                "subject": {"reference": f"Patient/{local_id}"},
                "period": {"start": arrived.isoformat()},
                "reasonCode": [{"text": row["reason"]}],
                "participant": [{"individual": {"display": row["clinician"]}}],
                "hospitalization": {"dischargeDisposition": {"text": row["outcome"]}},
            }
        )
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"{encounter_id}-complaint",
                "clinicalStatus": {"text": "active"},
                "category": [{"text": "Presenting complaint"}],
                "code": {"text": row["reason"]},
                "subject": {"reference": f"Patient/{local_id}"},
                "encounter": {"reference": f"Encounter/{encounter_id}"},
                "recordedDate": arrived.isoformat(),
            }
        )
    return resources


def fhir_resources(population: Population) -> list[Resource]:
    """Every resource the department holds: each patient, then their attendances."""
    resources: list[Resource] = []
    for local_id in sorted(population.local_ids[EMERGENCY_DEPARTMENT].values()):
        resources.append(patient_resource(population, local_id))
        resources.extend(attendance_resources(population, local_id))
    return resources
