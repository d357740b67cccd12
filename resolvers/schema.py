"""The client view's schema, and its printed contract (``schema.graphql``)."""

from __future__ import annotations

import graphene
from graphql import print_schema

from resolvers.governance import Mutation
from resolvers.query import Query

schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=True)


def schema_sdl() -> str:
    """The schema as SDL, as published in ``schema.graphql``."""
    return print_schema(schema.graphql_schema) + "\n"
