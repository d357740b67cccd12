"""SMART Backend Services: real key pairs, real signed assertions, a token endpoint that
verifies them against the client's registered JWKS, and bearer tokens the server requires."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import ConnectorError, FetchRequest
from connectors.fhir import FhirConnector
from connectors.fhir_auth import AuthorisationRefused
from fame_demo.fhir_server import FhirServer
from fame_demo.fhir_synthetic import fhir_resources
from fame_demo.synthetic import Population
from gateway.core.errors import ConfigError
from tests.connectors.fhir_support import CLIENT_ID, ClientKey, agency_text, make_key, write_agency

ITEMS = frozenset({"timeline.kind", "demographics.given_name"})


class Clock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    """The gateway's RSA key pair (RS384)."""
    return make_key(tmp_path_factory.mktemp("keys"), algorithm="RS384", key_id="gw-rsa")


@pytest.fixture
def resources(population: Population) -> list[dict[str, Any]]:
    """Resources for three people."""
    return fhir_resources(population.people[:3])


@pytest.fixture
async def server(resources: list[dict[str, Any]], rsa_key: ClientKey) -> AsyncIterator[FhirServer]:
    """A FHIR server that knows the gateway's client by its RSA public key."""
    async with FhirServer(resources, clients={CLIENT_ID: rsa_key.jwks}) as running:
        yield running


async def connector_for(
    tmp_path: Path, server: FhirServer, key: ClientKey, *, clock: Clock | None = None
) -> FhirConnector:
    assert server.base_url is not None
    agency = write_agency(
        tmp_path, agency_text(server.base_url, key=key, token_url=server.token_url)
    )
    built = FhirConnector(agency, clock=clock)
    await built.open()
    return built


def request(population: Population) -> FetchRequest:
    return FetchRequest.single(tuple(p.nhs_number for p in population.people[:3]), ITEMS)


async def test_a_signed_assertion_gets_a_token_that_is_reused(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey, population: Population
) -> None:
    connector = await connector_for(tmp_path, server, rsa_key)
    try:
        first = await connector.fetch(request(population))
        second = await connector.fetch(request(population))
    finally:
        await connector.close()
    assert first == second and len(first) == 3
    assert [(t.client_id, t.issued) for t in server.token_requests] == [(CLIENT_ID, True)]
    assert server.token_requests[0].scope == (
        "system/Patient.read system/Encounter.read system/Condition.read"
    )
    assert server.posts == 2


async def test_an_es384_key_works_too(
    tmp_path: Path, resources: list[dict[str, Any]], population: Population
) -> None:
    key = make_key(tmp_path / "keys", algorithm="ES384", key_id="gw-ec")
    async with FhirServer(resources, clients={CLIENT_ID: key.jwks}) as running:
        connector = await connector_for(tmp_path, running, key)
        try:
            result = await connector.fetch(request(population))
        finally:
            await connector.close()
        assert len(result) == 3
        assert [t.issued for t in running.token_requests] == [True]


async def test_a_key_the_server_does_not_know_is_refused_clearly(
    tmp_path: Path, server: FhirServer, population: Population
) -> None:
    stranger = make_key(tmp_path / "other", algorithm="RS384", key_id="gw-rsa")
    connector = await connector_for(tmp_path, server, stranger)
    try:
        with pytest.raises(AuthorisationRefused) as caught:
            await connector.fetch(request(population))
        check = await connector.check()
    finally:
        await connector.close()
    message = str(caught.value)
    assert "token endpoint refused the gateway (HTTP 401: invalid_client" in message
    assert f"client {CLIENT_ID!r}" in message and "'gw-rsa'" in message
    assert isinstance(caught.value, ConnectorError) and caught.value.code == "AGENCY_ERROR"
    assert server.calls == [], "no search ran without a token"
    assert [t.issued for t in server.token_requests] == [False, False]
    assert check.reachable and not check.ok
    assert "refused the gateway" in check.detail


async def test_a_revoked_token_is_replaced_once_and_the_call_repeated(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey, population: Population
) -> None:
    connector = await connector_for(tmp_path, server, rsa_key)
    try:
        await connector.fetch(request(population))
        server.revoke_tokens()
        result = await connector.fetch(request(population))
    finally:
        await connector.close()
    assert len(result) == 3
    assert [t.issued for t in server.token_requests] == [True, True]
    assert server.refused == ["POST /"], "the batch with the revoked token"
    assert server.posts == 2, "the same batch again with the new token"


async def test_a_server_refusing_every_token_fails_after_one_retry(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey, population: Population
) -> None:
    connector = await connector_for(tmp_path, server, rsa_key)
    server.state.token_lifetime = 0  # tokens expire as they are issued
    try:
        with pytest.raises(ConnectorError, match="refused a fresh access token"):
            await connector.fetch(request(population))
    finally:
        await connector.close()
    assert server.refused == ["POST /", "POST /"]
    assert server.posts == 0
    assert len(server.token_requests) == 2


async def test_a_token_is_renewed_shortly_before_it_expires(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey, population: Population
) -> None:
    clock = Clock()
    connector = await connector_for(tmp_path, server, rsa_key, clock=clock)
    try:
        await connector.fetch(request(population))
        clock.now += 250  # the 300 s token has 50 s left: still used
        await connector.fetch(request(population))
        assert len(server.token_requests) == 1
        clock.now += 25  # 25 s left: within the margin, so renewed before use
        await connector.fetch(request(population))
    finally:
        await connector.close()
    assert [t.issued for t in server.token_requests] == [True, True]
    assert server.posts == 3 and server.refused == [], "no call was refused"


async def test_without_a_token_the_server_refuses(
    tmp_path: Path, server: FhirServer, population: Population
) -> None:
    assert server.base_url is not None
    agency = write_agency(tmp_path, agency_text(server.base_url))
    connector = FhirConnector(agency)
    await connector.open()
    try:
        with pytest.raises(ConnectorError, match="HTTP 401"):
            await connector.fetch(request(population))
    finally:
        await connector.close()


async def test_check_gets_a_token_and_searches(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey
) -> None:
    connector = await connector_for(tmp_path, server, rsa_key)
    try:
        check = await connector.check()
    finally:
        await connector.close()
    assert check.ok, check
    assert "SMART backend token" in check.detail
    assert [t.issued for t in server.token_requests] == [True]
    assert [c.resource_type for c in server.calls] == ["Patient"]


async def test_a_missing_key_file_is_a_config_error_when_the_connector_opens(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey
) -> None:
    assert server.base_url is not None
    missing = ClientKey(tmp_path / "nowhere.pem", rsa_key.key_id, "RS384", rsa_key.jwks)
    agency = write_agency(
        tmp_path, agency_text(server.base_url, key=missing, token_url=server.token_url)
    )
    connector = FhirConnector(agency)
    with pytest.raises(ConfigError) as caught:
        await connector.open()
    assert caught.value.key == "source.auth.private_key_file"
    assert "cannot be read" in caught.value.problem
    assert "key id 'gw-rsa'" in caught.value.fix


@pytest.mark.parametrize(
    ("algorithm", "pem", "says"),
    [
        ("RS384", "ec", "not an RSA private key"),
        ("ES384", "rsa", "not an EC (P-384) private key"),
        ("RS384", "public", "holds a public key"),
        ("RS384", "garbage", "not an RSA private key"),
    ],
)
async def test_an_unusable_key_is_a_config_error(
    tmp_path: Path, server: FhirServer, rsa_key: ClientKey, algorithm: str, pem: str, says: str
) -> None:
    from joserfc.jwk import RSAKey

    assert server.base_url is not None
    file = tmp_path / "key.pem"
    if pem == "ec":
        file.write_bytes(make_key(tmp_path / "ec", algorithm="ES384").pem_file.read_bytes())
    elif pem == "rsa":
        file.write_bytes(rsa_key.pem_file.read_bytes())
    elif pem == "public":
        file.write_bytes(RSAKey.import_key(rsa_key.pem_file.read_bytes()).as_pem(private=False))
    else:
        file.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    key = ClientKey(file, "k", algorithm, {})
    agency = write_agency(
        tmp_path, agency_text(server.base_url, key=key, token_url=server.token_url)
    )
    with pytest.raises(ConfigError, match=re.escape(says)):
        await FhirConnector(agency).open()
