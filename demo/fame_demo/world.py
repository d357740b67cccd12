"""The demo world: Shire's base population and, after it, the cast of the FAME pilots.

The base population (:func:`fame_demo.synthetic.generate_population`) is one council's:
adult social care, housing, a community trust and two GP practices. The pilots need
more, so the cast is drawn here from a random stream of its own, leaving every base
person exactly as they were:

- a man with mental health needs who moved from Shire to Wrekin (his Shire case closed,
  a Wrekin case opened, his address history at the practice) and was admitted through
  the emergency department;
- a child on a Shire child protection plan who attends the emergency department in
  Wrekin's area;
- a disabled child with a virtual team: therapists, the school and Shire's children
  with disabilities team;
- a child at risk in Wrekin about whom the school, the police and the GP raised concerns;
- a tenant claiming housing benefit, supported by a mental health social worker;
- a parent for each child, who gives or refuses consent for them.

Every record set a cast member's agencies hold is written here, as rows keyed by
catalogue field like the base population's.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    AGENCY_IDS,
    AGENCY_NAMES,
    COMMUNITY_HEALTH,
    EMERGENCY_DEPARTMENT,
    HOUSING,
    LOCAL_ID_FORMATS,
    OAKFIELD_GP,
    REFERENCE_DATE,
    RIVERSIDE_GP,
    SCHOOL,
    SHIRE_CHILDRENS,
    WREKIN_ADULT_SOCIAL_CARE,
    WREKIN_CHILDRENS,
    Band,
    Population,
    Row,
    SyntheticPerson,
    _Builder,
    _Draft,
    _Records,
    _Staff,
    generate_population,
)

#: The parts of the pilots' stories, as :attr:`Population.cast` names them.
MOVED_BETWEEN_COUNCILS = "moved_between_councils"
CHILD_PROTECTION_PLAN = "child_protection_plan"
DISABLED_CHILD = "disabled_child"
CHILD_AT_RISK = "child_at_risk"
HOUSING_BENEFIT_CLAIMANT = "housing_benefit_claimant"
PARENT = "parent"
SINGLE_ASSESSMENT = "single_assessment"

#: Every agency's local identifier format: the base world's, and the new agencies' here.
_LOCAL_ID_FORMATS: Mapping[str, tuple[str, int, int]] = {
    **LOCAL_ID_FORMATS,
    SHIRE_CHILDRENS: ("SCS-{:06d}", 100000, 999999),
    WREKIN_ADULT_SOCIAL_CARE: ("WAS{:07d}", 1000000, 9999999),
    WREKIN_CHILDRENS: ("WCS/{:05d}", 10000, 99999),
    EMERGENCY_DEPARTMENT: ("SVH{:07d}", 1000000, 9999999),
    SCHOOL: ("P{:06d}", 100000, 999999),
}

# Staff of the new agencies (all invented).
CHILD_PROTECTION_TEAM = "Child Protection Team"
DISABILITIES_TEAM = "Children with Disabilities Team"
WREKIN_SAFEGUARDING_TEAM = "Safeguarding and Family Support (Wrekin)"
WREKIN_MENTAL_HEALTH_TEAM = "Community Mental Health Social Work (Wrekin)"
ED_TEAM = "Emergency Department"
_SHIRE_CSW = _Staff("Nadia Ahmed", "Social worker")
_SHIRE_DISABILITY_SW = _Staff("Owen Pryce", "Social worker")
_WREKIN_CSW = _Staff("Grace Okoro", "Social worker")
_WREKIN_MHSW = _Staff("Rachel Dale", "Approved mental health professional")
_ED_DOCTOR = _Staff("Dr Arjun Singh", "Emergency medicine consultant")
_SENCO = _Staff("Lydia Barnes", "SENCo")
_DSL = _Staff("Tom Adey", "Designated safeguarding lead")
_OT = _Staff("Carys Rees", "Paediatric occupational therapist")
_PHYSIO = _Staff("Tom Birch", "Paediatric physiotherapist")

# Shire's towns (SY) and Wrekin's (TF); the base population predates the second council.
_SHIRE_HOME = ("Shirebridge", "SY2")
_WREKIN_HOME = ("Wrekinton", "TF1")


@dataclass
class _Member:
    """A cast member while the world is built: their draft and each agency's record sets."""

    draft: _Draft
    parts: list[str]
    records: dict[str, dict[str, tuple[Row, ...]]]


def generate_world(seed: int = 2003, size: int = 24, *, as_of: date = REFERENCE_DATE) -> Population:
    """The base population of ``size`` people with the pilots' cast after them."""
    base = generate_population(seed, size, as_of=as_of)
    return _Cast(base, random.Random(f"fame-pilots-{seed}")).population()


class _Cast:
    """Draws the cast from its own seeded stream, in a fixed order."""

    def __init__(self, base: Population, rng: random.Random) -> None:
        self.base = base
        self.as_of = base.as_of
        self.b = _Builder(rng, base.as_of)
        # Nobody in the cast may share an NHS number, a name or a phone with the base.
        self.b._nhs_numbers.update(p.nhs_number for p in base.people)
        self.b._names.update((p.given_name, p.family_name) for p in base.people)
        self.b._phones.update(p.phone for p in base.people)
        self.rng = rng
        self.r = _Records(self.b)
        self.members: list[_Member] = []
        self.parents: dict[str, tuple[str, ...]] = {}

    # -- people -----------------------------------------------------------------------------

    def _draft(
        self, band: Band, needs: set[str], gp: str, *, age: tuple[int, int] | None = None
    ) -> _Draft:
        draft = self.b.person(len(self.base.people) + len(self.members), band)
        if age is not None:
            years = self.rng.randint(*age)
            born = self.as_of - timedelta(days=years * 365 + years // 4 + self.rng.randint(0, 300))
            draft.person = dataclasses.replace(draft.person, date_of_birth=born)
        draft.needs = set(needs)
        draft.gp = gp
        draft.sheltered = False
        return draft

    def _housed(self, draft: _Draft, home: tuple[str, str]) -> None:
        town, outward = home
        street = self.rng.choice(("Foundry Street", "Orchard Way", "Kiln Lane", "Chapel Walk"))
        letters = "".join(self.rng.choice("ABDEFGHJLNPQRSTUWXYZ") for _ in range(2))
        draft.person = dataclasses.replace(
            draft.person,
            address=f"{self.rng.randint(1, 90)} {street}, {town}",
            postcode=f"{outward} {self.rng.randint(1, 9)}{letters}",
        )

    def _member(self, draft: _Draft, part: str) -> _Member:
        member = _Member(draft, [part], {})
        self.members.append(member)
        return member

    def _parent_of(self, child: _Member) -> _Member:
        """A parent at the child's address, registered at the child's practice."""
        draft = self._draft("working", {"asthma"}, child.draft.gp)
        person = child.draft.person
        family = dataclasses.replace(
            draft.person,
            family_name=person.family_name,
            address=person.address,
            postcode=person.postcode,
        )
        if (family.given_name, family.family_name) in self.b._names:
            family = dataclasses.replace(family, given_name=f"{family.given_name} Jane")
        self.b._names.add((family.given_name, family.family_name))
        draft.person = family
        parent = self._member(draft, PARENT)
        parent.records[draft.gp] = self.r.gp(draft)
        self.parents[person.nhs_number] = (family.nhs_number,)
        return parent

    # -- the cast ---------------------------------------------------------------------------

    def population(self) -> Population:
        """Build every cast member, then the population with them after the base."""
        self._mover()
        self._child_on_a_plan()
        self._disabled_child()
        self._child_at_risk()
        self._claimant()
        return self._merged()

    def _mover(self) -> None:
        draft = self._draft("working", {"mental_health", "depression"}, OAKFIELD_GP)
        self._housed(draft, _SHIRE_HOME)
        old = draft.person
        self._housed(draft, _WREKIN_HOME)
        new = draft.person
        member = self._member(draft, MOVED_BETWEEN_COUNCILS)
        moved_on = self.b.days_ago(90, 100)
        admitted_on = moved_on + timedelta(days=self.rng.randint(40, 55))
        first_known = self.b.days_ago(700, 900)

        gp = self.r.gp(draft)
        gp["address_history"] = (
            {
                "address": old.address,
                "postcode": old.postcode,
                "moved_in": first_known,
                "moved_out": moved_on,
            },
            {
                "address": new.address,
                "postcode": new.postcode,
                "moved_in": moved_on,
                "moved_out": None,
            },
        )
        member.records[OAKFIELD_GP] = gp
        member.records[COMMUNITY_HEALTH] = self.r.community_health(draft)

        shire_worker = _Staff("Ben Carver", "Social worker")
        member.records[ADULT_SOCIAL_CARE] = {
            "demographics": (self._demographics(old),),
            "involvement": (
                self.r.involvement(
                    "Mental Health Social Work Team", shire_worker, first_known, "closed"
                ),
            ),
            "alerts": (),
            "assessments": (),
            "timeline": (
                self._event(first_known, "referral", "Referral from GP: low mood, not coping "
                            "with bills.", "Duty team"),
                self._event(first_known + timedelta(days=20), "home visit",
                            "Assessment visit; care plan agreed with CMHT.", shire_worker.name),
                self._event(moved_on - timedelta(days=30), "review",
                            "Review: plans to move to Wrekinton to be near his sister.",
                            shire_worker.name),
                self._event(moved_on + timedelta(days=3), "transfer",
                            "Case closed: moved to Wrekin; case summary sent to Wrekin "
                            "Council's mental health social work team.", shire_worker.name),
            ),
            "social_care_cases": (
                {"status": "closed", "primary_need": "Mental health support",
                 "eligible": False, "review_due": None},
            ),
            "care_packages": (),
            "assessment_domains": (),
        }  # fmt: skip
        opened = moved_on + timedelta(days=7)
        member.records[WREKIN_ADULT_SOCIAL_CARE] = {
            "demographics": (self._demographics(new),),
            "involvement": (
                self.r.involvement(WREKIN_MENTAL_HEALTH_TEAM, _WREKIN_MHSW, opened, "open"),
            ),
            "alerts": (),
            "timeline": (
                self._event(opened, "transfer", "Case received from Shire Council; "
                            "allocated to the community mental health social work team.",
                            _WREKIN_MHSW.name),
                self._event(admitted_on + timedelta(days=2), "hospital visit",
                            "Visited on Ward 7 after admission; discharge planning begun.",
                            _WREKIN_MHSW.name),
            ),
            "social_care_cases": (
                {"status": "open", "primary_need": "Mental health support", "eligible": True,
                 "review_due": self.b.days_ahead(20, 60)},
            ),
            "care_packages": (
                {"service": "Community support (mental health recovery)",
                 "provider": "Wrekin Recovery Partnership", "hours_per_week": 6.0,
                 "started_on": opened + timedelta(days=14)},
            ),
        }  # fmt: skip
        member.records[EMERGENCY_DEPARTMENT] = self._attendance(
            draft.person,
            admitted_on,
            "Mental health crisis: low mood with thoughts of self-harm",
            "Admitted to Ward 7 (adult acute mental health)",
            "closed",
            ("admission", "Admitted to Ward 7 under the mental health team."),
        )

    def _child_on_a_plan(self) -> None:
        draft = self._draft("child", {"asthma"}, RIVERSIDE_GP, age=(5, 8))
        self._housed(draft, _SHIRE_HOME)
        child = self._member(draft, CHILD_PROTECTION_PLAN)
        parent = self._parent_of(child)
        opened = self.b.days_ago(200, 260)
        plan_started = opened + timedelta(days=self.rng.randint(20, 40))
        child.records[RIVERSIDE_GP] = self.r.gp(draft)
        child.records[COMMUNITY_HEALTH] = self.r.community_health(draft)
        child.records[SHIRE_CHILDRENS] = {
            "demographics": (self._demographics(draft.person),),
            "involvement": (
                self.r.involvement(CHILD_PROTECTION_TEAM, _SHIRE_CSW, opened, "open"),
            ),
            "alerts": (
                {"category": "child protection", "severity": "high", "raised_on": plan_started,
                 "summary": "Subject of a child protection plan (neglect). On any attendance "
                 "or concern, call Shire children's services duty team on 01632 960000."},
            ),
            "timeline": (
                self._event(opened, "referral", "Referral from the health visitor: home "
                            "conditions poor, child often unwashed.", "Duty team"),
                self._event(opened + timedelta(days=10), "strategy discussion",
                            "Strategy discussion with police and health: section 47 "
                            "enquiry.", _SHIRE_CSW.name),
                self._event(plan_started, "conference", "Initial child protection "
                            "conference: plan made under the category of neglect.",
                            _SHIRE_CSW.name),
                self._event(plan_started + timedelta(days=40), "home visit",
                            f"Visit with {parent.draft.person.given_name}: core group "
                            "actions reviewed.", _SHIRE_CSW.name),
            ),
            "childrens_cases": (
                {"status": "open", "plan": "Child protection plan",
                 "reason": "Abuse or neglect", "opened_on": opened},
            ),
            "child_protection_plans": (
                {"category": "neglect", "started_on": plan_started,
                 "review_due": self.b.days_ahead(15, 60), "key_worker": _SHIRE_CSW.name},
            ),
            "concerns": (
                {"raised_on": opened, "raised_by": "Shire Community Health (health visitor)",
                 "category": "neglect", "summary": "Home conditions poor; child often "
                 "unwashed and hungry at nursery.", "action": "Section 47 enquiry"},
            ),
        }  # fmt: skip
        # Attending today, at the hospital in Wrekin's area.
        child.records[EMERGENCY_DEPARTMENT] = self._attendance(
            draft.person,
            self.as_of,
            "Head injury: fell from a bunk bed, per parent",
            "Under observation in the children's emergency department",
            "open",
            None,
        )

    def _disabled_child(self) -> None:
        draft = self._draft("child", {"cerebral_palsy", "epilepsy"}, OAKFIELD_GP, age=(8, 11))
        self._housed(draft, ("Severnford", "SY4"))
        child = self._member(draft, DISABLED_CHILD)
        self._parent_of(child)
        opened = self.b.days_ago(400, 700)
        therapy_start = self.b.days_ago(300, 500)
        child.records[OAKFIELD_GP] = self.r.gp(draft)
        child.records[COMMUNITY_HEALTH] = {
            "involvement": (self.r.involvement("Children's Therapy Team", _OT, therapy_start,
                                               "open"),),
            "alerts": (),
            "assessments": (
                {"kind": "Occupational therapy assessment", "completed_on": therapy_start,
                 "assessor": _OT.name, "summary": "Needs supported seating and adapted "
                 "equipment for writing and eating.", "outcome": "Therapy programme agreed "
                 "with parents and school."},
            ),
            "timeline": (
                self._event(therapy_start, "assessment", "Occupational therapy assessment "
                            "at home with parents.", _OT.name),
                self._event(self.b.days_ago(20, 60), "school visit", "Therapy session at "
                            "school; seating reviewed with the SENCo.", _OT.name),
                self._event(self.b.days_ago(5, 19), "clinic", "Physiotherapy review: "
                            "standing frame tolerated 40 minutes.", _PHYSIO.name),
            ),
            "community_episodes": (
                {"service": "Children's therapy", "clinician": _OT.name,
                 "started_on": therapy_start, "ended_on": None,
                 "next_visit": self.b.days_ahead(3, 14)},
            ),
            "therapy_plans": (
                {"therapy": "Occupational therapy", "therapist": _OT.name,
                 "goals": "Independent seated writing with a sloped board and adapted "
                 "cutlery at lunch.", "next_review": self.b.days_ahead(30, 90)},
                {"therapy": "Physiotherapy", "therapist": _PHYSIO.name,
                 "goals": "Standing frame twice a day at home and school; stretches each "
                 "evening.", "next_review": self.b.days_ahead(30, 90)},
            ),
        }  # fmt: skip
        child.records[SHIRE_CHILDRENS] = {
            "demographics": (self._demographics(draft.person),),
            "involvement": (
                self.r.involvement(DISABILITIES_TEAM, _SHIRE_DISABILITY_SW, opened, "open"),
            ),
            "alerts": (),
            "timeline": (
                self._event(opened, "assessment", "Child and family assessment: eligible "
                            "for short breaks.", _SHIRE_DISABILITY_SW.name),
                self._event(self.b.days_ago(30, 90), "review", "Child in need review with "
                            "parents, school and therapists.", _SHIRE_DISABILITY_SW.name),
            ),
            "childrens_cases": (
                {"status": "open", "plan": "Child in need plan", "reason": "Disability",
                 "opened_on": opened},
            ),
            "child_protection_plans": (),
            "concerns": (),
        }  # fmt: skip
        child.records[SCHOOL] = self._school(
            draft,
            "Year 5",
            91.4,
            {"ehcp": True, "primary_need": "Physical disability",
             "review_due": self.b.days_ahead(40, 120)},
            (),
        )  # fmt: skip

    def _child_at_risk(self) -> None:
        draft = self._draft("child", {"asthma"}, OAKFIELD_GP, age=(11, 13))
        self._housed(draft, _WREKIN_HOME)
        child = self._member(draft, CHILD_AT_RISK)
        self._parent_of(child)
        first = self.b.days_ago(110, 140)
        police = first + timedelta(days=self.rng.randint(40, 60))
        gp_seen = police + timedelta(days=self.rng.randint(15, 30))
        child.records[OAKFIELD_GP] = self.r.gp(draft)
        child.records[COMMUNITY_HEALTH] = self.r.community_health(draft)
        child.records[WREKIN_CHILDRENS] = {
            "demographics": (self._demographics(draft.person),),
            "involvement": (
                self.r.involvement(WREKIN_SAFEGUARDING_TEAM, _WREKIN_CSW, first, "open"),
            ),
            "alerts": (
                {"category": "domestic abuse", "severity": "high", "raised_on": police,
                 "summary": "Domestic abuse at home: do not discuss concerns in front of "
                 "the mother's partner."},
            ),
            "timeline": (
                self._event(first + timedelta(days=2), "early help",
                            "Early help assessment agreed with the family.", _WREKIN_CSW.name),
                self._event(police + timedelta(days=1), "strategy discussion",
                            "Strategy discussion after the police notification: child "
                            "and family assessment begun.", _WREKIN_CSW.name),
            ),
            "childrens_cases": (
                {"status": "open", "plan": "Child in need plan",
                 "reason": "Family in acute stress", "opened_on": first},
            ),
            "child_protection_plans": (),
            "concerns": (
                {"raised_on": first, "raised_by": f"{AGENCY_NAMES[SCHOOL]} (designated "
                 "safeguarding lead)", "category": "neglect", "summary": "Arrives hungry, "
                 "uniform unwashed; attendance falling.", "action": "Early help assessment "
                 "offered; parent agreed."},
                {"raised_on": police, "raised_by": "West Mercia Police (notification)",
                 "category": "domestic abuse", "summary": "Police called to a domestic "
                 "incident at the home; the child was present.", "action": "Strategy "
                 "discussion; child and family assessment."},
                {"raised_on": gp_seen, "raised_by": f"{AGENCY_NAMES[OAKFIELD_GP]} (GP)",
                 "category": "neglect", "summary": "Missed immunisations and two missed "
                 "appointments for asthma.", "action": "Added to the assessment."},
            ),
        }  # fmt: skip
        child.records[SCHOOL] = self._school(
            draft,
            "Year 8",
            78.2,
            None,
            (
                {"raised_on": first - timedelta(days=9), "raised_by": "Form tutor",
                 "category": "neglect", "summary": "Hungry at breakfast club most days.",
                 "action": "Logged; designated safeguarding lead told."},
                {"raised_on": first, "raised_by": _DSL.role, "category": "neglect",
                 "summary": "Attendance down to 78%; uniform unwashed.",
                 "action": "Referred to Wrekin children's services."},
            ),
        )  # fmt: skip

    def _claimant(self) -> None:
        draft = self._draft("working", {"mental_health", "depression", "arrears"}, RIVERSIDE_GP)
        self._housed(draft, _SHIRE_HOME)
        member = self._member(draft, HOUSING_BENEFIT_CLAIMANT)
        member.records[RIVERSIDE_GP] = self.r.gp(draft)
        member.records[ADULT_SOCIAL_CARE] = self.r.adult_social_care(draft)
        housing = self.r.housing(draft)
        housing["benefit_claims"] = (
            {"benefit": "Housing Benefit", "status": "suspended", "weekly_amount": None,
             "submitted_on": self.b.days_ago(500, 700), "decided_on": self.b.days_ago(30, 45)},
            {"benefit": "Council Tax Reduction", "status": "awarded", "weekly_amount": 18.4,
             "submitted_on": self.b.days_ago(500, 700), "decided_on": self.b.days_ago(60, 90)},
        )  # fmt: skip
        member.records[HOUSING] = housing

    # -- record helpers ---------------------------------------------------------------------

    def _demographics(self, person: SyntheticPerson) -> Row:
        return {
            "nhs_number": person.nhs_number,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "date_of_birth": person.date_of_birth,
            "gender": person.gender,
            "address": person.address,
            "postcode": person.postcode,
            "phone": person.phone,
        }

    @staticmethod
    def _event(on: date, kind: str, summary: str, practitioner: str) -> Row:
        return {"occurred_on": on, "kind": kind, "summary": summary, "practitioner": practitioner}

    def _attendance(
        self,
        person: SyntheticPerson,
        arrived: date,
        reason: str,
        outcome: str,
        status: str,
        then: tuple[str, str] | None,
    ) -> dict[str, tuple[Row, ...]]:
        # One timeline event per attendance, as the department's FHIR server holds one
        # Encounter per attendance; an admission from the department is told in the same
        # event (``then``: its kind and what followed).
        kind = "attendance"
        summary = f"Seen in the emergency department: {reason[0].lower()}{reason[1:]}."
        if then is not None:
            kind, summary = then[0], f"{summary} {then[1]}"
        return {
            "demographics": (self._demographics(person),),
            "involvement": (self.r.involvement(ED_TEAM, _ED_DOCTOR, arrived, status),),
            "timeline": (self._event(arrived, kind, summary, _ED_DOCTOR.name),),
            "ed_attendances": (
                {
                    "arrived_on": arrived,
                    "reason": reason,
                    "clinician": _ED_DOCTOR.name,
                    "outcome": outcome,
                },
            ),
        }

    def _school(
        self,
        draft: _Draft,
        year_group: str,
        attendance: float,
        special_needs: Row | None,
        concerns: tuple[Row, ...],
    ) -> dict[str, tuple[Row, ...]]:
        person = draft.person
        demographics = self._demographics(person)
        del demographics["nhs_number"]  # schools know pupils by their own reference
        staff = _SENCO if special_needs is not None else _DSL
        started = self.b.days_ago(250, 600)
        return {
            "demographics": (demographics,),
            "involvement": (self.r.involvement(AGENCY_NAMES[SCHOOL], staff, started, "open"),),
            "enrolments": (
                {
                    "school": AGENCY_NAMES[SCHOOL],
                    "year_group": year_group,
                    "started_on": started,
                    "attendance_percent": attendance,
                },
            ),
            "special_needs": (special_needs,) if special_needs is not None else (),
            "concerns": concerns,
        }

    # -- the merged population --------------------------------------------------------------

    def _merged(self) -> Population:
        base = self.base
        local_ids = {agency: dict(base.local_ids.get(agency, {})) for agency in AGENCY_IDS}
        records = {
            agency: {k: dict(v) for k, v in base.records.get(agency, {}).items()}
            for agency in AGENCY_IDS
        }
        for agency in AGENCY_IDS:
            members = [m for m in self.members if agency in m.records]
            pattern, low, high = _LOCAL_ID_FORMATS[agency]
            taken = set(local_ids[agency].values())
            for member in members:
                while True:
                    local_id = pattern.format(self.rng.randint(low, high))
                    if local_id not in taken:
                        break
                taken.add(local_id)
                local_ids[agency][member.draft.person.nhs_number] = local_id
                records[agency][local_id] = member.records[agency]
        cast: dict[str, tuple[str, ...]] = dict(base.cast)
        for member in self.members:
            for part in member.parts:
                cast[part] = (*cast.get(part, ()), member.draft.person.nhs_number)
        freeze: Callable[[dict[str, tuple[Row, ...]]], Mapping[str, tuple[Row, ...]]] = (
            MappingProxyType
        )
        return Population(
            seed=base.seed,
            as_of=base.as_of,
            people=(*base.people, *(m.draft.person for m in self.members)),
            local_ids=MappingProxyType({a: MappingProxyType(i) for a, i in local_ids.items()}),
            records=MappingProxyType(
                {
                    a: MappingProxyType({k: freeze(v) for k, v in r.items()})
                    for a, r in records.items()
                }
            ),
            cast=MappingProxyType(cast),
            parents=MappingProxyType(dict(self.parents)),
        )
