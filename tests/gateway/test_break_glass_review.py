"""Break-glass review by the Caldicott guardian, and notices to the owning agencies."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from fame_demo.synthetic import Population
from gateway.governance.state import break_glass_notifications
from tests.support import DEMO_CONFIG, World

REASON = "Found collapsed in the waiting room, no carer present"
REVIEWS = """{ breakGlassReviews(pending: %s) { grant { id reason } practitioner agency
    agenciesNotified outcome note reviewedBy } }"""


async def _break_glass(world: World) -> str:
    roy = world.person_id(0)
    granted = await world.query(
        'mutation { breakGlass(personId: "%s", reasonCategory: "cannot_consent", '
        'reason: "%s") '
        "{ id } }" % (roy, REASON),
        as_="dr-lewis",
    )
    grant_id: str = granted["data"]["breakGlass"]["id"]
    used = await world.query(
        '{ person(id: "%s") { health { medications { name } } '
        "socialCare { carePackages { service } } } }" % roy,
        as_="dr-lewis",
    )
    assert used["data"]["person"]["health"]["medications"]
    return grant_id


async def test_each_agency_whose_data_a_grant_disclosed_is_notified_once(world: World) -> None:
    grant_id = await _break_glass(world)
    await world.query(
        '{ person(id: "%s") { health { medications { name } } } }' % world.person_id(0),
        as_="dr-lewis",
    )
    assert world.gateway is not None
    async with world.gateway.state_engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    select(break_glass_notifications).where(
                        break_glass_notifications.c.grant_id == grant_id
                    )
                )
            )
            .mappings()
            .all()
        )
    notified = sorted(row["agency"] for row in rows)
    assert notified == ["riverside-gp", "shire-adult-social-care"]
    assert {row["practitioner"] for row in rows} == {"dr-lewis"}


async def test_a_caldicott_guardian_reviews_each_grant_once(world: World) -> None:
    grant_id = await _break_glass(world)
    pending = await world.query(REVIEWS % "true", as_="cg-morgan")
    (review,) = pending["data"]["breakGlassReviews"]
    assert review["grant"] == {"id": grant_id, "reason": REASON}
    assert review["practitioner"] == "dr-lewis" and review["agency"] == "oakfield-gp"
    assert review["agenciesNotified"] == ["riverside-gp", "shire-adult-social-care"]
    refused = await world.query(REVIEWS % "true", as_="sw-patel")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mutation = 'mutation { reviewBreakGlass(id: "%s", outcome: "%s", note: "%s") { outcome } }'
    bad = await world.query(mutation % (grant_id, "fine", "x"), as_="cg-morgan")
    assert "outcome must be one of" in bad["errors"][0]["message"]
    done = await world.query(
        mutation % (grant_id, "appropriate", "Confirmed with the duty GP"), as_="cg-morgan"
    )
    assert done["data"]["reviewBreakGlass"]["outcome"] == "appropriate"
    again = await world.query(
        mutation % (grant_id, "inappropriate", "Second thoughts"), as_="cg-morgan"
    )
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await world.query(REVIEWS % "true", as_="cg-morgan"))["data"]["breakGlassReviews"] == []
    (reviewed,) = (await world.query(REVIEWS % "false", as_="cg-morgan"))["data"][
        "breakGlassReviews"
    ]
    assert reviewed["note"] == "Confirmed with the duty GP"
    assert reviewed["reviewedBy"] == "cg-morgan@shire-adult-social-care"


async def test_an_agency_with_a_webhook_gets_the_notice_posted(
    tmp_path: Path, population: Population, store_dir: Path
) -> None:
    received: list[dict[str, object]] = []
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        arrived.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/notices", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    council = (DEMO_CONFIG / "agencies" / "shire-adult-social-care.toml").read_text()
    council = f'break_glass_webhook = "http://127.0.0.1:{port}/notices"\n' + council
    world = World(tmp_path, population, store_dir)
    try:
        await world.start(agencies={"shire-adult-social-care": council})
        grant_id = await _break_glass(world)
        await asyncio.wait_for(arrived.wait(), timeout=10)
        (notice,) = received
        assert notice["event"] == "break_glass_disclosure"
        assert notice["grant"] == grant_id and notice["agency"] == "shire-adult-social-care"
        assert notice["reason"] == REASON and notice["practitioner"] == "dr-lewis"
    finally:
        await world.stop()
        await runner.cleanup()
