"""A bounded fuzz run over the live schema: valid and one-violation documents, as a social
worker and as a Caldicott guardian. No answer is a 5xx, an INTERNAL error or a suggestion,
and the gateway answers a normal query after every one."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from fame_demo.synthetic import Population
from tests.hostile.support import healthy, problems
from tests.support import World

#: Bounded so that the run stays well under a minute on a slow machine.
EXAMPLES = int(os.environ.get("FAME_FUZZ_EXAMPLES", "400"))
SEED = 20261129

_OFFSETS = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
#: Dates and instants from the whole representable range, plus text that is not one.
_DATE = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.text(max_size=12),
    st.sampled_from(["0001-01-01", "9999-12-31", "2025-02-29", "1900-01-01", ""]),
).map(nodes.String)
_DATETIME = st.one_of(
    st.datetimes(timezones=_OFFSETS).map(lambda t: t.isoformat()),
    st.datetimes().map(lambda t: t.isoformat()),
    st.text(max_size=20),
    st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"]),
).map(nodes.String)
_SCALARS = {"Date": _DATE, "DateTime": _DATETIME}


def test_fuzzing_the_live_schema(tmp_path: Path, population: Population, store_dir: Path) -> None:
    loop = asyncio.new_event_loop()
    world = World(tmp_path, population, store_dir)
    loop.run_until_complete(world.start())
    assert world.gateway is not None
    schema = world.gateway.schema
    documents = st.one_of(
        queries(schema, custom_scalars=_SCALARS),
        queries(schema, custom_scalars=_SCALARS, mode=Mode.NEGATIVE),
        mutations(schema, custom_scalars=_SCALARS),
        mutations(schema, custom_scalars=_SCALARS, mode=Mode.NEGATIVE),
    )
    seen = {"requests": 0, "refused": 0}

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(document=documents, as_=st.sampled_from(["sw-patel", "cg-morgan"]))
    def run(document: str, as_: str) -> None:
        response = loop.run_until_complete(world.post(document, as_=as_))
        seen["requests"] += 1
        seen["refused"] += response.status_code >= 400
        assert problems(response) == [], (document, response.status_code, response.text[:500])
        alive = loop.run_until_complete(world.post("{ me { agency } }"))
        assert alive.status_code == 200 and alive.json()["data"]["me"]["agency"], alive.text

    started = time.monotonic()
    try:
        run()
        loop.run_until_complete(healthy(world))
    finally:
        loop.run_until_complete(world.stop())
        loop.close()
    assert seen["requests"] >= EXAMPLES, seen
    # Both kinds were drawn: documents the schema accepts and documents it refuses.
    assert 0 < seen["refused"] < seen["requests"], seen
    assert time.monotonic() - started < 60, "the fuzz run must stay within a minute"
