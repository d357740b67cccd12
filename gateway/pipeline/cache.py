"""A short-lived, in-memory cache of agencies' answers that cannot leak past consent.

Entries are keyed by who asked (practitioner, agency, team, roles, purpose,
break-glass grant), the agency, the agency's local id and the exact set of
items the policy permitted, plus any date ranges. The policy is decided on
every request before the cache is consulted, so an item the policy now
withholds is never looked up, whatever the cache holds. On top of that, a
consent or objection recorded or withdrawn here makes every entry about that
person unusable at once. Expired entries are never served, not even when the
agency is down: an outage shows as an outage, never as old data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from cachetools import TLRUCache

from connectors.base import DateRange, PersonRecords
from gateway.decide.requester import Requester

#: Who asked, reduced to what can change what they may see.
RequesterKey = tuple[Hashable, ...]


def requester_key(requester: Requester, grant_id: str | None) -> RequesterKey:
    """The part of a cache key that keeps one requester's entries from another."""
    return (
        requester.practitioner,
        requester.agency,
        requester.team,
        tuple(sorted(requester.roles)),
        requester.purpose,
        grant_id,
    )


def ranges_key(ranges: Mapping[str, DateRange]) -> tuple[tuple[str, DateRange], ...]:
    """Date ranges as a hashable key part."""
    return tuple(sorted(ranges.items()))


@dataclass(frozen=True)
class CacheKey:
    """One person's answer from one agency for one requester and item set."""

    requester: RequesterKey
    person_id: str
    agency: str
    local_id: str
    items: frozenset[str]
    ranges: tuple[tuple[str, DateRange], ...]


@dataclass(frozen=True)
class _Entry:
    generation: int
    records: PersonRecords


class AnswerCache:
    """Agency answers per person, each agency with its own time to live (0: not cached)."""

    def __init__(
        self,
        ttl_seconds: Mapping[str, float],
        max_entries: int = 10_000,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = {agency: ttl for agency, ttl in ttl_seconds.items() if ttl > 0}
        self._entries: TLRUCache[CacheKey, _Entry] = TLRUCache(
            maxsize=max_entries, ttu=self._expiry, timer=timer
        )
        self._generations: dict[str, int] = {}

    def _expiry(self, key: CacheKey, _value: _Entry, now: float) -> float:
        return now + self._ttl.get(key.agency, 0.0)

    def enabled_for(self, agency: str) -> bool:
        """Whether answers from this agency may be kept at all."""
        return agency in self._ttl

    def get(self, key: CacheKey) -> PersonRecords | None:
        """The cached records, or None when absent, expired or outdated by a consent change."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != self._generations.get(key.person_id, 0):
            self._entries.pop(key, None)
            return None
        return entry.records

    def put(self, key: CacheKey, records: PersonRecords) -> None:
        """Keep an agency's answer about one person (only for agencies that allow it)."""
        if key.agency in self._ttl:
            self._entries[key] = _Entry(self._generations.get(key.person_id, 0), records)

    def forget_person(self, person_id: str) -> None:
        """Make every entry about this person unusable, at once (a consent changed)."""
        self._generations[person_id] = self._generations.get(person_id, 0) + 1

    def __len__(self) -> int:
        return len(self._entries)
