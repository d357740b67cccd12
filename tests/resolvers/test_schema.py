"""schema.graphql is the published contract: it must match the live schema."""

from __future__ import annotations

from graphql import GraphQLNonNull, GraphQLObjectType, get_named_type

from gateway.core.catalogue import RECORD_SETS
from resolvers.schema import schema, schema_sdl
from tests.support import REPO


def test_schema_graphql_matches_the_live_schema() -> None:
    published = (REPO / "schema.graphql").read_text()
    assert published == schema_sdl(), "schema.graphql is stale: run `make schema`"


def test_every_agency_sourced_field_is_nullable_and_says_who_owns_it() -> None:
    graphql_schema = schema.graphql_schema
    for rs in RECORD_SETS:
        record_type = graphql_schema.get_type(rs.type_name)
        assert isinstance(record_type, GraphQLObjectType)
        assert isinstance(record_type.fields["agency"].type, GraphQLNonNull)
        for item in rs.items:
            field = record_type.fields[item.graphql_name]
            assert not isinstance(field.type, GraphQLNonNull), item.name
            assert field.description and rs.owner in field.description, item.name
    person = graphql_schema.get_type("Person")
    assert isinstance(person, GraphQLObjectType)
    for name, field in person.fields.items():
        if name in {"id", "knownTo"}:
            continue  # from the gateway's own person index, not an agency
        assert not isinstance(field.type, GraphQLNonNull), name
        assert isinstance(get_named_type(field.type), GraphQLObjectType), name
