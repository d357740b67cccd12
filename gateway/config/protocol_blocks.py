"""The small document model the protocol document is built in, and its text helpers.

The document is a list of blocks (headings, paragraphs, bullet lists, tables)
whose text is a sequence of styled runs. It is built once and then written as
Markdown or HTML (see :mod:`gateway.config.protocol_render`), so the two formats cannot
say different things.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """One run of inline text: its style ("" plain, "code" or "strong") and its text."""

    style: str
    text: str


#: Inline text: runs in order.
Text = tuple[Run, ...]
#: An agency's display name from its id.
Namer = Callable[[str], str]


@dataclass(frozen=True)
class Heading:
    """A heading of ``level`` 1 to 4, with an anchor to link to it by."""

    level: int
    text: Text
    anchor: str = ""


@dataclass(frozen=True)
class Para:
    """A paragraph."""

    text: Text


@dataclass(frozen=True)
class Bullets:
    """A bullet list, one text per item."""

    items: tuple[Text, ...]


@dataclass(frozen=True)
class Table:
    """A table: plain header cells, then rows of inline text."""

    header: tuple[str, ...]
    rows: tuple[tuple[Text, ...], ...]


Block = Heading | Para | Bullets | Table


def t(*parts: str | Run | Text) -> Text:
    """Inline text from plain strings, styled runs and other texts, in order."""
    runs: list[Run] = []
    for part in parts:
        if isinstance(part, str):
            runs.append(Run("", part))
        elif isinstance(part, Run):
            runs.append(part)
        else:
            runs.extend(part)
    return tuple(runs)


def code(text: str) -> Run:
    """An identifier or value as written in the protocol file."""
    return Run("code", text)


def strong(text: str) -> Run:
    """Text that must not be missed."""
    return Run("strong", text)


def codes(names: Iterable[str]) -> Text:
    """Identifiers as code, separated by commas; "none" when there are none."""
    runs: list[Run] = []
    for position, name in enumerate(names):
        if position:
            runs.append(Run("", ", "))
        runs.append(code(name))
    return tuple(runs) or (Run("", "none"),)


def joined(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def joined_codes(names: Sequence[str], last: str = "and") -> Text:
    """Identifiers as code in a sentence: ``a``, ``a and b``, ``a, b or c``."""
    runs: list[Run] = []
    for position, name in enumerate(names):
        if position:
            runs.append(Run("", f" {last} " if position == len(names) - 1 else ", "))
        runs.append(code(name))
    return tuple(runs)


def declared_order(names: Iterable[str], declared: Iterable[str]) -> list[str]:
    """``names`` in the order the protocol declares them; undeclared ones last, sorted."""
    order = {name: position for position, name in enumerate(declared)}
    return sorted(names, key=lambda name: (order.get(name, len(order)), name))


def hours(amount: float) -> str:
    """``1 hour``, ``4 hours``, ``0.5 hours``."""
    written = f"{amount:g}"
    return f"{written} hour" if written == "1" else f"{written} hours"


def slug(text: str) -> str:
    """An anchor made of ``text``: lower case, anything but letters and digits a hyphen."""
    return "".join(c if c.isalnum() else "-" for c in text.lower())
