"""The README's example query, exactly as written, answers from all four agencies."""

from __future__ import annotations

import json
import re
from typing import Any

from fame_demo.runner import README_QUERY, demo_person_id
from tests.support import REPO, World


def _readme_body() -> dict[str, Any]:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"curl -s http://127\.0\.0\.1:8000/graphql .*?-d '(.+?)'\n", readme, re.S)
    assert match, "the README has no curl example"
    body: dict[str, Any] = json.loads(match.group(1))
    return body


def _agencies_in(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        if "agency" in value:
            found.add(value["agency"]["name"])
        for inner in value.values():
            found |= _agencies_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _agencies_in(inner)
    return found


def _records_without_agency(value: Any, path: str = "") -> list[str]:
    missing = []
    if isinstance(value, list):
        for index, inner in enumerate(value):
            if isinstance(inner, dict) and "agency" not in inner:
                missing.append(f"{path}[{index}]")
            missing += _records_without_agency(inner, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, inner in value.items():
            missing += _records_without_agency(inner, f"{path}.{key}")
    return missing


def test_the_readme_shows_what_the_demo_prints() -> None:
    body = _readme_body()
    assert body["query"] == README_QUERY
    assert body["variables"]["id"] == demo_person_id("9995470128")


async def test_the_readme_query_returns_one_person_from_all_four_agencies(world: World) -> None:
    body = _readme_body()
    result = await world.query(body["query"], variables=body["variables"])
    assert "errors" not in result, result
    person = result["data"]["person"]
    assert person["demographics"]["familyName"] == world.population.people[0].family_name
    assert _agencies_in(person) == {
        "Shire Council Adult Social Care",
        "Shire Community Health NHS Trust",
        "Shire Council Housing Service",
        "Riverside Medical Practice",
    }
    assert _records_without_agency(person) == []
    assert person["health"]["medications"] and person["health"]["communityEpisodes"]
    assert person["socialCare"]["carePackages"] and person["housing"]["tenancies"]
