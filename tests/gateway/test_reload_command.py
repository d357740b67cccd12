"""`fame-gateway reload` against a running `fame-gateway serve` on 127.0.0.1: a broken file
is refused here and the server is not even signalled; a good one is taken by every
gateway process, under load, without a request failing or an answer mixing the old and
the new configuration."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fame_demo.community_api import CommunityHealthApi
from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.config.settings import Settings, load_settings
from gateway.config.tokens import generate_demo_keys
from gateway.reload_command import Streams, request_reload
from gateway.run_files import RunFiles, default_pid_file
from tests.gateway.reload_files import (
    TENANCY_ROLES,
    TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS,
    edit,
    protocol_version,
    without_agency,
)
from tests.support import REPO, Process, build_config, practitioner_token, prepare_shared_state

TENANCIES = (
    '{ person(id: "%s") { housing { tenancies { address } } } '
    "sharingProtocol { version } agencies { id name } }"
)
HOUSING_NAME = 'name = "Shire Council Housing Service"'
RENAMED = 'name = "Shire Council Housing Service (B)"'
#: Requests sent while the configuration is reloaded back and forth.
REQUESTS = 240
CLIENTS = 6


@dataclass
class Fleet:
    """A trust API and the gateway servers of one test."""

    trust: CommunityHealthApi
    servers: list[Process] = field(default_factory=list)


@pytest.fixture
async def fleet(trust: CommunityHealthApi) -> AsyncIterator[Fleet]:
    running = Fleet(trust)
    try:
        yield running
    finally:
        for server in running.servers:
            server.stop()


async def _settings(
    tmp_path: Path, population: Population, store_dir: Path, fleet: Fleet
) -> Settings:
    assert fleet.trust.base_url is not None
    state = f"sqlite+aiosqlite:///{(tmp_path / 'state.sqlite').as_posix()}"
    return await prepare_shared_state(tmp_path, population, store_dir, fleet.trust.base_url, state)


async def _serve(fleet: Fleet, config: Path, log: Path, workers: int) -> Process:
    server = Process(config, log, workers=workers)
    fleet.servers.append(server)
    await server.ready()
    # The pid file appears once every gateway process serves.
    pid_file = default_pid_file(config)
    for _ in range(600):
        if pid_file.exists():
            break
        await asyncio.sleep(0.05)
    assert pid_file.exists(), log.read_text()
    return server


async def _reload(config: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "reload",
        "--config",
        str(config),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _statuses(config: Path) -> Iterator[dict[str, Any]]:
    files = RunFiles(default_pid_file(config))
    record = files.read()
    assert record is not None
    for worker in record.workers:
        status = files.status(worker)
        assert status is not None
        yield status


async def test_a_broken_file_is_refused_before_the_server_is_signalled_and_a_new_agency_is_taken(
    tmp_path: Path, population: Population, store_dir: Path, fleet: Fleet
) -> None:
    settings = await _settings(tmp_path, population, store_dir, fleet)
    config = settings.config_dir / "gateway.toml"
    saved = {path: path.read_text() for path in settings.config_dir.rglob("*.toml")}
    without_agency(settings.config_dir, "shire-housing", ("housing", "benefits"))
    server = await _serve(fleet, config, tmp_path / "serve.log", workers=1)
    roy = demo_person_id(population.people[0].nhs_number)

    for path, text in saved.items():
        path.write_text(text)
    housing = settings.config_dir / "agencies" / "shire-housing.toml"
    edit(housing, "[tables.tenants]", "[tables.tenants]\nkey_column = 1")
    code, out, err = await _reload(config)
    assert code == 2, (out, err)
    assert f"{housing}: tables.tenants.key_column: " in err, err
    assert "nothing was reloaded" in err
    # Not signalled at all: no process has made an attempt.
    assert [status["attempts"] for status in _statuses(config)] == [0]

    housing.write_text(saved[housing])
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        headers = {"Authorization": f"Bearer {practitioner_token(settings, 'ho-evans')}"}
        before = await client.post("/graphql", json={"query": TENANCIES % roy}, headers=headers)
        assert before.status_code == 401  # no issuer for housing yet
        code, out, err = await _reload(config)
        assert code == 0, (out, err)
        assert "took generation 2 (agencies added shire-housing)" in out
        assert "in force in every gateway process (1)" in out
        answer = await client.post("/graphql", json={"query": TENANCIES % roy}, headers=headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["extensions"]["sources"]["shire-housing"]["status"] == "ok"
    assert body["data"]["person"]["housing"]["tenancies"]
    assert [status["generation"] for status in _statuses(config)] == [2]

    # A file broken on the server's side only (a column the database does not have):
    # the command exits 1 with the server's own words, and the old configuration serves.
    edit(housing, "tenancy_accounts.property_address", "tenancy_accounts.no_such_address")
    code, out, err = await _reload(config)
    assert code == 1, (out, err)
    assert "refused the new configuration and still serves generation 2" in err, err
    assert f"{housing}: " in err and "no_such_address" in err, err
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        again = await client.post("/graphql", json={"query": TENANCIES % roy}, headers=headers)
    assert again.json()["data"] == body["data"]

    # Stopped, the server takes its pid file and status files with it.
    server.stop()
    files = RunFiles(default_pid_file(config))
    assert not files.pid_file.exists() and not files.status_dir.exists()


def test_without_a_running_server_the_command_says_so(tmp_path: Path, store_dir: Path) -> None:
    config = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=store_dir)
    generate_demo_keys(load_settings(config))
    files = RunFiles(default_pid_file(config))

    def run() -> tuple[int, str]:
        err = io.StringIO()
        code = request_reload(config, files.pid_file, 5.0, Streams(io.StringIO(), err))
        return code, err.getvalue()

    code, err = run()
    assert code == 1 and "no running gateway found" in err and str(files.pid_file) in err
    files.publish(_gone_pid(), [], config)
    code, err = run()
    assert code == 1 and "which is not running" in err
    files.publish(os.getpid(), [os.getpid()], tmp_path / "other.toml")
    code, err = run()
    assert code == 1 and f"reload it with --config {tmp_path / 'other.toml'}" in err


def _gone_pid() -> int:
    # A process that has ended and been reaped: its id names no process now.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@dataclass
class Load:
    """Answers gathered while the configuration changes, each with the phase its request
    was sent in and the configuration surely in force then (None while a reload was
    under way)."""

    phase: int = 0
    expected: str | None = "A"
    done: bool = False
    answers: list[tuple[int, str | None, int, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._answered = asyncio.Event()

    def answered(self, phase: int, expected: str | None, status: int, body: Any) -> None:
        """Keep an answer."""
        self.answers.append((phase, expected, status, body))
        self._answered.set()

    def in_phase(self, phase: int) -> int:
        """Answers to requests sent in ``phase``."""
        return sum(1 for sent_in, *_ in self.answers if sent_in == phase)

    async def until(self, enough: Callable[[], bool]) -> None:
        """Return once ``enough()`` holds, checking after every answer."""
        while not enough():
            self._answered.clear()
            await self._answered.wait()


def _configuration_of(body: dict[str, Any]) -> str:
    """ "A" or "B" when the answer is wholly one of them; a description otherwise."""
    version = body["data"]["sharingProtocol"]["version"]
    names = {agency["id"]: agency["name"] for agency in body["data"]["agencies"]}
    tenancies = body["data"]["person"]["housing"]["tenancies"]
    withheld = {
        entry["reason"]
        for entry in body["extensions"].get("withheld", [])
        if entry["item"].startswith("tenancies.")
    }
    seen = (version, names["shire-housing"], tenancies is None, tuple(sorted(withheld)))
    if seen == ("A", "Shire Council Housing Service", True, ("ROLE_NOT_PERMITTED",)):
        return "A"
    if seen == ("B", "Shire Council Housing Service (B)", False, ()):
        return "B"
    return f"mixed: {seen}"


def _write(config_dir: Path, which: str) -> None:
    protocol = config_dir / "sharing-protocol.toml"
    housing = config_dir / "agencies" / "shire-housing.toml"
    if which == "A":
        edit(protocol, TENANCY_ROLES, TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS)
        edit(housing, RENAMED, HOUSING_NAME)
    else:
        edit(protocol, TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS, TENANCY_ROLES)
        edit(housing, HOUSING_NAME, RENAMED)
    protocol_version(config_dir, which)


async def test_reloads_under_load_with_two_workers_drop_nothing_and_never_mix(
    tmp_path: Path, population: Population, store_dir: Path, fleet: Fleet
) -> None:
    settings = await _settings(tmp_path, population, store_dir, fleet)
    config_dir = settings.config_dir
    config = config_dir / "gateway.toml"
    edit(config_dir / "agencies" / "shire-housing.toml", HOUSING_NAME, RENAMED)
    _write(config_dir, "A")
    server = await _serve(fleet, config, tmp_path / "serve.log", workers=2)
    assert len(list(_statuses(config))) == 2
    roy = demo_person_id(population.people[0].nhs_number)
    headers = {"Authorization": f"Bearer {practitioner_token(settings, 'sw-patel')}"}
    load = Load()

    async def client() -> None:
        # A new connection for every request: the kernel spreads them over both workers.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
            while not load.done:
                phase, expected = load.phase, load.expected
                try:
                    response = await http.post(
                        "/graphql", json={"query": TENANCIES % roy}, headers=headers
                    )
                except httpx.HTTPError as exc:
                    load.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                body = response.json() if response.status_code == 200 else response.text
                load.answered(phase, expected, response.status_code, body)

    async def settled(count: int) -> None:
        await load.until(lambda: load.in_phase(load.phase) >= count)

    async def reloads() -> None:
        for which in ("B", "A", "B"):
            await settled(40)
            load.phase, load.expected = load.phase + 1, None  # under way
            _write(config_dir, which)
            code, out, err = await _reload(config)
            assert code == 0, (out, err)
            assert "in force in every gateway process (2)" in out, out
            load.phase, load.expected = load.phase + 1, which
        await settled(40)
        await load.until(lambda: len(load.answers) >= REQUESTS)
        load.done = True

    await asyncio.gather(reloads(), *(client() for _ in range(CLIENTS)))

    assert load.failures == []
    assert len(load.answers) >= REQUESTS
    assert all(code == 200 for _, _, code, _ in load.answers), [
        body for _, _, code, body in load.answers if code != 200
    ][:3]
    seen = [(expected, _configuration_of(body)) for _, expected, _, body in load.answers]
    assert all(got in ("A", "B") for _, got in seen), [got for _, got in seen if len(got) > 1]
    # Once `reload` has said so, every process serves the new configuration.
    assert all(got == expected for expected, got in seen if expected is not None), seen
    # Each settled phase had its answers: A, B, A, B.
    assert [load.in_phase(phase) >= 40 for phase in (0, 2, 4, 6)] == [True] * 4
    statuses = list(_statuses(config))
    assert [status["generation"] for status in statuses] == [4, 4], json.dumps(statuses)
