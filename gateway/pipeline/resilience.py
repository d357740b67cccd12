"""Keeping one slow or broken agency from spoiling everyone's answers.

Each agency gets an ``AgencyGuard``: a concurrency limit, a time budget (its
own timeout, cut short by the request's deadline), a circuit breaker and a
retry budget. The guard never changes *what* is asked, only whether and for
how long; what a failure means for the answer is the fan-out's business.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from connectors.base import AgencyTimeout, AgencyUnavailable, CircuitOpen, ConnectorError
from gateway.core.registration import Resilience

T = TypeVar("T")
Monotonic = Callable[[], float]

#: A retry is worth trying only with this much of the agency's timeout still left.
_RETRY_MIN_FRACTION = 0.25


class CircuitState(StrEnum):
    """closed: calls pass; open: calls are refused at once; half_open: one probe passes."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``failures`` failures within ``window`` seconds; probes after ``open_for``.

    While open, ``admit`` answers False without touching the agency, so a dead
    agency costs a request microseconds rather than its whole timeout. After
    ``open_for`` seconds exactly one call is admitted as a probe: its success
    closes the circuit, its failure opens it again for another ``open_for``.
    """

    def __init__(
        self, failures: int, window: float, open_for: float, clock: Monotonic = time.monotonic
    ) -> None:
        self._threshold = failures
        self._window = window
        self._open_for = open_for
        self._clock = clock
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        """The state now (an open circuit whose wait has passed reads as half-open)."""
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self._open_for:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    @property
    def retry_after(self) -> float:
        """Seconds until an open circuit admits a probe (0 when not open)."""
        if self._opened_at is None or self._probing:
            return 0.0
        return max(0.0, self._open_for - (self._clock() - self._opened_at))

    def admit(self) -> bool:
        """Whether a call may go to the agency now; a True in half-open is the probe."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN or self._probing:
            return False
        self._probing = True
        return True

    def abandon(self) -> None:
        """An admitted call never reached the agency: let the next call probe instead."""
        self._probing = False

    def succeeded(self) -> None:
        """The agency answered: close the circuit and forget past failures."""
        self._opened_at = None
        self._probing = False
        self._failures.clear()

    def failed(self) -> None:
        """The agency failed: count it, and open (or re-open) the circuit when due."""
        now = self._clock()
        if self._opened_at is not None:
            # A failed probe (or a call admitted before the circuit opened).
            self._opened_at = now
            self._probing = False
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._window:
            self._failures.popleft()
        if len(self._failures) >= self._threshold:
            self._opened_at = now
            self._failures.clear()


class RetryBudget:
    """Retries may add at most ``ratio`` extra calls over the calls made.

    Every call deposits ``ratio`` of a token, every retry spends a whole one,
    so however an agency fails, retries stay within the ratio (plus ``cap``
    saved during quiet spells, which bounds a burst).
    """

    def __init__(self, ratio: float = 0.2, cap: float = 10.0) -> None:
        self._ratio = ratio
        self._cap = cap
        self._tokens = 0.0

    def called(self) -> None:
        """One call was made."""
        self._tokens = min(self._cap, self._tokens + self._ratio)

    def spend(self) -> bool:
        """Take a retry if the budget allows one."""
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class GuardState:
    """A snapshot of a guard, for the agencies query, /readyz and /metrics."""

    circuit: CircuitState
    in_flight: int
    waiting: int
    retry_after: float
    calls: int
    retries: int


class AgencyGuard:
    """Calls one agency within its limits; see the module docstring."""

    def __init__(
        self,
        agency_id: str,
        name: str,
        timeout: float,
        resilience: Resilience,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.agency_id = agency_id
        self.name = name
        self.timeout = timeout
        self.resilience = resilience
        self._clock = clock
        self.breaker = CircuitBreaker(
            resilience.circuit_failures,
            resilience.circuit_window_seconds,
            resilience.circuit_open_seconds,
            clock,
        )
        self.budget = RetryBudget()
        self._slots = asyncio.Semaphore(resilience.max_concurrent_calls)
        self._in_flight = 0
        self._waiting = 0
        self._calls = 0
        self._retries = 0

    def state(self) -> GuardState:
        """How the guard stands now."""
        return GuardState(
            circuit=self.breaker.state,
            in_flight=self._in_flight,
            waiting=self._waiting,
            retry_after=self.breaker.retry_after,
            calls=self._calls,
            retries=self._retries,
        )

    async def call(self, fetch: Callable[[], Awaitable[T]], deadline: float | None = None) -> T:
        """Run ``fetch`` against the agency, or raise the ConnectorError saying why not.

        ``deadline`` is the request's, on the guard's clock: no attempt (and no
        wait for a slot) outlives it.
        """
        if not self.breaker.admit():
            wait = self.breaker.retry_after
            raise CircuitOpen(
                self.agency_id,
                f"{self.name} failed repeatedly and is not being asked; "
                + (f"it will be tried again in {wait:.0f}s" if wait else "a probe is under way"),
            )
        try:
            await self._acquire(deadline)
        except ConnectorError:
            self.breaker.abandon()
            raise
        try:
            return await self._attempts(fetch, deadline)
        finally:
            self._in_flight -= 1
            self._slots.release()

    async def _acquire(self, deadline: float | None) -> None:
        budget = self._time_left(deadline)
        if budget <= 0:
            raise AgencyTimeout(
                self.agency_id, f"the request's deadline passed before {self.name} could be asked"
            )
        if not self._slots.locked():
            # A slot is free: taken at once, with no timer to set and cancel for the wait
            # (two per request, on the path of every agency call).
            await self._slots.acquire()
            self._in_flight += 1
            return
        self._waiting += 1
        try:
            async with asyncio.timeout(budget):
                await self._slots.acquire()
        except TimeoutError:
            raise AgencyTimeout(
                self.agency_id,
                f"{self.name} is busy: all {self.resilience.max_concurrent_calls} of its "
                f"connections stayed in use for {budget:.1f}s",
            ) from None
        finally:
            self._waiting -= 1
        self._in_flight += 1

    async def _attempts(self, fetch: Callable[[], Awaitable[T]], deadline: float | None) -> T:
        attempt = 0
        while True:
            budget = self._time_left(deadline)
            self._calls += 1
            self.budget.called()
            try:
                async with asyncio.timeout(budget):
                    result = await fetch()
            except TimeoutError:
                self.breaker.failed()
                raise AgencyTimeout(
                    self.agency_id, f"{self.name} did not answer within {budget:.1f}s"
                ) from None
            except AgencyUnavailable:
                self.breaker.failed()
                if self._may_retry(attempt, deadline):
                    attempt += 1
                    self._retries += 1
                    continue
                raise
            except BaseException as exc:
                if isinstance(exc, Exception):
                    self.breaker.failed()
                else:  # cancelled: the agency is not to blame
                    self.breaker.abandon()
                raise
            self.breaker.succeeded()
            return result

    def _may_retry(self, attempt: int, deadline: float | None) -> bool:
        # Only connection failures are retried: they fail fast and are often
        # transient (a recycled connection, a restarting pod). A timeout would
        # cost another whole timeout, and a bad answer would come back the same.
        return (
            attempt < self.resilience.retries
            and self.breaker.state is CircuitState.CLOSED
            and self._time_left(deadline) >= self.timeout * _RETRY_MIN_FRACTION
            and self.budget.spend()
        )

    def _time_left(self, deadline: float | None) -> float:
        if deadline is None:
            return self.timeout
        return min(self.timeout, deadline - self._clock())
