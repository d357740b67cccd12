"""The fast Person executor gives exactly what graphql-core's own executor gives.

Both run on the live schema; only the root ``person`` and ``caseload`` resolvers
are replaced, by ones serving PersonViews drawn by hypothesis (or written out in
the examples). Everything below Person is the gateway's own resolvers and types.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLObjectType,
    GraphQLResolveInfo,
    execute,
    get_named_type,
    parse,
    validate,
)
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from gateway.core.catalogue import RECORD_SETS, ValueKind
from gateway.pipeline.execution import FastExecutionContext, cached_projector
from gateway.pipeline.fanout import AgencyRef, PersonView
from resolvers.schema import schema

SCHEMA = schema.graphql_schema
PERSON = SCHEMA.get_type("Person")
assert isinstance(PERSON, GraphQLObjectType)
REFS = {
    agency_id: AgencyRef(agency_id, name)
    for agency_id, name in (("gp", "Riverside GP"), ("council", "Shire Council"), ("trust", "NHS"))
}
AGENCY_IDS = (*REFS, "unregistered")


def _object_types_below(gtype: GraphQLObjectType) -> set[str]:
    found = {gtype.name}
    for gfield in gtype.fields.values():
        named = get_named_type(gfield.type)
        if isinstance(named, GraphQLObjectType) and named.name not in found:
            found |= _object_types_below(named)
    return found


# The fast path completes these types' fields itself (AgencyRef also appears under the
# stock-executed knownTo): with data that gives no errors, stock execution of any of
# their fields means the projection was not used.
PROJECTED = _object_types_below(PERSON) - {"AgencyRef"}


@dataclass
class Served:
    """The request context: the views the root fields serve, and the agency references."""

    views: list[PersonView]
    asynchronous: bool = False
    lookups: list[str] = field(default_factory=list)

    def looked_up(self, person_ids: Iterable[str]) -> None:
        self.lookups.extend(person_ids)

    @property
    def gateway(self) -> Served:
        return self

    def agency_ref(self, agency_id: str) -> AgencyRef:
        return REFS.get(agency_id) or AgencyRef(agency_id, agency_id)

    def answer(self, value: Any) -> Any:
        if not self.asynchronous:
            return value

        async def later() -> Any:
            await asyncio.sleep(0)
            return value

        return later()


def _person(_root: None, info: GraphQLResolveInfo, id: str) -> Any:
    served: Served = info.context
    return served.answer(next((v for v in served.views if v.id == id), None))


def _caseload(_root: None, info: GraphQLResolveInfo, first: int, offset: int) -> Any:
    served: Served = info.context
    return served.answer(served.views[offset : offset + first])


@pytest.fixture(autouse=True, scope="module")
def served_roots() -> Iterator[None]:
    """Serve views from the context instead of asking agencies."""
    fields = SCHEMA.query_type.fields  # type: ignore[union-attr]
    saved = fields["person"].resolve, fields["caseload"].resolve
    fields["person"].resolve, fields["caseload"].resolve = _person, _caseload
    yield
    fields["person"].resolve, fields["caseload"].resolve = saved


CALLS: list[tuple[str, str]] = []
#: The paths of the Persons the fast run completed one by one (not as a whole list).
ONE_BY_ONE: list[list[str | int]] = []


class CountingContext(FastExecutionContext):
    """Records every field the stock machinery executes, and each Person completed alone."""

    def execute_field(self, parent_type: Any, source: Any, field_nodes: Any, path: Any) -> Any:
        CALLS.append((parent_type.name, field_nodes[0].name.value))
        return super().execute_field(parent_type, source, field_nodes, path)

    def complete_object_value(
        self, return_type: Any, field_nodes: Any, info: Any, path: Any, result: Any
    ) -> Any:
        if return_type.name == "Person":
            ONE_BY_ONE.append(path.as_list())
        return super().complete_object_value(return_type, field_nodes, info, path, result)


def run_both(
    query: str | DocumentNode, served: Served, variables: dict[str, Any] | None = None
) -> tuple[ExecutionResult, ExecutionResult]:
    """Stock and fast results of one valid query; CALLS holds the fast run's stock fields."""
    document = parse(query) if isinstance(query, str) else query
    assert validate(SCHEMA, document) == []
    results = []
    for context_class in (None, CountingContext):
        CALLS.clear()
        ONE_BY_ONE.clear()
        result = execute(
            SCHEMA,
            document,
            context_value=served,
            variable_values=variables,
            execution_context_class=context_class,
        )
        if not isinstance(result, ExecutionResult):
            result = asyncio.run(_awaited(result))
        results.append(result)
    return results[0], results[1]


async def _awaited(result: Any) -> ExecutionResult:
    awaited: ExecutionResult = await result
    return awaited


def assert_same(stock: ExecutionResult, fast: ExecutionResult) -> None:
    # As JSON, so that key order and 2 against 2.0 or 1 against true count too.
    assert orjson.dumps(fast.data) == orjson.dumps(stock.data)
    assert [e.formatted for e in fast.errors or ()] == [e.formatted for e in stock.errors or ()]
    assert fast == stock


def assert_projected() -> None:
    """The fast run left nothing below Person to the stock executor but ``knownTo``, and
    completed a caseload in one call unless it had ``knownTo`` to execute per person."""
    stock_fields = {(parent, name) for parent, name in CALLS if parent in PROJECTED}
    assert stock_fields <= {("Person", "knownTo")}, stock_fields
    if ("AgencyRef", "id") in CALLS or ("AgencyRef", "name") in CALLS:
        assert ("Person", "knownTo") in CALLS
    in_lists = [path for path in ONE_BY_ONE if path[0] == "caseload"]
    if ("Person", "knownTo") not in CALLS:
        assert not in_lists, in_lists


def row(agency: str, **values: Any) -> dict[str, Any]:
    return {"agency": REFS[agency], **values}


def view(person_id: str | None, **records: list[dict[str, Any]] | None) -> PersonView:
    result = PersonView(id=person_id, agencies=("gp", "council"))  # type: ignore[arg-type]
    for name, rows in records.items():
        if name == "demographics":
            result.demographics = rows[0] if rows else None
        elif rows is None:
            result.unknown.add(name)
        else:
            result.records[name] = rows
    return result


PEOPLE = [
    view(
        "P0",
        demographics=[row("gp", given_name="Joan", date_of_birth=dt.date(1931, 5, 2))],
        medications=[
            row("gp", name="Amlodipine 5mg", dose="one daily", started_on="2024-01-03T09:00"),
            row("gp", name="Paracetamol", started_on=dt.date(2023, 7, 1)),
        ],
        alerts=[row("council", category="falls", severity="high", raised_on="2024-02-01")],
        timeline=[
            row("council", occurred_on="2024-03-05", kind="visit"),
            row("gp", occurred_on=dt.date(2024, 1, 9), kind="appointment"),
            row("council", occurred_on=dt.datetime(2023, 12, 1, 10, 30), kind="review"),
        ],
        care_packages=[row("council", service="home care", hours_per_week=7.5)],
        tenancies=None,
    ),
    view("P1", medications=[], alerts=None, timeline=[]),
]


def test_a_fragment_on_person_in_a_caseload() -> None:
    query = """
        query { caseload { ...Picture } }
        fragment Picture on Person {
          id __typename
          demographics { givenName dateOfBirth agency { id name } }
          health { __typename medications { name startedOn agency { id } } }
          socialCare { carePackages { hoursPerWeek } }
          housing { tenancies { address } }
        }"""
    stock, fast = run_both(query, Served(PEOPLE))
    assert_same(stock, fast)
    assert_projected()
    first = fast.data["caseload"][0]  # type: ignore[index]
    assert first["demographics"]["dateOfBirth"] == "1931-05-02"
    assert [m["startedOn"] for m in first["health"]["medications"]] == ["2024-01-03", "2023-07-01"]
    assert first["housing"]["tenancies"] is None
    assert fast.data["caseload"][1]["health"]["medications"] == []  # type: ignore[index]


@pytest.mark.parametrize("skip", [True, False])
def test_skip_on_a_record_list(skip: bool) -> None:
    query = """query ($skip: Boolean!) {
        caseload { id alerts @skip(if: $skip) { category raisedOn } assessments { kind } } }"""
    stock, fast = run_both(query, Served(PEOPLE), {"skip": skip})
    assert_same(stock, fast)
    assert_projected()
    assert ("alerts" in fast.data["caseload"][0]) is not skip  # type: ignore[index]


def test_timeline_arguments_from_variables() -> None:
    # One parsed document for every run, as the gateway's document cache keeps it.
    query = parse("""query ($from: Date, $to: Date, $agencies: [ID!]) {
        person(id: "P0") {
          all: timeline { occurredOn kind }
          some: timeline(from: $from, to: $to, agencies: $agencies) {
            occurredOn kind agency { id } }
          literal: timeline(from: "2024-01-01") { kind }
        } }""")
    answers = []
    for variables in (
        {"from": "2024-01-01", "to": "2024-12-31", "agencies": None},
        {"from": None, "to": None, "agencies": ["gp"]},
        {"from": "2024-01-01", "to": "2024-12-31", "agencies": None},
    ):
        stock, fast = run_both(query, Served(PEOPLE), variables)
        assert_same(stock, fast)
        assert_projected()
        answers.append(fast.data["person"])  # type: ignore[index]
    assert [e["kind"] for e in answers[0]["all"]] == ["review", "appointment", "visit"]
    assert [e["kind"] for e in answers[0]["some"]] == ["appointment", "visit"]
    assert answers[1]["some"] == [
        {"occurredOn": "2024-01-09", "kind": "appointment", "agency": {"id": "gp"}}
    ]
    assert [e["kind"] for e in answers[0]["literal"]] == ["appointment", "visit"]
    assert answers[2] == answers[0]


def test_known_to_runs_through_the_stock_executor_beside_the_projection() -> None:
    query = '{ person(id: "P0") { id knownTo { id name } alerts { category } } }'
    for asynchronous in (False, True):
        served = Served(PEOPLE, asynchronous=asynchronous)
        stock, fast = run_both(query, served)
        assert_same(stock, fast)
        assert_projected()
        assert list(fast.data["person"]) == ["id", "knownTo", "alerts"]  # type: ignore[index]
        assert served.lookups == ["P0", "P0"]  # once per run: the audit records each lookup


def test_bad_values_give_the_stock_errors() -> None:
    people = [
        view("P0", medications=[{"name": "no agency"}]),
        view("P1", alerts=[row("gp", category=["not", "text"])]),
        view("P2", tenancies=[row("council", rent_arrears_weeks=2**40)]),
    ]
    query = """{ caseload { id health { medications { name agency { id } } } alerts { category }
        housing { tenancies { rentArrearsWeeks } } } }"""
    stock, fast = run_both(query, Served(people))
    assert_same(stock, fast)
    assert stock.errors and len(stock.errors) == 3
    stock, fast = run_both('{ caseload { id } person(id: "P0") { id } }', Served([view(None)]))
    assert_same(stock, fast)
    assert stock.data is None


def test_a_caseload_is_completed_in_one_call() -> None:
    people = [view(f"P{n}", alerts=[row("council", category="falls")]) for n in range(5)]
    stock, fast = run_both("{ caseload(first: 5) { id alerts { category } } }", Served(people))
    assert_same(stock, fast)
    assert ONE_BY_ONE == []
    assert [p["id"] for p in fast.data["caseload"]] == ["P0", "P1", "P2", "P3", "P4"]  # type: ignore[index]
    # With a field only the stock executor runs, each Person is completed on its own.
    stock, fast = run_both("{ caseload(first: 2) { id knownTo { id } } }", Served(people))
    assert_same(stock, fast)
    assert ONE_BY_ONE == [["caseload", 0], ["caseload", 1]]


def test_each_record_gets_its_own_copy_of_its_agency() -> None:
    people = [view("P0", alerts=[row("council", category="falls"), row("council")])]
    query = "{ caseload(first: 1) { alerts { agency { id name } } } }"
    stock, fast = run_both(query, Served(people))
    assert_same(stock, fast)
    first, second = (alert["agency"] for alert in fast.data["caseload"][0]["alerts"])  # type: ignore[index]
    assert first == second and first is not second
    # Another agency of the same id under another name (a reload renamed it) is its own.
    renamed = dataclasses.replace(REFS["council"], name="Renamed Council")
    people = [view("P0", alerts=[{"agency": renamed, "category": "falls"}])]
    stock, fast = run_both(query, Served(people))
    assert_same(stock, fast)
    assert fast.data["caseload"][0]["alerts"][0]["agency"]["name"] == "Renamed Council"  # type: ignore[index]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_one_defect_sends_the_whole_caseload_to_the_stock_executor(asynchronous: bool) -> None:
    people = [
        view("P0", alerts=[row("council", category="falls")]),
        view("P1", alerts=[row("council", category=["not", "text"])]),
        view("P2", alerts=[row("gp", category="dementia")]),
    ]
    query = "{ caseload { id alerts { category } } }"
    stock, fast = run_both(query, Served(people, asynchronous=asynchronous))
    assert_same(stock, fast)
    assert [e.path for e in fast.errors or ()] == [["caseload", 1, "alerts", 0, "category"]]
    # The stock executor completed the list, and projected every Person it could.
    assert ONE_BY_ONE == [["caseload", 0], ["caseload", 1], ["caseload", 2]]
    assert {parent for parent, _ in CALLS} & PROJECTED == {"Person", "Alert"}


def test_an_item_that_is_no_person_view_gives_the_stock_answer() -> None:
    query = "{ caseload { id alerts { category } } }"
    stock, fast = run_both(query, Served([view("P0"), None, view("P2")]))  # type: ignore[list-item]
    assert_same(stock, fast)
    assert fast.data is None and [e.path for e in fast.errors or ()] == [["caseload", 1]]
    # A dict is read like any source, but it has no record sets.
    stock, fast = run_both(query, Served([view("P0"), {"id": "P9"}]))  # type: ignore[list-item]
    assert_same(stock, fast)
    assert fast.data == {"caseload": [{"id": "P0", "alerts": []}, {"id": "P9", "alerts": None}]}
    assert [e.path for e in fast.errors or ()] == [["caseload", 1, "alerts"]]


def test_projectors_are_shared_by_document_and_the_variables_they_use() -> None:
    document = parse(
        """query ($skip: Boolean!, $id: ID!) {
            person(id: $id) { id alerts @skip(if: $skip) { category } } }"""
    )
    nodes = [document.definitions[0].selection_set.selections[0]]  # type: ignore[attr-defined]

    def projector(**variables: Any) -> Any:
        return cached_projector(SCHEMA, {}, variables, PERSON, nodes)

    same = projector(skip=True, id="P0")
    assert same is not None and not same.stock
    assert projector(skip=True, id="P1") is same  # the person's id is not below Person
    assert projector(skip=False, id="P0") is not same


# ------------------------------------------------------------------ properties

DATES = st.dates(dt.date(2019, 1, 1), dt.date(2025, 12, 31))
VALID: dict[ValueKind, st.SearchStrategy[Any]] = {
    ValueKind.STRING: st.text(max_size=4) | st.sampled_from((7, True, 1.5)),
    ValueKind.DATE: DATES
    | DATES.map(dt.date.isoformat)
    | st.datetimes(dt.datetime(2019, 1, 1), dt.datetime(2025, 1, 1))
    | st.datetimes(dt.datetime(2019, 1, 1), dt.datetime(2025, 1, 1)).map(dt.datetime.isoformat),
    ValueKind.INT: st.integers(-1000, 1000) | st.sampled_from((True, 3.0, "12")),
    ValueKind.FLOAT: st.floats(-1e6, 1e6) | st.sampled_from((2, "1.5", False)),
    ValueKind.BOOLEAN: st.booleans() | st.just(1),
}
# Values the schema cannot serialize: each is a field error in stock execution.
BAD: dict[ValueKind, st.SearchStrategy[Any]] = {
    ValueKind.STRING: st.sampled_from(([1], float("inf"), {"a": 1})),
    ValueKind.DATE: st.sampled_from((7, 1.5, b"2021-01-01")),
    ValueKind.INT: st.sampled_from((2**40, 1.5, "x")),
    ValueKind.FLOAT: st.sampled_from((float("nan"), "x")),
    ValueKind.BOOLEAN: st.sampled_from(("yes", [True])),
}


DEFECTS = ("bad value", "null record", "no agency", "nameless agency", "null id")


@st.composite
def person_views(draw: st.DrawFn, person_id: str) -> PersonView:
    # Some people carry one kind of defect, each an error in stock execution; one kind
    # per person, so that one defect cannot hide the fast path's handling of another.
    defect = draw(st.sampled_from((None, None, None, *DEFECTS)))

    def now(kind: str) -> bool:
        return defect == kind and draw(st.integers(0, 2)) == 0

    # An ID may be a number; a null name is an error in the non-null AgencyRef.name.
    refs = [*REFS.values(), AgencyRef(7, "Seven")]  # type: ignore[arg-type]
    if defect == "nameless agency":
        refs.append(AgencyRef("nameless", None))  # type: ignore[arg-type]

    def record(items: Any) -> dict[str, Any] | None:
        if now("null record"):
            return None  # in a list of non-null records
        drawn: dict[str, Any] = {}
        if not now("no agency"):
            drawn["agency"] = draw(st.sampled_from(refs))
        for item in items:
            if draw(st.integers(0, 5)):  # some keys absent: the default resolver's None
                bad = now("bad value")
                drawn[item.field] = draw(BAD[item.kind] if bad else st.none() | VALID[item.kind])
        return drawn

    agencies = tuple(draw(st.lists(st.sampled_from(AGENCY_IDS), max_size=3, unique=True)))
    view = PersonView(id=None if defect == "null id" else person_id, agencies=agencies)  # type: ignore[arg-type]
    for rs in RECORD_SETS:
        shape = draw(st.sampled_from(("unknown", "empty", "rows", "rows")))
        if rs.name == "demographics":
            view.demographics = record(rs.items) if shape == "rows" else None
        elif shape == "unknown":
            view.unknown.add(rs.name)
        elif shape == "rows":
            rows = [record(rs.items) for _ in range(draw(st.integers(1, 2)))]
            view.records[rs.name] = rows  # type: ignore[assignment]
    return view


@st.composite
def views(draw: st.DrawFn) -> list[PersonView]:
    return [draw(person_views(f"P{n}")) for n in range(draw(st.integers(1, 4)))]


@dataclass
class Drawing:
    """What a document being drawn has declared so far."""

    variables: dict[str, str] = field(default_factory=dict)
    fragments: list[str] = field(default_factory=list)
    aliases: int = 0

    def alias(self) -> str:
        self.aliases += 1
        return f"a{self.aliases}: "


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    doc = Drawing()

    def directives() -> str:
        choice = draw(st.integers(0, 9))
        if choice == 0:
            return " @skip(if: %s)" % draw(st.sampled_from(("true", "false")))
        if choice == 1:
            return " @include(if: %s)" % draw(st.sampled_from(("true", "false")))
        if choice in (2, 3):
            name = draw(st.sampled_from(("b0", "b1")))
            doc.variables[name] = "Boolean!"
            return " @%s(if: $%s)" % (draw(st.sampled_from(("skip", "include"))), name)
        return ""

    def timeline_arguments() -> str:
        args = []
        for arg, variable, literal, type_name in (
            ("from", "from", '"2021-06-01"', "Date"),
            ("to", "to", '"2023-06-01"', "Date"),
            ("agencies", "agencies", '["gp", "trust"]', "[ID!]"),
        ):
            choice = draw(st.integers(0, 2))
            if choice == 1:
                args.append(f"{arg}: {literal}")
            elif choice == 2:
                doc.variables[variable] = type_name
                args.append(f"{arg}: ${variable}")
        return "(%s)" % ", ".join(args) if args else ""

    def selection(gtype: GraphQLObjectType, depth: int) -> str:
        parts = []
        for _ in range(draw(st.integers(3, 8) if depth == 0 else st.integers(1, 4))):
            kind = draw(st.sampled_from(("field",) * 5 + ("typename", "inline", "spread")))
            if kind == "typename":
                alias = doc.alias() if draw(st.booleans()) else ""
                parts.append(f"{alias}__typename{directives()}")
            elif kind == "inline" and depth < 4:
                condition = f" on {gtype.name}" if draw(st.booleans()) else ""
                parts.append(f"...{condition}{directives()} {{ {selection(gtype, depth + 1)} }}")
            elif kind == "spread" and depth < 4:
                name = f"F{len(doc.fragments)}"
                doc.fragments.append("")  # reserve the name; nested spreads follow it
                body = selection(gtype, depth + 1)
                doc.fragments[int(name[1:])] = f"fragment {name} on {gtype.name} {{ {body} }}"
                parts.append(f"...{name}{directives()}")
            else:
                parts.append(field_selection(gtype, depth))
        return " ".join(parts)

    def field_selection(gtype: GraphQLObjectType, depth: int) -> str:
        names = sorted(gtype.fields)
        if depth >= 4:  # deep enough: leaves only
            names = [
                n
                for n in names
                if not isinstance(get_named_type(gtype.fields[n].type), GraphQLObjectType)
            ] or ["__typename"]
        name = draw(st.sampled_from(names))
        if name == "__typename":
            return name
        alias = doc.alias() if draw(st.integers(0, 3)) == 0 else ""
        arguments = timeline_arguments() if name == "timeline" else ""
        if arguments and not alias:
            alias = doc.alias()  # differing arguments under one response key do not merge
        named = get_named_type(gtype.fields[name].type)
        body = ""
        if isinstance(named, GraphQLObjectType):
            body = " { %s }" % selection(named, depth + 1)
        return f"{alias}{name}{arguments}{directives()}{body}"

    person_selection = selection(PERSON, 0)
    roots = draw(st.sampled_from(("caseload", "person", "both")))
    fields = []
    if roots in ("caseload", "both"):
        fields.append("caseload(first: %d) { %s }" % (draw(st.integers(1, 4)), person_selection))
    if roots in ("person", "both"):
        fields.append('person(id: "P%d") { %s }' % (draw(st.integers(0, 3)), person_selection))
    declared = ", ".join(
        f"${name}: {type_name}" for name, type_name in sorted(doc.variables.items())
    )
    query = "query%s { %s } %s" % (
        f"({declared})" if declared else "",
        " ".join(fields),
        " ".join(doc.fragments),
    )
    values: dict[str, Any] = {}
    for name in doc.variables:
        if name in ("b0", "b1"):
            values[name] = draw(st.booleans())
        elif name == "agencies":
            values[name] = draw(st.none() | st.lists(st.sampled_from(AGENCY_IDS), max_size=2))
        else:
            values[name] = draw(st.none() | DATES.map(dt.date.isoformat))
    return query, values


@seed(20240611)
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(drawn=documents(), people=views())
def test_fast_execution_equals_stock_execution(
    drawn: tuple[str, dict[str, Any]], people: list[PersonView]
) -> None:
    query, variables = drawn
    stock, fast = run_both(query, Served(people), variables)
    assert_same(stock, fast)
    event("stock errors" if stock.errors else "no errors")
    if not stock.errors:
        assert_projected()
