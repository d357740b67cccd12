"""An agency that fails in any of the ways real ones do costs only its own part of the answer.

The trust's API sits behind ``FaultyAgency``, a real server on 127.0.0.1 that
can refuse connections, hang, answer 500, send garbage, cut its body short or
send 50 MB. Each time the practitioner gets HTTP 200 well inside the deadline,
one error naming the agency and the right code, and every other agency's part
of the answer byte-identical to a healthy run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from fame_demo.synthetic import Population
from gateway.governance.state import break_glass_notifications, disclosures
from tests.fault_server import FaultyAgency
from tests.support import DEMO_CONFIG, DEMO_TRUST_URL, World, attach_sqlite_trace

TRUST = "shire-community-health"
DEADLINE = 5.0
QUERY = """{ person(id: "%s") {
    demographics { givenName familyName dateOfBirth agency { id } }
    involvements { team worker role agency { id } }
    alerts { category severity raisedOn agency { id } }
    health { medications { name } communityEpisodes { service clinician } }
    socialCare { carePackages { service } }
    housing { tenancies { tenure landlord } } } }"""


def trust_file(url: str, **keys: object) -> str:
    """The demo trust's agency file pointed at ``url``, with extra top-level keys."""
    text = (DEMO_CONFIG / "agencies" / f"{TRUST}.toml").read_text()
    extra = "".join(f"{key} = {orjson.dumps(value).decode()}\n" for key, value in keys.items())
    return text.replace(DEMO_TRUST_URL, url).replace(
        "timeout_seconds = 2.0\n", "timeout_seconds = 2.0\n" + extra
    )


def without_trust(data: Any) -> Any:
    """What a healthy answer becomes when the trust fails: its rows gone, its own lists null."""
    if isinstance(data, dict):
        return {
            key: None if key == "communityEpisodes" else without_trust(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            without_trust(row)
            for row in data
            if not (isinstance(row, dict) and row.get("agency", {}).get("id") == TRUST)
        ]
    return data


class Faulty:
    """A started world whose trust answers through a ``FaultyAgency``."""

    def __init__(self, world: World, agency: FaultyAgency) -> None:
        self.world = world
        self.agency = agency

    async def timed(self, **kwargs: Any) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        result = await self.world.query(QUERY % self.world.person_id(0), **kwargs)
        return result, time.monotonic() - started


async def start_faulty(
    tmp_path: Path, population: Population, store_dir: Path, **keys: object
) -> tuple[World, FaultyAgency]:
    world = World(tmp_path, population, store_dir)
    agency = FaultyAgency(await world.trust.start())
    await agency.start()
    try:
        await world.start(agencies={TRUST: trust_file(agency.url, **keys)})
    except BaseException:
        await world.stop()
        await agency.stop()
        raise
    return world, agency


@pytest.fixture
async def faulty(tmp_path: Path, population: Population, store_dir: Path) -> AsyncIterator[Faulty]:
    world, agency = await start_faulty(tmp_path, population, store_dir)
    try:
        yield Faulty(world, agency)
    finally:
        await agency.stop()
        await world.stop()


FAULTS = [
    ("refused", "AGENCY_UNAVAILABLE", "could not be reached"),
    ("hang", "AGENCY_TIMEOUT", "did not answer within 2"),
    ("error_500", "AGENCY_ERROR", "HTTP 500"),
    ("garbage", "AGENCY_ERROR", "not JSON"),
    ("truncated", "AGENCY_ERROR", "truncated"),
    ("huge", "AGENCY_ERROR", "larger than the 10485760-byte cap"),
]


@pytest.mark.parametrize(("fault", "code", "says"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_a_faulty_agency_costs_only_its_own_part(
    faulty: Faulty, fault: str, code: str, says: str
) -> None:
    healthy, _ = await faulty.timed()
    assert "errors" not in healthy
    assert healthy["data"]["person"]["health"]["communityEpisodes"], "the trust holds episodes"
    if fault == "refused":
        await faulty.agency.refuse()
    else:
        faulty.agency.mode = fault
    result, elapsed = await faulty.timed()
    assert elapsed < DEADLINE - 1, f"{fault} took {elapsed:.2f}s"
    (error,) = result["errors"]
    assert error["extensions"] == {"code": code, "agency": TRUST}
    assert says in error["message"]
    assert error["path"] == ["person"]
    assert orjson.dumps(result["data"]) == orjson.dumps(without_trust(healthy["data"]))
    sources = result["extensions"]["sources"]
    assert sources[TRUST]["status"] == code
    assert {agency: entry["status"] for agency, entry in sources.items() if agency != TRUST} == {
        agency: "ok" for agency in sources if agency != TRUST
    }


async def test_the_circuit_opens_short_circuits_and_closes_after_a_good_probe(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    world, agency = await start_faulty(
        tmp_path, population, store_dir, circuit_failures=3, circuit_open_seconds=2.0
    )
    try:
        faulty = Faulty(world, agency)
        agency.mode = "error_500"
        for _ in range(3):
            result, _ = await faulty.timed()
            assert result["errors"][0]["extensions"]["code"] == "AGENCY_ERROR"
        asked = agency.stats.requests
        result, _ = await faulty.timed()
        (error,) = result["errors"]
        assert error["extensions"] == {"code": "CIRCUIT_OPEN", "agency": TRUST}
        assert "tried again in" in error["message"]
        assert agency.stats.requests == asked, "an open circuit must not call the agency"
        assert result["extensions"]["sources"][TRUST]["status"] == "CIRCUIT_OPEN"
        assert result["data"]["person"]["health"]["communityEpisodes"] is None
        assert result["data"]["person"]["socialCare"]["carePackages"]

        listed = await world.query("{ agencies { id status circuit } }")
        states = {a["id"]: (a["status"], a["circuit"]) for a in listed["data"]["agencies"]}
        assert states[TRUST] == ("circuit_open", "open")
        assert states["riverside-gp"] == ("ok", "closed")
        assert world.client is not None
        metrics = (await world.client.get("/metrics")).text
        assert f'fame_agency_circuit_state{{agency="{TRUST}"}} 2.0' in metrics
        ready = await world.client.get("/readyz")
        assert ready.status_code == 200, "one agency down does not make the gateway unready"
        assert ready.json()["agencies"][TRUST]["circuit"] == "open"

        agency.mode = "ok"
        await asyncio.sleep(2.1)
        result, _ = await faulty.timed()
        assert "errors" not in result
        assert result["data"]["person"]["health"]["communityEpisodes"]
        assert agency.stats.requests == asked + 1, "one probe, which succeeded"
        listed = await world.query("{ agencies { id circuit } }")
        assert {a["id"]: a["circuit"] for a in listed["data"]["agencies"]}[TRUST] == "closed"
    finally:
        await agency.stop()
        await world.stop()


async def test_the_request_deadline_cuts_an_agency_short(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    world = World(tmp_path, population, store_dir)
    agency = FaultyAgency(await world.trust.start())
    await agency.start()
    try:
        await world.start(
            agencies={TRUST: trust_file(agency.url)},
            settings_edits={"deadline_seconds = 5.0": "deadline_seconds = 0.5"},
        )
        agency.mode = "hang"
        result, elapsed = await Faulty(world, agency).timed()
        assert elapsed < 1.5, f"the 0.5 s deadline did not hold the 2 s timeout ({elapsed:.2f}s)"
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "AGENCY_TIMEOUT"
        assert result["data"]["person"]["socialCare"]["carePackages"]
    finally:
        await agency.stop()
        await world.stop()


async def _answers(world: World, count: int) -> list[dict[str, Any]]:
    person = world.person_id(0)
    return await asyncio.gather(*(world.query(QUERY % person) for _ in range(count)))


async def test_a_hanging_agency_does_not_slow_the_others(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    # An ordering, not a timing: in every answer, each other agency's call ended before
    # the gateway gave up on the hung one (its 2 s timeout). Had the others waited on it
    # (calls sent in turn, a shared pool or slot, a blocked loop) they would end after.
    trace, detach = attach_sqlite_trace(store_dir)
    world, agency = await start_faulty(
        tmp_path, population, store_dir, max_concurrent_calls=4, circuit_failures=1000
    )
    try:
        others = ("riverside-gp", "shire-adult-social-care", "shire-housing")
        await _answers(world, 4)  # warm connections and caches of parsed documents
        agency.mode = "hang"
        asked = agency.stats.requests
        hanging = await _answers(world, 16)
        for result in hanging:
            sources = result["extensions"]["sources"]
            assert sources[TRUST]["status"] == "AGENCY_TIMEOUT"
            assert sources[TRUST]["ms"] >= 1900, sources[TRUST]
            assert result["data"]["person"]["socialCare"]["carePackages"]
            for other in others:
                assert sources[other]["status"] == "ok"
                assert sources[other]["ms"] < sources[TRUST]["ms"], (other, sources)
        # Four calls hang until their timeout; the rest wait for a slot and give up
        # ("busy"), bar the few that catch a slot freed as they do. Without the limit
        # all 16 would have gone to the hung agency.
        assert agency.stats.requests - asked <= 2 * 4, agency.stats
        assert trace.selects("riverside-gp"), "the SQL sources were really asked"
    finally:
        await agency.stop()
        await world.stop()
        detach()


async def test_a_break_glass_notice_goes_only_to_agencies_that_delivered(faulty: Faulty) -> None:
    world = faulty.world
    roy = world.person_id(0)
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") { id } }' % (roy, "Found collapsed in the waiting room, no carer present"),
        as_="dr-lewis",
    )
    grant_id = granted["data"]["breakGlass"]["id"]
    faulty.agency.mode = "error_500"
    result = await world.query(
        '{ person(id: "%s") { health { medications { name } communityEpisodes { service } } '
        "socialCare { carePackages { service } } } }" % roy,
        as_="dr-lewis",
    )
    (error,) = result["errors"]
    assert error["extensions"]["agency"] == TRUST
    assert result["data"]["person"]["health"]["medications"]
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        notified = {
            row[0]
            for row in await conn.execute(
                select(break_glass_notifications.c.agency).where(
                    break_glass_notifications.c.grant_id == grant_id
                )
            )
        }
        (audited,) = (
            await conn.execute(
                select(disclosures.c.agencies).where(
                    disclosures.c.kind == "disclosure", disclosures.c.break_glass == grant_id
                )
            )
        ).all()
    # The trust's items were permitted under the grant, but its call failed: nothing of
    # it reached the requester, so the audit and the notices both leave it out.
    trust = orjson.loads(audited[0])[TRUST]
    assert trust["disclosed"] == [] and trust["not_delivered"]
    assert notified == {"riverside-gp", "shire-adult-social-care"}
