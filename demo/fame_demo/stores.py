"""The SQL agencies' own systems, as SQLite files (or any SQL database, for the tests).

Each agency's schema is its legacy system's, with its own table and column names; the
agency's file in ``config/agencies`` maps catalogue items onto them. The two GP
practices run different clinical systems on purpose, so one catalogue item maps to
different columns. Some columns are never mapped (internal and safeguarding notes):
the gateway must never select them, and every text value in them contains
:data:`~fame_demo.synthetic.UNSHARED_MARKER` so a test can prove it.

The DDL sticks to VARCHAR(n), TEXT, INTEGER and REAL so that the same statements load
into SQLite, PostgreSQL and MariaDB. Dates are ISO strings in VARCHAR(10) and booleans
are INTEGER 0/1, as many legacy systems keep them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import date
from pathlib import Path
from types import MappingProxyType

from fame_demo.pilot_tables import ADDED_TABLES, NEW_AGENCY_TABLES
from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    HOUSING,
    OAKFIELD_GP,
    RIVERSIDE_GP,
    UNSHARED_MARKER,
    Population,
    Row,
    SyntheticPerson,
)
from fame_demo.tables import DATE as _DATE
from fame_demo.tables import ID as _ID
from fame_demo.tables import KEY as _KEY
from fame_demo.tables import LINE as _LINE
from fame_demo.tables import NAME as _NAME
from fame_demo.tables import SEQ as _SEQ
from fame_demo.tables import SHORT as _SHORT
from fame_demo.tables import TEXT as _TEXT
from fame_demo.tables import Column, TableSpec
from fame_demo.tables import col as _c
from fame_demo.tables import demographics_columns as _demographics

#: The agencies whose systems are SQL databases, in a stable order.
SQL_AGENCIES: tuple[str, ...] = (
    ADULT_SOCIAL_CARE,
    HOUSING,
    RIVERSIDE_GP,
    OAKFIELD_GP,
    *NEW_AGENCY_TABLES,
)

_RIVERSIDE: tuple[TableSpec, ...] = (
    TableSpec(
        "patients",
        "patient_id",
        ("demographics", "gp_registration"),
        False,
        (
            _c("patient_id", _ID, _KEY),
            *_demographics(
                ("nhs_no", "forename", "surname", "dob", "sex", "addr_line", "post_code", "tel")
            ),
            _c("practice_name", _NAME, "gp_registration.practice"),
            _c("usual_gp", _NAME, "gp_registration.usual_gp"),
            _c("registered_date", _DATE, "gp_registration.registered_on"),
            _c("internal_notes", "TEXT", "!practice_note"),
        ),
    ),
    TableSpec(
        "care_team",
        "patient_id",
        ("involvement",),
        False,
        (
            _c("patient_id", _ID, _KEY),
            _c("team_name", _NAME, "involvement.team"),
            _c("clinician", _NAME, "involvement.worker"),
            _c("clinician_role", _NAME, "involvement.role"),
            _c("joined_date", _DATE, "involvement.since"),
            _c("team_status", _SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "gp_alerts",
        "patient_id",
        ("alerts",),
        True,
        (
            _c("alert_id", "INTEGER", _SEQ),
            _c("patient_id", _ID, _KEY),
            _c("alert_type", _SHORT, "alerts.category"),
            _c("priority", _SHORT, "alerts.severity"),
            _c("alert_date", _DATE, "alerts.raised_on"),
            _c("alert_text", _TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "consultations",
        "patient_id",
        ("timeline",),
        True,
        (
            _c("consult_id", "INTEGER", _SEQ),
            _c("patient_id", _ID, _KEY),
            _c("consult_date", _DATE, "timeline.occurred_on"),
            _c("consult_type", _SHORT, "timeline.kind"),
            _c("summary", _TEXT, "timeline.summary"),
            _c("clinician", _NAME, "timeline.practitioner"),
            _c("free_text", "TEXT", "!consultation_text"),
        ),
    ),
    TableSpec(
        "problems",
        "patient_id",
        ("conditions",),
        True,
        (
            _c("problem_id", "INTEGER", _SEQ),
            _c("patient_id", _ID, _KEY),
            _c("problem", _LINE, "conditions.name"),
            _c("snomed", "VARCHAR(18)", "conditions.code"),
            _c("onset_date", _DATE, "conditions.onset"),
            _c("problem_status", _SHORT, "conditions.status"),
        ),
    ),
    TableSpec(
        "repeat_meds",
        "patient_id",
        ("medications",),
        True,
        (
            _c("med_id", "INTEGER", _SEQ),
            _c("patient_id", _ID, _KEY),
            _c("drug", _LINE, "medications.name"),
            _c("dosage", _LINE, "medications.dose"),
            _c("first_issued", _DATE, "medications.started_on"),
        ),
    ),
    TableSpec(
        "sensitivities",
        "patient_id",
        ("allergies",),
        True,
        (
            _c("sensitivity_id", "INTEGER", _SEQ),
            _c("patient_id", _ID, _KEY),
            _c("agent", _NAME, "allergies.substance"),
            _c("reaction_desc", _LINE, "allergies.reaction"),
        ),
    ),
)

# Oakfield runs a different clinical system: same facts, other names.
_OAKFIELD: tuple[TableSpec, ...] = (
    TableSpec(
        "pt_register",
        "pt_ref",
        ("demographics", "gp_registration"),
        False,
        (
            _c("pt_ref", _ID, _KEY),
            *_demographics(
                (
                    "nhs_num",
                    "first_names",
                    "last_name",
                    "birth_date",
                    "gender",
                    "address1",
                    "postcode",
                    "phone_home",
                )
            ),
            _c("practice", _NAME, "gp_registration.practice"),
            _c("registered_gp", _NAME, "gp_registration.usual_gp"),
            _c("reg_date", _DATE, "gp_registration.registered_on"),
            _c("notes_private", "TEXT", "!practice_note"),
        ),
    ),
    TableSpec(
        "pt_team",
        "pt_ref",
        ("involvement",),
        False,
        (
            _c("pt_ref", _ID, _KEY),
            _c("team", _NAME, "involvement.team"),
            _c("named_clinician", _NAME, "involvement.worker"),
            _c("clinician_type", _NAME, "involvement.role"),
            _c("from_date", _DATE, "involvement.since"),
            _c("episode_state", _SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "pt_alerts",
        "pt_ref",
        ("alerts",),
        True,
        (
            _c("row_id", "INTEGER", _SEQ),
            _c("pt_ref", _ID, _KEY),
            _c("alert_category", _SHORT, "alerts.category"),
            _c("alert_level", _SHORT, "alerts.severity"),
            _c("date_added", _DATE, "alerts.raised_on"),
            _c("alert_detail", _TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "pt_encounters",
        "pt_ref",
        ("timeline",),
        True,
        (
            _c("row_id", "INTEGER", _SEQ),
            _c("pt_ref", _ID, _KEY),
            _c("encounter_date", _DATE, "timeline.occurred_on"),
            _c("encounter_type", _SHORT, "timeline.kind"),
            _c("encounter_summary", _TEXT, "timeline.summary"),
            _c("seen_by", _NAME, "timeline.practitioner"),
            _c("clinical_text", "TEXT", "!consultation_text"),
        ),
    ),
    TableSpec(
        "pt_problems",
        "pt_ref",
        ("conditions",),
        True,
        (
            _c("row_id", "INTEGER", _SEQ),
            _c("pt_ref", _ID, _KEY),
            _c("problem_term", _LINE, "conditions.name"),
            _c("concept_id", "VARCHAR(18)", "conditions.code"),
            _c("date_onset", _DATE, "conditions.onset"),
            _c("problem_state", _SHORT, "conditions.status"),
        ),
    ),
    TableSpec(
        "pt_drugs",
        "pt_ref",
        ("medications",),
        True,
        (
            _c("row_id", "INTEGER", _SEQ),
            _c("pt_ref", _ID, _KEY),
            _c("drug_name", _LINE, "medications.name"),
            _c("dose_text", _LINE, "medications.dose"),
            _c("date_first", _DATE, "medications.started_on"),
        ),
    ),
    TableSpec(
        "pt_allergy",
        "pt_ref",
        ("allergies",),
        True,
        (
            _c("row_id", "INTEGER", _SEQ),
            _c("pt_ref", _ID, _KEY),
            _c("allergen", _NAME, "allergies.substance"),
            _c("reaction", _LINE, "allergies.reaction"),
        ),
    ),
)

_ADULT_SOCIAL_CARE: tuple[TableSpec, ...] = (
    TableSpec(
        "clients",
        "client_ref",
        ("demographics", "social_care_cases"),
        False,
        (
            _c("client_ref", _ID, _KEY),
            *_demographics(
                (
                    "nhs_num",
                    "forenames",
                    "surname",
                    "birth_date",
                    "sex",
                    "home_address",
                    "postcode",
                    "telephone",
                )
            ),
            _c("case_status", _SHORT, "social_care_cases.status"),
            _c("primary_support_reason", _NAME, "social_care_cases.primary_need"),
            _c("care_act_eligible", "INTEGER", "social_care_cases.eligible"),
            _c("next_review", _DATE, "social_care_cases.review_due"),
            _c("safeguarding_notes", "TEXT", "!safeguarding_note"),
            _c("internal_comments", "TEXT", "!council_comment"),
        ),
    ),
    TableSpec(
        "allocations",
        "client_ref",
        ("involvement",),
        False,
        (
            _c("client_ref", _ID, _KEY),
            _c("team", _NAME, "involvement.team"),
            _c("worker_name", _NAME, "involvement.worker"),
            _c("worker_role", _NAME, "involvement.role"),
            _c("allocated_on", _DATE, "involvement.since"),
            _c("alloc_status", _SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "risk_warnings",
        "client_ref",
        ("alerts",),
        True,
        (
            _c("warning_id", "INTEGER", _SEQ),
            _c("client_ref", _ID, _KEY),
            _c("warning_type", _SHORT, "alerts.category"),
            _c("risk_level", _SHORT, "alerts.severity"),
            _c("date_raised", _DATE, "alerts.raised_on"),
            _c("warning_text", _TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "assessment_forms",
        "client_ref",
        ("assessments",),
        True,
        (
            _c("form_id", "INTEGER", _SEQ),
            _c("client_ref", _ID, _KEY),
            _c("form_type", _NAME, "assessments.kind"),
            _c("completed_date", _DATE, "assessments.completed_on"),
            _c("completed_by", _NAME, "assessments.assessor"),
            _c("overview_text", _TEXT, "assessments.summary"),
            _c("decision", _TEXT, "assessments.outcome"),
        ),
    ),
    TableSpec(
        "case_notes",
        "client_ref",
        ("timeline",),
        True,
        (
            _c("note_id", "INTEGER", _SEQ),
            _c("client_ref", _ID, _KEY),
            _c("note_date", _DATE, "timeline.occurred_on"),
            _c("note_type", _SHORT, "timeline.kind"),
            _c("note_text", _TEXT, "timeline.summary"),
            _c("author", _NAME, "timeline.practitioner"),
            _c("restricted_detail", "TEXT", "!case_note_detail"),
        ),
    ),
    TableSpec(
        "services",
        "client_ref",
        ("care_packages",),
        True,
        (
            _c("service_id", "INTEGER", _SEQ),
            _c("client_ref", _ID, _KEY),
            _c("service_type", _NAME, "care_packages.service"),
            _c("provider_name", _NAME, "care_packages.provider"),
            _c("weekly_hours", "REAL", "care_packages.hours_per_week"),
            _c("start_date", _DATE, "care_packages.started_on"),
            _c("weekly_cost", "REAL", "!weekly_cost"),
        ),
    ),
)

_HOUSING: tuple[TableSpec, ...] = (
    TableSpec(
        "tenants",
        "tenant_no",
        ("demographics",),
        False,
        (
            _c("tenant_no", _ID, _KEY),
            # The housing system has no NHS number: it links people by name and address.
            *_demographics(
                (
                    "",
                    "first_name",
                    "last_name",
                    "dob",
                    "gender",
                    "corr_address",
                    "postcode",
                    "contact_tel",
                )
            ),
            _c("officer_notes", "TEXT", "!housing_note"),
        ),
    ),
    TableSpec(
        "patch_officers",
        "tenant_no",
        ("involvement",),
        False,
        (
            _c("tenant_no", _ID, _KEY),
            _c("patch_team", _NAME, "involvement.team"),
            _c("housing_officer", _NAME, "involvement.worker"),
            _c("officer_role", _NAME, "involvement.role"),
            _c("assigned_date", _DATE, "involvement.since"),
            _c("assignment_state", _SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "tenant_alerts",
        "tenant_no",
        ("alerts",),
        True,
        (
            _c("alert_no", "INTEGER", _SEQ),
            _c("tenant_no", _ID, _KEY),
            _c("alert_code", _SHORT, "alerts.category"),
            _c("alert_level", _SHORT, "alerts.severity"),
            _c("raised_date", _DATE, "alerts.raised_on"),
            _c("alert_note", _TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "contact_log",
        "tenant_no",
        ("timeline",),
        True,
        (
            _c("log_id", "INTEGER", _SEQ),
            _c("tenant_no", _ID, _KEY),
            _c("contact_date", _DATE, "timeline.occurred_on"),
            _c("contact_type", _SHORT, "timeline.kind"),
            _c("notes", _TEXT, "timeline.summary"),
            _c("officer", _NAME, "timeline.practitioner"),
        ),
    ),
    TableSpec(
        "tenancy_accounts",
        "tenant_no",
        ("tenancies",),
        True,
        (
            _c("account_no", "INTEGER", _SEQ),
            _c("tenant_no", _ID, _KEY),
            _c("property_address", _LINE, "tenancies.address"),
            _c("tenure_type", _SHORT, "tenancies.tenure"),
            _c("landlord_name", _NAME, "tenancies.landlord"),
            _c("tenancy_start", _DATE, "tenancies.started_on"),
            _c("arrears_weeks", "INTEGER", "tenancies.rent_arrears_weeks"),
            _c("arrears_balance", "REAL", "!arrears_balance"),
        ),
    ),
    TableSpec(
        "adaptation_requests",
        "tenant_no",
        ("adaptations",),
        True,
        (
            _c("request_id", "INTEGER", _SEQ),
            _c("tenant_no", _ID, _KEY),
            _c("adaptation", _NAME, "adaptations.kind"),
            _c("request_status", _SHORT, "adaptations.status"),
            _c("completed_date", _DATE, "adaptations.completed_on"),
        ),
    ),
)

#: Each SQL agency's tables.
TABLES: Mapping[str, tuple[TableSpec, ...]] = MappingProxyType(
    {
        ADULT_SOCIAL_CARE: (*_ADULT_SOCIAL_CARE, *ADDED_TABLES[ADULT_SOCIAL_CARE]),
        HOUSING: (*_HOUSING, *ADDED_TABLES[HOUSING]),
        RIVERSIDE_GP: (*_RIVERSIDE, *ADDED_TABLES[RIVERSIDE_GP]),
        OAKFIELD_GP: (*_OAKFIELD, *ADDED_TABLES[OAKFIELD_GP]),
        **NEW_AGENCY_TABLES,
    }
)

# Values an agency keeps for itself. Every text one carries the marker so a test can
# search any gateway output for it.
_Private = Callable[[SyntheticPerson, Row, int], object]
_PRIVATE: Mapping[str, _Private] = {
    "practice_note": lambda person, row, n: (
        f"{UNSHARED_MARKER} practice-only: discussed at clinical meeting about "
        f"{person.given_name}; not for disclosure."
    ),
    "consultation_text": lambda person, row, n: (
        f"{UNSHARED_MARKER} free text: history, examination and plan (entry {n})."
    ),
    "safeguarding_note": lambda person, row, n: (
        f"{UNSHARED_MARKER} safeguarding: previous enquiry about {person.given_name} closed; "
        "family dynamics noted."
    ),
    "council_comment": lambda person, row, n: (
        f"{UNSHARED_MARKER} internal: charging assessment and deferred payment discussion."
    ),
    "case_note_detail": lambda person, row, n: (
        f"{UNSHARED_MARKER} restricted: third-party information from a relative (note {n})."
    ),
    "housing_note": lambda person, row, n: (
        f"{UNSHARED_MARKER} officer only: neighbour complaints file and legal action history."
    ),
    "weekly_cost": lambda person, row, n: round(float(str(row["hours_per_week"])) * 24.6, 2),
    "family_history": lambda person, row, n: (
        f"{UNSHARED_MARKER} family history: previous involvement with {person.given_name}'s "
        "siblings; third-party information."
    ),
    "claim_evidence": lambda person, row, n: (
        f"{UNSHARED_MARKER} income evidence: payslips and bank statements (claim {n})."
    ),
    "arrears_balance": lambda person, row, n: round(
        float(str(row["rent_arrears_weeks"])) * 96.4, 2
    ),
}


def tables_of(agency_id: str) -> tuple[TableSpec, ...]:
    """The tables of one SQL agency's system (KeyError for a non-SQL agency)."""
    return TABLES[agency_id]


def mapped_columns(agency_id: str) -> dict[str, str]:
    """Catalogue item -> ``"table.column"`` for every item the agency's schema holds."""
    return {
        column.source: f"{table.name}.{column.name}"
        for table in TABLES[agency_id]
        for column in table.columns
        if column.mapped_item is not None
    }


def never_mapped_columns(agency_id: str) -> list[str]:
    """The agency's private columns (``"table.column"``): the gateway must never read them."""
    return [
        f"{table.name}.{column.name}"
        for table in TABLES[agency_id]
        for column in table.columns
        if column.source.startswith("!")
    ]


def create_schema_sql(agency_id: str) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements for the agency, portable across databases."""
    statements: list[str] = []
    for table in TABLES[agency_id]:
        primary = (
            next(c.name for c in table.columns if c.source == _SEQ) if table.many else table.key
        )
        lines = [f"    {c.name} {c.sql_type}" for c in table.columns]
        lines.append(f"    PRIMARY KEY ({primary})")
        statements.append(f"CREATE TABLE {table.name} (\n" + ",\n".join(lines) + "\n)")
        if table.many:
            statements.append(
                f"CREATE INDEX ix_{table.name}_{table.key} ON {table.name} ({table.key})"
            )
    return statements


def drop_schema_sql(agency_id: str) -> list[str]:
    """DROP TABLE IF EXISTS statements for the agency (indexes go with their tables)."""
    return [f"DROP TABLE IF EXISTS {table.name}" for table in TABLES[agency_id]]


def _sql_value(value: object) -> object:
    # bool before date/int: bool is an int subclass and must land as 0/1 explicitly.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def rows_for(population: Population, agency_id: str) -> dict[str, list[dict[str, object]]]:
    """Table name -> rows (column -> value) of the agency's system, ready to insert."""
    result: dict[str, list[dict[str, object]]] = {t.name: [] for t in TABLES[agency_id]}
    for table in TABLES[agency_id]:
        sequence = 0
        for person in population.people_of(agency_id):
            local_id = population.local_ids[agency_id][person.nhs_number]
            if table.many:
                (record_set,) = table.record_sets
                records = population.rows(agency_id, local_id, record_set)
            else:
                merged: Row = {}
                for record_set in table.record_sets:
                    (one,) = population.rows(agency_id, local_id, record_set)
                    merged.update({f"{record_set}.{k}": v for k, v in one.items()})
                records = [merged]
            for record in records:
                sequence += 1
                row: dict[str, object] = {}
                for column in table.columns:
                    row[column.name] = _column_value(
                        column, table, record, person, local_id, sequence
                    )
                result[table.name].append(row)
    return result


def _column_value(
    column: Column,
    table: TableSpec,
    record: Row,
    person: SyntheticPerson,
    local_id: str,
    sequence: int,
) -> object:
    if column.source == _KEY:
        return local_id
    if column.source == _SEQ:
        return sequence
    if column.source.startswith("!"):
        return _sql_value(_PRIVATE[column.source[1:]](person, record, sequence))
    if table.many:
        _, _, field = column.source.partition(".")
        return _sql_value(record[field])
    return _sql_value(record[column.source])


def insert_sql(table: TableSpec) -> str:
    """A parameterised INSERT for the table, with ``:column`` named parameters."""
    names = [c.name for c in table.columns]
    placeholders = ", ".join(f":{n}" for n in names)
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})"


def write_sql_stores(population: Population, directory: Path) -> dict[str, Path]:
    """Write one SQLite file per SQL agency into ``directory``, replacing any old ones.

    Returns agency id -> file path; the file is ``<agency-id>.sqlite``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for agency_id in SQL_AGENCIES:
        path = directory / f"{agency_id}.sqlite"
        for stale in (
            path,
            path.with_name(path.name + "-journal"),
            path.with_name(path.name + "-wal"),
        ):
            stale.unlink(missing_ok=True)
        rows = rows_for(population, agency_id)
        with closing(sqlite3.connect(path)) as connection:
            for statement in create_schema_sql(agency_id):
                connection.execute(statement)
            for table in TABLES[agency_id]:
                connection.executemany(insert_sql(table), rows[table.name])
            connection.commit()
        written[agency_id] = path
    return written


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy async URL of a SQLite file, as a connector config would name it."""
    return f"sqlite+aiosqlite:///{path.resolve()}"
