"""Who is asking: the practitioner behind a validated token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Requester:
    """A practitioner of an agency, as their agency's identity provider vouches.

    ``purpose`` is the purpose of use the request is made for (direct care,
    safeguarding, ...), which the sharing protocol decides on.
    """

    practitioner: str
    agency: str
    team: str | None
    roles: frozenset[str]
    purpose: str
    name: str | None = None
