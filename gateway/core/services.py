"""Need-to-know inside an agency: which of its own teams have a relationship with a person.

The FAME pilots learned that a role is not a reason to see a record: GPs
demanded to be cut off from each other's patients. The same holds inside one
trust or council: a district nurse has no business in the community mental
health team's caseload. So a relationship is held by the *team* whose service
holds the person, and an agency's file says which of its services' people its
other teams may also see (``open_to``). A service may also say that the records
it holds are of a narrower consent category than the protocol's clause (the
trust's mental health teams hold ``health.mental`` records), so that a person's
objection to that category reaches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Relationships held per team (the default): need-to-know inside the agency.
TEAM = "team"
#: Relationships held by the whole agency: any of its teams may see any of its people.
AGENCY = "agency"
SCOPES = (TEAM, AGENCY)


@dataclass(frozen=True)
class Service:
    """A service of an agency: the teams that make it up, and who else may see its people."""

    id: str
    name: str
    teams: frozenset[str]
    #: A consent category narrower than the clause's for records this service holds.
    category: str | None = None
    #: Other services of the same agency whose teams may see this service's people.
    open_to: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AgencyServices:
    """How an agency's own teams relate to the people it holds.

    ``scope`` is ``team`` (a team relates to the people its service holds, and
    to those of services open to it) or ``agency`` (any team to any person the
    agency holds). A team named in no service is a service of its own.
    """

    scope: str = TEAM
    services: tuple[Service, ...] = ()
    _by_team: Mapping[str, Service] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._by_team:
            object.__setattr__(
                self,
                "_by_team",
                {team: service for service in self.services for team in service.teams},
            )

    def service_of(self, team: str | None) -> Service | None:
        """The declared service a team belongs to, if any."""
        return self._by_team.get(team) if team is not None else None

    def relates(self, requester_team: str | None, holding_team: str | None) -> bool:
        """Whether a practitioner of ``requester_team`` may rely on a record held by
        ``holding_team`` of the same agency as a relationship with the person."""
        if self.scope == AGENCY:
            return True
        if requester_team is None or holding_team is None:
            # Under team relationships, a record no team holds is no one's relationship.
            return False
        if requester_team == holding_team:
            return True
        mine, holder = self.service_of(requester_team), self.service_of(holding_team)
        if holder is None or mine is None:
            return False
        return mine.id == holder.id or mine.id in holder.open_to

    def visible_teams(self, requester_team: str | None) -> frozenset[str] | None:
        """The holding teams whose people a practitioner of this team relates to;
        None when every team's (agency scope)."""
        if self.scope == AGENCY:
            return None
        if requester_team is None:
            return frozenset()
        teams = {requester_team}
        mine = self.service_of(requester_team)
        if mine is not None:
            for service in self.services:
                if service.id == mine.id or mine.id in service.open_to:
                    teams |= service.teams
        return frozenset(teams)

    def categories_held(self, teams: Iterable[str | None]) -> frozenset[str]:
        """The narrower consent categories of the services holding a person."""
        found = set()
        for team in teams:
            service = self.service_of(team)
            if service is not None and service.category is not None:
                found.add(service.category)
        return frozenset(found)


#: An agency file that says nothing: relationships per team, each team its own service.
DEFAULT = AgencyServices()
