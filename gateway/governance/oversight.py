"""What a Caldicott guardian oversees: whose grants, disclosures and figures.

A guardian answers for their own agency's data and people. They review and
may revoke a grant that disclosed their agency's data (or, before it has
disclosed anything, one held by their own agency's practitioner); they read
the disclosure audit of people their agency holds and, within it, what
concerned their agency; they read usage figures of their own agency's
practitioners. A lead guardian named in the protocol oversees every agency.
No guardian ever reviews or revokes their own grant.

These are pure decisions over values read elsewhere, so that they can be
tested without a database.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from gateway.config.protocol import SharingProtocol
from gateway.decide.policy import Grant
from gateway.decide.requester import Requester


@dataclass(frozen=True)
class Guardian:
    """An information-governance requester, and how far their oversight reaches."""

    practitioner: str
    agency: str
    #: Named in the protocol's lead guardians: oversees every agency.
    lead: bool

    @property
    def key(self) -> str:
        """``practitioner@agency``, as grants and reviews name people."""
        return f"{self.practitioner}@{self.agency}"

    def sees_grant(self, grant: Grant, notified: Collection[str]) -> bool:
        """Whether the grant is theirs to see: it disclosed their agency's data, or its
        holder is of their agency."""
        return self.lead or self.agency in notified or self.agency == grant.agency

    def may_review(self, grant: Grant, notified: Collection[str]) -> str | None:
        """None when they may review or revoke the grant; otherwise why not."""
        if self.key == f"{grant.practitioner}@{grant.agency}":
            return (
                "you cannot review or revoke your own grant; another guardian of an agency "
                "whose data it disclosed reviews it (end it yourself with endBreakGlass)"
            )
        if self.lead or self.agency in notified:
            return None
        if not notified and self.agency == grant.agency:
            # Nothing has been disclosed yet: no owning agency to answer to, so the
            # holder's own agency answers for it.
            return None
        return (
            "only a guardian of an agency whose data the grant disclosed, or a lead guardian, "
            "may review or revoke it"
            + (f" (disclosed: {', '.join(sorted(notified))})" if notified else "")
        )

    def sees_person(self, agencies_holding: Collection[str]) -> bool:
        """Whether the person's audit is theirs to read: their agency holds the person."""
        return self.lead or self.agency in agencies_holding

    def sees_agency_entry(self, requester_agency: str, agency: str) -> bool:
        """Whether, in one disclosure record, the entry about ``agency``'s data is theirs:
        it is their agency's data, or the requester was their agency's practitioner."""
        return self.lead or agency == self.agency or requester_agency == self.agency

    def sees_usage_of(self, requesting_agency: str) -> bool:
        """Whether usage figures of a requesting agency are theirs to read."""
        return self.lead or requesting_agency == self.agency


def guardian(requester: Requester, protocol: SharingProtocol) -> Guardian | None:
    """The requester as a guardian, or None when they hold no governance role."""
    if not protocol.governance_roles & requester.roles:
        return None
    key = f"{requester.practitioner}@{requester.agency}"
    return Guardian(requester.practitioner, requester.agency, key in protocol.lead_guardians)
