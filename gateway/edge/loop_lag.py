"""A probe of the event loop: how late a short sleep wakes up is how long something held it.

Every request shares one loop, so anything that holds it (a large document parsed
in line, a slow synchronous call) delays every other request by as much. The probe
keeps the worst lag seen and a histogram of them, for /metrics and the benchmark.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Gauge, Histogram

#: Short enough to see a 50 ms stall; at 100 wakeups a second it costs next to nothing.
INTERVAL_SECONDS = 0.01
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class LoopLagProbe:
    """Measures how late the loop runs a timer, from ``start`` until ``stop``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.worst = Gauge(
            "fame_event_loop_lag_max_seconds",
            "The longest the event loop was late to wake a 10 ms timer since start.",
            registry=registry,
        )
        self.lags = Histogram(
            "fame_event_loop_lag_seconds",
            "How late the event loop woke a 10 ms timer.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.Handle | None = None
        self._expected = 0.0
        self._worst = 0.0

    def start(self) -> None:
        """Begin probing on the running loop."""
        if self._timer is None:
            self._loop = asyncio.get_running_loop()
            self._arm()

    async def stop(self) -> None:
        """Stop probing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        # A timer callback, not a task sleeping in a loop: a tick then costs a timer and a
        # handle, where a sleep costs a future, a timer and task steps besides.
        assert self._loop is not None
        self._expected = self._loop.time() + INTERVAL_SECONDS
        self._timer = self._loop.call_at(self._expected, self._due)

    def _due(self) -> None:
        # Measured one pass of the ready queue later, where a coroutine that slept would
        # wake: the lag is what any sleeping request waits, as it always was.
        assert self._loop is not None
        self._timer = self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        lag = max(0.0, self._loop.time() - self._expected)
        self.lags.observe(lag)
        if lag > self._worst:
            self._worst = lag
            self.worst.set(lag)
        self._arm()
