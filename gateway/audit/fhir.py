"""The disclosure audit as HL7 FHIR R4 ``AuditEvent`` resources, for the agencies' systems.

Each disclosure record becomes an *Export* event and each lookup record a
*Query* event (JSON-ready dicts), optionally wrapped in a ``collection``
Bundle. Only what the audit holds is used: item names, clauses, bases and
reasons, never values. The output is deterministic for the same records and
settings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.audit.records import OWN_RECORD, DisclosureRecord, utc
from gateway.audit.reports import agency_name, plain_role, who_looked
from gateway.config.settings import Settings

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LOCAL_PURPOSE = "https://fame-gateway.invalid/purpose"
LOCAL_ROLE = "https://fame-gateway.invalid/role"
LOCAL_EVENT = "https://fame-gateway.invalid/audit-event"
PERSON_SYSTEM = "https://fame-gateway.invalid/person"
AGENCY_SYSTEM = "https://fame-gateway.invalid/agency"
PRACTITIONER_SYSTEM = "https://fame-gateway.invalid/practitioner/"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"

#: The gateway's purposes as HL7 v3 ActReason (purpose of use) codes, where one fits.
#: Safeguarding has none that fits, so it carries the local code only.
ACT_REASONS: Mapping[str, tuple[str, str]] = {
    "direct_care": ("TREAT", "treatment"),
    "emergency": ("ETREAT", "Emergency Treatment"),
    "care_planning": ("CAREMGT", "care management"),
    "audit": ("HOPERAT", "healthcare operations"),
}


def _instant(at: dt.datetime) -> str:
    return utc(at).isoformat().replace("+00:00", "Z")


def _purpose_text(settings: Settings, purpose: str) -> str:
    found = settings.protocol.purposes.get(purpose)
    return found.description if found is not None else purpose


def _purpose_of_event(record: DisclosureRecord, settings: Settings) -> list[dict[str, Any]]:
    codings: list[dict[str, Any]] = []
    if record.purpose in ACT_REASONS:
        code, display = ACT_REASONS[record.purpose]
        codings.append({"system": ACT_REASON, "code": code, "display": display})
    codings.append({"system": LOCAL_PURPOSE, "code": record.purpose})
    purposes = [
        {
            "coding": codings,
            "text": _purpose_text(settings, record.purpose),
        }
    ]
    if record.break_glass:
        purposes.append(
            {
                "coding": [{"system": ACT_CODE, "code": "BTG", "display": "break the glass"}],
                "text": f"Break-glass: {record.break_glass_reason or '(no reason recorded)'}",
            }
        )
    return purposes


def _agent(record: DisclosureRecord, settings: Settings) -> dict[str, Any]:
    agency = agency_name(settings, record.requester_agency)
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
        "role": [
            {
                "coding": [{"system": LOCAL_ROLE, "code": role}],
                "text": settings.protocol.roles.get(role, plain_role(role)),
            }
            for role in record.roles
        ],
        "who": {
            "identifier": {
                "system": f"{PRACTITIONER_SYSTEM}{record.requester_agency}",
                "value": record.practitioner,
                "assigner": {
                    "identifier": {"system": AGENCY_SYSTEM, "value": record.requester_agency},
                    "display": agency,
                },
            },
            "display": who_looked(record, settings),
        },
        "requestor": True,
        "purposeOfUse": _purpose_of_event(record, settings),
    }
    if record.practitioner_name:
        agent["name"] = record.practitioner_name
    return agent


def _detail(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "valueString": value}


def _entity(record: DisclosureRecord, agency: str, settings: Settings) -> dict[str, Any]:
    name = agency_name(settings, agency)
    shown = record.disclosed.get(agency, {})
    held = record.withheld.get(agency, {})
    lost = record.not_delivered.get(agency, {})
    details = [_detail("source-agency", agency), _detail("request-id", record.request_id)]
    if shown:
        details.append(_detail("disclosed-items", ", ".join(sorted(shown))))
        rules = sorted({f"{d.rule} ({d.basis})" for d in shown.values() if d.rule})
        if rules:
            details.append(_detail("sharing-rules", ", ".join(rules)))
        legal = sorted(
            item for item, d in shown.items() if d.basis == "statutory" and d.rule != OWN_RECORD
        )
        if legal:
            details.append(_detail("statutory-items", ", ".join(legal)))
    if held:
        details.append(
            _detail(
                "withheld-items",
                ", ".join(f"{item} ({w.reason})" for item, w in sorted(held.items())),
            )
        )
    if lost:
        details.append(_detail("not-delivered-items", ", ".join(sorted(lost))))
    if agency in record.outcomes:
        details.append(_detail("agency-outcome", record.outcomes[agency]))
    if record.break_glass:
        details.append(_detail("break-glass-grant", record.break_glass))
    if shown:
        description = f"Disclosed from {name}: {', '.join(sorted(shown))}"
    else:
        description = f"Nothing disclosed from {name}; {len(held) + len(lost)} item(s) not shown"
    entity: dict[str, Any] = {
        "what": {
            "identifier": {"system": PERSON_SYSTEM, "value": record.person_id},
        },
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        "name": f"Records held by {name}",
        "description": description,
        "detail": details,
    }
    if shown:
        entity["lifecycle"] = {"system": LIFECYCLE, "code": "disclose", "display": "Disclose"}
    return entity


def _person(record: DisclosureRecord, description: str) -> dict[str, Any]:
    return {
        "what": {"identifier": {"system": PERSON_SYSTEM, "value": record.person_id}},
        "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
        "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
        "description": description,
        "detail": [_detail("request-id", record.request_id)],
    }


def _source() -> dict[str, Any]:
    return {
        "observer": {"display": "FAME Gateway"},
        "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
    }


def fhir_lookup_event(record: DisclosureRecord, settings: Settings) -> dict[str, Any]:
    """One lookup record as a FHIR R4 ``AuditEvent``: a DICOM *Query* (110112) by the
    requesting practitioner, whose one entity is the person found. The index entry
    (name, date of birth, agencies involved) was shown; no agency's record was."""
    return {
        "resourceType": "AuditEvent",
        "id": f"fame-lookup-{record.seq}",
        "type": {"system": DCM, "code": "110112", "display": "Query"},
        "subtype": [
            {
                "system": LOCAL_EVENT,
                "code": "lookup",
                "display": "Person index look-up through the FAME Gateway",
            }
        ],
        "action": "E",
        "recorded": _instant(record.at),
        "outcome": "0",
        "outcomeDesc": "the person's index entry was shown; no record was disclosed",
        "purposeOfEvent": _purpose_of_event(record, settings),
        "agent": [_agent(record, settings)],
        "source": _source(),
        "entity": [_person(record, "Index entry shown: name, date of birth, agencies involved")],
    }


def fhir_audit_event(record: DisclosureRecord, settings: Settings) -> dict[str, Any]:
    """One disclosure record as a FHIR R4 ``AuditEvent`` resource (a JSON-ready dict);
    a lookup record becomes a query event (:func:`fhir_lookup_event`).

    The event is a DICOM *Export* (110106) read by the requesting practitioner
    (the agent, ``requestor``), observed by the gateway. There is one entity per
    agency the request touched for the person: its disclosed items (and
    clauses and bases), withheld items with reasons, and items its agency failed
    to deliver. Break-glass adds a v3 ``BTG`` purpose with the stated reason.
    """
    if record.lookup:
        return fhir_lookup_event(record, settings)
    agencies = sorted(set(record.disclosed) | set(record.withheld) | set(record.not_delivered))
    entities = [_entity(record, agency, settings) for agency in agencies]
    if not entities:
        entities = [_person(record, "Nothing was asked for or disclosed")]
    shown, held = record.disclosed_count, record.withheld_count
    return {
        "resourceType": "AuditEvent",
        "id": f"fame-disclosure-{record.seq}",
        "type": {"system": DCM, "code": "110106", "display": "Export"},
        "subtype": [
            {
                "system": LOCAL_EVENT,
                "code": "break-glass-disclosure" if record.break_glass else "disclosure",
                "display": "Disclosure under break-glass"
                if record.break_glass
                else "Disclosure through the FAME Gateway",
            }
        ],
        "action": "R",
        "recorded": _instant(record.at),
        "outcome": "0",
        "outcomeDesc": f"{shown} item(s) disclosed, {held} withheld",
        "purposeOfEvent": _purpose_of_event(record, settings),
        "agent": [_agent(record, settings)],
        "source": _source(),
        "entity": entities,
    }


def fhir_audit_events(
    records: Sequence[DisclosureRecord], settings: Settings
) -> list[dict[str, Any]]:
    """Every disclosure and lookup record as a FHIR R4 ``AuditEvent``, in audit order."""
    return [fhir_audit_event(record, settings) for record in sorted(records, key=lambda r: r.seq)]


def fhir_bundle(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The events as a FHIR R4 ``collection`` Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": event} for event in events],
    }
