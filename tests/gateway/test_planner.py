"""Plans are made once per document and the variable values their selection uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import DocumentNode, ExecutionResult, GraphQLResolveInfo, execute, parse

from connectors.base import DateRange
from gateway.core.catalogue import STANDARD
from gateway.pipeline.planner import Plan, plan_people
from resolvers.schema import schema

SCHEMA = schema.graphql_schema
PLANS: list[Plan] = []


def _plan(_root: None, info: GraphQLResolveInfo, **_args: Any) -> Any:
    PLANS.append(plan_people(info, STANDARD))
    return None


@pytest.fixture(autouse=True, scope="module")
def planning_roots() -> Iterator[None]:
    """Root fields that only plan."""
    fields = SCHEMA.query_type.fields  # type: ignore[union-attr]
    saved = fields["person"].resolve, fields["caseload"].resolve
    fields["person"].resolve = fields["caseload"].resolve = _plan
    yield
    fields["person"].resolve, fields["caseload"].resolve = saved


def plan(document: DocumentNode, **variables: Any) -> Plan:
    PLANS.clear()
    result = execute(SCHEMA, document, variable_values=variables)
    assert isinstance(result, ExecutionResult) and not result.errors, result
    (made,) = PLANS
    return made


DOCUMENT = parse("""query ($id: ID!, $skip: Boolean!, $from: Date) {
    person(id: $id) {
      alerts @skip(if: $skip) { category }
      ...Meds
      timeline(from: $from) { kind }
    } }
    fragment Meds on Person { health { medications { name } } }""")


def test_one_plan_serves_every_request_with_the_same_selection() -> None:
    first = plan(DOCUMENT, id="P0", skip=False, **{"from": "2024-01-01"})
    assert "alerts.category" in first.items and "medications.name" in first.items
    assert first.ranges == {"timeline": DateRange(dt.date(2024, 1, 1), None)}
    # The person's id is not in the selection: the plan is the same object.
    assert plan(DOCUMENT, id="P1", skip=False, **{"from": "2024-01-01"}) is first
    skipped = plan(DOCUMENT, id="P0", skip=True, **{"from": "2024-01-01"})
    assert "alerts.category" not in skipped.items and "medications.name" in skipped.items
    later = plan(DOCUMENT, id="P0", skip=False, **{"from": "2025-01-01"})
    assert later.ranges == {"timeline": DateRange(dt.date(2025, 1, 1), None)}
    assert plan(DOCUMENT, id="P0", skip=False, **{"from": "2024-01-01"}) is first
    # The same text parsed again is another document: planned again, alike.
    again = plan(parse(DOCUMENT.loc.source.body), id="P0", skip=False, **{"from": "2024-01-01"})  # type: ignore[union-attr]
    assert again is not first and again == first


def test_a_shared_plan_cannot_be_changed() -> None:
    made = plan(DOCUMENT, id="P0", skip=False, **{"from": "2024-01-01"})
    with pytest.raises(TypeError):
        made.ranges["alerts"] = DateRange(None, None)  # type: ignore[index]
    with pytest.raises(TypeError):
        made.paths["alerts.category"] = ()  # type: ignore[index]
