"""SMART Backend Services authorisation for the ``fhir`` connector.

The gateway is a registered backend client of the agency's authorisation server. It
proves who it is with a short-lived JWT (the client assertion: ``iss`` = ``sub`` = its
client id, ``aud`` = the token URL, a fresh ``jti``) signed with its own private key
(RS384 or ES384, the two SMART requires servers to accept), exchanges it at the token
endpoint for an access token (``grant_type=client_credentials``), and keeps that token
until shortly before it expires. A FHIR call answered 401 makes it fetch a new token
and try once more: the server may have revoked the old one early.

The private key file is read when the connector opens, never when the agency file is
parsed, so that commands which do not call the agency run where the key is absent.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from connectors.base import ConnectorError
from connectors.fhir_http import exchange, outcome_text
from connectors.http_read import Caller
from gateway.core.errors import ConfigError

#: The signing algorithms SMART Backend Services asks servers to support.
Algorithm = Literal["RS384", "ES384"]
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: SMART asks that an assertion live no longer than five minutes.
_ASSERTION_SECONDS = 300


class AuthorisationRefused(ConnectorError):
    """The agency's authorisation server refused the gateway (bad key, unknown client, scope)."""


@dataclass(frozen=True)
class SmartAuth:
    """The validated ``[source.auth]`` table; the key file is only a path here."""

    token_url: str
    client_id: str
    private_key_file: Path
    key_id: str
    algorithm: str
    scope: str


def load_signing_key(auth: SmartAuth, agency_file: Path) -> RSAKey | ECKey:
    """Read the private key; a missing or unusable key is a ConfigError saying how to fix it."""
    where = "source.auth.private_key_file"
    register = (
        f"its public half registered with the agency's authorisation server for client "
        f"{auth.client_id!r} under key id {auth.key_id!r}"
    )
    try:
        pem = auth.private_key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            agency_file,
            where,
            f"names {auth.private_key_file}, which cannot be read ({exc.strerror})",
            f"Put the gateway's private key there as PEM, {register}.",
        ) from exc
    key: RSAKey | ECKey
    try:
        key = RSAKey.import_key(pem) if auth.algorithm == "RS384" else ECKey.import_key(pem)
    except (ValueError, JoseError) as exc:
        kind = "an RSA" if auth.algorithm == "RS384" else "an EC (P-384)"
        raise ConfigError(
            agency_file,
            where,
            f"is not {kind} private key in PEM, as algorithm {auth.algorithm} needs",
            "Write the key as PEM (-----BEGIN PRIVATE KEY-----), or set algorithm to match it.",
        ) from exc
    if not key.is_private:
        raise ConfigError(
            agency_file,
            where,
            "holds a public key",
            f"Point it at the private key; the public half is {register}.",
        )
    if isinstance(key, ECKey) and key.curve_name != "P-384":
        raise ConfigError(
            agency_file,
            where,
            f"holds an EC key on {key.curve_name}, but ES384 signs with P-384",
            "Generate a P-384 key (openssl ecparam -name secp384r1 -genkey).",
        )
    return key


class TokenSource:
    """Access tokens for one agency: fetched with a signed assertion, cached, refreshed."""

    def __init__(
        self,
        auth: SmartAuth,
        key: RSAKey | ECKey,
        caller: Caller,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` measures token lifetimes (seconds, any origin); assertions carry the
        wall-clock time, as the token endpoint checks them against its own."""
        self._auth = auth
        self._key = key
        self._caller = caller
        self._clock = clock
        self._token: str | None = None
        self._usable_until = 0.0
        self._lock = asyncio.Lock()

    def assertion(self) -> str:
        """A fresh client assertion: a JWT signed with the gateway's key."""
        now = int(time.time())
        claims: Mapping[str, Any] = {
            "iss": self._auth.client_id,
            "sub": self._auth.client_id,
            "aud": self._auth.token_url,
            "iat": now,
            "exp": now + _ASSERTION_SECONDS,
            "jti": secrets.token_urlsafe(24),
        }
        header = {"alg": self._auth.algorithm, "kid": self._auth.key_id, "typ": "JWT"}
        return jwt.encode(header, dict(claims), self._key, algorithms=[self._auth.algorithm])

    async def token(self, session: aiohttp.ClientSession) -> str:
        """A current access token, fetched only when none is held or it is about to expire."""
        if self._token is not None and self._clock() < self._usable_until:
            return self._token
        async with self._lock:
            # Another call may have fetched one while this one waited.
            if self._token is not None and self._clock() < self._usable_until:
                return self._token
            token, lifetime = await self._request(session)
            # Kept until shortly before expiry, so a call never leaves with a dying token.
            self._usable_until = self._clock() + lifetime - min(30.0, lifetime * 0.1)
            self._token = token
            return token

    def discard(self, token: str) -> None:
        """Forget ``token`` (the server refused it), unless a newer one replaced it already."""
        if self._token == token:
            self._token = None

    async def _request(self, session: aiohttp.ClientSession) -> tuple[str, float]:
        caller, auth = self._caller, self._auth
        answer = await exchange(
            session,
            caller,
            "POST",
            auth.token_url,
            what="the token request",
            headers={"Accept": "application/json"},
            data={
                "grant_type": "client_credentials",
                "scope": auth.scope,
                "client_assertion_type": _ASSERTION_TYPE,
                "client_assertion": self.assertion(),
            },
        )
        if answer.status in {400, 401, 403}:
            detail = outcome_text(answer.body)
            raise AuthorisationRefused(
                caller.agency_id,
                f"{caller.name}'s token endpoint refused the gateway (HTTP {answer.status}"
                f"{': ' + detail if detail else ''}); check that client {auth.client_id!r} is "
                f"registered there with the public key {auth.key_id!r} and may have the scope "
                f"{auth.scope!r}",
            )
        if answer.status != 200:
            raise ConnectorError(
                caller.agency_id, f"{caller.name}'s token endpoint answered HTTP {answer.status}"
            )
        body = answer.body
        token = body.get("access_token") if isinstance(body, dict) else None
        token_type = body.get("token_type") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or str(token_type).lower() != "bearer":
            raise ConnectorError(
                caller.agency_id,
                f"{caller.name}'s token endpoint answered without a bearer access_token",
            )
        assert isinstance(body, dict)
        lifetime = body.get("expires_in", 300)
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = 300
        return token, float(lifetime)
