"""Synthetic FHIR R4 resources: the ``Patient`` builder every demo FHIR server's records
share (:func:`patient_resource`; the emergency department's in :mod:`fame_demo.emergency`
use it), and for the connector's tests, a community trust's records of some of the demo
population: a Patient each, with Encounters, Conditions, Observations, a CarePlan and an
EpisodeOfCare.

Everything is invented and deterministic (seeded by the NHS number). Each resource
also carries a narrative-like element holding ``UNSHARED_MARKER`` that no agency file
maps, so a test can show it never leaves the server.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from fame_demo.synthetic import UNSHARED_MARKER, SyntheticPerson

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
#: A second coding system on conditions, so that paths must pick SNOMED with where().
READ_V2 = "http://read.info/readv2"

_CONDITIONS = (
    ("44054006", "Type 2 diabetes mellitus", "C10F."),
    ("38341003", "Hypertensive disorder", "G20.."),
    ("13645005", "Chronic obstructive lung disease", "H3..."),
    ("195967001", "Asthma", "H33.."),
    ("49436004", "Atrial fibrillation", "G573."),
    ("35489007", "Depressive disorder", "E2B.."),
)
_ENCOUNTERS = ("Home visit", "Clinic appointment", "Telephone review", "Wound care visit")
_CLINICIANS = ("Nurse Jo Okafor", "Dr Sam Reilly", "Physio Ana Lim", "Nurse Tom Hale")
_ASSESSMENTS = ("Falls risk assessment", "Pressure ulcer risk assessment", "Frailty score")
_RISKS = ("Low risk", "Moderate risk", "High risk")
_PLANS = ("Falls prevention plan", "Diabetes care plan", "Respiratory self-management plan")
_SERVICES = ("District nursing", "Community therapy", "Heart failure service")


def patient_id(person: SyntheticPerson) -> str:
    """The server's own id for a person's Patient (not the NHS number, on purpose)."""
    return "pt-" + format(int(person.nhs_number) * 7919 % 10**8, "08d")


def fhir_resources(
    people: Sequence[SyntheticPerson], *, as_of: date = date(2026, 6, 1)
) -> list[dict[str, Any]]:
    """Valid R4 resources for ``people``: the Patient first, then what the trust holds."""
    resources: list[dict[str, Any]] = []
    for person in people:
        rng = random.Random(person.nhs_number)
        pid = patient_id(person)
        subject = {"reference": f"Patient/{pid}"}
        resources.append(_patient(person, pid))

        def day(low: int, high: int, rng: random.Random = rng) -> str:
            return (as_of - timedelta(days=rng.randint(low, high))).isoformat()

        for n in range(rng.randint(3, 5)):
            start = day(1, 400)
            resources.append(
                {
                    "resourceType": "Encounter",
                    "id": f"{pid}-enc-{n}",
                    "status": "finished",
                    "class": {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                        "code": "HH",
                        "display": "home health",
                    },
                    "type": [{"text": rng.choice(_ENCOUNTERS)}],
                    "subject": subject,
                    "participant": [{"individual": {"display": rng.choice(_CLINICIANS)}}],
                    "period": {
                        "start": f"{start}T10:00:00+00:00",
                        "end": f"{start}T10:45:00+00:00",
                    },
                    "reasonCode": [{"text": f"{UNSHARED_MARKER} reason for {person.given_name}"}],
                }
            )
        for n, (code, name, read) in enumerate(rng.sample(_CONDITIONS, rng.randint(1, 3))):
            resources.append(
                {
                    "resourceType": "Condition",
                    "id": f"{pid}-cond-{n}",
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "condition-clinical",
                                "code": rng.choice(("active", "active", "resolved")),
                            }
                        ]
                    },
                    "code": {
                        "coding": [
                            {"system": READ_V2, "code": read},
                            {"system": SNOMED, "code": code, "display": name},
                        ],
                        "text": name,
                    },
                    "subject": subject,
                    "onsetDateTime": day(400, 4000),
                    "recordedDate": day(1, 400),
                    "note": [{"text": f"{UNSHARED_MARKER} clinical note"}],
                }
            )
        for n in range(rng.randint(1, 3)):
            resources.append(
                {
                    "resourceType": "Observation",
                    "id": f"{pid}-obs-{n}",
                    "status": "final",
                    "code": {"text": rng.choice(_ASSESSMENTS)},
                    "subject": subject,
                    "effectiveDateTime": f"{day(1, 300)}T09:00:00+00:00",
                    "performer": [{"display": rng.choice(_CLINICIANS)}],
                    "valueCodeableConcept": {"text": rng.choice(_RISKS)},
                    "note": [{"text": f"{UNSHARED_MARKER} observation note"}],
                }
            )
        resources.append(
            {
                "resourceType": "CarePlan",
                "id": f"{pid}-plan",
                "status": "active",
                "intent": "plan",
                "title": rng.choice(_PLANS),
                "description": f"{UNSHARED_MARKER} plan detail",
                "subject": subject,
                "period": {"start": day(30, 300)},
                "author": {"display": rng.choice(_CLINICIANS)},
            }
        )
        resources.append(
            {
                "resourceType": "EpisodeOfCare",
                "id": f"{pid}-episode",
                "status": "active",
                "type": [{"text": rng.choice(_SERVICES)}],
                "patient": subject,
                "period": {"start": day(100, 900)},
                "careManager": {"display": rng.choice(_CLINICIANS)},
            }
        )
    return resources


def patient_resource(
    pid: str,
    *,
    nhs_number: str,
    given_name: str,
    family_name: str,
    gender: str,
    birth_date: date,
    address: str,
    postcode: str,
    phone: str,
    identifiers: Sequence[dict[str, str]] = (),
    **elements: Any,
) -> dict[str, Any]:
    """A ``Patient`` as the demo's FHIR servers hold one: the NHS number under the NHS's
    identifier system (then any of the server's own ``identifiers``), the official name,
    home address and phone; ``elements`` adds further top-level elements."""
    given, *middle = given_name.split()
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": NHS_NUMBER_SYSTEM, "value": nhs_number}, *identifiers],
        "name": [{"use": "official", "family": family_name, "given": [given, *middle]}],
        "telecom": [{"system": "phone", "value": phone, "use": "home"}],
        "gender": gender,
        "birthDate": birth_date.isoformat(),
        "address": [{"use": "home", "text": address, "postalCode": postcode}],
        **elements,
    }


def _patient(person: SyntheticPerson, pid: str) -> dict[str, Any]:
    return patient_resource(
        pid,
        nhs_number=person.nhs_number,
        given_name=person.given_name,
        family_name=person.family_name,
        gender=person.gender,
        birth_date=person.date_of_birth,
        address=person.address,
        postcode=person.postcode,
        phone=person.phone,
        generalPractitioner=[{"display": "Oakfield Surgery"}],
        maritalStatus={"text": f"{UNSHARED_MARKER} marital status"},
    )
