"""``python -m bench``: set up the sources, start the variants, run the workloads, report.

Every workload runs the variants side by side, interleaved in short slices (the order
rotating every round), so that whatever else the machine is doing hits all alike.
Before anything is timed, the three variants must return equal ``data`` for each
workload's query, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.config import (
    cache_supported,
    gateway_environment,
    prepare_gateway,
    tokens,
    write_config,
)
from bench.hostile import section_of, with_section
from bench.load import Request, Server, closed_loop, cpu_seconds, peak_memory_mb
from bench.report import Measurement, Target, ratios, table, targets_table
from bench.sources import SourcesUnavailable, SqlSources, http_calls, server_urls
from bench.world import (
    AGENCIES,
    CASELOAD_QUERY,
    PERSON_QUERY,
    REQUESTERS,
    SLOWEST_SECONDS,
    World,
    people,
)

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
POPULATION = 220
CACHE_SECONDS = 300


@dataclass(frozen=True)
class Workload:
    """A query, how hard to drive it, and for how long each variant."""

    name: str
    query: str
    variables: Mapping[str, Any]
    concurrency: int
    rounds: int
    slice_seconds: float


@dataclass
class Variant:
    """A running variant: its server and the headers its requests carry."""

    name: str
    server: Server
    headers: Mapping[str, str]

    def request(self, workload: Workload) -> Request:
        """The workload's request, encoded once."""
        body = orjson.dumps({"query": workload.query, "variables": dict(workload.variables)})
        return Request(f"{self.server.url}/graphql", body, self.headers)


class Counters:
    """The sources' own call counters, SQL and HTTP."""

    def __init__(self, sql: SqlSources, urls: Mapping[str, str], session: aiohttp.ClientSession):
        self._sql = sql
        self._urls = urls
        self._session = session

    async def read(self) -> dict[str, int]:
        """Agency id -> calls counted so far."""
        return {**await self._sql.calls(), **await http_calls(self._session, self._urls)}


def _delta(after: Mapping[str, int], before: Mapping[str, int]) -> dict[str, int]:
    return {agency: after[agency] - before.get(agency, 0) for agency in after}


async def measure(
    workload: Workload,
    variants: Sequence[Variant],
    counters: Counters,
    session: aiohttp.ClientSession,
    scale: float,
) -> list[Measurement]:
    """Run one workload over the variants, interleaved; one Measurement per variant."""
    results = {v.name: Measurement(v.name, workload.name, workload.concurrency) for v in variants}
    requests = {v.name: v.request(workload) for v in variants}
    for variant in variants:  # warm pools, caches of parsed documents, connections
        await closed_loop(
            session, requests[variant.name], workload.concurrency, count=workload.concurrency
        )
    rounds = max(1, round(workload.rounds * scale))
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for variant in [*variants[shift:], *variants[:shift]]:
            before_calls = await counters.read()
            before_cpu = cpu_seconds(variant.server.pid)
            piece = await closed_loop(
                session,
                requests[variant.name],
                workload.concurrency,
                seconds=workload.slice_seconds,
            )
            cpu = cpu_seconds(variant.server.pid) - before_cpu
            calls = _delta(await counters.read(), before_calls)
            results[variant.name].add(piece, cpu, calls)
    for m in results.values():
        print(
            f"  {m.workload:<22} {m.variant:<12} n={m.queries:<5} p50={m.p50_ms:8.1f} ms "
            f"p99={m.p99_ms:8.1f} ms  {m.rps:7.1f} req/s  calls/q={m.calls_per_query:6.2f}  "
            f"cpu={m.cpu_ms:7.2f} ms/q  errors={m.errors}",
            flush=True,
        )
        if m.first_error:
            print(f"    first error: {m.first_error}", flush=True)
    return list(results.values())


async def _post(session: aiohttp.ClientSession, request: Request) -> dict[str, Any]:
    async with session.post(request.url, data=request.body, headers=request.headers) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{request.url} answered HTTP {response.status}: {body[:500]!r}")
    answer: dict[str, Any] = orjson.loads(body)
    return answer


async def check_equal(
    workloads: Sequence[Workload], variants: Sequence[Variant], session: aiohttp.ClientSession
) -> None:
    """Every variant must return the same ``data`` for every workload; fail loudly if not."""
    for workload in workloads:
        answers = {v.name: await _post(session, v.request(workload)) for v in variants}
        reference = answers[variants[0].name]
        if reference.get("errors") or not reference.get("data"):
            raise SystemExit(f"{workload.name}: {variants[0].name} answered {reference}")
        for name, answer in answers.items():
            if answer.get("errors") or answer.get("data") != reference["data"]:
                _explain(workload.name, variants[0].name, reference, name, answer)
        print(
            f"  {workload.name} query: the {len(variants)} variants return equal data", flush=True
        )


def _explain(
    workload: str, ref_name: str, ref: dict[str, Any], name: str, answer: dict[str, Any]
) -> None:
    work = HERE / ".work"
    for who, body in ((ref_name, ref), (name, answer)):
        (work / f"mismatch-{workload}-{who.replace(' ', '-')}.json").write_bytes(
            orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        )
    raise SystemExit(
        f"{workload}: {name} does not return the same data as {ref_name} "
        f"(both answers are in {work}/mismatch-{workload}-*.json)"
    )


@dataclass
class W3Result:
    """The cached gateway: repeated view (hits) and a different requester (must miss)."""

    available: bool
    hits: Measurement | None = None
    miss_calls: int = 0
    miss_equal: bool = False


async def run_w3(
    cached: Variant | None,
    other_headers: Mapping[str, str],
    workload: Workload,
    counters: Counters,
    session: aiohttp.ClientSession,
    reference: dict[str, Any],
    scale: float,
) -> W3Result:
    """W3: warm the cache, repeat the view, then ask as a different requester."""
    if cached is None:
        return W3Result(available=False)
    request = cached.request(workload)
    await _post(session, request)  # warm
    hits = Measurement("gateway, cache on", "W3 hit (repeat view)", 1)
    for _ in range(max(1, round(4 * scale))):
        before_calls = await counters.read()
        before_cpu = cpu_seconds(cached.server.pid)
        piece = await closed_loop(session, request, 1, seconds=workload.slice_seconds)
        hits.add(
            piece,
            cpu_seconds(cached.server.pid) - before_cpu,
            _delta(await counters.read(), before_calls),
        )
    other = Request(request.url, request.body, other_headers)
    before_calls = await counters.read()
    answer = await _post(session, other)
    miss_calls = sum(_delta(await counters.read(), before_calls).values())
    return W3Result(
        available=True,
        hits=hits,
        miss_calls=miss_calls,
        miss_equal=answer.get("data") == reference.get("data"),
    )


def evaluate(
    measurements: Sequence[Measurement],
    w3: W3Result,
    memory: Mapping[str, float],
) -> list[Target]:
    """Each performance target, met or not, with the figure."""
    by_key = {(m.workload, m.variant): m for m in measurements}
    slowest = SLOWEST_SECONDS * 1000
    targets: list[Target] = []
    for workload in ("W1 c=1", "W1 c=32", "W2 caseload 50", "W2 caseload 200"):
        m = by_key.get((workload, "gateway"))
        if m is None:
            continue
        targets.append(
            Target(
                f"{workload}: source calls per query (gateway)",
                "= 4 (one per agency)",
                f"{m.calls_per_query:.2f} ({m.calls_detail()})",
                abs(m.calls_per_query - 4) < 0.005,
            )
        )
    w1 = by_key.get(("W1 c=1", "gateway"))
    if w1 is not None:
        targets.append(
            Target(
                "W1 c=1: gateway p50 within 3 ms of the slowest source",
                f"<= {slowest + 3:.0f} ms",
                f"{w1.p50_ms:.1f} ms (overhead {w1.overhead_ms:.1f} ms)",
                w1.p50_ms <= slowest + 3,
            )
        )
    gw32, lb32 = by_key.get(("W1 c=32", "gateway")), by_key.get(("W1 c=32", "lower bound"))
    if gw32 is not None and lb32 is not None:
        targets.append(
            Target(
                "W1 c=32: gateway at least half the lower bound's req/s",
                f">= {lb32.rps / 2:.1f} req/s (0.50x)",
                f"{gw32.rps:.1f} req/s ({gw32.rps / lb32.rps:.2f}x)",
                gw32.rps >= lb32.rps / 2,
            )
        )
    w2 = by_key.get(("W2 caseload 200", "gateway"))
    if w2 is not None:
        targets.append(
            Target(
                "W2 200 people: gateway CPU per query",
                "<= 10 ms",
                f"{w2.cpu_ms:.1f} ms",
                w2.cpu_ms <= 10,
            )
        )
    if w3.available and w3.hits is not None:
        targets.append(
            Target(
                "W3 hit: no source call",
                "0 calls per query",
                f"{w3.hits.calls_per_query:.2f} over {w3.hits.queries} queries",
                sum(w3.hits.calls.values()) == 0 and w3.hits.queries > 0,
            )
        )
        targets.append(
            Target(
                "W3 different requester: must miss",
                "> 0 source calls, same data",
                f"{w3.miss_calls} calls, data {'equal' if w3.miss_equal else 'DIFFERENT'}",
                w3.miss_calls > 0 and w3.miss_equal,
            )
        )
    else:
        reason = "not run: agency files do not accept cache_seconds yet (no per-agency cache)"
        targets.append(Target("W3 hit: no source call", "0 calls per query", reason, False))
        targets.append(Target("W3 different requester: must miss", "> 0 calls", reason, False))
    gateway_peak = max(v for k, v in memory.items() if k.startswith("gateway"))
    targets.append(
        Target(
            "peak memory (gateway, VmHWM)",
            "< 200 MB",
            f"{gateway_peak:.0f} MB",
            gateway_peak < 200,
        )
    )
    return targets


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def write_results(
    file: Path,
    measurements: Sequence[Measurement],
    w3: W3Result,
    targets: Sequence[Target],
    memory: Mapping[str, float],
    seconds: float,
) -> None:
    """bench/RESULTS.md: the run, the table, the ratios, the targets, how it was measured."""
    slowest = SLOWEST_SECONDS * 1000
    sources = ", ".join(
        f"{a.id.removeprefix('bench-')} ({a.kind}"
        + (f", {'PostgreSQL' if a.backend == 'postgresql' else 'MariaDB'}" if a.backend else "")
        + f", {a.latency * 1000:.0f} ms)"
        for a in AGENCIES
    )
    rows = list(measurements) + ([w3.hits] if w3.hits is not None else [])
    commit = _git("rev-parse", "--short", "HEAD")
    changed = _git(
        "status",
        "--porcelain",
        "--",
        "gateway",
        "connectors",
        "resolvers",
        "bench",
        ":!bench/RESULTS.md",
    )
    dirty = " (with uncommitted changes)" if changed else ""
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand.",
        "",
        f"- run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit `{commit}`{dirty}, "
        f"{seconds:.0f} s",
        f"- machine: {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}",
        f"- sources on 127.0.0.1: {sources}; slowest {slowest:.0f} ms",
        f"- {POPULATION} synthetic people, every one known to all four agencies; the view asks "
        "for 47 fields (41 data items) from all four",
        "",
        "## Results",
        "",
        *table(rows),
        "",
        "Overhead is p50 minus the slowest source's latency. Source calls are what the "
        "sources themselves counted (an SQL agency counts statements, an HTTP agency "
        "requests), divided by the variant's queries. CPU is the server process's user + "
        "system time (all threads) over its own slices, per query.",
        "",
        "Peak memory (VmHWM): "
        + ", ".join(f"{name} {value:.0f} MB" for name, value in memory.items())
        + ".",
        "",
        "## Side by side (same run, interleaved)",
        "",
        *ratios(measurements),
        "",
        "## Targets",
        "",
        *targets_table(targets),
        "",
    ]
    by_key = {(m.workload, m.variant): m for m in measurements}
    small, large = (
        by_key.get(("W2 caseload 50", "gateway")),
        by_key.get(("W2 caseload 200", "gateway")),
    )
    if small is not None and large is not None:
        lines += [
            f"Batching: the gateway's source calls per query are {small.calls_per_query:g} for "
            f"50 people and {large.calls_per_query:g} for 200 (naive: "
            + ", ".join(
                f"{by_key[(w, 'naive')].calls_per_query:g}"
                for w in ("W2 caseload 50", "W2 caseload 200")
                if (w, "naive") in by_key
            )
            + "). Each agency is asked once per request, whatever the caseload: an SQL "
            "agency gets one statement, its tables' reads joined by UNION ALL; an HTTP "
            "agency one GET with the ids and a projection.",
            "",
        ]
    missed = [t for t in targets if not t.met]
    if missed:
        lines += [
            "Where the gateway's time goes (what the lower bound does not do): per request it "
            "validates an RS256 token, reads the person index, consents and grants from its "
            "state database, decides every item with the policy, writes a hash-chained, signed "
            "intent record before any agency is called and one disclosure record per person "
            "before answering (group-committed under load), and counts metrics; every state "
            "database statement goes through SQLAlchemy's async engine. For a caseload of 200 "
            "that is 200 disclosure records with every item's clause, and about 20,000 leaf "
            "values completed and serialized. The lower bound does none of that, so the "
            "targets measured against it are not met.",
            "",
        ]
    if w3.available:
        lines += [
            f"W3 runs a second gateway process whose agency files set `cache_seconds = "
            f"{CACHE_SECONDS}`: the view is asked once to warm the cache, then repeated by the "
            "same practitioner (the hit row above); then the same query by another practitioner "
            "of the same agency must miss and return the same data.",
            "",
        ]
    lines += [
        "## How it is measured",
        "",
        "- Each SQL agency is a database the run creates; every mapped table is a view that "
        "joins a volatile function evaluated once per statement (PostgreSQL: an InitPlan; "
        "MariaDB: a derived table), which sleeps the agency's latency and counts the "
        "statement in a sequence. A statement reading several views is charged one latency "
        "and one call, like one round trip to a slow database server.",
        "- Each HTTP agency is an aiohttp server in a separate process speaking the gateway's "
        "http connector protocol (ids and a field projection in, a results list out), "
        "sleeping its latency and counting requests.",
        "- Variants, each its own process on 127.0.0.1: **gateway** (`fame-gateway serve`, "
        "real signed tokens, policy, audit to its SQLite state database); **lower bound** "
        "(hand-written asyncio aggregation: one statement or GET per agency, all four "
        "concurrently, leaves built synchronously, orjson; no token, policy or audit); "
        "**naive** (graphene, one resolver per field, each record list of each person asks "
        "its agencies on its own; no token, policy or audit).",
        "- Before timing, the three variants must return equal `data` for each workload's "
        "query. Then each workload runs the variants in rotating order, slice by slice, "
        "from one in-process aiohttp closed-loop load generator; a slice waits for its "
        "requests in flight, so source counts and CPU are each variant's own.",
        "- W1: one person, concurrency 1 and 32. W2: `caseload(first: 50)` and "
        "`caseload(first: 200)` at concurrency 1. p99 is the nearest rank, so with few "
        "queries it is close to the slowest one.",
        "",
    ]
    # The hostile-input section is `make bench-hostile`'s; keep it.
    kept = section_of(file.read_text()) if file.exists() else ""
    file.write_text(with_section("\n".join(lines), kept))


@contextlib.asynccontextmanager
async def sources_process(count: int, log: Path) -> AsyncIterator[dict[str, str]]:
    """The HTTP agencies in their own process; yields agency id -> base URL."""
    handle = log.open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sources",
        "--people",
        str(count),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=handle,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"the sources process did not start; see {log}")
        urls: dict[str, str] = orjson.loads(line[6:])
        yield urls
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        handle.close()


async def run(scale: float, output: Path) -> int:
    """The whole benchmark; returns the exit status."""
    started = time.perf_counter()
    work = HERE / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    population = people(POPULATION)
    sql = SqlSources(server_urls(), secrets.token_hex(4))
    print("creating the agencies' databases ...", flush=True)
    try:
        await sql.create(population)
    except SourcesUnavailable as exc:
        print(f"make bench needs the local database servers:\n{exc}", file=sys.stderr)
        return 2
    servers: list[Server] = []
    try:
        async with (
            sources_process(POPULATION, work / "sources.log") as urls,
            aiohttp.ClientSession(
                # Idle connections are dropped well before uvicorn's 5 s keep-alive
                # would close them under a request (variants sit idle between slices).
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
            ) as session,
        ):
            world = World(dsns=sql.dsns, urls=urls, people=population)
            world.save(work / "world.json")
            env = gateway_environment(world)
            os.environ.update(env)  # the gateway's agency files name these variables
            print("configuring the gateway ...", flush=True)
            gw_settings = await prepare_gateway(write_config(work / "gateway", world), world)
            gw_tokens = tokens(gw_settings)
            cached_tokens: Mapping[str, str] | None = None
            with_cache = cache_supported()
            if with_cache:
                cached_settings = await prepare_gateway(
                    write_config(work / "gateway-cached", world, cache_seconds=CACHE_SECONDS),
                    world,
                )
                cached_tokens = tokens(cached_settings)
            else:
                print("  this gateway has no per-agency cache yet: W3 will be reported NOT MET")

            def gateway_server(name: str, root: Path) -> Server:
                return Server(
                    name,
                    ["-m", "gateway.cli", "--config", str(root / "gateway.toml"), "serve"],
                    work / f"{name}.log",
                    {**env, "PYTHONPATH": str(REPO)},
                    REPO,
                )

            world_args = ["--world", str(work / "world.json")]
            gateway = gateway_server("gateway", work / "gateway")
            servers.append(gateway)
            lower = Server(
                "lower bound",
                ["-m", "bench.lower_bound", *world_args],
                work / "lower-bound.log",
                {"PYTHONPATH": str(REPO)},
                REPO,
            )
            servers.append(lower)
            naive = Server(
                "naive",
                ["-m", "bench.naive", *world_args],
                work / "naive.log",
                {"PYTHONPATH": str(REPO)},
                REPO,
            )
            servers.append(naive)
            cached_server = None
            if with_cache:
                cached_server = gateway_server("gateway-cached", work / "gateway-cached")
                servers.append(cached_server)
            print("starting the variants ...", flush=True)
            for server in servers:
                await server.ready(session)

            json_type = {"Content-Type": "application/json"}
            first, second = (who for who, _ in REQUESTERS)
            variants = [
                Variant(
                    "gateway",
                    gateway,
                    {**json_type, "Authorization": f"Bearer {gw_tokens[first]}"},
                ),
                Variant("lower bound", lower, json_type),
                Variant("naive", naive, json_type),
            ]
            person = {"id": population[0].id}
            workloads = [
                Workload("W1 c=1", PERSON_QUERY, person, 1, 6, 1.0),
                Workload("W1 c=32", PERSON_QUERY, person, 32, 6, 1.0),
                Workload("W2 caseload 50", CASELOAD_QUERY, {"first": 50}, 1, 4, 1.2),
                Workload("W2 caseload 200", CASELOAD_QUERY, {"first": 200}, 1, 3, 2.0),
            ]
            print("checking the variants agree ...", flush=True)
            distinct: dict[str, Workload] = {}
            for w in workloads:
                distinct.setdefault(w.query + str(w.variables), w)
            await check_equal(list(distinct.values()), variants, session)

            counters = Counters(sql, urls, session)
            measurements: list[Measurement] = []
            for workload in workloads:
                print(f"{workload.name} ...", flush=True)
                try:
                    measurements += await measure(workload, variants, counters, session, scale)
                except aiohttp.ClientError as exc:
                    # Say which server went away and how, rather than only that one did.
                    gone = [
                        f"{server.name} exited with code {server.proc.poll()} (log: {server.log})"
                        for server in servers
                        if server.proc.poll() is not None
                    ]
                    raise SystemExit(
                        f"{workload.name}: {type(exc).__name__}: {exc}; "
                        + ("; ".join(gone) or "every server is still running")
                    ) from exc

            print("W3 (gateway with the per-agency cache) ...", flush=True)
            reference = await _post(session, variants[0].request(workloads[0]))
            cached_variant = (
                Variant(
                    "gateway, cache on",
                    cached_server,
                    {**json_type, "Authorization": f"Bearer {cached_tokens[first]}"},
                )
                if cached_server is not None and cached_tokens is not None
                else None
            )
            w3 = await run_w3(
                cached_variant,
                {
                    **json_type,
                    "Authorization": f"Bearer {(cached_tokens or gw_tokens)[second]}",
                },
                workloads[0],
                counters,
                session,
                reference,
                scale,
            )
            if w3.hits is not None:
                h = w3.hits
                print(
                    f"  hits: n={h.queries} p50={h.p50_ms:.1f} ms calls/q={h.calls_per_query:.2f};"
                    f" different requester: {w3.miss_calls} calls",
                    flush=True,
                )
            memory = {s.name: peak_memory_mb(s.pid) for s in servers}
    finally:
        for server in servers:
            server.stop()
        await sql.drop()
    seconds = time.perf_counter() - started
    targets = evaluate(measurements, w3, memory)
    write_results(output, measurements, w3, targets, memory, seconds)
    print(f"\nTargets ({output.relative_to(REPO) if output.is_relative_to(REPO) else output}):")
    for t in targets:
        print(f"  {'MET    ' if t.met else 'NOT MET'}  {t.name}: {t.measured} (wanted {t.wanted})")
    print(f"\nbench took {seconds:.0f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench [--scale F] [--output FILE]``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the number of rounds per workload (0.3 for a quick look)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.scale, args.output.resolve()))
