"""The sql connector against real databases: SQLite always, PostgreSQL and MariaDB when named.

Each backend gets its own freshly created database holding the adult social care
agency's legacy schema and rows; the connector is configured from the agency's real
file in ``config/agencies`` with only the database URL changed. What the database
received is read from the database side (SQLite's own trace) or from the last point
before the driver (SQLAlchemy's ``before_cursor_execute``), never from the connector.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import column as table_column
from sqlalchemy import event, select, table, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from connectors import sql as sql_connector
from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    DateRange,
    FetchGroup,
    FetchRequest,
    FetchResult,
)
from connectors.registry import create_connector
from connectors.sql import SqlConnector
from connectors.values import coerce
from fame_demo.stores import (
    create_schema_sql,
    insert_sql,
    mapped_columns,
    never_mapped_columns,
    rows_for,
    tables_of,
)
from fame_demo.synthetic import ADULT_SOCIAL_CARE, Population
from gateway.config.agencies import load_agencies
from gateway.core.catalogue import ValueKind, record_set_of
from gateway.core.registration import AgencyConfig
from tests.conftest import server_url
from tests.support import REPO, attach_sqlite_trace

AGENCY = ADULT_SOCIAL_CARE
AGENCY_FILE = REPO / "config" / "agencies" / f"{AGENCY}.toml"
TABLES = {spec.name for spec in tables_of(AGENCY)}
# A view over clients that takes SLOW_SECONDS per row it yields: the only way to make a
# statement slow through the mapping, which names tables and columns only.
SLOW_SECONDS = 2.0
INJECTION = "x' OR '1'='1"


@dataclass(frozen=True)
class Backend:
    """A loaded database: which server, its async URL, and (SQLite) its directory."""

    name: str
    url: str
    directory: Path | None = None


@dataclass(frozen=True)
class Statement:
    """One statement the database received, with the parameters bound to it."""

    sql: str
    parameters: tuple[object, ...]

    @property
    def values(self) -> tuple[object, ...]:
        """The bound values, an array parameter's elements each one of them (PostgreSQL
        takes the ids as one array)."""
        flat: list[object] = []
        for value in self.parameters:
            flat.extend(value if isinstance(value, list) else [value])
        return tuple(flat)

    @property
    def table(self) -> str | None:
        """The table a plain SELECT reads, or None for anything else."""
        match = _SELECT.match(self.sql)
        return match["table"] if match else None

    @property
    def columns(self) -> list[str]:
        """The table columns a SELECT lists, unqualified and unquoted (without the NULLs,
        branch numbers and labels of a UNION ALL branch)."""
        match = _SELECT.match(self.sql)
        assert match is not None, self.sql
        columns = []
        for part in match["columns"].split(","):
            expression = re.sub(r"\s+AS\s+[`\"]?\w+[`\"]?\s*$", "", part.strip(), flags=re.I)
            cast = re.match(r"CAST\((.+?)\s+AS\s+\w+(\(\d+\))?\)$", expression, re.I)
            if cast:
                expression = cast[1]
            if expression.upper() == "NULL" or expression.isdigit():
                continue
            columns.append(expression.rsplit(".", 1)[-1].strip('`"'))
        return columns

    @property
    def branches(self) -> list[Statement]:
        """Each SELECT of a UNION ALL (the statement itself when plain), as statements."""
        body = re.split(r"\)?\s+ORDER BY\s", self.sql, flags=re.I)[0]
        parts = [
            part.strip().lstrip("(").rstrip(")")
            for part in re.split(r"\s+UNION ALL\s+", body, flags=re.I)
        ]
        if len(parts) == 1:
            return [self]
        branches = []
        offset = 0
        for part in parts:
            if re.search(r"\$\d+", part):  # asyncpg: $1, $2, ... numbered over the statement
                values = tuple(self.parameters[int(n) - 1] for n in re.findall(r"\$(\d+)", part))
            elif "%s" in part:  # aiomysql: in order
                count = part.count("%s")
                values = self.parameters[offset : offset + count]
                offset += count
            else:  # SQLite's expanded text: the literals themselves
                values = tuple(v.replace("''", "'") for v in _LITERAL.findall(part))
            branches.append(Statement(part, values))
        return branches


_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<columns>.+?)\s+FROM\s+[`\"]?(?P<table>\w+)[`\"]?", re.IGNORECASE | re.DOTALL
)
_LITERAL = re.compile(r"'((?:[^']|'')*)'")


class StatementLog:
    """Statements the test database received during one test."""

    def __init__(self, collect: Callable[[], list[Statement]]) -> None:
        self._collect = collect

    @property
    def statements(self) -> list[Statement]:
        """Everything received so far, in order."""
        return self._collect()

    def reads_of(self, table_name: str) -> list[Statement]:
        """The SELECTs (UNION ALL branches included) that read one of the agency's tables."""
        return [b for s in self.statements for b in s.branches if b.table == table_name]

    def data_reads(self) -> list[Statement]:
        """The SELECTs (UNION ALL branches included) that read any of the agency's tables."""
        return [b for s in self.statements for b in s.branches if b.table in TABLES]

    def data_statements(self) -> list[Statement]:
        """The statements, each whole, that read any of the agency's tables."""
        return [s for s in self.statements if any(b.table in TABLES for b in s.branches)]


# --------------------------------------------------------------------------- databases


async def _load(url: str, population: Population) -> None:
    engine = create_async_engine(url)
    try:
        rows = rows_for(population, AGENCY)
        async with engine.begin() as conn:
            for statement in create_schema_sql(AGENCY):
                await conn.execute(text(statement))
            for spec in tables_of(AGENCY):
                await conn.execute(text(insert_sql(spec)), rows[spec.name])
    finally:
        await engine.dispose()


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


_SLOW_VIEW = {
    "sqlite": "CREATE VIEW slow_clients AS SELECT * FROM clients WHERE fame_sleep({s}) = 0",
    "postgresql": "CREATE VIEW slow_clients AS SELECT clients.* FROM clients, pg_sleep({s})",
    "mariadb": "CREATE VIEW slow_clients AS SELECT * FROM clients WHERE SLEEP({s}) = 0",
}


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
)
async def backend(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    population: Population,
) -> AsyncIterator[Backend]:
    """A database of this module's own holding the agency's tables; dropped afterwards."""
    name: str = request.param
    unique = f"fame_test_{uuid.uuid4().hex[:12]}"
    slow_view = _SLOW_VIEW[name].format(s=SLOW_SECONDS)
    if name == "sqlite":
        directory = (tmp_path_factory.mktemp("sql-connector") / "stores").resolve()
        directory.mkdir()
        url = f"sqlite+aiosqlite:///{directory / f'{AGENCY}.sqlite'}"
        await _load(url, population)
        await _admin(url, slow_view)
        yield Backend(name, url, directory)
        return
    if name == "postgresql":
        admin = server_url(
            "FAME_TEST_POSTGRES_URL",
            "PostgreSQL",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        )
        drop = f"DROP DATABASE IF EXISTS {unique} WITH (FORCE)"
    else:
        admin = server_url(
            "FAME_TEST_MARIADB_URL", "MariaDB", "mysql+aiomysql://root@127.0.0.1:3306/test"
        )
        drop = f"DROP DATABASE IF EXISTS {unique}"
    agency_url = make_url(admin).set(database=unique)
    if name == "mariadb":
        # The driver an agency file is told to use (aiomysql is still accepted).
        agency_url = agency_url.set(drivername="mysql+asyncmy")
    url = agency_url.render_as_string(hide_password=False)
    await _admin(admin, f"CREATE DATABASE {unique}")
    try:
        await _load(url, population)
        await _admin(url, slow_view)
        yield Backend(name, url)
    finally:
        await _admin(admin, drop)


@pytest.fixture
def sql_log(backend: Backend) -> Iterator[StatementLog]:
    """What the backend's database received while the test ran."""
    if backend.directory is not None:
        trace, detach = attach_sqlite_trace(backend.directory)

        def from_trace() -> list[Statement]:
            return [
                Statement(call.sql, tuple(v.replace("''", "'") for v in _LITERAL.findall(call.sql)))
                for call in trace.calls
                if call.agency == AGENCY
            ]

        try:
            yield StatementLog(from_trace)
        finally:
            detach()
        return
    database = make_url(backend.url).database
    received: list[Statement] = []

    def before_cursor_execute(
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if conn.engine.url.database != database:
            return
        if isinstance(parameters, Mapping):
            values = tuple(parameters.values())
        elif isinstance(parameters, list | tuple) and not executemany:
            values = tuple(parameters)
        else:
            values = ()
        received.append(Statement(statement, values))

    event.listen(Engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield StatementLog(lambda: list(received))
    finally:
        event.remove(Engine, "before_cursor_execute", before_cursor_execute)


# --------------------------------------------------------------------------- agency files


def write_agency(
    directory: Path,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    replace: Mapping[str, str] | None = None,
) -> AgencyConfig:
    """The agency's real file with the database URL changed, loaded as the gateway loads it.

    A URL carrying a password goes through url_env, as the agency file rules require.
    """
    original = AGENCY_FILE.read_text()
    if make_url(url).password:
        monkeypatch.setenv("FAME_TEST_SQL_AGENCY_DSN", url)
        source = 'url_env = "FAME_TEST_SQL_AGENCY_DSN"'
    else:
        source = f'url = "{url}"'
    changed, count = re.subn(r'(?m)^url = ".*"$', lambda _: source, original)
    assert count == 1, "the agency file's [source] url line moved"
    for old, new in (replace or {}).items():
        assert old in changed, old
        changed = changed.replace(old, new)
    agencies = directory / "agencies"
    agencies.mkdir(exist_ok=True)
    file = agencies / f"{AGENCY}.toml"
    file.write_text(changed)
    (agency,) = load_agencies(agencies, directory)
    assert agency.file == file
    return agency


@pytest.fixture
def agency(tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> AgencyConfig:
    """The adult social care agency, pointed at this backend's database."""
    return write_agency(tmp_path, backend.url, monkeypatch)


@pytest.fixture
async def connector(agency: AgencyConfig, sql_log: StatementLog) -> AsyncIterator[SqlConnector]:
    """An open connector for the agency (opened after the statement log is listening)."""
    built = create_connector(agency)
    assert isinstance(built, SqlConnector)
    await built.open()
    try:
        yield built
    finally:
        await built.close()


# --------------------------------------------------------------------------- expectations


def plain(value: object) -> object:
    """A value as comparable across databases: dates as ISO text, booleans as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return round(float(value), 3)
    return value


def expected_records(
    population: Population,
    local_id: str,
    items: frozenset[str],
    ranges: Mapping[str, DateRange] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """What the agency holds about one person for these items, as plain values."""
    fields: dict[str, list[str]] = defaultdict(list)
    for item in sorted(items):
        fields[record_set_of(item)].append(item.partition(".")[2])
    records: dict[str, list[dict[str, object]]] = {}
    for rs_name, names in fields.items():
        rows = population.rows(AGENCY, local_id, rs_name)
        bounds = (ranges or {}).get(rs_name)
        if bounds is not None:
            rows = [row for row in rows if bounds.contains(row["occurred_on"])]
        if rows:
            records[rs_name] = sorted(
                ({name: plain(row[name]) for name in names} for row in rows), key=repr
            )
    return records


def normalised(result: FetchResult) -> dict[str, dict[str, list[dict[str, object]]]]:
    """A fetch result as plain values, rows of each record set in a stable order."""
    return {
        local_id: {
            rs_name: sorted(
                ({name: plain(value) for name, value in row.items()} for row in rows), key=repr
            )
            for rs_name, rows in records.items()
        }
        for local_id, records in result.items()
    }


def local_ids(population: Population) -> list[str]:
    """The agency's local ids, in population order."""
    return [population.local_ids[AGENCY][p.nhs_number] for p in population.people_of(AGENCY)]


def with_rows(population: Population, record_set: str, at_least: int = 1) -> list[str]:
    """Local ids of people with at least ``at_least`` rows of a record set."""
    return [
        local_id
        for local_id in local_ids(population)
        if len(population.rows(AGENCY, local_id, record_set)) >= at_least
    ]


# --------------------------------------------------------------------------- (a) values


async def test_batch_fetch_returns_the_population_rows(
    connector: SqlConnector, population: Population
) -> None:
    items = frozenset(
        {
            "demographics.given_name",
            "demographics.date_of_birth",
            "social_care_cases.eligible",
            "social_care_cases.review_due",
            "involvement.worker",
            "alerts.severity",
            "alerts.raised_on",
            "care_packages.hours_per_week",
        }
    )
    batch = local_ids(population)[:5]
    assert len(batch) == 5

    result = await connector.fetch(FetchRequest.single(tuple(batch), items))

    assert set(result) == set(batch)
    assert normalised(result) == {
        local_id: expected_records(population, local_id, items) for local_id in batch
    }
    for local_id in batch:
        raised = [plain(row["raised_on"]) for row in result[local_id].get("alerts", [])]
        assert raised == sorted(raised), "alerts come back in the table's order_by order"


async def test_unknown_ids_are_absent(connector: SqlConnector, population: Population) -> None:
    known = local_ids(population)[0]
    result = await connector.fetch(
        FetchRequest.single(("ASC-000000", known), frozenset({"demographics.family_name"}))
    )
    assert set(result) == {known}
    person = population.person_by_local_id(AGENCY, known)
    assert result[known] == {"demographics": [{"family_name": person.family_name}]}


async def test_items_the_agency_does_not_map_read_nothing(
    connector: SqlConnector, population: Population, sql_log: StatementLog
) -> None:
    request = FetchRequest.single(
        tuple(local_ids(population)[:3]), frozenset({"medications.name", "conditions.code"})
    )
    assert await connector.fetch(request) == {}
    assert sql_log.data_reads() == []


# --------------------------------------------------------------------------- (b) projection


async def test_only_the_requested_columns_and_the_key_are_selected(
    connector: SqlConnector, population: Population, sql_log: StatementLog
) -> None:
    mapped = mapped_columns(AGENCY)
    assert mapped["demographics.given_name"] == "clients.forenames"
    assert mapped["social_care_cases.status"] == "clients.case_status"
    batch = tuple(local_ids(population)[:4])

    result = await connector.fetch(
        FetchRequest.single(
            batch, frozenset({"demographics.given_name", "social_care_cases.status"})
        )
    )

    reads = sql_log.data_reads()
    assert [s.table for s in reads] == ["clients"], "one SELECT, on the clients table only"
    (read,) = reads
    assert sorted(read.columns) == ["case_status", "client_ref", "forenames"]
    assert set(batch) <= set(read.values), "the ids travel as bound values"
    private = {column.partition(".")[2] for column in never_mapped_columns(AGENCY)}
    assert private, "the agency keeps some columns to itself"
    for statement in sql_log.statements:
        for column in private:
            assert not re.search(rf"\b{column}\b", statement.sql), (column, statement.sql)
    for local_id in batch:
        assert set(result[local_id]) == {"demographics", "social_care_cases"}
        (demographics,) = result[local_id]["demographics"]
        (case,) = result[local_id]["social_care_cases"]
        assert set(demographics) == {"given_name"}
        assert set(case) == {"status"}


async def test_every_mapped_item_at_once_never_touches_private_columns(
    connector: SqlConnector, agency: AgencyConfig, population: Population, sql_log: StatementLog
) -> None:
    batch = tuple(local_ids(population))
    result = await connector.fetch(FetchRequest.single(batch, agency.items))

    assert normalised(result) == {
        local_id: expected_records(population, local_id, agency.items) for local_id in batch
    }
    assert {s.table for s in sql_log.data_reads()} == TABLES
    # Every table in one statement: the agency sees one call, one round trip.
    assert len(sql_log.data_statements()) == 1, [s.sql for s in sql_log.data_statements()]
    selected = {
        f"{statement.table}.{column}"
        for statement in sql_log.data_reads()
        for column in statement.columns
    }
    assert not selected & set(never_mapped_columns(AGENCY))
    keys = {f"{spec.name}.{spec.key}" for spec in tables_of(AGENCY)}
    assert selected == set(mapped_columns(AGENCY).values()) | keys


# --------------------------------------------------------------------------- (c) groups


async def test_each_group_reads_its_own_items_for_its_own_ids_only(
    connector: SqlConnector, population: Population, sql_log: StatementLog
) -> None:
    alerted = with_rows(population, "alerts")
    first = tuple(alerted[:2])
    second = tuple(i for i in with_rows(population, "timeline") if i not in first)[:1]
    assert len(first) == 2 and len(second) == 1
    first_items = frozenset({"demographics.given_name", "alerts.severity"})
    second_items = frozenset({"demographics.family_name", "timeline.kind"})

    result = await connector.fetch(
        FetchRequest(groups=(FetchGroup(first, first_items), FetchGroup(second, second_items)))
    )

    assert normalised(result) == {
        **{i: expected_records(population, i, first_items) for i in first},
        **{i: expected_records(population, i, second_items) for i in second},
    }

    def ids_read(table_name: str, column: str) -> set[object]:
        found: set[object] = set()
        for statement in sql_log.reads_of(table_name):
            if column in statement.columns:
                found |= set(statement.values)
        return found

    everyone = set(local_ids(population))
    assert ids_read("clients", "forenames") & everyone == set(first)
    assert ids_read("clients", "surname") & everyone == set(second)
    assert ids_read("risk_warnings", "risk_level") & everyone == set(first)
    assert ids_read("case_notes", "note_type") & everyone == set(second)
    for statement in sql_log.reads_of("clients"):
        assert not {"forenames", "surname"} <= set(statement.columns), statement.sql
    assert {s.table for s in sql_log.data_reads()} == {"clients", "risk_warnings", "case_notes"}


# --------------------------------------------------------------------------- (d) date range


async def test_timeline_range_is_applied_in_sql(
    connector: SqlConnector, population: Population, sql_log: StatementLog
) -> None:
    busiest = max(local_ids(population), key=lambda i: len(population.rows(AGENCY, i, "timeline")))
    dates = sorted(row["occurred_on"] for row in population.rows(AGENCY, busiest, "timeline"))
    assert len(dates) >= 3 and dates[0] < dates[1] and dates[-2] < dates[-1]
    assert isinstance(dates[1], date) and isinstance(dates[-2], date)
    bounds = DateRange(dates[1], dates[-2])
    ranges = {"timeline": bounds}
    everyone = tuple(local_ids(population))
    # The date column is not among the items asked for: the connector could not filter
    # these rows itself, so only the database can have left the others out.
    items = frozenset({"timeline.kind", "timeline.summary"})

    result = await connector.fetch(FetchRequest.single(everyone, items, ranges))

    expected = {i: expected_records(population, i, items, ranges) for i in everyone}
    assert normalised(result) == {i: records for i, records in expected.items() if records}
    total = sum(len(population.rows(AGENCY, i, "timeline")) for i in everyone)
    returned = sum(len(records["timeline"]) for records in result.values())
    assert 0 < returned < total
    (read,) = sql_log.reads_of("case_notes")
    assert re.search(r"note_date\s*>=", read.sql) and re.search(r"note_date\s*<=", read.sql)
    assert bounds.start is not None and bounds.end is not None
    assert bounds.start.isoformat() in read.values and bounds.end.isoformat() in read.values
    assert sorted(read.columns) == ["client_ref", "note_text", "note_type"]


async def test_open_ended_range_and_dates_returned(
    connector: SqlConnector, population: Population
) -> None:
    everyone = tuple(local_ids(population))
    cutoff = population.as_of.replace(year=population.as_of.year - 1)
    ranges = {"timeline": DateRange(start=cutoff)}
    items = frozenset({"timeline.occurred_on", "timeline.kind"})

    result = await connector.fetch(FetchRequest.single(everyone, items, ranges))

    expected = {i: expected_records(population, i, items, ranges) for i in everyone}
    assert normalised(result) == {i: records for i, records in expected.items() if records}
    for records in result.values():
        for row in records["timeline"]:
            assert str(plain(row["occurred_on"])) >= cutoff.isoformat()


# --------------------------------------------------------------------------- (e) check


async def test_check_passes_on_the_real_mapping(connector: SqlConnector) -> None:
    check = await connector.check()
    assert check.ok and check.reachable, check
    assert check.problems == ()
    assert check.agency == AGENCY


async def test_check_names_a_missing_column_with_file_and_key(
    tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = write_agency(
        tmp_path,
        backend.url,
        monkeypatch,
        replace={'"clients.case_status"': '"clients.case_state"'},
    )
    connector = create_connector(agency)
    await connector.open()
    try:
        check = await connector.check()
    finally:
        await connector.close()

    assert check.reachable and not check.ok
    (problem,) = check.problems
    assert problem.file == str(agency.file)
    assert problem.key == 'items."social_care_cases.status"'
    assert "case_state" in problem.problem and "clients" in problem.problem
    assert "case_status" in problem.fix, "the fix lists the columns the table does have"
    assert str(agency.file) in str(problem) and 'items."social_care_cases.status"' in str(problem)


async def test_check_names_a_missing_table_and_key_column(
    tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    agency = write_agency(
        tmp_path,
        backend.url,
        monkeypatch,
        replace={
            "[tables.services]": "[tables.service_lines]",
            '"services.': '"service_lines.',
            '[tables.allocations]\nkey = "client_ref"': '[tables.allocations]\nkey = "client_id"',
        },
    )
    connector = create_connector(agency)
    await connector.open()
    try:
        check = await connector.check()
    finally:
        await connector.close()

    assert check.reachable and not check.ok
    keys = {problem.key for problem in check.problems}
    assert keys == {"tables.service_lines", "tables.allocations.key"}
    assert all(problem.file == str(agency.file) for problem in check.problems)


# --------------------------------------------------------------------------- bound values


async def test_local_ids_are_bound_values_not_sql(
    connector: SqlConnector, population: Population, sql_log: StatementLog
) -> None:
    items = frozenset({"demographics.given_name", "alerts.summary"})
    assert await connector.fetch(FetchRequest.single((INJECTION,), items)) == {}

    known = local_ids(population)[0]
    hostile = (INJECTION, f"{known}' --", f"{known}'; DROP TABLE clients; --", known)
    result = await connector.fetch(FetchRequest.single(hostile, items))

    assert set(result) == {known}
    for read in sql_log.reads_of("clients"):
        assert INJECTION in read.values, "the id reached the database as one value"
    # The table is still there and still answers.
    again = await connector.fetch(FetchRequest.single((known,), items))
    assert normalised(again) == {known: expected_records(population, known, items)}


async def test_only_ids_asked_for_come_back(
    connector: SqlConnector,
    population: Population,
    backend: Backend,
    request: pytest.FixtureRequest,
) -> None:
    known = local_ids(population)[0]
    variants = (known.lower(), f"{known} ")
    result = await connector.fetch(
        FetchRequest.single(variants, frozenset({"demographics.given_name"}))
    )
    assert set(result) <= set(variants)


# --------------------------------------------------------------------------- compiled shapes


def _batch_of(population: Population, count: int) -> list[str]:
    """``count`` distinct local ids: the agency's people first, then ids it does not hold."""
    known = local_ids(population)
    unknown = [f"ASC-9{n:05d}" for n in range(count)]
    assert not set(unknown) & set(known)
    return (known + unknown)[:count]


@pytest.mark.parametrize("count", [0, 1, 3, 200, sql_connector._CHUNK + 3])
async def test_a_caseload_of_any_size_returns_exactly_the_asked_peoples_rows(
    connector: SqlConnector,
    agency: AgencyConfig,
    population: Population,
    sql_log: StatementLog,
    count: int,
) -> None:
    batch = _batch_of(population, count)

    result = await connector.fetch(FetchRequest.single(tuple(batch), agency.items))

    expected = {i: expected_records(population, i, agency.items) for i in batch}
    assert normalised(result) == {i: records for i, records in expected.items() if records}
    if count == 0:
        assert sql_log.data_reads() == []
    for statement in sql_log.data_statements():
        # The ids of a huge batch are split over statements, padding counted.
        assert len(statement.values) <= sql_connector._MAX_IDS


@pytest.mark.parametrize("count", [3, 5, 9])
async def test_ids_padded_into_a_bucket_add_no_rows_and_duplicate_none(
    connector: SqlConnector,
    agency: AgencyConfig,
    backend: Backend,
    population: Population,
    sql_log: StatementLog,
    count: int,
) -> None:
    # The id repeated to fill the bucket is the one with the most rows of all: any row
    # it added would show as a duplicate.
    busiest = sorted(
        local_ids(population), key=lambda i: -len(population.rows(AGENCY, i, "alerts"))
    )
    batch = [*busiest[1:count], busiest[0]]
    items = frozenset({"demographics.given_name", "alerts.severity", "alerts.raised_on"})

    result = await connector.fetch(FetchRequest.single(tuple(batch), items))

    assert normalised(result) == {i: expected_records(population, i, items) for i in batch}
    for local_id in batch:
        rows = population.rows(AGENCY, local_id, "alerts")
        assert len(result[local_id].get("alerts", [])) == len(rows)
        assert len(result[local_id]["demographics"]) == 1
    if backend.name != "postgresql":
        # No arrays: each read carries a power of two of placeholders, the last id
        # repeated; PostgreSQL takes the ids as they are, in one array.
        for read in sql_log.data_reads():
            assert len(read.values) == 1 << (count - 1).bit_length(), read.sql
            assert read.values[count:] == (busiest[0],) * (len(read.values) - count)
    else:
        for read in sql_log.data_reads():
            assert sorted(map(str, read.values)) == sorted(batch)


@pytest.mark.parametrize(
    "backend", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
async def test_an_aiomysql_url_reads_what_asyncmy_reads(
    connector: SqlConnector,
    agency: AgencyConfig,
    backend: Backend,
    population: Population,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """asyncmy is the MySQL/MariaDB driver agency files are told to use; one written for
    aiomysql still serves, with the very same values."""
    assert make_url(backend.url).drivername == "mysql+asyncmy"
    older = make_url(backend.url).set(drivername="mysql+aiomysql")
    directory = tmp_path / "aiomysql"
    directory.mkdir()
    other = create_connector(
        write_agency(directory, older.render_as_string(hide_password=False), monkeypatch)
    )
    request = FetchRequest.single(tuple(local_ids(population)[:40]), agency.items)
    await other.open()
    try:
        through_aiomysql = await other.fetch(request)
    finally:
        await other.close()
    through_asyncmy = await connector.fetch(request)

    def exactly(found: FetchResult) -> dict[str, dict[str, list[str]]]:
        # repr tells a date from its ISO text, True from 1 and Decimal("2.50") from 2.5;
        # rows tied on their table's order come in either order.
        return {
            local_id: {
                rs: sorted(repr(sorted(r.items())) for r in rows) for rs, rows in rec.items()
            }
            for local_id, rec in found.items()
        }

    assert through_asyncmy and exactly(through_aiomysql) == exactly(through_asyncmy)


async def test_values_of_every_kind_come_back_as_sqlalchemy_reads_them(
    connector: SqlConnector, agency: AgencyConfig, backend: Backend, population: Population
) -> None:
    """Each value is what a plain SQLAlchemy select of its column returns, brought to its
    kind: the same type and the same value (dates, flags, decimals, text)."""
    kinds = {agency.catalogue.items[item].kind for item in agency.items}
    assert kinds >= {ValueKind.STRING, ValueKind.DATE, ValueKind.BOOLEAN, ValueKind.FLOAT}
    batch = local_ids(population)[:40]

    result = await connector.fetch(FetchRequest.single(tuple(batch), agency.items))

    source = agency.source
    expected: dict[str, dict[str, list[dict[str, object]]]] = {}
    engine = create_async_engine(backend.url)
    try:
        async with engine.connect() as conn:
            for name, spec in source.tables.items():
                mine = sorted(item for item in agency.items if source.items[item].table == name)
                columns = sorted({source.items[item].column for item in mine})
                read = table(name, *(table_column(c) for c in {spec.key, *columns}))
                rows = await conn.execute(
                    select(read.c[spec.key], *(read.c[c] for c in columns)).where(
                        read.c[spec.key].in_(batch)
                    )
                )
                for row in rows.mappings():
                    records = expected.setdefault(row[spec.key], {})
                    values: dict[str, dict[str, object]] = {}
                    for item in mine:
                        entry = agency.catalogue.items[item]
                        values.setdefault(record_set_of(item), {})[entry.field] = coerce(
                            entry.kind, row[source.items[item].column]
                        )
                    for rs_name, fields in values.items():
                        records.setdefault(rs_name, []).append(fields)
    finally:
        await engine.dispose()

    def exactly(found: FetchResult) -> dict[str, dict[str, list[str]]]:
        # repr tells a date from its ISO text, True from 1 and Decimal("2.50") from 2.5.
        return {
            local_id: {
                rs: sorted(repr(sorted(r.items())) for r in rows) for rs, rows in rec.items()
            }
            for local_id, rec in found.items()
        }

    assert exactly(result) == exactly(expected)
    seen = {
        type(value)
        for records in result.values()
        for rows in records.values()
        for row in rows
        for value in row.values()
    }
    assert {str, bool} <= seen and seen & {date, str} and seen & {float, Decimal}


async def test_a_shape_is_compiled_once_while_the_ids_change(
    connector: SqlConnector,
    backend: Backend,
    population: Population,
    sql_log: StatementLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled: list[object] = []
    real = sql_connector.compile_shape

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sql_connector, "compile_shape", counting)
    items = frozenset({"demographics.given_name", "alerts.severity"})
    everyone = local_ids(population)

    for start in (0, 3, 6, 9):
        batch = everyone[start : start + 3]
        result = await connector.fetch(FetchRequest.single(tuple(batch), items))
        expected = {i: expected_records(population, i, items) for i in batch}
        assert normalised(result) == expected

    assert len(compiled) == 1, "one shape, compiled once however the ids change"
    statements = sql_log.data_statements()
    assert len(statements) == 4
    if backend.name != "sqlite":  # SQLite's trace shows the values expanded into the text
        assert len({s.sql for s in statements}) == 1
        assert len({s.values for s in statements}) == 4

    # More ids than the bucket holds: a new statement where there are no arrays.
    await connector.fetch(FetchRequest.single(tuple(everyone[:7]), items))
    assert len(compiled) == (1 if backend.name == "postgresql" else 2)
    await connector.fetch(FetchRequest.single(tuple(everyone[7:12]), items))
    assert len(compiled) == (1 if backend.name == "postgresql" else 2)


async def test_every_ordered_table_keeps_its_order_in_one_union(
    connector: SqlConnector, agency: AgencyConfig, population: Population, sql_log: StatementLog
) -> None:
    # Record set -> the item held in its table's order_by column.
    ordered = {
        "alerts": "raised_on",
        "assessments": "completed_on",
        "timeline": "occurred_on",
        "care_packages": "started_on",
    }
    for rs_name, field in ordered.items():
        ref = agency.source.items[f"{rs_name}.{field}"]
        assert agency.source.tables[ref.table].order_by == ref.column

    result = await connector.fetch(FetchRequest.single(tuple(local_ids(population)), agency.items))

    assert len(sql_log.data_statements()) == 1
    compared = 0
    for records in result.values():
        for rs_name, field in ordered.items():
            dates = [str(plain(row[field])) for row in records.get(rs_name, [])]
            assert dates == sorted(dates), (rs_name, dates)
            compared += len(dates) > 1
    assert compared > 10


# --------------------------------------------------------------------------- (f) failures


async def _aiosqlite_workers_finished() -> None:
    """Wait for aiosqlite's worker threads of failed connections to stop.

    When opening a SQLite file fails, aiosqlite queues its thread's stop without
    awaiting it; the thread then reports back to the test's event loop, which is
    closed as soon as the test ends ("Event loop is closed" in the thread).
    """
    for thread in threading.enumerate():
        if thread.name.endswith("(_connection_worker_thread)"):
            await asyncio.to_thread(thread.join, 10)
            assert not thread.is_alive(), thread.name


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://postgres@127.0.0.1:1/postgres",
        "mysql+aiomysql://root@127.0.0.1:1/test",
        "sqlite+aiosqlite:////nonexistent-fame-dir/agency.sqlite",
    ],
    ids=["postgresql", "mariadb", "sqlite"],
)
async def test_unreachable_database_is_agency_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    agency = write_agency(tmp_path, url, monkeypatch)
    connector = create_connector(agency)
    await connector.open()
    try:
        with pytest.raises(AgencyUnavailable) as caught:
            await connector.fetch(
                FetchRequest.single(("ASC-000001",), frozenset({"demographics.given_name"}))
            )
        check = await connector.check()
    finally:
        await connector.close()
        await _aiosqlite_workers_finished()
    assert caught.value.code == "AGENCY_UNAVAILABLE"
    assert caught.value.agency == AGENCY
    assert "Shire Council Adult Social Care" in str(caught.value)
    assert not check.ok and not check.reachable
    assert check.problems == ()


async def test_closed_connector_is_agency_unavailable(agency: AgencyConfig) -> None:
    connector = create_connector(agency)
    with pytest.raises(AgencyUnavailable):
        await connector.fetch(
            FetchRequest.single(("ASC-000001",), frozenset({"demographics.given_name"}))
        )


@pytest.fixture
def sqlite_sleep(backend: Backend) -> Iterator[None]:
    """Give the SQLite connections of this backend a fame_sleep() the slow view calls."""
    if backend.directory is None:
        yield None
        return

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        raw = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        inner = getattr(raw, "_conn", raw)
        inner.create_function("fame_sleep", 1, _sleep)

    event.listen(Engine, "connect", on_connect)
    try:
        yield None
    finally:
        event.remove(Engine, "connect", on_connect)


def _sleep(seconds: float) -> int:
    time.sleep(seconds)  # deliberately slow: this is the database taking its time
    return 0


async def test_slow_statement_is_agency_timeout(
    tmp_path: Path,
    backend: Backend,
    population: Population,
    monkeypatch: pytest.MonkeyPatch,
    sqlite_sleep: None,
) -> None:
    agency = write_agency(
        tmp_path,
        backend.url,
        monkeypatch,
        replace={
            "timeout_seconds = 2.0": "timeout_seconds = 0.3",
            "[tables.clients]": "[tables.slow_clients]",
            '= "clients.': '= "slow_clients.',
        },
    )
    assert agency.timeout_seconds == 0.3
    connector = create_connector(agency)
    await connector.open()
    started = time.monotonic()
    try:
        with pytest.raises(AgencyTimeout) as caught:
            await connector.fetch(
                FetchRequest.single(
                    (local_ids(population)[0],), frozenset({"demographics.given_name"})
                )
            )
    finally:
        await connector.close()
    elapsed = time.monotonic() - started
    assert caught.value.code == "AGENCY_TIMEOUT"
    assert "0.3s" in str(caught.value)
    # SQLite cannot interrupt a statement already running in its thread, so the
    # connector's clean-up waits for it; the servers are told to cancel.
    assert elapsed < SLOW_SECONDS + 1.5
