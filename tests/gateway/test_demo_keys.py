"""The demo's keys: besides each issuer's, the gateway's own SMART client key for every
FHIR agency that names one, where the agency file says, with its public half beside it."""

from __future__ import annotations

import json
from pathlib import Path

from connectors.fhir_auth import SmartAuth, load_signing_key
from fame_demo.synthetic import EMERGENCY_DEPARTMENT
from gateway.config.settings import load_settings
from gateway.config.tokens import client_jwks_path, generate_demo_keys
from tests.support import build_config


def test_the_demo_generates_the_gateways_smart_client_key_once(tmp_path: Path) -> None:
    config = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=tmp_path / "s")
    settings = load_settings(config)
    (agency,) = [a for a in settings.agencies if a.id == EMERGENCY_DEPARTMENT]
    auth = getattr(agency.source, "auth", None)
    assert isinstance(auth, SmartAuth)
    assert auth.private_key_file.parent == tmp_path / "keys"
    assert not auth.private_key_file.exists()

    written = generate_demo_keys(settings)
    assert {auth.private_key_file, client_jwks_path(auth)} <= set(written)
    key = load_signing_key(auth, agency.file)
    assert key.is_private  # PEM carries no kid: the agency file names it (key_id)
    (public,) = json.loads(client_jwks_path(auth).read_text())["keys"]
    assert (public["kid"], public["alg"]) == (auth.key_id, auth.algorithm)
    assert "d" not in public  # the public half only
    assert public["n"] == key.as_dict(private=False)["n"]

    # Kept on the next start, as the issuers' keys are: the agency registered this one.
    pem = auth.private_key_file.read_bytes()
    assert auth.private_key_file not in generate_demo_keys(settings)
    assert auth.private_key_file.read_bytes() == pem


def test_a_client_key_the_server_knows_is_kept_and_given_its_public_half(tmp_path: Path) -> None:
    config = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=tmp_path / "s")
    settings = load_settings(config)
    (agency,) = [a for a in settings.agencies if a.id == EMERGENCY_DEPARTMENT]
    auth = getattr(agency.source, "auth", None)
    assert isinstance(auth, SmartAuth)
    generate_demo_keys(settings)
    pem = auth.private_key_file.read_bytes()
    # The public half lost (or never written, as for a key made elsewhere): it is derived
    # from the private key, which stays the one the agency's server registered.
    client_jwks_path(auth).unlink()
    assert generate_demo_keys(settings) == [client_jwks_path(auth)]
    assert auth.private_key_file.read_bytes() == pem
    (public,) = json.loads(client_jwks_path(auth).read_text())["keys"]
    assert public["n"] == load_signing_key(auth, agency.file).as_dict(private=False)["n"]
    assert public["kid"] == auth.key_id
