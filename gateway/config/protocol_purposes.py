"""Purposes of use and consent evidence as the sharing protocol defines them.

A purpose says which roles may claim it and how it comes to apply (from the
token, by a recorded reason, or only under break-glass); a consent form says
what evidence a consent record may cite, and whether it is the person's own
words. Parsed from ``[purposes.<name>]`` and ``[consent_forms.<name>]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gateway.core.errors import Problems

PURPOSES = (
    "direct_care",
    "safeguarding",
    "emergency",
    "care_planning",
    "audit",
    # keeping the person index (linking records), which discloses no record
    "index_administration",
)
_PURPOSE = {"description", "established", "roles", "hours", "reference_pattern", "reference_hint"}


class Establishment(Enum):
    """How a purpose of use comes to apply to a request: never by the requester's say-so alone."""

    #: Vouched for by the identity provider's token; a header may choose among the
    #: purposes the token allows, never add one.
    ASSERTED = "asserted"
    #: Established per person by a recorded, reviewed reason (a safeguarding enquiry
    #: or referral reference and text), which becomes a time-limited grant.
    REASONED = "reasoned"
    #: Only under a break-glass grant.
    BREAK_GLASS = "break_glass"


@dataclass(frozen=True)
class Purpose:
    """A purpose of use as the protocol defines it: who may claim it and how it is established."""

    name: str
    description: str
    established: Establishment
    roles: frozenset[str]
    #: For a reasoned purpose: how long a recorded reason lasts.
    hours: float = 0.0
    #: For a reasoned purpose: what the enquiry or referral reference must look like.
    reference_pattern: str = ""
    reference_hint: str = ""

    def reference_ok(self, reference: str) -> bool:
        """Whether ``reference`` is an enquiry or referral reference of the required form."""
        return (
            bool(self.reference_pattern)
            and re.fullmatch(self.reference_pattern, reference.strip()) is not None
        )


@dataclass(frozen=True)
class ConsentForm:
    """A kind of evidence a consent record may cite, and what its reference looks like."""

    name: str
    description: str
    pattern: str
    #: Whether the evidence is the person's own words (needed to withdraw an objection).
    own_words: bool

    def matches(self, reference: str) -> bool:
        """Whether ``reference`` cites evidence of this form."""
        return re.search(self.pattern, reference) is not None


def strings(value: Any) -> list[str] | None:
    """The value as a list of non-empty strings, or None when it is not one."""
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


def parse_purposes(
    doc: Mapping[str, Any],
    roles: Mapping[str, str],
    break_glass_roles: frozenset[str],
    governance_roles: frozenset[str],
    break_glass_hours: float,
    problems: Problems,
) -> dict[str, Purpose]:
    """``[purposes.<name>]``: who may claim each purpose and how it is established."""
    raw = doc.get("purposes")
    if not isinstance(raw, dict) or not raw:
        problems.add(
            "purposes",
            "is missing",
            "Write one [purposes.<name>] table per purpose of use, with description, "
            "established and roles.",
        )
        return {}
    purposes: dict[str, Purpose] = {}
    for name, body in raw.items():
        where = f"purposes.{name}"
        if name not in PURPOSES:
            problems.add(
                where, "is not a purpose of use the gateway knows", f"Use: {', '.join(PURPOSES)}."
            )
            continue
        if not isinstance(body, dict):
            problems.add(
                where,
                "is not a table",
                f"Write [{where}] with description, established (asserted, reasoned or "
                "break_glass) and roles.",
            )
            continue
        for key in sorted(set(body) - _PURPOSE):
            problems.add(
                f"{where}.{key}", "is not a purpose key", f"Use: {', '.join(sorted(_PURPOSE))}."
            )
        description = body.get("description")
        if not isinstance(description, str) or not description:
            problems.add(f"{where}.description", "is missing", "Say what the purpose covers.")
            description = ""
        try:
            established = Establishment(body.get("established"))
        except ValueError:
            problems.add(
                f"{where}.established",
                f"is {body.get('established')!r}",
                'Write "asserted" (from the token), "reasoned" (a recorded reason) or '
                '"break_glass" (only under a break-glass grant).',
            )
            continue
        if (name == "emergency") != (established is Establishment.BREAK_GLASS):
            problems.add(
                f"{where}.established",
                f"is {established.value!r}",
                "The emergency purpose is established by break-glass alone "
                '(established = "break_glass"), and only it.',
            )
            continue
        if established is Establishment.BREAK_GLASS:
            if "roles" in body:
                problems.add(
                    f"{where}.roles",
                    "is given, but who may break glass is said under [break_glass]",
                    "Remove it; list the roles in [break_glass] roles.",
                )
            purposes[name] = Purpose(
                name, description, established, break_glass_roles, hours=break_glass_hours
            )
            continue
        claim_roles = strings(body.get("roles"))
        if claim_roles is None or any(r not in roles for r in claim_roles):
            problems.add(
                f"{where}.roles",
                f"is {body.get('roles')!r}",
                "List the roles that may claim it, declared under [roles]: "
                + ", ".join(sorted(roles))
                + ".",
            )
            continue
        if name == "audit" and not set(claim_roles) <= governance_roles:
            problems.add(
                f"{where}.roles",
                f"names {', '.join(sorted(set(claim_roles) - governance_roles))}",
                "Audit is for information-governance roles only: list roles named in "
                "[governance] roles.",
            )
            continue
        purpose = Purpose(name, description, established, frozenset(claim_roles))
        if established is Establishment.REASONED:
            purpose = _reasoned(purpose, body, where, problems)
        purposes[name] = purpose
    return purposes


def _reasoned(purpose: Purpose, body: Mapping[str, Any], where: str, problems: Problems) -> Purpose:
    hours = body.get("hours")
    if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 720:
        problems.add(
            f"{where}.hours",
            f"is {hours!r}",
            "Write how many hours a recorded reason lasts, from 0.1 to 720 (30 days).",
        )
        hours = 1
    pattern = _regex(
        body.get("reference_pattern"),
        f"{where}.reference_pattern",
        "Write the regular expression an enquiry or referral reference must match, "
        "e.g. '^S42-[0-9]{4}-[0-9]{3,6}$'.",
        problems,
    )
    hint = body.get("reference_hint", "")
    if not isinstance(hint, str) or not hint:
        problems.add(
            f"{where}.reference_hint",
            f"is {hint!r}",
            "Describe the reference in words for the practitioner, e.g. "
            '"a Care Act s.42 enquiry number such as S42-2026-00123".',
        )
        hint = ""
    return Purpose(
        purpose.name,
        purpose.description,
        purpose.established,
        purpose.roles,
        hours=float(hours),
        reference_pattern=str(pattern),
        reference_hint=str(hint),
    )


def parse_consent_forms(doc: Mapping[str, Any], problems: Problems) -> dict[str, ConsentForm]:
    """``[consent_forms.<name>]``: the evidence a consent record may cite."""
    raw = doc.get("consent_forms")
    if not isinstance(raw, dict) or not raw:
        problems.add(
            "consent_forms",
            "is missing",
            "Write one [consent_forms.<name>] table per kind of evidence a consent may cite, "
            "with description, pattern (a regular expression its reference contains) and "
            "own_words (true when it records the person's own words).",
        )
        return {}
    forms: dict[str, ConsentForm] = {}
    for name, body in raw.items():
        where = f"consent_forms.{name}"
        if not isinstance(body, dict):
            problems.add(where, "is not a table", "Write description, pattern and own_words.")
            continue
        for key in sorted(set(body) - {"description", "pattern", "own_words"}):
            problems.add(
                f"{where}.{key}",
                "is not a consent form key",
                "Use: description, own_words, pattern.",
            )
        description, pattern, own = (
            body.get("description"),
            body.get("pattern"),
            body.get("own_words"),
        )
        ok = True
        if not isinstance(description, str) or not description:
            problems.add(f"{where}.description", "is missing", "Say what the evidence is.")
            ok = False
        if not _regex(
            pattern,
            f"{where}.pattern",
            "Write a regular expression the reference must contain, e.g. '\\bCF-[0-9]{4,}\\b'.",
            problems,
        ):
            ok = False
        if not isinstance(own, bool):
            problems.add(f"{where}.own_words", f"is {own!r}", "Write true or false.")
            ok = False
        if ok:
            assert (
                isinstance(description, str) and isinstance(pattern, str) and isinstance(own, bool)
            )
            forms[name] = ConsentForm(name, description, pattern, own)
    return forms


def _regex(value: Any, key: str, fix: str, problems: Problems) -> str:
    """The value when it is a regular expression that compiles; "" after adding a problem."""
    try:
        if not isinstance(value, str) or not value:
            raise re.error("missing")
        re.compile(value)
    except re.error:
        problems.add(key, f"is {value!r}", fix)
        return ""
    return value
