"""A deployment's own catalogue served end to end: declared in a file, mapped by a new
agency's SQLite database, permitted by a protocol clause, asked for through ``/graphql``
with real signed tokens, withheld where the protocol says so, and told in the audit."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fame_demo.runner import demo_person_id
from fame_demo.synthetic import Population
from gateway.audit.records import disclosure_records
from gateway.audit.reports import subject_report_html
from tests.gateway.test_catalogue import CHILDREN
from tests.scenarios.helpers import withheld
from tests.support import DEMO_CONFIG, World

CS = "clunbury-youth-services"

CLAUSE = f"""
[[clause]]
id = "TEST-9.1"
title = "Youth justice orders and lead professionals"
agencies = ["{CS}"]
items = ["youth_justice_orders.*", "lead_professionals.*"]
category = "safeguarding"
roles = ["social_worker"]
purposes = ["direct_care", "safeguarding"]
basis = "implied"
"""

#: Each linked child's rows: (plan category, start date) and (lead name, lead role).
PLANS = {
    "CS-0001": [("neglect", "2023-05-02"), ("emotional", "2024-03-10"), ("physical", "2024-01-15")],
    "CS-0002": [("sexual", "2024-02-01")],
}
LEADS = {"CS-0001": ("Sam Reid", "social worker"), "CS-0002": ("Jo Akers", "family support")}

QUERY = """{ person(id: "%s") {
  leadProfessionals { agency { id name } name role }
  socialCare {
    since2024: youthJusticeOrders(from: "2024-01-01") { agency { id } category startedOn }
    all: youthJusticeOrders { category startedOn }
    cases { status }
  }
} }"""


def agency_file(database: Path) -> str:
    """The children's services registration: a SQLite database of its own."""
    return f"""\
name = "Clunbury Youth Services"
kind = "sql"

[source]
url = "sqlite+aiosqlite:///{database.as_posix()}"

[tables.cp_plans]
key = "child_ref"
order_by = "start_date"
[tables.lead_workers]
key = "child_ref"

[items]
"youth_justice_orders.category" = "cp_plans.plan_category"
"youth_justice_orders.started_on" = "cp_plans.start_date"
"lead_professionals.name" = "lead_workers.worker_name"
"lead_professionals.role" = "lead_workers.worker_role"
"""


def write_database(database: Path) -> None:
    """The agency's own tables, with a column the gateway never maps."""
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TABLE cp_plans (child_ref TEXT, plan_category TEXT, start_date TEXT, "
            "conference_notes TEXT)"
        )
        conn.execute(
            "CREATE TABLE lead_workers (child_ref TEXT, worker_name TEXT, worker_role TEXT)"
        )
        for ref, plans in PLANS.items():
            conn.executemany(
                "INSERT INTO cp_plans VALUES (?, ?, ?, 'PRIVATE conference notes')",
                [(ref, category, started) for category, started in plans],
            )
        conn.executemany(
            "INSERT INTO lead_workers VALUES (?, ?, ?)",
            [(ref, name, role) for ref, (name, role) in LEADS.items()],
        )


@pytest.fixture
async def served(tmp_path: Path, population: Population, store_dir: Path) -> AsyncIterator[World]:
    """The demo world with the children's catalogue, agency and clause added."""
    catalogue = tmp_path / "config" / "catalogue"
    catalogue.mkdir(parents=True)
    (catalogue / "children.toml").write_text(CHILDREN)
    database = tmp_path / "childrens-services.sqlite"
    write_database(database)
    running = World(tmp_path, population, store_dir)
    await running.start(
        agencies={CS: agency_file(database)},
        protocol=(DEMO_CONFIG / "sharing-protocol.toml").read_text() + CLAUSE,
        extra_settings='catalogue = { files = ["catalogue/*.toml"] }',
    )
    try:
        yield running
    finally:
        await running.stop()


async def link_first_of_caseload(world: World, practitioner: str, local_id: str) -> str:
    """Link the first person of the practitioner's caseload to ``local_id`` at the
    children's services; returns the person's gateway id."""
    assert world.gateway is not None
    answer = await world.query("{ caseload(first: 1) { id } }", as_=practitioner)
    person_id: str = answer["data"]["caseload"][0]["id"]
    nhs = {demo_person_id(p.nhs_number): p.nhs_number for p in world.population.people}
    await world.gateway.index.register(
        [(CS, local_id, "Child Protection Team")], nhs_number=nhs[person_id]
    )
    return person_id


def plans(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["category"], row["startedOn"]) for row in rows]


async def test_the_deployments_record_sets_are_served_where_permitted(served: World) -> None:
    person_id = await link_first_of_caseload(served, "sw-patel", "CS-0001")
    result = await served.query(QUERY % person_id, as_="sw-patel")
    assert "errors" not in result, result["errors"]
    person = result["data"]["person"]
    assert person["leadProfessionals"] == [
        {
            "agency": {"id": CS, "name": "Clunbury Youth Services"},
            "name": "Sam Reid",
            "role": "social worker",
        }
    ]
    by_date = sorted(PLANS["CS-0001"], key=lambda plan: plan[1])
    assert plans(person["socialCare"]["all"]) == by_date
    assert plans(person["socialCare"]["since2024"]) == [p for p in by_date if p[1] >= "2024-01-01"]
    assert {row["agency"]["id"] for row in person["socialCare"]["since2024"]} == {CS}
    assert not [key for key in withheld(result) if key[0] == CS]
    assert "PRIVATE" not in str(result)

    # The audit names the deployment's items, and the person's report words them from
    # the deployment's catalogue.
    assert served.gateway is not None and served.settings is not None
    records = await disclosure_records(served.gateway.state_engine, person_id=person_id)
    disclosed = records[-1].disclosed[CS]
    assert set(disclosed) == {
        "youth_justice_orders.category",
        "youth_justice_orders.started_on",
        "lead_professionals.name",
        "lead_professionals.role",
    }
    page = subject_report_html("A child", records, served.settings)
    assert "<li>A youth justice order: the order: referral, youth rehabilitation " in page
    assert "coordinating support for a child: the lead professional&#x27;s name; their role" in page


async def test_a_role_the_clause_does_not_name_is_refused_the_new_items(served: World) -> None:
    person_id = await link_first_of_caseload(served, "dn-hughes", "CS-0002")
    result = await served.query(QUERY % person_id, as_="dn-hughes")
    reasons = {item: reason for (agency, item), reason in withheld(result).items() if agency == CS}
    assert reasons == {
        "youth_justice_orders.category": "ROLE_NOT_PERMITTED",
        "youth_justice_orders.started_on": "ROLE_NOT_PERMITTED",
        "lead_professionals.name": "ROLE_NOT_PERMITTED",
        "lead_professionals.role": "ROLE_NOT_PERMITTED",
    }
    for name, _role in LEADS.values():
        assert name not in str(result)
    assert "sexual" not in str(result)
