"""The state database's schema: made and upgraded by the migrations, which match the
table definitions exactly, adopt a database of the previous release, and let several
processes start together on an empty PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Connection,
    inspect,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from fame_demo.synthetic import Population
from gateway.audit.chain import record_hash
from gateway.audit.log import AuditLog
from gateway.cli import main
from gateway.config.settings import load_settings
from gateway.config.tokens import generate_demo_keys
from gateway.governance.migrate import (
    SchemaOutOfDate,
    alembic_config,
    head_revision,
    require_current_schema,
    schema_state,
    upgrade_schema,
)
from gateway.governance.person_index import PersonIndex
from gateway.governance.state import (
    audit_head,
    create_state_engine,
    disclosures,
    metadata,
    person_links,
    person_postcodes,
)
from gateway.service import Gateway
from tests.conftest import fresh_postgres_database
from tests.support import Process, build_config, metadata_before_migrations, social_worker_token

KINDS = ["sqlite", "postgres"]


@contextlib.asynccontextmanager
async def _database(kind: str, tmp_path: Path) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}"
        return
    async with fresh_postgres_database() as url:
        yield url


def _differences(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("kind", KINDS)
async def test_the_migrations_make_exactly_the_tables_defined(kind: str, tmp_path: Path) -> None:
    async with _database(kind, tmp_path) as url:
        engine = create_state_engine(url)
        try:
            before, after = await upgrade_schema(engine)
            assert before.current is None and not before.legacy
            assert after.current == head_revision() and after.up_to_date
            async with engine.connect() as conn:
                assert await conn.run_sync(_differences) == []
                head = (await conn.execute(select(audit_head))).all()
            assert [tuple(row) for row in head] == [(1, 0, "0" * 64)]
            # Again: nothing to do, nothing changed.
            before, after = await upgrade_schema(engine)
            assert before.up_to_date and after.up_to_date
        finally:
            await engine.dispose()


def _config(tmp_path: Path, state_database: str, store_dir: Path) -> Path:
    config = build_config(
        tmp_path,
        trust_url="http://127.0.0.1:9",
        store_dir=store_dir,
        state_database=state_database,
    )
    generate_demo_keys(load_settings(config))
    return config


@pytest.mark.parametrize("kind", KINDS)
def test_db_upgrade_from_empty(
    kind: str, tmp_path: Path, store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite'}"
        else:
            runner = stack.enter_context(asyncio.Runner())
            database = fresh_postgres_database()
            url = runner.run(database.__aenter__())
            stack.callback(lambda: runner.run(database.__aexit__(None, None, None)))
        config = str(_config(tmp_path, url, store_dir))
        assert main(["--config", config, "db", "current"]) == 1
        assert "empty" in capsys.readouterr().out
        assert main(["--config", config, "db", "upgrade"]) == 0
        assert f"from empty to {head_revision()}" in capsys.readouterr().out
        assert main(["--config", config, "db", "current"]) == 0
        assert "up to date" in capsys.readouterr().out
        assert main(["--config", config, "db", "upgrade"]) == 0
        assert "is up to date" in capsys.readouterr().out


async def _previous_release(engine: AsyncEngine) -> dict[str, object]:
    """A state database as the previous release left it: every table made by
    ``create_all``, the audit's without ``practitioner_name``, one record chained."""
    old = metadata_before_migrations()
    record: dict[str, object] = {
        "seq": 1,
        "kind": "intent",
        "at": "2026-06-01T12:00:00+00:00",
        "request_id": "r1",
        "query_hash": hashlib.sha256(b"{ x }").hexdigest(),
        "practitioner": "sw-patel",
        "requester_agency": "shire-adult-social-care",
        "requester_team": None,
        "roles": "social_worker",
        "purpose": "direct_care",
        "person_id": None,
        "agencies": "{}",
        "statutory": False,
        "break_glass": None,
        "break_glass_reason": None,
        "prev_hash": "0" * 64,
    }
    record["hash"] = record_hash(record)
    async with engine.begin() as conn:
        await conn.run_sync(old.create_all)
        await conn.execute(old.tables["disclosures"].insert().values(**record))
        await conn.execute(
            old.tables["audit_head"].insert().values(id=1, seq=1, hash=record["hash"])
        )
    return record


@pytest.mark.parametrize("kind", KINDS)
async def test_a_state_database_of_the_previous_release_is_upgraded(
    kind: str, tmp_path: Path, store_dir: Path
) -> None:
    async with _database(kind, tmp_path) as url:
        engine = create_state_engine(url)
        try:
            await _previous_release(engine)
            state = await schema_state(engine)
            assert state.legacy and state.current is None
            with pytest.raises(SchemaOutOfDate, match="fame-gateway db upgrade"):
                await require_current_schema(engine)
            config = str(_config(tmp_path, url, store_dir))
            # The command runs its own event loop: off this one's thread.
            assert await asyncio.to_thread(main, ["--config", config, "db", "upgrade"]) == 0
            assert await asyncio.to_thread(main, ["--config", config, "audit", "verify"]) == 0
            async with engine.connect() as conn:
                columns = await conn.run_sync(
                    lambda sync: {c["name"] for c in inspect(sync).get_columns("disclosures")}
                )
                assert "practitioner_name" in columns
                assert await conn.run_sync(_differences) == []
                revision = await conn.execute(text("SELECT version_num FROM alembic_version"))
                assert revision.scalar_one() == head_revision()
            # The chain goes on after the upgrade, names and all, and still holds.
            audit = AuditLog(url)
            base = {
                key: value
                for key, value in (await _previous_row(engine)).items()
                if key not in {"seq", "prev_hash", "hash"}
            }
            await audit.append([{**base, "request_id": "r2", "practitioner_name": "Priya Patel"}])
            await audit.close()
            assert await asyncio.to_thread(main, ["--config", config, "audit", "verify"]) == 0
        finally:
            await engine.dispose()


async def _previous_row(engine: AsyncEngine) -> dict[str, object]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(disclosures).where(disclosures.c.seq == 1))).one()
    return dict(row._mapping)


async def test_production_refuses_an_out_of_date_schema(tmp_path: Path, store_dir: Path) -> None:
    config = _config(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'prod.sqlite'}", store_dir)
    config.write_text(config.read_text().replace('mode = "demo"', 'mode = "production"'))
    settings = load_settings(config)
    gateway = Gateway(settings)
    with pytest.raises(SchemaOutOfDate) as refused:
        await gateway.start(check_sources=False)
    assert "fame-gateway db upgrade" in str(refused.value)
    assert not gateway.started
    assert await asyncio.to_thread(main, ["--config", str(config), "serve"]) == 2


async def test_four_processes_start_together_on_an_empty_postgresql(
    tmp_path: Path,
    population: Population,
    store_dir: Path,
    postgres_state: str,
    processes_factory: list[Process],
    trust_url: str,
) -> None:
    config = build_config(
        tmp_path, trust_url=trust_url, store_dir=store_dir, state_database=postgres_state
    )
    settings = load_settings(config)
    generate_demo_keys(settings)
    for number in range(4):
        processes_factory.append(Process(config, tmp_path / f"gateway-{number}.log"))
    await asyncio.gather(*(process.ready() for process in processes_factory))
    token = social_worker_token(settings)
    async with httpx.AsyncClient(timeout=20) as client:
        for process in processes_factory:
            response = await client.post(
                f"{process.url}/graphql",
                content=orjson.dumps({"query": '{ person(id: "nobody") { id } }'}),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                },
            )
            assert response.status_code == 200, response.text
    engine = create_state_engine(postgres_state)
    try:
        state = await schema_state(engine)
        assert state.up_to_date
        async with engine.connect() as conn:
            heads = (await conn.execute(select(audit_head))).all()
            records = (await conn.execute(select(disclosures.c.seq))).all()
        assert len(heads) == 1 and heads[0].seq == len(records) >= 4
    finally:
        await engine.dispose()


def test_the_migrations_ship_in_the_package() -> None:
    # What setuptools' package discovery takes: directories with an __init__.py whose
    # dotted names match an include pattern of pyproject.toml.
    import fnmatch
    import tomllib

    from tests.support import REPO

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("gateway.governance.migrations", "gateway.governance.migrations.versions"):
        assert (REPO / package.replace(".", "/") / "__init__.py").is_file(), package
        assert any(fnmatch.fnmatch(package, pattern) for pattern in include), package
    versions = REPO / "gateway/governance/migrations/versions"
    assert sorted(file.name for file in versions.glob("r*.py")) == [
        "r0001_initial.py",
        "r0002_practitioner_name.py",
        "r0003_person_index_linkage.py",
        "r0004_state_version.py",
    ]


def _to_revision_0002(conn: Connection) -> None:
    command.upgrade(alembic_config(conn), "0002_practitioner_name")


@pytest.mark.parametrize("kind", KINDS)
async def test_revision_0002_is_upgraded_with_its_person_index(kind: str, tmp_path: Path) -> None:
    async with _database(kind, tmp_path) as url:
        engine = create_state_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_to_revision_0002)
                await conn.execute(
                    text(
                        "INSERT INTO persons (id, nhs_number, given_name, family_name, "
                        "family_name_key, date_of_birth, postcode_key, created_at) VALUES "
                        "('p1', '9434765919', 'Roy', 'Bromley', 'bromley', '1948-03-07', "
                        "'SY14AB', '2026-01-01 00:00:00')"
                    )
                )
                await conn.execute(
                    text(
                        "INSERT INTO person_links (person_id, agency_id, local_id, team, "
                        "current) VALUES ('p1', 'riverside-gp', 'R1', 'riverside-gp', TRUE)"
                    )
                )
            assert (await schema_state(engine)).current == "0002_practitioner_name"
            before, after = await upgrade_schema(engine)
            assert before.current == "0002_practitioner_name" and after.up_to_date
            async with engine.connect() as conn:
                assert await conn.run_sync(_differences) == []
                link = (await conn.execute(select(person_links))).one()._mapping
                history = (await conn.execute(select(person_postcodes))).all()
            # The link keeps working and says nothing of how it was made; the index
            # entry's postcode starts the person's history.
            assert (link["local_id"], link["method"], link["linked_by"]) == ("R1", None, None)
            assert [(row.person_id, row.postcode_key) for row in history] == [("p1", "SY14AB")]
            links = await PersonIndex(engine).links(["p1"])
            assert [entry.local_id for entry in links["p1"]["riverside-gp"]] == ["R1"]
        finally:
            await engine.dispose()
