"""The shape of a bearer token, checked before any signature is: bounded, ASCII, plain JSON.

Everything here runs on text an unauthenticated stranger chose, so each check
is bounded (size first, then an iterative walk of the JSON) and every failure
is an ``AuthenticationError`` naming what is wrong; nothing else can escape.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.core.errors import AuthenticationError

#: Real identity-provider tokens are 1-2 KB; a cap stops a megabyte of base64 being decoded.
MAX_TOKEN_BYTES = 8 * 1024
#: Claims nest a list or an object or two deep; a thousand levels is an attack on parsers.
_MAX_JSON_DEPTH = 8
_MAX_JSON_NODES = 2_000
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

#: Header parameters that would let the token choose its own verification key.
#: Keys come only from the issuer's registered JWKS, so a token naming one is refused.
_KEY_SOURCES = ("jku", "jwk", "x5u", "x5c")

#: Claims whose value is a time (seconds since the epoch).
_TIME_CLAIMS = ("exp", "nbf", "iat")
#: Year 9999: later times are nonsense and overflow datetime arithmetic.
_LATEST_TIME = 253_402_300_799

#: String claims the gateway keeps (in the audit among others), with their longest length.
_STRING_CLAIMS = {"sub": 200, "team": 100, "name": 200}
_MAX_ROLES = 50
_MAX_ROLE_LENGTH = 100


@dataclass(frozen=True)
class TokenParts:
    """The decoded, not yet verified, header and claims of a compact JWS."""

    header: dict[str, Any]
    claims: dict[str, Any]


def bearer_token(values: Iterable[str]) -> str:
    """The token of the one ``Authorization: Bearer`` header, or AuthenticationError."""
    headers = list(values)
    if len(headers) > 1:
        raise AuthenticationError(
            "the request has more than one Authorization header; send exactly one"
        )
    if not headers or not headers[0]:
        raise AuthenticationError(
            "no bearer token: send 'Authorization: Bearer <token>' with a token from "
            "your agency's identity provider"
        )
    scheme, _, token = headers[0].partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(
            "the Authorization header is not 'Bearer <token>'; send the token your "
            "agency's identity provider issued"
        )
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthenticationError(
            f"the bearer token is {len(token)} bytes; at most {MAX_TOKEN_BYTES} are accepted "
            "(ask your identity provider for a token with fewer claims)"
        )
    return token


def token_parts(token: str) -> TokenParts:
    """Decode the token's header and claims, refusing anything but a plain compact JWS."""
    if not token.isascii() or _COMPACT.fullmatch(token) is None:
        raise AuthenticationError(
            "the bearer token is not a well-formed JWT (three base64url parts joined by dots)"
        )
    encoded_header, encoded_claims, _signature = token.split(".")
    header = _json_object(encoded_header, "header")
    claims = _json_object(encoded_claims, "payload")
    _check_header(header)
    _check_claims(claims)
    return TokenParts(header, claims)


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise AuthenticationError(
            f"the bearer token is not a well-formed JWT: its {what} is not base64url JSON"
        ) from exc
    if not isinstance(value, dict):
        raise AuthenticationError(
            f"the bearer token is not a well-formed JWT: its {what} is not a JSON object"
        )
    _check_nesting(value, what)
    return value


def _check_nesting(value: dict[str, Any], what: str) -> None:
    # Iterative, so that no nesting the JSON parser let through can exhaust the stack later.
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if depth > _MAX_JSON_DEPTH or nodes > _MAX_JSON_NODES:
            raise AuthenticationError(
                f"the bearer token's {what} is nested or sized beyond what any identity "
                "provider issues; ask for a standard token"
            )
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise AuthenticationError(f"the bearer token's {what} holds a non-finite number")


def _check_header(header: dict[str, Any]) -> None:
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or not algorithm.isascii():
        raise AuthenticationError("the bearer token's header has no 'alg' algorithm name")
    if "crit" in header:
        # RFC 7515 4.1.11: a recipient must refuse critical extensions it does not understand,
        # and the gateway understands none.
        raise AuthenticationError(
            "the bearer token's header names critical extensions ('crit'), which this gateway "
            "does not support; ask your identity provider for a standard token"
        )
    for name in _KEY_SOURCES:
        if name in header:
            raise AuthenticationError(
                f"the bearer token's header carries {name!r}; the gateway takes keys only from "
                "the issuer's registered key set, so ask for a token without it"
            )
    for name in ("kid", "typ", "cty"):
        if name in header and not (isinstance(header[name], str) and header[name].isascii()):
            raise AuthenticationError(f"the bearer token's header {name!r} is not an ASCII string")


def _check_claims(claims: dict[str, Any]) -> None:
    issuer = claims.get("iss")
    if not isinstance(issuer, str):
        raise AuthenticationError("the bearer token has no 'iss' issuer string")
    for name in _TIME_CLAIMS:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AuthenticationError(f"the token's {name!r} claim is not a number of seconds")
        if not 0 <= value <= _LATEST_TIME:
            raise AuthenticationError(f"the token's {name!r} claim is not a plausible time")
    audience = claims.get("aud")
    if audience is not None and not (
        isinstance(audience, str)
        or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
    ):
        raise AuthenticationError("the token's 'aud' claim is not a string or a list of strings")
    for name, longest in _STRING_CLAIMS.items():
        value = claims.get(name)
        if value is None:
            continue
        if not isinstance(value, str) or not value or len(value) > longest:
            raise AuthenticationError(
                f"the token's {name!r} claim is not a string of 1 to {longest} characters"
            )
    roles = claims.get("roles")
    if roles is not None:
        listed = roles.split() if isinstance(roles, str) else roles
        if (
            not isinstance(listed, list)
            or len(listed) > _MAX_ROLES
            or not all(isinstance(r, str) and 0 < len(r) <= _MAX_ROLE_LENGTH for r in listed)
        ):
            raise AuthenticationError(
                f"the token's 'roles' claim is not a list of at most {_MAX_ROLES} role names"
            )
