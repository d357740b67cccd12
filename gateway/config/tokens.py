"""Signing keys and tokens for demo mode only.

A deployment never mints tokens: practitioners bring their own agency's
tokens. In demo mode each agency's "identity provider" is a key pair the demo
generates locally next to the JWKS file the gateway trusts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, RSAKey

from connectors.fhir_auth import SmartAuth
from gateway.config.settings import IssuerConfig, Settings
from gateway.core.errors import GatewayError


class DemoOnlyError(GatewayError):
    """Minting tokens (or making keys) was asked for outside demo mode, or without a key."""


#: How a demo gateway gets a key pair for an issuer whose JWKS file does not exist yet.
KEYS_COMMAND = "fame-gateway demo-keys"


def private_key_path(issuer: IssuerConfig) -> Path:
    """Where the demo keeps an issuer's private key: beside its JWKS file."""
    assert issuer.jwks_file is not None
    return issuer.jwks_file.with_name(issuer.jwks_file.name.replace(".jwks.json", ".private.json"))


def client_jwks_path(auth: SmartAuth) -> Path:
    """Where the demo keeps the public half of the gateway's key as a SMART client of an
    agency: beside the private key, as the JWKS the agency's server registers."""
    return auth.private_key_file.with_name(auth.private_key_file.stem + ".jwks.json")


def _generate_client_keys(settings: Settings, *, overwrite: bool) -> list[Path]:
    """The gateway's own key pair for each agency it signs in to with SMART Backend
    Services (``[source.auth]``), where missing: the private key as PEM where the agency
    file names it, the public half as a JWKS beside it (``client_jwks_path``)."""
    written: list[Path] = []
    for agency in settings.agencies:
        auth = getattr(agency.source, "auth", None)
        if not isinstance(auth, SmartAuth):
            continue
        public = client_jwks_path(auth)
        params: KeyParameters = {"kid": auth.key_id, "alg": auth.algorithm, "use": "sig"}
        kind = RSAKey if auth.algorithm == "RS384" else ECKey
        if auth.private_key_file.exists() and not overwrite:
            # A key the agency's server already knows is never replaced; only its public
            # half is written where it is missing.
            if not public.exists():
                key = kind.import_key(auth.private_key_file.read_bytes(), params)
                public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
                written.append(public)
            continue
        key = (
            RSAKey.generate_key(2048, parameters=params)
            if kind is RSAKey
            else ECKey.generate_key("P-384", parameters=params)
        )
        auth.private_key_file.parent.mkdir(parents=True, exist_ok=True)
        auth.private_key_file.write_bytes(key.as_pem(private=True))
        auth.private_key_file.chmod(0o600)
        public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        written.extend([auth.private_key_file, public])
    return written


def generate_demo_keys(settings: Settings, *, overwrite: bool = False) -> list[Path]:
    """Create a key pair for every file-based issuer, the audit signing key and, in demo
    mode, the gateway's SMART client key for each FHIR agency, where missing."""
    written: list[Path] = []
    if settings.demo:
        written.extend(_generate_client_keys(settings, overwrite=overwrite))
    audit_key = settings.audit_signing_key_file
    if audit_key is not None and (overwrite or not audit_key.exists()):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        audit_key.parent.mkdir(parents=True, exist_ok=True)
        audit_key.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        audit_key.chmod(0o600)
        written.append(audit_key)
    for issuer in settings.issuers:
        if issuer.jwks_file is None:
            continue
        if private_key_path(issuer).exists() and issuer.jwks_file.exists() and not overwrite:
            continue
        written.extend(_write_key_pair(issuer))
    return written


def new_issuer_keys(settings: Settings) -> list[Path]:
    """Demo mode only: a key pair for each file-based issuer whose JWKS file does not
    exist yet (an agency registered after the demo started), leaving every existing key
    alone, unlike ``make demo``, which also empties the state database."""
    if not settings.demo:
        raise DemoOnlyError(
            "demo keys are made only in demo mode; in production each agency's identity "
            "provider publishes its own keys (jwks_file or jwks_url)"
        )
    missing = [i for i in settings.issuers if i.jwks_file is not None and not i.jwks_file.exists()]
    written: list[Path] = []
    for issuer in missing:
        written.extend(_write_key_pair(issuer))
    return written


def _write_key_pair(issuer: IssuerConfig) -> list[Path]:
    assert issuer.jwks_file is not None
    private = private_key_path(issuer)
    key = RSAKey.generate_key(2048, parameters={"kid": f"{issuer.agency}-demo-1", "use": "sig"})
    private.parent.mkdir(parents=True, exist_ok=True)
    private.write_text(json.dumps(key.as_dict(private=True)))
    private.chmod(0o600)
    issuer.jwks_file.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    return [private, issuer.jwks_file]


def mint_token(
    settings: Settings,
    *,
    subject: str,
    agency: str,
    team: str | None,
    roles: tuple[str, ...],
    name: str | None = None,
    lifetime_seconds: int = 8 * 3600,
    purposes: tuple[str, ...] | None = None,
) -> str:
    """A token as the agency's identity provider would issue it; demo mode only.

    ``purposes`` becomes the ``purpose_of_use`` claim: the purposes of use the
    identity provider vouches the practitioner may work for (none: the protocol's
    asserted purposes for their roles).
    """
    if not settings.demo:
        raise DemoOnlyError(
            "tokens are minted only in demo mode; in production practitioners sign in with "
            "their own agency's identity provider"
        )
    issuer = next((i for i in settings.issuers if i.agency == agency), None)
    if issuer is None:
        raise DemoOnlyError(
            f"agency {agency!r} has no [[issuers]] entry in gateway.toml, so the gateway "
            "accepts no token for its practitioners: add one (agency, issuer, audience, "
            f"algorithms, jwks_file), run `{KEYS_COMMAND}`, then `fame-gateway reload`"
        )
    if issuer.jwks_file is None:
        raise DemoOnlyError(
            f"the gateway holds no signing key for {agency!r}: its issuer publishes its keys "
            f"at {issuer.jwks_url}, so its practitioners' tokens come from that identity "
            "provider alone"
        )
    private = private_key_path(issuer)
    if not issuer.jwks_file.exists():
        raise DemoOnlyError(
            f"{agency!r} has no key pair yet ({issuer.jwks_file} does not exist): run "
            f"`{KEYS_COMMAND}` to make one, then `fame-gateway reload` so that the running "
            "gateway trusts it"
        )
    if not private.exists():
        raise DemoOnlyError(
            f"the gateway holds no signing key for {agency!r}: {issuer.jwks_file.name} holds "
            f"only its identity provider's public keys (no {private.name} beside it), so its "
            "practitioners' tokens come from that identity provider alone"
        )
    key = RSAKey.import_key(json.loads(private.read_text()))
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "roles": list(roles),
    }
    if team is not None:
        claims["team"] = team
    if name is not None:
        claims["name"] = name
    if purposes is not None:
        claims["purpose_of_use"] = list(purposes)
    return jwt.encode({"alg": issuer.algorithms[0], "kid": key.kid}, claims, key)
