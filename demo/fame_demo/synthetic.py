"""A deterministic synthetic population known to fictional agencies of two councils.

Everything here is invented: names, addresses, postcodes and NHS numbers (all in the
999 test range, with valid check digits), phone numbers (Ofcom's ranges reserved for
drama), staff and records. The same seed always gives the same population, so tests,
the demo and the benchmark can all refer to "person 0".

This module builds the base population, Shire's; :mod:`fame_demo.world` adds the pilots'
cast (children, a second council, an emergency department and a school) after it, from
its own random stream, so that the base people stay exactly as they are.

Each agency knows a person under its own local id and holds rows for the catalogue
record sets listed in :data:`RECORD_SETS_HELD`; a row is a plain dict keyed by catalogue
field name, with dates as :class:`datetime.date`. How each agency *stores* those rows
(its own tables or JSON) is up to :mod:`fame_demo.stores` and
:mod:`fame_demo.community_api`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Literal

ADULT_SOCIAL_CARE = "shire-adult-social-care"
COMMUNITY_HEALTH = "shire-community-health"
HOUSING = "shire-housing"
RIVERSIDE_GP = "riverside-gp"
OAKFIELD_GP = "oakfield-gp"
SHIRE_CHILDRENS = "shire-childrens-services"
WREKIN_ADULT_SOCIAL_CARE = "wrekin-adult-social-care"
WREKIN_CHILDRENS = "wrekin-childrens-services"
EMERGENCY_DEPARTMENT = "severn-valley-ed"
SCHOOL = "severnford-school"

#: The agencies the base population is drawn for (their order fixes the random stream).
BASE_AGENCY_IDS: tuple[str, ...] = (
    ADULT_SOCIAL_CARE,
    COMMUNITY_HEALTH,
    HOUSING,
    RIVERSIDE_GP,
    OAKFIELD_GP,
)
#: Every agency of the demo, in a stable order.
AGENCY_IDS: tuple[str, ...] = (
    *BASE_AGENCY_IDS,
    SHIRE_CHILDRENS,
    WREKIN_ADULT_SOCIAL_CARE,
    WREKIN_CHILDRENS,
    EMERGENCY_DEPARTMENT,
    SCHOOL,
)
#: The two GP practices; every person is registered at exactly one of them.
GP_PRACTICES: tuple[str, ...] = (RIVERSIDE_GP, OAKFIELD_GP)
#: Agencies that are one team each: their practitioners' tokens name the agency id as
#: their team, and the person index links their records to that team.
SINGLE_TEAM_AGENCIES: tuple[str, ...] = (*GP_PRACTICES, SCHOOL)

#: Display names, matching the ``name`` of each agency's config file.
AGENCY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        ADULT_SOCIAL_CARE: "Shire Council Adult Social Care",
        COMMUNITY_HEALTH: "Shire Community Health NHS Trust",
        HOUSING: "Shire Council Housing Service",
        RIVERSIDE_GP: "Riverside Medical Practice",
        OAKFIELD_GP: "Oakfield Surgery",
        SHIRE_CHILDRENS: "Shire Council Children's Services",
        WREKIN_ADULT_SOCIAL_CARE: "Wrekin Council Adult Social Care",
        WREKIN_CHILDRENS: "Wrekin Council Children's Services",
        EMERGENCY_DEPARTMENT: "Severn Valley Hospital Emergency Department",
        SCHOOL: "Severnford Community School",
    }
)

_GP_RECORD_SETS = (
    "demographics",
    "involvement",
    "alerts",
    "timeline",
    "gp_registration",
    "conditions",
    "medications",
    "allergies",
    "address_history",
)
_CHILDRENS_RECORD_SETS = (
    "demographics",
    "involvement",
    "alerts",
    "timeline",
    "childrens_cases",
    "child_protection_plans",
    "concerns",
)

#: The catalogue record sets each agency holds.
RECORD_SETS_HELD: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        ADULT_SOCIAL_CARE: (
            "demographics",
            "involvement",
            "alerts",
            "assessments",
            "timeline",
            "social_care_cases",
            "care_packages",
            "assessment_domains",
        ),
        COMMUNITY_HEALTH: (
            "involvement",
            "alerts",
            "assessments",
            "timeline",
            "community_episodes",
            "therapy_plans",
            "assessment_domains",
        ),
        HOUSING: (
            "demographics",
            "involvement",
            "alerts",
            "timeline",
            "tenancies",
            "adaptations",
            "benefit_claims",
            "assessment_domains",
        ),
        RIVERSIDE_GP: _GP_RECORD_SETS,
        OAKFIELD_GP: _GP_RECORD_SETS,
        SHIRE_CHILDRENS: _CHILDRENS_RECORD_SETS,
        WREKIN_ADULT_SOCIAL_CARE: (
            "demographics",
            "involvement",
            "alerts",
            "timeline",
            "social_care_cases",
            "care_packages",
        ),
        WREKIN_CHILDRENS: _CHILDRENS_RECORD_SETS,
        EMERGENCY_DEPARTMENT: ("demographics", "involvement", "timeline", "ed_attendances"),
        SCHOOL: ("demographics", "involvement", "enrolments", "special_needs", "concerns"),
    }
)

#: The "today" of the synthetic world unless ``as_of`` says otherwise. Fixed, so that
#: date filters in tests keep meaning the same thing whenever they run.
REFERENCE_DATE = date(2026, 6, 1)

#: Every value an agency holds but never maps to a catalogue item contains this, so a
#: test can assert that it never appears in anything the gateway returns.
UNSHARED_MARKER = "NOT-FOR-SHARING"

Row = dict[str, object]
Band = Literal["older", "working", "child"]


@dataclass(frozen=True)
class SyntheticPerson:
    """One invented person, as the most authoritative agency (the GP) records them."""

    nhs_number: str
    given_name: str
    family_name: str
    date_of_birth: date
    gender: str
    address: str
    postcode: str
    phone: str

    @property
    def full_name(self) -> str:
        """Given and family name."""
        return f"{self.given_name} {self.family_name}"


@dataclass(frozen=True)
class Population:
    """The people, each agency's local ids for them, and each agency's rows about them.

    ``local_ids`` maps agency id -> NHS number -> local id, for the people the agency
    knows. ``records`` maps agency id -> local id -> record set -> rows (a one-row record
    set such as involvement has a one-element tuple).
    """

    seed: int
    as_of: date
    people: tuple[SyntheticPerson, ...]
    local_ids: Mapping[str, Mapping[str, str]]
    records: Mapping[str, Mapping[str, Mapping[str, tuple[Row, ...]]]]
    #: The pilots' cast: a part in a pilot's story -> the NHS numbers of those playing it.
    cast: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    #: A child's NHS number -> the NHS numbers of the parents who consent for them.
    parents: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def cast_as(self, part: str) -> tuple[SyntheticPerson, ...]:
        """The people playing a part in a pilot's story (empty if nobody does)."""
        return tuple(self.person_by_nhs(nhs) for nhs in self.cast.get(part, ()))

    def index_of(self, person: SyntheticPerson) -> int:
        """The person's position in :attr:`people`."""
        return self.people.index(person)

    def person_by_nhs(self, nhs_number: str) -> SyntheticPerson:
        """The person with this NHS number (KeyError if none)."""
        for person in self.people:
            if person.nhs_number == nhs_number:
                return person
        raise KeyError(nhs_number)

    def people_of(self, agency_id: str) -> tuple[SyntheticPerson, ...]:
        """The people an agency knows, in population order."""
        known = self.local_ids[agency_id]
        return tuple(p for p in self.people if p.nhs_number in known)

    def local_id(self, agency_id: str, nhs_number: str) -> str | None:
        """The agency's local id for the person, or None if it does not know them."""
        return self.local_ids.get(agency_id, {}).get(nhs_number)

    def person_by_local_id(self, agency_id: str, local_id: str) -> SyntheticPerson:
        """The person an agency knows under ``local_id`` (KeyError if none)."""
        for nhs_number, candidate in self.local_ids[agency_id].items():
            if candidate == local_id:
                return self.person_by_nhs(nhs_number)
        raise KeyError(f"{agency_id}:{local_id}")

    def agencies_of(self, nhs_number: str) -> tuple[str, ...]:
        """The agencies that know the person, in :data:`AGENCY_IDS` order."""
        return tuple(a for a in AGENCY_IDS if nhs_number in self.local_ids.get(a, {}))

    def gp_of(self, nhs_number: str) -> str:
        """The GP practice the person is registered with."""
        for practice in GP_PRACTICES:
            if nhs_number in self.local_ids[practice]:
                return practice
        raise KeyError(nhs_number)

    def rows(self, agency_id: str, local_id: str, record_set: str) -> list[Row]:
        """Copies of the agency's rows of one record set about one person."""
        held = self.records[agency_id].get(local_id, {})
        return [dict(row) for row in held.get(record_set, ())]

    def holding_teams(self, agency_id: str, nhs_number: str) -> tuple[str, ...]:
        """The teams of the agency that hold the person, as the person index links them.

        A GP practice (or the school) is one team, named in its practitioners' tokens by
        the agency id; elsewhere the involved team, and at the community trust every
        service with a current episode (district nursing and the mental health team may
        both hold one person).
        """
        local_id = self.local_id(agency_id, nhs_number)
        if local_id is None:
            return ()
        if agency_id in SINGLE_TEAM_AGENCIES:
            return (agency_id,)
        held = self.records[agency_id].get(local_id, {})
        teams = [str(row["team"]) for row in held.get("involvement", ())]
        if agency_id == COMMUNITY_HEALTH:
            teams += [
                _CH_SERVICES[str(row["service"])][0]
                for row in held.get("community_episodes", ())
                if row.get("ended_on") is None
            ]
        return tuple(dict.fromkeys(teams))


def nhs_check_digit(first_nine: str) -> int | None:
    """The modulus-11 check digit for nine NHS number digits, or None if none exists."""
    total = sum(int(digit) * (10 - position) for position, digit in enumerate(first_nine))
    check = 11 - total % 11
    if check == 11:
        return 0
    # A remainder giving 10 means no valid NHS number starts with these nine digits.
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    """Whether ``value`` is ten digits with a correct modulus-11 check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    return nhs_check_digit(value[:9]) == int(value[9])


# --- reference data ---------------------------------------------------------------------

_GIVEN: Mapping[tuple[Band, str], tuple[str, ...]] = {
    ("older", "female"): (
        "Margaret", "Joan", "Dorothy", "Eileen", "Doreen", "Jean", "Brenda", "Sheila",
        "Irene", "Patricia", "Audrey", "Maureen",
    ),
    ("older", "male"): (
        "Arthur", "Harold", "Kenneth", "Ronald", "Dennis", "Frank", "Albert", "Stanley",
        "Derek", "Roy", "Geoffrey", "Clifford",
    ),
    ("working", "female"): (
        "Sarah", "Emma", "Claire", "Nicola", "Rachel", "Joanne", "Kerry", "Lisa", "Gemma",
    ),
    ("working", "male"): (
        "James", "Daniel", "Craig", "Lee", "Mark", "Paul", "Gareth", "Jason", "Ryan",
    ),
    ("child", "female"): ("Olivia", "Amelia", "Isla", "Ava", "Lily", "Freya"),
    ("child", "male"): ("Oliver", "Harry", "Jack", "Noah", "Alfie", "Charlie"),
}  # fmt: skip

_FAMILY = (
    "Evans", "Davies", "Price", "Morris", "Hughes", "Bennett", "Roberts", "Pugh",
    "Griffiths", "Hamer", "Bromley", "Corbett", "Lloyd", "Edwards", "Whitfield", "Bowen",
    "Owen", "Mansell", "Tudor", "Beddoes", "Jukes", "Preece", "Rowley", "Yapp",
    "Wilding", "Cadwallader", "Heighway", "Ellis",
)  # fmt: skip

# Fictional towns with plausible Shropshire (SY) and Telford (TF) outward codes.
_TOWNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Shirebridge", ("SY1", "SY2", "SY3")),
    ("Severnford", ("SY4", "SY5")),
    ("Wrekinton", ("TF1", "TF2")),
    ("Castlefields", ("TF3", "TF4")),
    ("Oakfield", ("TF9", "TF10")),
)
_STREETS = (
    "Wrekin View", "Severn Bank", "Quarry Lane", "Castle Rise", "Mill Meadow", "Abbey Close",
    "Coalport Row", "Hawthorn Drive", "Foundry Street", "Orchard Way", "Kiln Lane",
    "Chapel Walk",
)  # fmt: skip
_SHELTERED_SCHEMES = ("Larkspur Court", "Willow House", "Rosemary Court")
# Postcode inward letters never include C, I, K, M, O or V.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class _Staff:
    name: str
    role: str


_ASC_TEAMS: Mapping[str, tuple[_Staff, ...]] = {
    "Older People's Team (North)": (
        _Staff("Priya Shah", "Social worker"),
        _Staff("Gareth Lloyd-Jones", "Senior practitioner"),
        _Staff("Fiona Marsh", "Occupational therapist"),
    ),
    "Older People's Team (South)": (
        _Staff("Tom Whitlock", "Social worker"),
        _Staff("Hannah Reece", "Social worker"),
        _Staff("Dawn Pritchard", "Community care officer"),
    ),
    "Learning Disability Team": (
        _Staff("Karen Boswell", "Social worker"),
        _Staff("Imran Hussain", "Care coordinator"),
    ),
    "Mental Health Social Work Team": (
        _Staff("Lucy Ashworth", "Approved mental health professional"),
        _Staff("Ben Carver", "Social worker"),
    ),
}

_CH_SERVICES: Mapping[str, tuple[str, tuple[_Staff, ...]]] = {
    # service -> (team holding it, clinicians)
    "District nursing": (
        "District Nursing (Shirebridge)",
        (
            _Staff("Angela Kerr", "District nurse"),
            _Staff("Rhian Powell", "District nursing sister"),
            _Staff("Sam Oduya", "Community staff nurse"),
        ),
    ),
    "Community physiotherapy": (
        "Community Therapy Team",
        (_Staff("Oliver Stanton", "Physiotherapist"), _Staff("Megan Hale", "Physiotherapist")),
    ),
    "Older adults community mental health": (
        "Older Adults Community Mental Health Team",
        (_Staff("Deborah Finch", "Community psychiatric nurse"),),
    ),
    "Community heart failure nursing": (
        "Community Heart Failure Service",
        (_Staff("Claire Dunn", "Heart failure specialist nurse"),),
    ),
    "Community respiratory": (
        "Community Respiratory Team",
        (_Staff("Nadia Begum", "Respiratory nurse specialist"),),
    ),
    "Adult community mental health": (
        "Adult Community Mental Health Team",
        (_Staff("Chris Taylor", "Community psychiatric nurse"),),
    ),
    "Diabetes specialist nursing": (
        "Diabetes Specialist Nursing Team",
        (_Staff("Sue Wainwright", "Diabetes specialist nurse"),),
    ),
    "Community learning disability nursing": (
        "Community Learning Disability Team",
        (_Staff("Paul Gough", "Learning disability nurse"),),
    ),
    "School nursing": ("School Nursing (Wrekinton)", (_Staff("Kate Pemberton", "School nurse"),)),
    # Only the pilots' cast is drawn into this service (fame_demo.world).
    "Children's therapy": (
        "Children's Therapy Team",
        (
            _Staff("Carys Rees", "Paediatric occupational therapist"),
            _Staff("Tom Birch", "Paediatric physiotherapist"),
        ),
    ),
    "Children's community nursing": (
        "Children's Community Nursing Team",
        (_Staff("Amy Lister", "Children's community nurse"),),
    ),
}

_HOUSING_TEAMS: Mapping[str, tuple[_Staff, ...]] = {
    "Tenancy Sustainment Team": (
        _Staff("Leanne Cartwright", "Tenancy sustainment officer"),
        _Staff("Martin Hobbs", "Tenancy sustainment officer"),
    ),
    "Neighbourhood Housing (North)": (_Staff("Jas Gill", "Housing officer"),),
    "Neighbourhood Housing (South)": (_Staff("Emma Fairclough", "Housing officer"),),
    "Sheltered Housing Service": (_Staff("Pat Yeomans", "Scheme manager"),),
}

_GP_DOCTORS: Mapping[str, tuple[str, ...]] = {
    RIVERSIDE_GP: ("Dr Anita Rao", "Dr Peter Hollins", "Dr Sian Morgan"),
    OAKFIELD_GP: ("Dr James Okafor", "Dr Helen Bright", "Dr Mark Treharne"),
}
_GP_NURSES: Mapping[str, str] = {RIVERSIDE_GP: "Jo Adams", OAKFIELD_GP: "Beverley Knott"}

# Conditions with their SNOMED CT concept ids and the repeat medicines that go with them.
_CONDITIONS: Mapping[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "hypertension": (
        "Essential hypertension",
        "59621000",
        (("Amlodipine 5mg tablets", "One tablet once daily"),),
    ),
    "af": (
        "Atrial fibrillation",
        "49436004",
        (
            ("Apixaban 5mg tablets", "One tablet twice daily"),
            ("Bisoprolol 2.5mg tablets", "One tablet once daily"),
        ),
    ),
    "heart_failure": (
        "Heart failure",
        "84114007",
        (
            ("Furosemide 40mg tablets", "One tablet each morning"),
            ("Ramipril 2.5mg capsules", "One capsule once daily"),
        ),
    ),
    "copd": (
        "Chronic obstructive lung disease",
        "13645005",
        (
            ("Tiotropium 2.5micrograms/dose inhaler", "Two puffs once daily"),
            ("Salbutamol 100micrograms/dose inhaler", "Two puffs up to four times daily as needed"),
        ),
    ),
    "dementia": (
        "Alzheimer's disease",
        "26929004",
        (("Donepezil 10mg tablets", "One tablet at night"),),
    ),
    "parkinsons": (
        "Parkinson's disease",
        "49049000",
        (("Co-careldopa 25mg/100mg tablets", "One tablet three times daily"),),
    ),
    "diabetes": (
        "Type 2 diabetes mellitus",
        "44054006",
        (("Metformin 500mg tablets", "One tablet twice daily with meals"),),
    ),
    "osteoporosis": (
        "Osteoporosis",
        "64859006",
        (
            ("Alendronic acid 70mg tablets", "One tablet once weekly before breakfast"),
            ("Calcium and colecalciferol chewable tablets", "One tablet twice daily"),
        ),
    ),
    "osteoarthritis": (
        "Osteoarthritis of knee",
        "239873007",
        (("Paracetamol 500mg tablets", "Two tablets up to four times daily"),),
    ),
    "hypothyroidism": (
        "Hypothyroidism",
        "40930008",
        (("Levothyroxine 100microgram tablets", "One tablet each morning"),),
    ),
    "ckd": ("Chronic kidney disease stage 3", "433144002", ()),
    "stroke": (
        "Cerebrovascular accident",
        "230690007",
        (
            ("Clopidogrel 75mg tablets", "One tablet once daily"),
            ("Atorvastatin 20mg tablets", "One tablet at night"),
        ),
    ),
    "depression": (
        "Depressive disorder",
        "35489007",
        (("Sertraline 50mg tablets", "One tablet once daily"),),
    ),
    "learning_disability": ("Intellectual disability", "110359009", ()),
    "epilepsy": (
        "Epilepsy",
        "84757009",
        (("Lamotrigine 100mg tablets", "One tablet twice daily"),),
    ),
    "asthma": (
        "Asthma",
        "195967001",
        (
            ("Salbutamol 100micrograms/dose inhaler", "Two puffs when required"),
            ("Beclometasone 100micrograms/dose inhaler", "Two puffs twice daily"),
        ),
    ),
    "eczema": (
        "Atopic dermatitis",
        "24079001",
        (
            ("Emollient cream", "Apply liberally twice daily"),
            ("Hydrocortisone 1% cream", "Apply thinly once daily to flares"),
        ),
    ),
    # Only the pilots' cast has this need (fame_demo.world).
    "cerebral_palsy": (
        "Cerebral palsy",
        "128188000",
        (("Baclofen 5mg/5ml oral solution", "5ml three times daily"),),
    ),
}
_RESOLVED: Mapping[str, tuple[str, str]] = {
    "falls": ("Fracture of neck of femur", "5913000"),
    "copd": ("Pneumonia", "233604007"),
}
_ALLERGIES = (
    ("Penicillin", "Widespread itchy rash"),
    ("Codeine", "Nausea and vomiting"),
    ("Elastoplast", "Skin irritation"),
    ("Ibuprofen", "Wheeze"),
    ("Trimethoprim", "Rash"),
    ("Latex", "Contact dermatitis"),
)

# Needs that drive each agency's records, so the agencies tell one consistent story.
_OLDER_NEEDS = (
    "falls", "dementia", "leg_ulcer", "heart_failure", "copd", "stroke", "parkinsons",
    "diabetes",
)  # fmt: skip
_WORKING_NEEDS = ("mental_health", "learning_disability", "diabetes", "asthma", "epilepsy")
_CHILD_NEEDS = ("asthma", "eczema", "epilepsy")
_MOBILITY_NEEDS = frozenset({"falls", "stroke", "parkinsons"})


@dataclass
class _Draft:
    """A person while the population is being built (mutable on purpose)."""

    index: int
    band: Band
    person: SyntheticPerson
    sheltered: bool
    town_index: int
    needs: set[str]
    gp: str
    agencies: set[str]


class _Builder:
    """Draws everything from one seeded RNG, in a fixed order, so output is reproducible."""

    def __init__(self, rng: random.Random, as_of: date) -> None:
        self.rng = rng
        self.as_of = as_of
        self._nhs_numbers: set[str] = set()
        self._names: set[tuple[str, str]] = set()
        self._phones: set[str] = set()

    # -- small helpers ---------------------------------------------------------------------

    def days_ago(self, low: int, high: int) -> date:
        return self.as_of - timedelta(days=self.rng.randint(low, high))

    def days_ahead(self, low: int, high: int) -> date:
        return self.as_of + timedelta(days=self.rng.randint(low, high))

    def nhs_number(self) -> str:
        while True:
            first_nine = "999" + "".join(str(self.rng.randint(0, 9)) for _ in range(6))
            check = nhs_check_digit(first_nine)
            candidate = f"{first_nine}{check}"
            if check is not None and candidate not in self._nhs_numbers:
                self._nhs_numbers.add(candidate)
                return candidate

    def phone(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}{self.rng.randint(0, 999):03d}"
            if candidate not in self._phones:
                self._phones.add(candidate)
                return candidate

    # -- people ----------------------------------------------------------------------------

    def person(self, index: int, band: Band) -> _Draft:
        rng = self.rng
        gender = rng.choice(("female", "male"))
        while True:
            given = rng.choice(_GIVEN[(band, gender)])
            family = rng.choice(_FAMILY)
            if (given, family) not in self._names:
                self._names.add((given, family))
                break
        low, high = {"older": (65, 95), "working": (19, 64), "child": (5, 16)}[band]
        age = rng.randint(low, high)
        born = self.as_of - timedelta(days=age * 365 + age // 4 + rng.randint(0, 364))
        town_index = rng.randrange(len(_TOWNS))
        town, outward_codes = _TOWNS[town_index]
        sheltered = band == "older" and rng.random() < 0.3
        if sheltered:
            line = f"Flat {rng.randint(1, 24)}, {rng.choice(_SHELTERED_SCHEMES)}, {town}"
        else:
            line = f"{rng.randint(1, 120)} {rng.choice(_STREETS)}, {town}"
        letters = "".join(rng.choice(_INWARD_LETTERS) for _ in range(2))
        postcode = f"{rng.choice(outward_codes)} {rng.randint(1, 9)}{letters}"
        person = SyntheticPerson(
            nhs_number=self.nhs_number(),
            given_name=given,
            family_name=family,
            date_of_birth=born,
            gender=gender,
            address=line,
            postcode=postcode,
            phone=self.phone("01632 960"),
        )
        return _Draft(index, band, person, sheltered, town_index, set(), "", set())

    def needs(self, draft: _Draft) -> None:
        rng = self.rng
        if draft.index == 0:
            # Person 0 is the README's example: an older woman or man living alone whose
            # falls, leg ulcer and rent arrears every agency knows a piece of.
            draft.needs = {"falls", "leg_ulcer", "lives_alone", "arrears", "hypertension", "af"}
            draft.needs |= {"osteoarthritis", "osteoporosis"}
            return
        if draft.band == "older":
            draft.needs = set(rng.sample(_OLDER_NEEDS, rng.randint(1, 3)))
            for need, chance in (("lives_alone", 0.6), ("arrears", 0.2), ("hoarding", 0.1)):
                if rng.random() < chance:
                    draft.needs.add(need)
            if rng.random() < 0.2:
                draft.needs.add("carer")
            for condition, chance in (
                ("hypertension", 0.6),
                ("af", 0.25),
                ("hypothyroidism", 0.15),
                ("ckd", 0.2),
                ("osteoarthritis", 0.3),
            ):
                if rng.random() < chance:
                    draft.needs.add(condition)
        elif draft.band == "working":
            draft.needs = set(rng.sample(_WORKING_NEEDS, rng.randint(1, 2)))
            if rng.random() < 0.35:
                draft.needs.add("arrears")
        else:
            draft.needs = {rng.choice(_CHILD_NEEDS)}
        if "falls" in draft.needs and rng.random() < 0.6:
            draft.needs.add("osteoporosis")
        if "mental_health" in draft.needs:
            draft.needs.add("depression")
        lone_working_chance = 0.5 if "dementia" in draft.needs else 0.1
        if rng.random() < lone_working_chance:
            draft.needs.add("lone_working")

    def agencies(self, draft: _Draft) -> None:
        rng = self.rng
        draft.gp = RIVERSIDE_GP if draft.index == 0 else rng.choice(GP_PRACTICES)
        draft.agencies = {draft.gp}
        needs = draft.needs
        if draft.index == 0:
            draft.agencies |= {ADULT_SOCIAL_CARE, COMMUNITY_HEALTH, HOUSING}
            return
        if draft.band == "older":
            social = needs & {"falls", "dementia", "stroke", "parkinsons", "carer", "hoarding"}
            if rng.random() < (0.8 if social else 0.3):
                draft.agencies.add(ADULT_SOCIAL_CARE)
            clinical = needs & {"leg_ulcer", "heart_failure", "copd", "falls", "dementia"}
            if rng.random() < (0.8 if clinical else 0.3):
                draft.agencies.add(COMMUNITY_HEALTH)
            if draft.sheltered or rng.random() < 0.45:
                draft.agencies.add(HOUSING)
        elif draft.band == "working":
            chance = 0.9 if "learning_disability" in needs else 0.4
            if needs & {"learning_disability", "mental_health"} and rng.random() < chance:
                draft.agencies.add(ADULT_SOCIAL_CARE)
            if rng.random() < (0.6 if needs - {"arrears"} else 0.2):
                draft.agencies.add(COMMUNITY_HEALTH)
            if rng.random() < 0.5:
                draft.agencies.add(HOUSING)
        elif rng.random() < 0.6:
            draft.agencies.add(COMMUNITY_HEALTH)
        # Arrears and hoarding are a landlord's concern: only tenants have them.
        if HOUSING not in draft.agencies:
            needs -= {"arrears", "hoarding"}


def _top_up(drafts: Sequence[_Draft]) -> None:
    """Make sure enough adults are known to three or more agencies, Oakfield included."""
    adults = [d for d in drafts if d.band != "child"]
    target = min(8, len(adults))

    def widen(draft: _Draft) -> None:
        for agency in (COMMUNITY_HEALTH, ADULT_SOCIAL_CARE, HOUSING):
            if len(draft.agencies) >= 3:
                return
            draft.agencies.add(agency)

    oakfield_adults = [d for d in adults if d.gp == OAKFIELD_GP]
    if oakfield_adults and not any(len(d.agencies) >= 3 for d in oakfield_adults):
        widen(oakfield_adults[0])
    for draft in adults:
        if sum(len(d.agencies) >= 3 for d in adults) >= target:
            break
        widen(draft)


# --- per-agency records ---------------------------------------------------------------------


def _iso_sorted(rows: list[Row], field: str) -> tuple[Row, ...]:
    return tuple(sorted(rows, key=lambda row: str(row[field])))


class _Records:
    """Builds each agency's rows from a person's needs."""

    def __init__(self, builder: _Builder) -> None:
        self.b = builder
        self.rng = builder.rng

    def demographics(self, draft: _Draft, agency: str) -> Row:
        p = draft.person
        phone = p.phone
        # The housing officer took a mobile number for every third person, so which
        # agency's demographics win (the GP's, by rank) is visible in the answer.
        if agency == HOUSING and draft.index % 3 == 0:
            phone = self.b.phone("07700 900")
        return {
            "nhs_number": p.nhs_number,
            "given_name": p.given_name,
            "family_name": p.family_name,
            "date_of_birth": p.date_of_birth,
            "gender": p.gender,
            "address": p.address,
            "postcode": p.postcode,
            "phone": phone,
        }

    @staticmethod
    def involvement(team: str, staff: _Staff, since: date, status: str) -> Row:
        return {
            "team": team,
            "worker": staff.name,
            "role": staff.role,
            "since": since,
            "status": status,
        }

    def alerts(self, rules: Sequence[tuple[object, str, str, str]], oldest_days: int) -> list[Row]:
        """Alert rows for the rules (applies, category, severity, summary) that apply."""
        return [
            {
                "category": category,
                "severity": severity,
                "raised_on": self.b.days_ago(20, oldest_days),
                "summary": summary,
            }
            for applies, category, severity, summary in rules
            if applies
        ]

    def events(
        self, templates: Sequence[tuple[str, str, str]], count: int, oldest_days: int = 540
    ) -> list[Row]:
        """Timeline rows from (kind, summary, practitioner) templates, spread over time."""
        chosen = list(templates) if count >= len(templates) else self.rng.sample(templates, count)
        return [
            {
                "occurred_on": self.b.days_ago(3, oldest_days),
                "kind": kind,
                "summary": summary,
                "practitioner": practitioner,
            }
            for kind, summary, practitioner in chosen
        ]

    # -- adult social care -----------------------------------------------------------------

    def adult_social_care(self, draft: _Draft) -> dict[str, tuple[Row, ...]]:
        rng, needs, p = self.rng, draft.needs, draft.person
        if "learning_disability" in needs:
            team, need = "Learning Disability Team", "Learning disability support"
        elif "mental_health" in needs:
            team, need = "Mental Health Social Work Team", "Mental health support"
        else:
            team = rng.choice(("Older People's Team (North)", "Older People's Team (South)"))
            if "dementia" in needs:
                need = "Support with memory and cognition"
            elif needs & {"falls", "stroke", "parkinsons", "leg_ulcer", "heart_failure", "copd"}:
                need = "Physical support: personal care support"
            else:
                need = "Social support: support for social isolation"
        worker = rng.choice(_ASC_TEAMS[team])
        status = "open" if draft.index == 0 else rng.choice(("open", "open", "on review", "closed"))
        since = self.b.days_ago(200, 1400)
        eligible = status != "closed" and (draft.index == 0 or rng.random() < 0.85)
        review_due = None if status == "closed" else self.b.days_ahead(10, 180)
        case: Row = {
            "status": status,
            "primary_need": need,
            "eligible": eligible,
            "review_due": review_due,
        }

        alerts = self.alerts(
            (
                (
                    "falls" in needs,
                    "falls",
                    "high",
                    "History of falls; lives alone. Pendant alarm fitted, key safe "
                    "code held by the duty team.",
                ),
                (
                    "dementia" in needs,
                    "memory",
                    "medium",
                    "Can become disorientated late afternoon and may not recognise "
                    "unfamiliar staff: phone ahead and show ID.",
                ),
                (
                    "hoarding" in needs,
                    "self-neglect",
                    "high",
                    "Hoarding in hallway and kitchen; fire service home safety check requested.",
                ),
                (
                    "lone_working" in needs,
                    "lone working",
                    "medium",
                    "Large dog at the property: ask for it to be shut away before entering.",
                ),
                (
                    "carer" in needs,
                    "carer strain",
                    "medium",
                    "Main carer for spouse with dementia; reports exhaustion.",
                ),
                (
                    "learning_disability" in needs,
                    "communication",
                    "low",
                    "Uses Makaton and pictures; allow extra time, avoid letters only.",
                ),
            ),
            700,
        )

        age = (self.b.as_of - p.date_of_birth).days // 365
        who = "woman" if p.gender == "female" else "man"
        home = "alone" if "lives_alone" in needs else "with family"
        assessments: list[Row] = [
            {
                "kind": "Care Act needs assessment",
                "completed_on": self.b.days_ago(60, 400),
                "assessor": worker.name,
                "summary": f"{age}-year-old {who} living {home}. {_NEEDS_TEXT[need]}",
                "outcome": "Eligible needs: personal care and meal preparation; home care arranged."
                if eligible
                else "No eligible needs; signposted to community groups and telecare.",
            }
        ]
        if draft.band == "older" and (draft.index == 0 or rng.random() < 0.6):
            assessments.append(
                {
                    "kind": "Single assessment: overview",
                    "completed_on": self.b.days_ago(20, 200),
                    "assessor": worker.name,
                    "summary": self._overview(draft),
                    "outcome": "Shared care plan agreed with district nursing and housing; "
                    "review in 12 weeks.",
                }
            )
        if "carer" in needs:
            assessments.append(
                {
                    "kind": "Carer's assessment",
                    "completed_on": self.b.days_ago(20, 300),
                    "assessor": worker.name,
                    "summary": "Caring around the clock for spouse; sleep disturbed most nights.",
                    "outcome": "Carer's break: four hours a week sitting service.",
                }
            )

        referral = (
            "Referral from GP following a fall at home."
            if "falls" in needs
            else "Referral from GP: family worried about how the person is coping."
        )
        events = self.events(
            (
                ("referral", referral, "Duty team"),
                ("home visit", "Assessment visit; daughter present. Needs discussed.", worker.name),
                (
                    "review",
                    "Six-week review of home care; package continues unchanged.",
                    worker.name,
                ),
                (
                    "telephone",
                    "Call from the care provider: two morning calls declined this week.",
                    worker.name,
                ),
                (
                    "hospital discharge",
                    "Discharge planning meeting on the ward; restart of care agreed.",
                    "Hospital Discharge Team",
                ),
            ),
            5 if draft.index == 0 else rng.randint(2, 4),
        )

        packages: list[Row] = []
        if eligible:
            hours = 14.0 if "dementia" in needs else 10.0 if "falls" in needs else 7.0
            packages.append(
                {
                    "service": "Home care",
                    "provider": rng.choice(("Severn Valley Home Care Ltd", "Wrekin Care at Home")),
                    "hours_per_week": hours,
                }
            )
            if needs & {"falls", "dementia", "lives_alone"}:
                # Telecare is equipment, not hours of care: zero planned hours.
                packages.append(
                    {
                        "service": "Telecare (pendant alarm)",
                        "provider": "Shire Telecare",
                        "hours_per_week": 0.0,
                    }
                )
            if needs & {"dementia", "learning_disability"}:
                packages.append(
                    {
                        "service": "Day centre",
                        "provider": "Oakfield Day Centre",
                        "hours_per_week": 6.0,
                    }
                )
            if "carer" in needs:
                packages.append(
                    {
                        "service": "Sitting service (carer's break)",
                        "provider": "Shire Carers Centre",
                        "hours_per_week": 4.0,
                    }
                )
            for package in packages:
                package["started_on"] = self.b.days_ago(30, 500)

        return {
            "demographics": (self.demographics(draft, ADULT_SOCIAL_CARE),),
            "involvement": (self.involvement(team, worker, since, _open(status)),),
            "alerts": _iso_sorted(alerts, "raised_on"),
            "assessments": _iso_sorted(assessments, "completed_on"),
            "timeline": _iso_sorted(events, "occurred_on"),
            "social_care_cases": (case,),
            "care_packages": _iso_sorted(packages, "started_on"),
        }

    def _overview(self, draft: _Draft) -> str:
        needs = draft.needs
        parts = []
        if "lives_alone" in needs:
            parts.append("Lives alone")
        if "falls" in needs:
            parts.append("two falls in six months")
        if "leg_ulcer" in needs:
            parts.append("leg ulcer dressed by district nurses twice weekly")
        if "dementia" in needs:
            parts.append("memory problems, diagnosed Alzheimer's")
        if "arrears" in needs:
            parts.append("rent arrears building since a hospital stay")
        if not parts:
            parts.append("Managing at home with family support")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."

    # -- community health ------------------------------------------------------------------

    def community_health(self, draft: _Draft) -> dict[str, tuple[Row, ...]]:
        rng, needs = self.rng, draft.needs
        services: list[str] = []
        for need, service in (
            ("leg_ulcer", "District nursing"),
            ("heart_failure", "Community heart failure nursing"),
            ("copd", "Community respiratory"),
            ("falls", "Community physiotherapy"),
            ("stroke", "Community physiotherapy"),
            ("parkinsons", "Community physiotherapy"),
            ("dementia", "Older adults community mental health"),
            ("mental_health", "Adult community mental health"),
            ("learning_disability", "Community learning disability nursing"),
        ):
            if need in needs and service not in services:
                services.append(service)
        if "diabetes" in needs:
            older = draft.band == "older"
            services.append("District nursing" if older else "Diabetes specialist nursing")
        if draft.band == "child":
            services = ["Children's community nursing" if "epilepsy" in needs else "School nursing"]
        if not services:
            services = ["District nursing" if draft.band == "older" else "School nursing"]
        services = list(dict.fromkeys(services))[:2]

        episodes: list[Row] = []
        starts: list[date] = []
        for position, service in enumerate(services):
            clinician = rng.choice(_CH_SERVICES[service][1])
            started = self.b.days_ago(40, 500)
            starts.append(started)
            # The second service of some people has already discharged them.
            ended = position == 1 and draft.index != 0 and rng.random() < 0.5
            episodes.append(
                {
                    "service": service,
                    "clinician": clinician.name,
                    "started_on": started,
                    "ended_on": self.b.days_ago(1, 30) if ended else None,
                    "next_visit": None if ended else self.b.days_ahead(1, 14),
                }
            )
        team, staff = _CH_SERVICES[services[0]]
        lead = next(s for s in staff if s.name == episodes[0]["clinician"])
        first_started = starts[0]

        alerts = self.alerts(
            (
                (
                    "leg_ulcer" in needs,
                    "tissue viability",
                    "medium",
                    "Venous leg ulcer, left leg: four-layer compression, dressings twice weekly.",
                ),
                (
                    "falls" in needs,
                    "falls",
                    "high",
                    "High falls risk: uses a walking frame indoors at all times.",
                ),
                (
                    "heart_failure" in needs,
                    "clinical",
                    "medium",
                    "Daily weights: call the heart failure nurse if up 2 kg in 3 days.",
                ),
                ("lone_working" in needs, "lone working", "medium", "Visit in pairs after 4pm."),
                (
                    "epilepsy" in needs and draft.band == "child",
                    "clinical",
                    "high",
                    "Rescue medication plan (buccal midazolam) held at school.",
                ),
            ),
            500,
        )

        assessments: list[Row] = []
        for need, kind, summary, outcome in (
            (
                "falls",
                "Falls risk assessment",
                "Unsteady on turning; two falls in six months; no loose rugs.",
                "High risk: strength and balance programme; home hazard check.",
            ),
            (
                "leg_ulcer",
                "Leg ulcer assessment (ABPI)",
                "Venous ulcer left gaiter area, 4 cm by 3 cm; ABPI 0.95.",
                "Suitable for full compression; reassess in 12 weeks.",
            ),
            (
                "dementia",
                "Memory assessment",
                "Short-term memory loss; repeats questions; manages personal care with prompts.",
                "Referred to memory clinic; carer information given.",
            ),
            (
                "copd",
                "Respiratory review",
                "Breathless walking 100 metres; two exacerbations this winter.",
                "Offered pulmonary rehabilitation; rescue pack issued.",
            ),
            (
                "heart_failure",
                "Heart failure review",
                "Ankle swelling improving; weight stable.",
                "Continue current plan; review in 8 weeks.",
            ),
            (
                "mental_health",
                "Mental health risk assessment",
                "Low mood; engaged with care plan; no current plans to harm self.",
                "Low risk; care coordination continues.",
            ),
            (
                "learning_disability",
                "Health action plan review",
                "Annual health check done; weight and epilepsy reviewed.",
                "Health action plan updated and shared with carers.",
            ),
            (
                "asthma",
                "School health needs assessment",
                "Asthma well controlled; inhaler kept in class.",
                "Individual healthcare plan shared with school.",
            ),
        ):
            if need in needs:
                assessments.append(
                    {
                        "kind": kind,
                        "completed_on": self.b.days_ago(15, 400),
                        "assessor": lead.name,
                        "summary": summary,
                        "outcome": outcome,
                    }
                )
        if not assessments:
            assessments.append(
                {
                    "kind": "Initial community nursing assessment",
                    "completed_on": first_started,
                    "assessor": lead.name,
                    "summary": "Needs and home environment assessed; consent to share obtained.",
                    "outcome": "Care plan agreed with the patient.",
                }
            )

        contacts = [
            ("home visit", "Dressings changed, left leg; wound reducing in size.", lead.name),
            ("home visit", "Visit completed; observations stable; plan continues.", lead.name),
            ("telephone", "Telephone review with daughter; no new concerns.", lead.name),
            ("clinic", "Seen in clinic; care plan reviewed and updated.", lead.name),
            ("referral", "Referral received from GP practice.", "Single point of access"),
        ]
        if "leg_ulcer" not in needs:
            contacts.pop(0)
        # Contacts belong to the current episode, so none predates its start.
        since_start = max(4, (self.b.as_of - first_started).days)
        events = self.events(contacts, 5 if draft.index == 0 else rng.randint(2, 4), since_start)

        return {
            "involvement": (self.involvement(team, lead, first_started, "open"),),
            "alerts": _iso_sorted(alerts, "raised_on"),
            "assessments": _iso_sorted(assessments, "completed_on"),
            "timeline": _iso_sorted(events, "occurred_on"),
            "community_episodes": _iso_sorted(episodes, "started_on"),
        }

    # -- housing ---------------------------------------------------------------------------

    def housing(self, draft: _Draft) -> dict[str, tuple[Row, ...]]:
        rng, needs, p = self.rng, draft.needs, draft.person
        if needs & {"arrears", "hoarding"}:
            team = "Tenancy Sustainment Team"
        elif draft.sheltered:
            team = "Sheltered Housing Service"
        else:
            team = (
                "Neighbourhood Housing (North)"
                if draft.town_index % 2 == 0
                else "Neighbourhood Housing (South)"
            )
        officer = rng.choice(_HOUSING_TEAMS[team])
        tenancy_start = self.b.days_ago(400, 9000)
        arrears_weeks = rng.randint(2, 9) if "arrears" in needs else 0
        if draft.index == 0:
            arrears_weeks = 3
        association = not draft.sheltered and rng.random() < 0.35
        tenancy: Row = {
            "address": p.address,
            "tenure": "secure (sheltered)"
            if draft.sheltered
            else "assured"
            if association
            else "secure",
            "landlord": "Severnside Housing Association" if association else "Shire Council",
            "started_on": tenancy_start,
            "rent_arrears_weeks": arrears_weeks,
        }

        alerts = self.alerts(
            (
                (
                    arrears_weeks,
                    "rent arrears",
                    "medium" if arrears_weeks < 6 else "high",
                    f"{arrears_weeks} weeks in arrears since a housing benefit "
                    "change; repayment plan agreed at £5 a week.",
                ),
                (
                    "hoarding" in needs,
                    "fire risk",
                    "high",
                    "Hoarding blocks the hallway; joint visit with the fire service booked.",
                ),
                (
                    "lone_working" in needs,
                    "lone working",
                    "medium",
                    "Visit in pairs: verbal abuse to a repairs operative last year.",
                ),
                (
                    draft.band == "older" and "lives_alone" in needs,
                    "vulnerable tenant",
                    "low",
                    "Frail and lives alone: contact next of kin if no answer at the door.",
                ),
            ),
            600,
        )

        adaptations: list[Row] = []
        if draft.index == 0:
            wanted = [("Grab rails (bathroom and front door)", "completed")]
            wanted.append(("Level-access shower", "approved"))
        elif needs & _MOBILITY_NEEDS:
            wanted = [
                ("Grab rails (bathroom and front door)", "completed"),
                (
                    rng.choice(("Level-access shower", "Stairlift", "Ramp to front door")),
                    rng.choice(("requested", "approved", "completed")),
                ),
            ]
        elif draft.band == "older" and rng.random() < 0.4:
            wanted = [("Key safe", "completed")]
        else:
            wanted = []
        for kind, status in wanted:
            adaptations.append(
                {
                    "kind": kind,
                    "status": status,
                    "completed_on": self.b.days_ago(10, 300) if status == "completed" else None,
                }
            )

        templates = [
            ("home visit", "Annual tenancy check; property in reasonable repair.", officer.name),
            ("repair", "Emergency repair: boiler failure, heating restored same day.", "Repairs"),
            (
                "survey",
                "Occupational therapist recommends a level-access shower; survey booked.",
                officer.name,
            ),
        ]
        if arrears_weeks:
            templates.append(("letter", "Arrears letter (stage 1) sent.", officer.name))
            templates.append(
                (
                    "home visit",
                    "Income and benefits check; referred for help with a discretionary "
                    "housing payment.",
                    officer.name,
                )
            )
        events = self.events(templates, 4 if draft.index == 0 else rng.randint(1, 3))

        return {
            "demographics": (self.demographics(draft, HOUSING),),
            "involvement": (self.involvement(team, officer, self.b.days_ago(60, 900), "open"),),
            "alerts": _iso_sorted(alerts, "raised_on"),
            "timeline": _iso_sorted(events, "occurred_on"),
            "tenancies": (tenancy,),
            "adaptations": tuple(adaptations),
        }

    # -- GP practices ----------------------------------------------------------------------

    def gp(self, draft: _Draft) -> dict[str, tuple[Row, ...]]:
        rng, needs, p = self.rng, draft.needs, draft.person
        practice = draft.gp
        doctor = rng.choice(_GP_DOCTORS[practice])
        born_days = (self.b.as_of - p.date_of_birth).days
        registered = self.b.days_ago(100, min(born_days - 1, 12000))
        registration: Row = {
            "practice": AGENCY_NAMES[practice],
            "usual_gp": doctor,
            "registered_on": registered,
        }

        conditions: list[Row] = []
        medications: list[Row] = []
        for need in sorted(needs & _CONDITIONS.keys()):
            name, code, medicines = _CONDITIONS[need]
            onset = self.b.days_ago(90, min(born_days - 1, 6000))
            conditions.append({"name": name, "code": code, "onset": onset, "status": "active"})
            for drug, dose in medicines:
                started = onset + timedelta(days=rng.randint(0, 60))
                medications.append({"name": drug, "dose": dose, "started_on": started})
        for need, (name, code) in _RESOLVED.items():
            if need in needs:
                onset = self.b.days_ago(200, 1500)
                conditions.append(
                    {"name": name, "code": code, "onset": onset, "status": "resolved"}
                )
        if not conditions:
            conditions.append(
                {
                    "name": "Essential hypertension",
                    "code": "59621000",
                    "onset": self.b.days_ago(200, 3000),
                    "status": "active",
                }
            )
        # Two medicines can share a name (salbutamol for asthma and COPD): keep one.
        medications = list({str(m["name"]): m for m in medications}.values())

        count = rng.choice((0, 0, 1, 1, 2))
        if draft.index == 0:
            count = max(count, 1)
        allergies: list[Row] = [
            {"substance": substance, "reaction": reaction}
            for substance, reaction in rng.sample(_ALLERGIES, count)
        ]

        alerts = self.alerts(
            (
                (
                    "af" in needs,
                    "medication",
                    "medium",
                    "Anticoagulated (apixaban): seek advice after any head injury.",
                ),
                (
                    "dementia" in needs,
                    "capacity",
                    "medium",
                    "Lasting power of attorney for health and welfare held by daughter.",
                ),
                (
                    "falls" in needs,
                    "falls",
                    "medium",
                    "Recurrent falls: on bone protection; falls clinic referral made.",
                ),
                (
                    draft.band == "older" and (self.b.as_of - p.date_of_birth).days > 88 * 365,
                    "resuscitation",
                    "high",
                    "DNACPR decision in place; original form kept at home.",
                ),
                (
                    "learning_disability" in needs,
                    "communication",
                    "medium",
                    "Easy-read letters, double appointments, carer to attend.",
                ),
                (
                    "epilepsy" in needs and draft.band == "child",
                    "medication",
                    "high",
                    "Rescue medication (buccal midazolam): care plan at school.",
                ),
            ),
            900,
        )

        nurse = _GP_NURSES[practice]
        first = conditions[0]["name"]
        templates = [
            ("appointment", f"Review of {str(first).lower()}; plan continues.", doctor),
            ("medication review", "Medication review; repeats reauthorised.", doctor),
        ]
        if draft.band == "child":
            templates += [
                ("appointment", "Seen with parent: chesty cough, no wheeze; advice given.", doctor),
                ("vaccination", "Nasal flu vaccination given.", nurse),
            ]
        else:
            templates += [
                ("telephone", "Telephone call with family: worried about how things are.", doctor),
                ("appointment", "Practice nurse review: blood pressure 138/82.", nurse),
                ("vaccination", "Seasonal flu vaccination given.", nurse),
            ]
        if needs & _MOBILITY_NEEDS:
            templates.append(
                (
                    "home visit",
                    "Home visit after a fall; no injury; physiotherapy referral.",
                    doctor,
                )
            )
        if "leg_ulcer" in needs:
            templates.append(
                ("referral", "Referred to district nursing for leg ulcer care.", doctor)
            )
        events = self.events(templates, 6 if draft.index == 0 else rng.randint(2, 4))

        return {
            "demographics": (self.demographics(draft, practice),),
            "involvement": (
                self.involvement(AGENCY_NAMES[practice], _Staff(doctor, "GP"), registered, "open"),
            ),
            "alerts": _iso_sorted(alerts, "raised_on"),
            "timeline": _iso_sorted(events, "occurred_on"),
            "gp_registration": (registration,),
            "conditions": _iso_sorted(conditions, "onset"),
            "medications": _iso_sorted(medications, "started_on"),
            "allergies": tuple(allergies),
            # The practice has known one address since registration (no random draw, so
            # the rest of the population is unchanged).
            "address_history": (
                {
                    "address": p.address,
                    "postcode": p.postcode,
                    "moved_in": registered,
                    "moved_out": None,
                },
            ),
        }


_NEEDS_TEXT: Mapping[str, str] = {
    "Learning disability support": "Needs prompting with budgeting, shopping and medication; "
    "wants to try a supported work placement.",
    "Mental health support": "Struggling to keep up with bills and appointments during "
    "periods of low mood.",
    "Support with memory and cognition": "Needs prompting to eat, take medication and dress "
    "for the weather; family visit daily.",
    "Physical support: personal care support": "Needs help with washing, dressing and "
    "preparing meals; mobilises indoors with a frame.",
    "Social support: support for social isolation": "Rarely leaves the house and has lost "
    "touch with friends since a bereavement.",
}


def _open(case_status: str) -> str:
    return "closed" if case_status == "closed" else "open"


#: Each agency's local identifier format (format, lowest, highest number).
LOCAL_ID_FORMATS: Mapping[str, tuple[str, int, int]] = {
    ADULT_SOCIAL_CARE: ("ASC-{:06d}", 1000, 99999),
    COMMUNITY_HEALTH: ("CH-{:05d}", 10000, 99999),
    HOUSING: ("HSG/{:04d}", 1000, 9999),
    RIVERSIDE_GP: ("RGP{:05d}", 10000, 49999),
    OAKFIELD_GP: ("OGP{:05d}", 10000, 49999),
}


def _bands(rng: random.Random, size: int) -> list[Band]:
    children = max(1, round(size * 0.125)) if size >= 4 else 0
    working = round(size * 0.3) if size >= 3 else 0
    child: Band = "child"
    working_age: Band = "working"
    older: Band = "older"
    rest = [child] * children + [working_age] * working
    rest += [older] * (size - 1 - len(rest))
    rng.shuffle(rest)
    # Person 0 is always an older adult: the single assessment pilot's service user.
    return ["older", *rest]


def generate_population(
    seed: int = 2003, size: int = 24, *, as_of: date = REFERENCE_DATE
) -> Population:
    """Build the synthetic population deterministically from ``seed``.

    ``as_of`` is the synthetic "today": every date is drawn as an offset from it, so a
    different ``as_of`` shifts the dates and leaves everything else unchanged.
    """
    if size < 1:
        raise ValueError("a population needs at least one person")
    rng = random.Random(seed)
    builder = _Builder(rng, as_of)
    drafts = [builder.person(index, band) for index, band in enumerate(_bands(rng, size))]
    for draft in drafts:
        builder.needs(draft)
        builder.agencies(draft)
    _top_up(drafts)

    local_ids: dict[str, dict[str, str]] = {agency: {} for agency in AGENCY_IDS}
    for agency in BASE_AGENCY_IDS:
        pattern, low, high = LOCAL_ID_FORMATS[agency]
        members = [d for d in drafts if agency in d.agencies]
        numbers = rng.sample(range(low, high + 1), len(members))
        local_ids[agency] = {
            d.person.nhs_number: pattern.format(n) for d, n in zip(members, numbers, strict=True)
        }

    records: dict[str, dict[str, dict[str, tuple[Row, ...]]]] = {a: {} for a in AGENCY_IDS}
    maker = _Records(builder)
    for draft in drafts:
        nhs = draft.person.nhs_number
        for agency in BASE_AGENCY_IDS:
            if agency not in draft.agencies:
                continue
            if agency == ADULT_SOCIAL_CARE:
                held = maker.adult_social_care(draft)
            elif agency == COMMUNITY_HEALTH:
                held = maker.community_health(draft)
            elif agency == HOUSING:
                held = maker.housing(draft)
            else:
                held = maker.gp(draft)
            records[agency][local_ids[agency][nhs]] = held
    assessed = _add_single_assessment_domains(drafts, local_ids, records, as_of)

    return Population(
        seed=seed,
        as_of=as_of,
        people=tuple(d.person for d in drafts),
        local_ids=MappingProxyType({a: MappingProxyType(ids) for a, ids in local_ids.items()}),
        records=MappingProxyType(
            {
                a: MappingProxyType({k: MappingProxyType(v) for k, v in r.items()})
                for a, r in records.items()
            }
        ),
        cast=MappingProxyType({"single_assessment": assessed}),
    )


_DOMAIN_AGENCIES = (COMMUNITY_HEALTH, ADULT_SOCIAL_CARE, HOUSING)


def _add_single_assessment_domains(
    drafts: Sequence[_Draft],
    local_ids: Mapping[str, Mapping[str, str]],
    records: Mapping[str, dict[str, dict[str, tuple[Row, ...]]]],
    as_of: date,
) -> tuple[str, ...]:
    """Give each older person known to the trust, the council and housing the domains of
    a single assessment, each assessed by the agency that knows it best.

    Drawn from the person's needs alone, with no random draw, so adding them leaves the
    rest of the population unchanged. Returns the NHS numbers of those assessed.
    """
    assessed: list[str] = []
    for draft in drafts:
        if draft.band != "older" or not set(_DOMAIN_AGENCIES) <= draft.agencies:
            continue
        nhs = draft.person.nhs_number
        assessed.append(nhs)
        for position, agency in enumerate(_DOMAIN_AGENCIES):
            held = records[agency][local_ids[agency][nhs]]
            (involvement,) = held["involvement"]
            held["assessment_domains"] = tuple(
                {
                    "domain": domain,
                    "summary": summary,
                    "needs": needs_text,
                    "assessor": involvement["worker"],
                    "assessed_on": as_of - timedelta(days=14 + 3 * position),
                }
                for domain, summary, needs_text in _domains(agency, draft)
            )
    return tuple(assessed)


def _domains(agency: str, draft: _Draft) -> list[tuple[str, str, str]]:
    needs = draft.needs
    if agency == COMMUNITY_HEALTH:
        clinical = [
            text
            for need, text in (
                ("falls", "two falls in six months"),
                ("leg_ulcer", "venous leg ulcer under compression"),
                ("heart_failure", "heart failure, weight monitored daily"),
                ("copd", "breathless on exertion"),
                ("dementia", "short-term memory loss"),
                ("stroke", "weakness on one side since a stroke"),
                ("parkinsons", "tremor and slowness of movement"),
                ("diabetes", "diabetes managed with tablets"),
            )
            if need in needs
        ] or ["no active clinical problem"]
        return [
            (
                "Physical health and clinical care",
                "; ".join(clinical).capitalize() + ".",
                "Nursing visits as planned; medicines reviewed with the GP.",
            ),
            (
                "Mobility and falls",
                "Walks indoors with a frame; unsteady on turning."
                if needs & _MOBILITY_NEEDS
                else "Mobile indoors and out without aids.",
                "Strength and balance programme." if needs & _MOBILITY_NEEDS else "None.",
            ),
        ]
    if agency == ADULT_SOCIAL_CARE:
        return [
            (
                "Personal care and daily living",
                "Needs help with washing, dressing and meals."
                if needs & (_MOBILITY_NEEDS | {"dementia"})
                else "Manages personal care; needs help with shopping.",
                "Home care visits; telecare pendant.",
            ),
            (
                "Social contact and carers",
                "Lives alone; family visit weekly."
                if "lives_alone" in needs
                else "Lives with family.",
                "Day centre place offered."
                if "lives_alone" in needs
                else "Carer's assessment offered.",
            ),
        ]
    return [
        (
            "Accommodation and home safety",
            "Sheltered flat with warden cover."
            if draft.sheltered
            else "Ground-floor home; stairs to the bathroom.",
            "Level-access shower and grab rails." if needs & _MOBILITY_NEEDS else "Key safe.",
        ),
        (
            "Finances and tenancy",
            "Rent arrears since a hospital stay." if "arrears" in needs else "Rent up to date.",
            "Benefits check and repayment plan." if "arrears" in needs else "None.",
        ),
    ]
