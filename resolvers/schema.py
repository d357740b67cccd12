"""The client view's schema, and its printed contract (``schema.graphql``)."""

from __future__ import annotations

import graphene
from graphql import print_schema

from resolvers.break_glass import GrantMutation
from resolvers.consent import ConsentMutation, ConsentQuery
from resolvers.oversight import OversightMutation, OversightQuery
from resolvers.person_index import PersonIndexMutation, PersonIndexQuery
from resolvers.query import Query as RecordsQuery


class Query(RecordsQuery, ConsentQuery, OversightQuery, PersonIndexQuery):
    """People's records, the protocol, consent, oversight and the person index's review queue."""


class Mutation(ConsentMutation, GrantMutation, OversightMutation, PersonIndexMutation):
    """Changes to consent, grants and the person index's links; records are never changed by
    the gateway."""


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=True)


def schema_sdl() -> str:
    """The schema as SDL, as published in ``schema.graphql``."""
    return print_schema(schema.graphql_schema) + "\n"
