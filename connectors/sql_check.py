"""The live check of a sql agency: each way it can fail gets its own message.

A connection failure is told apart by the driver's own error (refused, unknown host,
timeout, unknown database, refused user or password, missing SQLite file) and names
the host, port or file, with the driver's words as the cause. Reached, every mapped
table and column must exist (the nearest names are offered), and every column must be
able to hold its item's kind: its declared type, and a few of its values read back.
"""

from __future__ import annotations

import asyncio
import difflib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import column, inspect, select, table
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ColumnClause

from connectors.base import SourceCheck
from connectors.sql_source import SqlSource
from connectors.value_checks import KIND_WORDS, value_fits
from gateway.core.catalogue import ValueKind
from gateway.core.errors import ConfigError
from gateway.core.registration import AgencyConfig

#: Values read per mapped column to see whether they fit the item's kind.
SAMPLE_ROWS = 20
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_WRONG_DATABASE: set[str | int] = {"3D000", 1049}
_WRONG_LOGIN: set[str | int] = {"28000", "28P01", 1045, 1698}
_DATABASE_DENIED: set[str | int] = {"42501", 1044}
_NUMBERS = (sqltypes.Integer, sqltypes.Numeric, sqltypes.Float)


@dataclass(frozen=True)
class Target:
    """What is checked: the agency, its mapping, and the URL it connects with."""

    agency: AgencyConfig
    source: SqlSource
    url: URL


def driver_cause(exc: BaseException) -> str:
    """The driver's own words for a failure, e.g. ``asyncpg InvalidCatalogNameError:
    database "x" does not exist``, beneath SQLAlchemy's wrapper."""
    root = _root(exc)
    package = type(root).__module__.split(".")[0]
    prefix = "" if package == "builtins" else f"{package} "
    return f"{prefix}{type(root).__name__}: {root}".strip()


def _root(exc: BaseException) -> BaseException:
    found: BaseException = exc
    if isinstance(found, DBAPIError) and found.orig is not None:
        found = found.orig
    while found.__cause__ is not None and found.__cause__ is not found:
        found = found.__cause__
    return found


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if orig is not None else current.__cause__
    return chain


def _codes(chain: list[BaseException]) -> set[str | int]:
    """The SQLSTATE (PostgreSQL) and error number (MySQL) the driver gave, where any."""
    codes: set[str | int] = set()
    for exc in chain:
        state = getattr(exc, "sqlstate", None)
        if isinstance(state, str):
            codes.add(state)
        args = getattr(exc, "args", ())
        if args and isinstance(args[0], int) and not isinstance(exc, OSError):
            codes.add(args[0])
    return codes


def connection_failure(exc: BaseException, target: Target, seconds: float) -> ConfigError:
    """One precise ConfigError for a connection that failed, by what the driver said."""
    url, file, key = target.url, target.agency.file, target.source.url_key
    if target.source.url_file is not None:
        where = f"in {target.source.url_file}"
    else:
        where = f"in {target.source.url_env}" if target.source.url_env else "in source.url"
    cause = driver_cause(exc)
    chain = _chain(exc)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            return ConfigError(
                file,
                key,
                f"names the SQLite file {path}, which does not exist ({cause})",
                "Check the path (a relative path is read from the settings' directory); the "
                "gateway opens agency files read-only and never creates them.",
            )
        return ConfigError(
            file,
            key,
            f"names the SQLite file {path}, which cannot be opened as a database ({cause})",
            "Check that it is an SQLite database the gateway's user may read.",
        )
    host = url.host or "localhost"
    port = url.port or _DEFAULT_PORTS.get(backend, 0)
    codes = _codes(chain)
    if any(isinstance(e, socket.gaierror) for e in chain):
        return ConfigError(
            file,
            key,
            f"names the host {host!r}, which could not be found ({cause})",
            f"Check the host name {where}, and that this machine's DNS can resolve it.",
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return ConfigError(
            file,
            key,
            f"points at {host}:{port}, which refused the connection: no database listens "
            f"there ({cause})",
            f"Check the host and port {where}, and that the database server is running "
            "and accepts connections from this machine.",
        )
    if isinstance(exc, TimeoutError) or any(isinstance(e, TimeoutError) for e in chain):
        return ConfigError(
            file,
            key,
            f"points at {host}:{port}, which did not answer within {seconds:g}s",
            f"Check the host and port {where}, and that no firewall drops the connection; "
            "raise connect_timeout_seconds only for a slow network.",
        )
    if codes & _WRONG_DATABASE:
        return ConfigError(
            file,
            key,
            f"names the database {url.database!r}, which {host}:{port} does not have ({cause})",
            f"Check the database name at the end of the URL {where} (the agency's DBA knows it).",
        )
    if codes & _WRONG_LOGIN:
        return ConfigError(
            file,
            key,
            f"logs in as {url.username!r}, whom {host}:{port} refused: wrong user name or "
            f"password ({cause})",
            f"Check the user and password {where} with the agency's DBA; the gateway "
            "needs a read-only login.",
        )
    if codes & _DATABASE_DENIED:
        return ConfigError(
            file,
            key,
            f"logs in as {url.username!r}, who may not use the database {url.database!r} ({cause})",
            "Ask the agency's DBA to grant that login read access to the database.",
        )
    if isinstance(_root(exc), OSError):
        return ConfigError(
            file,
            key,
            f"points at {host}:{port}, which could not be reached ({cause})",
            f"Check the host and port {where} and the network between them.",
        )
    return ConfigError(
        file,
        key,
        f"points at {host}:{port}, whose database refused the connection ({cause})",
        f"Check the URL {where} against the cause the driver gives.",
    )


def declared_fit(kind: ValueKind, declared: Any) -> bool:
    """Whether a column declared with this SQL type can hold the item's kind at all
    (text columns may, if their values parse; those are read and checked)."""
    if kind is ValueKind.STRING or isinstance(declared, sqltypes.NullType):
        return True
    if kind is ValueKind.DATE:
        return isinstance(declared, sqltypes.Date | sqltypes.DateTime | sqltypes.String)
    if kind is ValueKind.BOOLEAN:
        return isinstance(
            declared, sqltypes.Boolean | sqltypes.Integer | sqltypes.Numeric | sqltypes.Float
        )
    return isinstance(
        declared, sqltypes.Integer | sqltypes.Numeric | sqltypes.Float | sqltypes.String
    )


def _nearest(name: str, names: set[str]) -> str:
    near = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.6)
    return f"Did you mean {near[0]!r}? " if near else ""


def _listed(names: set[str], limit: int = 30) -> str:
    ordered = sorted(names)
    more = f", ... ({len(ordered) - limit} more)" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


async def check_sql(target: Target, connect: Callable[[], Any]) -> SourceCheck:
    """Connect, then check every mapped table, column and kind; one line per check."""
    agency, source = target.agency, target.source
    seconds = max(agency.timeout_seconds, 5.0)
    problems: list[ConfigError] = []
    passed: list[str] = []
    missing = _missing_sqlite_file(target.url)
    if missing is not None:
        # Told before connecting: aiosqlite's worker of a failed open outlives the check
        # and reports to an event loop that a command has closed by then.
        return _cannot_connect(
            agency.id,
            connection_failure(FileNotFoundError(2, "No such file", str(missing)), target, seconds),
        )
    try:
        async with asyncio.timeout(seconds), connect() as conn:
            names = await conn.run_sync(lambda sync: set(_all_names(sync)))
            passed.append(f"connected to {target.url.render_as_string(hide_password=True)}")
            columns = await conn.run_sync(lambda sync: _columns(sync, source, names))
            _check_mapping(target, names, columns, problems, passed)
            for table_name in sorted(columns):
                await _sample(conn, target, table_name, columns[table_name], problems, passed)
    except (TimeoutError, DBAPIError, OSError) as exc:
        if passed:  # connected, then failed reading: a database error, not a connection's
            problems.append(
                ConfigError(
                    agency.file,
                    "tables",
                    f"could not be read ({driver_cause(exc)})",
                    "Check that the gateway's login may read every mapped table.",
                )
            )
        else:
            return _cannot_connect(
                agency.id,
                connection_failure(exc, target, agency.resilience.connect_timeout_seconds),
            )
    detail = (
        f"{len(source.items)} items in {len(source.tables)} tables"
        if not problems
        else f"{len(problems)} mapping problem(s)"
    )
    return SourceCheck(
        agency=agency.id,
        ok=not problems,
        reachable=True,
        detail=detail,
        problems=tuple(problems),
        passed=tuple(passed),
    )


def _cannot_connect(agency_id: str, cause: ConfigError) -> SourceCheck:
    return SourceCheck(
        agency=agency_id,
        ok=False,
        reachable=False,
        detail=f"cannot connect: {cause.problem}",
        cause=cause,
    )


def _sqlite_path(url: URL) -> Path:
    return Path(unquote((url.database or "").removeprefix("file:")))


def _missing_sqlite_file(url: URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = _sqlite_path(url)
    return None if path.exists() else path


def _all_names(sync_conn: Any) -> set[str]:
    inspector = inspect(sync_conn)
    return set(inspector.get_table_names()) | set(inspector.get_view_names())


def _columns(sync_conn: Any, source: SqlSource, names: set[str]) -> dict[str, dict[str, Any]]:
    inspector = inspect(sync_conn)
    return {
        name: {col["name"]: col["type"] for col in inspector.get_columns(name)}
        for name in source.tables
        if name in names
    }


def _check_mapping(
    target: Target,
    names: set[str],
    columns: Mapping[str, Mapping[str, Any]],
    problems: list[ConfigError],
    passed: list[str],
) -> None:
    file, source = target.agency.file, target.source
    for name, spec in source.tables.items():
        cols = columns.get(name)
        if cols is None:
            problems.append(
                ConfigError(
                    file,
                    f"tables.{name}",
                    "names a table the database does not have",
                    f"{_nearest(name, names)}Check the table name (and schema) in the "
                    f"agency's database; it has: {_listed(names) or '(no tables)'}.",
                )
            )
            continue
        before = len(problems)
        for key, col in (("key", spec.key), ("order_by", spec.order_by)):
            if col is not None and col not in cols:
                problems.append(
                    ConfigError(
                        file,
                        f"tables.{name}.{key}",
                        f"names column {col!r}, which table {name!r} does not have",
                        f"{_nearest(col, set(cols))}Use one of: {_listed(set(cols))}.",
                    )
                )
        if len(problems) == before:
            passed.append(f"table {name} has its key column {spec.key!r}")
    for item, ref in sorted(source.items.items()):
        cols = columns.get(ref.table)
        if cols is None:
            continue
        if ref.column not in cols:
            problems.append(
                ConfigError(
                    file,
                    f'items."{item}"',
                    f"maps to column {ref.column!r}, which table {ref.table!r} does not have",
                    f"{_nearest(ref.column, set(cols))}Use one of: {_listed(set(cols))}.",
                )
            )
            continue
        kind = target.agency.catalogue.items[item].kind
        declared = cols[ref.column]
        if not declared_fit(kind, declared):
            problems.append(
                ConfigError(
                    file,
                    f'items."{item}"',
                    f"maps to column {ref.table}.{ref.column} of type {declared}, which cannot "
                    f"hold {KIND_WORDS[kind]} as the item {item} ({kind.value}) needs",
                    "Map a column of a fitting type, or a view that converts this one.",
                )
            )


async def _sample(
    conn: Any,
    target: Target,
    table_name: str,
    cols: Mapping[str, Any],
    problems: list[ConfigError],
    passed: list[str],
) -> None:
    """Read a few values of each mapped column and parse them as the item's kind."""
    file, source = target.agency.file, target.source
    mapped = sorted(
        (item, ref.column)
        for item, ref in source.items.items()
        if ref.table == table_name and ref.column in cols
    )
    for item, col in mapped:
        kind = target.agency.catalogue.items[item].kind
        if not declared_fit(kind, cols[col]):
            continue  # already reported from the declared type
        where = f"{table_name}.{col}"
        if kind is ValueKind.STRING:
            passed.append(f"{item} -> {where} (text)")
            continue
        source_col: ColumnClause[Any] = column(col)
        statement = (
            select(source_col)
            .select_from(table(table_name, source_col))
            .where(source_col.is_not(None))
            .limit(SAMPLE_ROWS)
        )
        values = list((await conn.execute(statement)).scalars())
        wrong = [value for value in values if not value_fits(kind, value)]
        if wrong:
            problems.append(
                ConfigError(
                    file,
                    f'items."{item}"',
                    f"maps to column {where}, which holds {wrong[0]!r}: not {KIND_WORDS[kind]}, "
                    f"so the item {item} ({kind.value}) would be served as {wrong[0]!r} "
                    f"({len(wrong)} of {len(values)} values read do not fit)",
                    f"Map a column holding {KIND_WORDS[kind]}, or a view that converts this "
                    "one; a column of other values belongs to another item (see "
                    "`fame-gateway items`).",
                )
            )
            continue
        read = f"{len(values)} values read fit" if values else "no values yet to read"
        passed.append(f"{item} -> {where} ({kind.value}: {read})")
