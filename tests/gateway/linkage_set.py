"""A synthetic linkage set: agencies' records of the same made-up people, with the errors
real records have, and the truth about who is who.

Seeded, so every run makes the same set. People get common names (a few surnames and
given names are far more frequent than the rest), some double-barrelled surnames, and
some have twins (same surname, birthday and address, another given name). Each person
is known to one to four agencies, and each agency's record may carry a familiar form of
the given name, a typo, day and month swapped or one digit wrong in the date of birth,
an address from before the person moved (or both addresses), a surname written in part,
no NHS number, or one with a mistyped digit. Every name, postcode and NHS number is
invented; NHS numbers are drawn from the 999 range, which is never issued.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass, replace

from gateway.governance.linkage_store import IncomingRecord
from gateway.governance.nhs_number import with_check_digit

AGENCIES = (
    "riverside-gp",
    "oakfield-gp",
    "shire-adult-social-care",
    "shire-community-health",
    "shire-housing",
)


def _words(text: str) -> list[str]:
    return text.split()


_SURNAMES = _words(
    "Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson "
    "Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson "
    "Wood Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan "
    "Allen James Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell "
    "Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan "
    "Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman Powell Webb "
    "Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes "
    "Knight Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Pritchard"
)
_GIVEN = _words(
    "John David Michael James Robert William Peter Richard Thomas Christopher Paul Mark "
    "Stephen Andrew Anthony Daniel Joseph Edward Charles Henry George Frederick Arthur "
    "Leonard Raymond Walter Ronald Philip Samuel Benjamin Matthew Nicholas Timothy Louis "
    "Margaret Mary Susan Elizabeth Sarah Patricia Catherine Dorothy Helen Eleanor Anne "
    "Jennifer Deborah Rebecca Victoria Christine Frances Josephine Joan Jean Barbara Irene "
    "Doris Sheila Brenda Pauline Gillian Louise Paula Danielle Amira Priya Aisha Fatima "
    "Nadia Olivia Emily Grace Ruby Chloe Hannah Jessica Lily Sophie Ava Zainab Mohammed "
    "Omar Yusuf Arjun Ravi Kwame Tomasz Piotr Liam Noah Oliver Harry Jack Oscar Leo"
)
#: Familiar forms people give for these names (a subset of the matcher's table).
_FAMILIAR = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Margaret": ("Peggy", "Maggie", "Meg"),
    "Elizabeth": ("Liz", "Beth", "Betty"),
    "Richard": ("Dick", "Rick"),
    "James": ("Jim", "Jimmy"),
    "John": ("Jack", "Johnny"),
    "Edward": ("Ted", "Eddie"),
    "Thomas": ("Tom", "Tommy"),
    "Anthony": ("Tony",),
    "Susan": ("Sue",),
    "Patricia": ("Pat", "Trish"),
    "Catherine": ("Kate", "Cathy"),
    "Michael": ("Mike", "Mick"),
    "Christopher": ("Chris",),
    "Dorothy": ("Dot", "Dolly"),
    "Frederick": ("Fred",),
    "Henry": ("Harry",),
    "Samuel": ("Sam",),
    "Jennifer": ("Jenny",),
    "Rebecca": ("Becky",),
    "Victoria": ("Vicky",),
    "Daniel": ("Dan", "Danny"),
    "David": ("Dave",),
    "Andrew": ("Andy",),
    "Stephen": ("Steve",),
    "Nicholas": ("Nick",),
}
_OUTCODES = _words(
    "SY1 SY2 SY3 SY4 SY5 SY8 TF1 TF2 TF3 TF4 TF7 TF9 WV1 WV5 WR1 WR2 HR1 HR4 LD1 ST5"
)
_TEAMS = ("North", "South", "Central")


@dataclass(frozen=True)
class TruePerson:
    """A made-up person as they really are."""

    key: int
    given_name: str
    family_name: str
    date_of_birth: dt.date
    nhs_number: str
    #: Oldest first; the last is where they live now.
    postcodes: tuple[str, ...]


@dataclass(frozen=True)
class LabelledRecord:
    """An agency's record and the person it really is."""

    record: IncomingRecord
    truth: int


def _weighted(rng: random.Random, names: list[str]) -> str:
    # Zipf-like: the first names of the list are far more common than the last.
    weights = [1 / (rank + 1) for rank in range(len(names))]
    return rng.choices(names, weights)[0]


def _postcode(rng: random.Random) -> str:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return f"{rng.choice(_OUTCODES)} {rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}"


def _nhs_numbers(rng: random.Random) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < 4000:
        number = with_check_digit("999" + "".join(rng.choice(string.digits) for _ in range(6)))
        if number is not None:
            numbers.add(number)
    return sorted(numbers)


def _typo(rng: random.Random, value: str) -> str:
    if len(value) < 5:
        return value
    i = rng.randrange(1, len(value) - 1)
    kind = rng.choice(("substitute", "swap", "drop", "double"))
    if kind == "substitute":
        return value[:i] + rng.choice("aeiourstnl") + value[i + 1 :]
    if kind == "swap":
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if kind == "drop":
        return value[:i] + value[i + 1 :]
    return value[:i] + value[i] + value[i:]


def _bad_nhs(rng: random.Random, number: str) -> str:
    # One digit mistyped: the modulus 11 check always catches it.
    i = rng.randrange(10)
    digit = rng.choice([d for d in string.digits if d != number[i]])
    return number[:i] + digit + number[i + 1 :]


def _dob_error(rng: random.Random, born: dt.date) -> dt.date | None:
    roll = rng.random()
    if roll < 0.03 and born.day <= 12 and born.day != born.month:
        return born.replace(month=born.day, day=born.month)
    if roll < 0.05:
        text = born.strftime("%Y%m%d")
        for _ in range(20):
            i = rng.choice((3, 5, 6, 7))
            candidate = text[:i] + rng.choice(string.digits) + text[i + 1 :]
            try:
                changed = dt.datetime.strptime(candidate, "%Y%m%d").date()
            except ValueError:
                continue
            if changed != born:
                return changed
    if roll < 0.06:
        return None
    return born


def _people(rng: random.Random, count: int) -> list[TruePerson]:
    numbers = iter(_nhs_numbers(rng))
    people: list[TruePerson] = []
    while len(people) < count:
        family = _weighted(rng, _SURNAMES)
        if rng.random() < 0.06:
            family = f"{family}-{rng.choice(_SURNAMES)}"
        born = dt.date(1925, 1, 1) + dt.timedelta(days=rng.randrange(365 * 95))
        homes = [_postcode(rng)]
        if rng.random() < 0.2:
            homes.append(_postcode(rng))
        given = _weighted(rng, _GIVEN)
        person = TruePerson(len(people), given, family, born, next(numbers), tuple(homes))
        people.append(person)
        if rng.random() < 0.03:
            # A twin: same surname, birthday and home; another given name.
            other = rng.choice([name for name in _GIVEN if name[0] != given[0]])
            twin = replace(person, key=len(people), given_name=other, nhs_number=next(numbers))
            people.append(twin)
    return people


def _record(
    rng: random.Random, person: TruePerson, agency: str, local_id: str, line: int
) -> IncomingRecord:
    given = person.given_name
    roll = rng.random()
    if roll < 0.10 and given in _FAMILIAR:
        given = rng.choice(_FAMILIAR[given])
    elif roll < 0.14:
        given = _typo(rng, given)
    elif roll < 0.15:
        given = given[0]
    family = person.family_name
    if "-" in family and rng.random() < 0.4:
        parts = family.split("-")
        family = rng.choice((parts[0], parts[1], " ".join(parts), f"{parts[1]}-{parts[0]}"))
    elif rng.random() < 0.04:
        family = _typo(rng, family)
    nhs: str | None = person.nhs_number
    roll = rng.random()
    if roll < 0.27:
        nhs = None
    elif roll < 0.35:
        nhs = _bad_nhs(rng, person.nhs_number)
    elif roll < 0.45:
        nhs = f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}"
    homes = person.postcodes
    if len(homes) == 1:
        postcodes: tuple[str, ...] = homes
    else:
        roll = rng.random()
        # Not told of the move; told, with the old address kept; told, new address only.
        postcodes = homes[:1] if roll < 0.3 else (homes[1], homes[0]) if roll < 0.6 else homes[1:]
    return IncomingRecord(
        line=line,
        agency_id=agency,
        local_id=local_id,
        nhs_number=nhs,
        given_name=given,
        family_name=family,
        date_of_birth=_dob_error(rng, person.date_of_birth),
        postcodes=postcodes,
        team=rng.choice(_TEAMS),
    )


def linkage_set(people: int = 1000, seed: int = 20260601) -> dict[str, list[LabelledRecord]]:
    """Each agency's records (its file, in order), labelled with the true person."""
    rng = random.Random(seed)
    files: dict[str, list[LabelledRecord]] = {agency: [] for agency in AGENCIES}
    for person in _people(rng, people):
        count = rng.choices((1, 2, 3, 4), (0.3, 0.35, 0.25, 0.1))[0]
        for agency in rng.sample(AGENCIES, count):
            rows = files[agency]
            local_id = f"{agency[:3].upper()}{len(rows) + 1:06d}"
            record = _record(rng, person, agency, local_id, len(rows) + 2)
            rows.append(LabelledRecord(record, person.key))
    for rows in files.values():
        rng.shuffle(rows)
    # Line numbers as in the agency's CSV file: the header is line 1.
    return {
        agency: [
            LabelledRecord(replace(labelled.record, line=index + 2), labelled.truth)
            for index, labelled in enumerate(rows)
        ]
        for agency, rows in files.items()
    }
