"""The tables the pilots add: new tables in Shire's systems, and the new SQL agencies' systems.

Each new agency keeps its own legacy schema, with its own table and column names, as the
base agencies do. The pilots' other new agencies are not SQL: the emergency department
answers in FHIR R4 (:mod:`fame_demo.emergency`) and the school exports CSV files
(:mod:`fame_demo.school`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    HOUSING,
    OAKFIELD_GP,
    RIVERSIDE_GP,
    SHIRE_CHILDRENS,
    WREKIN_ADULT_SOCIAL_CARE,
    WREKIN_CHILDRENS,
)
from fame_demo.tables import DATE, ID, KEY, LINE, NAME, SEQ, SHORT, TEXT, TableSpec, col
from fame_demo.tables import demographics_columns as demo

#: Tables added to the base agencies' systems for the pilots' record sets.
ADDED_TABLES: Mapping[str, tuple[TableSpec, ...]] = MappingProxyType(
    {
        RIVERSIDE_GP: (
            TableSpec(
                "patient_addresses",
                "patient_id",
                ("address_history",),
                True,
                (
                    col("addr_id", "INTEGER", SEQ),
                    col("patient_id", ID, KEY),
                    col("address_line", LINE, "address_history.address"),
                    col("post_code", "VARCHAR(10)", "address_history.postcode"),
                    col("date_from", DATE, "address_history.moved_in"),
                    col("date_to", DATE, "address_history.moved_out"),
                ),
            ),
        ),
        OAKFIELD_GP: (
            TableSpec(
                "pt_address_log",
                "pt_ref",
                ("address_history",),
                True,
                (
                    col("row_id", "INTEGER", SEQ),
                    col("pt_ref", ID, KEY),
                    col("addr_text", LINE, "address_history.address"),
                    col("addr_postcode", "VARCHAR(10)", "address_history.postcode"),
                    col("start_dt", DATE, "address_history.moved_in"),
                    col("end_dt", DATE, "address_history.moved_out"),
                ),
            ),
        ),
        ADULT_SOCIAL_CARE: (
            TableSpec(
                "sa_domains",
                "client_ref",
                ("assessment_domains",),
                True,
                (
                    col("domain_id", "INTEGER", SEQ),
                    col("client_ref", ID, KEY),
                    col("domain_name", NAME, "assessment_domains.domain"),
                    col("finding", TEXT, "assessment_domains.summary"),
                    col("needs_identified", TEXT, "assessment_domains.needs"),
                    col("assessor_name", NAME, "assessment_domains.assessor"),
                    col("assessed_date", DATE, "assessment_domains.assessed_on"),
                ),
            ),
        ),
        HOUSING: (
            TableSpec(
                "tenant_assessments",
                "tenant_no",
                ("assessment_domains",),
                True,
                (
                    col("assess_id", "INTEGER", SEQ),
                    col("tenant_no", ID, KEY),
                    col("assess_area", NAME, "assessment_domains.domain"),
                    col("findings", TEXT, "assessment_domains.summary"),
                    col("recommended", TEXT, "assessment_domains.needs"),
                    col("officer_name", NAME, "assessment_domains.assessor"),
                    col("assess_date", DATE, "assessment_domains.assessed_on"),
                ),
            ),
            TableSpec(
                "hb_claims",
                "tenant_no",
                ("benefit_claims",),
                True,
                (
                    col("claim_no", "INTEGER", SEQ),
                    col("tenant_no", ID, KEY),
                    col("benefit_type", NAME, "benefit_claims.benefit"),
                    col("claim_status", SHORT, "benefit_claims.status"),
                    col("weekly_award", "REAL", "benefit_claims.weekly_amount"),
                    col("claim_date", DATE, "benefit_claims.submitted_on"),
                    col("decision_date", DATE, "benefit_claims.decided_on"),
                    col("income_evidence", "TEXT", "!claim_evidence"),
                ),
            ),
        ),
    }
)

_SHIRE_CHILDRENS: tuple[TableSpec, ...] = (
    TableSpec(
        "children",
        "child_id",
        ("demographics", "childrens_cases"),
        False,
        (
            col("child_id", ID, KEY),
            *demo(("nhs", "forename", "surname", "dob", "sex", "address", "postcode", "tel")),
            col("case_status", SHORT, "childrens_cases.status"),
            col("plan_type", NAME, "childrens_cases.plan"),
            col("need_code", NAME, "childrens_cases.reason"),
            col("case_opened", DATE, "childrens_cases.opened_on"),
            col("family_history", "TEXT", "!family_history"),
        ),
    ),
    TableSpec(
        "cs_workers",
        "child_id",
        ("involvement",),
        False,
        (
            col("child_id", ID, KEY),
            col("team", NAME, "involvement.team"),
            col("worker", NAME, "involvement.worker"),
            col("worker_role", NAME, "involvement.role"),
            col("allocated", DATE, "involvement.since"),
            col("alloc_status", SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "cs_warnings",
        "child_id",
        ("alerts",),
        True,
        (
            col("warning_id", "INTEGER", SEQ),
            col("child_id", ID, KEY),
            col("warning_cat", SHORT, "alerts.category"),
            col("warning_level", SHORT, "alerts.severity"),
            col("raised", DATE, "alerts.raised_on"),
            col("warning_text", TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "cs_observations",
        "child_id",
        ("timeline",),
        True,
        (
            col("obs_id", "INTEGER", SEQ),
            col("child_id", ID, KEY),
            col("obs_date", DATE, "timeline.occurred_on"),
            col("obs_type", SHORT, "timeline.kind"),
            col("obs_text", TEXT, "timeline.summary"),
            col("author", NAME, "timeline.practitioner"),
            col("restricted", "TEXT", "!case_note_detail"),
        ),
    ),
    TableSpec(
        "cp_plans",
        "child_id",
        ("child_protection_plans",),
        True,
        (
            col("plan_id", "INTEGER", SEQ),
            col("child_id", ID, KEY),
            col("cp_category", SHORT, "child_protection_plans.category"),
            col("plan_start", DATE, "child_protection_plans.started_on"),
            col("next_rcpc", DATE, "child_protection_plans.review_due"),
            col("lead_sw", NAME, "child_protection_plans.key_worker"),
        ),
    ),
    TableSpec(
        "contacts_referrals",
        "child_id",
        ("concerns",),
        True,
        (
            col("ref_id", "INTEGER", SEQ),
            col("child_id", ID, KEY),
            col("received", DATE, "concerns.raised_on"),
            col("referrer", NAME, "concerns.raised_by"),
            col("abuse_cat", SHORT, "concerns.category"),
            col("referral_text", TEXT, "concerns.summary"),
            col("decision", TEXT, "concerns.action"),
        ),
    ),
)

# Wrekin runs another supplier's system: the same facts under other names.
_WREKIN_CHILDRENS: tuple[TableSpec, ...] = (
    TableSpec(
        "person",
        "person_ref",
        ("demographics", "childrens_cases"),
        False,
        (
            col("person_ref", ID, KEY),
            *demo(
                (
                    "nhs_no",
                    "first_name",
                    "last_name",
                    "birth_date",
                    "gender",
                    "address_1",
                    "post_code",
                    "phone_no",
                )
            ),
            col("involvement_status", SHORT, "childrens_cases.status"),
            col("plan_in_place", NAME, "childrens_cases.plan"),
            col("category_of_need", NAME, "childrens_cases.reason"),
            col("start_date", DATE, "childrens_cases.opened_on"),
            col("practitioner_notes", "TEXT", "!family_history"),
        ),
    ),
    TableSpec(
        "worker_alloc",
        "person_ref",
        ("involvement",),
        False,
        (
            col("person_ref", ID, KEY),
            col("team_name", NAME, "involvement.team"),
            col("allocated_worker", NAME, "involvement.worker"),
            col("worker_type", NAME, "involvement.role"),
            col("from_date", DATE, "involvement.since"),
            col("alloc_state", SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "hazard_flags",
        "person_ref",
        ("alerts",),
        True,
        (
            col("flag_id", "INTEGER", SEQ),
            col("person_ref", ID, KEY),
            col("flag_type", SHORT, "alerts.category"),
            col("flag_level", SHORT, "alerts.severity"),
            col("flag_date", DATE, "alerts.raised_on"),
            col("flag_note", TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "case_steps",
        "person_ref",
        ("timeline",),
        True,
        (
            col("step_id", "INTEGER", SEQ),
            col("person_ref", ID, KEY),
            col("step_date", DATE, "timeline.occurred_on"),
            col("step_type", SHORT, "timeline.kind"),
            col("step_summary", TEXT, "timeline.summary"),
            col("step_worker", NAME, "timeline.practitioner"),
        ),
    ),
    TableSpec(
        "protection_plans",
        "person_ref",
        ("child_protection_plans",),
        True,
        (
            col("plan_no", "INTEGER", SEQ),
            col("person_ref", ID, KEY),
            col("plan_category", SHORT, "child_protection_plans.category"),
            col("plan_from", DATE, "child_protection_plans.started_on"),
            col("review_date", DATE, "child_protection_plans.review_due"),
            col("key_worker", NAME, "child_protection_plans.key_worker"),
        ),
    ),
    TableSpec(
        "referral_log",
        "person_ref",
        ("concerns",),
        True,
        (
            col("referral_no", "INTEGER", SEQ),
            col("person_ref", ID, KEY),
            col("referral_date", DATE, "concerns.raised_on"),
            col("referral_source", NAME, "concerns.raised_by"),
            col("concern_type", SHORT, "concerns.category"),
            col("concern_detail", TEXT, "concerns.summary"),
            col("outcome", TEXT, "concerns.action"),
        ),
    ),
)

_WREKIN_ADULT_SOCIAL_CARE: tuple[TableSpec, ...] = (
    TableSpec(
        "service_user",
        "su_id",
        ("demographics", "social_care_cases"),
        False,
        (
            col("su_id", ID, KEY),
            *demo(("nhs", "forenames", "surname", "dob", "sex", "address", "postcode", "tel")),
            col("su_status", SHORT, "social_care_cases.status"),
            col("support_reason", NAME, "social_care_cases.primary_need"),
            col("eligible_yn", "INTEGER", "social_care_cases.eligible"),
            col("review_date", DATE, "social_care_cases.review_due"),
            col("finance_notes", "TEXT", "!council_comment"),
        ),
    ),
    TableSpec(
        "su_worker",
        "su_id",
        ("involvement",),
        False,
        (
            col("su_id", ID, KEY),
            col("team", NAME, "involvement.team"),
            col("worker", NAME, "involvement.worker"),
            col("worker_role", NAME, "involvement.role"),
            col("since_date", DATE, "involvement.since"),
            col("worker_status", SHORT, "involvement.status"),
        ),
    ),
    TableSpec(
        "su_hazards",
        "su_id",
        ("alerts",),
        True,
        (
            col("hazard_id", "INTEGER", SEQ),
            col("su_id", ID, KEY),
            col("hazard", SHORT, "alerts.category"),
            col("hazard_level", SHORT, "alerts.severity"),
            col("hazard_date", DATE, "alerts.raised_on"),
            col("hazard_text", TEXT, "alerts.summary"),
        ),
    ),
    TableSpec(
        "su_contacts",
        "su_id",
        ("timeline",),
        True,
        (
            col("contact_id", "INTEGER", SEQ),
            col("su_id", ID, KEY),
            col("contact_date", DATE, "timeline.occurred_on"),
            col("contact_kind", SHORT, "timeline.kind"),
            col("contact_summary", TEXT, "timeline.summary"),
            col("contact_worker", NAME, "timeline.practitioner"),
        ),
    ),
    TableSpec(
        "su_services",
        "su_id",
        ("care_packages",),
        True,
        (
            col("svc_id", "INTEGER", SEQ),
            col("su_id", ID, KEY),
            col("svc", NAME, "care_packages.service"),
            col("supplier", NAME, "care_packages.provider"),
            col("hrs", "REAL", "care_packages.hours_per_week"),
            col("svc_start", DATE, "care_packages.started_on"),
            col("svc_cost", "REAL", "!weekly_cost"),
        ),
    ),
)

#: The new agencies' systems, by agency id.
NEW_AGENCY_TABLES: Mapping[str, tuple[TableSpec, ...]] = MappingProxyType(
    {
        SHIRE_CHILDRENS: _SHIRE_CHILDRENS,
        WREKIN_ADULT_SOCIAL_CARE: _WREKIN_ADULT_SOCIAL_CARE,
        WREKIN_CHILDRENS: _WREKIN_CHILDRENS,
    }
)
