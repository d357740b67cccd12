"""The agencies' own systems on 127.0.0.1, slowed down and counting the calls they receive.

SQL agencies live in databases the run creates (and drops) on the local PostgreSQL and
MariaDB servers. Each mapped "table" is a view over the data that joins a volatile
function, ``bench_tick()``, evaluated once per statement: the first time a statement
touches any view it sleeps the agency's latency and counts one call in a sequence, so
a statement that reads four views costs one latency and one call, like one round trip
to a slow database server, and a statement per table costs one each. The counters are
the databases' own, read through an admin connection that touches no view.

HTTP agencies are aiohttp servers in a process of their own (``python -m bench.sources``)
so that their CPU is not charged to the load generator. They speak the gateway's http
connector protocol: ``GET <path>?ids=a,b&fields=care_team.lead,flags[].level`` answers
``{"<results_key>": [{"<id_field>": "a", ...projected fields...}]}`` after sleeping the
latency. ``GET /calls`` tells how many people requests they have answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web
from sqlalchemy.engine import URL, make_url

from bench.world import AGENCIES, Agency, Person, http_documents, people, sql_rows
from fame_demo.community_api import project

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_MARIADB_URL = "mysql://root@127.0.0.1:3306/mysql"


class SourcesUnavailable(RuntimeError):
    """A database server the benchmark needs cannot be reached; the message says what to do."""


def server_urls() -> dict[str, URL]:
    """The admin URLs of the two database servers (FAME_BENCH_*_URL override the defaults)."""
    return {
        "postgresql": make_url(os.environ.get("FAME_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL),
        "mariadb": make_url(os.environ.get("FAME_BENCH_MARIADB_URL") or DEFAULT_MARIADB_URL),
    }


def _pg_params(url: URL, database: str | None = None) -> dict[str, Any]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
        "database": database or url.database or "postgres",
    }


def _my_params(url: URL, database: str | None = None) -> dict[str, Any]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "db": database or url.database or "mysql",
        "autocommit": True,
    }


def agency_dsn(url: URL, backend: str, database: str) -> str:
    """The SQLAlchemy async URL of an agency database on the server ``url`` names."""
    driver = "postgresql+asyncpg" if backend == "postgresql" else "mysql+asyncmy"
    return url.set(drivername=driver, database=database).render_as_string(hide_password=False)


def _create_tables(agency: Agency) -> list[str]:
    statements = []
    for table in agency.tables:
        cols = [f"{c.name} {c.sql_type}" for c in table.columns]
        primary = table.row_id or table.key
        cols.append(f"PRIMARY KEY ({primary})")
        statements.append(f"CREATE TABLE {table.name}_data ({', '.join(cols)})")
        if table.many:
            statements.append(
                f"CREATE INDEX ix_{table.name}_{table.key} ON {table.name}_data ({table.key})"
            )
    return statements


# Once per statement, however many views it reads and however many rows they hold:
# the statement's start time, kept in a session variable, tells a new statement from
# the one already charged.
_PG_TICK = """
CREATE FUNCTION bench_tick() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE stamp text := statement_timestamp()::text;
BEGIN
  IF current_setting('bench.stamp', true) IS DISTINCT FROM stamp THEN
    PERFORM set_config('bench.stamp', stamp, false);
    PERFORM nextval('bench_calls');
    PERFORM pg_sleep(%s);
  END IF;
  RETURN true;
END $$
"""
# NOW(6) inside a stored function is the start of the calling statement.
_MY_TICK = """
CREATE FUNCTION bench_tick() RETURNS INT NOT DETERMINISTIC MODIFIES SQL DATA
BEGIN
  IF @bench_stamp IS NULL OR @bench_stamp <> NOW(6) THEN
    SET @bench_stamp = NOW(6);
    DO NEXTVAL(bench_calls);
    DO SLEEP(%s);
  END IF;
  RETURN 1;
END
"""


def database_name(agency: Agency, tag: str) -> str:
    """The database the run creates for an agency."""
    return f"fame_bench_{agency.id.removeprefix('bench-').replace('-', '_')}_{tag}"


async def _create_postgres(url: URL, agency: Agency, name: str, population: list[Person]) -> None:
    admin = await asyncpg.connect(**_pg_params(url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(**_pg_params(url, name))
    try:
        for statement in _create_tables(agency):
            await conn.execute(statement)
        rows = sql_rows(agency, population)
        for table in agency.tables:
            names = [c.name for c in table.columns]
            await conn.copy_records_to_table(
                f"{table.name}_data",
                records=[
                    tuple(
                        _pg_value(row[n], c.sql_type)
                        for n, c in zip(names, table.columns, strict=True)
                    )
                    for row in rows[table.name]
                ],
                columns=names,
            )
        await conn.execute("CREATE SEQUENCE bench_calls")
        await conn.execute(_PG_TICK % agency.latency)
        for table in agency.tables:
            await conn.execute(
                f"CREATE VIEW {table.name} AS SELECT d.* FROM {table.name}_data d "
                "WHERE (SELECT bench_tick())"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def _pg_value(value: Any, sql_type: str) -> Any:
    if sql_type.startswith("DECIMAL") and value is not None:
        from decimal import Decimal

        return Decimal(str(value))
    return value


async def _create_mariadb(url: URL, agency: Agency, name: str, population: list[Person]) -> None:
    import aiomysql

    admin = await aiomysql.connect(**_my_params(url))
    try:
        async with admin.cursor() as cur:
            with warnings.catch_warnings():  # "database doesn't exist" is the usual case
                warnings.simplefilter("ignore")
                await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            await cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        admin.close()
    conn = await aiomysql.connect(**_my_params(url, name))
    try:
        async with conn.cursor() as cur:
            for statement in _create_tables(agency):
                await cur.execute(statement)
            rows = sql_rows(agency, population)
            for table in agency.tables:
                names = [c.name for c in table.columns]
                placeholders = ", ".join(["%s"] * len(names))
                await cur.executemany(
                    f"INSERT INTO {table.name}_data ({', '.join(names)}) VALUES ({placeholders})",
                    [tuple(row[n] for n in names) for row in rows[table.name]],
                )
            await cur.execute("CREATE SEQUENCE bench_calls NOCACHE")
            await cur.execute(_MY_TICK % agency.latency)
            for table in agency.tables:
                # A derived table is materialised once per statement (a WHERE on the
                # function would run it for every row).
                await cur.execute(
                    f"CREATE VIEW {table.name} AS SELECT d.* FROM {table.name}_data d "
                    "CROSS JOIN (SELECT bench_tick() AS tick) t"
                )
    finally:
        conn.close()


async def _drop(url: URL, backend: str, name: str) -> None:
    if backend == "postgresql":
        admin = await asyncpg.connect(**_pg_params(url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        return
    import aiomysql

    conn = await aiomysql.connect(**_my_params(url))
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


async def create_state_database(url: URL, name: str) -> str:
    """A fresh, empty PostgreSQL database for a gateway's state; its SQLAlchemy URL."""
    admin = await asyncpg.connect(**_pg_params(url))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return agency_dsn(url, "postgresql", name)


async def drop_state_database(url: URL, name: str) -> None:
    """Drop a state database ``create_state_database`` made."""
    await _drop(url, "postgresql", name)


async def check_servers(urls: Mapping[str, URL]) -> None:
    """Connect to both servers; raise SourcesUnavailable naming what to start."""
    try:
        conn = await asyncio.wait_for(asyncpg.connect(**_pg_params(urls["postgresql"])), 5)
        await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        shown = urls["postgresql"].render_as_string(hide_password=True)
        raise SourcesUnavailable(
            f"PostgreSQL is not reachable at {shown} ({type(exc).__name__}: {exc}).\n"
            "Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) "
            "main start`) or point FAME_BENCH_POSTGRES_URL at a server where the user may "
            "create databases."
        ) from exc
    import aiomysql

    try:
        my = await asyncio.wait_for(aiomysql.connect(**_my_params(urls["mariadb"])), 5)
        my.close()
    except (OSError, TimeoutError, aiomysql.Error) as exc:
        shown = urls["mariadb"].render_as_string(hide_password=True)
        raise SourcesUnavailable(
            f"MariaDB is not reachable at {shown} ({type(exc).__name__}: {exc}).\n"
            "Start it (e.g. `start-stop-daemon --start --oknodo --background --exec "
            "/usr/sbin/mariadbd`) or point FAME_BENCH_MARIADB_URL at a server where the user "
            "may create databases and functions."
        ) from exc


@dataclass
class SqlSources:
    """The SQL agencies' databases for one run: create, count calls, drop."""

    urls: Mapping[str, URL]
    tag: str
    agencies: tuple[Agency, ...] = tuple(a for a in AGENCIES if a.kind == "sql")

    def __post_init__(self) -> None:
        self._pg: asyncpg.Connection | None = None
        self._my: Any = None
        self.dsns: dict[str, str] = {
            a.id: agency_dsn(self.urls[a.backend], a.backend, database_name(a, self.tag))
            for a in self.agencies
        }

    async def create(self, population: list[Person]) -> None:
        """Create every SQL agency's database, data, latency function and views."""
        await check_servers(self.urls)
        for agency in self.agencies:
            name = database_name(agency, self.tag)
            if agency.backend == "postgresql":
                await _create_postgres(self.urls["postgresql"], agency, name, population)
            else:
                await _create_mariadb(self.urls["mariadb"], agency, name, population)

    async def calls(self) -> dict[str, int]:
        """Agency id -> statements its database has been charged for so far."""
        import aiomysql

        counts: dict[str, int] = {}
        for agency in self.agencies:
            name = database_name(agency, self.tag)
            if agency.backend == "postgresql":
                if self._pg is None:
                    self._pg = await asyncpg.connect(**_pg_params(self.urls["postgresql"], name))
                value = await self._pg.fetchval(
                    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM bench_calls"
                )
            else:
                if self._my is None:
                    self._my = await aiomysql.connect(**_my_params(self.urls["mariadb"], name))
                async with self._my.cursor() as cur:
                    await cur.execute("SELECT next_not_cached_value - 1 FROM bench_calls")
                    (value,) = await cur.fetchone()
            counts[agency.id] = int(value)
        return counts

    async def drop(self) -> None:
        """Close the counters' connections and drop the databases."""
        if self._pg is not None:
            await self._pg.close()
            self._pg = None
        if self._my is not None:
            self._my.close()
            self._my = None
        for agency in self.agencies:
            try:
                await _drop(
                    self.urls[agency.backend], agency.backend, database_name(agency, self.tag)
                )
            except Exception as exc:  # best effort: a later run uses another tag anyway
                print(f"could not drop {database_name(agency, self.tag)}: {exc}", file=sys.stderr)


# --- HTTP agencies ----------------------------------------------------------------------------

Projection = dict[str, "Projection | None"]


def parse_fields(text: str) -> Projection:
    """``care_team.lead,flags[].level`` -> a projection tree (``flags[]`` keys a list)."""
    projection: Projection = {}
    for path in filter(None, (p.strip() for p in text.split(","))):
        node = projection
        segments = path.split(".")
        for position, segment in enumerate(segments):
            if position == len(segments) - 1:
                node[segment] = None
                break
            child = node.setdefault(segment, {})
            if child is None:
                break
            node = child
    return projection


class HttpAgency:
    """One agency's REST API: sleeps its latency, counts, projects."""

    def __init__(self, agency: Agency, population: list[Person]) -> None:
        self.agency = agency
        self.documents = http_documents(agency, population)
        self.calls = 0
        self.app = web.Application()
        self.app.router.add_get(agency.path, self.people)
        self.app.router.add_get("/calls", self.count)

    async def people(self, request: web.Request) -> web.Response:
        """The people endpoint."""
        self.calls += 1
        await asyncio.sleep(self.agency.latency)
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        fields = request.query.get("fields")
        if not fields:
            return web.json_response({"error": "fields is required"}, status=400)
        projection: Projection = {self.agency.id_field: None, **parse_fields(fields)}
        found = [project(self.documents[i], projection) for i in ids if i in self.documents]
        return web.Response(
            body=orjson.dumps({self.agency.results_key: found}), content_type="application/json"
        )

    async def count(self, _request: web.Request) -> web.Response:
        """How many people requests this agency has answered."""
        return web.json_response({"calls": self.calls})


async def serve_http_agencies(count: int, peers: int = 0, host: str = "127.0.0.1") -> None:
    """Serve every HTTP agency on its own free port; print ``READY {id: url}``; run forever."""
    population = people(count, peers)
    urls: dict[str, str] = {}
    runners = []
    for agency in AGENCIES:
        if agency.kind != "http":
            continue
        server = HttpAgency(agency, population)
        runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, 0, backlog=1024)
        await site.start()
        runners.append(runner)
        urls[agency.id] = f"http://{host}:{runner.addresses[0][1]}"
    print("READY " + orjson.dumps(urls).decode(), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        for runner in runners:
            await runner.cleanup()


async def http_calls(session: aiohttp.ClientSession, urls: Mapping[str, str]) -> dict[str, int]:
    """Agency id -> people requests each HTTP agency has answered so far."""
    counts: dict[str, int] = {}
    for agency_id, url in urls.items():
        async with session.get(f"{url}/calls") as response:
            counts[agency_id] = int((await response.json())["calls"])
    return counts


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.sources --people N [--peers M]``: serve the HTTP agencies until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--peers", type=int, default=0, help="people known only to them")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_http_agencies(args.people, args.peers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
