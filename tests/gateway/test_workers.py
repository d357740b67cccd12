"""`fame-gateway serve --workers 2`: two gateway processes on one port and one state
database (SQLite here), both serving, one audit chain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.audit.chain import verify_chain
from gateway.governance.state import create_state_engine
from tests.support import CONDITIONS, Process, prepare_shared_state, social_worker_token

REQUESTS = 200


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


async def test_two_workers_share_the_port_and_one_audit_chain(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    processes_factory: list[Process],
    trust_url: str,
) -> None:
    state = f"sqlite+aiosqlite:///{(tmp_path / 'shared-state.sqlite').as_posix()}"
    settings = await prepare_shared_state(tmp_path, population, store_dir, trust_url, state)
    server = Process(settings.config_dir / "gateway.toml", tmp_path / "serve.log", workers=2)
    processes_factory.append(server)
    await server.ready()
    workers = _children(server.proc.pid)
    # The spawn context's resource tracker is a child too: the workers are the two
    # gateway processes among them.
    gateways = [pid for pid in workers if _spawned(pid)]
    assert len(gateways) == 2, (workers, [_cmdline(pid) for pid in workers])
    before = {pid: _cpu_ticks(pid) for pid in gateways}

    token = social_worker_token(settings)
    roy = demo_person_id(population.people[0].nhs_number)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def ask() -> int:
            response = await client.post(
                f"{server.url}/graphql",
                json={"query": CONDITIONS % roy},
                headers={"Authorization": f"Bearer {token}"},
            )
            return response.status_code

        statuses = await asyncio.gather(*(ask() for _ in range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    # New connections went to both processes: each did work.
    assert all(_cpu_ticks(pid) > before[pid] for pid in gateways), before
    server.stop()
    engine = create_state_engine(settings.state_database)
    try:
        report = await verify_chain(engine)
    finally:
        await engine.dispose()
    assert report.ok, report
    assert report.records == 2 * REQUESTS


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _spawned(pid: int) -> bool:
    # multiprocessing's spawn runs children as `python -c "from multiprocessing.spawn ..."`;
    # the resource tracker's command line names resource_tracker instead.
    line = _cmdline(pid)
    return "multiprocessing.spawn" in line and "resource_tracker" not in line
