"""NHS numbers: normalised, and checked by their modulus 11 check digit.

An NHS number is ten digits, the last a check digit: each of the first nine is
weighted 10 down to 2, the sum taken modulo 11, and the check digit is 11 minus that
(11 becomes 0; 10 means the nine digits can never be a valid number). Every single
mistyped digit and every swap of two adjacent digits changes the check, so a number
that passes was, at the least, not mistyped in either of those ways. Only a number that
passes is ever used to link records deterministically; any other is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Characters people and systems write inside NHS numbers (``943 476 5919``,
#: ``943-476-5919``); anything else makes the value not an NHS number.
_SEPARATORS = frozenset(" -\t")
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


@dataclass(frozen=True)
class NhsNumberCheck:
    """The outcome of checking one value: the ten digits when valid, else why not."""

    value: str
    digits: str | None
    problem: str | None

    @property
    def valid(self) -> bool:
        """Whether the value is a valid NHS number."""
        return self.problem is None


def check_digit(nine_digits: str) -> int | None:
    """The check digit of nine digits, or None when no check digit can make them valid."""
    if len(nine_digits) != 9 or not nine_digits.isascii() or not nine_digits.isdigit():
        raise ValueError(f"expected nine digits, got {nine_digits!r}")
    total = sum(int(digit) * weight for digit, weight in zip(nine_digits, _WEIGHTS, strict=True))
    remainder = 11 - total % 11
    if remainder == 11:
        return 0
    return None if remainder == 10 else remainder


def normalise(value: str) -> str:
    """``value`` without the spaces and dashes people write in it (not otherwise checked)."""
    return "".join(ch for ch in value.strip() if ch not in _SEPARATORS)


def check(value: str) -> NhsNumberCheck:
    """Normalise and check ``value``; the result says what is wrong when it is not valid."""
    digits = normalise(value)
    if not digits:
        return NhsNumberCheck(value, None, "is empty")
    if not digits.isascii() or not digits.isdigit():
        return NhsNumberCheck(value, None, "has characters other than digits, spaces and dashes")
    if len(digits) != 10:
        return NhsNumberCheck(value, None, f"has {len(digits)} digits, not 10")
    expected = check_digit(digits[:9])
    if expected is None:
        return NhsNumberCheck(value, None, "cannot be an NHS number (no check digit fits it)")
    if expected != int(digits[9]):
        return NhsNumberCheck(
            value, None, "fails the modulus 11 check (a mistyped or swapped digit)"
        )
    return NhsNumberCheck(value, digits, None)


def is_valid(value: str) -> bool:
    """Whether ``value`` is a valid NHS number once spaces and dashes are removed."""
    return check(value).valid


def with_check_digit(nine_digits: str) -> str | None:
    """The valid ten-digit NHS number starting with ``nine_digits``, if one exists."""
    digit = check_digit(nine_digits)
    return None if digit is None else f"{nine_digits}{digit}"
