"""The catalogue of data items the client view can ask for.

A *data item* is the unit the sharing protocol, the policy, the audit and the
connectors all speak about: ``"<record set>.<field>"``, for example
``"medications.name"``. Items are grouped into *record sets*: the rows an agency
holds about a person (its medications, its alerts, its involvement). Agencies
map the items they hold to their own tables or API fields; the GraphQL types of
the client view are built from this catalogue, so the schema, the planner and
the connectors cannot disagree about what an item is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum


class ValueKind(Enum):
    """The scalar type of an item's value."""

    STRING = "String"
    DATE = "Date"
    INT = "Int"
    FLOAT = "Float"
    BOOLEAN = "Boolean"


@dataclass(frozen=True)
class ItemSpec:
    """One data item: its GraphQL field name, value kind and meaning."""

    record_set: str
    field: str
    graphql_name: str
    kind: ValueKind
    description: str

    @property
    def name(self) -> str:
        """The item's catalogue name, ``"<record set>.<field>"``."""
        return f"{self.record_set}.{self.field}"


@dataclass(frozen=True)
class RecordSetSpec:
    """A kind of record an agency holds about a person.

    ``many`` says whether an agency may hold several rows of it per person
    (alerts) or at most one (its involvement). ``date_field`` names the field a
    date-range filter applies to, where the record set can be filtered.
    """

    name: str
    type_name: str
    section: str | None
    graphql_field: str
    many: bool
    owner: str
    description: str
    items: tuple[ItemSpec, ...]
    date_field: str | None = None

    def item(self, field: str) -> ItemSpec:
        """The item of this record set called ``field``."""
        for spec in self.items:
            if spec.field == field:
                return spec
        raise KeyError(f"{self.name}.{field}")


def _rs(
    name: str,
    type_name: str,
    *,
    section: str | None,
    graphql_field: str,
    many: bool,
    owner: str,
    description: str,
    items: list[tuple[str, ValueKind, str]],
    date_field: str | None = None,
) -> RecordSetSpec:
    specs = tuple(
        ItemSpec(
            record_set=name,
            field=field,
            graphql_name=_camel(field),
            kind=kind,
            description=text,
        )
        for field, kind, text in items
    )
    return RecordSetSpec(
        name=name,
        type_name=type_name,
        section=section,
        graphql_field=graphql_field,
        many=many,
        owner=owner,
        description=description,
        items=specs,
        date_field=date_field,
    )


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


S, D, N, F, B = ValueKind.STRING, ValueKind.DATE, ValueKind.INT, ValueKind.FLOAT, ValueKind.BOOLEAN

#: Sections of the Person type that group record sets by domain.
SECTIONS: Mapping[str, tuple[str, str]] = {
    "health": ("HealthSection", "Health records from the GP practice and community health."),
    "social_care": ("SocialCareSection", "Records from the council's adult social care service."),
    "housing": ("HousingSection", "Records from the housing authority or landlord."),
    "education": ("EducationSection", "Records from schools and the education service."),
    # Pilot record sets (one block; mirrored in config/catalogue/pilots.toml).
    "childrens_services": (
        "ChildrensServicesSection",
        "Records from the council's children's services.",
    ),
}

RECORD_SETS: tuple[RecordSetSpec, ...] = (
    _rs(
        "demographics",
        "Demographics",
        section=None,
        graphql_field="demographics",
        many=False,
        owner="the agency ranked first for demographics among those that hold the person",
        description="Who the person is, as the most authoritative agency holding them records it.",
        items=[
            ("nhs_number", S, "NHS number (10 digits)."),
            ("given_name", S, "Given name."),
            ("family_name", S, "Family name."),
            ("date_of_birth", D, "Date of birth."),
            ("gender", S, "Gender as recorded."),
            ("address", S, "Home address, one line."),
            ("postcode", S, "Postcode of the home address."),
            ("phone", S, "Contact telephone number."),
        ],
    ),
    _rs(
        "involvement",
        "Involvement",
        section=None,
        graphql_field="involvements",
        many=False,
        owner="each involved agency",
        description="An agency's current involvement with the person: who else is involved.",
        items=[
            ("team", S, "The team holding the case."),
            ("worker", S, "The named worker or clinician."),
            ("role", S, "The worker's role, e.g. social worker, district nurse."),
            ("since", D, "When the involvement began."),
            ("status", S, "open or closed."),
        ],
    ),
    _rs(
        "alerts",
        "Alert",
        section=None,
        graphql_field="alerts",
        many=True,
        owner="each involved agency",
        description="A risk flag raised by an agency.",
        items=[
            ("category", S, "What the risk is about, e.g. falls, lone working, self-neglect."),
            ("severity", S, "low, medium or high."),
            ("raised_on", D, "When the alert was raised."),
            ("summary", S, "What a practitioner needs to know."),
        ],
    ),
    _rs(
        "assessments",
        "Assessment",
        section=None,
        graphql_field="assessments",
        many=True,
        owner="each involved agency",
        description="An assessment completed by an agency (single assessment overview and others).",
        items=[
            ("kind", S, "The assessment, e.g. care needs, falls risk, housing needs."),
            ("completed_on", D, "When it was completed."),
            ("assessor", S, "Who completed it."),
            ("summary", S, "The overview summary."),
            ("outcome", S, "What was decided."),
        ],
    ),
    _rs(
        "timeline",
        "TimelineEvent",
        section=None,
        graphql_field="timeline",
        many=True,
        owner="each involved agency",
        description="An intervention or contact in the chronological multi-agency record.",
        items=[
            ("occurred_on", D, "When it happened."),
            ("kind", S, "visit, appointment, review, referral, admission, ..."),
            ("summary", S, "What happened."),
            ("practitioner", S, "Who was involved."),
        ],
        date_field="occurred_on",
    ),
    _rs(
        "gp_registration",
        "GpRegistration",
        section="health",
        graphql_field="gpRegistrations",
        many=False,
        owner="the GP practice",
        description="The person's registration with a GP practice.",
        items=[
            ("practice", S, "The practice name."),
            ("usual_gp", S, "The usual GP."),
            ("registered_on", D, "When the person registered."),
        ],
    ),
    _rs(
        "conditions",
        "Condition",
        section="health",
        graphql_field="conditions",
        many=True,
        owner="the GP practice",
        description="A problem or diagnosis on the GP record.",
        items=[
            ("name", S, "The condition."),
            ("code", S, "SNOMED CT concept id."),
            ("onset", D, "When it began."),
            ("status", S, "active or resolved."),
        ],
    ),
    _rs(
        "medications",
        "Medication",
        section="health",
        graphql_field="medications",
        many=True,
        owner="the GP practice",
        description="A current repeat or acute medication.",
        items=[
            ("name", S, "The medicine."),
            ("dose", S, "Dose and frequency."),
            ("started_on", D, "When it was first prescribed."),
        ],
    ),
    _rs(
        "allergies",
        "Allergy",
        section="health",
        graphql_field="allergies",
        many=True,
        owner="the GP practice",
        description="An allergy or adverse reaction.",
        items=[
            ("substance", S, "What the person reacts to."),
            ("reaction", S, "The reaction."),
        ],
    ),
    _rs(
        "community_episodes",
        "CommunityEpisode",
        section="health",
        graphql_field="communityEpisodes",
        many=True,
        owner="the community health NHS trust",
        description="An episode of care from a community health service.",
        items=[
            ("service", S, "District nursing, physiotherapy, community mental health, ..."),
            ("clinician", S, "The lead clinician."),
            ("started_on", D, "When the episode began."),
            ("ended_on", D, "When it ended, if it has."),
            ("next_visit", D, "The next planned visit."),
        ],
    ),
    _rs(
        "social_care_cases",
        "SocialCareCase",
        section="social_care",
        graphql_field="cases",
        many=False,
        owner="the council's adult social care service",
        description="The council's case about the person.",
        items=[
            ("status", S, "open, on review or closed."),
            ("primary_need", S, "Primary support reason."),
            ("eligible", B, "Whether the person has eligible needs under the Care Act."),
            ("review_due", D, "When the next review is due."),
        ],
    ),
    _rs(
        "care_packages",
        "CarePackage",
        section="social_care",
        graphql_field="carePackages",
        many=True,
        owner="the council's adult social care service",
        description="A service arranged for the person.",
        items=[
            ("service", S, "Home care, day centre, meals, ..."),
            ("provider", S, "Who provides it."),
            ("hours_per_week", F, "Planned hours per week."),
            ("started_on", D, "When it started."),
        ],
    ),
    _rs(
        "tenancies",
        "Tenancy",
        section="housing",
        graphql_field="tenancies",
        many=True,
        owner="the housing authority or landlord",
        description="A tenancy held by the person.",
        items=[
            ("address", S, "The property's address."),
            ("tenure", S, "secure, assured, temporary, ..."),
            ("landlord", S, "The landlord."),
            ("started_on", D, "When the tenancy began."),
            ("rent_arrears_weeks", N, "Weeks of rent arrears."),
        ],
    ),
    _rs(
        "adaptations",
        "Adaptation",
        section="housing",
        graphql_field="adaptations",
        many=True,
        owner="the housing authority or landlord",
        description="A home adaptation (rails, ramps, level-access shower, ...).",
        items=[
            ("kind", S, "The adaptation."),
            ("status", S, "requested, approved or completed."),
            ("completed_on", D, "When it was completed."),
        ],
    ),
    _rs(
        "enrolments",
        "Enrolment",
        section="education",
        graphql_field="enrolments",
        many=True,
        owner="the school",
        description="A school enrolment.",
        items=[
            ("school", S, "The school."),
            ("year_group", S, "The year group."),
            ("started_on", D, "When the enrolment began."),
            ("attendance_percent", F, "Attendance this school year."),
        ],
    ),
    _rs(
        "special_needs",
        "SpecialNeeds",
        section="education",
        graphql_field="specialNeeds",
        many=False,
        owner="the school or the local authority's SEND service",
        description="Special educational needs and disability support.",
        items=[
            ("ehcp", B, "Whether the child has an education, health and care plan."),
            ("primary_need", S, "Primary area of need."),
            ("review_due", D, "When the plan is next reviewed."),
        ],
    ),
    # --- the FAME pilots' record sets (mirrored in config/catalogue/pilots.toml) ---------
    _rs(
        "child_protection_plans",
        "ChildProtectionPlan",
        section="childrens_services",
        graphql_field="childProtectionPlans",
        many=True,
        owner="the council's children's services",
        description="A child protection plan.",
        items=[
            ("category", S, "Category: neglect, physical, emotional or sexual abuse."),
            ("started_on", D, "When the plan started."),
            ("review_due", D, "When the next review conference is due."),
            ("key_worker", S, "The child's social worker, who leads the plan."),
        ],
        date_field="started_on",
    ),
    _rs(
        "childrens_cases",
        "ChildrensCase",
        section="childrens_services",
        graphql_field="cases",
        many=False,
        owner="the council's children's services",
        description="The council's children's social care case about the child.",
        items=[
            ("status", S, "open or closed."),
            ("plan", S, "The plan in place: early help, child in need or child protection."),
            ("reason", S, "Why the council is involved (disability, abuse or neglect, ...)."),
            ("opened_on", D, "When the case was opened."),
        ],
    ),
    _rs(
        "concerns",
        "Concern",
        section=None,
        graphql_field="concerns",
        many=True,
        owner="the agency that received or raised the concern",
        description="A concern raised about a child: who raised it, when and what was done.",
        items=[
            ("raised_on", D, "When the concern was raised."),
            ("raised_by", S, "Who raised it (agency and role)."),
            ("category", S, "neglect, physical, emotional, sexual, domestic abuse, ..."),
            ("summary", S, "What was seen or heard."),
            ("action", S, "What was done about it."),
        ],
        date_field="raised_on",
    ),
    _rs(
        "benefit_claims",
        "BenefitClaim",
        section="housing",
        graphql_field="benefitClaims",
        many=True,
        owner="the council's housing benefit service",
        description="A housing benefit claim and where it stands.",
        items=[
            ("benefit", S, "The benefit claimed, e.g. housing benefit."),
            ("status", S, "assessing, awarded, suspended or ended."),
            ("weekly_amount", F, "The weekly award in pounds, when awarded."),
            ("submitted_on", D, "When the claim was made."),
            ("decided_on", D, "When the latest decision was made."),
        ],
        date_field="submitted_on",
    ),
    _rs(
        "ed_attendances",
        "EmergencyAttendance",
        section="health",
        graphql_field="emergencyAttendances",
        many=True,
        owner="the acute trust's emergency department",
        description="An attendance at an emergency department.",
        items=[
            ("arrived_on", D, "When the person arrived."),
            ("reason", S, "Why they came (presenting complaint)."),
            ("clinician", S, "The clinician who saw them."),
            ("outcome", S, "Discharged, admitted, referred, ..."),
        ],
        date_field="arrived_on",
    ),
    _rs(
        "therapy_plans",
        "TherapyPlan",
        section="health",
        graphql_field="therapyPlans",
        many=True,
        owner="the community health NHS trust's therapists",
        description="A therapy programme (occupational, physio, speech and language therapy).",
        items=[
            ("therapy", S, "The therapy."),
            ("therapist", S, "The therapist."),
            ("goals", S, "What the programme works towards."),
            ("next_review", D, "When the programme is next reviewed."),
        ],
    ),
    _rs(
        "assessment_domains",
        "AssessmentDomain",
        section=None,
        graphql_field="assessmentDomains",
        many=True,
        owner="each agency contributing to the single assessment",
        description="One domain of a single assessment, as the agency assessing it recorded it.",
        items=[
            ("domain", S, "The domain: physical health, personal care, accommodation, ..."),
            ("summary", S, "What the assessor found."),
            ("needs", S, "The needs it leads to."),
            ("assessor", S, "Who assessed it."),
            ("assessed_on", D, "When it was assessed."),
        ],
        date_field="assessed_on",
    ),
    _rs(
        "address_history",
        "AddressHistory",
        section=None,
        graphql_field="addressHistory",
        many=True,
        owner="the GP practice",
        description="An address the person has lived at, and when.",
        items=[
            ("address", S, "The address, one line."),
            ("postcode", S, "Its postcode."),
            ("moved_in", D, "When the person moved in."),
            ("moved_out", D, "When the person moved out, if they have."),
        ],
        date_field="moved_in",
    ),
)

RECORD_SETS_BY_NAME: Mapping[str, RecordSetSpec] = {rs.name: rs for rs in RECORD_SETS}
ITEMS: Mapping[str, ItemSpec] = {item.name: item for rs in RECORD_SETS for item in rs.items}


def record_set_of(item: str) -> str:
    """The record set an item name belongs to (the part before the dot)."""
    return item.partition(".")[0]
