"""A stated reason must say something a reviewer could check: properties and examples."""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st

from gateway.governance.reasons import (
    MAX_REPEATED_UNIT,
    MIN_LENGTH,
    MIN_WORDS,
    meaningful,
    normalised,
)

GOOD = (
    "Found collapsed at the surgery door, unresponsive",
    "Section 42 enquiry opened after bruising was seen at a home visit",
    "Carer rang: she has not eaten for three days and will not open the door",
)


def test_real_reasons_are_accepted() -> None:
    for reason in GOOD:
        assert meaningful(reason) is None, reason
        assert meaningful(reason, previous="Something else happened on another day") is None


def test_what_the_reviewer_found_is_refused_with_what_to_do() -> None:
    assert "at least 20 characters" in (meaningful("collapsed") or "")
    assert "repeats" in (meaningful("x" * 20) or "")
    assert "repeats" in (meaningful("abcabcabcabcabcabcabc") or "")
    assert "repeats" in (meaningful("help help help help help") or "")
    assert "different words" in (meaningful("urgent urgent 123456 urgent!!") or "")
    assert "last grant" in (meaningful(GOOD[0], previous=GOOD[0]) or "")


@given(st.text(max_size=MIN_LENGTH - 1))
def test_anything_shorter_than_the_minimum_is_refused(text: str) -> None:
    assert meaningful(text) is not None


@given(
    unit=st.text(min_size=1, max_size=MAX_REPEATED_UNIT),
    times=st.integers(min_value=2, max_value=60),
    gap=st.sampled_from(["", " ", "  ", "\n"]),
)
@example(unit="x", times=20, gap="")
@example(unit="abc", times=6, gap="")
def test_a_short_unit_repeated_is_refused(unit: str, times: int, gap: str) -> None:
    assert meaningful(gap.join([unit] * times)) is not None


@given(
    words=st.lists(
        st.text(alphabet=string.ascii_letters, min_size=2, max_size=12),
        min_size=1,
        max_size=MIN_WORDS - 1,
        unique_by=str.casefold,
    ),
    repeats=st.integers(min_value=1, max_value=8),
    filler=st.text(alphabet=string.digits + " .,!-", max_size=40),
)
def test_fewer_distinct_words_than_the_minimum_are_refused(
    words: list[str], repeats: int, filler: str
) -> None:
    assert meaningful(" ".join(words * repeats) + " " + filler) is not None


@given(
    reason=st.sampled_from(GOOD),
    spaces=st.sampled_from([" ", "  ", "\t", "\n "]),
    upper=st.booleans(),
    punctuation=st.sampled_from(["", ".", "!", "..."]),
)
def test_the_same_reason_twice_in_a_row_is_refused_however_it_is_typed(
    reason: str, spaces: str, upper: bool, punctuation: str
) -> None:
    again = spaces.join(reason.split()) + punctuation
    again = again.upper() if upper else again
    assert normalised(again) == normalised(reason)
    assert meaningful(again, previous=reason) is not None
    assert meaningful(again) is None


@given(st.sampled_from(GOOD), st.sampled_from(GOOD))
def test_a_different_reason_after_another_is_accepted(reason: str, previous: str) -> None:
    assert (meaningful(reason, previous=previous) is None) == (reason != previous)
