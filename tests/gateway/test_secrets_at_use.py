"""An agency's secret (url_env, token_env) is read when its connector opens, not when its
file is read: commands that never call the agency run where the secret is not set, and
``serve`` still refuses to start, naming the variable."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.settings import Settings, load_settings
from gateway.config.tokens import generate_demo_keys
from gateway.core.errors import ConfigError
from gateway.service import Gateway
from tests.support import build_config

DSN = "FAME_TEST_HOUSING_UNSET_DSN"
TOKEN = "FAME_TEST_TRUST_UNSET_TOKEN"


@pytest.fixture
def settings(tmp_path: Path, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The demo configuration with housing's URL and the trust's token in unset variables."""
    monkeypatch.delenv(DSN, raising=False)
    monkeypatch.delenv(TOKEN, raising=False)
    config = build_config(tmp_path, trust_url="http://127.0.0.1:8701", store_dir=store_dir)
    housing = config.parent / "agencies" / "shire-housing.toml"
    housing.write_text(
        housing.read_text().replace(
            f'url = "sqlite+aiosqlite:///{store_dir.as_posix()}/shire-housing.sqlite"',
            f'url_env = "{DSN}"',
        )
    )
    trust = config.parent / "agencies" / "shire-community-health.toml"
    trust.write_text(
        trust.read_text().replace(
            'results_key = "people"', f'results_key = "people"\ntoken_env = "{TOKEN}"'
        )
    )
    loaded = load_settings(config)
    assert loaded.agency("shire-housing").source.url_env == DSN
    assert loaded.agency("shire-community-health").source.token_env == TOKEN
    generate_demo_keys(loaded)
    return loaded


def cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(settings.config_dir / "gateway.toml"), *args])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["items"], "demographics.given_name"),
        (["schema"], "type Query"),
        (["protocol", "render"], "Shire Council Housing Service"),
        (["token", "sw-patel"], "."),
        (["documents", "list"], ""),
        (["db", "upgrade"], "state database"),
    ],
)
def test_commands_that_do_not_call_the_agency_run_without_its_secret(
    settings: Settings, command: list[str], says: str
) -> None:
    code, out, err = cli(settings, *command)
    assert code == 0, err
    assert says in out
    assert DSN not in err and TOKEN not in err


def test_audit_commands_run_without_the_secret(settings: Settings) -> None:
    assert cli(settings, "db", "upgrade")[0] == 0
    code, out, err = cli(settings, "audit", "verify")
    assert code == 0, err
    assert "the audit chain holds" in out
    code, out, err = cli(settings, "audit", "export")
    assert code == 0, err
    assert '"resourceType": "Bundle"' in out


async def test_serve_refuses_to_start_naming_the_variable(settings: Settings) -> None:
    gateway = Gateway(settings)
    with pytest.raises(ConfigError) as caught:
        await gateway.start()
    await gateway.stop()
    error = caught.value
    assert error.key in {"source.url_env", "source.token_env"}
    assert f"names the environment variable {DSN if 'url' in error.key else TOKEN}" in str(error)
    assert "which is not set" in error.problem
