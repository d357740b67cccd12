"""NHS numbers: the modulus 11 check catches every mistyped digit and every swap of two
different neighbouring digits; spaces and dashes are written, not part of the number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.governance.nhs_number import check, check_digit, is_valid, normalise, with_check_digit

nine_digits = st.text(alphabet="0123456789", min_size=9, max_size=9)
valid_numbers = nine_digits.map(with_check_digit).filter(lambda number: number is not None)


def test_a_known_valid_number_and_its_check_digit() -> None:
    # 9434765919 is the NHS's own published example of a valid number.
    assert check_digit("943476591") == 9
    assert is_valid("9434765919")
    assert is_valid("943 476 5919") and is_valid("943-476-5919")
    assert not is_valid("9434765918")


def test_nine_digits_that_no_check_digit_can_make_valid() -> None:
    # Weighted sum 10*0 + ... leaves remainder 1: the check digit would be 10.
    hopeless = next(f"{n:09d}" for n in range(10**9) if check_digit(f"{n:09d}") is None)
    assert with_check_digit(hopeless) is None
    assert "no check digit fits" in str(check(hopeless + "0").problem)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("94347659", "has 8 digits, not 10"),
        ("94347659190", "has 11 digits, not 10"),
        ("943476591X", "characters other than digits"),
        (" - ", "is empty"),
        ("9434765918", "fails the modulus 11 check"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(value: str, problem: str) -> None:
    result = check(value)
    assert not result.valid and result.digits is None
    assert problem in str(result.problem)


@given(valid_numbers, st.lists(st.sampled_from([" ", "-", "\t"]), max_size=4), st.data())
def test_a_valid_number_stays_valid_however_it_is_spaced(
    number: str | None, separators: list[str], data: st.DataObject
) -> None:
    assert number is not None
    written = list(number)
    for separator in separators:
        written.insert(data.draw(st.integers(0, len(written))), separator)
    result = check("".join(written))
    assert result.valid and result.digits == number
    assert normalise("".join(written)) == number


@given(valid_numbers, st.integers(0, 9), st.integers(1, 9))
def test_every_single_mistyped_digit_is_caught(number: str | None, at: int, shift: int) -> None:
    assert number is not None
    typed = number[:at] + str((int(number[at]) + shift) % 10) + number[at + 1 :]
    assert not is_valid(typed)


@given(valid_numbers, st.integers(0, 8))
def test_every_swap_of_different_neighbouring_digits_is_caught(number: str | None, at: int) -> None:
    assert number is not None
    swapped = number[:at] + number[at + 1] + number[at] + number[at + 2 :]
    assert is_valid(swapped) == (swapped == number)
