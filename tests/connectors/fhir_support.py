"""A FHIR agency for tests: the shipped template agency file pointed at a demo FHIR server,
with real key pairs for SMART Backend Services."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, RSAKey

from gateway.config.agencies import load_agencies
from gateway.core.registration import AgencyConfig
from tests.support import REPO

TEMPLATE = REPO / "gateway" / "config" / "agency_templates" / "fhir.toml"
CLIENT_ID = "fame-gateway-test"
AGENCY = "wrekin-community-fhir"

#: Elements that leave the server whatever is asked: they carry no personal data.
ALWAYS = frozenset({"resourceType", "id", "meta"})
#: The element of each type that links an answer to a person.
LINKS = {
    "Patient": "identifier",
    "Encounter": "subject",
    "Condition": "subject",
    "Observation": "subject",
    "CarePlan": "subject",
    "EpisodeOfCare": "patient",
}


@dataclass(frozen=True)
class ClientKey:
    """The gateway's key pair for one SMART client: the PEM file and the public JWKS."""

    pem_file: Path
    key_id: str
    algorithm: str
    jwks: dict[str, Any]


def make_key(directory: Path, *, algorithm: str = "RS384", key_id: str = "test-1") -> ClientKey:
    """Generate a key pair, write the private half as PEM, return the public JWKS too."""
    key: RSAKey | ECKey = (
        RSAKey.generate_key(2048, parameters={"kid": key_id})
        if algorithm == "RS384"
        else ECKey.generate_key("P-384", parameters={"kid": key_id})
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem_file = directory / f"{key_id}-{algorithm}.pem"
    pem_file.write_bytes(key.as_pem(private=True))
    public = dict(key.as_dict(private=False))
    public.update({"kid": key_id, "alg": algorithm, "use": "sig"})
    return ClientKey(pem_file, key_id, algorithm, {"keys": [public]})


def agency_text(
    base_url: str,
    *,
    key: ClientKey | None = None,
    token_url: str | None = None,
    source_lines: tuple[str, ...] = (),
    timeout: float | None = None,
    items: dict[str, str] | None = None,
) -> str:
    """The shipped template with its CHANGE values filled in (no auth table without a key)."""
    text = TEMPLATE.read_text()
    text = text.replace('"CHANGE: the agency\'s display name"', '"Wrekin Community Health (FHIR)"')
    text = re.sub(r'base_url = "[^"]*"', f'base_url = "{base_url}"', text, count=1)
    if source_lines:
        text = text.replace("[source]\n", "[source]\n" + "\n".join(source_lines) + "\n", 1)
    if timeout is not None:
        text = text.replace("timeout_seconds = 2.0", f"timeout_seconds = {timeout}")
    head, _, rest = text.partition("[source.auth]\n")
    auth, _, tail = rest.partition("\n# Catalogue item")
    if key is None:
        text = head + "# Catalogue item" + tail
    else:
        assert token_url is not None
        auth = re.sub(r'token_url = "[^"]*"', f'token_url = "{token_url}"', auth)
        auth = re.sub(r'client_id = "[^"]*"', f'client_id = "{CLIENT_ID}"', auth)
        auth = re.sub(
            r'private_key_file = "[^"]*"', f'private_key_file = "{key.pem_file.as_posix()}"', auth
        )
        auth = re.sub(r'key_id = "[^"]*"', f'key_id = "{key.key_id}"', auth)
        auth = re.sub(r'algorithm = "[^"]*"', f'algorithm = "{key.algorithm}"', auth)
        text = head + "[source.auth]\n" + auth + "\n# Catalogue item" + tail
    if items is not None:
        head, _, _ = text.partition("[items]\n")
        text = head + "[items]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in items.items())
    return text


def write_agency(directory: Path, text: str) -> AgencyConfig:
    """Write the agency file into ``directory/agencies`` and load it as the gateway does."""
    agencies = directory / "agencies"
    agencies.mkdir(parents=True, exist_ok=True)
    (agencies / f"{AGENCY}.toml").write_text(text)
    (agency,) = load_agencies(agencies, directory)
    return agency


def mapped_elements(agency: AgencyConfig, items: frozenset[str]) -> dict[str, set[str]]:
    """Per resource type, the top-level elements ``items`` need (and the link element)."""
    needed: dict[str, set[str]] = {"Patient": {LINKS["Patient"]}}
    for item in items:
        path = agency.source.items.get(item)
        if path is not None:
            needed.setdefault(path.resource_type, {LINKS[path.resource_type]}).add(path.element)
    return needed


def top_level(key: str) -> str:
    """A JSON key's element name, choice elements by their base (``onsetDateTime`` -> onset)."""
    for suffix in ("DateTime", "CodeableConcept", "Period", "Quantity", "String"):
        if key.endswith(suffix) and key != suffix:
            return key[: -len(suffix)]
    return key
