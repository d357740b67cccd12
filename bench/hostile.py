"""``python -m bench.hostile``: what hostile documents cost the gateway (a measurement).

Starts the demo world (the synthetic agencies' stores, the trust's API in this process,
`fame-gateway serve` in its own process), then:

1. sends 1,000 distinct documents the gateway rejects and reads the gateway's RSS
   before and after;
2. a control run: 2,000 normal requests at concurrency 50;
3. the flood: the same 2,000 normal requests with 200 hostile ones mixed in, at
   concurrency 50, sampling the RSS throughout.

It prints RSS, the normal requests' p95 in both runs, the event loop's lag (the
gateway's own probe, read from /metrics) and the targets, and writes the figures to
the "Hostile input" section of bench/RESULTS.md, leaving the rest of the file as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import random
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.load import Server, percentile
from fame_demo.community_api import CommunityHealthApi
from fame_demo.practitioners import practitioner
from fame_demo.runner import README_QUERY, prepare_demo, seed_person_index
from fame_demo.world import generate_world
from gateway.config.settings import Limits, Settings, load_settings
from gateway.config.tokens import mint_token
from gateway.edge.documents import DocumentCache
from gateway.governance.migrate import upgrade_schema
from gateway.governance.person_index import PersonIndex, demo_person_id
from gateway.governance.state import create_state_engine
from resolvers.schema import schema

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SECTION = "## Hostile input"
CONCURRENCY = 50
REJECTED = 1_000
NORMAL = 2_000
HOSTILE_IN_FLOOD = 200
#: The targets the issue set.
RSS_GROWTH_MB = 50.0
RSS_CEILING_MB = 250.0
P95_RATIO = 2.0
LOOP_LAG_MS = 50.0
IDLE_SECONDS = 10.0


KINDS = (
    "tokens",
    "9,000 fields",
    "401 fields",
    "depth",
    "fragment chain",
    "unknown fields",
    "cycle",
    "repeated field",
)


def hostile_document(i: int) -> str:
    """The ``i``-th of a family of distinct documents the gateway must refuse."""
    kind = i % 8
    if kind == 0:  # over the token limit (lexed until the limit: the dearest refusal)
        return "{ " + " ".join(f"f{i}_{n}" for n in range(1_100)) + " }"
    if kind == 1:  # 9,000 fields, over the character cap
        return "{ " + f"a{i} " * 9_000 + "}"
    if kind == 2:  # over the field limit
        return "{ " + " ".join(f"f{i}_{n}" for n in range(401)) + " }"
    if kind == 3:  # too deep
        return "{ " + f"n{i} {{ " * 12 + "id" + " }" * 12 + " }"
    if kind == 4:  # a long chain of fragments
        chain = " ".join(f"fragment F{i}_{n} on Query {{ ...F{i}_{n + 1} }}" for n in range(100))
        return f"{{ ...F{i}_0 }} {chain} fragment F{i}_100 on Query {{ me {{ agency }} }}"
    if kind == 5:  # many unknown fields: validation's errors
        return "{ " + " ".join(f"nosuch{i}_{n}" for n in range(390)) + " }"
    if kind == 6:  # a fragment cycle
        return (
            f"{{ ...A{i} }} fragment A{i} on Query {{ ...B{i} }} "
            f"fragment B{i} on Query {{ ...A{i} }}"
        )
    # one field repeated past what validation may compare pairwise
    return "{ " + f"x{i}: __typename " * 300 + "}"


@dataclass
class Run:
    """What one phase saw."""

    normal: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    rss_max_mb: float = 0.0
    seconds: float = 0.0


def rss_mb(pid: int) -> float:
    """The process's resident set now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _late_wakeups(session: aiohttp.ClientSession, base: str) -> dict[float, float]:
    """How many probe wakeups so far came later than each histogram bound (seconds)."""
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    counts: dict[float, float] = {}
    total = 0.0
    for line in text.splitlines():
        if line.startswith("fame_event_loop_lag_seconds_count "):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("fame_event_loop_lag_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            if bound != "+Inf":
                counts[float(bound)] = float(line.rsplit(" ", 1)[1])
    return {bound: total - within for bound, within in counts.items()}


def _late(before: dict[float, float], after: dict[float, float]) -> str:
    late = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    return ", ".join(f"{late[b]:.0f} > {b * 1000:.0f} ms" for b in (0.025, 0.05, 0.1, 0.25))


async def _drive(
    jobs: Sequence[Callable[[], Awaitable[None]]], concurrency: int, pid: int, run: Run
) -> None:
    queue = list(reversed(jobs))
    started = time.perf_counter()
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            run.rss_max_mb = max(run.rss_max_mb, rss_mb(pid))
            await asyncio.sleep(0.05)

    async def worker() -> None:
        while queue:
            await queue.pop()()

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    done.set()
    await sampler
    run.seconds = time.perf_counter() - started


def _write_config(work: Path, trust_url: str) -> Path:
    config = work / "config"
    shutil.copytree(REPO / "config", config)
    for file in config.rglob("*.toml"):
        text = file.read_text().replace("../.demo/", f"{work.as_posix()}/demo/")
        file.write_text(text.replace("http://127.0.0.1:8701", trust_url))
    return config / "gateway.toml"


async def _seed(settings: Settings) -> None:
    population = generate_world()
    engine = create_state_engine(settings.state_database)
    try:
        await upgrade_schema(engine)
        await seed_person_index(PersonIndex(engine), population, settings.agencies)
    finally:
        await engine.dispose()


def _fresh(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)


def preparation_ms(limits: Limits) -> dict[int, tuple[float, float]]:
    """Median and longest of five preparations of each kind of hostile document, in this
    process with its start-up heap frozen as the server's is: what one such request costs
    the gateway's document worker."""
    cache = DocumentCache(schema.graphql_schema, limits)
    cache.prepare("{ me { agency } }")  # the first parse pays for warming the parser up
    gc.collect()
    gc.freeze()
    timings: dict[int, tuple[float, float]] = {}
    for kind in range(len(KINDS)):
        spent = []
        for n in range(5):
            started = time.perf_counter()
            prepared = cache.prepare(hostile_document(kind + len(KINDS) * n))
            spent.append((time.perf_counter() - started) * 1000)
            assert prepared.document is None, kind
        timings[kind] = (statistics.median(spent), max(spent))
    return timings


async def measure(work: Path, lagged: dict[str, str]) -> dict[str, float]:
    """Run the three phases against a fresh demo gateway; the figures by name, and in
    ``lagged`` each phase's late wakeups of the loop probe."""
    _fresh(work)
    population = generate_world()
    trust = CommunityHealthApi(population)
    trust_url = await trust.start()
    config = _write_config(work, trust_url)
    settings = load_settings(config)
    figures: dict[str, float] = {}
    prepare_demo(settings)
    await _seed(settings)
    for kind, (median, longest) in preparation_ms(settings.limits).items():
        figures[f"prepare_ms_{kind}"] = median
        figures[f"prepare_max_ms_{kind}"] = longest
    who = practitioner("sw-patel")
    token = mint_token(
        settings, subject=who.id, agency=who.agency, team=who.team, roles=who.roles, name=who.name
    )
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        # The media type whose status codes say a rejected document was rejected (a 4xx).
        "Accept": "application/graphql-response+json",
    }
    server = Server(
        "gateway",
        ["-m", "gateway.cli", "--config", str(config), "serve"],
        work / "gateway.log",
        {"PYTHONPATH": str(REPO)},
        REPO,
    )
    people = [demo_person_id(p.nhs_number) for p in population.people]
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY + 5)
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await server.ready(session)
            url = f"{server.url}/graphql"

            def normal(run: Run, n: int) -> Callable[[], Awaitable[None]]:
                body = json.dumps(
                    {"query": README_QUERY, "variables": {"id": people[n % len(people)]}}
                )

                async def send() -> None:
                    sent = time.perf_counter()
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        run.statuses[response.status] = run.statuses.get(response.status, 0) + 1
                    run.normal.append(time.perf_counter() - sent)

                return send

            def hostile(run: Run, i: int) -> Callable[[], Awaitable[None]]:
                body = json.dumps({"query": hostile_document(i)})

                async def send() -> None:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        run.statuses[response.status] = run.statuses.get(response.status, 0) + 1

                return send

            # Warm: the normal document parsed and cached, connections open.
            warm = Run()
            await _drive([normal(warm, n) for n in range(100)], 10, server.pid, warm)
            await asyncio.sleep(1.0)
            figures["rss_start_mb"] = rss_mb(server.pid)
            base = url.removesuffix("/graphql")
            phases: dict[str, tuple[dict[float, float], dict[float, float]]] = {}
            # Idle: what the machine alone does to the probe (other processes, the timer).
            idle_start = await _late_wakeups(session, base)
            await asyncio.sleep(IDLE_SECONDS)
            lag_start = await _late_wakeups(session, base)
            phases["idle"] = (idle_start, lag_start)

            rejected = Run()
            await _drive([hostile(rejected, i) for i in range(REJECTED)], 10, server.pid, rejected)
            await asyncio.sleep(1.0)
            figures["rss_after_rejected_mb"] = rss_mb(server.pid)
            figures["rejected_seconds"] = rejected.seconds
            figures["rejected_5xx"] = sum(c for s, c in rejected.statuses.items() if s >= 500)
            figures["rejected_not_4xx"] = sum(
                c for s, c in rejected.statuses.items() if not 400 <= s < 500
            )
            phases["rejected"] = (lag_start, await _late_wakeups(session, base))

            control = Run()
            before = phases["rejected"][1]
            await _drive(
                [normal(control, n) for n in range(NORMAL)], CONCURRENCY, server.pid, control
            )
            phases["control"] = (before, await _late_wakeups(session, base))
            figures["control_p95_ms"] = percentile(control.normal, 0.95) * 1000
            figures["control_p50_ms"] = percentile(control.normal, 0.5) * 1000

            flood = Run()
            jobs = [normal(flood, n) for n in range(NORMAL)] + [
                hostile(flood, REJECTED + i) for i in range(HOSTILE_IN_FLOOD)
            ]
            random.Random(2026).shuffle(jobs)
            before = phases["control"][1]
            await _drive(jobs, CONCURRENCY, server.pid, flood)
            phases["flood"] = (before, await _late_wakeups(session, base))
            figures["flood_p95_ms"] = percentile(flood.normal, 0.95) * 1000
            figures["flood_p50_ms"] = percentile(flood.normal, 0.5) * 1000
            figures["flood_rss_max_mb"] = max(flood.rss_max_mb, control.rss_max_mb)
            figures["rss_end_mb"] = rss_mb(server.pid)
            figures["flood_5xx"] = sum(c for s, c in flood.statuses.items() if s >= 500)
            figures["control_5xx"] = sum(c for s, c in control.statuses.items() if s >= 500)
            figures["loop_lag_max_ms"] = (
                await _metric(session, base, "fame_event_loop_lag_max_seconds") * 1000
            )
            for phase, (start, end) in phases.items():
                late = {bound: end[bound] - start.get(bound, 0.0) for bound in end}
                figures[f"late_50_{phase}"] = late[0.05]
                lagged[phase] = _late(start, end)
    finally:
        server.stop()
        await trust.stop()
    return figures


def report(figures: dict[str, float], lagged: dict[str, str]) -> tuple[list[str], bool]:
    """The section's lines and whether every target was met."""
    growth = figures["rss_after_rejected_mb"] - figures["rss_start_mb"]
    ratio = figures["flood_p95_ms"] / figures["control_p95_ms"]
    targets = [
        (
            f"RSS growth over {REJECTED:,} distinct rejected documents < {RSS_GROWTH_MB:.0f} MB",
            f"{growth:.1f} MB",
            growth < RSS_GROWTH_MB,
        ),
        (
            f"RSS through the flood < {RSS_CEILING_MB:.0f} MB",
            f"{figures['flood_rss_max_mb']:.0f} MB at most",
            figures["flood_rss_max_mb"] < RSS_CEILING_MB,
        ),
        (
            f"normal p95 in the flood within {P95_RATIO:.0f}x the control",
            f"{figures['flood_p95_ms']:.0f} ms against {figures['control_p95_ms']:.0f} ms "
            f"({ratio:.2f}x)",
            ratio <= P95_RATIO,
        ),
        (
            "no 5xx",
            f"{figures['rejected_5xx'] + figures['flood_5xx'] + figures['control_5xx']:.0f}",
            figures["rejected_5xx"] + figures["flood_5xx"] + figures["control_5xx"] == 0,
        ),
        (
            f"no request holds the event loop > {LOOP_LAG_MS:.0f} ms (probe wakeups that "
            f"late while rejecting {REJECTED:,} documents)",
            f"{figures['late_50_rejected']:.0f}",
            figures["late_50_rejected"] == 0,
        ),
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"Written by `make bench-hostile` (`python -m bench.hostile`); run {stamp}. The demo "
        "agencies (SQLite stores, the trust's API without injected latency), `fame-gateway "
        f"serve` in its own process, a token for sw-patel. {REJECTED:,} distinct rejected "
        f"documents at concurrency 10 (eight kinds: over the token limit, 9,000 fields, over "
        "the field limit, too deep, a 100-fragment chain, 390 unknown fields, a fragment "
        f"cycle, one field 300 times); then {NORMAL:,} README queries at concurrency "
        f"{CONCURRENCY} (control); then the same with {HOSTILE_IN_FLOOD} more distinct "
        "rejected documents shuffled in (flood). Loop lag is the gateway's own probe (a 10 ms "
        "timer, `fame_event_loop_lag_*` in /metrics); `idle` is 10 s with no request at all, "
        "what the machine alone does to it.",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| RSS after warm-up | {figures['rss_start_mb']:.1f} MB |",
        f"| RSS after {REJECTED:,} rejected documents | "
        f"{figures['rss_after_rejected_mb']:.1f} MB |",
        f"| time for the rejected documents | {figures['rejected_seconds']:.1f} s |",
        f"| control p50 / p95 | {figures['control_p50_ms']:.0f} / "
        f"{figures['control_p95_ms']:.0f} ms |",
        f"| flood p50 / p95 (normal requests) | {figures['flood_p50_ms']:.0f} / "
        f"{figures['flood_p95_ms']:.0f} ms |",
        f"| RSS at most, control and flood | {figures['flood_rss_max_mb']:.1f} MB |",
        f"| RSS at the end | {figures['rss_end_mb']:.1f} MB |",
        f"| worst event-loop lag since start-up | {figures['loop_lag_max_ms']:.1f} ms |",
        *(f"| late probe wakeups, {phase} | {late} |" for phase, late in lagged.items()),
        "| preparation (parse, limits, validation) of one document, median (longest of 5) | "
        + ", ".join(
            f"{KINDS[k]} {figures[f'prepare_ms_{k}']:.0f} ({figures[f'prepare_max_ms_{k}']:.0f}) ms"
            for k in range(len(KINDS))
        )
        + " |",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *(f"| {name} | {value} | {'MET' if met else 'NOT MET'} |" for name, value, met in targets),
        "",
    ]
    return lines, all(met for _, _, met in targets)


def _bounds(text: str) -> tuple[int, int] | None:
    start = text.find(SECTION)
    if start < 0:
        return None
    following = text.find("\n## ", start + len(SECTION))
    return start, len(text) if following < 0 else following + 1


def section_of(text: str) -> str:
    """The hostile-input section of a results file ("" when it has none)."""
    bounds = _bounds(text)
    return "" if bounds is None else text[bounds[0] : bounds[1]]


def with_section(text: str, section: str) -> str:
    """``text`` with its hostile-input section replaced by ``section`` (appended if new);
    `make bench` rewrites the rest of the file and carries this section over."""
    bounds = _bounds(text)
    if bounds is not None:
        text = text[: bounds[0]] + text[bounds[1] :]
    if not section:
        return text
    return text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure, print and write the section; exit 1 when a target is not met."""
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    lagged: dict[str, str] = {}
    figures = asyncio.run(measure(HERE / ".work" / "hostile", lagged))
    lines, met = report(figures, lagged)
    print("\n".join(lines))
    output: Path = args.output
    old = output.read_text() if output.exists() else ""
    output.write_text(with_section(old, "\n".join(lines)))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
