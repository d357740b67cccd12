"""Reports drawn from the disclosure audit: for the person, and for the agencies' systems.

Two readers, two forms:

* the **subject report** is a standalone HTML page written for the person
  themselves, in plain English: each time their record was looked at through the
  gateway, when, by whom (practitioner, agency, role), why, which kinds of
  information were shown, and whether emergency access or a legal duty was
  relied on;
* the **FHIR export** turns each disclosure record into an HL7 FHIR R4
  ``AuditEvent`` resource (as a JSON-ready dict), optionally wrapped in a
  ``collection`` Bundle, for the agencies' own security and health systems.

Both read only what the audit holds: item names, clauses, bases and reasons.
The audit never holds values, so neither report can show any. Both outputs are
deterministic for the same records and settings.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.catalogue import ITEMS, RECORD_SETS_BY_NAME, record_set_of
from gateway.settings import Settings
from gateway.state import disclosures

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class DisclosedItem:
    """An item shown to the requester: the clause (or ``"own record"``) and basis relied on."""

    rule: str | None
    basis: str | None


@dataclass(frozen=True)
class WithheldItem:
    """An item asked for but not shown, and why."""

    reason: str
    rule: str | None


@dataclass(frozen=True)
class DisclosureRecord:
    """One ``disclosure`` record of the audit: one person, one request.

    ``disclosed`` and ``withheld`` are per agency (agency id -> item -> detail);
    ``not_delivered`` lists items that were permitted but whose agency did not
    answer, so nothing of them reached the requester; ``outcomes`` is each
    agency's status for the request (``ok``, ``timeout``, ``not asked``, ...).
    ``statutory`` is true when some item was shared under a statutory clause;
    :func:`statutory_agencies` names whose.
    """

    seq: int
    at: dt.datetime
    request_id: str
    practitioner: str
    requester_agency: str
    requester_team: str | None
    roles: tuple[str, ...]
    purpose: str
    person_id: str
    disclosed: Mapping[str, Mapping[str, DisclosedItem]]
    withheld: Mapping[str, Mapping[str, WithheldItem]]
    not_delivered: Mapping[str, Mapping[str, DisclosedItem]]
    outcomes: Mapping[str, str]
    statutory: bool
    break_glass: str | None
    break_glass_reason: str | None

    @property
    def disclosed_count(self) -> int:
        """How many items were shown, over all agencies."""
        return sum(len(items) for items in self.disclosed.values())

    @property
    def withheld_count(self) -> int:
        """How many items were asked for and withheld, over all agencies."""
        return sum(len(items) for items in self.withheld.values())


def _utc(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _disclosed(raw: Any) -> dict[str, DisclosedItem]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(item): DisclosedItem(
            rule=detail.get("rule") if isinstance(detail, dict) else None,
            basis=detail.get("basis") if isinstance(detail, dict) else None,
        )
        for item, detail in sorted(raw.items())
    }


def _withheld(raw: Any) -> dict[str, WithheldItem]:
    if not isinstance(raw, dict):
        return {}
    return {
        str(item): WithheldItem(
            reason=str(detail.get("reason", "")) if isinstance(detail, dict) else "",
            rule=detail.get("rule") if isinstance(detail, dict) else None,
        )
        for item, detail in sorted(raw.items())
    }


def _record(row: Mapping[str, Any]) -> DisclosureRecord:
    agencies = json.loads(row["agencies"] or "{}")
    disclosed: dict[str, dict[str, DisclosedItem]] = {}
    withheld: dict[str, dict[str, WithheldItem]] = {}
    not_delivered: dict[str, dict[str, DisclosedItem]] = {}
    outcomes: dict[str, str] = {}
    for agency, entry in sorted(agencies.items()):
        if not isinstance(entry, dict):
            continue
        outcomes[agency] = str(entry.get("outcome", ""))
        if shown := _disclosed(entry.get("disclosed")):
            disclosed[agency] = shown
        if held := _withheld(entry.get("withheld")):
            withheld[agency] = held
        if lost := _disclosed(entry.get("not_delivered")):
            not_delivered[agency] = lost
    roles = tuple(sorted(role for role in str(row["roles"] or "").split(",") if role))
    return DisclosureRecord(
        seq=int(row["seq"]),
        at=_utc(dt.datetime.fromisoformat(str(row["at"]))),
        request_id=str(row["request_id"]),
        practitioner=str(row["practitioner"]),
        requester_agency=str(row["requester_agency"]),
        requester_team=row["requester_team"],
        roles=roles,
        purpose=str(row["purpose"]),
        person_id=str(row["person_id"]),
        disclosed=disclosed,
        withheld=withheld,
        not_delivered=not_delivered,
        outcomes=outcomes,
        statutory=bool(row["statutory"]),
        break_glass=row["break_glass"],
        break_glass_reason=row["break_glass_reason"],
    )


async def disclosure_records(
    engine: AsyncEngine,
    *,
    person_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[DisclosureRecord]:
    """The audit's disclosure records, oldest first, optionally for one person and a period.

    ``since`` is inclusive and ``until`` exclusive; naive datetimes are taken as UTC.
    ``intent`` records are not disclosures and are left out.
    """
    query = select(disclosures).where(disclosures.c.kind == "disclosure")
    if person_id is not None:
        query = query.where(disclosures.c.person_id == person_id)
    start = _utc(since) if since is not None else None
    end = _utc(until) if until is not None else None
    records: list[DisclosureRecord] = []
    async with engine.connect() as conn:
        result = await conn.execute(query.order_by(disclosures.c.seq))
        for row in result.mappings():
            record = _record(dict(row))
            if start is not None and record.at < start:
                continue
            if end is not None and record.at >= end:
                continue
            records.append(record)
    return records


# --------------------------------------------------------------------------- plain words

#: The rule the policy names when an agency's own practitioner reads its own record.
OWN_RECORD = "own record"

#: Why someone looked, as the person would say it.
PLAIN_PURPOSES: Mapping[str, str] = {
    "direct_care": "to give you care or support",
    "safeguarding": "to protect you from abuse or neglect (a safeguarding enquiry)",
    "emergency": "in an emergency, because of an urgent risk to your life or health",
    "care_planning": "to assess your needs and plan your care and support",
    "audit": "to check who has looked at your records (an information governance check)",
}

#: Practitioners' roles, as the person would say them.
PLAIN_ROLES: Mapping[str, str] = {
    "gp": "GP (family doctor)",
    "nurse": "nurse",
    "social_worker": "social worker",
    "occupational_therapist": "occupational therapist",
    "housing_officer": "housing officer",
    "caldicott_guardian": "Caldicott Guardian (responsible for keeping records confidential)",
    "ig_lead": "information governance lead",
}

#: Record sets, as the person would name them.
PLAIN_RECORD_SETS: Mapping[str, str] = {
    "demographics": "Details of who you are and how to contact you",
    "involvement": "Which teams and workers are involved with you",
    "alerts": "Warnings about risks to you or to staff visiting you",
    "assessments": "Assessments of your needs",
    "timeline": "Contacts, visits and other events in your records",
    "gp_registration": "Your registration with a GP practice",
    "conditions": "Health problems and diagnoses",
    "medications": "Medicines",
    "allergies": "Allergies",
    "community_episodes": "Community health care, such as district nursing",
    "social_care_cases": "Your adult social care case",
    "care_packages": "Care and support services arranged for you",
    "tenancies": "Your tenancy",
    "adaptations": "Adaptations to your home",
    "enrolments": "School enrolment",
    "special_needs": "Special educational needs support",
}

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def plain_time(at: dt.datetime) -> str:
    """``at`` in UTC as people write it, whatever the locale: ``Tuesday 5 May 2026, 14:03 UTC``."""
    at = _utc(at)
    return (
        f"{_DAYS[at.weekday()]} {at.day} {_MONTHS[at.month - 1]} {at.year}, "
        f"{at.hour:02d}:{at.minute:02d} UTC"
    )


def plain_purpose(purpose: str) -> str:
    """Why the record was looked at, in plain words."""
    return PLAIN_PURPOSES.get(purpose, purpose.replace("_", " "))


def plain_role(role: str) -> str:
    """A practitioner's role, in plain words."""
    return PLAIN_ROLES.get(role, role.replace("_", " "))


def _agency_name(settings: Settings, agency_id: str) -> str:
    try:
        return settings.agency(agency_id).name
    except KeyError:  # no longer registered: its id is all there is
        return agency_id


def _phrase(description: str) -> str:
    """A catalogue description as a phrase: no examples, no full stop, lower-case start."""
    text = description.split(", e.g.")[0].split(" e.g.")[0].split(", ...")[0]
    text = text.strip().rstrip(".").strip()
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


_CATALOGUE_ORDER: Mapping[str, int] = {name: n for n, name in enumerate(ITEMS)}
_RECORD_SET_ORDER: Mapping[str, int] = {name: n for n, name in enumerate(RECORD_SETS_BY_NAME)}


def _kinds_of_information(items: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Items grouped by record set, in catalogue order: (plain record set name, item phrases)."""
    groups: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda name: (_CATALOGUE_ORDER.get(name, len(ITEMS)), name)):
        groups.setdefault(record_set_of(item), []).append(item)
    kinds = []
    for record_set in sorted(
        groups, key=lambda name: (_RECORD_SET_ORDER.get(name, len(RECORD_SETS_BY_NAME)), name)
    ):
        spec = RECORD_SETS_BY_NAME.get(record_set)
        title = PLAIN_RECORD_SETS.get(record_set, _phrase(spec.description) if spec else record_set)
        phrases = [
            _phrase(ITEMS[name].description) if name in ITEMS else name
            for name in groups[record_set]
        ]
        kinds.append((title, phrases))
    return kinds


def statutory_agencies(record: DisclosureRecord) -> list[str]:
    """Agencies whose items reached another agency's practitioner under a legal duty.

    An agency's own practitioner reading its own record (rule ``"own record"``) is not
    sharing, whatever basis the clause for those items names.
    """
    return sorted(
        agency
        for agency, items in record.disclosed.items()
        if any(d.basis == "statutory" and d.rule != OWN_RECORD for d in items.values())
    )


def _who(record: DisclosureRecord, settings: Settings) -> str:
    """``sw-patel, social worker, Older Adults North team, Shire Council Adult Social Care``."""
    agency = _agency_name(settings, record.requester_agency)
    parts = [record.practitioner]
    if record.roles:
        parts.append(" and ".join(plain_role(role) for role in record.roles))
    team = record.requester_team
    if team and team not in {record.requester_agency, agency}:
        parts.append(f"{team} team")
    parts.append(agency)
    return ", ".join(parts)


# --------------------------------------------------------------------------- subject report

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.5; color: #1b1b1b; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
section.occasion { border: 1px solid #c8c8c8; border-radius: 6px; padding: 0.5rem 1rem;
                   margin: 1rem 0; }
section.occasion h3 { font-size: 1.05rem; margin: 0.5rem 0; }
dl { margin: 0; } dt { font-weight: bold; margin-top: 0.5rem; } dd { margin-left: 1rem; }
.emergency, .legal { border-left: 4px solid #b35c00; padding-left: 0.5rem; }
.note { color: #444; font-size: 0.95rem; }
"""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _occasion_html(number: int, record: DisclosureRecord, settings: Settings) -> list[str]:
    out = [
        f'<section class="occasion" id="occasion-{record.seq}">',
        f"<h3>{number}. {_e(plain_time(record.at))}</h3>",
        "<dl>",
        "<dt>Who looked</dt>",
        f"<dd>{_e(_who(record, settings))}</dd>",
        "<dt>Why</dt>",
        f"<dd>{_e(_sentence(plain_purpose(record.purpose)))}</dd>",
        "<dt>What they were shown</dt>",
        "<dd>",
    ]
    for agency, items in sorted(record.disclosed.items()):
        out.append(f"<p>From <strong>{_e(_agency_name(settings, agency))}</strong>:</p>")
        out.append("<ul>")
        for title, phrases in _kinds_of_information(list(items)):
            out.append(f"<li>{_e(title)}: {_e('; '.join(phrases))}</li>")
        out.append("</ul>")
    out.append("</dd>")
    if record.break_glass:
        reason = record.break_glass_reason or "(no reason recorded)"
        out += [
            "<dt>Emergency access</dt>",
            '<dd class="emergency">Emergency access ("break-glass") was used to see your '
            "records. The reason they gave was: "
            f"<q>{_e(reason)}</q></dd>",
        ]
    if legal := statutory_agencies(record):
        names = ", ".join(_agency_name(settings, agency) for agency in legal)
        out += [
            "<dt>Legal duty</dt>",
            f'<dd class="legal">Information from {_e(names)} was shared under a legal duty '
            "(for example the Care Act 2014 duty to make safeguarding enquiries), which "
            "applies whether or not you agreed.</dd>",
        ]
    if record.withheld_count:
        count = record.withheld_count
        out += [
            "<dt>Not shown</dt>",
            f"<dd>{count} other piece{'s' if count != 1 else ''} of information "
            f"{'were' if count != 1 else 'was'} asked for but not shown, because the sharing "
            "rules, your wishes or their relationship with you did not allow it.</dd>",
        ]
    out += ["</dl>", "</section>"]
    return out


def subject_report_html(
    person_label: str, records: Sequence[DisclosureRecord], settings: Settings
) -> str:
    """A standalone HTML page telling the person who has seen their records, when and why.

    ``records`` are the person's disclosure records (see :func:`disclosure_records`).
    Occasions on which something was shown are listed one by one, oldest first;
    occasions on which nothing was shown are summarised at the end. All text is
    HTML-escaped; the page holds no values of the records, only kinds of information.
    """
    ordered = sorted(records, key=lambda r: (r.at, r.seq))
    shown = [r for r in ordered if r.disclosed_count]
    nothing = [r for r in ordered if not r.disclosed_count]
    agencies = sorted({_agency_name(settings, r.requester_agency) for r in shown})
    title = f"Who has seen your records: {person_label}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{_e(title)}</h1>",
        "<p>Health, social care and housing services in your area share some of the "
        "information they hold about you, so that the people helping you know what they "
        "need to. Every time someone looks at your records through the FAME Gateway it is "
        "written down. This report is made from that record.</p>",
        '<p class="note">It tells you who looked, when, why, and which kinds of information '
        "they were shown. It does not repeat the information itself.</p>",
        "<h2>Summary</h2>",
    ]
    if shown:
        out.append(
            f"<p>Your records were looked at and information shown on {len(shown)} "
            f"occasion{'s' if len(shown) != 1 else ''}, by staff of: "
            f"{_e(', '.join(agencies))}.</p>"
        )
    else:
        out.append("<p>No information about you has been shown to anyone in this period.</p>")
    emergencies = sum(1 for r in shown if r.break_glass)
    if emergencies:
        out.append(
            f"<p>Emergency access was used on {emergencies} "
            f"occasion{'s' if emergencies != 1 else ''}.</p>"
        )
    if shown:
        out.append("<h2>Each time your records were looked at</h2>")
        for number, record in enumerate(shown, start=1):
            out += _occasion_html(number, record, settings)
    if nothing:
        out += [
            "<h2>Times nothing was shown</h2>",
            f"<p>On {len(nothing)} other occasion{'s' if len(nothing) != 1 else ''} "
            "someone asked about you but was shown nothing, because the sharing rules, your "
            "wishes or their relationship with you did not allow it:</p>",
            "<ul>",
        ]
        for record in nothing:
            out.append(
                f"<li>{_e(plain_time(record.at))}: {_e(_who(record, settings))}, "
                f"{_e(plain_purpose(record.purpose))}</li>"
            )
        out.append("</ul>")
    out += [
        "<h2>Questions</h2>",
        "<p>If something here looks wrong, or you want to know more, contact any of the "
        "services named above and ask for their data protection officer. You can also ask "
        "them to change what you have agreed they may share.</p>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- FHIR R4

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
    return _utc(at).isoformat().replace("+00:00", "Z")


def _purpose_of_event(record: DisclosureRecord, settings: Settings) -> list[dict[str, Any]]:
    codings: list[dict[str, Any]] = []
    if record.purpose in ACT_REASONS:
        code, display = ACT_REASONS[record.purpose]
        codings.append({"system": ACT_REASON, "code": code, "display": display})
    codings.append({"system": LOCAL_PURPOSE, "code": record.purpose})
    purposes = [
        {
            "coding": codings,
            "text": settings.protocol.purposes.get(record.purpose, record.purpose),
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
    agency = _agency_name(settings, record.requester_agency)
    display = record.practitioner
    if record.requester_team and record.requester_team != record.requester_agency:
        display += f" ({record.requester_team}, {agency})"
    else:
        display += f" ({agency})"
    return {
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
            "display": display,
        },
        "requestor": True,
        "purposeOfUse": _purpose_of_event(record, settings),
    }


def _detail(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "valueString": value}


def _entity(record: DisclosureRecord, agency: str, settings: Settings) -> dict[str, Any]:
    name = _agency_name(settings, agency)
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


def fhir_audit_event(record: DisclosureRecord, settings: Settings) -> dict[str, Any]:
    """One disclosure record as a FHIR R4 ``AuditEvent`` resource (a JSON-ready dict).

    The event is a DICOM *Export* (110106) read by the requesting practitioner
    (the agent, ``requestor``), observed by the gateway. There is one entity per
    agency the request touched for the person: its disclosed items (and
    clauses and bases), withheld items with reasons, and items its agency failed
    to deliver. Break-glass adds a v3 ``BTG`` purpose with the stated reason.
    """
    agencies = sorted(set(record.disclosed) | set(record.withheld) | set(record.not_delivered))
    entities = [_entity(record, agency, settings) for agency in agencies]
    if not entities:
        entities = [
            {
                "what": {"identifier": {"system": PERSON_SYSTEM, "value": record.person_id}},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
                "description": "Nothing was asked for or disclosed",
                "detail": [_detail("request-id", record.request_id)],
            }
        ]
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
        "source": {
            "observer": {"display": "FAME Gateway"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    }


def fhir_audit_events(
    records: Sequence[DisclosureRecord], settings: Settings
) -> list[dict[str, Any]]:
    """Every disclosure record as a FHIR R4 ``AuditEvent``, in audit order."""
    return [fhir_audit_event(record, settings) for record in sorted(records, key=lambda r: r.seq)]


def fhir_bundle(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The events as a FHIR R4 ``collection`` Bundle."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": event} for event in events],
    }
