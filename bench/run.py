"""``python -m bench``: set up the sources, start the variants, run the workloads, report.

Every workload runs its variants side by side, interleaved in short slices (the order
rotating every round), so that whatever else the machine is doing hits all alike.
Before anything is timed, every variant must return the gateway's ``data`` for each
workload's query (Hive Gateway, whose schema is shaped by the agencies' APIs, the same
values for the same fields), or the run fails. After the run, every gateway's audit
chain must verify (``fame-gateway audit verify``), or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import math
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from bench.config import (
    STATE_DSN_VARIABLE,
    cache_supported,
    gateway_environment,
    peer_token,
    prepare_gateway,
    tokens,
    write_config,
)
from bench.hostile import section_of, with_section
from bench.load import Request, Server, closed_loop, cpu_seconds, peak_memory_mb
from bench.peers import hive, normalise
from bench.report import Measurement, Target, over_source, ratios, table, targets_table
from bench.sources import (
    SourcesUnavailable,
    SqlSources,
    create_state_database,
    drop_state_database,
    http_calls,
    server_urls,
)
from bench.world import (
    AGENCIES,
    CASELOAD_QUERY,
    PEER_AGENCIES,
    PEER_QUERY,
    PEER_SLOWEST_SECONDS,
    PERSON_QUERY,
    REQUESTERS,
    SLOWEST_SECONDS,
    Person,
    World,
    people,
)

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
POPULATION = 220
#: People known only to the two HTTP agencies (the peer workload asks for the first).
PEERS = 2
CACHE_SECONDS = 300

GATEWAY = "gateway"
GATEWAY_PG = "gateway x2 (PostgreSQL)"
LOWER = "lower bound"
NAIVE = "naive"
DATALOADER = "graphene + DataLoader"
HIVE = "Hive Gateway"
#: The load generator calling a workload's slowest source itself, as the variants do.
SOURCE = "slowest source, called directly"
_JSON = {"Content-Type": "application/json"}
_PEER_AGENCIES = tuple(a for a in AGENCIES if a.id in PEER_AGENCIES)


@dataclass(frozen=True)
class Workload:
    """A query, who asks it, which variants run it, how hard and for how long each."""

    name: str
    query: str
    variables: Mapping[str, Any]
    concurrency: int
    rounds: int
    slice_seconds: float
    variants: tuple[str, ...]
    #: "social care" (a social worker) or "peer" (the community health nurse).
    requester: str = "social care"
    slowest_seconds: float = SLOWEST_SECONDS
    #: Whether the slowest source is also called directly, in slices of its own among
    #: the variants': what it takes on this machine, beside its nominal latency.
    direct_source: bool = False


@dataclass
class Variant:
    """A running variant: its servers (requests alternate between them), the tokens its
    requests carry per requester, and how it phrases a workload when its schema differs."""

    name: str
    servers: Sequence[Server]
    tokens: Mapping[str, str] = field(default_factory=dict)
    #: The variant's own (query, variables) for a workload; None: the workload's own.
    phrase: Callable[[Workload], tuple[str, dict[str, Any]]] | None = None
    #: Whether the answer has the gateway's shape (else it is compared normalised).
    same_shape: bool = True

    def requests(self, workload: Workload) -> list[Request]:
        """The workload's request to each of the variant's servers, encoded once."""
        query, variables = (
            self.phrase(workload)
            if self.phrase is not None
            else (workload.query, dict(workload.variables))
        )
        body = orjson.dumps({"query": query, "variables": variables})
        headers = dict(_JSON)
        if workload.requester in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[workload.requester]}"
        return [Request(f"{server.url}/graphql", body, headers) for server in self.servers]

    def cpu(self) -> float:
        """CPU seconds of all the variant's servers so far."""
        return sum(cpu_seconds(server.pid) for server in self.servers)


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
    direct: Request | None = None,
) -> list[Measurement]:
    """Run one workload over the variants, interleaved; one Measurement per variant, and
    one for ``direct`` (a source called by the load generator itself) when given."""
    variants = [v for v in variants if v.name in workload.variants]
    requests = {v.name: v.requests(workload) for v in variants}
    #: What each slice measures the CPU of: the variant's servers (none for a source).
    cpu: dict[str, Callable[[], float]] = {v.name: v.cpu for v in variants}
    if direct is not None:
        requests[SOURCE] = [direct]
        cpu[SOURCE] = lambda: math.nan
    names = list(requests)
    results = {
        name: Measurement(
            name, workload.name, workload.concurrency, workload.slowest_seconds * 1000
        )
        for name in names
    }
    for name in names:  # warm pools, caches of parsed documents, connections
        await closed_loop(
            session,
            requests[name],
            workload.concurrency,
            count=max(workload.concurrency, 4 * len(requests[name])),
        )
    rounds = max(1, round(workload.rounds * scale))
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in [*names[shift:], *names[:shift]]:
            before_calls = await counters.read()
            before_cpu = cpu[name]()
            piece = await closed_loop(
                session,
                requests[name],
                workload.concurrency,
                seconds=workload.slice_seconds,
            )
            used = cpu[name]() - before_cpu
            calls = _delta(await counters.read(), before_calls)
            results[name].add(piece, used, calls)
    for m in results.values():
        print(
            f"  {m.workload:<16} {m.variant:<22} n={m.queries:<5} p50={m.p50_ms:8.1f} ms "
            f"p99={m.p99_ms:8.1f} ms  {m.rps:7.1f} req/s  calls/q={m.calls_per_query:6.2f}  "
            f"cpu={m.cpu_ms:7.2f} ms/q  errors={m.errors}",
            flush=True,
        )
        if m.first_error:
            print(f"    first error: {m.first_error}", flush=True)
    return list(results.values())


def direct_call(world: World, person: Person, agencies: Sequence[str]) -> Request:
    """The slowest of ``agencies`` (HTTP) called for ``person`` with the URL the lower bound
    sends it: every item the agency maps."""
    agency = max((a for a in AGENCIES if a.id in agencies), key=lambda a: a.latency)
    assert agency.kind == "http", "only an HTTP source can be called directly"
    query = urlencode({"ids": person.local_ids[agency.id], "fields": agency.http_fields})
    return Request(f"{world.urls[agency.id]}{agency.path}?{query}", b"", {}, "GET")


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
    """Every variant must return the gateway's ``data`` for every workload it runs (a
    differently shaped one the same values for the same fields); fail loudly if not."""
    for workload in workloads:
        chosen = [v for v in variants if v.name in workload.variants]
        answers = {v.name: await _post(session, v.requests(workload)[0]) for v in chosen}
        reference = answers[GATEWAY]
        if reference.get("errors") or not reference.get("data"):
            raise SystemExit(f"{workload.name}: the gateway answered {reference}")
        compared = []
        for variant in chosen:
            answer = answers[variant.name]
            if variant.same_shape:
                if answer.get("errors") or answer.get("data") != reference["data"]:
                    _explain(workload.name, GATEWAY, reference, variant.name, answer)
                continue
            expected = normalise.from_view(reference["data"]["person"])
            found = normalise.from_agencies(answer.get("data") or {})
            if answer.get("errors") or found != expected or not normalise.values(expected):
                _explain(workload.name, GATEWAY, reference, variant.name, answer)
            compared.append(f"{variant.name}: {normalise.values(expected)} values")
        print(
            f"  {workload.name}: the {len(chosen)} variants return equal data"
            + (f" (normalised, {'; '.join(compared)})" if compared else ""),
            flush=True,
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
    (request,) = cached.requests(workload)
    await _post(session, request)  # warm
    hits = Measurement("gateway, cache on", "W3 hit (repeat view)", 1)
    for _ in range(max(1, round(4 * scale))):
        before_calls = await counters.read()
        before_cpu = cached.cpu()
        piece = await closed_loop(session, request, 1, seconds=workload.slice_seconds)
        hits.add(piece, cached.cpu() - before_cpu, _delta(await counters.read(), before_calls))
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


def _calls_target(m: Measurement, agencies: int) -> Target:
    return Target(
        f"{m.workload}: source calls per query (gateway)",
        f"= {agencies} (one per agency)",
        f"{m.calls_per_query:.2f} ({m.calls_detail()})",
        abs(m.calls_per_query - agencies) < 0.005,
    )


def evaluate(
    measurements: Sequence[Measurement],
    w3: W3Result,
    memory: Mapping[str, float],
    hive_skipped: str | None,
) -> list[Target]:
    """Each performance target, met or not (or not measured, and why), with the figure."""
    by_key = {(m.workload, m.variant): m for m in measurements}
    targets: list[Target] = []
    for workload, agencies in (
        ("W1 c=1", len(PEER_AGENCIES)),
        ("W1 c=32", len(PEER_AGENCIES)),
        ("W4 c=1", len(AGENCIES)),
        ("W4 c=32", len(AGENCIES)),
        ("W2 caseload 50", len(AGENCIES)),
        ("W2 caseload 200", len(AGENCIES)),
    ):
        m = by_key.get((workload, GATEWAY))
        if m is not None:
            targets.append(_calls_target(m, agencies))
    not_measured = f"Hive Gateway skipped: {hive_skipped}" if hive_skipped else None

    def hive_target(
        name: str, wanted: str, workload: str, figures: Callable[[Measurement, Measurement], Any]
    ) -> None:
        gateway, peer = by_key.get((workload, GATEWAY)), by_key.get((workload, HIVE))
        if gateway is None:
            return
        if peer is None:
            targets.append(
                Target(name, wanted, "-", False, not_measured or "Hive Gateway did not run")
            )
            return
        measured, met = figures(gateway, peer)
        targets.append(Target(name, wanted, measured, met))

    hive_target(
        "W1 c=1: gateway CPU per query ≤ Hive Gateway's",
        "≤ Hive Gateway's CPU ms / query",
        "W1 c=1",
        lambda g, h: (
            f"{g.cpu_ms:.2f} ms against {h.cpu_ms:.2f} ms ({g.cpu_ms / h.cpu_ms:.2f}x)",
            g.cpu_ms <= h.cpu_ms,
        ),
    )
    hive_target(
        "W1 c=1: gateway p50 - slowest source ≤ Hive Gateway's, and ≤ 5 ms",
        "≤ Hive Gateway's overhead and ≤ 5 ms",
        "W1 c=1",
        lambda g, h: (
            f"{g.overhead_ms:.1f} ms against {h.overhead_ms:.1f} ms "
            f"(p50 {g.p50_ms:.1f} / {h.p50_ms:.1f} ms, slowest source {g.slowest_ms:.0f} ms)",
            g.overhead_ms <= h.overhead_ms and g.overhead_ms <= 5,
        ),
    )
    lower32 = by_key.get(("W1 c=32", LOWER))
    hive_target(
        "W1 c=32: gateway req/s ≥ Hive Gateway's, and ≥ 0.5x the lower bound's",
        "≥ Hive Gateway's and ≥ 0.5x the lower bound's req/s",
        "W1 c=32",
        lambda g, h: (
            f"{g.rps:.1f} req/s against Hive {h.rps:.1f} ({g.rps / h.rps:.2f}x)"
            + (
                f" and the lower bound {lower32.rps:.1f} ({g.rps / lower32.rps:.2f}x)"
                if lower32 is not None
                else ""
            ),
            g.rps >= h.rps and lower32 is not None and g.rps >= lower32.rps / 2,
        ),
    )
    w2, lower200 = by_key.get(("W2 caseload 200", GATEWAY)), by_key.get(("W2 caseload 200", LOWER))
    if w2 is not None and lower200 is not None:
        targets.append(
            Target(
                "W2 caseload 200: gateway CPU per query ≤ 2x the lower bound's",
                f"≤ {2 * lower200.cpu_ms:.1f} ms (2 x {lower200.cpu_ms:.1f} ms)",
                f"{w2.cpu_ms:.1f} ms ({w2.cpu_ms / lower200.cpu_ms:.2f}x)",
                w2.cpu_ms <= 2 * lower200.cpu_ms,
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
    gateways = {k: v for k, v in memory.items() if k.startswith("gateway")}
    worst = max(gateways, key=lambda k: gateways[k])
    targets.append(
        Target(
            "peak RSS (gateway)",
            "< 150 MB",
            f"{gateways[worst]:.0f} MB ({worst}; VmHWM, the largest of the gateway processes)",
            gateways[worst] < 150,
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


@dataclass(frozen=True)
class AuditCheck:
    """``fame-gateway audit verify`` run on one gateway's state database after the run."""

    gateway: str
    ok: bool
    output: str


@dataclass(frozen=True)
class Peers:
    """What the run learnt about the peers: versions, or why Hive did not run."""

    hive_versions: Mapping[str, str]
    node: str | None
    hive_skipped: str | None


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _items(agencies: Sequence[Any]) -> int:
    return sum(len(a.items) for a in agencies)


def write_results(
    file: Path,
    measurements: Sequence[Measurement],
    w3: W3Result,
    targets: Sequence[Target],
    memory: Mapping[str, float],
    seconds: float,
    peers: Peers,
    audits: Sequence[AuditCheck],
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
    peer_items = " and ".join(
        f"{len(a.items)} from {a.id.removeprefix('bench-')}" for a in _PEER_AGENCIES
    )
    hive_versions = ", ".join(f"{name} {v}" for name, v in peers.hive_versions.items())
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); do not edit by hand.",
        "",
        f"- run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit `{commit}`{dirty}, "
        f"{seconds:.0f} s",
        f"- machine: {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}"
        + (f", Node {peers.node}" if peers.node else ", no Node"),
        f"- sources on 127.0.0.1: {sources}; slowest {slowest:.0f} ms",
        f"- {POPULATION} synthetic people known to all four agencies (W2, W3, W4) and {PEERS} "
        f"known only to the two HTTP agencies (W1)",
        f"- W1 (the peer workload) asks for one person's {_items(_PEER_AGENCIES)} data items "
        f"({peer_items}), slowest source "
        f"{PEER_SLOWEST_SECONDS * 1000:.0f} ms; W4 and W2 ask for 47 fields "
        "(41 data items) from all four agencies",
        (
            f"- peers: {DATALOADER} (graphene {_version('graphene')}, graphql-core "
            f"{_version('graphql-core')}, aiodataloader {_version('aiodataloader')})"
            + (
                f"; {HIVE} ({hive_versions})"
                if not peers.hive_skipped
                else f"; **{HIVE} skipped: {peers.hive_skipped}**"
            )
        ),
        "",
        "## Results",
        "",
        *table(rows),
        "",
        "Overhead is p50 minus the latency of the slowest source the workload's query "
        f"reaches ({PEER_SLOWEST_SECONDS * 1000:.0f} ms in W1, {slowest:.0f} ms otherwise). "
        "Source calls are what the sources themselves counted (an SQL agency counts "
        "statements, an HTTP agency requests), divided by the variant's queries. CPU is the "
        "user + system time (all threads) of the variant's server processes over its own "
        f"slices, per query (its workers too for {GATEWAY_PG}; the node process for Hive). "
        "The gateway's agency files allow 64 calls in flight per agency "
        "(`max_concurrent_calls`, default 10), as many as the lower bound's connection pools: "
        "the peers do not limit them, and with the default the gateway at 32 clients would "
        "be held to 10 calls per agency at a time. Its MariaDB agency is read through "
        "asyncmy, the driver an agency file is told to use.",
        "",
        *over_source(measurements, SOURCE),
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
        "## Audit chain",
        "",
        "After the run, `fame-gateway audit verify` on each gateway's state database "
        "(the run fails if one does not verify):",
        "",
        *(f"- {a.gateway}: {'verified' if a.ok else 'FAILED'}: {a.output}" for a in audits),
        "",
    ]
    by_key = {(m.workload, m.variant): m for m in measurements}
    small, large = (
        by_key.get(("W2 caseload 50", GATEWAY)),
        by_key.get(("W2 caseload 200", GATEWAY)),
    )

    def calls(variant: str) -> str:
        return ", ".join(
            f"{by_key[(w, variant)].calls_per_query:g}"
            for w in ("W2 caseload 50", "W2 caseload 200")
            if (w, variant) in by_key
        )

    if small is not None and large is not None:
        lines += [
            f"Batching: the gateway's source calls per query are {small.calls_per_query:g} for "
            f"50 people and {large.calls_per_query:g} for 200 (naive: {calls(NAIVE)}; "
            f"{DATALOADER}: {calls(DATALOADER)}). Each agency is asked once per request, "
            "whatever the caseload: an SQL agency gets one statement, its tables' reads "
            "joined by UNION ALL; an HTTP agency one GET with the ids and a projection.",
            "",
        ]
    missed = [t for t in targets if not t.met and t.not_measured is None]
    if missed:
        lines += [
            "Where the gateway's time goes (what the lower bound and the peers do not do): per "
            "request it validates an RS256 token, checks the state database's change marker "
            "(and reads the person index, consents and grants of people it does not hold in "
            "memory), decides every item with the policy, commits a hash-chained intent "
            "record before any agency is called (without waiting for the disk) and one "
            "disclosure record per person before answering, committed to disk with a signed "
            "head (at concurrency 1 one wait for the disk on every request's path, from 0.3 "
            "to 1.25 ms on the virtual disks measured; group-committed under load), and "
            "counts metrics. It reads an SQL "
            "agency's rows one by one (the lower bound has each database aggregate its tables "
            "to one JSON value), merges each agency's rows into every person's records and "
            "completes them for the answer: for a caseload of 200 that is 200 disclosure "
            "records naming every item under the clause it rests on, and about 20,000 leaf "
            "values completed and serialized.",
            "",
        ]
    if w3.available:
        lines += [
            f"W3 runs a second gateway process whose agency files set `cache_seconds = "
            f"{CACHE_SECONDS}`: the W4 view is asked once to warm the cache, then repeated by "
            "the same practitioner (the hit row above); then the same query by another "
            "practitioner of the same agency must miss and return the same data.",
            "",
        ]
    hive_line = (
        f"**{HIVE}** (`hive-gateway supergraph`, {hive_versions}, one process: `--fork 1`, "
        "`NODE_ENV=production`) serving a supergraph that Mesh Compose (`mesh-compose` with "
        "`@omnigraph/openapi`) composed from OpenAPI 3.0 documents of the two HTTP agencies; "
        "the run writes those documents from `bench/world.py` with the URLs the agencies "
        "listen on, so they describe exactly the endpoints the other variants call. Hive has "
        "no person index: its query names each agency's own id of the person and the "
        "projection (`ids` and `fields`, the same fields the gateway asks for), one root "
        "field per agency, both called concurrently. Its answer is shaped by the agencies' "
        "JSON, so it is checked normalised: the same values for the same catalogue items "
        "from the same agency, in the same order (the gateway's person id and agency names, "
        "which Hive cannot know, left out)."
        if not peers.hive_skipped
        else f"**{HIVE}**: not run ({peers.hive_skipped}); its targets are NOT MEASURED."
    )
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
        f"- Variants, each its own process on 127.0.0.1: **{GATEWAY}** (`fame-gateway serve`, "
        "real signed tokens, policy, hash-chained signed audit to its SQLite state "
        f"database); **{GATEWAY_PG}** (the same configuration with PostgreSQL as its state "
        "database, a fresh database the run creates and drops, served by `fame-gateway serve "
        "--workers 2`: two gateway processes on one port sharing it, the kernel handing "
        f"each connection to one of them); **{LOWER}** (hand-written asyncio aggregation: "
        "one statement or GET per agency holding the people asked about, all concurrently, "
        "leaves built synchronously, orjson; no token, policy or audit); "
        f"**{NAIVE}** (graphene, one resolver per field, each record list of each person "
        "asks its agencies on its own; "
        f"no token, policy or audit); **{DATALOADER}** (graphene {_version('graphene')} on "
        f"Starlette, aiodataloader {_version('aiodataloader')}: a resolver per record list "
        "and one DataLoader per source made for each request, so each agency gets one call "
        "per request, the lower bound's call; orjson; no token, policy or audit); " + hive_line,
        "- W1, the peer workload: one person known only to the two HTTP agencies, every item "
        "they map, asked by a district nurse of the community health trust (the gateway "
        f"sees the person through its index and calls only those two agencies); {GATEWAY}, "
        f"{GATEWAY_PG}, {LOWER}, {DATALOADER} and {HIVE} at concurrency 1 and 32 ({NAIVE} is "
        "left out of W1, where the DataLoader peer is the graphene service worth comparing; "
        "naive stays in W4 and W2). W4: the former W1, one person from all four agencies, "
        "concurrency 1 and 32. W2: `caseload(first: 50)` and `caseload(first: 200)` at "
        "concurrency 1. W4 and W2 ask as a social worker.",
        "- Before timing, every variant of a workload must return the gateway's `data` for "
        f"its query ({HIVE}: normalised, as above). Then each workload runs its variants in "
        "rotating order, slice by slice, from one in-process aiohttp closed-loop load "
        "generator; a slice waits for its requests in flight, so source counts and CPU are "
        "each variant's own. p99 is the nearest rank, so with few queries it is close to "
        "the slowest one.",
        "",
    ]
    # The hostile-input section is `make bench-hostile`'s; keep it.
    kept = section_of(file.read_text()) if file.exists() else ""
    file.write_text(with_section("\n".join(lines), kept))


@contextlib.asynccontextmanager
async def sources_process(count: int, peers: int, log: Path) -> AsyncIterator[dict[str, str]]:
    """The HTTP agencies in their own process; yields agency id -> base URL."""
    handle = log.open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sources",
        "--people",
        str(count),
        "--peers",
        str(peers),
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


async def verify_audit(name: str, settings: Path, env: Mapping[str, str]) -> AuditCheck:
    """``fame-gateway audit verify`` on the state database of the gateway configured at
    ``settings``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "--config",
        str(settings),
        "audit",
        "verify",
        cwd=REPO,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = " ".join(out.decode(errors="replace").split()) or f"exit {proc.returncode}"
    return AuditCheck(name, proc.returncode == 0, text)


async def run(scale: float, output: Path, only: Sequence[str] = ()) -> int:
    """The whole benchmark; returns the exit status. ``only``: the workloads to run (all
    when empty; W3 always runs), for a quick look at one while working on it."""
    started = time.perf_counter()
    work = HERE / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    population = people(POPULATION, PEERS)
    admin_urls = server_urls()
    tag = secrets.token_hex(4)
    sql = SqlSources(admin_urls, tag)
    print("creating the agencies' databases ...", flush=True)
    try:
        await sql.create(population)
    except SourcesUnavailable as exc:
        print(f"make bench needs the local database servers:\n{exc}", file=sys.stderr)
        return 2
    state_name = f"fame_bench_state_{tag}"
    state_created = False
    servers: list[Server] = []
    #: Gateway variant -> its settings file, for the audit check after the run.
    configs: dict[str, Path] = {}
    env: dict[str, str] = {}
    hive_versions: dict[str, str] = {}
    hive_skipped: str | None = None
    try:
        try:
            print("creating the PostgreSQL state database ...", flush=True)
            state_dsn = await create_state_database(admin_urls["postgresql"], state_name)
            state_created = True
            async with (
                sources_process(POPULATION, PEERS, work / "sources.log") as urls,
                aiohttp.ClientSession(
                    # Idle connections are dropped well before uvicorn's 5 s keep-alive
                    # would close them under a request (variants sit idle between slices).
                    connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=1.0)
                ) as session,
            ):
                world = World(dsns=sql.dsns, urls=urls, people=population)
                world.save(work / "world.json")
                env = {**gateway_environment(world), STATE_DSN_VARIABLE: state_dsn}
                os.environ.update(env)  # the gateway's settings and agency files name these
                print("configuring the gateways ...", flush=True)
                configs[GATEWAY] = write_config(work / "gateway", world)
                gw_settings = await prepare_gateway(configs[GATEWAY], world)
                configs[GATEWAY_PG] = write_config(work / "gateway-pg", world, server_state=True)
                pg_settings = await prepare_gateway(configs[GATEWAY_PG], world)
                cached_tokens: Mapping[str, str] | None = None
                with_cache = cache_supported()
                if with_cache:
                    configs["gateway, cache on"] = write_config(
                        work / "gateway-cached", world, cache_seconds=CACHE_SECONDS
                    )
                    cached_tokens = tokens(
                        await prepare_gateway(configs["gateway, cache on"], world)
                    )
                else:
                    print("  this gateway has no per-agency cache yet: W3 will be reported NOT MET")
                print("preparing Hive Gateway (npm ci, OpenAPI documents, mesh-compose) ...")
                supergraph: Path | None = None
                try:
                    supergraph, hive_versions = await asyncio.to_thread(
                        hive.prepare, work / "hive", urls
                    )
                except hive.HiveUnavailable as exc:
                    hive_skipped = str(exc)
                    print(f"  Hive Gateway is skipped: {hive_skipped}", flush=True)

                def gateway_server(name: str, settings: Path, workers: int = 1) -> Server:
                    return Server(
                        name,
                        [
                            "-m",
                            "gateway.cli",
                            "--config",
                            str(settings),
                            "serve",
                            "--workers",
                            str(workers),
                        ],
                        work / f"{name}.log",
                        {**env, "PYTHONPATH": str(REPO)},
                        REPO,
                    )

                def python_server(name: str, module: str) -> Server:
                    return Server(
                        name,
                        ["-m", module, "--world", str(work / "world.json")],
                        work / f"{name}.log",
                        {"PYTHONPATH": str(REPO)},
                        REPO,
                    )

                gateway = gateway_server("gateway", configs[GATEWAY])
                pg_pair = [gateway_server("gateway-pg", configs[GATEWAY_PG], workers=2)]
                lower = python_server("lower-bound", "bench.lower_bound")
                naive = python_server("naive", "bench.naive")
                loader = python_server("dataloader", "bench.peers.dataloader")
                servers += [gateway, *pg_pair, lower, naive, loader]
                cached_server = None
                if with_cache:
                    cached_server = gateway_server("gateway-cached", configs["gateway, cache on"])
                    servers.append(cached_server)
                hive_server = None
                if supergraph is not None:
                    hive_server = hive.server(supergraph, work / "hive.log")
                    servers.append(hive_server)
                print("starting the variants ...", flush=True)
                for server in servers:
                    await server.ready(session)

                first, second = (who for who, _ in REQUESTERS)
                by_id = {p.id: p for p in population}

                def hive_phrase(workload: Workload) -> tuple[str, dict[str, Any]]:
                    person = by_id[workload.variables["id"]]
                    return (
                        hive.query(_PEER_AGENCIES),
                        dict(hive.variables(person, _PEER_AGENCIES)),
                    )

                variants = [
                    Variant(
                        GATEWAY,
                        [gateway],
                        {
                            "social care": tokens(gw_settings)[first],
                            "peer": peer_token(gw_settings),
                        },
                    ),
                    Variant(
                        GATEWAY_PG,
                        pg_pair,
                        {
                            "social care": tokens(pg_settings)[first],
                            "peer": peer_token(pg_settings),
                        },
                    ),
                    Variant(LOWER, [lower]),
                    Variant(NAIVE, [naive]),
                    Variant(DATALOADER, [loader]),
                ]
                if hive_server is not None:
                    variants.append(
                        Variant(HIVE, [hive_server], phrase=hive_phrase, same_shape=False)
                    )
                peer, person = population[POPULATION], population[0]
                w1 = (GATEWAY, GATEWAY_PG, LOWER, DATALOADER, HIVE)
                w4 = (GATEWAY, LOWER, NAIVE, DATALOADER)
                workloads = [
                    Workload(
                        "W1 c=1",
                        PEER_QUERY,
                        {"id": peer.id},
                        1,
                        6,
                        1.0,
                        w1,
                        "peer",
                        PEER_SLOWEST_SECONDS,
                        direct_source=True,
                    ),
                    Workload(
                        "W1 c=32",
                        PEER_QUERY,
                        {"id": peer.id},
                        32,
                        6,
                        1.0,
                        w1,
                        "peer",
                        PEER_SLOWEST_SECONDS,
                    ),
                    Workload("W4 c=1", PERSON_QUERY, {"id": person.id}, 1, 4, 1.0, w4),
                    Workload("W4 c=32", PERSON_QUERY, {"id": person.id}, 32, 4, 1.0, w4),
                    Workload("W2 caseload 50", CASELOAD_QUERY, {"first": 50}, 1, 4, 1.2, w4),
                    Workload("W2 caseload 200", CASELOAD_QUERY, {"first": 200}, 1, 3, 2.0, w4),
                ]
                print("checking the variants agree ...", flush=True)
                distinct: dict[str, Workload] = {}
                for w in workloads:
                    distinct.setdefault(w.query + str(w.variables) + w.requester, w)
                await check_equal(list(distinct.values()), variants, session)

                counters = Counters(sql, urls, session)
                measurements: list[Measurement] = []
                unknown = set(only) - {w.name for w in workloads}
                if unknown:
                    raise SystemExit(
                        f"no workload named {', '.join(sorted(unknown))}; the workloads are "
                        + ", ".join(w.name for w in workloads)
                    )
                for workload in workloads:
                    if only and workload.name not in only:
                        continue
                    print(f"{workload.name} ...", flush=True)
                    try:
                        direct = (
                            direct_call(world, peer, PEER_AGENCIES)
                            if workload.direct_source
                            else None
                        )
                        measurements += await measure(
                            workload, variants, counters, session, scale, direct
                        )
                    except aiohttp.ClientError as exc:
                        # Say which server went away and how, rather than only that one did.
                        gone = [
                            f"{server.name} exited with code {server.proc.poll()} "
                            f"(log: {server.log})"
                            for server in servers
                            if server.proc.poll() is not None
                        ]
                        raise SystemExit(
                            f"{workload.name}: {type(exc).__name__}: {exc}; "
                            + ("; ".join(gone) or "every server is still running")
                        ) from exc

                w4_one = workloads[2]
                print("W3 (gateway with the per-agency cache) ...", flush=True)
                (reference_request,) = variants[0].requests(w4_one)
                reference = await _post(session, reference_request)
                cached_variant = (
                    Variant(
                        "gateway, cache on",
                        [cached_server],
                        {"social care": cached_tokens[first]},
                    )
                    if cached_server is not None and cached_tokens is not None
                    else None
                )
                w3 = await run_w3(
                    cached_variant,
                    {
                        **_JSON,
                        "Authorization": "Bearer " + (cached_tokens or tokens(gw_settings))[second],
                    },
                    w4_one,
                    counters,
                    session,
                    reference,
                    scale,
                )
                if w3.hits is not None:
                    h = w3.hits
                    print(
                        f"  hits: n={h.queries} p50={h.p50_ms:.1f} ms "
                        f"calls/q={h.calls_per_query:.2f}; "
                        f"different requester: {w3.miss_calls} calls",
                        flush=True,
                    )
                memory = {s.name: peak_memory_mb(s.pid) for s in servers}
        finally:
            for server in servers:
                server.stop()
        print("verifying the gateways' audit chains ...", flush=True)
        audits = [await verify_audit(name, path, env) for name, path in configs.items()]
        for audit in audits:
            print(f"  {audit.gateway}: {'ok' if audit.ok else 'FAILED'}: {audit.output}")
    finally:
        if state_created:
            try:
                await drop_state_database(admin_urls["postgresql"], state_name)
            except Exception as exc:  # best effort: a later run uses another tag anyway
                print(f"could not drop {state_name}: {exc}", file=sys.stderr)
        await sql.drop()
    seconds = time.perf_counter() - started
    targets = evaluate(measurements, w3, memory, hive_skipped)
    peers = Peers(hive_versions, hive.node_version(), hive_skipped)
    write_results(output, measurements, w3, targets, memory, seconds, peers, audits)
    print(f"\nTargets ({output.relative_to(REPO) if output.is_relative_to(REPO) else output}):")
    for t in targets:
        print(f"  {t.verdict:<8} {t.name}: {t.measured} (wanted {t.wanted})")
    print(f"\nbench took {seconds:.0f} s", flush=True)
    if not all(audit.ok for audit in audits):
        print("an audit chain does not verify: the run fails", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench [--scale F] [--output FILE] [--workload NAME ...]``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the number of rounds per workload (0.3 for a quick look)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="NAME",
        help='run only this workload (repeatable), e.g. --workload "W1 c=32"; '
        "write --output elsewhere then, as targets of the others are missing",
    )
    args = parser.parse_args(argv)
    return asyncio.run(run(args.scale, args.output.resolve(), args.workload))
