"""The benchmark's world: four synthetic agencies, their schemas, their people, the queries.

Everything is invented and deterministic. The caseload's people are known to all four
agencies, so a caseload of N people touches every agency for every person; a few more
people ("peer people") are known only to the two HTTP agencies, for the workload that
compares the gateway with the gateways people would pick instead. Two agencies keep
their records in SQL databases with several tables each (as the demo's legacy systems
do); two answer over their own REST APIs, which speak their own JSON and project the
fields asked for.

The variants (gateway, lower bound, naive, the peers) and the sources all read this module, and
the ``World`` file written by the run tells the server processes where everything is.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GP = "bench-gp"
SOCIAL_CARE = "bench-social-care"
COMMUNITY = "bench-community-health"
HOUSING = "bench-housing"

#: Where the requesters work: a social worker's caseload is the adult social care's people.
REQUESTER_AGENCY = SOCIAL_CARE
#: Practitioners of the requesting agency (W3 asks as the second one to prove a miss).
REQUESTERS: tuple[tuple[str, str], ...] = (
    ("bench-sw-1", "Alex Social Worker (synthetic)"),
    ("bench-sw-2", "Sam Social Worker (synthetic)"),
)
REQUESTER_ROLES = ("social_worker",)
#: Who asks about the peer people: a district nurse of the community health trust, which
#: holds them (the social care practitioners have no relationship with them).
PEER_REQUESTER_AGENCY = COMMUNITY
PEER_REQUESTER: tuple[str, str] = ("bench-dn-1", "Dana District Nurse (synthetic)")
PEER_REQUESTER_ROLES = ("nurse",)
#: The agencies that hold the peer people: the two HTTP agencies.
PEER_AGENCIES = (COMMUNITY, HOUSING)

_NAMESPACE = uuid.UUID("0b5e1c2a-9a7d-4f0e-8d7b-5b3e2c1a0f00")
REFERENCE_DATE = dt.date(2026, 6, 1)


@dataclass(frozen=True)
class Column:
    """A column of an agency table: its name, SQL type and the catalogue item it holds.

    ``item`` is None for the key, the surrogate row id and the agency's private columns.
    """

    name: str
    sql_type: str
    item: str | None = None


@dataclass(frozen=True)
class Table:
    """A table an SQL agency exposes (as a view over its data), keyed by its local id."""

    name: str
    key: str
    record_set: str
    many: bool
    columns: tuple[Column, ...]
    #: The surrogate row id of a many-row table (its primary key).
    row_id: str | None = None
    #: The column rows of one person are ordered by (distinct per person).
    order_by: str | None = None

    @property
    def mapped(self) -> tuple[Column, ...]:
        """The columns that hold catalogue items."""
        return tuple(c for c in self.columns if c.item is not None)


@dataclass(frozen=True)
class JsonList:
    """A list (or single object) in an HTTP agency's person document."""

    key: str
    record_set: str
    many: bool
    #: (json field, catalogue item or None for the agency's private fields)
    fields: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Agency:
    """One synthetic agency: who it is, how it answers, how slowly."""

    id: str
    name: str
    kind: str  # "sql" or "http"
    latency: float  # seconds added to every call the source receives
    backend: str = ""  # "postgresql" or "mariadb" for sql agencies
    tables: tuple[Table, ...] = ()
    documents: tuple[JsonList, ...] = ()
    path: str = ""
    results_key: str = "results"
    id_field: str = "id"
    demographics_rank: int | None = None

    @property
    def items(self) -> dict[str, str]:
        """Catalogue item -> the agency's own name for it (``table.column`` or JSON path)."""
        mapped: dict[str, str] = {}
        for table in self.tables:
            for col in table.mapped:
                assert col.item is not None
                mapped[col.item] = f"{table.name}.{col.name}"
        for doc in self.documents:
            for field, item in doc.fields:
                if item is not None:
                    mapped[item] = f"{doc.key}[].{field}" if doc.many else f"{doc.key}.{field}"
        return mapped

    @property
    def http_fields(self) -> str:
        """The ``fields`` parameter asking an HTTP agency for every item it maps."""
        return ",".join(sorted(self.items.values()))


def _cols(*spec: tuple[str, str, str | None]) -> tuple[Column, ...]:
    return tuple(Column(name, sql_type, item) for name, sql_type, item in spec)


_ID, _NAME, _SHORT, _LINE, _TEXT = (
    "VARCHAR(16)",
    "VARCHAR(80)",
    "VARCHAR(40)",
    "VARCHAR(200)",
    "TEXT",
)

AGENCIES: tuple[Agency, ...] = (
    Agency(
        id=GP,
        name="Bench General Practice",
        kind="sql",
        backend="postgresql",
        latency=0.030,
        demographics_rank=1,
        tables=(
            Table(
                "patients",
                "patient_id",
                "demographics",
                False,
                _cols(
                    ("patient_id", _ID, None),
                    ("nhs_no", "VARCHAR(10)", "demographics.nhs_number"),
                    ("forename", _NAME, "demographics.given_name"),
                    ("surname", _NAME, "demographics.family_name"),
                    ("dob", "DATE", "demographics.date_of_birth"),
                    ("sex", "VARCHAR(10)", "demographics.gender"),
                    ("addr_line", _LINE, "demographics.address"),
                    ("post_code", "VARCHAR(10)", "demographics.postcode"),
                    ("tel", "VARCHAR(20)", "demographics.phone"),
                    ("practice_name", _NAME, "gp_registration.practice"),
                    ("usual_gp", _NAME, "gp_registration.usual_gp"),
                    ("registered_date", "DATE", "gp_registration.registered_on"),
                    ("internal_notes", _TEXT, None),
                ),
            ),
            Table(
                "care_team",
                "patient_id",
                "involvement",
                False,
                _cols(
                    ("patient_id", _ID, None),
                    ("team_name", _NAME, "involvement.team"),
                    ("clinician", _NAME, "involvement.worker"),
                    ("clinician_role", _NAME, "involvement.role"),
                    ("joined_date", "DATE", "involvement.since"),
                    ("team_status", _SHORT, "involvement.status"),
                ),
            ),
            Table(
                "gp_alerts",
                "patient_id",
                "alerts",
                True,
                _cols(
                    ("alert_id", "INTEGER", None),
                    ("patient_id", _ID, None),
                    ("alert_type", _SHORT, "alerts.category"),
                    ("priority", _SHORT, "alerts.severity"),
                    ("alert_date", "DATE", "alerts.raised_on"),
                    ("alert_text", _LINE, "alerts.summary"),
                ),
                row_id="alert_id",
                order_by="alert_date",
            ),
            Table(
                "repeat_meds",
                "patient_id",
                "medications",
                True,
                _cols(
                    ("med_id", "INTEGER", None),
                    ("patient_id", _ID, None),
                    ("drug", _LINE, "medications.name"),
                    ("dosage", _LINE, "medications.dose"),
                    ("first_issued", "DATE", "medications.started_on"),
                ),
                row_id="med_id",
                order_by="first_issued",
            ),
        ),
    ),
    Agency(
        id=SOCIAL_CARE,
        name="Bench Adult Social Care",
        kind="sql",
        backend="mariadb",
        latency=0.010,
        tables=(
            Table(
                "clients",
                "client_ref",
                "social_care_cases",
                False,
                _cols(
                    ("client_ref", _ID, None),
                    ("case_status", _SHORT, "social_care_cases.status"),
                    ("primary_support_reason", _NAME, "social_care_cases.primary_need"),
                    ("care_act_eligible", "INTEGER", "social_care_cases.eligible"),
                    ("next_review", "DATE", "social_care_cases.review_due"),
                    ("safeguarding_notes", _TEXT, None),
                ),
            ),
            Table(
                "allocations",
                "client_ref",
                "involvement",
                False,
                _cols(
                    ("client_ref", _ID, None),
                    ("team", _NAME, "involvement.team"),
                    ("worker_name", _NAME, "involvement.worker"),
                    ("worker_role", _NAME, "involvement.role"),
                    ("allocated_on", "DATE", "involvement.since"),
                    ("alloc_status", _SHORT, "involvement.status"),
                ),
            ),
            Table(
                "risk_warnings",
                "client_ref",
                "alerts",
                True,
                _cols(
                    ("warning_id", "INTEGER", None),
                    ("client_ref", _ID, None),
                    ("warning_type", _SHORT, "alerts.category"),
                    ("risk_level", _SHORT, "alerts.severity"),
                    ("date_raised", "DATE", "alerts.raised_on"),
                    ("warning_text", _LINE, "alerts.summary"),
                ),
                row_id="warning_id",
                order_by="date_raised",
            ),
            Table(
                "services",
                "client_ref",
                "care_packages",
                True,
                _cols(
                    ("service_id", "INTEGER", None),
                    ("client_ref", _ID, None),
                    ("service_type", _NAME, "care_packages.service"),
                    ("provider_name", _NAME, "care_packages.provider"),
                    ("weekly_hours", "DECIMAL(4,1)", "care_packages.hours_per_week"),
                    ("start_date", "DATE", "care_packages.started_on"),
                ),
                row_id="service_id",
                order_by="start_date",
            ),
        ),
    ),
    Agency(
        id=COMMUNITY,
        name="Bench Community Health Trust",
        kind="http",
        latency=0.020,
        path="/api/v1/people",
        results_key="people",
        id_field="id",
        documents=(
            JsonList(
                "care_team",
                "involvement",
                False,
                (
                    ("team", "involvement.team"),
                    ("lead", "involvement.worker"),
                    ("lead_role", "involvement.role"),
                    ("since", "involvement.since"),
                    ("state", "involvement.status"),
                ),
            ),
            JsonList(
                "flags",
                "alerts",
                True,
                (
                    ("type", "alerts.category"),
                    ("level", "alerts.severity"),
                    ("date", "alerts.raised_on"),
                    ("text", "alerts.summary"),
                ),
            ),
            JsonList(
                "episodes",
                "community_episodes",
                True,
                (
                    ("service", "community_episodes.service"),
                    ("clinician", "community_episodes.clinician"),
                    ("start", "community_episodes.started_on"),
                    ("end", "community_episodes.ended_on"),
                    ("next_visit", "community_episodes.next_visit"),
                ),
            ),
        ),
    ),
    Agency(
        id=HOUSING,
        name="Bench Housing Service",
        kind="http",
        latency=0.005,
        path="/tenants",
        results_key="results",
        id_field="ref",
        documents=(
            JsonList(
                "officer",
                "involvement",
                False,
                (
                    ("patch", "involvement.team"),
                    ("name", "involvement.worker"),
                    ("role", "involvement.role"),
                    ("assigned", "involvement.since"),
                    ("state", "involvement.status"),
                ),
            ),
            JsonList(
                "alerts",
                "alerts",
                True,
                (
                    ("code", "alerts.category"),
                    ("level", "alerts.severity"),
                    ("raised", "alerts.raised_on"),
                    ("note", "alerts.summary"),
                ),
            ),
            JsonList(
                "tenancies",
                "tenancies",
                True,
                (
                    ("address", "tenancies.address"),
                    ("tenure", "tenancies.tenure"),
                    ("landlord", "tenancies.landlord"),
                    ("start", "tenancies.started_on"),
                    ("arrears_weeks", "tenancies.rent_arrears_weeks"),
                ),
            ),
        ),
    ),
)
AGENCIES_BY_ID: dict[str, Agency] = {agency.id: agency for agency in AGENCIES}
#: The latency of the slowest source: what no variant can beat.
SLOWEST_SECONDS = max(agency.latency for agency in AGENCIES)

#: The client view the workloads ask for: one person from all four agencies, 47 fields.
PERSON_SELECTION = """
    id
    demographics {
      nhsNumber givenName familyName dateOfBirth gender address postcode phone
      agency { id name }
    }
    involvements { agency { id name } team worker role since status }
    alerts { agency { id } category severity raisedOn summary }
    health {
      gpRegistrations { practice usualGp registeredOn }
      medications { name dose startedOn }
      communityEpisodes { service clinician startedOn endedOn nextVisit }
    }
    socialCare {
      cases { status primaryNeed eligible reviewDue }
      carePackages { service provider hoursPerWeek startedOn }
    }
    housing { tenancies { address tenure landlord startedOn rentArrearsWeeks } }
"""
PERSON_QUERY = "query Person($id: ID!) { person(id: $id) {%s} }" % PERSON_SELECTION
CASELOAD_QUERY = "query Caseload($first: Int!) { caseload(first: $first) {%s} }" % PERSON_SELECTION

#: The peer workload's view: one peer person, every item the two HTTP agencies map (28).
PEER_SELECTION = """
    id
    involvements { agency { id name } team worker role since status }
    alerts { agency { id name } category severity raisedOn summary }
    health {
      communityEpisodes { agency { id name } service clinician startedOn endedOn nextVisit }
    }
    housing { tenancies { agency { id name } address tenure landlord startedOn rentArrearsWeeks } }
"""
PEER_QUERY = "query Person($id: ID!) { person(id: $id) {%s} }" % PEER_SELECTION
#: The latency of the slower of the peer people's agencies.
PEER_SLOWEST_SECONDS = max(a.latency for a in AGENCIES if a.id in PEER_AGENCIES)


# --- the synthetic people and each agency's records about them -------------------------------

_GIVEN = ("Margaret", "Arthur", "Joan", "Harold", "Dorothy", "Kenneth", "Eileen", "Ronald")
_FAMILY = ("Bromley", "Ashworth", "Pritchard", "Hughes", "Lloyd", "Evans", "Morgan", "Price")
_STREETS = ("Mill Lane", "Castle Street", "Abbey Road", "Severn Way", "Church Walk")
_TEAMS = ("North Locality", "South Locality", "Hospital Discharge", "Reablement")
_STAFF = ("Dr A. Khan", "Dr B. Osei", "N. Patel", "J. Roberts", "K. Walsh", "L. Chen")
_ALERTS = (
    ("falls", "high", "Two falls in the last month; uses a frame."),
    ("lone_working", "medium", "Visit in pairs after dark."),
    ("self_neglect", "medium", "Food in the fridge past its date at the last visit."),
    ("dementia", "low", "Forgets appointments; phone the day before."),
)
_DRUGS = (
    ("Amlodipine 5mg", "one daily"),
    ("Furosemide 40mg", "one in the morning"),
    ("Paracetamol 500mg", "two up to four times a day"),
    ("Donepezil 10mg", "one at night"),
    ("Alendronic acid 70mg", "one weekly"),
)
_SERVICES = ("home care", "day centre", "meals", "telecare")
_PROVIDERS = ("Shire Home Care Ltd", "Riverside Day Services", "Willow Care")
_EPISODES = ("district nursing", "physiotherapy", "community mental health")
_TENURES = ("secure", "assured", "temporary")


@dataclass(frozen=True)
class Person:
    """One synthetic person: the gateway's id, NHS number, and each agency's local id."""

    id: str
    nhs_number: str
    given_name: str
    family_name: str
    date_of_birth: dt.date
    postcode: str
    local_ids: dict[str, str]


def _nhs_number(index: int) -> str:
    # 999 test range with a valid modulus-11 check digit.
    base = 999_000_000 + index * 7
    while True:
        digits = str(base)
        total = sum(int(d) * (10 - i) for i, d in enumerate(digits))
        check = (11 - total % 11) % 11
        if check != 10:
            return digits + str(check)
        base += 1


def people(count: int, peers: int = 0) -> list[Person]:
    """``count`` synthetic people, each known to all four agencies under its own id, then
    ``peers`` people known only to the two HTTP agencies."""
    rng = random.Random(2005)
    result = []
    for index in range(count + peers):
        nhs = _nhs_number(index)
        result.append(
            Person(
                id=str(uuid.uuid5(_NAMESPACE, nhs)),
                nhs_number=nhs,
                given_name=rng.choice(_GIVEN),
                family_name=rng.choice(_FAMILY),
                date_of_birth=REFERENCE_DATE - dt.timedelta(days=rng.randint(65 * 365, 95 * 365)),
                postcode=f"SY{rng.randint(1, 9)} {rng.randint(1, 9)}{rng.choice('ABDEFG')}Q",
                local_ids={
                    agency: local
                    for agency, local in (
                        (GP, f"P{100000 + index}"),
                        (SOCIAL_CARE, f"C-{50000 + index}"),
                        (COMMUNITY, f"CH-{70000 + index}"),
                        (HOUSING, f"T{30000 + index}"),
                    )
                    if index < count or agency in PEER_AGENCIES
                },
            )
        )
    return result


def _days(rng: random.Random, count: int, low: int = 10, high: int = 900) -> list[dt.date]:
    # Distinct dates, so that every agency's "order by date" has one answer.
    return sorted(
        REFERENCE_DATE - dt.timedelta(days=d) for d in rng.sample(range(low, high), count)
    )


def sql_rows(agency: Agency, population: list[Person]) -> dict[str, list[dict[str, Any]]]:
    """Table name -> rows (column -> value) of an SQL agency, for every person."""
    rng = random.Random(f"{agency.id}-rows")
    tables: dict[str, list[dict[str, Any]]] = {t.name: [] for t in agency.tables}
    sequence = 0
    for person in population:
        if agency.id not in person.local_ids:
            continue
        local = person.local_ids[agency.id]
        if agency.id == GP:
            tables["patients"].append(
                {
                    "patient_id": local,
                    "nhs_no": person.nhs_number,
                    "forename": person.given_name,
                    "surname": person.family_name,
                    "dob": person.date_of_birth,
                    "sex": rng.choice(("female", "male")),
                    "addr_line": f"{rng.randint(1, 90)} {rng.choice(_STREETS)}, Shrewsbury",
                    "post_code": person.postcode,
                    "tel": f"01632 960{rng.randint(100, 999)}",
                    "practice_name": "Bench General Practice",
                    "usual_gp": rng.choice(_STAFF[:2]),
                    "registered_date": _days(rng, 1, 400, 9000)[0],
                    "internal_notes": "NOT-FOR-SHARING practice note",
                }
            )
            tables["care_team"].append(
                {
                    "patient_id": local,
                    "team_name": "Practice team",
                    "clinician": rng.choice(_STAFF[:2]),
                    "clinician_role": "GP",
                    "joined_date": _days(rng, 1)[0],
                    "team_status": "open",
                }
            )
            for when in _days(rng, rng.randint(1, 3)):
                sequence += 1
                category, severity, text = rng.choice(_ALERTS)
                tables["gp_alerts"].append(
                    {
                        "alert_id": sequence,
                        "patient_id": local,
                        "alert_type": category,
                        "priority": severity,
                        "alert_date": when,
                        "alert_text": text,
                    }
                )
            for when in _days(rng, rng.randint(2, 5)):
                sequence += 1
                drug, dose = rng.choice(_DRUGS)
                tables["repeat_meds"].append(
                    {
                        "med_id": sequence,
                        "patient_id": local,
                        "drug": drug,
                        "dosage": dose,
                        "first_issued": when,
                    }
                )
        else:
            tables["clients"].append(
                {
                    "client_ref": local,
                    "case_status": rng.choice(("open", "on review")),
                    "primary_support_reason": rng.choice(("physical support", "memory")),
                    "care_act_eligible": rng.choice((0, 1)),
                    "next_review": REFERENCE_DATE + dt.timedelta(days=rng.randint(5, 300)),
                    "safeguarding_notes": "NOT-FOR-SHARING safeguarding note",
                }
            )
            tables["allocations"].append(
                {
                    "client_ref": local,
                    "team": rng.choice(_TEAMS),
                    "worker_name": rng.choice(_STAFF[2:]),
                    "worker_role": "social worker",
                    "allocated_on": _days(rng, 1)[0],
                    "alloc_status": "open",
                }
            )
            for when in _days(rng, rng.randint(0, 2)):
                sequence += 1
                category, severity, text = rng.choice(_ALERTS)
                tables["risk_warnings"].append(
                    {
                        "warning_id": sequence,
                        "client_ref": local,
                        "warning_type": category,
                        "risk_level": severity,
                        "date_raised": when,
                        "warning_text": text,
                    }
                )
            for when in _days(rng, rng.randint(1, 3)):
                sequence += 1
                tables["services"].append(
                    {
                        "service_id": sequence,
                        "client_ref": local,
                        "service_type": rng.choice(_SERVICES),
                        "provider_name": rng.choice(_PROVIDERS),
                        "weekly_hours": rng.choice(("3.5", "7.0", "10.5", "14.0")),
                        "start_date": when,
                    }
                )
    return tables


def http_documents(agency: Agency, population: list[Person]) -> dict[str, dict[str, Any]]:
    """Local id -> the HTTP agency's whole JSON document about the person."""
    rng = random.Random(f"{agency.id}-documents")
    documents: dict[str, dict[str, Any]] = {}
    for person in population:
        if agency.id not in person.local_ids:
            continue
        local = person.local_ids[agency.id]
        if agency.id == COMMUNITY:
            episodes = []
            for when in _days(rng, rng.randint(1, 3)):
                ended = rng.random() < 0.3
                episodes.append(
                    {
                        "service": rng.choice(_EPISODES),
                        "clinician": rng.choice(_STAFF),
                        "start": when.isoformat(),
                        "end": (when + dt.timedelta(days=9)).isoformat() if ended else None,
                        "next_visit": None
                        if ended
                        else (REFERENCE_DATE + dt.timedelta(days=rng.randint(1, 20))).isoformat(),
                    }
                )
            documents[local] = {
                "id": local,
                "care_team": {
                    "team": "Community nursing",
                    "lead": rng.choice(_STAFF[2:]),
                    "lead_role": "district nurse",
                    "since": _days(rng, 1)[0].isoformat(),
                    "state": "open",
                },
                "flags": [
                    {"type": c, "level": s, "date": when.isoformat(), "text": t}
                    for when, (c, s, t) in zip(_days(rng, 2), rng.sample(_ALERTS, 2), strict=True)
                ][: rng.randint(0, 2)],
                "episodes": episodes,
                "notes": {"text": "NOT-FOR-SHARING clinical notes"},
            }
        else:
            documents[local] = {
                "ref": local,
                "officer": {
                    "patch": rng.choice(("Castlefields", "Harlescott", "Meole Brace")),
                    "name": rng.choice(_STAFF[2:]),
                    "role": "housing officer",
                    "assigned": _days(rng, 1)[0].isoformat(),
                    "state": "open",
                },
                "alerts": [
                    {"code": "lone_working", "level": "medium", "raised": d.isoformat(), "note": t}
                    for d, t in zip(_days(rng, 1), ("Dog at the property.",), strict=True)
                ][: rng.randint(0, 1)],
                "tenancies": [
                    {
                        "address": f"Flat {rng.randint(1, 40)}, {rng.choice(_STREETS)}",
                        "tenure": rng.choice(_TENURES),
                        "landlord": "Shire Council",
                        "start": when.isoformat(),
                        "arrears_weeks": rng.choice((0, 0, 1, 3)),
                    }
                    for when in _days(rng, rng.randint(1, 2), 300, 5000)
                ],
            }
    return documents


# --- the file the run writes for the server processes ----------------------------------------


@dataclass(frozen=True)
class World:
    """Where the running sources are, and who is who: what every variant needs to start.

    ``dsns`` maps an SQL agency to its SQLAlchemy URL (password included, if any);
    ``urls`` maps an HTTP agency to its base URL. ``people`` is the person index.
    """

    dsns: dict[str, str]
    urls: dict[str, str]
    people: list[Person]

    def save(self, file: Path) -> None:
        """Write the world as JSON (mode 0600: a DSN may carry a password)."""
        body = {
            "dsns": self.dsns,
            "urls": self.urls,
            "people": [
                {
                    "id": p.id,
                    "nhs_number": p.nhs_number,
                    "given_name": p.given_name,
                    "family_name": p.family_name,
                    "date_of_birth": p.date_of_birth.isoformat(),
                    "postcode": p.postcode,
                    "local_ids": p.local_ids,
                }
                for p in self.people
            ],
        }
        file.write_text(json.dumps(body))
        file.chmod(0o600)

    @classmethod
    def load(cls, file: Path) -> World:
        """Read a world written by ``save``."""
        body = json.loads(file.read_text())
        return cls(
            dsns=dict(body["dsns"]),
            urls=dict(body["urls"]),
            people=[
                Person(
                    id=p["id"],
                    nhs_number=p["nhs_number"],
                    given_name=p["given_name"],
                    family_name=p["family_name"],
                    date_of_birth=dt.date.fromisoformat(p["date_of_birth"]),
                    postcode=p["postcode"],
                    local_ids=dict(p["local_ids"]),
                )
                for p in body["people"]
            ],
        )

    def caseload(self, first: int) -> list[Person]:
        """The requesting agency's people in the gateway's caseload order (by person id)."""
        known = [p for p in self.people if REQUESTER_AGENCY in p.local_ids]
        return sorted(known, key=lambda p: p.id)[:first]
