"""A broken agency nulls only its own part; a broken registration stops start-up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fame_demo.synthetic import Population
from gateway.core.errors import ConfigErrors
from tests.support import DEMO_CONFIG, World

QUERY = """{ person(id: "%s") {
    involvements { team agency { id } }
    health { medications { name } communityEpisodes { service } }
    socialCare { carePackages { service } } } }"""


async def test_a_failing_agency_nulls_only_its_part(world: World) -> None:
    healthy = await world.query(QUERY % world.person_id(0))
    world.trust.failure_status = 503
    result = await world.query(QUERY % world.person_id(0))
    (error,) = result["errors"]
    assert error["extensions"] == {"code": "AGENCY_ERROR", "agency": "shire-community-health"}
    assert error["path"] == ["person"]
    assert "503" in error["message"]
    person, before = result["data"]["person"], healthy["data"]["person"]
    # The trust's own list is unknown (null), not empty; everything else is as before.
    assert person["health"]["communityEpisodes"] is None
    assert person["health"]["medications"] == before["health"]["medications"]
    assert person["socialCare"] == before["socialCare"]
    assert person["involvements"] == [
        row for row in before["involvements"] if row["agency"]["id"] != "shire-community-health"
    ]
    assert result["extensions"]["sources"]["shire-community-health"]["status"] == "AGENCY_ERROR"


async def test_an_unreachable_agency_is_reported_as_unavailable(world: World) -> None:
    await world.trust.stop()
    result = await world.query(QUERY % world.person_id(0))
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "AGENCY_UNAVAILABLE"
    assert result["data"]["person"]["health"]["medications"]
    status = await world.query("{ agencies { id status } }")
    states = {a["id"]: a["status"] for a in status["data"]["agencies"]}
    assert states["shire-community-health"] == "unreachable"
    assert states["riverside-gp"] == "ok"


async def test_a_mapping_to_a_missing_column_stops_start_up(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    source = (DEMO_CONFIG / "agencies" / "shire-housing.toml").read_text()
    broken = re.sub(r'("tenancies\.tenure" = ")(\w+)\.\w+"', r'\1\2.tenure_kind"', source)
    assert broken != source
    world = World(tmp_path, population, store_dir)
    try:
        with pytest.raises(ConfigErrors) as caught:
            await world.start(agencies={"shire-housing": broken})
    finally:
        await world.stop()
    message = str(caught.value)
    assert "shire-housing.toml" in message
    assert 'items."tenancies.tenure"' in message
    assert "tenure_kind" in message and "Use one of:" in message


async def test_an_unreachable_source_does_not_stop_start_up(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    source = (DEMO_CONFIG / "agencies" / "shire-community-health.toml").read_text()
    moved = source.replace("http://127.0.0.1:8701", "http://127.0.0.1:1")
    world = World(tmp_path, population, store_dir)
    try:
        await world.start(agencies={"shire-community-health": moved})
        result = await world.query(QUERY % world.person_id(0))
        assert result["errors"][0]["extensions"]["code"] == "AGENCY_UNAVAILABLE"
        assert result["data"]["person"]["socialCare"]["carePackages"]
    finally:
        await world.stop()
