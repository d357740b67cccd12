"""The state a request is decided on — person index links, consents and grants — read
together: one synchronous pass over one connection per request, in one step; and the
pages of an agency's caseload.

The rows are kept in memory between requests, per state database, for as long as the
state's change marker (``gateway.governance.state_marker``) stands still. Every request
reads the marker first; database triggers move it with every change to those tables,
whoever makes it, so a consent withdrawn or a grant made through any process or tool
applies to the very next query of every process. Only rows are kept, never decisions:
whether a consent or grant is in force is judged against the clock at decision time.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection

from gateway.decide.policy import Consent, Grant, PersonFacts
from gateway.decide.requester import Requester
from gateway.governance.consents import read_consents
from gateway.governance.grants import read_grants
from gateway.governance.person_index import Links, person_facts, read_caseload, read_links
from gateway.governance.state_db import StateDatabase
from gateway.governance.state_marker import MarkedCache, read_marker

#: How many people's links and consents, and (requester, person) grant lists, a process
#: keeps: a bound, so that asking about many ids cannot grow it for ever.
KEPT_PEOPLE = 50_000
KEPT_GRANTS = 50_000
#: How many caseload pages (agency, page, teams) a process keeps.
KEPT_CASELOADS = 1_000

#: (practitioner, agency, person id): whose grants about whom.
GrantKey = tuple[str, str, str]
#: (agency, limit, offset, teams): one page of an agency's caseload.
CaseloadKey = tuple[str, int, int, frozenset[str] | None]


@dataclass(frozen=True)
class RequestState:
    """What the state database says about a request's people, read at one moment.

    ``links`` has an entry for every known person id (unknown ids are absent), and
    ``facts`` the policy's view of the same links; ``consents`` every record (in force or
    not) of each person with any; ``grants`` the requester's grants about these people
    (active or not). Shared with other requests: never changed.
    """

    links: dict[str, Links]
    facts: dict[str, PersonFacts]
    consents: dict[str, tuple[Consent, ...]]
    grants: list[Grant]


@dataclass(frozen=True)
class _Person:
    links: Links | None  # None: no such person
    #: Worked out from ``links`` once, when they are read, not on every request.
    facts: PersonFacts | None
    consents: tuple[Consent, ...]


@dataclass
class KeptRows:
    """The rows a process keeps for one state database, each cache at its own marker."""

    people: MarkedCache[str, _Person] = field(default_factory=lambda: MarkedCache(KEPT_PEOPLE))
    grants: MarkedCache[GrantKey, tuple[Grant, ...]] = field(
        default_factory=lambda: MarkedCache(KEPT_GRANTS)
    )
    caseloads: MarkedCache[CaseloadKey, tuple[str, ...]] = field(
        default_factory=lambda: MarkedCache(KEPT_CASELOADS)
    )


#: Each state database's rows, for as long as the database object lives.
_kept: weakref.WeakKeyDictionary[StateDatabase, KeptRows] = weakref.WeakKeyDictionary()


def kept_for(state: StateDatabase) -> KeptRows:
    """The rows this process keeps for ``state`` (for tests to look into)."""
    kept = _kept.get(state)
    if kept is None:
        kept = _kept[state] = KeptRows()
    return kept


async def read_request_state(
    state: StateDatabase, requester: Requester, person_ids: Sequence[str]
) -> RequestState:
    """Links, consents and grants for these people, as of now: the change marker and the
    rows not kept since it last moved, read on one connection in one step."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return RequestState({}, {}, {}, [])
    # Three concurrent reads cost three pool checkouts, three connection resets (and
    # pings on a server) and a task each; their waits overlapped, their CPU did not.
    # One synchronous function over one connection pays those once.
    return await state.read(_read, kept_for(state), requester, ids)


def _read(conn: Connection, kept: KeptRows, requester: Requester, ids: list[str]) -> RequestState:
    # The marker before any row: rows read after it are at least as new as it says.
    marker = read_marker(conn)
    # Hits are taken before any statement below: on a server database each statement lets
    # other requests run, which may move the cache to another marker.
    people = kept.people.hits(marker, ids)
    practitioner, agency = requester.practitioner, requester.agency
    keys = [(practitioner, agency, person_id) for person_id in ids]
    grants = kept.grants.hits(marker, keys)
    cold = [person_id for person_id in ids if person_id not in people]
    if cold:
        cold_links = read_links(conn, cold)
        cold_consents = read_consents(conn, cold)
        fresh = {
            person_id: _person(
                person_id, cold_links.get(person_id), cold_consents.get(person_id, ())
            )
            for person_id in cold
        }
        kept.people.store(marker, fresh)
        people.update(fresh)
    cold_keys = [key for key in keys if key not in grants]
    if cold_keys:
        found: dict[GrantKey, list[Grant]] = {key: [] for key in cold_keys}
        for grant in read_grants(conn, requester, [key[2] for key in cold_keys]):
            # A database comparing ids without regard to case may return another spelling,
            # which no decision about the ids asked for would use.
            rows = found.get((practitioner, agency, grant.person_id))
            if rows is not None:
                rows.append(grant)
        fresh_grants = {key: tuple(rows) for key, rows in found.items()}
        kept.grants.store(marker, fresh_grants)
        grants.update(fresh_grants)
    links: dict[str, Links] = {}
    facts: dict[str, PersonFacts] = {}
    consents: dict[str, tuple[Consent, ...]] = {}
    for person_id in ids:
        person = people[person_id]
        if person.links is not None and person.facts is not None:
            links[person_id], facts[person_id] = person.links, person.facts
        if person.consents:
            consents[person_id] = person.consents
    return RequestState(links, facts, consents, [grant for key in keys for grant in grants[key]])


def _person(person_id: str, links: Links | None, consents: Sequence[Consent]) -> _Person:
    facts = person_facts(person_id, links) if links is not None else None
    return _Person(links, facts, tuple(consents))


async def read_caseload_page(
    state: StateDatabase, agency_id: str, limit: int, offset: int, teams: frozenset[str] | None
) -> list[str]:
    """One page of the agency's caseload (see ``person_index.read_caseload``), as of now:
    kept, like the people's rows, while the change marker stands still."""
    return await state.read(_read_caseload, kept_for(state), (agency_id, limit, offset, teams))


def _read_caseload(conn: Connection, kept: KeptRows, key: CaseloadKey) -> list[str]:
    marker = read_marker(conn)
    found = kept.caseloads.hits(marker, (key,)).get(key)
    if found is None:
        found = tuple(read_caseload(conn, *key))
        kept.caseloads.store(marker, {key: found})
    return list(found)
