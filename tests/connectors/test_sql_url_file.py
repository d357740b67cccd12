"""``url_file``: a sql agency's database URL kept in a file and read when the connector
opens, so that a gateway already running (whose environment cannot gain a variable) can
take a new agency with its secret at a reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import create_connector
from fame_demo.synthetic import Population
from gateway.config.agencies import load_agencies
from gateway.config.catalogue import catalogue_of_settings
from gateway.core.errors import ConfigError, ConfigErrors
from gateway.core.registration import AgencyConfig
from tests.support import REPO

HOUSING = REPO / "config" / "agencies" / "shire-housing.toml"
INLINE = 'url = "sqlite+aiosqlite:///../.demo/shire-housing.sqlite"'
SECRET = "secrets/shire-housing.dsn"
#: The demo's catalogue, with the pilots' record sets its housing agency maps.
DEMO_CATALOGUE = catalogue_of_settings(REPO / "config" / "gateway.toml")


def housing(tmp_path: Path, source: str) -> list[AgencyConfig] | ConfigErrors:
    """The demo's housing agency with its ``[source]`` URL line replaced, loaded with
    ``tmp_path`` as the settings' directory."""
    directory = tmp_path / "agencies"
    directory.mkdir(exist_ok=True)
    text = HOUSING.read_text()
    assert text.count(INLINE) == 1
    (directory / "shire-housing.toml").write_text(text.replace(INLINE, source))
    try:
        return list(load_agencies(directory, tmp_path, catalogue=DEMO_CATALOGUE))
    except ConfigErrors as exc:
        return exc


def secret(tmp_path: Path, content: str) -> Path:
    file = tmp_path / SECRET
    file.parent.mkdir(exist_ok=True)
    file.write_text(content)
    file.chmod(0o600)
    return file


async def test_the_url_is_read_from_the_file_when_the_connector_opens(
    tmp_path: Path, store_dir: Path, population: Population
) -> None:
    # Read from the file only when the connector opens: loading needs no file.
    loaded = housing(tmp_path, f'url_file = "{SECRET}"')
    assert isinstance(loaded, list), loaded
    (agency,) = loaded
    secret(tmp_path, f"sqlite+aiosqlite:///{store_dir / 'shire-housing.sqlite'}\n")

    connector = create_connector(agency)
    await connector.open()
    try:
        check = await connector.check()
    finally:
        await connector.close()

    assert check.ok, check
    assert f"{store_dir}/shire-housing.sqlite?mode=ro" in check.passed[0], "read-only"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "names {file}, which cannot be read (No such file or directory)"),
        ("not a url at all", "holds something that is not a database URL"),
        ("postgresql://reader:pw@db.example/records", "uses the driver 'postgresql'"),
    ],
)
async def test_a_file_that_gives_no_usable_url_is_named_with_what_to_do(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    loaded = housing(tmp_path, f'url_file = "{SECRET}"')
    assert isinstance(loaded, list), loaded
    (agency,) = loaded
    if content is not None:
        secret(tmp_path, content)

    connector = create_connector(agency)
    with pytest.raises(ConfigError) as raised:
        await connector.open()
    await connector.close()

    error = raised.value
    assert error.key == "source.url_file"
    assert problem.format(file=tmp_path / SECRET) in error.problem
    if content is None:
        assert "Write the database URL alone into" in error.fix
        assert "read from the settings' directory" in error.fix


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (f'{INLINE}\nurl_file = "{SECRET}"', "url and url_file are set"),
        (f'url_env = "FAME_X_DSN"\nurl_file = "{SECRET}"', "url_env and url_file are set"),
        ('url_file = ""', "source.url_file: is empty"),
        ("url_file = 3", "source.url_file: is 3, not text"),
    ],
)
def test_exactly_one_source_of_the_url(tmp_path: Path, source: str, problem: str) -> None:
    loaded = housing(tmp_path, source)

    assert isinstance(loaded, ConfigErrors)
    messages = [f"{error.key}: {error.problem}. {error.fix}" for error in loaded.errors]
    assert any(problem in message for message in messages), messages
    if "are set" in problem:
        assert any("url_file naming a file" in message for message in messages), messages
