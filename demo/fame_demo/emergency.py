"""The emergency department's records as its own system holds them: FHIR R4 resources.

For each person the department knows, a ``Patient`` (its medical record number as the
resource id and as an identifier beside the NHS number) carrying the department's care
team for them in a complex extension (``CARE_TEAM_EXTENSION``: team, clinician, role,
since, status), since R4's Patient has no element for it. For each attendance an
``Encounter``: emergency class, the kind of event as ``type`` (``attendance``, or
``admission`` when the department admitted the person), ``period.start``, the
presenting complaint as ``reasonCode``, the clinician as ``participant``, the outcome as
``hospitalization.dischargeDisposition`` and the timeline's summary of the attendance in
an extension (``EVENT_SUMMARY_EXTENSION``); and a ``Condition`` recording the presenting
complaint against that encounter.

What the department keeps to itself carries ``UNSHARED_MARKER`` and is mapped by no
agency file: the triage notes (the Encounter's narrative), the next of kin (Patient
``contact``) and the clinical note on the Condition. The demo's FHIR server
(:mod:`fame_demo.fhir_server`) serves these resources.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from connectors.fhir_auth import SmartAuth
from fame_demo.fhir_server import FhirServer
from fame_demo.fhir_synthetic import NHS_NUMBER_SYSTEM, patient_resource
from fame_demo.synthetic import EMERGENCY_DEPARTMENT, UNSHARED_MARKER, Population
from gateway.config.tokens import client_jwks_path
from gateway.core.registration import AgencyConfig

__all__ = [
    "CARE_TEAM_EXTENSION",
    "EVENT_SUMMARY_EXTENSION",
    "MRN_SYSTEM",
    "NHS_NUMBER_SYSTEM",
    "attendance_resources",
    "department_server",
    "fhir_resources",
    "patient_of",
    "register_gateway",
]

_BASE = "https://fhir.severn-valley-hospitals.demo.invalid"
#: The department's own identifier system for its medical record numbers (invented).
MRN_SYSTEM = f"{_BASE}/Id/mrn"
#: The department's extension on Patient: its care team for the person (invented).
CARE_TEAM_EXTENSION = f"{_BASE}/StructureDefinition/care-team"
#: The department's extension on Encounter: the attendance as its timeline tells it.
EVENT_SUMMARY_EXTENSION = f"{_BASE}/StructureDefinition/event-summary"
#: HL7 v3 ActCode for an emergency encounter.
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_XHTML = "http://www.w3.org/1999/xhtml"

Resource = dict[str, Any]


def patient_of(population: Population, local_id: str) -> Resource:
    """The department's ``Patient`` for the person it knows as ``local_id``."""
    (row,) = population.rows(EMERGENCY_DEPARTMENT, local_id, "demographics")
    born = row["date_of_birth"]
    assert isinstance(born, date)
    elements: dict[str, Any] = {
        "contact": [
            {
                "relationship": [{"text": "Next of kin"}],
                "name": {"text": f"{UNSHARED_MARKER} next of kin as given at triage"},
            }
        ]
    }
    care_team = [
        {
            "url": CARE_TEAM_EXTENSION,
            "extension": [
                {"url": "team", "valueString": involved["team"]},
                {"url": "clinician", "valueString": involved["worker"]},
                {"url": "role", "valueString": involved["role"]},
                {"url": "since", "valueDate": _iso(involved["since"])},
                {"url": "status", "valueCode": involved["status"]},
            ],
        }
        for involved in population.rows(EMERGENCY_DEPARTMENT, local_id, "involvement")
    ]
    if care_team:
        elements["extension"] = care_team
    return patient_resource(
        local_id,
        nhs_number=str(row["nhs_number"]),
        given_name=str(row["given_name"]),
        family_name=str(row["family_name"]),
        gender=str(row["gender"]),
        birth_date=born,
        address=str(row["address"]),
        postcode=str(row["postcode"]),
        phone=str(row["phone"]),
        identifiers=[{"system": MRN_SYSTEM, "value": local_id}],
        **elements,
    )


def attendance_resources(population: Population, local_id: str) -> list[Resource]:
    """An ``Encounter`` and a ``Condition`` per attendance of the person, oldest first."""
    resources: list[Resource] = []
    attendances = population.rows(EMERGENCY_DEPARTMENT, local_id, "ed_attendances")
    events = population.rows(EMERGENCY_DEPARTMENT, local_id, "timeline")
    # The department's system holds one Encounter per attendance, which is both the
    # attendance and its event on the timeline.
    assert len(events) == len(attendances), local_id
    for number, (row, event) in enumerate(zip(attendances, events, strict=True), start=1):
        arrived = row["arrived_on"]
        assert isinstance(arrived, date)
        assert (event["occurred_on"], event["practitioner"]) == (arrived, row["clinician"])
        encounter_id = f"{local_id}-att-{number}"
        triage = f"{UNSHARED_MARKER} triage: observations and history as given ({number})."
        resources.append(
            {
                "resourceType": "Encounter",
                "id": encounter_id,
                "text": {"status": "generated", "div": f'<div xmlns="{_XHTML}">{triage}</div>'},
                "extension": [{"url": EVENT_SUMMARY_EXTENSION, "valueString": event["summary"]}],
                "status": "finished" if arrived < population.as_of else "in-progress",
                "class": {"system": _ACT_CODE, "code": "EMER", "display": "emergency"},
                "type": [{"text": event["kind"]}],
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
                "note": [{"text": f"{UNSHARED_MARKER} clinical note ({number})"}],
            }
        )
    return resources


def fhir_resources(population: Population) -> list[Resource]:
    """Every resource the department holds: each patient, then their attendances."""
    resources: list[Resource] = []
    for local_id in sorted(population.local_ids[EMERGENCY_DEPARTMENT].values()):
        resources.append(patient_of(population, local_id))
        resources.extend(attendance_resources(population, local_id))
    return resources


def department_server(population: Population) -> FhirServer:
    """The department's FHIR server (not started), holding :func:`fhir_resources` and
    offering the types it holds."""
    return FhirServer(fhir_resources(population), offered=("Patient", "Encounter", "Condition"))


def register_gateway(server: FhirServer, agency: AgencyConfig) -> None:
    """Register the gateway with the department's server as the SMART backend client its
    agency file names, by the public key the demo generated beside the private one."""
    auth = getattr(agency.source, "auth", None)
    if not isinstance(auth, SmartAuth):
        raise ValueError(f"{agency.file} has no [source.auth] for the gateway to sign in with")
    server.register_client(auth.client_id, json.loads(client_jwks_path(auth).read_text()))


def _iso(value: object) -> str:
    assert isinstance(value, date)
    return value.isoformat()
