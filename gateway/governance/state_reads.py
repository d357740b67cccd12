"""The state a request is decided on — person index links, consents and grants — read
together: one synchronous pass over one connection per request, in one step.

Nothing here is cached across requests: every request reads the rows as they are
now, so a consent withdrawn through any gateway process applies to the next query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.decide.policy import Consent, Grant
from gateway.decide.requester import Requester
from gateway.governance.consents import read_consents
from gateway.governance.grants import read_grants
from gateway.governance.person_index import Links, read_links
from gateway.governance.state_db import StateDatabase


@dataclass(frozen=True)
class RequestState:
    """What the state database says about a request's people, read at one moment.

    ``links`` has an entry for every known person id (unknown ids are absent);
    ``consents`` every record (in force or not) by person; ``grants`` the
    requester's grants about these people (active or not).
    """

    links: dict[str, Links]
    consents: dict[str, list[Consent]]
    grants: list[Grant]


async def read_request_state(
    state: StateDatabase, requester: Requester, person_ids: Sequence[str]
) -> RequestState:
    """Links, consents and grants for these people, read on one connection in one step."""
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        return RequestState({}, {}, [])
    # Three concurrent reads cost three pool checkouts, three connection resets (and
    # pings on a server) and a task each; their waits overlapped, their CPU did not.
    # One synchronous function over one connection pays those once.
    return await state.read(_read, requester, ids)


def _read(conn: Connection, requester: Requester, ids: list[str]) -> RequestState:
    return RequestState(
        links=read_links(conn, ids),
        consents=read_consents(conn, ids),
        grants=read_grants(conn, requester, ids),
    )
