"""The change marker of the state a request is decided on, and rows kept while it stands.

``state_version`` holds one counter that database triggers bump in the same
transaction as every change to ``persons``, ``person_links``, ``consents`` and
``break_glass_grants``, whoever makes it (revision ``0004_state_version``). A value read
is therefore never seen again once any of those rows has changed.

A :class:`MarkedCache` keeps rows for one marker value. The rule that keeps it correct:
read the marker *before* the rows. Rows read after the marker showed ``v`` are at least
as new as the state ``v`` stands for; if they are newer still, the marker has moved
too, and the next read only flushes them. Rows are stored only while the cache is
still at the value read before them, so a read that raced a newer one never files
older rows under the newer value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from cachetools import LRUCache
from sqlalchemy import Connection, select

from gateway.governance.state import state_version
from gateway.governance.state_sqlite import driver

K = TypeVar("K")
V = TypeVar("V")

_MARKER = select(state_version.c.version).where(state_version.c.id == 1)
_MARKER_SQL = "SELECT version FROM state_version WHERE id = 1"


def read_marker(conn: Connection) -> int | None:
    """The state's change marker now; None if its row is missing (then nothing is kept)."""
    db = driver(conn)
    # Every row fetched, so that sqlite3 ends the statement (and its read snapshot) now.
    rows = db.execute(_MARKER_SQL).fetchall() if db is not None else conn.execute(_MARKER).all()
    return int(rows[0][0]) if rows else None


class MarkedCache(Generic[K, V]):
    """Values valid for one marker value, at most ``maxsize`` of them (least recently
    used go first); any other marker value empties it."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._marker: int | None = None
        self._values: LRUCache[K, V] = LRUCache(maxsize)

    def __len__(self) -> int:
        return len(self._values)

    def hits(self, marker: int | None, keys: Iterable[K]) -> dict[K, V]:
        """The values kept for ``keys`` if the marker read now is the one they were read
        under; otherwise everything is dropped and nothing is a hit."""
        if marker != self._marker:
            # A new cache rather than clear(), which pops entries one by one.
            self._values = LRUCache(self._maxsize)
            self._marker = marker
        if marker is None:
            return {}
        values = self._values
        return {key: values[key] for key in keys if key in values}

    def store(self, marker: int | None, values: Mapping[K, V]) -> None:
        """Keep ``values``, read after ``marker`` was, if the cache is still at ``marker``."""
        if marker is not None and marker == self._marker:
            self._values.update(values)
