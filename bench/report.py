"""Figures per variant and workload, the targets, and ``bench/RESULTS.md``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bench.load import Slice, percentile
from bench.world import SLOWEST_SECONDS


@dataclass
class Measurement:
    """Everything measured for one variant under one workload, over all its slices."""

    variant: str
    workload: str
    concurrency: int
    #: The latency of the slowest source the workload's query reaches, ms.
    slowest_ms: float = SLOWEST_SECONDS * 1000
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    cpu: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)

    def add(self, piece: Slice, cpu: float, calls: dict[str, int]) -> None:
        """Fold one slice in: its latencies, errors, time, CPU and source calls."""
        self.latencies.extend(piece.latencies)
        self.errors += piece.errors
        self.first_error = self.first_error or piece.first_error
        self.seconds += piece.elapsed
        self.cpu += cpu
        for agency, count in calls.items():
            self.calls[agency] = self.calls.get(agency, 0) + count

    @property
    def queries(self) -> int:
        """Answers received."""
        return len(self.latencies)

    @property
    def p50_ms(self) -> float:
        """Median latency, ms."""
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        """99th percentile latency, ms (nearest rank: with few queries, close to the max)."""
        return percentile(self.latencies, 0.99) * 1000

    @property
    def overhead_ms(self) -> float:
        """p50 minus the slowest source's latency, ms."""
        return self.p50_ms - self.slowest_ms

    @property
    def rps(self) -> float:
        """Answers per second over the variant's own slices."""
        return self.queries / self.seconds if self.seconds else float("nan")

    @property
    def cpu_ms(self) -> float:
        """Server CPU (user + system, all threads) per query, ms."""
        return self.cpu * 1000 / self.queries if self.queries else float("nan")

    @property
    def calls_per_query(self) -> float:
        """Calls the sources themselves counted, per query."""
        return sum(self.calls.values()) / self.queries if self.queries else float("nan")

    def calls_detail(self) -> str:
        """Calls per query per agency, e.g. ``gp 4, social-care 4, ...``."""
        if not self.queries:
            return ""
        return ", ".join(
            f"{agency.removeprefix('bench-')} {count / self.queries:g}"
            for agency, count in sorted(self.calls.items())
        )


@dataclass(frozen=True)
class Target:
    """One performance target: what it asks, what was measured, whether it is met."""

    name: str
    wanted: str
    measured: str
    met: bool
    #: Set when the target could not be measured: why (shown instead of MET / NOT MET).
    not_measured: str | None = None

    @property
    def verdict(self) -> str:
        """MET, NOT MET, or NOT MEASURED with the reason."""
        if self.not_measured is not None:
            return f"NOT MEASURED ({self.not_measured})"
        return "MET" if self.met else "NOT MET"


def _f(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def table(measurements: Sequence[Measurement]) -> list[str]:
    """The results table (markdown lines)."""
    lines = [
        "| workload | variant | queries | errors | p50 ms | p99 ms | overhead ms "
        "| source calls / query | req/s | CPU ms / query |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for m in measurements:
        calls = _f(m.calls_per_query, 2)
        detail = m.calls_detail()
        lines.append(
            f"| {m.workload} | {m.variant} | {m.queries} | {m.errors} | {_f(m.p50_ms)} "
            f"| {_f(m.p99_ms)} | {_f(m.overhead_ms)} | {calls}"
            + (f" ({detail})" if detail else "")
            + f" | {_f(m.rps)} | {_f(m.cpu_ms, 2)} |"
        )
    return lines


#: The variants the gateway is set against in the ratio table, in column order, with the
#: short names its headers give them.
PEERS = {
    "lower bound": "lower bound",
    "naive": "naive",
    "graphene + DataLoader": "DataLoader",
    "Hive Gateway": "Hive",
}


def ratios(measurements: Sequence[Measurement], peers: Mapping[str, str] = PEERS) -> list[str]:
    """The gateway against each other variant, workload by workload (n/a where a variant
    did not run the workload)."""
    by_key = {(m.workload, m.variant): m for m in measurements}
    workloads = list(dict.fromkeys(m.workload for m in measurements))
    headers = [
        f"{figure} gateway / {short}"
        for figure in ("p50", "req/s", "CPU")
        for short in peers.values()
    ]
    lines = [
        "| workload | " + " | ".join(headers) + " |",
        "|---|" + "---:|" * len(headers),
    ]
    for workload in workloads:
        gateway = by_key.get((workload, "gateway"))
        if gateway is None:
            continue
        cells = []
        for figure in ("p50_ms", "rps", "cpu_ms"):
            for peer in peers:
                other = by_key.get((workload, peer))
                if other is None or not getattr(other, figure):
                    cells.append("n/a")
                else:
                    cells.append(f"{_f(getattr(gateway, figure) / getattr(other, figure), 2)}x")
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return lines


def over_source(measurements: Sequence[Measurement], source: str) -> list[str]:
    """Per workload where ``source`` (a source called by the load generator itself) ran:
    what each variant's p50 is over that call's."""
    lines = []
    for called in (m for m in measurements if m.variant == source and m.queries):
        over = ", ".join(
            f"{m.variant} {_f(m.p50_ms - called.p50_ms)} ms"
            for m in measurements
            if m.workload == called.workload and m.variant != source and m.queries
        )
        lines.append(
            f"{called.workload}: the slowest source ({called.slowest_ms:.0f} ms nominal), "
            "called directly by the load generator in slices of its own among the variants', "
            f"answered in {_f(called.p50_ms)} ms (p50). Each variant's p50 over that: {over}. "
            "The targets keep the nominal latency."
        )
    return lines


def targets_table(targets: Sequence[Target]) -> list[str]:
    """The targets, each MET or NOT MET with the figure."""
    lines = ["| target | wanted | measured | |", "|---|---|---|---|"]
    for t in targets:
        lines.append(f"| {t.name} | {t.wanted} | {t.measured} | {t.verdict} |")
    return lines
