"""Keys fetched from an issuer's JWKS URL: a token naming an unknown kid may make the
gateway refetch the keys, but random kids cannot make it hammer the issuer."""

from __future__ import annotations

import time

import aiohttp
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from gateway.config.settings import IssuerConfig, load_settings
from gateway.core.errors import AuthenticationError
from gateway.edge.auth import Authenticator
from tests.support import REPO

ISSUER = "https://login.example.invalid"


async def test_unknown_kids_refetch_the_keys_at_most_once_per_interval() -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    fetches = 0

    async def jwks(_request: web.Request) -> web.Response:
        nonlocal fetches
        fetches += 1
        return web.json_response({"keys": [key.as_dict(private=False)]})

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = IssuerConfig(
        agency="a",
        issuer=ISSUER,
        audience="fame-gateway",
        algorithms=("RS256",),
        jwks_url=f"http://127.0.0.1:{port}/jwks",
    )
    authenticator = Authenticator((config,), "direct_care")
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "fame-gateway", "sub": "x", "exp": now + 60, "roles": ["nurse"]}
    protocol = load_settings(REPO / "config" / "gateway.toml").protocol
    try:
        async with aiohttp.ClientSession() as session:
            await authenticator.load_keys(session)
            assert fetches == 1
            good = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            requester = await authenticator.authenticate(f"Bearer {good}", protocol, None, session)
            assert requester.practitioner == "x"
            stranger = RSAKey.generate_key(2048)
            for n in range(20):
                forged = jwt.encode({"alg": "RS256", "kid": f"random-{n}"}, claims, stranger)
                with pytest.raises(AuthenticationError):
                    await authenticator.authenticate(f"Bearer {forged}", protocol, None, session)
            assert fetches == 1, "keys fetched moments ago are not fetched again for a kid"
    finally:
        await runner.cleanup()
