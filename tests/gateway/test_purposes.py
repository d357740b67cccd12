"""The purpose of use is established, never merely claimed: every combination of roles,
token claim and header against the shipped protocol, and the HTTP answers."""

from __future__ import annotations

import itertools

import pytest

from gateway.config.protocol import Establishment, SharingProtocol
from gateway.config.settings import load_settings
from gateway.edge.purposes import PurposeError, establish
from tests.support import REPO, World

ROLES = ("gp", "nurse", "social_worker", "housing_officer", "caldicott_guardian")


@pytest.fixture(scope="module")
def protocol() -> SharingProtocol:
    return load_settings(REPO / "config" / "gateway.toml").protocol


def oracle(
    protocol: SharingProtocol, roles: set[str], claim: list[str] | None, header: str | None
) -> str | tuple[str, int]:
    """The rule restated: what the request is for, or the error code and status."""
    asserted = [
        name
        for name, p in protocol.purposes.items()
        if p.established is Establishment.ASSERTED
        and p.roles & roles
        and (claim is None or name in claim)
    ]
    wanted = header or (claim[0] if claim else None)
    if wanted is None:
        if "direct_care" in asserted:
            return "direct_care"
        return asserted[0] if len(asserted) == 1 else ("PURPOSE_REQUIRED", 400)
    if wanted not in protocol.purposes:
        return ("PURPOSE_UNKNOWN", 400)
    if wanted in ("safeguarding", "emergency"):
        return ("PURPOSE_NOT_ESTABLISHED", 403)
    if not protocol.purposes[wanted].roles & roles:
        return ("PURPOSE_FORBIDDEN", 403)
    if claim is not None and wanted not in claim:
        return ("PURPOSE_FORBIDDEN", 403)
    return wanted


CLAIMS: list[list[str] | None] = [
    None,
    [],
    ["direct_care"],
    ["care_planning", "direct_care"],
    ["audit"],
    ["emergency"],
    ["safeguarding", "direct_care"],
]
HEADERS = [None, "", "direct_care", "care_planning", "safeguarding", "emergency", "audit", "x"]


def test_every_combination_matches_the_rule(protocol: SharingProtocol) -> None:
    checked = 0
    for size in (1, 2):
        for roles in itertools.combinations(ROLES, size):
            for claim, header in itertools.product(CLAIMS, HEADERS):
                expected = oracle(protocol, set(roles), claim, header or None)
                try:
                    got: str | tuple[str, int] = establish(
                        protocol, roles, claim, header, "direct_care"
                    )
                except PurposeError as exc:
                    got = (exc.code, exc.status)
                assert got == expected, (roles, claim, header)
                checked += 1
    assert checked == 15 * len(CLAIMS) * len(HEADERS)


def test_the_header_never_widens_the_token(protocol: SharingProtocol) -> None:
    with pytest.raises(PurposeError) as raised:
        establish(protocol, ["nurse"], ["direct_care"], "care_planning", "direct_care")
    assert raised.value.code == "PURPOSE_FORBIDDEN"
    assert "never add one" in str(raised.value)


def test_a_gp_may_not_claim_audit(protocol: SharingProtocol) -> None:
    with pytest.raises(PurposeError) as raised:
        establish(protocol, ["gp"], None, "audit", "direct_care")
    assert (raised.value.code, raised.value.status) == ("PURPOSE_FORBIDDEN", 403)


def test_a_guardian_without_a_claim_is_asking_for_audit(protocol: SharingProtocol) -> None:
    assert establish(protocol, ["caldicott_guardian"], None, None, "direct_care") == "audit"


def test_a_malformed_claim_is_a_clear_error(protocol: SharingProtocol) -> None:
    with pytest.raises(PurposeError) as raised:
        establish(protocol, ["gp"], {"purpose": "x"}, None, "direct_care")
    assert raised.value.code == "PURPOSE_CLAIM_INVALID"


# --------------------------------------------------------------------------- over HTTP

ALERTS = '{ person(id: "%s") { alerts { category agency { id } } } }'


@pytest.mark.parametrize(
    ("header", "code", "status"),
    [
        ("emergency", "PURPOSE_NOT_ESTABLISHED", 403),
        ("safeguarding", "PURPOSE_NOT_ESTABLISHED", 403),
        ("audit", "PURPOSE_FORBIDDEN", 403),
        ("curiosity", "PURPOSE_UNKNOWN", 400),
    ],
)
async def test_a_gp_claiming_a_purpose_by_header_is_refused_before_anything_is_fetched(
    world: World, header: str, code: str, status: int
) -> None:
    response = await world.post(ALERTS % world.person_id(0), as_="dr-okafor", purpose=header)
    assert response.status_code == status
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code
    assert "data" not in body
    # Not an authentication failure: no challenge to sign in again.
    assert "www-authenticate" not in response.headers


async def test_the_council_safeguarding_warnings_stay_shut_to_a_gp_without_a_grant(
    world: World,
) -> None:
    body = await world.query(ALERTS % world.person_id(0), as_="dr-okafor")
    council = [
        a
        for a in body["data"]["person"]["alerts"]
        if a["agency"]["id"] == "shire-adult-social-care"
    ]
    assert council == []
    reasons = {
        w["reason"]
        for w in body["extensions"].get("withheld", [])
        if w.get("agency") == "shire-adult-social-care" and w["item"].startswith("alerts.")
    }
    assert reasons == {"PURPOSE_NOT_PERMITTED"}
