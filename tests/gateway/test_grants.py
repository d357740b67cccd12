"""Grants through HTTP: safeguarding established by a recorded enquiry or referral and a
reason, break-glass with a reason category and a reason a guardian can check."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tests.support import World

ROY = 0  # Riverside GP patient known to the council, the trust and housing
CLAIM = (
    'mutation { claimSafeguarding(personId: "%s", reference: "%s", reason: "%s") '
    "{ id purpose reference reasonCategory reason expiresAt grantedAt } }"
)
BREAK_GLASS = (
    'mutation { breakGlass(personId: "%s", reasonCategory: "%s", reason: "%s") '
    "{ id purpose reasonCategory reason } }"
)
CONCERN = "Neighbour reports the carer shouting and the person not seen for a week"
COLLAPSE = "Found collapsed at the surgery door, unresponsive"


def _error(result: dict[str, Any]) -> tuple[str, str]:
    error = result["errors"][0]
    return error["extensions"]["code"], error["message"]


async def test_safeguarding_needs_a_reference_a_reason_and_a_relationship(world: World) -> None:
    roy = world.person_id(ROY)
    code, message = _error(await world.query(CLAIM % (roy, "S42-2026-00123", ""), as_="dr-okafor"))
    assert code == "BAD_USER_INPUT" and "at least 20 characters" in message
    code, message = _error(
        await world.query(CLAIM % (roy, "S42-2026-00123", "x" * 40), as_="dr-okafor")
    )
    assert code == "BAD_USER_INPUT" and "repeats" in message
    code, message = _error(await world.query(CLAIM % (roy, "enquiry", CONCERN), as_="dr-okafor"))
    assert code == "BAD_USER_INPUT"
    assert "S42-2026-00123" in message and "SGR-2026-0456" in message  # the protocol's hint
    code, message = _error(
        await world.query(CLAIM % (roy, "S42-2026-00123", CONCERN), as_="ho-evans")
    )
    assert code == "FORBIDDEN" and "gp, hospital_clinician, nurse, social_worker" in message
    # Without a relationship, safeguarding cannot be claimed; an unknown id answers the same.
    unrelated = await world.query(CLAIM % (roy, "S42-2026-00123", CONCERN), as_="dr-lewis")
    unknown = await world.query(CLAIM % (uuid.uuid4(), "S42-2026-00123", CONCERN), as_="dr-lewis")
    assert _error(unrelated)[0] == "FORBIDDEN"
    assert unrelated == unknown
    claimed = await world.query(CLAIM % (roy, " SGR-2026-0456 ", CONCERN), as_="dr-okafor")
    grant = claimed["data"]["claimSafeguarding"]
    assert grant["purpose"] == "safeguarding" and grant["reference"] == "SGR-2026-0456"
    assert grant["reasonCategory"] is None and grant["reason"] == CONCERN
    lasts = dt.datetime.fromisoformat(grant["expiresAt"]) - dt.datetime.fromisoformat(
        grant["grantedAt"]
    )
    assert lasts == dt.timedelta(hours=72)  # the protocol's hours for safeguarding
    # Not the same reason twice in a row.
    again = await world.query(CLAIM % (roy, "SGR-2026-0457", CONCERN), as_="dr-okafor")
    assert _error(again)[0] == "BAD_USER_INPUT" and "last grant" in _error(again)[1]


async def test_a_safeguarding_grant_is_reviewed_by_the_holders_guardian(world: World) -> None:
    roy = world.person_id(ROY)
    claimed = await world.query(CLAIM % (roy, "S42-2026-00123", CONCERN), as_="dr-okafor")
    grant_id = claimed["data"]["claimSafeguarding"]["id"]
    reviews = "{ breakGlassReviews { grant { id purpose reference } practitioner } }"
    (review,) = (await world.query(reviews, as_="cg-brennan"))["data"]["breakGlassReviews"]
    assert review["grant"] == {
        "id": grant_id,
        "purpose": "safeguarding",
        "reference": "S42-2026-00123",
    }
    assert (await world.query(reviews, as_="cg-morgan"))["data"]["breakGlassReviews"] == []


async def test_break_glass_needs_a_category_and_a_reason_with_content(world: World) -> None:
    roy = world.person_id(ROY)
    code, message = _error(
        await world.query(BREAK_GLASS % (roy, "because", COLLAPSE), as_="dr-lewis")
    )
    assert code == "BAD_USER_INPUT"
    for category in ("cannot_consent", "risk_to_life", "risk_to_others", "out_of_hours"):
        assert category in message
    for vague in ("x" * 20, "abcabcabcabcabcabcabc", "emergency emergency emergency"):
        code, message = _error(
            await world.query(BREAK_GLASS % (roy, "risk_to_life", vague), as_="dr-lewis")
        )
        assert code == "BAD_USER_INPUT", vague
    granted = await world.query(BREAK_GLASS % (roy, "cannot_consent", COLLAPSE), as_="dr-lewis")
    assert granted["data"]["breakGlass"]["reasonCategory"] == "cannot_consent"
    # The same words for the next grant are a reason copied, not given.
    other = world.person_id(1)
    copied = await world.query(
        BREAK_GLASS % (other, "cannot_consent", COLLAPSE.upper() + "!"), as_="dr-lewis"
    )
    assert "last grant" in _error(copied)[1]
    fresh = await world.query(
        BREAK_GLASS % (other, "risk_to_life", "Chest pain in the car park, history unknown"),
        as_="dr-lewis",
    )
    assert fresh["data"]["breakGlass"]["purpose"] == "emergency"


async def test_breaking_glass_answers_alike_for_an_unknown_id_and_a_real_person(
    world: World,
) -> None:
    """No existence oracle: a grant is recorded either way, and opens only what exists."""
    real = await world.query(
        BREAK_GLASS % (world.person_id(ROY), "cannot_consent", COLLAPSE), as_="dr-lewis"
    )
    unknown_id = str(uuid.uuid4())
    unknown = await world.query(
        BREAK_GLASS % (unknown_id, "risk_to_life", COLLAPSE + " in the car park"), as_="dr-lewis"
    )
    assert "errors" not in real and "errors" not in unknown
    shown, hidden = real["data"]["breakGlass"], unknown["data"]["breakGlass"]
    assert set(shown) == set(hidden)
    assert shown["purpose"] == hidden["purpose"] == "emergency"
    person = await world.query('{ person(id: "%s") { id } }' % unknown_id, as_="dr-lewis")
    assert person["data"]["person"] is None


async def test_a_safeguarding_grant_is_reviewed_by_the_agencies_whose_data_it_opened(
    world: World,
) -> None:
    """Like break-glass: the owners of what a safeguarding grant delivered are notified,
    and their guardians see it to review."""
    roy = world.person_id(ROY)
    claimed = await world.query(CLAIM % (roy, "S42-2026-00123", CONCERN), as_="dr-okafor")
    grant = claimed["data"]["claimSafeguarding"]["id"]
    reviews = "{ breakGlassReviews(pending: true) { grant { id purpose } agenciesNotified } }"
    before = await world.query(reviews, as_="cg-morgan")
    assert grant not in {r["grant"]["id"] for r in before["data"]["breakGlassReviews"]}
    # The council's safeguarding warnings reach the GP only under the grant.
    shown = await world.query('{ person(id: "%s") { alerts { category } } }' % roy, as_="dr-okafor")
    assert "errors" not in shown
    (seen,) = [
        r
        for r in (await world.query(reviews, as_="cg-morgan"))["data"]["breakGlassReviews"]
        if r["grant"]["id"] == grant
    ]
    assert seen["grant"]["purpose"] == "safeguarding"
    assert "shire-adult-social-care" in seen["agenciesNotified"]
