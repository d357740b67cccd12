"""The SQLite state database's one writer: a thread of its own, fed through a queue.

Every write to a SQLite state database runs here, one transaction at a time, on one
``sqlite3`` connection kept for the thread's life. A caller on the event loop puts its
operation on the queue and gets an asyncio future; the thread answers it with
``call_soon_threadsafe``, one wake-up of the loop per operation. The transaction is
begun and committed straight on ``sqlite3`` (``BEGIN IMMEDIATE``, so that the write lock
is taken at the start: reading the audit head and appending after it are one atomic
step, also across processes); a failure there is raised as the same SQLAlchemy error
class SQLAlchemy would raise for it, and the transaction is rolled back, so that the
next operation starts clean. Statements an operation runs through SQLAlchemy go
through it as before (its error mapping and listeners included).

An operation's :class:`Durability` says whether its COMMIT waits for the disk
(``PRAGMA synchronous=FULL``) or only for the WAL to hold it (``NORMAL``); the thread
keeps a connection set each way, so that no commit pays for changing it. In WAL mode
a commit of either kind is visible to every reader and survives a crash of this
process, and the next commit that waits for the disk puts every earlier one there too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.governance import state_errors

T = TypeVar("T")


class Durability(Enum):
    """What a write's commit waits for before its caller hears it is done."""

    #: On disk: survives a power cut once committed. Every write but the audit's intent.
    DISK = "disk"
    #: Committed: visible to every reader and process, and kept through a crash of the
    #: gateway's process; on disk with the next DISK commit (the database's log keeps
    #: commits in order), so only a power cut or an operating-system crash (on
    #: PostgreSQL, also a crash of the database server) before that can lose it.
    COMMITTED = "committed"


#: SQLite's ``synchronous`` setting for each durability, in WAL mode.
_SYNCHRONOUS = {Durability.DISK: "FULL", Durability.COMMITTED: "NORMAL"}


@dataclass(frozen=True)
class _Job(Generic[T]):
    fn: Callable[..., T]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]
    #: The submitter's context: a failure is logged under its request id.
    context: contextvars.Context
    durability: Durability


@dataclass(frozen=True)
class _Stop:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


class SqliteWriter:
    """Runs write operations ``fn(connection, ...)`` one transaction each, on its thread,
    on the connection of ``engines`` for the operation's durability.

    The thread starts with the first operation and ends with :meth:`stop`.
    """

    def __init__(self, engines: Mapping[Durability, Engine]) -> None:
        self._engines = dict(engines)
        self._jobs: queue.SimpleQueue[_Job[Any] | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(
        self, durability: Durability, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> asyncio.Future[T]:
        """Queue ``fn(connection, *args, **kwargs)``; the future has its result once
        committed as ``durability`` says.

        A failure is logged here (the operation, never its data) and set on the future.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fame-state-write", daemon=True)
            self._thread.start()
        self._jobs.put(_Job(fn, args, kwargs, loop, future, contextvars.copy_context(), durability))
        return future

    async def stop(self) -> None:
        """Finish the operations queued, close the connection and end the thread."""
        if self._thread is None:
            for engine in self._engines.values():
                engine.dispose()
            return
        loop = asyncio.get_running_loop()
        stopped: asyncio.Future[None] = loop.create_future()
        self._jobs.put(_Stop(loop, stopped))
        await stopped
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        connections: dict[Durability, Connection] = {}
        while True:
            job = self._jobs.get()
            if isinstance(job, _Stop):
                # The connections are closed on this thread: sqlite3 refuses another's.
                for kept in connections.values():
                    kept.close()
                for engine in self._engines.values():
                    engine.dispose()
                _answer(job.loop, job.future, None, None)
                return
            conn = connections.get(job.durability)
            try:
                if conn is None:
                    conn = connections[job.durability] = self._engines[job.durability].connect()
                result = transaction(conn, job.fn, job.args, job.kwargs)
            except BaseException as exc:  # whatever it is, the caller must hear of it
                job.context.run(state_errors.operation_failed, "write", job.fn, exc)
                # Start the next operation on a fresh checkout, whatever state this left.
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                    connections.pop(job.durability, None)
                _answer(job.loop, job.future, None, exc)
            else:
                _answer(job.loop, job.future, result, None)


class WriteLockBusy(Exception):
    """Another connection holds the state database's write lock; nothing was written."""


def transaction_if_free(
    conn: Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """:func:`transaction` on a connection that does not wait for the write lock
    (``busy_timeout=0``): raises :class:`WriteLockBusy`, with nothing written, when another
    connection holds it."""
    db = conn.connection.driver_connection
    assert isinstance(db, sqlite3.Connection)
    try:
        _driver_step(conn, "BEGIN IMMEDIATE", lambda: db.execute("BEGIN IMMEDIATE"))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY:
            raise WriteLockBusy(str(exc.orig)) from exc
        raise
    return _finish(conn, db, fn, args, kwargs)


def transaction(
    conn: Connection, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> T:
    """``fn(conn, *args, **kwargs)`` in one ``BEGIN IMMEDIATE`` transaction, committed if it
    returns and rolled back if anything raises."""
    db = conn.connection.driver_connection
    assert isinstance(db, sqlite3.Connection)
    _driver_step(conn, "BEGIN IMMEDIATE", lambda: db.execute("BEGIN IMMEDIATE"))
    return _finish(conn, db, fn, args, kwargs)


def synchronous(durability: Durability) -> str:
    """SQLite's ``synchronous`` setting (in WAL mode) for commits that wait as
    ``durability`` says."""
    return _SYNCHRONOUS[durability]


def _finish(
    conn: Connection,
    db: sqlite3.Connection,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> T:
    # The transaction is begun: run fn and commit, or roll back whatever it left.
    try:
        result = fn(conn, *args, **kwargs)
        if conn.in_transaction():
            # fn ran statements through SQLAlchemy, whose transaction is only bookkeeping
            # here (its begin emits nothing): its commit is sqlite3's, errors mapped by it.
            conn.commit()
        else:
            _driver_step(conn, "COMMIT", db.commit)
    except BaseException:
        with contextlib.suppress(Exception):
            if db.in_transaction:
                db.rollback()
        with contextlib.suppress(Exception):
            if conn.in_transaction():
                conn.rollback()
        raise
    return result


def _driver_step(conn: Connection, statement: str, step: Callable[[], object]) -> None:
    try:
        step()
    except sqlite3.Error as exc:
        # The class SQLAlchemy raises for this driver error (OperationalError, ...), so a
        # caller sees the same failure whichever path ran the statement.
        raise DBAPIError.instance(
            statement, None, exc, sqlite3.Error, dialect=conn.dialect
        ) from exc


def _answer(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[T],
    result: T | None,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():  # the caller gave up; what it asked for was still done (or not)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    # A loop closed meanwhile has nobody left to answer.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)
