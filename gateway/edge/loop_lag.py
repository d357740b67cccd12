"""A probe of the event loop: how late a short sleep wakes up is how long something held it.

Every request shares one loop, so anything that holds it (a large document parsed
in line, a slow synchronous call) delays every other request by as much. The probe
keeps the worst lag seen and a histogram of them, for /metrics and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib

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
        self._task: asyncio.Task[None] | None = None
        self._worst = 0.0

    def start(self) -> None:
        """Begin probing on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + INTERVAL_SECONDS
            await asyncio.sleep(INTERVAL_SECONDS)
            lag = max(0.0, loop.time() - expected)
            self.lags.observe(lag)
            if lag > self._worst:
                self._worst = lag
                self.worst.set(lag)
