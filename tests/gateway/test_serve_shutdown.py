"""`fame-gateway serve` stopped with SIGTERM (systemd, Kubernetes, `kill`) stops its gateway
before the process ends: the state database's connections are closed cleanly, which on
SQLite folds the write-ahead log back into the database and removes it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import httpx

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from tests.support import CONDITIONS, Process, prepare_shared_state, social_worker_token


async def test_sigterm_stops_the_gateway_before_the_process_ends(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    processes_factory: list[Process],
    trust_url: str,
) -> None:
    database = tmp_path / "state.sqlite"
    settings = await prepare_shared_state(
        tmp_path, population, store_dir, trust_url, f"sqlite+aiosqlite:///{database}"
    )
    server = Process(settings.config_dir / "gateway.toml", tmp_path / "serve.log")
    processes_factory.append(server)
    await server.ready()
    token = social_worker_token(settings)
    roy = demo_person_id(population.people[0].nhs_number)
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{server.url}/graphql",
            json={"query": CONDITIONS % roy},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    wal = database.with_name(database.name + "-wal")
    assert wal.exists()  # the serving gateway holds the database open
    server.proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(server.proc.wait, 20)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"no exit after SIGTERM: {server.log.read_text()}") from exc
    log = server.log.read_text()
    # uvicorn ends the process with the signal it was stopped by, as is conventional.
    assert code == -signal.SIGTERM, log
    assert not wal.exists(), f"the state database was not closed: {log}"
    assert '"level":"error"' not in log, log
