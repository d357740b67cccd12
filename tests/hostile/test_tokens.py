"""Token attacks: every one is a 401 with a reason and an ASCII ``WWW-Authenticate``, no
agency is asked, and the gateway stays healthy.

Tokens are forged by hand (header and payload bytes as the attacker writes them) and,
where the point is that a valid signature does not save a malformed token, signed with
the issuer's real private key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc.jwk import RSAKey

from gateway.config.tokens import private_key_path
from tests.hostile.support import NORMAL, first_error, healthy, problems
from tests.support import World

AGENCY = "shire-adult-social-care"
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "stranger-1"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@dataclass
class Forge:
    """Builds tokens for one world: the issuer's real key, its claims, and a stranger's key."""

    key: RSAKey
    issuer: str
    audience: str
    other_issuer: str

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "sw-patel",
            "iat": now,
            "exp": now + 600,
            "roles": ["social_worker"],
            "team": "Older People's Team (North)",
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def header(self, **changes: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": self.key.kid}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not None}

    def raw(
        self, header: bytes, payload: bytes, key: RSAKey | None = None, alg: str = "RS256"
    ) -> str:
        """Sign exactly these header and payload bytes (RSA, PKCS#1 v1.5)."""
        signing_input = f"{_b64(header)}.{_b64(payload)}".encode()
        digest = {"RS256": hashes.SHA256(), "RS512": hashes.SHA512()}[alg]
        private = (key or self.key).private_key
        assert private is not None
        signature = private.sign(signing_input, padding.PKCS1v15(), digest)  # type: ignore[union-attr]
        return f"{signing_input.decode()}.{_b64(signature)}"

    def token(
        self, header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None, **kw: Any
    ) -> str:
        return self.raw(
            _json(header if header is not None else self.header()),
            _json(claims if claims is not None else self.claims()),
            **kw,
        )


def _forge(world: World) -> Forge:
    assert world.settings is not None
    issuers = {i.agency: i for i in world.settings.issuers}
    issuer = issuers[AGENCY]
    key = RSAKey.import_key(json.loads(private_key_path(issuer).read_text()))
    return Forge(key, issuer.issuer, issuer.audience, issuers["shire-housing"].issuer)


def _deep(value: dict[str, Any], levels: int) -> bytes:
    # Written out by hand: the standard encoder itself recurses once per level.
    return _json(value)[:-1] + b', "x": ' + b"[" * levels + b"]" * levels + b"}"


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


#: name -> (Authorization header values, or a builder of them; text the reason contains)
Attack = tuple[Callable[[Forge], list[str]], str]


def _bearer(build: Callable[[Forge], str]) -> Callable[[Forge], list[str]]:
    return lambda f: [f"Bearer {build(f)}"]


def _attacks() -> dict[str, Attack]:
    now = int(time.time())
    hs256_public: Callable[[Forge], str] = lambda f: _hmac_with_public_key(f)  # noqa: E731
    return {
        # The JOSE header is JSON but not an object.
        "header is a JSON string": (
            _bearer(lambda f: f.raw(b'"RS256"', _json(f.claims()))),
            "header is not a JSON object",
        ),
        "header is a JSON list": (
            _bearer(lambda f: f.raw(b'["RS256"]', _json(f.claims()))),
            "header is not a JSON object",
        ),
        "header is a JSON number": (
            _bearer(lambda f: f.raw(b"7", _json(f.claims()))),
            "header is not a JSON object",
        ),
        "header is JSON null": (
            _bearer(lambda f: f.raw(b"null", _json(f.claims()))),
            "header is not a JSON object",
        ),
        "header is not JSON": (
            _bearer(lambda f: f.raw(b"{alg: RS256}", _json(f.claims()))),
            "not base64url JSON",
        ),
        "header is not base64url": (
            _bearer(lambda f: "e30!." + f.token().split(".", 1)[1]),
            "not a well-formed JWT",
        ),
        "header nests 1000 deep": (
            _bearer(lambda f: f.raw(_deep(f.header(), 1000), _json(f.claims()))),
            "nested or sized",
        ),
        # The payload.
        "payload is a JSON string": (
            _bearer(lambda f: f.raw(_json(f.header()), b'"sw-patel"')),
            "payload is not a JSON object",
        ),
        "payload is a JSON list": (
            _bearer(lambda f: f.raw(_json(f.header()), b"[1, 2]")),
            "payload is not a JSON object",
        ),
        "payload nests 1000 deep": (
            _bearer(lambda f: f.raw(_json(f.header()), _deep(f.claims(), 1000))),
            "nested or sized",
        ),
        "payload nests 20 deep": (
            _bearer(lambda f: f.token(claims=f.claims(x=_nested(20)))),
            "nested or sized",
        ),
        "payload has 5,000 claims": (
            _bearer(lambda f: f.token(claims={**f.claims(), **{f"c{i}": 0 for i in range(2500)}})),
            "bytes; at most",
        ),
        "payload has a lone surrogate": (
            _bearer(lambda f: f.raw(_json(f.header()), b'{"iss": "\\ud800"}')),
            "not base64url JSON",
        ),
        # Characters a header cannot carry.
        "alg outside Latin-1": (
            _bearer(lambda f: f.token(header=f.header(alg="RS256\u4e00"))),
            "no 'alg'",
        ),
        "iss outside Latin-1": (
            _bearer(lambda f: f.token(claims=f.claims(iss="https://login.\u4e00.example"))),
            "not registered",
        ),
        "iss in Latin-1, not ASCII": (
            _bearer(lambda f: f.token(claims=f.claims(iss="https://caf\u00e9.example"))),
            "not registered",
        ),
        "iss with a newline": (
            _bearer(lambda f: f.token(claims=f.claims(iss="https://x\r\nSet-Cookie: a=b"))),
            "not registered",
        ),
        "iss is a number": (_bearer(lambda f: f.token(claims=f.claims(iss=5))), "'iss'"),
        "iss is a list": (_bearer(lambda f: f.token(claims=f.claims(iss=[f.issuer]))), "'iss'"),
        "no iss": (_bearer(lambda f: f.token(claims=f.claims(iss=None))), "'iss'"),
        "no alg": (_bearer(lambda f: f.token(header=f.header(alg=None))), "'alg'"),
        # Algorithm confusion.
        "alg none": (
            _bearer(lambda f: f"{_b64(_json({'alg': 'none'}))}.{_b64(_json(f.claims()))}."),
            "'none'",
        ),
        "alg None": (
            _bearer(lambda f: f"{_b64(_json({'alg': 'None'}))}.{_b64(_json(f.claims()))}."),
            "'None'",
        ),
        "HS256 with the public key": (_bearer(hs256_public), "'HS256'"),
        "RS512, not allowed": (
            _bearer(lambda f: f.token(header=f.header(alg="RS512"), alg="RS512")),
            "'RS512'",
        ),
        "ES256, not allowed": (_bearer(lambda f: f.token(header=f.header(alg="ES256"))), "'ES256'"),
        # Where the key comes from.
        "unknown kid, stranger's key": (
            _bearer(lambda f: f.token(header=f.header(kid="stranger-1"), key=STRANGER)),
            "could not be verified",
        ),
        "kid is a number": (_bearer(lambda f: f.token(header=f.header(kid=1))), "'kid'"),
        "kid is a path": (
            _bearer(lambda f: f.token(header=f.header(kid="../../../../dev/null"))),
            "could not be verified",
        ),
        "jku to the attacker": (
            _bearer(
                lambda f: f.token(
                    header=f.header(jku="https://attacker.invalid/jwks.json"), key=STRANGER
                )
            ),
            "'jku'",
        ),
        "x5u to the attacker": (
            _bearer(
                lambda f: f.token(
                    header=f.header(x5u="https://attacker.invalid/cert.pem"), key=STRANGER
                )
            ),
            "'x5u'",
        ),
        "embedded jwk": (
            _bearer(
                lambda f: f.token(
                    header=f.header(jwk=STRANGER.as_dict(private=False)), key=STRANGER
                )
            ),
            "'jwk'",
        ),
        "embedded x5c": (
            _bearer(lambda f: f.token(header=f.header(x5c=["MIIB"]), key=STRANGER)),
            "'x5c'",
        ),
        "signed by a stranger with the issuer's kid": (
            _bearer(lambda f: f.token(key=STRANGER)),
            "signature does not verify",
        ),
        # crit (RFC 7515 4.1.11).
        "crit empty": (_bearer(lambda f: f.token(header=f.header(crit=[]))), "'crit'"),
        "crit names exp": (
            _bearer(lambda f: f.token(header=f.header(crit=["exp"], exp=1))),
            "'crit'",
        ),
        # Times.
        "expired": (
            _bearer(lambda f: f.token(claims=f.claims(exp=now - 3600, iat=now - 7200))),
            "expired",
        ),
        "not yet valid": (_bearer(lambda f: f.token(claims=f.claims(nbf=now + 3600))), "'nbf'"),
        "nbf is a string": (_bearer(lambda f: f.token(claims=f.claims(nbf="soon"))), "'nbf'"),
        "exp is a string": (_bearer(lambda f: f.token(claims=f.claims(exp="never"))), "'exp'"),
        "exp is true": (_bearer(lambda f: f.token(claims=f.claims(exp=True))), "'exp'"),
        "exp in the year 10^22": (_bearer(lambda f: f.token(claims=f.claims(exp=10**30))), "'exp'"),
        "exp is 1e400": (
            _bearer(
                lambda f: f.raw(
                    _json(f.header()), _json(f.claims()).replace(b'"exp": ', b'"exp": 1e400, "x": ')
                )
            ),
            "JSON",
        ),
        "no exp": (_bearer(lambda f: f.token(claims=f.claims(exp=None))), "'exp'"),
        # Audience and issuer games.
        "another audience": (
            _bearer(lambda f: f.token(claims=f.claims(aud="another-service"))),
            "another audience",
        ),
        "audience list without ours": (
            _bearer(lambda f: f.token(claims=f.claims(aud=["a", "b"]))),
            "another audience",
        ),
        "audience is a number": (_bearer(lambda f: f.token(claims=f.claims(aud=7))), "'aud'"),
        "another agency's issuer, our key": (
            _bearer(lambda f: f.token(claims=f.claims(iss=f.other_issuer))),
            "could not be verified",
        ),
        "issuer with a trailing slash": (
            _bearer(lambda f: f.token(claims=f.claims(iss=f.issuer + "/"))),
            "not registered",
        ),
        # Claims the gateway keeps.
        "no sub": (_bearer(lambda f: f.token(claims=f.claims(sub=None))), "'sub'"),
        "sub is a number": (_bearer(lambda f: f.token(claims=f.claims(sub=12))), "'sub'"),
        "sub of 500 characters": (
            _bearer(lambda f: f.token(claims=f.claims(sub="x" * 500))),
            "'sub'",
        ),
        "roles of 60 names": (
            _bearer(lambda f: f.token(claims=f.claims(roles=" ".join(f"r{i}" for i in range(60))))),
            "'roles'",
        ),
        "roles holding a number": (
            _bearer(lambda f: f.token(claims=f.claims(roles=["social_worker", 3]))),
            "'roles'",
        ),
        "team is a list": (_bearer(lambda f: f.token(claims=f.claims(team=["a"]))), "'team'"),
        "name of 5,000 characters": (
            _bearer(lambda f: f.token(claims=f.claims(name="n" * 5000))),
            "'name'",
        ),
        # The token's text.
        "token over 8 KB": (
            _bearer(lambda f: f.token(claims=f.claims(pad="p" * 9000))),
            "at most 8192",
        ),
        "two parts": (
            _bearer(lambda f: ".".join(f.token().split(".")[:2])),
            "not a well-formed JWT",
        ),
        "four parts": (_bearer(lambda f: f.token() + ".e30"), "not a well-formed JWT"),
        "empty signature": (
            _bearer(lambda f: f.token().rsplit(".", 1)[0] + "."),
            "signature does not verify",
        ),
        "signature spliced from another token": (
            _bearer(
                lambda f: (
                    f.token(claims=f.claims(sub="dr-khan")).rsplit(".", 1)[0]
                    + "."
                    + f.token().rsplit(".", 1)[1]
                )
            ),
            "signature does not verify",
        ),
        "space inside the token": (
            _bearer(lambda f: f.token().replace(".", ". ", 1)),
            "not a well-formed JWT",
        ),
        "non-ASCII in the token": (
            _bearer(lambda f: f.token() + "\u00e9"),
            "not a well-formed JWT",
        ),
        "base64 padding": (
            _bearer(lambda f: f.token().replace(".", "=.", 1)),
            "not a well-formed JWT",
        ),
        # The header itself.
        "Bearer and nothing": (lambda f: ["Bearer"], "not 'Bearer <token>'"),
        "Basic credentials": (lambda f: ["Basic dXNlcjpwYXNz"], "not 'Bearer <token>'"),
        "two valid Authorization headers": (
            lambda f: [f"Bearer {f.token()}", f"Bearer {f.token()}"],
            "more than one",
        ),
    }


def _hmac_with_public_key(forge: Forge) -> str:
    # The classic confusion: HMAC-sign with the issuer's public key as the secret.
    signing_input = f"{_b64(_json(forge.header(alg='HS256')))}.{_b64(_json(forge.claims()))}"
    mac = hmac.new(forge.key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64(mac.digest())}"


def test_there_are_enough_token_attacks() -> None:
    assert len(_attacks()) >= 40


async def _send(world: World, authorization: list[str]) -> httpx.Response:
    assert world.client is not None
    # As bytes: an attacker's header need not be ASCII, and httpx would refuse a str.
    headers = [(b"Content-Type", b"application/json")]
    headers += [(b"Authorization", value.encode()) for value in authorization]
    return await world.client.post(
        "/graphql",
        content=json.dumps({"query": NORMAL % world.person_id(0)}),
        headers=httpx.Headers(headers),
    )


async def test_every_token_attack_is_a_401_with_a_reason(world: World) -> None:
    forge = _forge(world)
    failures = []
    for name, (build, reason) in _attacks().items():
        response = await _send(world, build(forge))
        wrong = problems(response)
        if response.status_code != 401:
            wrong.append(f"status {response.status_code}")
        else:
            error = first_error(response)
            if error["extensions"]["code"] != "UNAUTHENTICATED":
                wrong.append(f"code {error['extensions']}")
            if reason not in error["message"]:
                wrong.append(f"message {error['message']!r} lacks {reason!r}")
            challenge = response.headers.get("www-authenticate", "")
            if not (
                challenge.startswith('Bearer error="invalid_token", error_description="')
                and challenge.endswith('"')
                and challenge.count('"') == 4
            ):
                wrong.append(f"challenge {challenge!r}")
        if wrong:
            failures.append(f"{name}: {'; '.join(wrong)}: {response.text[:300]}")
        await healthy(world)
    assert not failures, "\n".join(failures)
    assert world.trust.calls == [] or all(call for call in world.trust.calls), (
        "only the healthy queries reached the agencies"
    )


async def test_raw_non_latin_bytes_in_the_header_are_a_401(world: World) -> None:
    assert world.client is not None
    response = await world.client.post(
        "/graphql",
        content=json.dumps({"query": "{ me { agency } }"}),
        headers=[
            (b"Content-Type", b"application/json"),
            (b"Authorization", "Bearer \u4e00\u4e01.x.y".encode()),
        ],
    )
    assert response.status_code == 401
    assert problems(response) == []
    await healthy(world)


async def test_a_purpose_claim_outside_latin_1_is_refused_cleanly(world: World) -> None:
    forge = _forge(world)
    response = await _send(
        world, ["Bearer " + forge.token(claims=forge.claims(purpose_of_use="care\u4e00"))]
    )
    # The token is good; its purpose is one the protocol does not define: 400, not 401.
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "PURPOSE_UNKNOWN"
    assert problems(response) == []
    await healthy(world)


async def test_an_audience_list_naming_this_gateway_is_accepted(world: World) -> None:
    forge = _forge(world)
    response = await _send(
        world, ["Bearer " + forge.token(claims=forge.claims(aud=["other", forge.audience]))]
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["person"]["demographics"]["familyName"]
