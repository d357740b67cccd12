"""The graphene + DataLoader peer: what a competent graphene service looks like.

graphene 3 on Starlette, the same schema as the gateway's view, a resolver per record
list, and one ``aiodataloader`` DataLoader per source, made afresh for each request:
every record list of every person in a request loads that person from each agency
holding the record set, and each agency's loader batches all the loads of the request
into one call. The calls are the lower bound's (one SQL statement or one HTTP GET per
agency, every mapped item), so what the peer adds over the lower bound is graphene's
execution and the DataLoader machinery. No token, policy or audit. The answer leaves
through orjson. It returns the same ``data`` as the gateway.

``python -m bench.peers.dataloader --world FILE --port N`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import graphene
from aiodataloader import DataLoader
from starlette.applications import Starlette

from bench.lower_bound import LowerBound, Row
from bench.naive import Resolver, build_schema, holders
from bench.variant_server import graphene_endpoint, variant_app, variant_main
from bench.world import AGENCIES, GP, Agency, Person, World

#: What one agency holds about one person: record set -> rows.
Records = dict[str, list[Row]]


class Loaders:
    """One request's DataLoaders, one per source, made when first used."""

    def __init__(self, sources: LowerBound) -> None:
        self._sources = sources
        self._loaders: dict[str, DataLoader[str, Records]] = {}

    def load(self, agency: Agency, local_id: str) -> asyncio.Future[Records]:
        """What ``agency`` holds about ``local_id``, batched with the request's other loads."""
        loader = self._loaders.get(agency.id)
        if loader is None:

            async def batch(keys: list[str]) -> list[Records]:
                found = await self._sources.fetch(agency, keys)
                return [found.get(key, {}) for key in keys]

            loader = self._loaders[agency.id] = DataLoader(batch)
        return loader.load(local_id)


def _list_resolver(record_set: str) -> Resolver:
    agencies = holders(record_set)

    async def resolve(person: Person, info: Any) -> list[Row]:
        loaders: Loaders = info.context["loaders"]
        found = await asyncio.gather(
            *(
                loaders.load(agency, person.local_ids[agency.id])
                for agency in agencies
                if agency.id in person.local_ids
            )
        )
        return [row for records in found for row in records.get(record_set, [])]

    return resolve


_GP = next(a for a in AGENCIES if a.id == GP)


async def _resolve_demographics(person: Person, info: Any) -> Row | None:
    # The practice ranks first for demographics, as in the gateway's agency files.
    if GP not in person.local_ids:
        return None
    loaders: Loaders = info.context["loaders"]
    rows = (await loaders.load(_GP, person.local_ids[GP])).get("demographics", [])
    return rows[0] if rows else None


def build_peer_schema() -> graphene.Schema:
    """The view's schema with the DataLoader resolvers."""
    return build_schema(_list_resolver, _resolve_demographics)


def create_app(world: World) -> Starlette:
    """The DataLoader peer as an ASGI app (its lifespan opens and closes the sources' pools)."""
    schema = build_peer_schema()
    sources = LowerBound(world)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await sources.start()
        try:
            yield
        finally:
            await sources.stop()

    return variant_app(
        graphene_endpoint(schema, lambda: {"sources": sources, "loaders": Loaders(sources)}),
        lifespan,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.peers.dataloader --world FILE --port N``."""
    return variant_main("the benchmark's graphene + DataLoader peer", create_app, argv)


if __name__ == "__main__":
    raise SystemExit(main())
