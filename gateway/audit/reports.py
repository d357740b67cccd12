"""The person's own report from the disclosure audit, in plain words (HTML).

A standalone page written for the person themselves: each time their record
was looked at through the gateway, when, by whom (name, role, team, agency),
why, which kinds of information were shown, and whether emergency access or a
legal duty was relied on; and each time someone looked them up in the person
index. It reads only what the audit holds: item names, clauses, bases and
reasons, never values. The output is deterministic for the same records and
settings.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping, Sequence

from gateway.audit.records import DisclosureRecord, statutory_agencies, utc
from gateway.config.settings import Settings
from gateway.core.catalogue import Catalogue, record_set_of

# --------------------------------------------------------------------------- plain words

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
    at = utc(at)
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


def agency_name(settings: Settings, agency_id: str) -> str:
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


def _kinds_of_information(
    items: Sequence[str], catalogue: Catalogue
) -> list[tuple[str, list[str]]]:
    """Items grouped by record set, in catalogue order: (plain record set name, item phrases).

    Items the catalogue no longer has (the audit outlives catalogue changes) come last,
    under their own names."""
    item_order = {name: n for n, name in enumerate(catalogue.items)}
    set_order = {name: n for n, name in enumerate(catalogue.record_sets_by_name)}
    groups: dict[str, list[str]] = {}
    for item in sorted(items, key=lambda name: (item_order.get(name, len(item_order)), name)):
        groups.setdefault(record_set_of(item), []).append(item)
    kinds = []
    for record_set in sorted(groups, key=lambda name: (set_order.get(name, len(set_order)), name)):
        spec = catalogue.record_sets_by_name.get(record_set)
        title = PLAIN_RECORD_SETS.get(record_set, _phrase(spec.description) if spec else record_set)
        phrases = [
            _phrase(catalogue.items[name].description) if name in catalogue.items else name
            for name in groups[record_set]
        ]
        kinds.append((title, phrases))
    return kinds


def who_looked(record: DisclosureRecord, settings: Settings) -> str:
    """``Priya Patel, social worker, Older People's Team (North) team, Shire Council
    Adult Social Care``: the practitioner's name, or their login id only when the token
    gave no name."""
    agency = agency_name(settings, record.requester_agency)
    parts = [record.practitioner_name or record.practitioner]
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
        f"<dd>{_e(who_looked(record, settings))}</dd>",
        "<dt>Why</dt>",
        f"<dd>{_e(_sentence(plain_purpose(record.purpose)))}</dd>",
        "<dt>What they were shown</dt>",
        "<dd>",
    ]
    for agency, items in sorted(record.disclosed.items()):
        out.append(f"<p>From <strong>{_e(agency_name(settings, agency))}</strong>:</p>")
        out.append("<ul>")
        for title, phrases in _kinds_of_information(list(items), settings.catalogue):
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
        names = ", ".join(agency_name(settings, agency) for agency in legal)
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

    ``records`` are the person's disclosure and lookup records (see
    :func:`gateway.audit.records.disclosure_records`). Occasions on which something
    was shown are listed one by one, oldest first; occasions on which nothing was
    shown, and look-ups in the person index, are listed after them. All text is
    HTML-escaped; the page holds no values of the records, only kinds of information.
    """
    ordered = sorted(records, key=lambda r: (r.at, r.seq))
    lookups = [r for r in ordered if r.lookup]
    shown = [r for r in ordered if not r.lookup and r.disclosed_count]
    nothing = [r for r in ordered if not r.lookup and not r.disclosed_count]
    agencies = sorted({agency_name(settings, r.requester_agency) for r in shown})
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
    if lookups:
        out.append(
            f"<p>Someone looked you up in the index of people the services know on "
            f"{len(lookups)} occasion{'s' if len(lookups) != 1 else ''}.</p>"
        )
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
                f"<li>{_e(plain_time(record.at))}: {_e(who_looked(record, settings))}, "
                f"{_e(plain_purpose(record.purpose))}</li>"
            )
        out.append("</ul>")
    if lookups:
        out += [
            "<h2>Times someone looked you up in the index</h2>",
            "<p>The index lets staff find the right person by NHS number, or by surname, date "
            "of birth and postcode together. It shows your name, your date of birth and which "
            "services know you, nothing from your records:</p>",
            "<ul>",
        ]
        for record in lookups:
            out.append(
                f"<li>{_e(plain_time(record.at))}: {_e(who_looked(record, settings))} "
                f"looked you up in the index, {_e(plain_purpose(record.purpose))}</li>"
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
