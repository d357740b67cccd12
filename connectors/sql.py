"""The ``sql`` connector: an agency's own relational database, through SQLAlchemy 2 async.

The agency file maps each catalogue item to ``table.column``. A fetch selects
only the key and the columns of the permitted items, with the batch of local
ids and any date bounds as bound parameters; table and column names come only
from the validated mapping, never from a request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cachetools import LRUCache
from sqlalchemy import (
    Date,
    DateTime,
    Select,
    String,
    bindparam,
    cast,
    column,
    inspect,
    literal_column,
    null,
    select,
    table,
    union_all,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import ColumnElement, Executable, TableClause

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    ConnectorError,
    FetchRequest,
    FetchResult,
    SourceCheck,
)
from connectors.values import coercer
from gateway.core.catalogue import Catalogue, parsing_catalogue, record_set_of
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mariadb+aiomysql",
}
# Large batches are split so no statement carries thousands of parameters;
# the chunks still share one connection.
_CHUNK = 500
_MAX_IDS = 2000


@dataclass(frozen=True)
class _Branch:
    """One table read inside a statement: its ids and where its values are in a row."""

    ids_name: str
    ids: list[str]
    key_label: str
    #: (label in the row, record set, catalogue field, coercer or None) per item.
    fields: tuple[tuple[str, str, str, Callable[[object], object] | None], ...]


@dataclass(frozen=True)
class SqlTable:
    """A mapped table: its name, the column holding the local person id, its row order."""

    name: str
    key: str
    order_by: str | None = None


@dataclass(frozen=True)
class ColumnRef:
    """Where one catalogue item lives: ``table.column``."""

    table: str
    column: str


@dataclass(frozen=True)
class SqlSource:
    """The validated ``[source]``, ``[tables]`` and ``[items]`` of a sql agency."""

    url: str
    url_shown: str
    tables: Mapping[str, SqlTable]
    items: Mapping[str, ColumnRef]


class SqlKind:
    """Parses sql agency files and builds their connectors."""

    name = "sql"

    def parse_source(
        self,
        doc: Mapping[str, Any],
        config_dir: Path,
        problems: Problems,
    ) -> SqlSource | None:
        """Validate the sql-specific parts of an agency file."""
        source = doc.get("source")
        if not isinstance(source, dict):
            problems.add(
                "source",
                "is missing",
                'Add [source] with url = "postgresql+asyncpg://host/db" or url_env = "VARIABLE".',
            )
            return None
        url = self._parse_url(source, config_dir, problems)
        tables = self._parse_tables(doc.get("tables"), problems)
        items = self._parse_items(doc.get("items"), tables, problems, parsing_catalogue())
        if url is None or tables is None or items is None:
            return None
        return SqlSource(
            url=url.render_as_string(hide_password=False),
            url_shown=url.render_as_string(hide_password=True),
            tables=tables,
            items=items,
        )

    def create(self, agency: AgencyConfig) -> SqlConnector:
        """A connector for a validated agency."""
        return SqlConnector(agency)

    @staticmethod
    def _parse_url(source: Mapping[str, Any], config_dir: Path, problems: Problems) -> URL | None:
        for key in sorted(set(source) - {"url", "url_env"}):
            problems.add(
                f"source.{key}",
                "is not a key a sql source takes",
                "Remove it; a sql source takes url or url_env.",
            )
        raw, env = source.get("url"), source.get("url_env")
        if (raw is None) == (env is None):
            problems.add(
                "source.url",
                "both url and url_env are set" if raw is not None else "is missing",
                "Write exactly one: url (no password in it) or url_env naming a variable.",
            )
            return None
        key = "source.url"
        if env is not None:
            key = "source.url_env"
            if not isinstance(env, str) or not env:
                problems.add(key, f"is {env!r}", 'Write the variable\'s name, e.g. "FAME_GP_DSN".')
                return None
            raw = os.environ.get(env)
            if not raw:
                problems.add(
                    key,
                    f"names the environment variable {env}, which is not set",
                    f"Set {env} to the database URL before starting the gateway.",
                )
                return None
        if not isinstance(raw, str):
            problems.add(key, f"is {raw!r}", 'Write a URL, e.g. "postgresql+asyncpg://host/db".')
            return None
        try:
            url = make_url(raw)
        except ArgumentError:
            problems.add(
                key,
                "is not a database URL",
                'Write a SQLAlchemy URL, e.g. "postgresql+asyncpg://reader@db.example/records".',
            )
            return None
        if env is None and url.password:
            problems.add(
                key,
                "holds a password written inline",
                "Secrets never go in agency files: put the URL in an environment variable "
                'and write url_env = "FAME_<AGENCY>_DSN" instead.',
            )
            return None
        backend = url.get_backend_name()
        wanted = _ASYNC_DRIVERS.get(backend)
        if wanted is None:
            problems.add(
                key,
                f"uses the database {backend!r}, which the sql connector does not support",
                "Use sqlite+aiosqlite, postgresql+asyncpg or mysql+aiomysql.",
            )
            return None
        if url.drivername != wanted and not (
            backend == "mysql" and url.drivername == "mysql+aiomysql"
        ):
            problems.add(
                key,
                f"uses the driver {url.drivername!r}, which is not asynchronous",
                f"Write {wanted}://... instead.",
            )
            return None
        if backend == "sqlite" and url.database and url.database != ":memory:":
            path = Path(url.database)
            if not path.is_absolute():
                path = (config_dir / path).resolve()
            # Read-only: the gateway never writes to an agency's system, and a
            # missing file must be "unreachable", not silently created empty.
            url = url.set(
                database=f"file:{quote(str(path))}",
                query={**url.query, "mode": "ro", "uri": "true"},
            )
        return url

    @staticmethod
    def _parse_tables(raw: Any, problems: Problems) -> dict[str, SqlTable] | None:
        if not isinstance(raw, dict) or not raw:
            problems.add(
                "tables",
                "is missing",
                'Add one [tables.<name>] per table with key = "<column holding your person id>".',
            )
            return None
        tables: dict[str, SqlTable] = {}
        ok = True
        for name, spec in raw.items():
            where = f"tables.{name}"
            if not _IDENTIFIER.match(name):
                problems.add(where, "is not a plain table name", "Use letters, digits and _.")
                ok = False
                continue
            if not isinstance(spec, dict):
                problems.add(where, "is not a table", f'Write [tables.{name}] with key = "...".')
                ok = False
                continue
            for extra in sorted(set(spec) - {"key", "order_by"}):
                problems.add(f"{where}.{extra}", "is not a key a table takes", "Use key, order_by.")
                ok = False
            key, order_by = spec.get("key"), spec.get("order_by")
            if not isinstance(key, str) or not _IDENTIFIER.match(key):
                problems.add(
                    f"{where}.key",
                    "is missing or not a plain column name",
                    "Name the column that holds your local person id.",
                )
                ok = False
                continue
            if order_by is not None and (
                not isinstance(order_by, str) or not _IDENTIFIER.match(order_by)
            ):
                problems.add(
                    f"{where}.order_by",
                    "is not a plain column name",
                    "Name one column, or omit it.",
                )
                ok = False
                continue
            tables[name] = SqlTable(name=name, key=key, order_by=order_by)
        return tables if ok else None

    @staticmethod
    def _parse_items(
        raw: Any, tables: Mapping[str, SqlTable] | None, problems: Problems, catalogue: Catalogue
    ) -> dict[str, ColumnRef] | None:
        if not isinstance(raw, dict):
            return None
        items: dict[str, ColumnRef] = {}
        table_of_set: dict[str, tuple[str, str]] = {}
        ok = True
        for item, target in raw.items():
            where = f'items."{item}"'
            if item not in catalogue.items:
                ok = False
                continue
            table_name, dot, col = (
                target.partition(".") if isinstance(target, str) else ("", "", "")
            )
            if not dot or not _IDENTIFIER.match(table_name) or not _IDENTIFIER.match(col):
                problems.add(
                    where, f"is {target!r}", 'Write "table.column", e.g. "patients.forename".'
                )
                ok = False
                continue
            if tables is not None and table_name not in tables:
                problems.add(
                    where,
                    f"maps to table {table_name!r}, which has no [tables.{table_name}] section",
                    f'Add [tables.{table_name}] with key = "<person id column>".',
                )
                ok = False
                continue
            rs = record_set_of(item)
            first = table_of_set.setdefault(rs, (table_name, item))
            if first[0] != table_name:
                problems.add(
                    where,
                    f"maps record set {rs!r} to table {table_name!r}, but {first[1]!r} maps it "
                    f"to {first[0]!r}",
                    "Map every item of one record set to the same table (a view can join them).",
                )
                ok = False
                continue
            items[item] = ColumnRef(table=table_name, column=col)
        return items if ok else None


class SqlConnector:
    """Reads an agency's relational database; one connection per fetch, only mapped columns."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: SqlSource = agency.source
        self._catalogue = agency.catalogue
        self._engine: AsyncEngine | None = None
        self._column_types: dict[tuple[str, str], Any] | None = None
        self._shapes: LRUCache[Hashable, tuple[Executable, list[_Branch]]] = LRUCache(256)

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    async def open(self) -> None:
        """Create the engine (connections are made lazily, on first use)."""
        if self._engine is None:
            # No pre-ping: it would cost every fetch a second round trip to the
            # agency. Connections are recycled instead, and a dead one fails
            # that fetch as AGENCY_UNAVAILABLE.
            resilience = self._agency.resilience
            self._engine = create_async_engine(
                self._source.url,
                pool_recycle=1800,
                # The agency's guard already holds calls to max_concurrent_calls,
                # so the pool never makes anyone wait and never grows past it.
                pool_size=resilience.max_concurrent_calls,
                max_overflow=0,
                connect_args=_connect_timeout(self._source.url, resilience.connect_timeout_seconds),
            )

    async def close(self) -> None:
        """Dispose of the engine and its pooled connections."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Select only the permitted items' columns for each group, in one connection."""
        # One SELECT per table and distinct column set; people who may see the
        # same items share it, whatever group they came in.
        selects: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
        for group in request.groups:
            by_table: dict[str, list[str]] = defaultdict(list)
            for item in sorted(group.items):
                ref = self._source.items.get(item)
                if ref is not None:
                    by_table[ref.table].append(item)
            for table_name, table_items in by_table.items():
                selects[(table_name, tuple(table_items))].extend(group.local_ids)
        result: FetchResult = {}
        if not selects:
            return result
        try:
            async with asyncio.timeout(self._agency.timeout_seconds):
                async with self._connect() as conn:
                    if self._column_types is None:
                        self._column_types = await conn.run_sync(self._reflect_column_types)
                    for statement, branches in self._statements(selects, request):
                        await self._run(conn, statement, branches, result)
        except TimeoutError as exc:
            raise AgencyTimeout(
                self.agency_id,
                f"{self._agency.name} did not answer within {self._agency.timeout_seconds:g}s",
            ) from exc
        except (OperationalError, InterfaceError, OSError) as exc:
            raise AgencyUnavailable(
                self.agency_id, f"{self._agency.name}'s database could not be reached"
            ) from exc
        except DBAPIError as exc:
            raise ConnectorError(
                self.agency_id,
                f"{self._agency.name}'s database rejected the query; "
                f"run `fame-gateway check {self.agency_id}`",
            ) from exc
        return result

    def _connect(self) -> Any:
        if self._engine is None:
            raise AgencyUnavailable(self.agency_id, f"{self._agency.name}'s connector is closed")
        return self._engine.connect()

    def _statements(
        self,
        selects: Mapping[tuple[str, tuple[str, ...]], list[str]],
        request: FetchRequest,
    ) -> list[tuple[Executable, list[_Branch]]]:
        """As few statements as the batch allows: normally one for the whole fetch.

        Each (table, columns) read is a branch; several branches are joined by
        UNION ALL, each writing its columns into slots of its own (NULL in the
        others), so that an agency with four mapped tables still sees one call
        costing one round trip. A branch also reads its table's ``order_by``
        column, to order by; it is never returned. Huge batches are split so
        that no statement carries more than ``_MAX_IDS`` ids.
        """
        pieces: list[tuple[str, tuple[str, ...], list[str]]] = []
        for (table_name, items), local_ids in sorted(selects.items()):
            for start in range(0, len(local_ids), _CHUNK):
                pieces.append((table_name, items, local_ids[start : start + _CHUNK]))
        batches: list[list[tuple[str, tuple[str, ...], list[str]]]] = [[]]
        carried = 0
        for piece in pieces:
            if batches[-1] and carried + len(piece[2]) > _MAX_IDS:
                batches.append([])
                carried = 0
            batches[-1].append(piece)
            carried += len(piece[2])
        return [self._shaped_statement(batch, request) for batch in batches]

    def _shaped_statement(
        self, pieces: list[tuple[str, tuple[str, ...], list[str]]], request: FetchRequest
    ) -> tuple[Executable, list[_Branch]]:
        # Building the statement costs more than running it on a near database:
        # keep one per shape (tables, items, date bounds); only the ids change.
        shape = (
            tuple((table_name, items) for table_name, items, _ in pieces),
            tuple(sorted(request.ranges.items())),
        )
        found = self._shapes.get(shape)
        if found is None:
            found = self._shapes[shape] = self._statement(pieces, request)
            return found
        statement, branches = found
        return statement, [
            replace(branch, ids=piece[2]) for branch, piece in zip(branches, pieces, strict=True)
        ]

    def _statement(
        self, pieces: list[tuple[str, tuple[str, ...], list[str]]], request: FetchRequest
    ) -> tuple[Executable, list[_Branch]]:
        single = len(pieces) == 1
        widths = [len(self._read_columns(table_name, items)) for table_name, items, _ in pieces]
        total = sum(widths)
        nulls = [] if single else self._typed_nulls(pieces)
        selects = []
        branches: list[_Branch] = []
        order_slots: list[str] = []
        offset = 0
        for index, (table_name, items, local_ids) in enumerate(pieces):
            spec = self._source.tables[table_name]
            read = self._read_columns(table_name, items)
            mapped = {self._source.items[item].column for item in items}
            source_table = table(table_name, *(column(name) for name in {spec.key, *read}))
            key_col = source_table.c[spec.key]
            ids_name = f"ids_{index}"
            if single:
                # One read: a plain SELECT of the key and the columns, nothing else.
                labels = {name: name for name in read}
                listed: list[ColumnElement[Any]] = [
                    key_col,
                    *(
                        source_table.c[name]
                        for name in read
                        if name != spec.key and (name != spec.order_by or name in mapped)
                    ),
                ]
                key_label = spec.key
            else:
                labels = {name: f"c{offset + position}" for position, name in enumerate(read)}
                slots = {labels[name]: source_table.c[name] for name in read}
                listed = [
                    literal_column(str(index)).label("b"),
                    cast(key_col, String()).label("k"),
                    *(
                        slots.get(f"c{slot}", nulls[slot]).label(f"c{slot}")
                        for slot in range(total)
                    ),
                ]
                key_label = "k"
            stmt = select(*listed).where(key_col.in_(bindparam(ids_name, expanding=True)))
            stmt = self._date_bounds(stmt, source_table, table_name, items, request, index)
            if single:
                order = [key_col]
                if spec.order_by:
                    order.append(source_table.c[spec.order_by])
                stmt = stmt.order_by(*order)
            elif spec.order_by:
                order_slots.append(labels[spec.order_by])
            selects.append(stmt)
            branches.append(
                _Branch(
                    ids_name=ids_name,
                    ids=local_ids,
                    key_label=key_label,
                    fields=tuple(
                        (
                            labels[self._source.items[item].column],
                            record_set_of(item),
                            self._catalogue.items[item].field,
                            coercer(self._catalogue.items[item].kind),
                        )
                        for item in items
                    ),
                )
            )
            offset += widths[index]
        if single:
            return selects[0], branches
        # Rows of one branch carry NULL in every other branch's slots, so ordering
        # by all the order slots in turn orders each branch by its own column.
        combined = union_all(*selects).order_by(
            literal_column("b"), literal_column("k"), *(literal_column(o) for o in order_slots)
        )
        return combined, branches

    def _typed_nulls(
        self, pieces: list[tuple[str, tuple[str, ...], list[str]]]
    ) -> list[ColumnElement[Any]]:
        """A NULL for each slot, typed like the column the slot holds where that matters.

        PostgreSQL resolves UNION types pairwise from the left, so a slot that is
        NULL in the first two branches would become text and clash with a later
        date or number; a typed NULL avoids that. The other databases resolve
        over all branches and take a plain NULL.
        """
        typed = self._engine is not None and self._engine.dialect.name == "postgresql"
        nulls: list[ColumnElement[Any]] = []
        for table_name, items, _ in pieces:
            for name in self._read_columns(table_name, items):
                kind = self._column_type(table_name, name) if typed else None
                nulls.append(cast(null(), kind) if kind is not None else null())
        return nulls

    def _read_columns(self, table_name: str, items: tuple[str, ...]) -> list[str]:
        spec = self._source.tables[table_name]
        read = list(dict.fromkeys(self._source.items[item].column for item in items))
        if spec.order_by and spec.order_by not in read:
            read.append(spec.order_by)
        return read

    def _date_bounds(
        self,
        stmt: Select[Any],
        source_table: TableClause,
        table_name: str,
        items: tuple[str, ...],
        request: FetchRequest,
        index: int,
    ) -> Select[Any]:
        for rs_name in sorted({record_set_of(item) for item in items}):
            date_field = self._catalogue.record_sets_by_name[rs_name].date_field
            bounds = request.ranges.get(rs_name)
            if date_field is None or bounds is None or bounds.open:
                continue
            ref = self._source.items.get(f"{rs_name}.{date_field}")
            if ref is None:
                continue
            date_col = (
                source_table.c[ref.column] if ref.column in source_table.c else column(ref.column)
            )
            bind_type = (
                Date()
                if isinstance(self._column_type(table_name, ref.column), Date | DateTime)
                else String()
            )
            if bounds.start is not None:
                stmt = stmt.where(
                    date_col
                    >= bindparam(
                        f"date_from_{index}",
                        _bind_date(bounds.start, bind_type),
                        type_=bind_type,
                    )
                )
            if bounds.end is not None:
                stmt = stmt.where(
                    date_col
                    <= bindparam(
                        f"date_to_{index}", _bind_date(bounds.end, bind_type), type_=bind_type
                    )
                )
        return stmt

    @staticmethod
    async def _run(
        conn: AsyncConnection, statement: Executable, branches: list[_Branch], result: FetchResult
    ) -> None:
        rows = await conn.execute(statement, {b.ids_name: b.ids for b in branches})
        # Positions looked up once per statement: rows are read as plain tuples, without
        # building a mapping object for each.
        position = {str(key): index for index, key in enumerate(rows.keys())}
        shapes = [
            (
                position[branch.key_label],
                [
                    (position[label], rs_name, field, convert)
                    for label, rs_name, field, convert in branch.fields
                ],
            )
            for branch in branches
        ]
        asked = [set(branch.ids) for branch in branches]
        single = len(branches) == 1
        branch_at = None if single else position["b"]
        for row in rows:
            index = 0 if branch_at is None else int(row[branch_at])
            key_at, fields = shapes[index]
            local_id = str(row[key_at])
            if local_id not in asked[index]:
                # Collations that ignore case or trailing spaces can answer
                # for ids spelled differently: only exact ids asked for count.
                continue
            records = result.setdefault(local_id, {})
            built: dict[str, dict[str, object]] = {}
            for at, rs_name, field, convert in fields:
                value = row[at]
                if value is not None and convert is not None:
                    value = convert(value)
                row_of = built.get(rs_name)
                if row_of is None:
                    row_of = built[rs_name] = {}
                row_of[field] = value
            for rs_name, values in built.items():
                records.setdefault(rs_name, []).append(values)

    def _reflect_column_types(self, sync_conn: Any) -> dict[tuple[str, str], Any]:
        inspector = inspect(sync_conn)
        found: dict[tuple[str, str], Any] = {}
        for name in self._source.tables:
            try:
                cols = inspector.get_columns(name)
            except Exception:
                continue
            for col in cols:
                found[(name, col["name"])] = col["type"]
        return found

    def _column_type(self, table_name: str, column_name: str) -> Any:
        return (self._column_types or {}).get((table_name, column_name))

    async def check(self) -> SourceCheck:
        """Connect and confirm every mapped table and column exists."""
        try:
            async with asyncio.timeout(max(self._agency.timeout_seconds, 5.0)):
                async with self._connect() as conn:
                    existing = await conn.run_sync(self._existing_columns)
        except (TimeoutError, OperationalError, InterfaceError, OSError, DBAPIError) as exc:
            return SourceCheck(
                agency=self.agency_id,
                ok=False,
                reachable=False,
                detail=f"cannot reach {self._source.url_shown}: {type(exc).__name__}",
            )
        problems: list[ConfigError] = []
        file = self._agency.file
        for name, spec in self._source.tables.items():
            cols = existing.get(name)
            if cols is None:
                problems.append(
                    ConfigError(
                        file,
                        f"tables.{name}",
                        "names a table the database does not have",
                        "Check the table name (and schema) in the agency's database.",
                    )
                )
                continue
            for key, col in (("key", spec.key), ("order_by", spec.order_by)):
                if col is not None and col not in cols:
                    problems.append(
                        ConfigError(
                            file,
                            f"tables.{name}.{key}",
                            f"names column {col!r}, which table {name!r} does not have",
                            f"Use one of: {', '.join(sorted(cols))}.",
                        )
                    )
        for item, ref in sorted(self._source.items.items()):
            cols = existing.get(ref.table)
            if cols is not None and ref.column not in cols:
                problems.append(
                    ConfigError(
                        file,
                        f'items."{item}"',
                        f"maps to column {ref.column!r}, which table {ref.table!r} does not have",
                        f"Use one of: {', '.join(sorted(cols))}.",
                    )
                )
        detail = (
            f"{len(self._source.items)} items in {len(self._source.tables)} tables"
            if not problems
            else f"{len(problems)} mapping problem(s)"
        )
        return SourceCheck(
            agency=self.agency_id,
            ok=not problems,
            reachable=True,
            detail=detail,
            problems=tuple(problems),
        )

    def _existing_columns(self, sync_conn: Any) -> dict[str, set[str]]:
        inspector = inspect(sync_conn)
        names = set(inspector.get_table_names()) | set(inspector.get_view_names())
        return {
            name: {col["name"] for col in inspector.get_columns(name)}
            for name in self._source.tables
            if name in names
        }


def _connect_timeout(url: str, seconds: float) -> dict[str, object]:
    """The driver's own connect-timeout argument (SQLite opens a file: none)."""
    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"timeout": seconds}
    if driver == "aiomysql":
        return {"connect_timeout": seconds}
    return {}


def _bind_date(value: dt.date, bind_type: Any) -> object:
    # Agencies that keep dates as ISO text compare correctly against ISO text.
    return value if isinstance(bind_type, Date) else value.isoformat()
