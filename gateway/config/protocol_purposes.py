"""Purposes of use and consent evidence as the sharing protocol defines them.

A purpose says which roles may claim it and how it comes to apply (from the
token, by a recorded reason, or only under break-glass); a consent form says
what evidence a consent record may cite, and whether it is the person's own
words. Read from ``[purposes.<name>]`` and ``[consent_forms.<name>]`` (see
``gateway.config.protocol_models``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

PURPOSES = (
    "direct_care",
    "safeguarding",
    "emergency",
    "care_planning",
    "audit",
    # keeping the person index (linking records), which discloses no record
    "index_administration",
)


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
