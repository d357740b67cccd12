"""The demo's sample practitioners, one or two per agency (all synthetic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Practitioner:
    """A sample practitioner the demo can mint a token for."""

    id: str
    name: str
    agency: str
    team: str
    roles: tuple[str, ...]


PRACTITIONERS: tuple[Practitioner, ...] = (
    Practitioner(
        "sw-patel",
        "Priya Patel",
        "shire-adult-social-care",
        "Older People's Team (North)",
        ("social_worker",),
    ),
    Practitioner(
        "sw-carver",
        "Ben Carver",
        "shire-adult-social-care",
        "Mental Health Social Work Team",
        ("social_worker",),
    ),
    Practitioner(
        "dn-hughes",
        "Gareth Hughes",
        "shire-community-health",
        "District Nursing (Shirebridge)",
        ("nurse",),
    ),
    Practitioner(
        "cpn-taylor",
        "Chris Taylor",
        "shire-community-health",
        "Adult Community Mental Health Team",
        ("nurse",),
    ),
    Practitioner(
        "sn-pemberton",
        "Kate Pemberton",
        "shire-community-health",
        "School Nursing (Wrekinton)",
        ("nurse",),
    ),
    Practitioner(
        "ho-evans", "Megan Evans", "shire-housing", "Tenancy Sustainment Team", ("housing_officer",)
    ),
    Practitioner("dr-okafor", "Dr Ada Okafor", "riverside-gp", "riverside-gp", ("gp",)),
    Practitioner("dr-lewis", "Dr Tom Lewis", "oakfield-gp", "oakfield-gp", ("gp",)),
    Practitioner(
        "cg-morgan",
        "Sian Morgan",
        "shire-adult-social-care",
        "Information Governance",
        ("caldicott_guardian",),
    ),
    Practitioner(
        "cg-brennan",
        "Dr Aoife Brennan",
        "riverside-gp",
        "Information Governance",
        ("caldicott_guardian",),
    ),
    # The pilots' second council, children's services, emergency department and school.
    Practitioner(
        "csw-ahmed",
        "Nadia Ahmed",
        "shire-childrens-services",
        "Child Protection Team",
        ("social_worker",),
    ),
    Practitioner(
        "csw-okoro",
        "Grace Okoro",
        "wrekin-childrens-services",
        "Safeguarding and Family Support (Wrekin)",
        ("social_worker",),
    ),
    Practitioner(
        "sw-dale",
        "Rachel Dale",
        "wrekin-adult-social-care",
        "Community Mental Health Social Work (Wrekin)",
        ("social_worker",),
    ),
    Practitioner(
        "ot-rees",
        "Carys Rees",
        "shire-community-health",
        "Children's Therapy Team",
        ("occupational_therapist",),
    ),
    Practitioner(
        "ed-singh",
        "Dr Arjun Singh",
        "severn-valley-ed",
        "Emergency Department",
        ("hospital_clinician",),
    ),
    Practitioner(
        "senco-barnes",
        "Lydia Barnes",
        "severnford-school",
        "severnford-school",
        ("education_officer",),
    ),
    Practitioner(
        "cg-hale",
        "Martin Hale",
        "shire-childrens-services",
        "Information Governance",
        ("caldicott_guardian",),
    ),
)


def practitioner(practitioner_id: str) -> Practitioner:
    """The sample practitioner with this id; the error lists the ids there are."""
    for candidate in PRACTITIONERS:
        if candidate.id == practitioner_id:
            return candidate
    known = ", ".join(p.id for p in PRACTITIONERS)
    raise KeyError(f"no sample practitioner {practitioner_id!r}; choose one of: {known}")
