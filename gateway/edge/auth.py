"""Bearer token validation against each agency's own OpenID Connect issuer.

Tokens are signed JWTs from the practitioner's own agency: no gateway
password. The issuer named in the token selects the registered agency and its
public keys; the signature, ``iss``, ``aud``, ``exp`` and the algorithm
allowlist are all enforced before a ``Requester`` exists.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from cachetools import TTLCache
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

from gateway.config.protocol import SharingProtocol
from gateway.config.settings import IssuerConfig
from gateway.core.errors import AuthenticationError, ConfigError
from gateway.decide.requester import Requester
from gateway.edge.purposes import establish
from gateway.edge.token_shape import bearer_token, token_parts

_LEEWAY_SECONDS = 30
_JWKS_TTL_SECONDS = 300.0
_KID_REFETCH_SECONDS = 30.0


@dataclass(frozen=True)
class _Issuer:
    config: IssuerConfig
    keys: KeySet
    fetched_at: float


@dataclass(frozen=True)
class _Verified:
    """A token whose signature verified: its issuer, claims and the key set that did it."""

    config: IssuerConfig
    claims: dict[str, Any]
    keys: KeySet


#: How many verified tokens are remembered, and for how long at most.
_VERIFIED_MAX = 4096
_VERIFIED_SECONDS = 300.0


class Authenticator:
    """Turns an ``Authorization`` header into a ``Requester``, or refuses with a reason."""

    def __init__(self, issuers: tuple[IssuerConfig, ...], default_purpose: str) -> None:
        self._configs = {issuer.issuer: issuer for issuer in issuers}
        self._issuers: dict[str, _Issuer] = {}
        self._default_purpose = default_purpose
        self._lock = asyncio.Lock()
        # A front end sends the same token with every request of a session: its signature
        # is checked once, not each time (an RSA verification and the JOSE parsing were a
        # tenth of a request's CPU). Only tokens that verified are kept, so nobody can
        # fill this without a key; the claims (expiry above all) are still validated on
        # every request, and a token verified by keys the issuer has since replaced is
        # verified again.
        self._verified: TTLCache[str, _Verified] = TTLCache(_VERIFIED_MAX, _VERIFIED_SECONDS)

    async def load_keys(self, session: aiohttp.ClientSession | None = None) -> None:
        """Load every issuer's public keys; files must be readable, URLs are retried later."""
        for config in self._configs.values():
            if config.jwks_file is not None:
                self._issuers[config.issuer] = _Issuer(config, _read_jwks_file(config), time.time())
            elif session is not None:
                try:
                    await self._fetch_jwks(config, session)
                except AuthenticationError:
                    # The issuer may come up later; its tokens are refused until then.
                    continue

    async def _fetch_jwks(self, config: IssuerConfig, session: aiohttp.ClientSession) -> _Issuer:
        assert config.jwks_url is not None
        try:
            async with session.get(config.jwks_url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
                if resp.status != 200:
                    raise AuthenticationError(
                        f"the keys of issuer {config.issuer} could not be fetched "
                        f"(HTTP {resp.status}); try again shortly"
                    )
                body = await resp.json(content_type=None)
            keys = KeySet.import_key_set(body)
        except (aiohttp.ClientError, TimeoutError, ValueError, JoseError) as exc:
            raise AuthenticationError(
                f"the keys of issuer {config.issuer} could not be fetched; try again shortly"
            ) from exc
        entry = _Issuer(config, keys, time.time())
        self._issuers[config.issuer] = entry
        return entry

    async def authenticate(
        self,
        authorization: str | Sequence[str] | None,
        protocol: SharingProtocol,
        purpose_header: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> Requester:
        """Validate the bearer token completely; raise AuthenticationError saying what is wrong.

        ``authorization`` is every ``Authorization`` header the request carried (or the
        one header, or None): more than one is refused rather than guessing which counts.
        Once the token is valid, the purpose of use is established (PurposeError when it
        cannot be: a 400 or 403, never a 401, since the token itself is fine).
        """
        if authorization is None or isinstance(authorization, str):
            authorization = [authorization] if authorization else []
        token = bearer_token(authorization)
        known = self._verified.get(token)
        current = self._issuers.get(known.config.issuer) if known is not None else None
        if known is not None and current is not None and current.keys is known.keys:
            config, claims = known.config, known.claims
        else:
            config, claims = await self._verify(token, session)
        registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY_SECONDS,
            iss={"essential": True, "value": config.issuer},
            aud={"essential": True, "value": config.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise AuthenticationError("the token has expired; sign in again") from exc
        except MissingClaimError as exc:
            raise AuthenticationError(f"the token has no {exc.claim!r} claim") from exc
        except InvalidClaimError as exc:
            if exc.claim == "aud":
                raise AuthenticationError(
                    f"the token was issued for another audience; this gateway accepts "
                    f"{config.audience!r}"
                ) from exc
            raise AuthenticationError(f"the token's {exc.claim!r} claim is not valid") from exc
        except ClaimError as exc:
            raise AuthenticationError(f"the token's claims are not valid ({exc.error})") from exc
        return _requester(config, claims, purpose_header, self._default_purpose, protocol)

    async def _verify(
        self, token: str, session: aiohttp.ClientSession | None
    ) -> tuple[IssuerConfig, dict[str, Any]]:
        """The token's issuer and claims once its shape, algorithm and signature check out."""
        parts = token_parts(token)
        header, claims = parts.header, parts.claims
        algorithm = header["alg"]
        issuer_name = claims["iss"]
        config = self._configs.get(issuer_name)
        if config is None:
            raise AuthenticationError(
                f"the token's issuer {issuer_name!a} is not registered with this gateway; "
                "ask for the agency's issuer to be added to gateway.toml"
            )
        if algorithm not in config.algorithms:
            raise AuthenticationError(
                f"the token is signed with {algorithm!a}, which issuer {config.issuer} is "
                f"not allowed to use (allowed: {', '.join(config.algorithms)})"
            )
        keys = await self._keys_for(config, header.get("kid"), session)
        try:
            verified = jwt.decode(token, keys, algorithms=list(config.algorithms))
        except BadSignatureError as exc:
            raise AuthenticationError("the token's signature does not verify") from exc
        except JoseError as exc:
            raise AuthenticationError(
                f"the token could not be verified ({exc.error}): it was not signed by a key "
                f"of issuer {config.issuer}"
            ) from exc
        self._verified[token] = _Verified(config, verified.claims, keys)
        return config, verified.claims

    async def _keys_for(
        self, config: IssuerConfig, kid: object, session: aiohttp.ClientSession | None
    ) -> KeySet:
        entry = self._issuers.get(config.issuer)
        stale = entry is None or (
            config.jwks_url is not None
            and (
                time.time() - entry.fetched_at > _JWKS_TTL_SECONDS
                or (
                    isinstance(kid, str)
                    and not _has_kid(entry.keys, kid)
                    # Anyone can name a kid: at most one refetch per interval, so random
                    # kids cannot make the gateway hammer the issuer.
                    and time.time() - entry.fetched_at > _KID_REFETCH_SECONDS
                )
            )
        )
        if stale and config.jwks_url is not None and session is not None:
            async with self._lock:
                # An unknown kid means the issuer rotated keys: refetch, at most once per lock.
                entry = await self._fetch_jwks(config, session)
        if entry is None:
            raise AuthenticationError(
                f"the keys of issuer {config.issuer} are not available; try again shortly"
            )
        return entry.keys


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(key.kid == kid for key in keys.keys)


def _read_jwks_file(config: IssuerConfig) -> KeySet:
    assert config.jwks_file is not None
    try:
        data = json.loads(config.jwks_file.read_text())
        return KeySet.import_key_set(data)
    except OSError as exc:
        raise ConfigError(
            config.jwks_file,
            "(file)",
            f"the JWKS of issuer {config.issuer} cannot be read ({exc.strerror})",
            "Check jwks_file in gateway.toml; in demo mode, `fame-gateway demo-keys` makes "
            "a key pair for each issuer that has none (`make demo` would also empty the "
            "state database).",
        ) from exc
    except (ValueError, JoseError) as exc:
        raise ConfigError(
            config.jwks_file,
            "(file)",
            f"is not a JSON Web Key Set ({exc})",
            "Export the issuer's public keys as a JWKS document.",
        ) from exc


def _requester(
    config: IssuerConfig,
    claims: Mapping[str, Any],
    purpose_header: str | None,
    default: str,
    protocol: SharingProtocol,
) -> Requester:
    roles = claims.get("roles", [])
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AuthenticationError("the token's 'roles' claim is not a list of role names")
    team = claims.get("team")
    if team is not None and not isinstance(team, str):
        raise AuthenticationError("the token's 'team' claim is not a string")
    purpose = establish(protocol, roles, claims.get("purpose_of_use"), purpose_header, default)
    name = claims.get("name")
    return Requester(
        practitioner=str(claims["sub"]),
        agency=config.agency,
        team=team,
        roles=frozenset(roles),
        purpose=purpose,
        name=name if isinstance(name, str) else None,
    )
