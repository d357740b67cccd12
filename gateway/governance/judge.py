"""The I/O edge of the policy: person index links, consent records and grants read
together once per request (``gateway.governance.state_reads``), and a ``Judge`` that applies the
pure ``policy.decide`` to every (person, agency, item) of the request.

The rows are kept across requests only while the state's change marker stands still
(see ``state_reads``), and no decision resting on a consent or grant is kept: a consent
recorded or withdrawn through any gateway process applies to the very next query of
every process.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache

from gateway.config.protocol import SharingProtocol
from gateway.core.times import Clock, utc_now
from gateway.decide.policy import (
    Consent,
    Decision,
    Grant,
    PersonFacts,
    decide,
    grant_in_force,
    relationship,
)
from gateway.decide.requester import Requester
from gateway.governance.consents import ConsentRegistry
from gateway.governance.grants import GrantRegistry, GrantReviews
from gateway.governance.person_index import Links
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_reads import read_caseload_page, read_request_state

#: Decisions (``"item"`` keys) and item sets (``"items"`` keys) by what they depend on.
Memo = MutableMapping[tuple[object, ...], Any]


@dataclass
class Judge:
    """Decides every (person, agency, item) of one request from facts gathered once.

    Decisions for people without any consent record depend on the person only
    through the relationship and grant, so they are computed once per
    (agency, item, relationship, grant) and shared: a caseload of 200 costs
    little more than one person.
    """

    requester: Requester
    protocol: SharingProtocol
    #: The person index links of every known person of the request; unknown ids are absent.
    links: Mapping[str, Links]
    #: The policy's view of the same people's links (``person_index.person_facts``).
    facts: Mapping[str, PersonFacts]
    consents: Mapping[str, Sequence[Consent]]
    grants: Sequence[Grant]
    now: dt.datetime
    #: Decisions and item sets without a consent record or grant, shared by every request
    #: under the same protocol (see ``Governance.shared``); per request when not given.
    shared: Memo = field(default_factory=dict)
    _memo: Memo = field(default_factory=dict)
    #: Each person's relationship and grant, worked out once per request (by the facts'
    #: id, the facts kept beside it so that the id cannot be reused).
    _cases: dict[int, tuple[PersonFacts, tuple[bool, str | None]]] = field(default_factory=dict)

    def _memo_for(self, grant: str | None) -> tuple[Memo, tuple[object, ...]]:
        # Without consents or a grant a decision depends only on the protocol, the
        # requester's agency, team, roles and purpose, and whether they are related:
        # the same for every request that shares those, so it is decided once per process.
        if grant is None:
            who = self.requester
            return self.shared, (who.agency, who.team, who.roles, who.purpose)
        return self._memo, ()

    def decide(self, facts: PersonFacts, agency: str, item: str) -> Decision:
        """The decision for one item of one agency about one person."""
        person_consents = self.consents.get(facts.person_id, ())
        if person_consents:
            return decide(
                self.requester,
                facts,
                agency,
                item,
                self.protocol,
                person_consents,
                self.grants,
                self.now,
            )
        related, grant = self._case(facts)
        memo, who = self._memo_for(grant)
        key = ("item", *who, agency, item, related, grant)
        decision = memo.get(key)
        if decision is None:
            decision = decide(
                self.requester, facts, agency, item, self.protocol, (), self.grants, self.now
            )
            memo[key] = decision
        return decision

    def _case(self, facts: PersonFacts) -> tuple[bool, str | None]:
        """What a decision without consent records depends on: relationship and grant."""
        # Worked out once per person and request, not once per agency.
        found = self._cases.get(id(facts))
        if found is None:
            grant = grant_in_force(self.requester, facts, self.protocol, self.grants, self.now)
            related = relationship(self.requester, facts, self.protocol) is not None
            found = self._cases[id(facts)] = (facts, (related, grant.id if grant else None))
        return found[1]

    def decide_items(
        self, facts: PersonFacts, agency: str, items: frozenset[str]
    ) -> tuple[Mapping[str, Decision], Sequence[tuple[str, Decision]]]:
        """Every item of one agency about one person: (permitted, withheld), in item order.

        For people without consent records the answer depends on the person only
        through the relationship and grant, so whole item sets are shared like
        single decisions: a caseload of 200 decides each distinct case once.
        """
        if self.consents.get(facts.person_id):
            return self._split(facts, agency, items)
        related, grant = self._case(facts)
        memo, who = self._memo_for(grant)
        key = ("items", *who, agency, items, related, grant)
        found = memo.get(key)
        if found is None:
            found = memo[key] = self._split(facts, agency, items)
        return found

    def _split(
        self, facts: PersonFacts, agency: str, items: frozenset[str]
    ) -> tuple[dict[str, Decision], list[tuple[str, Decision]]]:
        permitted: dict[str, Decision] = {}
        withheld: list[tuple[str, Decision]] = []
        for item in sorted(items):
            decision = self.decide(facts, agency, item)
            if decision.permitted:
                permitted[item] = decision
            else:
                withheld.append((item, decision))
        return permitted, withheld

    def grant_for(self, facts: PersonFacts) -> Grant | None:
        """The grant whose purpose the requester's decisions about this person rest on."""
        return grant_in_force(self.requester, facts, self.protocol, self.grants, self.now)

    def may_see(self, facts: PersonFacts) -> bool:
        """Whether the person is available to the requester at all: a relationship, or a
        grant standing in for one. To anyone else the person is as an unknown id is."""
        related, grant = self._case(facts)
        return related or grant is not None


#: How many shared decisions and item sets one process keeps (a few per requester kind,
#: agency and item): bounded, so that many distinct requesters cannot grow it for ever.
_SHARED_DECISIONS = 100_000


class Governance:
    """Reads a request's links, consents and grants and hands out a Judge."""

    def __init__(
        self, protocol: SharingProtocol, state: StateDatabase, clock: Clock = utc_now
    ) -> None:
        self._protocol = protocol
        self.shared: LRUCache[tuple[object, ...], Any] = LRUCache(_SHARED_DECISIONS)
        self._state = state
        engine = state.engine
        self.consents = ConsentRegistry(engine)
        self.grants = GrantRegistry(engine)
        self.reviews = GrantReviews(engine, self.grants)
        self.clock = clock

    @property
    def protocol(self) -> SharingProtocol:
        """The sharing protocol decisions are made under."""
        return self._protocol

    @protocol.setter
    def protocol(self, protocol: SharingProtocol) -> None:
        # Decisions shared between requests hold only under the protocol they were made
        # under: a new protocol starts afresh.
        self._protocol = protocol
        self.shared = LRUCache(_SHARED_DECISIONS)

    async def caseload(
        self, agency_id: str, limit: int, offset: int, teams: frozenset[str] | None
    ) -> list[str]:
        """One page of the agency's caseload: person ids with a current involvement of the
        agency, held by one of ``teams`` when given (None: by any team), in id order."""
        return await read_caseload_page(self._state, agency_id, limit, offset, teams)

    async def judge(self, requester: Requester, person_ids: Sequence[str]) -> Judge:
        """A Judge for this requester over these people, with links, consents and grants
        read now, in one round trip to the state database."""
        state = await read_request_state(self._state, requester, person_ids)
        return Judge(
            requester,
            self.protocol,
            state.links,
            state.facts,
            state.consents,
            state.grants,
            self.clock(),
            shared=self.shared,
        )
