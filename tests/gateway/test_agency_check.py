"""``fame-gateway agency check FILE``: each way a new agency can be wrong gets its own message.

Every test registers a new agency from the sql (or http) starting file that
``agency new`` writes, points it at a real source (a SQLite file, a throwaway PostgreSQL
or MariaDB database, an aiohttp server on 127.0.0.1, a closed port) and asserts the
distinct message and the exit code of the command.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.cli import main
from tests.conftest import fresh_postgres_database, server_url
from tests.support import REPO, free_port

AGENCY = "new-agency"
VARIABLE = "FAME_NEW_AGENCY_DSN"
GOOD_ROWS = """
create table people(person_id varchar(20), forename varchar(40), surname varchar(40));
create table warnings(person_id varchar(20), warning_type varchar(40), level varchar(10),
                      raised_date varchar(10));
insert into people values ('P1', 'Ann', 'Example');
insert into warnings values ('P1', 'falls', 'high', '2024-03-01');
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the shipped configuration with the sql starting file written as new-agency;
    returns the new agency file."""
    copy = tmp_path / "config"
    shutil.copytree(REPO / "config", copy)
    monkeypatch.delenv(VARIABLE, raising=False)
    assert cli(copy / "gateway.toml", "agency", "new", "--kind", "sql", AGENCY)[0] == 0
    yield copy / "agencies" / f"{AGENCY}.toml"


def cli(settings: Path, *args: str) -> tuple[int, str]:
    """Run ``fame-gateway --config settings args``; its exit code and what it printed."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["--config", str(settings), *args])
    return code, out.getvalue()


def check(file: Path) -> tuple[int, str]:
    """``agency check`` of the file, with the settings beside its directory."""
    return cli(file.parent.parent / "gateway.toml", "agency", "check", str(file))


async def check_async(file: Path) -> tuple[int, str]:
    """The same from a test's event loop (the command runs its own)."""
    return await asyncio.to_thread(check, file)


def failures(output: str) -> list[str]:
    """The FAIL lines of a report."""
    return [line.strip() for line in output.splitlines() if line.strip().startswith("FAIL  ")]


def sqlite_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A SQLite file made by ``script``, its URL in the agency's variable."""
    db = tmp_path / f"agency-{uuid.uuid4().hex[:8]}.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(script)
    monkeypatch.setenv(VARIABLE, f"sqlite+aiosqlite:///{db}")
    return db


# --------------------------------------------------------------------------- the protocol


def test_a_good_agency_connects_before_the_protocol_lists_it_then_passes_once_it_does(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_source(tmp_path, monkeypatch, GOOD_ROWS)

    code, output = check(config)

    assert code == 1, output
    assert "ok    connected to sqlite+aiosqlite:///" in output, "connected before the protocol"
    assert "ok    alerts.raised_on -> warnings.raised_date (Date: 1 values read fit)" in output
    assert failures(output) == [
        "FAIL  the sharing protocol does not list 5 of the 5 mapped items "
        "(never shared until it does)"
    ]
    assert "not in the sharing protocol: alerts.category, alerts.raised_on" in output
    proposal = output.split("then run `fame-gateway protocol render`:\n", 1)[1]
    assert "[[clause]]" in proposal and f'agencies = ["{AGENCY}"]' in proposal

    # The clause, once agreed (its number given), is what makes the check pass.
    clause = re.sub(
        r"TO-AGREE-(\d)", r"ISP-99.\1", "\n".join(line[4:] for line in proposal.splitlines())
    )
    protocol = config.parent.parent / "sharing-protocol.toml"
    protocol.write_text(protocol.read_text() + "\n" + clause)
    code, output = check(config)
    assert code == 0, output
    assert failures(output) == []
    assert "the sharing protocol lists every mapped item" in output


# --------------------------------------------------------------------------- the URL


def test_unset_variable(config: Path) -> None:
    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == (
        f"FAIL  source.url_env: names the environment variable {VARIABLE}, which is not set"
    )
    assert f"export {VARIABLE}=" in output
    assert "connected" not in output


def test_wrong_dsn(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "postgresql+asyncpg//reader@db.example/records")

    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == (
        "FAIL  source.url_env: holds something that is not a database URL"
    )
    assert "postgresql+asyncpg://reader@db.example/records" in output, "an example to follow"


def test_wrong_dsn_written_in_the_file(config: Path) -> None:
    text_of = config.read_text().replace(f'url_env = "{VARIABLE}"', 'url = "sqlite:///x.sqlite"')
    config.write_text(text_of)

    code, output = check(config)

    assert code == 1
    assert "FAIL  the file has 1 problem(s)" in output
    assert f"{config}: source.url: Write sqlite+aiosqlite://... instead." in output


def test_unreachable_host(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv(VARIABLE, f"postgresql+asyncpg://reader@127.0.0.1:{port}/records")

    code, output = check(config)

    assert code == 1
    (first, *_) = failures(output)
    assert first.startswith(
        f"FAIL  source.url_env: points at 127.0.0.1:{port}, which refused the connection"
    )
    assert "ConnectionRefusedError" in first, "the driver's own cause"


def test_unreachable_host_name(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "postgresql+asyncpg://reader@no-such-host.invalid/records")

    code, output = check(config)

    assert code == 1
    assert failures(output)[0].startswith(
        "FAIL  source.url_env: names the host 'no-such-host.invalid', which could not be found"
    )


def test_missing_sqlite_file(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.sqlite"
    monkeypatch.setenv(VARIABLE, f"sqlite+aiosqlite:///{missing}")

    code, output = check(config)

    assert code == 1
    assert failures(output)[0].startswith(
        f"FAIL  source.url_env: names the SQLite file {missing}, which does not exist"
    )
    assert not missing.exists(), "opened read-only: never created"


# --------------------------------------------------------------------------- the mapping


def test_missing_table(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_source(tmp_path, monkeypatch, GOOD_ROWS.replace("warnings", "warning"))

    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == "FAIL  tables.warnings: names a table the database does not have"
    assert "Did you mean 'warning'?" in output
    assert "it has: people, warning." in output


def test_missing_column(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite_source(tmp_path, monkeypatch, GOOD_ROWS.replace("level", "levels"))

    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == (
        "FAIL  items.\"alerts.severity\": maps to column 'level', which table 'warnings' "
        "does not have"
    )
    assert (
        "Did you mean 'levels'? Use one of: levels, person_id, raised_date, warning_type." in output
    )


def test_type_mismatch_in_the_values(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqlite_source(tmp_path, monkeypatch, GOOD_ROWS.replace("'2024-03-01'", "'Initial CP'"))

    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == (
        'FAIL  items."alerts.raised_on": maps to column warnings.raised_date, which holds '
        "'Initial CP': not a date (YYYY-MM-DD), so the item alerts.raised_on (Date) would be "
        "served as 'Initial CP' (1 of 1 values read do not fit)"
    )


def test_type_mismatch_in_the_declared_type(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An empty table: only the column's declared type can tell.
    script = GOOD_ROWS.replace("raised_date varchar(10)", "raised_date real").split("insert")[0]
    sqlite_source(tmp_path, monkeypatch, script)

    code, output = check(config)

    assert code == 1
    assert failures(output)[0] == (
        'FAIL  items."alerts.raised_on": maps to column warnings.raised_date of type REAL, '
        "which cannot hold a date (YYYY-MM-DD) as the item alerts.raised_on (Date) needs"
    )


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
async def postgres() -> AsyncIterator[str]:
    """A throwaway PostgreSQL database holding the good rows; its URL."""
    async with fresh_postgres_database() as url:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for statement in GOOD_ROWS.split(";"):
                if statement.strip():
                    await conn.execute(text(statement))
            await conn.execute(
                text("insert into warnings values ('P2', 'lone working', 'low', 'Initial CP')")
            )
        await engine.dispose()
        yield url


async def test_postgres_type_mismatch(
    config: Path, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, postgres)

    code, output = await check_async(config)

    assert code == 1
    assert "ok    connected to postgresql+asyncpg://" in output
    assert failures(output)[0].startswith(
        'FAIL  items."alerts.raised_on": maps to column warnings.raised_date, which holds '
        "'Initial CP': not a date"
    )


async def test_postgres_wrong_database(
    config: Path, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(postgres).set(database="no_such_fame_db")
    monkeypatch.setenv(VARIABLE, url.render_as_string(hide_password=False))

    code, output = await check_async(config)

    assert code == 1
    first = failures(output)[0]
    assert first.startswith(
        "FAIL  source.url_env: names the database 'no_such_fame_db', which "
        f"{url.host}:{url.port or 5432} does not have"
    )
    assert "asyncpg InvalidCatalogNameError" in first, "the driver's own cause"
    assert "Check the database name at the end of the URL in FAME_NEW_AGENCY_DSN" in output


async def test_postgres_wrong_user(
    config: Path, postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = make_url(postgres).set(username="no_such_fame_user")
    monkeypatch.setenv(VARIABLE, url.render_as_string(hide_password=False))

    code, output = await check_async(config)

    assert code == 1
    first = failures(output)[0]
    assert first.startswith(
        "FAIL  source.url_env: logs in as 'no_such_fame_user', whom "
        f"{url.host}:{url.port or 5432} refused: wrong user name or password"
    )
    assert "asyncpg InvalidAuthorizationSpecificationError" in first


# --------------------------------------------------------------------------- MariaDB


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"database": "no_such_fame_db"}, "names the database 'no_such_fame_db', which"),
        ({"password": "not-the-password"}, "refused: wrong user name or password"),
    ],
    ids=["wrong-database-1049", "wrong-password-1045"],
)
async def test_mariadb_wrong_database_or_password(
    config: Path, monkeypatch: pytest.MonkeyPatch, change: dict[str, str], says: str
) -> None:
    base = server_url(
        "FAME_TEST_MARIADB_URL",
        "MariaDB",
        "FAME_TEST_MARIADB_URL=mysql+aiomysql://root@127.0.0.1:3306/test",
    )
    url = make_url(base).set(**change)  # type: ignore[arg-type]
    monkeypatch.setenv(VARIABLE, url.render_as_string(hide_password=False))

    code, output = await check_async(config)

    assert code == 1
    first = failures(output)[0]
    assert says in first
    assert "pymysql OperationalError: (10" in first, "the driver's own cause and code"
    assert "not-the-password" not in output, "the report never repeats a password"


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
async def api() -> AsyncIterator[str]:
    """A real aiohttp server on 127.0.0.1 answering /people only; its base URL."""

    async def people(_request: web.Request) -> web.Response:
        return web.json_response({"results": []})

    app = web.Application()
    app.router.add_get("/people", people)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def http_agency(settings: Path, base_url: str, path: str) -> Path:
    """An http agency from the starting file, pointed at ``base_url`` + ``path``."""
    name = "new-trust"
    code, _ = await asyncio.to_thread(cli, settings, "agency", "new", "--kind", "http", name)
    assert code == 0
    file = settings.parent / "agencies" / f"{name}.toml"
    file.write_text(
        file.read_text()
        .replace('base_url = "https://api.agency.example"', f'base_url = "{base_url}"')
        .replace('path = "/people"', f'path = "{path}"')
    )
    return file


async def test_http_missing_endpoint(config: Path, api: str) -> None:
    file = await http_agency(config.parent.parent / "gateway.toml", api, "/v2/people")

    code, output = await check_async(file)

    assert code == 1
    assert failures(output)[0] == (
        f"FAIL  source.path: names the endpoint {api}/v2/people, which answered "
        "HTTP 404 Not Found: there is no such endpoint"
    )


async def test_http_endpoint_that_answers(config: Path, api: str) -> None:
    file = await http_agency(config.parent.parent / "gateway.toml", api, "/people")

    code, output = await check_async(file)

    # Reached and well-formed: only the protocol's cover is left to do.
    assert f"ok    {api}/people answered" in output
    assert failures(output) == [
        "FAIL  the sharing protocol does not list 5 of the 5 mapped items "
        "(never shared until it does)"
    ]
    assert code == 1


async def test_http_unset_token_variable(config: Path, api: str) -> None:
    file = await http_agency(config.parent.parent / "gateway.toml", api, "/people")
    file.write_text(file.read_text().replace('# token_env = "', 'token_env = "'))

    code, output = await check_async(file)

    assert code == 1
    assert failures(output)[0] == (
        "FAIL  source.token_env: names the environment variable FAME_NEW_TRUST_TOKEN, "
        "which is not set"
    )


def test_json_report(config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    sqlite_source(tmp_path, monkeypatch, GOOD_ROWS.replace("'2024-03-01'", "'Initial CP'"))

    code, output = cli(
        config.parent.parent / "gateway.toml", "agency", "check", "--json", str(config)
    )

    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert [p["key"] for p in report["problems"]] == ['items."alerts.raised_on"']
    assert len(report["unlisted_items"]) == 5 and "[[clause]]" in report["clause"]
