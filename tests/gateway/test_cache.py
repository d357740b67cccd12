"""The answer cache: fewer agency calls, never a leak past consent or between requesters."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.base import DateRange
from fame_demo.synthetic import Population
from gateway.config.tokens import mint_token
from gateway.decide.requester import Requester
from gateway.pipeline.cache import AnswerCache, CacheKey, requester_key
from tests.support import DEMO_CONFIG, SqlTrace, World, traced_world

ROY = 0
VIEW = """{ person(id: "%s") {
    involvements { team worker agency { id } }
    alerts { category severity agency { id } }
    health { medications { name } communityEpisodes { service } }
    socialCare { carePackages { service } }
    housing { tenancies { tenure } } } }"""
CONDITIONS = '{ person(id: "%s") { health { conditions { name agency { id } } } } }'
MEDICATIONS = '{ person(id: "%s") { health { medications { name agency { id } } } } }'


def caching(seconds: float) -> dict[str, str]:
    """Every demo agency file, allowing its answers to be cached for ``seconds``."""
    files = {}
    for file in sorted((DEMO_CONFIG / "agencies").glob("*.toml")):
        text = file.read_text()
        assert "timeout_seconds = 2.0\n" in text
        files[file.stem] = text.replace(
            "timeout_seconds = 2.0\n", f"timeout_seconds = 2.0\ncache_seconds = {seconds}\n"
        )
    return files


@pytest.fixture
async def cached(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, SqlTrace]]:
    async with traced_world(tmp_path, population, store_dir, agencies=caching(60)) as running:
        yield running


def calls(world: World, trace: SqlTrace) -> int:
    """Calls the agencies themselves received: SQL SELECTs and trust API requests."""
    selects = sum(
        len(trace.selects(agency))
        for agency in ("riverside-gp", "shire-adult-social-care", "shire-housing")
    )
    return selects + len(world.trust.calls)


def colleague_token(world: World) -> str:
    """A token for another social worker of Patel's own team, with the same roles."""
    assert world.settings is not None
    return mint_token(
        world.settings,
        subject="sw-okoye",
        agency="shire-adult-social-care",
        team="Older People's Team (North)",
        roles=("social_worker",),
        name="Chidi Okoye",
    )


def withheld(result: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (entry["agency"], entry["item"]): entry["reason"]
        for entry in result.get("extensions", {}).get("withheld", [])
    }


async def test_a_warm_cache_answers_without_asking_the_agencies(
    cached: tuple[World, SqlTrace],
) -> None:
    world, trace = cached
    roy = world.person_id(ROY)
    cold = await world.query(VIEW % roy)
    assert calls(world, trace) >= 4
    asked = calls(world, trace)
    warm = await world.query(VIEW % roy)
    assert calls(world, trace) == asked, "no agency was asked again"
    assert orjson.dumps(warm["data"]) == orjson.dumps(cold["data"])
    for agency, source in warm["extensions"]["sources"].items():
        assert (source["calls"], source["cached"], source["status"]) == (0, 1, "ok"), agency
    assert world.client is not None
    metrics = (await world.client.get("/metrics")).text
    assert 'fame_cache_hits_total{agency="shire-community-health"} 1.0' in metrics


async def test_another_requester_never_gets_the_first_requesters_entries(
    cached: tuple[World, SqlTrace],
) -> None:
    world, trace = cached
    roy = world.person_id(ROY)
    await world.query(VIEW % roy)
    asked = calls(world, trace)
    colleague = await world.query(VIEW % roy, token=colleague_token(world))
    assert calls(world, trace) > asked, "a colleague with the same rights still misses"
    assert all(s["cached"] == 0 for s in colleague["extensions"]["sources"].values())
    asked = calls(world, trace)
    gp = await world.query(VIEW % roy, as_="dr-okafor")
    assert calls(world, trace) > asked
    assert all(s["cached"] == 0 for s in gp["extensions"]["sources"].values())


async def test_a_withdrawn_consent_is_honoured_with_a_warm_cache(
    cached: tuple[World, SqlTrace],
) -> None:
    world, trace = cached
    roy = world.person_id(ROY)
    recorded = await world.query(
        """mutation { recordConsent(input: {personId: "%s", category: "health.physical",
        recipientAgency: "shire-adult-social-care", decision: PERMIT,
        reference: "Signed form SF-2291"}) { id } }"""
        % roy
    )
    consent_id = recorded["data"]["recordConsent"]["id"]
    await world.query(CONDITIONS % roy)
    asked = calls(world, trace)
    warm = await world.query(CONDITIONS % roy)
    assert calls(world, trace) == asked, "the cache is warm"
    assert all(c["name"] for c in warm["data"]["person"]["health"]["conditions"])
    await world.query('mutation { withdrawConsent(id: "%s") { withdrawnAt } }' % consent_id)
    after = await world.query(CONDITIONS % roy)
    assert after["data"]["person"]["health"]["conditions"] is None
    assert withheld(after)[("riverside-gp", "conditions.name")] == "NO_CONSENT"


async def test_an_objection_is_honoured_with_a_warm_cache(
    cached: tuple[World, SqlTrace],
) -> None:
    world, _ = cached
    roy = world.person_id(ROY)
    for _ in range(2):
        shown = await world.query(MEDICATIONS % roy)
        assert shown["data"]["person"]["health"]["medications"]
    await world.query(
        """mutation { recordConsent(input: {personId: "%s", item: "medications.*",
        recipientRole: "social_worker", decision: DENY,
        reference: "Stated by phone, call log 2026-06-01"}) { id } }"""
        % roy
    )
    objected = await world.query(MEDICATIONS % roy)
    assert objected["data"]["person"]["health"]["medications"] is None
    assert withheld(objected)[("riverside-gp", "medications.name")] == "OBJECTION"


async def test_an_expired_entry_is_never_served_even_when_the_agency_is_down(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    async with traced_world(tmp_path, population, store_dir, agencies=caching(0.3)) as (
        world,
        _,
    ):
        roy = world.person_id(ROY)
        fresh = await world.query(VIEW % roy)
        assert fresh["data"]["person"]["health"]["communityEpisodes"]
        await asyncio.sleep(0.4)
        world.trust.failure_status = 503
        result = await world.query(VIEW % roy)
        assert result["errors"][0]["extensions"]["code"] == "AGENCY_ERROR"
        assert result["data"]["person"]["health"]["communityEpisodes"] is None


async def test_the_cache_is_off_unless_an_agency_allows_it(world: World) -> None:
    roy = world.person_id(ROY)
    await world.query(VIEW % roy)
    asked = len(world.trust.calls)
    again = await world.query(VIEW % roy)
    assert len(world.trust.calls) == asked + 1
    assert all(s["cached"] == 0 for s in again["extensions"]["sources"].values())
    listed = await world.query("{ agencies { id cacheSeconds } }")
    assert {a["cacheSeconds"] for a in listed["data"]["agencies"]} == {0.0}


class Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


PATEL = Requester("sw-patel", "council", "north", frozenset({"social_worker"}), "direct_care")


def key(agency: str = "gp", person: str = "p1", requester: Requester = PATEL) -> CacheKey:
    return CacheKey(
        requester_key(requester, None),
        person,
        agency,
        f"{agency}-{person}",
        frozenset({"medications.name"}),
        (("timeline", DateRange(dt.date(2026, 1, 1), None)),),
    )


def test_each_agency_keeps_entries_for_its_own_time() -> None:
    timer = Timer()
    cache = AnswerCache({"gp": 10, "trust": 2, "housing": 0}, timer=timer)
    for agency in ("gp", "trust", "housing"):
        cache.put(key(agency), {"medications": [{"name": agency}]})
    assert not cache.enabled_for("housing") and cache.get(key("housing")) is None
    timer.now = 2.5
    assert cache.get(key("trust")) is None
    assert cache.get(key("gp")) == {"medications": [{"name": "gp"}]}
    timer.now = 10.5
    assert cache.get(key("gp")) is None


def test_a_consent_change_makes_a_persons_entries_unusable_at_once() -> None:
    cache = AnswerCache({"gp": 60}, timer=Timer())
    cache.put(key(person="p1"), {"medications": []})
    cache.put(key(person="p2"), {"medications": []})
    cache.forget_person("p1")
    assert cache.get(key(person="p1")) is None
    assert cache.get(key(person="p2")) == {"medications": []}
    cache.put(key(person="p1"), {"medications": [{"name": "new"}]})
    assert cache.get(key(person="p1")) == {"medications": [{"name": "new"}]}


def test_keys_differ_by_requester_purpose_and_grant() -> None:
    cache = AnswerCache({"gp": 60}, timer=Timer())
    cache.put(key(), {"medications": []})
    other_purpose = Requester(
        "sw-patel", "council", "north", frozenset({"social_worker"}), "safeguarding"
    )
    other_person = Requester(
        "sw-okoye", "council", "north", frozenset({"social_worker"}), "direct_care"
    )
    assert cache.get(key(requester=other_purpose)) is None
    assert cache.get(key(requester=other_person)) is None
    assert requester_key(PATEL, "grant-1") != requester_key(PATEL, None)


def test_the_cache_holds_at_most_its_size() -> None:
    cache = AnswerCache({"gp": 60}, max_entries=3, timer=Timer())
    for person in range(10):
        cache.put(key(person=f"p{person}"), {})
    assert len(cache) == 3
