"""``fame-gateway token --agency ...`` mints for any practitioner of a registered agency
whose signing key a demo gateway holds, and refuses, saying what to do, everywhere else;
``fame-gateway demo-keys`` makes keys only for issuers that have none."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from gateway.cli import main
from gateway.config.settings import load_settings
from gateway.config.tokens import generate_demo_keys, private_key_path
from tests.gateway.reload_files import edit
from tests.support import build_config

HOUSING = "shire-housing"
OFFICER = ("--subject", "ho-new", "--name", "Nia Rees", "--role", "housing_officer")
TEAM = "Tenancy Sustainment Team"


@pytest.fixture
def config(tmp_path: Path, store_dir: Path) -> Path:
    """A copy of the demo configuration with every issuer's demo keys."""
    file = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=store_dir)
    generate_demo_keys(load_settings(file))
    return file


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--config", str(config), *args])
        except SystemExit as exc:  # argparse refusing an argument
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def claims_of(config: Path, agency: str, token: str) -> dict[str, object]:
    """The token's claims, once its signature is verified with the agency's public keys."""
    issuer = next(i for i in load_settings(config).issuers if i.agency == agency)
    assert issuer.jwks_file is not None
    keys = KeySet.import_key_set(json.loads(issuer.jwks_file.read_text()))
    claims: dict[str, object] = jwt.decode(token, keys).claims
    return claims


def test_a_practitioner_of_a_registered_agency_gets_a_token_its_issuer_signed(
    config: Path,
) -> None:
    code, out, err = cli(config, "token", "--agency", HOUSING, *OFFICER, "--team", TEAM)

    assert code == 0, err
    assert err == ""
    claims = claims_of(config, HOUSING, out.strip())
    assert claims["iss"] == "https://login.shire-housing.demo.invalid"
    assert claims["aud"] == "fame-gateway"
    assert (claims["sub"], claims["name"], claims["team"]) == ("ho-new", "Nia Rees", TEAM)
    assert claims["roles"] == ["housing_officer"]
    assert "purpose_of_use" not in claims


def test_roles_and_purposes_repeat(config: Path) -> None:
    code, out, err = cli(
        config,
        "token",
        "--agency",
        "shire-adult-social-care",
        "--subject",
        "sw-new",
        "--role",
        "social_worker",
        "--role",
        "occupational_therapist",
        "--purpose",
        "direct_care",
        "--purpose",
        "care_planning",
    )

    assert code == 0, err
    claims = claims_of(config, "shire-adult-social-care", out.strip())
    assert claims["roles"] == ["social_worker", "occupational_therapist"]
    assert claims["purpose_of_use"] == ["direct_care", "care_planning"]
    assert "team" not in claims and "name" not in claims


def test_the_sample_practitioners_are_minted_as_before(config: Path) -> None:
    code, out, err = cli(config, "token", "dr-okafor")

    assert code == 0, err
    claims = claims_of(config, "riverside-gp", out.strip())
    assert (claims["sub"], claims["team"], claims["roles"]) == (
        "dr-okafor",
        "riverside-gp",
        ["gp"],
    )


def test_a_team_in_none_of_the_agencys_services_is_minted_with_a_note(config: Path) -> None:
    code, out, err = cli(config, "token", "--agency", HOUSING, *OFFICER, "--team", "Tenancy Team")

    assert code == 0, err
    assert claims_of(config, HOUSING, out.strip())["team"] == "Tenancy Team"
    assert "note: team 'Tenancy Team' is in none of shire-housing's services" in err
    assert TEAM in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--agency", "clunbury-childrens-services", *OFFICER],
            "'clunbury-childrens-services' is not a registered agency (registered: oakfield-gp, "
            "riverside-gp, severn-valley-ed, ",
        ),
        (
            ["--agency", HOUSING, "--subject", "x", "--role", "housing-officer"],
            "the sharing protocol has no role 'housing-officer'; use one of: caldicott_guardian",
        ),
        (
            ["--agency", HOUSING, "--subject", "x", "--role", "housing_officer", "--purpose", "x"],
            "the sharing protocol has no purpose 'x'; use one of: audit, care_planning",
        ),
        (
            ["--agency", HOUSING, "--role", "housing_officer"],
            "say whom the token is for: a sample practitioner (fame-gateway token sw-patel), "
            "or a practitioner of a registered agency with --agency ID --subject LOGIN",
        ),
        (
            ["sw-patel", "--agency", HOUSING],
            "give either a sample practitioner (sw-patel) or a practitioner of a registered "
            "agency with --agency and its options (--agency given), not both",
        ),
        ([], "missing: --agency, --subject, --role"),
    ],
)
def test_refusals_say_what_to_do(config: Path, args: list[str], says: str) -> None:
    code, out, err = cli(config, "token", *args)

    assert code == 2
    assert out == ""
    assert says in err, err


def test_outside_demo_mode_no_token_is_minted(config: Path) -> None:
    edit(config, 'mode = "demo"', 'mode = "production"')

    code, out, err = cli(config, "token", "--agency", HOUSING, *OFFICER)

    assert (code, out) == (2, "")
    assert "tokens are minted only in demo mode" in err


def test_an_agency_without_an_issuer_is_told_how_to_add_one(config: Path) -> None:
    settings = config.read_text()
    block = re.search(r'\[\[issuers\]\]\nagency = "shire-housing"\n(?:.+\n)*', settings)
    assert block is not None
    config.write_text(settings.replace(block.group(0), ""))

    code, _, err = cli(config, "token", "--agency", HOUSING, *OFFICER)

    assert code == 2
    assert "'shire-housing' has no [[issuers]] entry in gateway.toml" in err
    assert "run `fame-gateway demo-keys`, then `fame-gateway reload`" in err


def test_an_issuer_publishing_its_keys_at_a_url_mints_nothing(config: Path) -> None:
    edit(
        config,
        f'jwks_file = "{config.parent.parent.as_posix()}/keys/shire-housing.jwks.json"',
        'jwks_url = "https://login.shire-housing.demo.invalid/jwks"',
    )

    code, _, err = cli(config, "token", "--agency", HOUSING, *OFFICER)

    assert code == 2
    assert "the gateway holds no signing key for 'shire-housing'" in err
    assert "https://login.shire-housing.demo.invalid/jwks" in err


def test_public_keys_alone_mint_nothing(config: Path) -> None:
    issuer = next(i for i in load_settings(config).issuers if i.agency == HOUSING)
    private_key_path(issuer).unlink()

    code, _, err = cli(config, "token", "--agency", HOUSING, *OFFICER)

    assert code == 2
    assert "shire-housing.jwks.json holds only its identity provider's public keys" in err
    # demo-keys never replaces an agency's published keys with a pair of its own.
    assert issuer.jwks_file is not None
    published = issuer.jwks_file.read_bytes()
    assert cli(config, "demo-keys")[0] == 0
    assert issuer.jwks_file.read_bytes() == published
    assert not private_key_path(issuer).exists()


def test_demo_keys_makes_a_pair_for_a_new_issuer_only(config: Path) -> None:
    keys = config.parent.parent / "keys"
    existing = {file.name: file.read_bytes() for file in keys.iterdir()}
    config.write_text(
        config.read_text()
        .replace(
            'agency = "shire-housing"\nissuer = "https://login.shire-housing.demo.invalid"',
            'agency = "shire-housing"\nissuer = "https://login.housing.example.invalid"',
        )
        .replace("keys/shire-housing.jwks.json", "keys/housing-idp.jwks.json")
    )
    refused = cli(config, "token", "--agency", HOUSING, *OFFICER)
    assert refused[0] == 2
    assert "does not exist): run `fame-gateway demo-keys` to make one" in refused[2]

    code, out, err = cli(config, "demo-keys")

    assert code == 0, err
    assert f"wrote {keys / 'housing-idp.private.json'}" in out
    assert f"wrote {keys / 'housing-idp.jwks.json'}" in out
    assert "run `fame-gateway reload`" in out
    assert {f.name: f.read_bytes() for f in keys.iterdir() if f.name in existing} == existing
    assert (keys / "housing-idp.private.json").stat().st_mode & 0o077 == 0
    minted = cli(config, "token", "--agency", HOUSING, *OFFICER)
    assert minted[0] == 0, minted[2]
    assert claims_of(config, HOUSING, minted[1].strip())["sub"] == "ho-new"

    again = cli(config, "demo-keys")
    assert again[0] == 0 and "nothing was made" in again[1]


def test_demo_keys_refuses_outside_demo_mode(config: Path) -> None:
    edit(config, 'mode = "demo"', 'mode = "production"')

    code, out, err = cli(config, "demo-keys")

    assert (code, out) == (2, "")
    assert "demo keys are made only in demo mode" in err


def test_a_draft_agency_the_protocol_does_not_cover_yet_is_named_not_a_start_refused(
    config: Path,
) -> None:
    draft = config.parent / "agencies" / "clunbury-childrens-services.toml"
    assert cli(config, "agency", "new", "--kind", "sql", draft.stem)[0] == 0

    code, out, err = cli(config, "token", "sw-patel")

    assert (code, out) == (2, "")
    assert err.startswith("fame-gateway: cannot run: the configuration has 5 problem(s)"), err
    assert f'{draft}: items."alerts.category": maps an item the sharing protocol' in err
    assert "refusing to start" not in err
