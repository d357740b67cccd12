"""Matching one record against one person: each kind of real-world error scores as its
level says, twins and different NHS numbers never link, and a name alone never links."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.governance.matching import (
    LINK_THRESHOLD,
    REVIEW_THRESHOLD,
    CandidatePool,
    Decision,
    Identity,
    compare,
    prepare,
)
from gateway.governance.nicknames import familiar

BORN = dt.date(1948, 3, 7)
ROY = Identity("Robert", "Bromley", BORN, ("SY1 4AB",), None)


def _score(record: Identity, person: Identity = ROY) -> tuple[Decision, dict[str, str]]:
    score = compare(prepare(record), prepare(person))
    return score.decision, {f.field: f.level for f in score.fields}


def test_the_same_details_link() -> None:
    decision, levels = _score(Identity("ROBERT", "bromley", BORN, ("sy14ab",)))
    assert decision is Decision.LINK
    assert set(levels.values()) == {"exact"}


def test_familiar_names_typos_and_swapped_dates_still_link() -> None:
    assert (
        familiar("bob", "robert") and familiar("peggy", "margaret") and familiar("bill", "william")
    )
    assert not familiar("robert", "robert") and not familiar("john", "william")
    bob = _score(Identity("Bob", "Bromley", BORN, ("SY1 4AB",)))
    assert bob == (Decision.LINK, {**bob[1], "given_name": "familiar"})
    typo = _score(Identity("Robert", "Bromely", BORN, ("SY1 4AB",)))
    assert typo[0] is Decision.LINK and typo[1]["family_name"] == "typo"
    swapped = _score(Identity("Robert", "Bromley", dt.date(1948, 7, 3), ("SY1 4AB",)))
    assert swapped[0] is Decision.LINK and swapped[1]["date_of_birth"] == "swapped"
    one_digit = _score(Identity("Robert", "Bromley", dt.date(1943, 3, 7), ("SY1 4AB",)))
    assert one_digit[0] is Decision.LINK and one_digit[1]["date_of_birth"] == "near"


def test_hyphenated_and_double_barrelled_surnames_meet_their_parts() -> None:
    person = Identity("Amira", "Khan-Bromley", BORN, ("SY1 4AB",))
    for written in ("Khan", "Bromley", "Bromley-Khan", "Khan Bromley", "khan-bromley"):
        decision, levels = _score(Identity("Amira", written, BORN, ("SY1 4AB",)), person)
        assert decision is Decision.LINK, written
        assert levels["family_name"] in {"exact", "part"}, written


def test_an_earlier_address_in_the_history_counts() -> None:
    person = Identity("Robert", "Bromley", BORN, ("TF1 2CD", "SY1 4AB"))
    decision, levels = _score(Identity("Robert", "Bromley", BORN, ("SY1 4AB",)), person)
    assert decision is Decision.LINK and levels["postcode"] == "exact"
    # Moved, and the other agency was never told: a person decides.
    moved, levels = _score(Identity("Robert", "Bromley", BORN, ("WV5 9ZZ",)))
    assert moved is Decision.REVIEW and levels["postcode"] == "disagree"


def test_twins_go_to_review_never_link() -> None:
    # Same surname, birthday and home; another given name (one a feminine form of the
    # other is another person, not a typo).
    for twin in ("Roberta", "Margaret", "Rob"):
        decision, _ = _score(Identity(twin, "Bromley", BORN, ("SY1 4AB",)))
        expected = Decision.LINK if twin == "Rob" else Decision.REVIEW
        assert decision is expected, twin


def test_two_valid_nhs_numbers_that_differ_are_two_people() -> None:
    person = Identity("Robert", "Bromley", BORN, ("SY1 4AB",), "9434765919")
    decision, levels = _score(
        Identity("Robert", "Bromley", BORN, ("SY1 4AB",), "9434765870"), person
    )
    assert levels["nhs_number"] == "conflict" and decision is Decision.NO_MATCH


def test_the_pool_finds_candidates_by_blocking_and_ranks_them() -> None:
    pool = CandidatePool()
    pool.add("roy", ROY)
    pool.add("twin", Identity("Margaret", "Bromley", BORN, ("SY1 4AB",)))
    pool.add("stranger", Identity("Priya", "Patel", dt.date(1990, 1, 1), ("TF3 1AA",)))
    found = pool.candidates(Identity("Bob", "Bromley", BORN, ("SY1 4AB",)))
    assert [c.person_id for c in found] == ["roy", "twin"]
    assert found[0].score.decision is Decision.LINK
    assert LINK_THRESHOLD > REVIEW_THRESHOLD
    # Moved, with a date of birth one digit out: still met through surname and year.
    moved = pool.candidates(Identity("Robert", "Bromley", dt.date(1948, 3, 8), ("WR1 1AA",)))
    assert moved[0].person_id == "roy" and moved[0].score.decision is Decision.REVIEW
    assert "stranger" not in {c.person_id for c in moved}


names = st.sampled_from(
    ["Robert", "Bob", "Margaret", "Peggy", "John", "Smith", "Smith-Jones", "Jones", "Lee", "J"]
)
dates = st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31))
postcodes = st.lists(st.sampled_from(["SY1 4AB", "SY1 4AD", "SY2 1AA", "TF1 2CD"]), max_size=2)


@settings(max_examples=300)
@given(names, names, names, names, st.one_of(st.none(), dates), dates, postcodes, postcodes)
def test_a_name_alone_never_links(
    given_a: str,
    family_a: str,
    given_b: str,
    family_b: str,
    born_a: dt.date | None,
    born_b: dt.date,
    postcodes_a: list[str],
    postcodes_b: list[str],
) -> None:
    record = prepare(Identity(given_a, family_a, born_a, tuple(postcodes_a)))
    person = prepare(Identity(given_b, family_b, born_b, tuple(postcodes_b)))
    score = compare(record, person)
    if score.level("date_of_birth") not in {"exact", "swapped", "near"}:
        # Whatever the names (the same, familiar, typos) and postcodes: no link.
        assert score.decision is not Decision.LINK
    names_only = prepare(Identity(given_a, family_a))
    # With nothing but names, not even a review.
    assert compare(names_only, person).decision is Decision.NO_MATCH
    assert compare(person, names_only).decision is Decision.NO_MATCH
