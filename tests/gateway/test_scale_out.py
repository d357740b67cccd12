"""Two gateway processes over one PostgreSQL state database: a consent withdrawn
through one is honoured by the other on its very next query."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.audit.chain import verify_chain
from gateway.governance.state import create_state_engine
from tests.support import (
    RECORD_PHYSICAL_HEALTH_CONSENT,
    Process,
    social_worker_token,
    two_processes,
)

CONDITIONS = '{ person(id: "%s") { health { conditions { name } } } }'


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
    token = social_worker_token(settings)
    roy = demo_person_id(population.people[0].nhs_number)
    recorded = await first.query(token, RECORD_PHYSICAL_HEALTH_CONSENT % roy)
    consent_id = recorded["data"]["recordConsent"]["id"]
    shown = await second.query(token, CONDITIONS % roy)
    assert shown["data"]["person"]["health"]["conditions"], shown
    # Warm the second process once more, then withdraw through the first.
    assert (await second.query(token, CONDITIONS % roy))["data"]["person"]["health"]["conditions"]
    await first.query(token, 'mutation { withdrawConsent(id: "%s") { id } }' % consent_id)
    after = await second.query(token, CONDITIONS % roy)
    assert after["data"]["person"]["health"]["conditions"] is None
    reasons = {(e["agency"], e["item"]): e["reason"] for e in after["extensions"]["withheld"]}
    assert reasons[("riverside-gp", "conditions.name")] == "NO_CONSENT"
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
