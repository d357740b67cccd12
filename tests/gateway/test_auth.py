"""Bearer tokens: every defect is a 401 with a precise reason, and no agency is contacted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from fame_demo.synthetic import Population
from gateway.config.tokens import private_key_path
from tests.support import SqlTrace, World, traced_world

QUERY = '{ person(id: "%s") { demographics { familyName } involvements { team } } }'


@pytest.fixture
async def traced(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, SqlTrace]]:
    """A world whose agencies record every call they receive."""
    async with traced_world(tmp_path, population, store_dir) as traced:
        yield traced


def _signing_key(world: World, agency: str) -> RSAKey:
    assert world.settings is not None
    issuer = next(i for i in world.settings.issuers if i.agency == agency)
    return RSAKey.import_key(json.loads(private_key_path(issuer).read_text()))


def _claims(
    world: World, agency: str = "shire-adult-social-care", **changes: Any
) -> dict[str, Any]:
    assert world.settings is not None
    issuer = next(i for i in world.settings.issuers if i.agency == agency)
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "sw-patel",
        "iat": now,
        "exp": now + 600,
        "roles": ["social_worker"],
        "team": "Older People's Team (North)",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key: RSAKey, claims: dict[str, Any], alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": key.kid}, claims, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _bad_tokens(world: World) -> dict[str, tuple[str | None, str]]:
    key = _signing_key(world, "shire-adult-social-care")
    stranger = RSAKey.generate_key(2048, parameters={"kid": key.kid})
    none_token = (
        _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        + "."
        + _b64(json.dumps(_claims(world)).encode())
        + "."
    )
    # The classic confusion attack: HMAC-sign with the issuer's public key as the secret.
    # (Built by hand: JOSE libraries rightly refuse to do this.)
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
        + "."
        + _b64(json.dumps(_claims(world)).encode())
    )
    mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    hmac_token = signing_input + "." + _b64(mac)
    return {
        "missing": (None, "no bearer token"),
        "not bearer": ("Basic dXNlcjpwYXNz", "not 'Bearer <token>'"),
        "garbage": ("Bearer not.a.jwt", "not a well-formed JWT"),
        "expired": (
            "Bearer "
            + _sign(key, _claims(world, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200)),
            "expired",
        ),
        "wrong audience": (
            "Bearer " + _sign(key, _claims(world, aud="some-other-service")),
            "another audience",
        ),
        "wrong issuer": (
            "Bearer " + _sign(key, _claims(world, iss="https://login.unknown.example")),
            "not registered",
        ),
        "alg none": ("Bearer " + none_token, "'none'"),
        "hmac with public key": ("Bearer " + hmac_token, "'HS256'"),
        "signed by a stranger": (
            "Bearer " + _sign(stranger, _claims(world)),
            "signature does not verify",
        ),
        "another issuer's key": (
            "Bearer " + _sign(_signing_key(world, "shire-housing"), _claims(world)),
            "",
        ),
        "no expiry": ("Bearer " + _sign(key, _claims(world, exp=None)), "'exp'"),
        "no subject": ("Bearer " + _sign(key, _claims(world, sub=None)), "'sub'"),
    }


async def test_every_defective_token_gets_401_and_no_agency_is_contacted(
    traced: tuple[World, SqlTrace],
) -> None:
    world, trace = traced
    assert world.client is not None
    for case, (header, reason) in _bad_tokens(world).items():
        headers = {"Content-Type": "application/json"}
        if header is not None:
            headers["Authorization"] = header
        response = await world.client.post(
            "/graphql",
            content=json.dumps({"query": QUERY % world.person_id(0)}),
            headers=headers,
        )
        assert response.status_code == 401, (case, response.text)
        body = response.json()
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "UNAUTHENTICATED", case
        assert reason in error["message"], (case, error["message"])
        assert "data" not in body, case
        assert response.headers["www-authenticate"].startswith("Bearer error="), case
    assert world.trust.calls == []
    assert [c for c in trace.calls if c.sql.lstrip().upper().startswith("SELECT")] == []


async def test_a_good_token_becomes_the_requester(world: World) -> None:
    result = await world.query("{ me { practitioner agency team roles purpose name } }")
    assert result["data"]["me"] == {
        "practitioner": "sw-patel",
        "agency": "shire-adult-social-care",
        "team": "Older People's Team (North)",
        "roles": ["social_worker"],
        "purpose": "direct_care",
        "name": "Priya Patel",
    }


async def test_purpose_of_use_comes_from_the_header_and_must_be_known(world: World) -> None:
    assert world.client is not None
    token = world.token("sw-patel")
    ok = await world.client.post(
        "/graphql",
        content=json.dumps({"query": "{ me { purpose } }"}),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Fame-Purpose-Of-Use": "care_planning",
        },
    )
    assert ok.json()["data"]["me"]["purpose"] == "care_planning"
    bad = await world.client.post(
        "/graphql",
        content=json.dumps({"query": "{ me { purpose } }"}),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Fame-Purpose-Of-Use": "curiosity",
        },
    )
    # The token is good: an unknown purpose is a bad request, not a failed sign-in.
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["extensions"]["code"] == "PURPOSE_UNKNOWN"
    assert "curiosity" in bad.json()["errors"][0]["message"]


async def test_minting_tokens_is_refused_outside_demo_mode(world: World) -> None:
    from dataclasses import replace

    from gateway.config.tokens import DemoOnlyError, mint_token

    assert world.settings is not None
    production = replace(world.settings, mode="production")
    with pytest.raises(DemoOnlyError, match="only in demo mode"):
        mint_token(
            production, subject="x", agency="shire-housing", team=None, roles=("housing_officer",)
        )


ME = "{ me { practitioner } }"


async def test_a_remembered_token_is_still_refused_once_it_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = _sign(
        _signing_key(world, "shire-adult-social-care"),
        _claims(world, exp=int(time.time()) + 120),
    )
    assert (await world.post(ME, token=token)).status_code == 200
    # Its signature is remembered; its expiry is not: ten minutes on, it is refused.
    later = time.time() + 600
    monkeypatch.setattr(time, "time", lambda: later)
    expired = await world.post(ME, token=token)
    assert expired.status_code == 401
    assert "expired" in expired.json()["errors"][0]["message"]


async def test_only_the_exact_token_that_verified_is_remembered(world: World) -> None:
    key = _signing_key(world, "shire-adult-social-care")
    token = _sign(key, _claims(world))
    assert (await world.post(ME, token=token)).status_code == 200
    header, payload, signature = token.split(".")
    # The same header and claims under another signature: verified afresh, and refused.
    forged = ".".join((header, payload, _b64(b"\x00" * 256)))
    assert (await world.post(ME, token=forged)).status_code == 401
    # Claims changed under the remembered signature: refused too.
    other = _b64(json.dumps(_claims(world, sub="dr-okafor")).encode())
    assert (await world.post(ME, token=".".join((header, other, signature)))).status_code == 401
    assert (await world.post(ME, token=token)).status_code == 200


async def test_a_token_verified_by_replaced_keys_is_verified_again(world: World) -> None:
    assert world.gateway is not None
    token = _sign(_signing_key(world, "shire-adult-social-care"), _claims(world))
    assert (await world.post(ME, token=token)).status_code == 200
    authenticator = world.gateway.authenticator
    # The issuer's keys rotate to a set without the signing key: the remembered
    # verification no longer counts.
    for name, entry in list(authenticator._issuers.items()):
        authenticator._issuers[name] = type(entry)(
            entry.config, type(entry.keys)([]), entry.fetched_at
        )
    refused = await world.post(ME, token=token)
    assert refused.status_code == 401, refused.text
