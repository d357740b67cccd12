"""The naive variant: a graphene schema with a resolver per field and no planning.

What a first attempt looks like: every record-list field of every person asks each
agency holding that record set on its own, for that one person (a GP alert list is one
SELECT, the same person's medications another, the next person's alerts a third), and
every scalar is resolved by graphene's default resolver. SQL goes through SQLAlchemy's
async engines with their default pools, HTTP through one aiohttp session, the answer
through Starlette's JSON response. No token, policy or audit, like the lower bound.
It returns the same ``data`` as the gateway.

``python -m bench.naive --world FILE --port N`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import graphene
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from bench.variant_server import graphene_endpoint, variant_app, variant_main
from bench.world import AGENCIES, GP, Agency, Person, World
from gateway.core.catalogue import RECORD_SETS_BY_NAME, SECTIONS, RecordSetSpec, ValueKind

Row = dict[str, Any]


class Date(graphene.Scalar):  # type: ignore[misc]
    """An ISO date."""

    @staticmethod
    def serialize(value: Any) -> str:
        """Dates and ISO text both leave as ``YYYY-MM-DD``."""
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)[:10]


_SCALARS: dict[ValueKind, Any] = {
    ValueKind.STRING: graphene.String,
    ValueKind.DATE: Date,
    ValueKind.INT: graphene.Int,
    ValueKind.FLOAT: graphene.Float,
    ValueKind.BOOLEAN: graphene.Boolean,
}


class AgencyRef(graphene.ObjectType):  # type: ignore[misc]
    """The agency a record came from."""

    id = graphene.ID(required=True)
    name = graphene.String(required=True)


@dataclass
class Sources:
    """One engine per SQL agency (default pool) and one HTTP session."""

    world: World
    engines: dict[str, AsyncEngine]
    http: aiohttp.ClientSession | None = None

    async def rows(self, agency: Agency, record_set: str, local_id: str) -> list[Row]:
        """One call: this agency's rows of one record set about one person."""
        ref = {"id": agency.id, "name": agency.name}
        if agency.kind == "sql":
            table = next(
                t
                for t in agency.tables
                if any(c.item and c.item.startswith(record_set + ".") for c in t.mapped)
            )
            cols = [c for c in table.mapped if c.item and c.item.startswith(record_set + ".")]
            order = f" ORDER BY {table.order_by}" if table.order_by else ""
            sql = (
                f"SELECT {', '.join(c.name for c in cols)} FROM {table.name} "
                f"WHERE {table.key} = :id{order}"
            )
            async with self.engines[agency.id].connect() as conn:
                result = await conn.execute(text(sql), {"id": local_id})
                fetched = result.all()
            return [
                {
                    **{
                        (c.item or "").partition(".")[2]: value
                        for c, value in zip(cols, values, strict=True)
                    },
                    "agency": ref,
                }
                for values in fetched
            ]
        part = next(p for p in agency.documents if p.record_set == record_set)
        paths = [
            f"{part.key}[].{field}" if part.many else f"{part.key}.{field}"
            for field, item in part.fields
            if item is not None
        ]
        assert self.http is not None
        async with self.http.get(
            self.world.urls[agency.id] + agency.path,
            params={"ids": local_id, "fields": ",".join(paths)},
        ) as response:
            body = await response.json()
        rows = []
        for document in body[agency.results_key]:
            value = document.get(part.key)
            for element in (value if part.many else [value]) if value is not None else []:
                row: Row = {
                    (item or "").partition(".")[2]: element.get(field)
                    for field, item in part.fields
                    if item is not None
                }
                row["agency"] = ref
                rows.append(row)
        return rows


def holders(record_set: str) -> list[Agency]:
    """Every agency mapping the record set, in agency id order (as the gateway lists rows)."""
    return sorted(
        (a for a in AGENCIES if any(item.startswith(record_set + ".") for item in a.items)),
        key=lambda a: a.id,
    )


def _record_type(rs: RecordSetSpec) -> type[graphene.ObjectType]:
    attrs: dict[str, Any] = {"agency": graphene.Field(AgencyRef, required=True)}
    for item in rs.items:
        attrs[item.field] = _SCALARS[item.kind]()
    return type(rs.type_name, (graphene.ObjectType,), attrs)


def _list_resolver(record_set: str) -> Callable[..., Any]:
    async def resolve(person: Person, info: Any) -> list[Row]:
        sources: Sources = info.context["sources"]
        found = await asyncio.gather(
            *(
                sources.rows(agency, record_set, person.local_ids[agency.id])
                for agency in holders(record_set)
                if agency.id in person.local_ids
            )
        )
        return [row for rows in found for row in rows]

    return resolve


async def _resolve_demographics(person: Person, info: Any) -> Row | None:
    sources: Sources = info.context["sources"]
    gp = next(a for a in AGENCIES if a.id == GP)
    rows = await sources.rows(gp, "demographics", person.local_ids[GP])
    return rows[0] if rows else None


def _view_record_sets() -> list[str]:
    return sorted({item.partition(".")[0] for a in AGENCIES for item in a.items})


#: A resolver of a Person field: (person, info) -> its value, or an awaitable of it.
Resolver = Callable[[Person, Any], Any]


def build_schema(
    list_resolver: Callable[[str], Resolver] | None = None,
    demographics_resolver: Resolver | None = None,
) -> graphene.Schema:
    """The view's schema: Person with one resolver per record-list field.

    The naive resolvers unless others are given (the DataLoader peer gives its own:
    ``list_resolver`` makes the resolver of one record set's list).
    """
    list_resolver = list_resolver or _list_resolver
    demographics_resolver = demographics_resolver or _resolve_demographics
    record_sets = [RECORD_SETS_BY_NAME[name] for name in _view_record_sets()]
    types = {rs.name: _record_type(rs) for rs in record_sets}
    person_attrs: dict[str, Any] = {
        "id": graphene.ID(required=True, resolver=lambda person, _info: person.id),
        "demographics": graphene.Field(types["demographics"], resolver=demographics_resolver),
    }
    sections: dict[str, dict[str, Any]] = {}
    for rs in record_sets:
        if rs.name == "demographics":
            continue
        field = graphene.List(graphene.NonNull(types[rs.name]), resolver=list_resolver(rs.name))
        if rs.section is None:
            person_attrs[rs.graphql_field] = field
        else:
            sections.setdefault(rs.section, {})[rs.graphql_field] = field
    for section, fields in sections.items():
        type_name = SECTIONS[section][0]
        section_type = type(type_name, (graphene.ObjectType,), fields)
        camel = section.split("_")[0] + "".join(p.title() for p in section.split("_")[1:])
        person_attrs[camel] = graphene.Field(section_type, resolver=lambda person, _info: person)
    person_type = type("Person", (graphene.ObjectType,), person_attrs)

    def resolve_person(_root: None, info: Any, id: str) -> Person | None:
        world: World = info.context["sources"].world
        return next((p for p in world.people if p.id == id), None)

    def resolve_caseload(_root: None, info: Any, first: int) -> list[Person]:
        world: World = info.context["sources"].world
        return world.caseload(first)

    query = type(
        "Query",
        (graphene.ObjectType,),
        {
            "person": graphene.Field(
                person_type, id=graphene.ID(required=True), resolver=resolve_person
            ),
            "caseload": graphene.List(
                graphene.NonNull(person_type),
                required=True,
                first=graphene.Int(default_value=50),
                resolver=resolve_caseload,
            ),
        },
    )
    return graphene.Schema(query=query)


def create_app(world: World) -> Starlette:
    """The naive variant as an ASGI app."""
    schema = build_schema()
    sources = Sources(
        world,
        {a.id: create_async_engine(world.dsns[a.id]) for a in AGENCIES if a.kind == "sql"},
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        sources.http = aiohttp.ClientSession()
        try:
            yield
        finally:
            await sources.http.close()
            for engine in sources.engines.values():
                await engine.dispose()

    return variant_app(graphene_endpoint(schema, lambda: {"sources": sources}), lifespan)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.naive --world FILE --port N``."""
    return variant_main("the benchmark's naive variant", create_app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
