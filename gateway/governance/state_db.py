"""The state database as the request path reaches it: at most one hand-off per operation.

Every operation is a synchronous function over a SQLAlchemy ``Connection`` (the same
table definitions and statements everywhere), run whole in one step:

- **SQLite**: reads on the event loop's own thread, writes on a dedicated writer
  thread (:mod:`gateway.governance.state_writer`), each with its own ``sqlite3``
  connection. Through the async engine (aiosqlite) every statement, row fetch, begin and
  commit was its own hand-off between threads, about sixty per request; here a read is
  none and a write of any number of statements is one. WAL lets readers go on while the
  writer commits. A caller with nothing else to do meanwhile (the audit, when no other
  request is running) may write on the event loop's thread instead, if the write lock is
  free at once: a hand-off to the writer thread and back costs two thread wake-ups, each
  about a tenth of a millisecond on an idle virtual machine.
- **PostgreSQL, MariaDB**: the async engine's ``run_sync`` over asyncpg or aiomysql,
  which need no threads; asyncpg prepares each statement once per connection.

Reads see whatever any process has committed by the time they run: nothing is kept
here between operations. The request path keeps the rows it is decided on in memory
(``gateway.governance.state_reads``), but checks them against the state's change marker
on every read, so a consent withdrawn through one gateway process still applies to the
very next query of every other.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import SingletonThreadPool

from gateway.governance import state_errors
from gateway.governance.state import create_state_engine
from gateway.governance.state_writer import (
    Durability,
    SqliteWriter,
    WriteLockBusy,
    synchronous,
    transaction_if_free,
)

P = ParamSpec("P")
T = TypeVar("T")

#: How long a SQLite writer waits for another process's write lock before failing.
SQLITE_BUSY_MS = 10_000


def _sqlite_engine(
    url: str,
    *,
    immediate: bool,
    busy_ms: int = SQLITE_BUSY_MS,
    durability: Durability | None = None,
) -> Engine:
    # Each thread keeps its one connection for the process's life: no pool checkout,
    # no reset on return beyond a rollback that SQLite answers at once. A writer's
    # connection commits as ``durability`` says, set once: changing it per transaction
    # cost two statements on the path of every request.
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_engine(sync_url, poolclass=SingletonThreadPool, pool_size=1)
    state_errors.watch(engine)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        if immediate:
            # The writer begins its transactions by hand (BEGIN IMMEDIATE), so that the
            # write lock is taken at BEGIN: sqlite3 must not begin any of its own.
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if durability is not None:
            cursor.execute(f"PRAGMA synchronous={synchronous(durability)}")
        cursor.close()

    return engine


class StateDatabase:
    """Runs synchronous operations against the state database, each in one step.

    ``read`` runs on a connection outside any explicit transaction (each statement sees
    the latest commit); ``write`` runs in one transaction, committed when the function
    returns and rolled back if it raises.
    """

    def __init__(self, url: str, *, engine: AsyncEngine | None = None) -> None:
        self.url = url
        self._owns_engine = engine is None
        self.engine: AsyncEngine = engine or create_state_engine(url)
        self.dialect = self.engine.dialect.name
        self._reader: Engine | None = None
        #: Per durability, the writer thread's engines and the event loop's own.
        self._writers: dict[Durability, Engine] = {}
        self._inline_writers: dict[Durability, Engine] = {}
        self._write_thread: SqliteWriter | None = None
        if self.dialect == "sqlite" and engine is None:
            self._reader = _sqlite_engine(url, immediate=False)
            self._writers = {
                d: _sqlite_engine(url, immediate=True, durability=d) for d in Durability
            }
            # Never wait for the write lock: whoever holds it, the writer thread waits.
            # They do wait for the disk when asked to (and checkpoint the log when a commit
            # passes SQLite's threshold), holding up the loop: only a caller with nothing
            # else running uses them.
            self._inline_writers = {
                d: _sqlite_engine(url, immediate=True, busy_ms=0, durability=d) for d in Durability
            }
            self._write_thread = SqliteWriter(self._writers)
        #: Connections of the event loop's thread: the reader's (``connection``), and the
        #: inline writers' by durability (``writing``).
        self._held = threading.local()

    @classmethod
    def over(cls, engine: AsyncEngine) -> StateDatabase:
        """Operations run through ``engine``'s own ``run_sync`` (no threads of their own);
        for set-up and tools that already hold an engine, which stays theirs to dispose."""
        return cls(engine.url.render_as_string(hide_password=False), engine=engine)

    def statement_engines(self) -> list[Engine]:
        """The synchronous engines statements actually run on (for event listeners)."""
        if self._reader is not None:
            return [self._reader, *self._writers.values(), *self._inline_writers.values()]
        return [self.engine.sync_engine]

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(connection, ...)`` on a connection with no transaction of its own."""
        try:
            if self._reader is not None:
                # On the event loop's own thread: a WAL reader never waits for a writer, and
                # the request path's reads are a few indexed lookups, well under a millisecond;
                # a hand-off to another thread cost more than that in wake-ups and waiting for
                # the interpreter lock, on the path of every request.
                return self._read_inline(fn, *args, **kwargs)
            async with self.engine.connect() as conn:
                return await conn.run_sync(fn, *args, **kwargs)
        except Exception as exc:  # logged (the operation, not the data) and raised on
            state_errors.operation_failed("read", fn, exc)
            raise

    def _read_inline(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # The thread's connection is held between reads: checking it out of the pool and
        # back in (with its reset) for every read cost more than the read. Ending
        # SQLAlchemy's implicit transaction after each read keeps what it always was: each
        # statement sees the latest commit.
        assert self._reader is not None
        conn: Connection | None = getattr(self._held, "connection", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held.connection = self._reader.connect()
        try:
            result = fn(conn, *args, **kwargs)
            conn.rollback()
        except BaseException:
            # Whatever state a failed read left behind is not carried into the next.
            self._held.connection = None
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return result

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``fn(connection, ...)`` in one transaction, committed if it returns."""
        if self._write_thread is not None:
            return await self._write_thread.submit(Durability.DISK, fn, *args, **kwargs)
        return await self._write_through_engine(Durability.DISK, fn, *args, **kwargs)

    @property
    def writes_inline(self) -> bool:
        """Whether :meth:`write_if_free` can write here (a SQLite state database)."""
        return bool(self._inline_writers)

    def write_if_free(
        self,
        durability: Durability,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(connection, ...)`` in one transaction, now, on the calling thread, committed
        as ``durability`` says; for a caller with nothing else to do meanwhile.

        Raises :class:`WriteLockBusy`, with nothing written, if another connection holds
        the write lock (the writer thread, another process): the caller then writes
        through :meth:`start_write`, whose thread waits for it.
        """
        assert self._inline_writers, "write_if_free needs a SQLite state database"
        held: dict[Durability, Connection] | None = getattr(self._held, "writing", None)
        if held is None:
            held = self._held.writing = {}
        conn = held.get(durability)
        if conn is None or conn.closed or conn.invalidated:
            conn = held[durability] = self._inline_writers[durability].connect()
        try:
            return transaction_if_free(conn, fn, args, kwargs)
        except WriteLockBusy:
            raise
        except BaseException as exc:
            # Whatever state a failed write left behind is not carried into the next.
            del held[durability]
            with contextlib.suppress(Exception):
                conn.close()
            if isinstance(exc, Exception):  # logged (the operation, not the data)
                state_errors.operation_failed("write", fn, exc)
            raise

    def start_write(
        self,
        durability: Durability,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> asyncio.Future[T]:
        """Start ``fn(connection, ...)`` in one transaction now; the future has its result
        once committed as ``durability`` says, or its error (logged: the operation, not the
        data).

        On SQLite the operation is on the writer thread's queue before this returns, with no
        turn of the event loop in between. ``Durability.COMMITTED`` is SQLite's
        ``synchronous=NORMAL`` and PostgreSQL's ``synchronous_commit = off`` for this
        transaction; MariaDB has no such setting per transaction, and waits as its server
        is configured to.
        """
        if self._write_thread is not None:
            return self._write_thread.submit(durability, fn, *args, **kwargs)
        return asyncio.ensure_future(self._write_through_engine(durability, fn, *args, **kwargs))

    async def _write_through_engine(
        self,
        durability: Durability,
        fn: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        try:
            async with self.engine.begin() as conn:
                if durability is Durability.COMMITTED and self.dialect == "postgresql":
                    # For this transaction only: its commit returns once the WAL record is
                    # written, without waiting for the flush; the next commit that waits
                    # flushes the WAL past it.
                    await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                return await conn.run_sync(fn, *args, **kwargs)
        except Exception as exc:  # logged (the operation, not the data) and raised on
            state_errors.operation_failed("write", fn, exc)
            raise

    async def dispose(self) -> None:
        """Close every connection and stop the threads."""
        if self._write_thread is not None:
            # Each connection is closed on the thread that uses it (sqlite3 refuses another
            # thread's): the reader's here, on the event loop's, the writer's on its own.
            assert self._reader is not None
            reading: Connection | None = getattr(self._held, "connection", None)
            writing: dict[Durability, Connection] = getattr(self._held, "writing", None) or {}
            for held in [reading, *writing.values()]:
                if held is not None:
                    held.close()
            self._held.connection = self._held.writing = None
            self._reader.dispose()
            for engine in self._inline_writers.values():
                engine.dispose()
            await self._write_thread.stop()
            self._write_thread = None
        if self._owns_engine:
            await self.engine.dispose()
