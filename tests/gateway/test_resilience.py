"""The agency guard: circuit breaker, retry budget, concurrency limit and deadline."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import AgencyTimeout, AgencyUnavailable, CircuitOpen, ConnectorError
from gateway.core.registration import Resilience
from gateway.pipeline.resilience import AgencyGuard, CircuitBreaker, CircuitState, RetryBudget


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_circuit_opens_after_enough_failures_within_the_window() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(failures=3, window=10, open_for=5, clock=clock)
    breaker.failed()
    clock.now += 11  # the first failure falls out of the window
    breaker.failed()
    breaker.failed()
    assert breaker.state is CircuitState.CLOSED and breaker.admit()
    breaker.failed()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.admit()
    assert breaker.retry_after == pytest.approx(5)


def test_a_success_forgets_earlier_failures() -> None:
    breaker = CircuitBreaker(failures=2, window=10, open_for=5, clock=Ticks())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state is CircuitState.CLOSED


def test_after_the_wait_exactly_one_probe_passes() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(failures=1, window=10, open_for=5, clock=clock)
    breaker.failed()
    clock.now += 4.9
    assert not breaker.admit()
    clock.now += 0.2
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.admit(), "the probe"
    assert not breaker.admit(), "only one probe at a time"
    breaker.failed()
    assert breaker.state is CircuitState.OPEN, "a failed probe opens it again"
    assert breaker.retry_after == pytest.approx(5)
    clock.now += 5
    assert breaker.admit()
    breaker.succeeded()
    assert breaker.state is CircuitState.CLOSED and breaker.admit() and breaker.admit()


def test_an_abandoned_probe_lets_the_next_call_probe() -> None:
    clock = Ticks()
    breaker = CircuitBreaker(failures=1, window=10, open_for=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.admit()
    breaker.abandon()
    assert breaker.admit()


@settings(max_examples=200, derandomize=True)
@given(st.lists(st.booleans(), max_size=400))
def test_retries_never_exceed_a_fifth_of_calls_plus_the_saved_cap(fails: list[bool]) -> None:
    budget = RetryBudget(ratio=0.2, cap=10)
    calls = retries = 0
    for failed in fails:
        calls += 1
        budget.called()
        if failed and budget.spend():
            retries += 1
    assert retries <= 0.2 * calls + 1e-9


def guard(clock: Ticks | None = None, **resilience: float) -> AgencyGuard:
    return AgencyGuard(
        "trust",
        "The Trust",
        timeout=1.0,
        resilience=Resilience(**resilience),  # type: ignore[arg-type]
        clock=clock or time.monotonic,
    )


async def test_an_open_circuit_refuses_without_calling() -> None:
    clock = Ticks()
    g = guard(clock, circuit_failures=2, circuit_open_seconds=30)
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectorError("trust", "HTTP 500")

    for _ in range(2):
        with pytest.raises(ConnectorError):
            await g.call(failing)
    with pytest.raises(CircuitOpen) as caught:
        await g.call(failing)
    assert calls == 2
    assert caught.value.code == "CIRCUIT_OPEN"
    assert "tried again in 30s" in str(caught.value)
    assert g.state().circuit is CircuitState.OPEN


async def test_connection_failures_are_retried_within_the_budget() -> None:
    g = guard(retries=1)
    outcomes: list[str] = []

    async def flaky() -> str:
        outcomes.append("attempt")
        if len(outcomes) in {6, 8}:
            raise AgencyUnavailable("trust", "refused")
        return "ok"

    # Five calls earn a whole retry; the sixth fails once and is retried.
    assert [await g.call(flaky) for _ in range(6)] == ["ok"] * 6
    assert len(outcomes) == 7 and g.state().retries == 1
    # The budget is spent: the next connection failure is not retried.
    with pytest.raises(AgencyUnavailable):
        await g.call(flaky)
    assert g.state().retries == 1


async def test_other_failures_are_not_retried() -> None:
    g = guard(retries=3)

    async def fine() -> None:
        return None

    for _ in range(20):  # enough calls to have retries in the budget
        await g.call(fine)
    attempts = 0

    async def bad_answer() -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectorError("trust", "not JSON")

    with pytest.raises(ConnectorError):
        await g.call(bad_answer)
    assert attempts == 1


async def test_the_concurrency_limit_holds_and_waiters_time_out_as_busy() -> None:
    g = guard(max_concurrent_calls=2)
    running = 0
    most = 0
    release = asyncio.Event()

    async def slow() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await release.wait()
        finally:
            running -= 1

    tasks = [asyncio.create_task(g.call(slow, time.monotonic() + 0.3)) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert g.state().in_flight == 2 and g.state().waiting == 3
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert most == 2
    busy = [r for r in results if isinstance(r, AgencyTimeout) and "busy" in str(r)]
    timed_out = [r for r in results if isinstance(r, AgencyTimeout) and "busy" not in str(r)]
    assert len(busy) == 3 and len(timed_out) == 2
    assert g.state().in_flight == 0 and g.state().waiting == 0
    # Waiting for a slot is not the agency's failure; the two calls that hung are.
    assert g.breaker.state is CircuitState.CLOSED


async def test_a_passed_deadline_asks_nobody() -> None:
    g = guard()
    called = False

    async def fetch() -> None:
        nonlocal called
        called = True

    with pytest.raises(AgencyTimeout, match="deadline passed"):
        await g.call(fetch, time.monotonic() - 0.01)
    assert not called


async def test_the_deadline_shortens_the_agency_timeout() -> None:
    g = guard()

    async def hang() -> None:
        await asyncio.sleep(5)

    started = time.monotonic()
    with pytest.raises(AgencyTimeout):
        await g.call(hang, time.monotonic() + 0.1)
    assert time.monotonic() - started < 0.9, "cut at the deadline, not the 1 s timeout"
