"""The one way a governance refusal becomes a GraphQL error: a message saying what to do
next, and a code in ``extensions`` a client can act on. Errors about people are worded
once, so that every path gives the same bytes."""

from __future__ import annotations

import datetime as dt

from graphql import GraphQLError

from gateway.core.errors import GovernanceError

#: What every query and mutation answers for a person id that is not available to the
#: requester, whether no such person exists or they exist and the requester may not see
#: them: the two are indistinguishable, so that the gateway is no index of who exists.
NOT_AVAILABLE = (
    "no person with this id is available to you: there is none, or you have no current "
    "involvement with them and no break-glass grant; find people by exact identifiers "
    "with findPeople"
)


def governance_error(message: str, code: str) -> GraphQLError:
    """A GraphQL error with ``message`` and ``extensions.code``."""
    return GraphQLError(message, extensions={"code": code})


def from_governance(exc: GovernanceError) -> GraphQLError:
    """A refusal from the state layer, as a GraphQL error."""
    return governance_error(str(exc), exc.code)


def person_not_available() -> GraphQLError:
    """The error for a person id that is unknown or not available to the requester."""
    return governance_error(NOT_AVAILABLE, "NOT_FOUND")


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` as an aware datetime; a naive one is taken to be UTC."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
