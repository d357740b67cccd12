"""Introspection: the standard queries pass the limits when it is on, bounded all the same;
when it is off, nothing the gateway answers says anything about the schema."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from graphql import build_client_schema, get_introspection_query, parse

from fame_demo.synthetic import Population
from gateway.config.settings import Limits, load_settings
from gateway.core.errors import ConfigErrors
from gateway.edge.limits import MAX_INTROSPECTION_FIELDS, check_limits
from tests.support import World, build_config

#: What GraphiQL asks for (graphql-js's getIntrospectionQuery with every option on).
GRAPHIQL_STYLE = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
)
STANDARD = get_introspection_query()
LIMITS = Limits(max_depth=10, max_aliases=30, max_fields=400)


def _codes(text: str, limits: Limits = LIMITS) -> list[str]:
    return [error.extensions["code"] for error in check_limits(parse(text), limits)]


def test_the_standard_introspection_queries_pass_a_depth_limit_they_exceed() -> None:
    assert _codes(STANDARD) == _codes(GRAPHIQL_STYLE) == []
    # Their type references nest deeper than the limit on ordinary fields.
    assert _codes(STANDARD, Limits(max_depth=3, max_fields=10)) == []


def test_introspection_is_bounded_by_its_own_caps() -> None:
    nested = "name"
    for _ in range(3):
        nested = f"fields {{ type {{ {nested} }} }}"
    # types > fields > fields > fields: each list multiplies the answer by the schema again.
    assert _codes("{ __schema { types { %s } } }" % nested) == ["QUERY_TOO_DEEP"]
    # Through a fragment spread beneath an introspection field, too.
    assert _codes(
        "{ __schema { types { ...T } } } fragment T on __Type { fields { type { fields { "
        "type { fields { name } } } } } }"
    ) == ["QUERY_TOO_DEEP"]
    full_type = GRAPHIQL_STYLE.split("query IntrospectionQuery", 1)[1].split("}\n\n", 1)[1]
    copies = MAX_INTROSPECTION_FIELDS // 200 + 1
    many = "{ %s } %s" % (
        " ".join(f"t{i}: __schema {{ types {{ ...FullType }} }}" for i in range(copies)),
        full_type,
    )
    assert _codes(many) == ["QUERY_TOO_COSTLY"]


def test_ordinary_fields_beside_introspection_keep_their_depth_limit() -> None:
    deep = "me { " * 11 + "agency" + " }" * 11
    assert _codes("{ __schema { queryType { name } } %s }" % deep) == ["QUERY_TOO_DEEP"]
    # A fragment spread both outside and beneath introspection costs its depth outside.
    both = (
        '{ ...Q __type(name: "Query") { ...T } } '
        "fragment Q on Query { %s } fragment T on __Type { name }" % deep
    )
    assert _codes(both) == ["QUERY_TOO_DEEP"]


async def test_the_standard_introspection_queries_answer(world: World) -> None:
    for query in (STANDARD, GRAPHIQL_STYLE):
        result = await world.query(query, operationName="IntrospectionQuery")
        assert "errors" not in result, result
        schema = build_client_schema(result["data"])
        assert schema.query_type is not None and "person" in schema.query_type.fields


@pytest.fixture
async def closed(tmp_path: Path, population: Population, store_dir: Path) -> AsyncIterator[World]:
    """A started gateway with introspection turned off."""
    running = World(tmp_path, population, store_dir)
    await running.start(settings_edits={"introspection = true": "introspection = false"})
    try:
        yield running
    finally:
        await running.stop()


async def test_with_introspection_off_the_schema_is_not_asked_about(closed: World) -> None:
    for query in (
        STANDARD,
        '{ __type(name: "Person") { name } }',
        "{ me { agency } __schema { queryType { name } } }",
        "query { ...Hidden } fragment Hidden on Query { __schema { types { name } } }",
        '{ __type(name: "NoSuchType") { name } }',
    ):
        response = await closed.post(query)
        assert response.status_code == 400, response.text
        (error,) = response.json()["errors"]
        assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}, error
        assert "turned off" in error["message"]
    # __typename names only what was asked for, and stays.
    answered = await closed.query("{ __typename me { __typename agency } }")
    assert answered["data"]["me"]["__typename"] == "Me"


async def test_with_introspection_off_a_typo_is_answered_as_any_unknown_name(
    closed: World,
) -> None:
    # "persn" is one letter from a field, "qzxwv" nothing like any; of the same length, so
    # at the same locations: with the typed name set aside, the bodies are byte for byte
    # the same (no "Did you mean ...?").
    for template, near, far in (
        ('{ %s(id: "x") { id } }', "persn", "qzxwv"),
        ('{ person(id: "x") { %s } }', "demographic", "qzxwvqzxwvq"),
    ):
        bodies = []
        for name in (near, far):
            response = await closed.post(template % name)
            assert response.status_code == 400
            bodies.append(response.content.replace(name.encode(), b"NAME"))
        assert bodies[0] == bodies[1], bodies
        assert b"Did you mean" not in bodies[0]
        assert orjson.loads(bodies[0])["errors"][0]["extensions"] == {
            "code": "GRAPHQL_VALIDATION_FAILED"
        }


def test_introspection_defaults_to_the_mode_and_is_a_top_level_setting(tmp_path: Path) -> None:
    config = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=tmp_path)
    bare = re.sub(r"(?m)^introspection = true.*\n", "", config.read_text())
    config.write_text(bare)
    assert load_settings(config).introspection is True
    production = bare.replace('mode = "demo"', 'mode = "production"')
    config.write_text(production)
    assert load_settings(config).introspection is False
    config.write_text(
        production.replace("graphiql = true", "introspection = true\ngraphiql = true")
    )
    assert load_settings(config).introspection is True
    for before, after, says in (
        ("[limits]", 'introspection = "yes"\n[limits]', "introspection"),
        ("[limits]", "[limits]\nintrospection = true", "limits.introspection"),
    ):
        config.write_text(bare.replace(before, after, 1))
        with pytest.raises(ConfigErrors) as refused:
            load_settings(config)
        assert says in str(refused.value)
