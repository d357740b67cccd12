"""The lower bound: a hand-written aggregation over the same four sources.

What calling the agencies directly costs, with nothing a gateway adds (no token, no
policy, no audit): for the client view the workloads ask for, each agency holding
anyone in the request gets one call for all of them, all concurrently, with hand-written SQL (one
statement per agency, its tables aggregated to JSON inside the database) or one HTTP
GET. The document is parsed once and compiled into a plan of the response; each
answer is then built synchronously from the fetched rows and encoded with orjson.
It returns the same ``data`` as the gateway.

``python -m bench.lower_bound --world FILE --port N`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
from graphql import FieldNode, OperationDefinitionNode, SelectionSetNode, parse
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from bench.variant_server import variant_app, variant_main
from bench.world import AGENCIES, GP, Agency, Person, Table, World
from gateway.core.catalogue import RECORD_SETS, SECTIONS, ValueKind

#: Record rows: catalogue field -> value, plus "agency" -> {"id", "name"}.
Row = dict[str, Any]
#: local id -> record set -> rows, as one agency answered.
AgencyRecords = dict[str, dict[str, list[Row]]]


def _date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value[:10] if isinstance(value, str) else value


_CONVERT: dict[ValueKind, Callable[[Any], Any]] = {
    ValueKind.STRING: lambda v: v,
    ValueKind.DATE: _date,
    ValueKind.FLOAT: float,
    ValueKind.INT: int,
    ValueKind.BOOLEAN: bool,
}

# (section or None, GraphQL field) -> (record set, {GraphQL field of the record ->
# (catalogue field, kind)}): two sections may each have a field of the same name (cases).
_RECORD_FIELDS = {
    (rs.section, rs.graphql_field): (
        rs.name,
        rs.name != "demographics",  # the one field that is an object, not a list
        {item.graphql_name: (item.field, item.kind) for item in rs.items},
    )
    for rs in RECORD_SETS
}
_SECTION_FIELDS = {
    section.split("_")[0] + "".join(p.title() for p in section.split("_")[1:]): section
    for section in SECTIONS
}

# A compiled selection: entries of (response key, what, payload).
Entry = tuple[str, str, Any]


class Unsupported(ValueError):
    """A request outside the hand-written view."""


def _fields(selection_set: SelectionSetNode | None) -> list[FieldNode]:
    if selection_set is None:
        return []
    fields = []
    for node in selection_set.selections:
        if not isinstance(node, FieldNode):
            raise Unsupported("fragments are outside the hand-written view")
        fields.append(node)
    return fields


def _compile_record(node: FieldNode, section: str | None = None) -> Entry:
    rs_name, is_list, items = _RECORD_FIELDS[(section, node.name.value)]
    row: list[tuple[str, str, Any]] = []
    for sub in _fields(node.selection_set):
        key = sub.alias.value if sub.alias else sub.name.value
        if sub.name.value == "agency":
            parts = [
                (s.alias.value if s.alias else s.name.value, s.name.value)
                for s in _fields(sub.selection_set)
            ]
            row.append((key, "agency", parts))
        else:
            field, kind = items[sub.name.value]
            row.append((key, field, kind))
    return (node.alias.value if node.alias else node.name.value, rs_name, (is_list, _builder(row)))


def _builder(shape: list[tuple[str, str, Any]]) -> Callable[[list[Row]], list[dict[str, Any]]]:
    """A function building the response rows of one record list, generated once per document:
    plain dict displays, no per-leaf dispatch. Keys and fields are GraphQL names (the
    grammar allows letters, digits and _ only), written with repr()."""
    lines = ["def build(rows):", "    out = []", "    for row in rows:"]
    entries = []
    scope: dict[str, Any] = {}
    for index, (key, field, how) in enumerate(shape):
        if field == "agency":
            inner = ", ".join(f"{k!r}: row['agency'][{f!r}]" for k, f in how)
            entries.append(f"{key!r}: {{{inner}}}")
        elif how is ValueKind.STRING:
            entries.append(f"{key!r}: row.get({field!r})")
        else:
            scope[f"c{index}"] = _CONVERT[how]
            lines.append(f"        v{index} = row.get({field!r})")
            entries.append(f"{key!r}: None if v{index} is None else c{index}(v{index})")
    lines.append("        out.append({" + ", ".join(entries) + "})")
    lines.append("    return out")
    exec("\n".join(lines), scope)
    built: Callable[[list[Row]], list[dict[str, Any]]] = scope["build"]
    return built


def compile_person(selection_set: SelectionSetNode | None) -> list[Entry]:
    """The plan of a Person selection: what each response key is built from."""
    entries: list[Entry] = []
    for node in _fields(selection_set):
        key = node.alias.value if node.alias else node.name.value
        name = node.name.value
        if name == "id":
            entries.append((key, "@id", None))
        elif name in _SECTION_FIELDS:
            entries.append(
                (
                    key,
                    "@section",
                    [
                        _compile_record(s, _SECTION_FIELDS[name])
                        for s in _fields(node.selection_set)
                    ],
                )
            )
        elif (None, name) in _RECORD_FIELDS:
            entries.append(_compile_record(node))
        else:
            raise Unsupported(f"Person.{name} is outside the hand-written view")
    return entries


def build_person(
    person_id: str, records: dict[str, list[Row]], entries: list[Entry]
) -> dict[str, Any]:
    """One person's answer, resolved synchronously from the fetched records."""
    out: dict[str, Any] = {}
    for key, what, payload in entries:
        if what == "@id":
            out[key] = person_id
        elif what == "@section":
            out[key] = {
                sub_key: _record_value(records, rs_name, sub_payload)
                for sub_key, rs_name, sub_payload in payload
            }
        else:
            out[key] = _record_value(records, what, payload)
    return out


def _record_value(records: dict[str, list[Row]], rs_name: str, payload: Any) -> Any:
    is_list, build = payload
    rows = records.get(rs_name, [])
    if is_list:
        return build(rows)
    return build(rows[:1])[0] if rows else None


# --- the hand-written calls ------------------------------------------------------------------


def _table_groups(table: Table) -> list[tuple[str, list[tuple[int, str]]]]:
    # Position of each mapped column in the fetched array (0 is the key), by record set.
    groups: dict[str, list[tuple[int, str]]] = {}
    for position, col in enumerate(table.mapped, start=1):
        assert col.item is not None
        rs_name, _, field = col.item.partition(".")
        groups.setdefault(rs_name, []).append((position, field))
    return list(groups.items())


def _sql_statement(agency: Agency, placeholder: Callable[[int], str]) -> str:
    parts = []
    for index, table in enumerate(agency.tables):
        cols = ", ".join([table.key, *(c.name for c in table.mapped)])
        order = table.key + (f", {table.order_by}" if table.order_by else "")
        if agency.backend == "postgresql":
            parts.append(
                f"(SELECT json_agg(json_build_array({cols}) ORDER BY {order}) "
                f"FROM {table.name} WHERE {table.key} = ANY({placeholder(index)}))"
            )
        else:
            parts.append(
                f"(SELECT JSON_ARRAYAGG(JSON_ARRAY({cols}) ORDER BY {order}) "
                f"FROM {table.name} WHERE {table.key} IN {placeholder(index)})"
            )
    return "SELECT " + ",\n ".join(parts)


def _sql_records(agency: Agency, columns: Sequence[Any]) -> AgencyRecords:
    ref = {"id": agency.id, "name": agency.name}
    result: AgencyRecords = {}
    for table, raw in zip(agency.tables, columns, strict=True):
        if raw is None:
            continue
        groups = _table_groups(table)
        for values in orjson.loads(raw):
            person = result.setdefault(values[0], {})
            for rs_name, fields in groups:
                row: Row = {field: values[position] for position, field in fields}
                row["agency"] = ref
                person.setdefault(rs_name, []).append(row)
    return result


def _http_records(agency: Agency, body: dict[str, Any]) -> AgencyRecords:
    ref = {"id": agency.id, "name": agency.name}
    result: AgencyRecords = {}
    parts = [
        (
            part.key,
            part.many,
            part.record_set,
            [(field, item.partition(".")[2]) for field, item in part.fields if item is not None],
        )
        for part in agency.documents
    ]
    for document in body[agency.results_key]:
        person: dict[str, list[Row]] = {}
        for key, many, record_set, fields in parts:
            value = document.get(key)
            if value is None:
                continue
            rows = []
            for element in value if many else (value,):
                row: Row = {name: element.get(field) for field, name in fields}
                row["agency"] = ref
                rows.append(row)
            person[record_set] = rows
        result[str(document[agency.id_field])] = person
    return result


@dataclass
class LowerBound:
    """The hand-written aggregation: pools to the four sources and the request handler."""

    world: World
    # Enough: one statement per agency per request, and at 30 ms a call 16 connections
    # carry over 500 requests a second, more than two CPUs build answers for. More would
    # crowd PostgreSQL's 100 connections, which every variant's pools share with the
    # gateways' state databases.
    pool_size: int = 16

    def __post_init__(self) -> None:
        self._pg: asyncpg.Pool | None = None
        self._my: Any = None
        self._http: aiohttp.ClientSession | None = None
        self._plans: dict[str, tuple[str, list[Entry]]] = {}
        self._people = {p.id: p for p in self.world.people}
        self._statements = {
            a.id: _sql_statement(
                a,
                (lambda i: f"${i + 1}::varchar[]")
                if a.backend == "postgresql"
                else (lambda i: "?"),
            )
            for a in AGENCIES
            if a.kind == "sql"
        }

    async def start(self) -> None:
        """Open one pool per SQL agency and one HTTP session."""
        import aiomysql

        for agency in AGENCIES:
            if agency.kind != "sql" or agency.id not in self.world.dsns:
                continue  # a world without it (the peer people need none)
            url = make_url(self.world.dsns[agency.id])
            if agency.backend == "postgresql":
                self._pg = await asyncpg.create_pool(
                    host=url.host,
                    port=url.port or 5432,
                    user=url.username,
                    password=url.password,
                    database=url.database,
                    min_size=1,
                    max_size=self.pool_size,
                )
            else:
                self._my = await aiomysql.create_pool(
                    host=url.host or "127.0.0.1",
                    port=url.port or 3306,
                    user=url.username or "root",
                    password=url.password or "",
                    db=url.database,
                    autocommit=True,
                    minsize=1,
                    maxsize=self.pool_size,
                    init_command="SET SESSION group_concat_max_len = 67108864",
                )
        # Two HTTP agencies, 32 requests in flight: every call may be in flight at once.
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))

    async def stop(self) -> None:
        """Close pools and the session."""
        if self._pg is not None:
            await self._pg.close()
        if self._my is not None:
            self._my.close()
            await self._my.wait_closed()
        if self._http is not None:
            await self._http.close()

    async def fetch(self, agency: Agency, local_ids: list[str]) -> AgencyRecords:
        """One call to ``agency`` for all of ``local_ids``: its every mapped item about them."""
        if agency.kind == "http":
            assert self._http is not None
            params = {"ids": ",".join(local_ids), "fields": agency.http_fields}
            url = self.world.urls[agency.id] + agency.path
            async with self._http.get(url, params=params) as response:
                body = orjson.loads(await response.read())
            return _http_records(agency, body)
        statement = self._statements[agency.id]
        if agency.backend == "postgresql":
            assert self._pg is not None
            row = await self._pg.fetchrow(statement, *([local_ids] * len(agency.tables)))
            assert row is not None
            return _sql_records(agency, list(row))
        assert self._my is not None
        marks = "(" + ", ".join(["%s"] * len(local_ids)) + ")"
        async with self._my.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                statement.replace("IN ?", f"IN {marks}"), local_ids * len(agency.tables)
            )
            columns = await cur.fetchone()
        return _sql_records(agency, columns)

    async def people(self, people: list[Person], entries: list[Entry]) -> list[dict[str, Any]]:
        """Fetch every agency holding any of ``people`` once for all of them, concurrently;
        build their answers."""
        holders = sorted(
            (a for a in AGENCIES if any(a.id in p.local_ids for p in people)), key=lambda a: a.id
        )
        fetched = await asyncio.gather(
            *(
                self.fetch(
                    agency, [p.local_ids[agency.id] for p in people if agency.id in p.local_ids]
                )
                for agency in holders
            )
        )
        answers = []
        for person in people:
            records: dict[str, list[Row]] = {}
            for agency, found in zip(holders, fetched, strict=True):
                if agency.id not in person.local_ids:
                    continue
                for rs_name, rows in found.get(person.local_ids[agency.id], {}).items():
                    if rs_name == "demographics" and agency.id != GP:
                        continue  # the practice ranks first for demographics
                    records.setdefault(rs_name, []).extend(rows)
            answers.append(build_person(person.id, records, entries))
        return answers

    def plan(self, query: str) -> tuple[str, list[Entry]]:
        """The compiled document (cached by its text): the root field and the person plan."""
        found = self._plans.get(query)
        if found is None:
            document = parse(query)
            (operation,) = document.definitions
            assert isinstance(operation, OperationDefinitionNode)
            (root,) = _fields(operation.selection_set)
            if root.name.value not in {"person", "caseload"}:
                raise Unsupported(f"{root.name.value} is outside the hand-written view")
            found = (root.name.value, compile_person(root.selection_set))
            self._plans[query] = found
        return found

    async def handle(self, request: Request) -> Response:
        """POST /graphql for the workloads' documents."""
        body = orjson.loads(await request.body())
        variables = body.get("variables") or {}
        try:
            root, entries = self.plan(body["query"])
        except Unsupported as exc:
            return Response(orjson.dumps({"errors": [{"message": str(exc)}]}), status_code=400)
        if root == "person":
            person = self._people.get(variables["id"])
            answer = (await self.people([person], entries))[0] if person is not None else None
            data: dict[str, Any] = {"person": answer}
        else:
            data = {"caseload": await self.people(self.world.caseload(variables["first"]), entries)}
        return Response(orjson.dumps({"data": data}), media_type="application/json")


def create_app(world: World) -> Starlette:
    """The lower bound as an ASGI app (its lifespan opens and closes the pools)."""
    bound = LowerBound(world)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await bound.start()
        try:
            yield
        finally:
            await bound.stop()

    return variant_app(bound.handle, lifespan)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.lower_bound --world FILE --port N``."""
    return variant_main("the benchmark's lower bound", create_app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
