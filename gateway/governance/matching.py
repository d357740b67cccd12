"""Probabilistic matching of a person's records: pure scoring, no database.

When a record comes without a valid NHS number, it is compared with the people the
index already holds, field by field, in the manner of Fellegi and Sunter: each field
agrees at some *level* (exact, a familiar form, a typo, ...) and each level carries a
weight, ``log2(m / u)``, where ``m`` is how often two records of the same person agree
at that level and ``u`` how often two records of different people do. The weights add
up to a score. The m and u values below are set by hand from what is known of record
errors in health and social care (about one record in twenty with a typo in a name, a
few in a hundred with day and month swapped, a tenth of people having moved since
another agency last saw them); they are written down here so that the thresholds can
be reasoned about, and the synthetic linkage test measures what they give.

Decisions (see :data:`LINK_THRESHOLD` and :data:`REVIEW_THRESHOLD`):

- **link** when the score reaches the link threshold *and* the dates of birth agree
  (exactly, with day and month swapped, or one digit apart) *and* the given names do not
  disagree *and* the NHS numbers do not conflict. So a name alone never links: without
  an agreeing date of birth nothing links, whatever the names.
- **review** (a person decides) when the score reaches the review threshold, the date
  of birth or a postcode agrees and the NHS numbers do not conflict: twins (same
  surname, birthday and address, different given names) when one record has no NHS
  number, people who moved and changed their name, and the like. Two valid NHS numbers
  that differ are two people: such a candidate is never queued.
- otherwise **no match**: the record is a new person.

Strings are compared with jellyfish (Damerau-Levenshtein distance for typos and
transpositions, Jaro-Winkler similarity for surnames, Metaphone for blocking by sound):
a small, typed, Rust-backed library kept up to date, whose phonetic codes rapidfuzz
lacks; splink was not chosen because it trains its model over a whole batch through
DuckDB and pandas, which the gateway's incremental, record-at-a-time import does not
need and should not carry.

Blocking keeps matching fast: a record is compared only with people who share at least
one blocking key with it (a date of birth, that date with day and month swapped, a
postcode, or a surname's sound with the year of birth or with the given name).
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import jellyfish

from gateway.governance import nicknames

#: A score at or above this links automatically (with the conditions above).
LINK_THRESHOLD = 28.0
#: A score at or above this, below the link threshold, goes to the review queue.
REVIEW_THRESHOLD = 14.0


class Decision(StrEnum):
    """What to do with a record and its best candidate."""

    LINK = "link"
    REVIEW = "review"
    NO_MATCH = "no_match"


def _weight(m: float, u: float) -> float:
    return round(math.log2(m / u), 2)


#: field -> level -> (m, u). A missing value on either side weighs nothing.
M_U: dict[str, dict[str, tuple[float, float]]] = {
    "given_name": {
        "exact": (0.87, 0.004),
        "familiar": (0.04, 0.002),
        "typo": (0.04, 0.01),
        "initial": (0.02, 0.03),
        "disagree": (0.03, 0.954),
    },
    "family_name": {
        "exact": (0.88, 0.002),
        # One surname is part of the other (Smith and Smith-Jones), or the same parts in
        # another order (Smith-Jones and Jones Smith).
        "part": (0.04, 0.0005),
        "typo": (0.05, 0.005),
        "disagree": (0.03, 0.9925),
    },
    "date_of_birth": {
        "exact": (0.93, 0.0002),
        "swapped": (0.02, 0.00005),
        "near": (0.04, 0.002),
        "disagree": (0.01, 0.99775),
    },
    "postcode": {
        # Any postcode of one record's history is one of the other's.
        "exact": (0.80, 0.0005),
        "sector": (0.04, 0.004),
        "district": (0.04, 0.03),
        "disagree": (0.12, 0.9655),
    },
    "nhs_number": {
        # Both valid and different: two people, unless an agency recorded the wrong one.
        "conflict": (0.002, 0.999),
    },
}
WEIGHTS: dict[str, dict[str, float]] = {
    name: {level: _weight(m, u) for level, (m, u) in levels.items()} for name, levels in M_U.items()
}
_DOB_AGREES = frozenset({"exact", "swapped", "near"})
#: Feminine endings that make another person's name, not a typo (Paul, Paula; Louis, Louise).
_VARIANT_ENDINGS = ("a", "e", "ette", "elle", "ine", "ina")


@dataclass(frozen=True)
class Identity:
    """The identifying details of a record or of a person in the index.

    ``postcodes`` is the postcode history, current first; ``nhs_number`` is a valid NHS
    number or None (invalid numbers never reach matching).
    """

    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    postcodes: tuple[str, ...] = ()
    nhs_number: str | None = None


def name_tokens(value: str | None) -> tuple[str, ...]:
    """A name as lower-case ASCII letter runs: accents dropped, split at hyphens, spaces
    and apostrophes joined (O'Brien is obrien, Smith-Jones is smith and jones)."""
    if not value:
        return ()
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().casefold()
    plain = plain.replace("'", "").replace("\u2019", "")
    tokens: list[str] = []
    current: list[str] = []
    for ch in plain:
        if ch.isalpha():
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    return tuple(tokens)


def postcode_key(value: str) -> str:
    """A postcode without case or spaces (SY1 4AB, sy14ab)."""
    return "".join(ch for ch in value.upper() if ch.isalnum())


def name_key(value: str) -> str:
    """A surname without case, spaces or punctuation (O'Brien, obrien): as the index
    stores it for exact search."""
    return "".join(ch for ch in value.casefold() if ch.isalnum())


@dataclass(frozen=True)
class Prepared:
    """An identity normalised once for comparing many times."""

    identity: Identity
    given: str
    given_groups: frozenset[str]
    family_tokens: tuple[str, ...]
    family: str
    postcodes: frozenset[str]
    sectors: frozenset[str]
    districts: frozenset[str]


def prepare(identity: Identity) -> Prepared:
    """Normalise an identity's names and postcodes."""
    given_tokens = name_tokens(identity.given_name)
    given = given_tokens[0] if given_tokens else ""
    family_tokens = name_tokens(identity.family_name)
    postcodes = frozenset(key for key in (postcode_key(p) for p in identity.postcodes) if key)
    return Prepared(
        identity=identity,
        given=given,
        given_groups=nicknames.groups(given) if given else frozenset(),
        family_tokens=family_tokens,
        family="".join(family_tokens),
        postcodes=postcodes,
        sectors=frozenset(p[:-2] for p in postcodes if len(p) >= 5),
        districts=frozenset(p[:-3] for p in postcodes if len(p) >= 5),
    )


@dataclass(frozen=True)
class FieldScore:
    """How one field compared: its level and that level's weight."""

    field: str
    level: str
    weight: float


@dataclass(frozen=True)
class Score:
    """The comparison of a record with one candidate, and what it decides."""

    total: float
    fields: tuple[FieldScore, ...]
    decision: Decision

    def level(self, name: str) -> str:
        """The level at which field ``name`` compared (``missing`` when either lacked it)."""
        return next((f.level for f in self.fields if f.field == name), "missing")

    def explain(self) -> str:
        """One line: each field's level and weight, and the total."""
        parts = [f"{f.field} {f.level} {f.weight:+.1f}" for f in self.fields]
        return f"{'; '.join(parts)}; total {self.total:.1f}"


def _typo(a: str, b: str) -> bool:
    # One edit (a substitution, insertion, deletion or swap of neighbours) in a name long
    # enough for one edit not to make another name; a feminine ending is another name.
    if min(len(a), len(b)) < 4:
        return False
    short, long = sorted((a, b), key=len)
    if long.startswith(short) and long[len(short) :] in _VARIANT_ENDINGS:
        return False
    return jellyfish.damerau_levenshtein_distance(a, b) <= 1


def _given_level(a: Prepared, b: Prepared) -> str:
    if not a.given or not b.given:
        return "missing"
    if a.given == b.given:
        return "exact"
    if a.given_groups & b.given_groups:
        return "familiar"
    if _typo(a.given, b.given):
        return "typo"
    if (len(a.given) == 1 or len(b.given) == 1) and a.given[0] == b.given[0]:
        return "initial"
    return "disagree"


def _family_level(a: Prepared, b: Prepared) -> str:
    if not a.family or not b.family:
        return "missing"
    if a.family == b.family:
        return "exact"
    mine, theirs = set(a.family_tokens), set(b.family_tokens)
    if mine <= theirs or theirs <= mine:
        return "part"
    if _typo(a.family, b.family) or (
        min(len(a.family), len(b.family)) >= 6
        and jellyfish.jaro_winkler_similarity(a.family, b.family) >= 0.95
    ):
        return "typo"
    return "disagree"


def swapped(date: dt.date) -> dt.date | None:
    """The date with day and month swapped, when that is another real date."""
    if date.day > 12 or date.day == date.month:
        return None
    try:
        return date.replace(month=date.day, day=date.month)
    except ValueError:
        return None


def _near(a: dt.date, b: dt.date) -> bool:
    # One digit of YYYYMMDD mistyped, or two neighbouring digits swapped.
    x, y = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    different = [i for i in range(8) if x[i] != y[i]]
    if len(different) == 1:
        return True
    i = different[0]
    return different == [i, i + 1] and x[i] == y[i + 1] and x[i + 1] == y[i]


def _dob_level(a: Prepared, b: Prepared) -> str:
    x, y = a.identity.date_of_birth, b.identity.date_of_birth
    if x is None or y is None:
        return "missing"
    if x == y:
        return "exact"
    if swapped(x) == y:
        return "swapped"
    return "near" if _near(x, y) else "disagree"


def _postcode_level(a: Prepared, b: Prepared) -> str:
    if not a.postcodes or not b.postcodes:
        return "missing"
    if a.postcodes & b.postcodes:
        return "exact"
    if a.sectors & b.sectors:
        return "sector"
    return "district" if a.districts & b.districts else "disagree"


def compare(record: Prepared, candidate: Prepared) -> Score:
    """Score a record against a candidate and decide (see the module's rules)."""
    levels = {
        "given_name": _given_level(record, candidate),
        "family_name": _family_level(record, candidate),
        "date_of_birth": _dob_level(record, candidate),
        "postcode": _postcode_level(record, candidate),
    }
    x, y = record.identity.nhs_number, candidate.identity.nhs_number
    if x is not None and y is not None and x != y:
        levels["nhs_number"] = "conflict"
    fields = tuple(
        FieldScore(name, level, WEIGHTS[name][level] if level != "missing" else 0.0)
        for name, level in levels.items()
    )
    total = round(sum(f.weight for f in fields), 2)
    dob = levels["date_of_birth"]
    other_evidence = dob in _DOB_AGREES or levels["postcode"] in {"exact", "sector"}
    if (
        total >= LINK_THRESHOLD
        and dob in _DOB_AGREES
        and levels["given_name"] != "disagree"
        and "nhs_number" not in levels
    ):
        decision = Decision.LINK
    elif total >= REVIEW_THRESHOLD and other_evidence and "nhs_number" not in levels:
        decision = Decision.REVIEW
    else:
        decision = Decision.NO_MATCH
    return Score(total, fields, decision)


def blocking_keys(prepared: Prepared) -> Iterator[tuple[str, ...]]:
    """The keys under which a record meets its candidates (see the module's docstring)."""
    born = prepared.identity.date_of_birth
    if born is not None:
        yield ("dob", born.isoformat())
        other = swapped(born)
        if other is not None:
            yield ("dob", other.isoformat())
    for postcode in prepared.postcodes:
        yield ("postcode", postcode)
    sounds = {jellyfish.metaphone(token)[:4] for token in prepared.family_tokens}
    sounds.discard("")
    for sound in sounds:
        if born is not None:
            yield ("family-year", sound, str(born.year))
        for group in prepared.given_groups:
            yield ("family-given", sound, group)


@dataclass(frozen=True)
class Candidate:
    """A person the record may be, with the score that says how likely."""

    person_id: str
    score: Score


@dataclass
class CandidatePool:
    """People to match records against, indexed by blocking key; grows as people are
    added, so that records later in an import meet people created earlier in it."""

    _people: dict[str, Prepared] = field(default_factory=dict)
    _blocks: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self._people)

    def add(self, person_id: str, identity: Identity) -> None:
        """Add a person, or replace their identity (a new postcode, an NHS number)."""
        prepared = prepare(identity)
        self._people[person_id] = prepared
        for key in blocking_keys(prepared):
            self._blocks.setdefault(key, set()).add(person_id)

    def identity(self, person_id: str) -> Identity | None:
        """The identity held for a person, if the pool has them."""
        found = self._people.get(person_id)
        return None if found is None else found.identity

    def candidates(self, identity: Identity) -> list[Candidate]:
        """Everyone sharing a blocking key with ``identity``, best score first (ties by id,
        so that the outcome never depends on the order people were added)."""
        record = prepare(identity)
        ids: set[str] = set()
        for key in blocking_keys(record):
            ids |= self._blocks.get(key, set())
        scored = [Candidate(pid, compare(record, self._people[pid])) for pid in ids]
        scored.sort(key=lambda c: (-c.score.total, c.person_id))
        return scored


def best(candidates: Iterable[Candidate]) -> Candidate | None:
    """The best candidate, or None when there is none."""
    return next(iter(candidates), None)
