"""Whether a stated reason says something a reviewer could check.

A break-glass or safeguarding reason is read later by a Caldicott guardian and
told to the person in their subject report. Twenty ``x`` or the same sentence
pasted into every grant gives the reviewer nothing to go on, so such text is
refused before any grant is made. This is a floor, not a judgement of the
reason: a guardian still reads every one.
"""

from __future__ import annotations

import re

#: The shortest reason accepted, after runs of white space are collapsed.
MIN_LENGTH = 20
#: The fewest distinct words (of two or more letters) a reason must use.
MIN_WORDS = 4
#: A reason that is one unit of up to this many characters repeated says nothing.
MAX_REPEATED_UNIT = 8

_WORD = re.compile(r"[^\W\d_]{2,}")
_REPEATED = re.compile(r"(.{1,%d}?)\1+" % MAX_REPEATED_UNIT, re.DOTALL)


def normalised(text: str) -> str:
    """The text as compared with an earlier reason: case, spacing and punctuation ignored."""
    return " ".join(_WORD.findall(text.casefold()))


def meaningful(text: str, previous: str | None = None) -> str | None:
    """None when ``text`` can stand as a recorded reason; otherwise what is wrong with it.

    ``previous`` is the same practitioner's last recorded reason: the same text
    twice in a row is a reason copied, not given.
    """
    stated = " ".join(text.split())
    if len(stated) < MIN_LENGTH:
        return (
            f"say what is happening in at least {MIN_LENGTH} characters; the reason is recorded "
            "and reviewed by a Caldicott guardian"
        )
    compact = "".join(stated.casefold().split())
    if _REPEATED.fullmatch(compact) is not None:
        return (
            "the reason repeats the same characters; say in your own words what is happening "
            "and why you need the record now"
        )
    words = set(_WORD.findall(stated.casefold()))
    if len(words) < MIN_WORDS:
        return (
            f"the reason uses fewer than {MIN_WORDS} different words; say in a sentence what is "
            "happening and why you need the record now"
        )
    if previous is not None and normalised(previous) == normalised(stated):
        return (
            "the reason is the same as the one you gave for your last grant; say what is "
            "happening this time"
        )
    return None
