"""Who keeps the person index through ``/graphql``: the protocol's index roles, each for
their own agency's records.

A link decides which agencies a request about a person reaches, so only the roles the
protocol names under ``[governance] index_roles`` may make or remove one, and each only
for their own agency's records: an agency answers for its own records' links, as its
guardians answer for its own data. These roles relate to no one and see no records. The
operator who runs ``fame-gateway index`` with the gateway's settings acts for any agency.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config.protocol import SharingProtocol
from gateway.decide.requester import Requester


@dataclass(frozen=True)
class IndexAdministrator:
    """A requester holding an index role, and the agency whose records they keep."""

    practitioner: str
    agency: str

    @property
    def key(self) -> str:
        """``practitioner@agency``, as links record who made them."""
        return f"{self.practitioner}@{self.agency}"

    def may_change(self, agency_id: str) -> str | None:
        """None when they may link or unlink ``agency_id``'s records; otherwise why not."""
        if agency_id == self.agency:
            return None
        return (
            f"an index administrator links and unlinks their own agency's records only "
            f"({self.agency}); an index administrator of {agency_id} can change this link"
        )


def index_administrator(
    requester: Requester, protocol: SharingProtocol
) -> IndexAdministrator | None:
    """The requester as an index administrator, or None when they hold no index role."""
    if not protocol.index_roles & requester.roles:
        return None
    return IndexAdministrator(requester.practitioner, requester.agency)
