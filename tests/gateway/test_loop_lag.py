"""The event-loop probe sees a stall as lag, in its histogram and its worst-lag gauge, and
stops when asked."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry

from gateway.edge.loop_lag import LoopLagProbe


def _value(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None, name
    return value


async def test_a_stall_is_measured_and_stop_ends_the_probe() -> None:
    registry = CollectorRegistry()
    probe = LoopLagProbe(registry)
    probe.start()
    probe.start()  # a second start changes nothing
    await asyncio.sleep(0.05)
    # Hold the loop: the 10 ms timer due meanwhile runs at least 70 ms late.
    time.sleep(0.08)  # noqa: ASYNC251
    await asyncio.sleep(0.05)
    assert _value(registry, "fame_event_loop_lag_max_seconds") >= 0.07
    assert _value(registry, "fame_event_loop_lag_seconds_count") >= 2
    # The stall counts once, in the buckets above 50 ms.
    slow = registry.get_sample_value("fame_event_loop_lag_seconds_bucket", {"le": "0.05"})
    every = registry.get_sample_value("fame_event_loop_lag_seconds_bucket", {"le": "+Inf"})
    assert slow is not None and every is not None and every - slow >= 1
    await probe.stop()
    stopped = _value(registry, "fame_event_loop_lag_seconds_count")
    await asyncio.sleep(0.05)
    assert _value(registry, "fame_event_loop_lag_seconds_count") == stopped
    await probe.stop()  # a second stop changes nothing
