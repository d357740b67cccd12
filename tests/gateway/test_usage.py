"""Usage figures from the disclosure audit: per requesting agency and role, and each
source agency's availability, checked against the requests the test makes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from typing import Any

from gateway.audit.usage import Availability, UsageRow, parse_when, summarise, usage, usage_table
from gateway.config.tokens import mint_token
from tests.support import REPO, World

INVOLVEMENTS = '{ person(id: "%s") { involvements { team } } }'
RICH = """{ person(id: "%s") { involvements { team } alerts { summary }
  health { medications { name } conditions { code } communityEpisodes { service } }
  socialCare { carePackages { service } } housing { tenancies { tenure } } } }"""
REASON = "Found collapsed at the surgery door, unresponsive"


def _withheld(result: dict[str, Any]) -> Counter[str]:
    """Withheld items by reason, once per agency and item (as the audit keeps them)."""
    unique = {
        (entry["agency"], entry["item"]): entry["reason"]
        for entry in result["extensions"].get("withheld", [])
    }
    return Counter(unique.values())


def _sources_ok(result: dict[str, Any]) -> int:
    """Agencies that answered: for an involvements-only query, one disclosed item each."""
    return sum(1 for s in result["extensions"]["sources"].values() if s["status"] == "ok")


def _rows(rows: list[UsageRow]) -> dict[tuple[str, str], UsageRow]:
    return {(row.agency, row.role): row for row in rows}


async def test_usage_counts_queries_people_and_items_per_agency_and_role(world: World) -> None:
    assert world.gateway is not None
    roy, second, unrelated = world.person_id(0), world.person_id(1), world.person_id(2)
    patel = [
        await world.query(INVOLVEMENTS % roy),
        await world.query(INVOLVEMENTS % roy),
        await world.query(INVOLVEMENTS % second),
    ]
    # sw-patel has no relationship with person 2: the answer is as for an unknown id, and
    # the audit holds what was asked for and withheld.
    refused = await world.query(INVOLVEMENTS % unrelated)
    await world.query("{ me { practitioner } }")  # a query that discloses nothing
    hughes = [
        await world.query(INVOLVEMENTS % roy, as_="dn-hughes"),
        await world.query(RICH % roy, as_="dn-hughes"),
    ]
    lewis = await world.query(RICH % roy, as_="dr-lewis")
    assert all("errors" not in r for r in [*patel, *hughes])
    for answer in (refused, lewis):
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["NOT_FOUND"]
        assert answer["extensions"]["sources"] == {} and not _withheld(answer)

    rows, _ = await usage(world.gateway.state_engine)
    by_key = _rows(rows)
    assert set(by_key) == {
        ("shire-adult-social-care", "social_worker"),
        ("shire-community-health", "nurse"),
        ("oakfield-gp", "gp"),
    }
    social = by_key[("shire-adult-social-care", "social_worker")]
    assert social.queries == 5
    assert social.people_viewed == 2  # Roy and person 1; person 2 showed nothing
    assert social.items_disclosed == sum(_sources_ok(r) for r in patel) == 12
    assert social.items_withheld_by_reason == {"NO_RELATIONSHIP": 2}
    assert social.items_withheld == 2
    assert social.break_glass == 0

    nurse = by_key[("shire-community-health", "nurse")]
    assert nurse.queries == 2 and nurse.people_viewed == 1
    assert dict(nurse.items_withheld_by_reason) == dict(_withheld(hughes[0]) + _withheld(hughes[1]))
    assert nurse.items_withheld_by_reason == {
        "PURPOSE_NOT_PERMITTED": 1,
        "ROLE_NOT_PERMITTED": 1,
        "SEALED": 1,
    }
    assert nurse.items_disclosed > _sources_ok(hughes[0])

    gp = by_key[("oakfield-gp", "gp")]
    assert gp.queries == 1
    assert gp.people_viewed == 0 and gp.items_disclosed == 0
    assert gp.items_withheld_by_reason["NO_RELATIONSHIP"] >= 4


async def test_a_request_with_several_roles_counts_under_each(world: World) -> None:
    assert world.gateway is not None and world.settings is not None
    token = mint_token(
        world.settings,
        subject="ot-jones",
        agency="shire-community-health",
        team="District Nursing (Shirebridge)",
        roles=("nurse", "occupational_therapist"),
    )
    result = await world.query(INVOLVEMENTS % world.person_id(0), token=token)
    assert "errors" not in result
    rows, _ = await usage(world.gateway.state_engine)
    by_key = _rows(rows)
    assert set(by_key) == {
        ("shire-community-health", "nurse"),
        ("shire-community-health", "occupational_therapist"),
    }
    for row in by_key.values():
        assert (row.queries, row.people_viewed) == (1, 1)
        assert row.items_disclosed == _sources_ok(result) == 4


async def test_break_glass_grants_are_counted_once_each(world: World) -> None:
    assert world.gateway is not None
    roy = world.person_id(0)
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") { id } }' % (roy, REASON),
        as_="dr-lewis",
    )
    grant = granted["data"]["breakGlass"]["id"]
    shown = [await world.query(INVOLVEMENTS % roy, as_="dr-lewis") for _ in range(2)]
    for result in shown:
        assert [g["grant"] for g in result["extensions"]["breakGlass"]] == [grant]
        assert [g["reasonCategory"] for g in result["extensions"]["breakGlass"]] == [
            "cannot_consent"
        ]
    rows, _ = await usage(world.gateway.state_engine)
    (gp,) = rows
    assert (gp.agency, gp.role) == ("oakfield-gp", "gp")
    assert gp.queries == 3  # the grant itself and the two queries
    assert gp.break_glass == 1
    assert gp.people_viewed == 1
    assert gp.items_disclosed == sum(_sources_ok(r) for r in shown) == 8


async def test_availability_per_source_agency(world: World) -> None:
    assert world.gateway is not None
    roy = world.person_id(0)
    for _ in range(3):
        assert "errors" not in await world.query(INVOLVEMENTS % roy)
    _, healthy = await usage(world.gateway.state_engine)
    assert {a.agency: (a.calls, a.ok, a.availability) for a in healthy} == {
        agency: (3, 3, 1.0)
        for agency in (
            "riverside-gp",
            "shire-adult-social-care",
            "shire-community-health",
            "shire-housing",
        )
    }
    world.trust.failure_status = 503
    failed = await world.query(INVOLVEMENTS % roy)
    assert failed["extensions"]["sources"]["shire-community-health"]["status"] == "AGENCY_ERROR"
    _, after = await usage(world.gateway.state_engine)
    states = {a.agency: a for a in after}
    trust = states["shire-community-health"]
    assert (trust.calls, trust.ok, dict(trust.failures)) == (4, 3, {"AGENCY_ERROR": 1})
    assert trust.availability == 0.75
    assert states["riverside-gp"] == Availability("riverside-gp", 4, 4, {})
    assert states["riverside-gp"].availability == 1.0
    # The failed agency's items were not delivered, so they are not counted as disclosed.
    rows, _ = await usage(world.gateway.state_engine)
    (social,) = rows
    assert social.items_disclosed == 3 * 4 + 3


async def test_the_period_is_since_inclusive_until_exclusive(world: World) -> None:
    assert world.gateway is not None
    before = dt.datetime.now(dt.UTC)
    await world.query(INVOLVEMENTS % world.person_id(0))
    after = dt.datetime.now(dt.UTC)
    engine = world.gateway.state_engine
    assert (await usage(engine, since=after + dt.timedelta(seconds=1))) == ([], [])
    assert (await usage(engine, until=before)) == ([], [])
    (row,), availability = await usage(engine, since=before, until=after)
    assert row.queries == 1 and len(availability) == 4
    # A naive datetime is taken as UTC.
    (naive,), _ = await usage(engine, since=before.replace(tzinfo=None))
    assert naive == row


def test_timestamps_with_another_offset_are_compared_as_instants() -> None:
    noon_utc = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    records = [
        {
            "kind": "intent",
            # 12:30 in UTC, written as 13:30 at +01:00: inside [12:00, 13:00) UTC.
            "at": "2026-03-01T13:30:00+01:00",
            "request_id": "r1",
            "requester_agency": "shire-housing",
            "roles": "housing_officer",
            "person_id": None,
            "agencies": "{}",
            "break_glass": None,
        },
        {
            "kind": "disclosure",
            "at": "2026-03-01T13:30:00.5+01:00",
            "request_id": "r1",
            "requester_agency": "shire-housing",
            "roles": "housing_officer",
            "person_id": "p1",
            "agencies": json.dumps(
                {
                    "riverside-gp": {
                        "disclosed": {"involvement.team": {"rule": "ISP-2.1", "basis": "implied"}},
                        "withheld": {"medications.name": {"reason": "ROLE_NOT_PERMITTED"}},
                        "outcome": "ok",
                    },
                    "shire-community-health": {
                        "disclosed": {},
                        "not_delivered": {"involvement.team": {"rule": "ISP-2.1"}},
                        "withheld": {},
                        "outcome": "AGENCY_UNAVAILABLE",
                    },
                    "oakfield-gp": {"disclosed": {}, "withheld": {}, "outcome": "not asked"},
                }
            ),
            "break_glass": None,
        },
    ]
    rows, availability = summarise(records, noon_utc, noon_utc + dt.timedelta(hours=1))
    assert rows == [
        UsageRow("shire-housing", "housing_officer", 1, 1, 1, {"ROLE_NOT_PERMITTED": 1}, 0)
    ]
    assert availability == [
        Availability("riverside-gp", 1, 1, {}),
        Availability("shire-community-health", 1, 0, {"AGENCY_UNAVAILABLE": 1}),
    ]
    assert summarise(records, noon_utc + dt.timedelta(hours=1)) == ([], [])


async def test_the_report_table(world: World) -> None:
    assert world.gateway is not None
    await world.query(INVOLVEMENTS % world.person_id(2))
    await world.query(INVOLVEMENTS % world.person_id(0), as_="dn-hughes")
    rows, availability = await usage(world.gateway.state_engine)
    table = usage_table(rows, availability)
    lines = table.splitlines()
    assert "## Usage by requesting agency and role" in lines
    assert "## Source agency availability" in lines
    header = next(line for line in lines if line.startswith("| agency"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "agency",
        "role",
        "queries",
        "people viewed",
        "items disclosed",
        "items withheld",
        "withheld by reason",
        "break-glass",
    ]
    social = next(line for line in lines if "| social_worker" in line)
    assert [cell.strip() for cell in social.strip("|").split("|")] == [
        "shire-adult-social-care",
        "social_worker",
        "1",
        "0",
        "0",
        "2",
        "NO_RELATIONSHIP 2",
        "0",
    ]
    assert any(line.startswith("| shire-housing ") and "100.0%" in line for line in lines)
    # Every row of a table has as many cells as its header, and the rule is valid Markdown.
    for line in lines:
        if line.startswith("|"):
            assert line.endswith("|")
    rules = [line for line in lines if line.startswith("|-")]
    assert len(rules) == 2 and all(set(rule) <= set("|-:") for rule in rules)
    assert usage_table([], []) == "No requests in this period.\n"


def test_parse_when_takes_a_date_or_a_date_time() -> None:
    assert parse_when("2026-03-01") == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert parse_when("2026-03-01T10:00:00+01:00") == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)


async def test_usage_is_served_to_governance_roles_and_metrics_are_exposed(world: World) -> None:
    roy = world.person_id(0)
    await world.query('{ person(id: "%s") { involvements { team } } }' % roy, as_="sw-patel")
    await world.query('{ person(id: "%s") { involvements { team } } }' % roy, as_="dn-hughes")
    figures = await world.query(
        "{ usage { byAgencyAndRole { agency role queries peopleViewed } "
        "sources { agency availability } } }",
        as_="cg-morgan",
    )
    rows = {(r["agency"], r["role"]): r for r in figures["data"]["usage"]["byAgencyAndRole"]}
    social_worker = rows[("shire-adult-social-care", "social_worker")]
    assert social_worker["queries"] == 1 and social_worker["peopleViewed"] == 1
    # The council's guardian sees the council's own figures, not the trust's.
    assert ("shire-community-health", "nurse") not in rows
    assert all(s["availability"] == 1.0 for s in figures["data"]["usage"]["sources"])
    refused = await world.query("{ usage { sources { agency } } }", as_="dn-hughes")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert world.client is not None
    metrics = await world.client.get("/metrics")
    assert metrics.status_code == 200
    assert 'fame_requests_total{outcome="ok"}' in metrics.text
    assert 'fame_agency_calls_total{agency="shire-community-health",status="ok"}' in metrics.text


async def test_report_usage_command_prints_the_figures(world: World) -> None:
    await world.query('{ person(id: "%s") { involvements { team } } }' % world.person_id(0))
    assert world.settings is not None
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(world.settings.config_dir / "gateway.toml"),
        "report",
        "usage",
        "--since",
        "2020-01-01",
    ]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "shire-adult-social-care" in done.stdout and "social_worker" in done.stdout
    bad = await asyncio.to_thread(
        subprocess.run,
        [*command[:-1], "yesterday-ish"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "yesterday-ish" in bad.stderr
