"""The client view's schema, and its printed contract (``schema.graphql``).

The schema is built from a catalogue: the standard one, or the standard one with a
deployment's own files (``Settings.catalogue``). ``schema`` is the standard catalogue's.
"""

from __future__ import annotations

from functools import lru_cache

import graphene
from graphql import print_schema

from gateway.core.catalogue import STANDARD, Catalogue
from resolvers.break_glass import GrantMutation
from resolvers.consent import ConsentMutation, ConsentQuery
from resolvers.oversight import OversightMutation, OversightQuery
from resolvers.person_index import PersonIndexMutation, PersonIndexQuery
from resolvers.query import records_query


class Mutation(ConsentMutation, GrantMutation, OversightMutation, PersonIndexMutation):
    """Changes to consent, grants and the person index's links; records are never changed by
    the gateway."""


@lru_cache(maxsize=8)
def build_schema(catalogue: Catalogue) -> graphene.Schema:
    """The schema of the client view for ``catalogue``, built once per catalogue."""
    query = type(
        "Query",
        (records_query(catalogue), ConsentQuery, OversightQuery, PersonIndexQuery),
        {
            "__doc__": (
                "People's records, the protocol, consent, oversight and the person index's "
                "review queue."
            )
        },
    )
    return graphene.Schema(query=query, mutation=Mutation, auto_camelcase=True)


#: The standard catalogue's schema.
schema = build_schema(STANDARD)


def schema_sdl(catalogue: Catalogue = STANDARD) -> str:
    """The schema as SDL, as published in ``schema.graphql`` (for the standard catalogue)."""
    return print_schema(build_schema(catalogue).graphql_schema) + "\n"
