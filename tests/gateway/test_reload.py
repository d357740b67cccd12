"""Reload without restart, in one gateway process: a broken file keeps the configuration in
force and says what is wrong; a good one takes effect whole; what a reload replaces is
closed only after the requests begun under it have finished."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fame_demo.synthetic import Population
from tests.gateway.reload_files import (
    TENANCY_ROLES,
    TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS,
    edit,
    protocol_version,
    without_agency,
)
from tests.support import DEMO_CONFIG, World

TENANCIES = (
    '{ person(id: "%s") { housing { tenancies { address tenure } } } '
    "sharingProtocol { version } agencies { id name } }"
)
EPISODES = '{ person(id: "%s") { health { communityEpisodes { service agency { id } } } } }'
HOUSING_NAME = 'name = "Shire Council Housing Service"'


def _config(world: World) -> Path:
    assert world.config_file is not None
    return world.config_file.parent


async def _reload(world: World) -> Any:
    assert world.gateway is not None
    return await world.gateway.reload()


def _content(answer: dict[str, Any]) -> tuple[Any, Any]:
    """What an answer says, without its timings."""
    return answer["data"], answer["extensions"].get("withheld")


def _housing_name(answer: dict[str, Any]) -> str:
    names = {agency["id"]: agency["name"] for agency in answer["data"]["agencies"]}
    return str(names["shire-housing"])


async def test_a_protocol_change_takes_effect_and_unchanged_agencies_keep_their_parts(
    world: World,
) -> None:
    assert world.gateway is not None
    config, roy = _config(world), world.person_id(0)
    protocol = config / "sharing-protocol.toml"
    edit(protocol, TENANCY_ROLES, TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS)
    protocol_version(config, "A")

    first = await _reload(world)
    assert first.ok and first.changed and first.generation == 2, first
    assert (first.added, first.removed, first.replaced) == ((), (), ())
    answer = await world.query(TENANCIES % roy)
    assert answer["data"]["sharingProtocol"]["version"] == "A"
    assert answer["data"]["person"]["housing"]["tenancies"] is None
    reasons = {
        entry["reason"]
        for entry in answer["extensions"]["withheld"]
        if entry["item"].startswith("tenancies.")
    }
    assert reasons == {"ROLE_NOT_PERMITTED"}

    connectors = dict(world.gateway.connectors)
    guards = dict(world.gateway.guards)
    edit(protocol, TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS, TENANCY_ROLES)
    protocol_version(config, "B")
    edit(config / "agencies" / "shire-housing.toml", HOUSING_NAME, HOUSING_NAME[:-1] + ' (B)"')
    second = await _reload(world)
    assert second.ok and second.changed and second.generation == 3, second
    assert second.replaced == ("shire-housing",)
    answer = await world.query(TENANCIES % roy)
    assert answer["data"]["sharingProtocol"]["version"] == "B"
    assert _housing_name(answer) == "Shire Council Housing Service (B)"
    tenancies = answer["data"]["person"]["housing"]["tenancies"]
    assert tenancies and all(tenancy["address"] for tenancy in tenancies)
    # Unchanged agencies keep their connection pools and circuits; the changed one is new.
    for agency_id, connector in world.gateway.connectors.items():
        same = agency_id != "shire-housing"
        assert (connector is connectors[agency_id]) is same, agency_id
        assert (world.gateway.guards[agency_id] is guards[agency_id]) is same, agency_id


async def test_broken_files_keep_the_configuration_in_force_and_say_what_is_wrong(
    world: World,
) -> None:
    assert world.gateway is not None and world.client is not None
    config, roy = _config(world), world.person_id(0)
    before = await world.query(TENANCIES % roy)
    housing = config / "agencies" / "shire-housing.toml"
    oakfield = config / "agencies" / "oakfield-gp.toml"
    edit(housing, "timeout_seconds = 2.0", 'timeout_seconds = "soon"')
    edit(oakfield, "timeout_seconds = 2.0", "timeout_seconds = 2.0\ncolour = 3")
    protocol_version(config, "never served")

    refused = await _reload(world)
    assert not refused.ok and not refused.changed and refused.generation == 1
    # Both files' problems at once, each with its file and key.
    assert len(refused.problems) == 2, refused.problems
    assert any(
        problem.startswith(f"{housing}: timeout_seconds: ") for problem in refused.problems
    ), refused.problems
    assert any(problem.startswith(f"{oakfield}: colour: ") for problem in refused.problems)
    # The old configuration answers exactly as before.
    assert _content(await world.query(TENANCIES % roy)) == _content(before)
    ready = (await world.client.get("/readyz")).json()["configuration"]
    assert ready["generation"] == 1 and ready["attempts"] == 1
    assert ready["lastReload"]["ok"] is False
    assert ready["lastReload"]["problems"] == list(refused.problems)
    metrics = (await world.client.get("/metrics")).text
    assert "fame_config_last_reload_ok 0.0" in metrics
    assert 'fame_config_reloads_total{outcome="refused"} 1.0' in metrics

    # Agencies mended, the protocol broken: the protocol's problem is named.
    edit(housing, 'timeout_seconds = "soon"', "timeout_seconds = 2.0")
    edit(oakfield, "timeout_seconds = 2.0\ncolour = 3", "timeout_seconds = 2.0")
    protocol = config / "sharing-protocol.toml"
    edit(protocol, TENANCY_ROLES, TENANCY_ROLES.replace('"housing_officer"', '"astronaut"'))
    refused = await _reload(world)
    assert not refused.ok and len(refused.problems) == 1
    assert refused.problems[0].startswith(f"{protocol}: ") and "astronaut" in refused.problems[0]
    assert _content(await world.query(TENANCIES % roy)) == _content(before)

    edit(protocol, TENANCY_ROLES.replace('"housing_officer"', '"astronaut"'), TENANCY_ROLES)
    taken = await _reload(world)
    assert taken.ok and taken.changed and taken.generation == 2
    assert (await world.query(TENANCIES % roy))["data"]["sharingProtocol"]["version"] == (
        "never served"
    )
    metrics = (await world.client.get("/metrics")).text
    assert "fame_config_last_reload_ok 1.0" in metrics and "fame_config_generation 2.0" in metrics


async def test_an_agency_and_its_issuer_removed_then_registered_again(world: World) -> None:
    assert world.gateway is not None
    config, roy = _config(world), world.person_id(0)
    saved = {path: path.read_text() for path in config.rglob("*.toml")}
    assert (await world.post(TENANCIES % roy, as_="ho-evans")).status_code == 200

    without_agency(config, "shire-housing", ("housing", "benefits"))
    removed = await _reload(world)
    assert removed.ok and removed.removed == ("shire-housing",), removed
    # The housing officer's issuer is gone with the agency: the token is refused.
    refused = await world.post(TENANCIES % roy, as_="ho-evans")
    assert refused.status_code == 401 and "not registered" in refused.text
    answer = await world.query(TENANCIES % roy)
    assert "shire-housing" not in {agency["id"] for agency in answer["data"]["agencies"]}
    assert "shire-housing" not in answer["extensions"]["sources"]

    for path, text in saved.items():
        path.write_text(text)
    added = await _reload(world)
    assert added.ok and added.added == ("shire-housing",), added
    answer = await world.query(TENANCIES % roy, as_="ho-evans")
    assert answer["extensions"]["sources"]["shire-housing"]["status"] == "ok"
    assert answer["data"]["person"]["housing"]["tenancies"]


async def test_an_agency_whose_secret_is_not_set_here_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAME_TEST_RELOAD_DSN", raising=False)
    assert world.gateway is not None
    before = world.gateway.connectors["riverside-gp"]
    riverside = _config(world) / "agencies" / "riverside-gp.toml"
    text = riverside.read_text()
    riverside.write_text(
        re.sub(r'(?m)^url = ".*"$', 'url_env = "FAME_TEST_RELOAD_DSN"', text, count=1)
    )
    refused = await _reload(world)
    assert not refused.ok and refused.generation == 1
    assert refused.problems == (
        f"{riverside}: source.url_env: names the environment variable FAME_TEST_RELOAD_DSN, "
        "which is not set. Set FAME_TEST_RELOAD_DSN to the database URL (e.g. export "
        "FAME_TEST_RELOAD_DSN='postgresql+asyncpg://reader:password@db.example/records') where "
        "the gateway runs `serve` or `agency check`; commands that do not connect to the agency "
        "run without it.",
    )
    # The agency keeps serving as it was, with the connector it had.
    assert world.gateway is not None
    assert world.gateway.connectors["riverside-gp"] is before
    answer = await world.query(TENANCIES % world.person_id(0))
    assert "riverside-gp" in {agency["id"] for agency in answer["data"]["agencies"]}


async def test_unchanged_files_and_restart_only_settings(world: World) -> None:
    assert world.gateway is not None
    config = _config(world)
    unchanged = await _reload(world)
    assert unchanged.ok and not unchanged.changed and unchanged.generation == 1

    edit(config / "gateway.toml", "port = 8000", "port = 8123")
    protocol_version(config, "C")
    taken = await _reload(world)
    assert taken.ok and taken.changed and taken.restart_needed == ("listen",), taken
    assert world.gateway.settings.port == 8000  # the socket stays where it is
    assert world.gateway.settings.protocol.version == "C"


async def test_cached_answers_are_not_served_under_a_new_protocol(world: World) -> None:
    config, roy = _config(world), world.person_id(0)
    edit(
        config / "agencies" / "shire-housing.toml",
        "timeout_seconds = 2.0",
        "timeout_seconds = 2.0\ncache_seconds = 600",
    )
    assert (await _reload(world)).ok

    def cached(answer: dict[str, Any]) -> int:
        return int(answer["extensions"]["sources"]["shire-housing"]["cached"])

    assert cached(await world.query(TENANCIES % roy)) == 0
    assert cached(await world.query(TENANCIES % roy)) == 1
    protocol_version(config, "D")
    assert (await _reload(world)).ok
    after = await world.query(TENANCIES % roy)
    assert cached(after) == 0 and after["data"]["sharingProtocol"]["version"] == "D"
    assert cached(await world.query(TENANCIES % roy)) == 1


class Gate:
    """A slow agency API: holds every request until released, then passes it to the
    trust's real API."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        return self.url

    async def _handle(self, request: web.Request) -> web.Response:
        self.arrived.set()
        await self.release.wait()
        assert self._session is not None
        async with self._session.get(self.upstream + request.path_qs) as upstream:
            return web.Response(
                body=await upstream.read(), status=upstream.status, content_type="application/json"
            )

    async def stop(self) -> None:
        self.release.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def gated(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, Gate]]:
    """A world whose community health trust answers only when the test releases it."""
    running = World(tmp_path, population, store_dir)
    gate = Gate(await running.trust.start())
    await gate.start()
    trust_file = DEMO_CONFIG / "agencies" / "shire-community-health.toml"
    text = trust_file.read_text().replace("http://127.0.0.1:8701", gate.url)
    # Generous limits: the call is held by the gate, not by a slow machine.
    text = text.replace("timeout_seconds = 2.0", "timeout_seconds = 60.0")
    try:
        gate.release.set()  # the start-up check passes through
        await running.start(
            agencies={"shire-community-health": text},
            settings_edits={"deadline_seconds = 5.0": "deadline_seconds = 90.0"},
        )
        gate.release.clear()
        yield running, gate
    finally:
        await gate.stop()
        await running.stop()


async def test_requests_in_flight_to_a_removed_agency_finish(
    gated: tuple[World, Gate],
) -> None:
    world, gate = gated
    assert world.gateway is not None
    roy = world.person_id(0)
    gate.arrived.clear()
    in_flight = asyncio.ensure_future(world.query(EPISODES % roy))
    await gate.arrived.wait()  # the trust has been asked, and holds the answer

    trust = world.gateway.connectors["shire-community-health"]
    without_agency(_config(world), "shire-community-health", ("health.mental",))
    outcome = await _reload(world)
    assert outcome.ok and outcome.removed == ("shire-community-health",), outcome
    # New requests run under the new configuration while the old one's is still held.
    now = await world.query(EPISODES % roy)
    assert "shire-community-health" not in now["extensions"]["sources"]
    assert not in_flight.done()
    assert _open(trust)  # the request begun under the old configuration still holds it

    gate.release.set()
    answer = await in_flight
    # Begun under the old configuration, it finished under it: the trust's connector was
    # still open, and its episodes arrived.
    assert answer["extensions"]["sources"]["shire-community-health"]["status"] == "ok"
    episodes = answer["data"]["person"]["health"]["communityEpisodes"]
    assert episodes and {e["agency"]["id"] for e in episodes} == {"shire-community-health"}
    # Once that request has finished, what only the old configuration held is closed.
    for _ in range(200):
        if not _open(trust):
            break
        await asyncio.sleep(0.05)
    assert not _open(trust)


def _open(connector: object) -> bool:
    # The HTTP connector's session exists from open() until close().
    return getattr(connector, "_session", None) is not None
