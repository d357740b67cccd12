"""A consent record cites evidence of a form the protocol names, and an objection is lifted
only by a practitioner involved with the person, on the person's own words."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support import World

ROY = 0  # Riverside GP patient known to the council, the trust and housing
RECORD = """mutation { recordConsent(input: {personId: "%s", item: "medications.*",
    recipientRole: "social_worker", decision: %s, reference: "%s"})
    { id reference referenceForm } }"""
WITHDRAW = 'mutation { withdrawConsent(id: "%s"%s) { withdrawnAt withdrawnBy withdrawnReference } }'
MEDICATIONS = '{ person(id: "%s") { health { medications { name } } } }'


def _error(result: dict[str, Any]) -> tuple[str, str]:
    error = result["errors"][0]
    return error["extensions"]["code"], error["message"]


async def test_a_trivial_reference_is_refused_and_the_forms_are_listed(world: World) -> None:
    roy = world.person_id(ROY)
    for trivial in (".", "yes", "form", "signed"):
        code, message = _error(await world.query(RECORD % (roy, "PERMIT", trivial)))
        assert code == "BAD_USER_INPUT", trivial
        assert world.settings is not None
        for form in world.settings.protocol.consent_forms.values():
            assert form.name in message and form.description in message
    signed = await world.query(RECORD % (roy, "PERMIT", "Signed form SF-2291, scanned"))
    assert signed["data"]["recordConsent"]["referenceForm"] == "signed_form"
    said = await world.query(RECORD % (roy, "DENY", "Said on the phone, call log 2026-06-01"))
    assert said["data"]["recordConsent"]["referenceForm"] == "recorded_words"


async def test_lifting_an_objection_needs_involvement_and_the_persons_own_words(
    world: World,
) -> None:
    roy = world.person_id(ROY)
    objected = await world.query(
        RECORD % (roy, "DENY", "Said on the phone, call log 2026-06-01"), as_="sw-patel"
    )
    objection = objected["data"]["recordConsent"]["id"]
    assert (await world.query(MEDICATIONS % roy))["data"]["person"]["health"]["medications"] is None
    own_words = ', reference: "Visit note 2026-06-09: happy for her social worker to see them"'
    # Another agency's practitioner with no relationship cannot lift it, evidence or not.
    # To them the record is as an unknown id is.
    stranger = await world.query(WITHDRAW % (objection, own_words), as_="dr-lewis")
    unknown = await world.query(WITHDRAW % (uuid.uuid4(), own_words), as_="dr-lewis")
    assert _error(stranger)[0] == "NOT_FOUND"
    assert stranger == unknown
    # Nor can anyone without evidence, or on evidence that is not the person's own words.
    for evidence in ("", ', reference: "."', ', reference: "Best interests MCA-2026-0042"'):
        code, message = _error(await world.query(WITHDRAW % (objection, evidence)))
        assert code == "BAD_USER_INPUT", evidence
        assert "own words" in message and "best_interests" not in message
    assert (await world.query(MEDICATIONS % roy))["data"]["person"]["health"]["medications"] is None
    lifted = await world.query(WITHDRAW % (objection, own_words), as_="sw-patel")
    withdrawal = lifted["data"]["withdrawConsent"]
    assert withdrawal["withdrawnBy"] == "sw-patel@shire-adult-social-care"
    assert withdrawal["withdrawnReference"].startswith("Visit note 2026-06-09")
    assert (await world.query(MEDICATIONS % roy))["data"]["person"]["health"]["medications"]
