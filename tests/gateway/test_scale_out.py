"""Two gateway processes over one PostgreSQL state database: a consent withdrawn
through one is honoured by the other on its very next query."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fame_demo.synthetic import Population
from gateway.audit.chain import verify_chain
from gateway.governance.state import create_state_engine
from tests.support import CONDITIONS, Process, two_processes, withdrawal_is_honoured_by_the_reader


async def test_a_withdrawal_through_one_process_is_honoured_by_the_other(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    postgres_state: str,
    processes_factory: list[Process],
    trust_url: str,
) -> None:
    settings, first, second = await two_processes(
        tmp_path, population, store_dir, trust_url, postgres_state, processes_factory
    )
    token, roy = await withdrawal_is_honoured_by_the_reader(settings, population, first, second)
    # Both processes appended to one audit chain, concurrently: it still holds.
    await asyncio.gather(
        *(p.query(token, CONDITIONS % roy) for p in (first, second) for _ in range(10))
    )
    engine = create_state_engine(settings.state_database)
    try:
        report = await verify_chain(engine)
    finally:
        await engine.dispose()
    assert report.ok, report
    # An intent for each of the 25 requests, and a disclosure for each of the 23 that
    # asked about the person (the two mutations disclose nothing).
    assert report.records == 25 + 23
