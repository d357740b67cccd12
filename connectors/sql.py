"""The ``sql`` connector: an agency's own relational database, through SQLAlchemy 2 async.

The agency file maps each catalogue item to ``table.column``. A fetch selects
only the key and the columns of the permitted items, with the batch of local
ids and any date bounds as bound parameters; table and column names come only
from the validated mapping, never from a request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.expression import ColumnElement, CompoundSelect, TableClause

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    ConnectorError,
    FetchRequest,
    FetchResult,
    SourceCheck,
)
from connectors.sql_check import Target, check_sql
from connectors.sql_compiled import (
    CompiledShape,
    Field,
    bucket,
    compile_shape,
    ids_condition,
    uses_array,
)
from connectors.sql_slots import assign_slots
from connectors.sql_source import ColumnRef, SqlSource, SqlTable, parse_sql_source
from connectors.values import coercer
from gateway.core.catalogue import record_set_of
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

__all__ = ["ColumnRef", "SqlConnector", "SqlKind", "SqlSource", "SqlTable"]

# Large batches are split so no statement carries thousands of parameters;
# the chunks still share one connection.
_CHUNK = 500
_MAX_IDS = 2000


#: One read of a statement: its table, the items it reads, the ids it reads them for and
#: the number of placeholders they fill (None: one array parameter; see sql_compiled).
_Piece = tuple[str, tuple[str, ...], list[str], int | None]


@dataclass(frozen=True)
class _Branch:
    """One table read inside a statement: where its values are in a row."""

    ids_name: str
    key_label: str
    #: (label in the row, record set, catalogue field, coercer or None) per item.
    fields: tuple[Field, ...]


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
        return parse_sql_source(doc, config_dir, problems)

    def create(self, agency: AgencyConfig) -> SqlConnector:
        """A connector for a validated agency."""
        return SqlConnector(agency)


class SqlConnector:
    """Reads an agency's relational database; one connection per fetch, only mapped columns."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: SqlSource = agency.source
        self._catalogue = agency.catalogue
        self._engine: AsyncEngine | None = None
        self._url = ""
        self._column_types: dict[tuple[str, str], Any] | None = None
        self._shapes: LRUCache[Hashable, CompiledShape] = LRUCache(256)

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    async def open(self) -> None:
        """Create the engine (connections are made lazily, on first use).

        A URL held in an environment variable is read here, not when the file is: a
        ConfigError naming the variable when it is unset.
        """
        if self._engine is None:
            url = self._source.resolve_url(self._agency.file)
            self._url = url.render_as_string(hide_password=False)
            # No pre-ping: it would cost every fetch a second round trip to the
            # agency. Connections are recycled instead, and a dead one fails
            # that fetch as AGENCY_UNAVAILABLE.
            resilience = self._agency.resilience
            self._engine = create_async_engine(
                self._url,
                pool_recycle=1800,
                # The agency's guard already holds calls to max_concurrent_calls,
                # so the pool never makes anyone wait and never grows past it.
                pool_size=resilience.max_concurrent_calls,
                max_overflow=0,
                connect_args=_connect_timeout(self._url, resilience.connect_timeout_seconds),
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
                    for shape, ids in self._statements(selects, request):
                        await self._run(conn, shape, ids, result)
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
    ) -> list[tuple[CompiledShape, list[list[str]]]]:
        """As few statements as the batch allows: normally one for the whole fetch.

        Each (table, columns) read is a branch; several branches are joined by
        UNION ALL, each writing its columns into slots (NULL in the others; columns
        of one type share one, see sql_slots), so that an agency with four mapped
        tables still sees one call costing one round trip. A branch also reads its
        table's ``order_by`` column, to order by; it is never returned. Huge batches
        are split so that no statement carries more than ``_MAX_IDS`` ids, padding
        included.
        """
        assert self._engine is not None
        array = uses_array(self._engine.dialect)
        pieces: list[_Piece] = []
        for (table_name, items), local_ids in sorted(selects.items()):
            for start in range(0, len(local_ids), _CHUNK):
                chunk = local_ids[start : start + _CHUNK]
                size = None if array else bucket(len(chunk), _CHUNK)
                pieces.append((table_name, items, chunk, size))
        if not pieces:
            return []
        batches: list[list[_Piece]] = [[]]
        carried = 0
        for piece in pieces:
            weight = piece[3] or len(piece[2])
            if batches[-1] and carried + weight > _MAX_IDS:
                batches.append([])
                carried = 0
            batches[-1].append(piece)
            carried += weight
        return [
            (self._shaped_statement(batch, request), [piece[2] for piece in batch])
            for batch in batches
        ]

    def _shaped_statement(self, pieces: list[_Piece], request: FetchRequest) -> CompiledShape:
        # Building and rendering the statement costs more than running it on a near
        # database: keep one per shape (tables, items, placeholders, date bounds) and
        # hand the driver the same SQL again, only the ids changing.
        shape = (
            tuple((table_name, items, size) for table_name, items, _, size in pieces),
            tuple(sorted(request.ranges.items())),
        )
        found = self._shapes.get(shape)
        if found is None:
            assert self._engine is not None
            statement, branches = self._statement(pieces, request)
            found = self._shapes[shape] = compile_shape(
                statement,
                self._engine.dialect,
                [(b.ids_name, b.key_label, b.fields) for b in branches],
                [piece[3] for piece in pieces],
            )
        return found

    def _statement(
        self, pieces: list[_Piece], request: FetchRequest
    ) -> tuple[Select[Any] | CompoundSelect[Any], list[_Branch]]:
        single = len(pieces) == 1
        slots_of, slot_types = assign_slots(
            [
                [
                    (
                        name,
                        self._column_type(table_name, name),
                        name != self._source.tables[table_name].order_by,
                    )
                    for name in self._read_columns(table_name, items)
                ]
                for table_name, items, *_ in pieces
            ],
            implicit_collation_known=self._engine is None
            or self._engine.dialect.name not in ("mysql", "mariadb"),
        )
        nulls = [] if single else self._typed_nulls(slot_types)
        selects = []
        branches: list[_Branch] = []
        order_slots: list[str] = []
        for index, (table_name, items, _, size) in enumerate(pieces):
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
                labels = {name: f"c{slot}" for name, slot in slots_of[index].items()}
                slots = {labels[name]: source_table.c[name] for name in read}
                listed = [
                    literal_column(str(index)).label("b"),
                    cast(key_col, String()).label("k"),
                    *(
                        slots.get(f"c{slot}", nulls[slot]).label(f"c{slot}")
                        for slot in range(len(slot_types))
                    ),
                ]
                key_label = "k"
            stmt = select(*listed).where(ids_condition(key_col, ids_name, size))
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
        if single:
            return selects[0], branches
        # An order_by column has a slot of its own (see sql_slots), NULL in every other
        # branch's rows, so ordering by all the order slots in turn orders each branch
        # by its own column.
        combined = union_all(*selects).order_by(
            literal_column("b"), literal_column("k"), *(literal_column(o) for o in order_slots)
        )
        return combined, branches

    def _typed_nulls(self, slot_types: list[Any]) -> list[ColumnElement[Any]]:
        """A NULL for each slot, typed like the column the slot holds where that matters.

        PostgreSQL resolves UNION types pairwise from the left, so a slot that is
        NULL in the first two branches would become text and clash with a later
        date or number; a typed NULL avoids that. The other databases resolve
        over all branches and take a plain NULL.
        """
        typed = self._engine is not None and self._engine.dialect.name == "postgresql"
        return [cast(null(), kind) if typed and kind is not None else null() for kind in slot_types]

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
        conn: AsyncConnection, shape: CompiledShape, ids: list[list[str]], result: FetchResult
    ) -> None:
        # The SQL as the driver takes it, with positional values: nothing to render or
        # adapt per execution. Going through the connection keeps SQLAlchemy's error
        # translation, invalidation of broken connections and transaction handling.
        executed = await conn.exec_driver_sql(shape.sql, shape.parameters(ids))
        try:
            # The driver's own rows (tuples, asyncpg records), already buffered by the
            # time the call returns: no Row object is built for each.
            rows = executed.cursor.fetchall()
        finally:
            executed.close()
        shape.collect(rows, ids, result)

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
        """Connect, then check every mapped table and column and that its values fit the
        item's kind; each failure is its own precise ConfigError (see ``sql_check``)."""
        if self._engine is None:
            try:
                await self.open()
            except ConfigError as exc:
                return SourceCheck(
                    self.agency_id, ok=False, reachable=False, detail=exc.problem, cause=exc
                )
        return await check_sql(
            Target(self._agency, self._source, make_url(self._url)), self._connect
        )


def _connect_timeout(url: str, seconds: float) -> dict[str, object]:
    """The driver's own connect-timeout argument (SQLite opens a file: none)."""
    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"timeout": seconds}
    if driver in ("asyncmy", "aiomysql"):
        return {"connect_timeout": seconds}
    return {}


def _bind_date(value: dt.date, bind_type: Any) -> object:
    # Agencies that keep dates as ISO text compare correctly against ISO text.
    return value if isinstance(bind_type, Date) else value.isoformat()
