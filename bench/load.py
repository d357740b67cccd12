"""The load generator (one process, aiohttp, closed loop) and the servers' own figures.

A closed loop keeps ``concurrency`` requests in flight: each worker sends its next
request as soon as its previous answer has been read. A slice stops issuing at its
deadline and waits for what is in flight, so nothing one variant started is still
running, or calling a source, when the next variant's slice begins.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and its descendants alive now (a server with workers is all of them)."""
    found = [pid]
    for member in found:
        try:
            tasks = Path(f"/proc/{member}/task").iterdir()
            for task in tasks:
                found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # gone since listed
            continue
    return found


def _cpu_of(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process and its descendants, all threads, in seconds."""
    return sum(_cpu_of(member) for member in process_tree(pid))


def _peak_of(pid: int) -> float:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return float("nan")
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_memory_mb(pid: int) -> float:
    """The largest peak resident set (VmHWM) of the process and its descendants, in MB."""
    return max(_peak_of(member) for member in process_tree(pid))


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


#: How a Python server is started: faulthandler, so that a crash in a C extension still
#: leaves a traceback in the log.
PYTHON = (sys.executable, "-X", "faulthandler")


class Server:
    """A variant's server process on 127.0.0.1, with its log in a file.

    ``argv`` follows ``program`` (Python unless said otherwise); ``--port N`` is added.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str],
        cwd: Path,
        *,
        program: Sequence[str] = PYTHON,
        health: str = "/healthz",
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log = log
        self.health = health
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [*program, *argv, "--port", str(self.port)],
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.proc.pid

    async def ready(self, session: aiohttp.ClientSession, within: float = 60.0) -> None:
        """Wait until ``/healthz`` answers; raise with the log if the process died."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-4000:]}")
            try:
                async with session.get(f"{self.url}{self.health}") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        """Terminate the process (kill it if it will not stop)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@dataclass(frozen=True)
class Request:
    """One prepared request: URL, encoded body and headers, and its method."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    #: POST for the variants' GraphQL; GET for a source called directly.
    method: str = "POST"


@dataclass
class Slice:
    """What one closed-loop run saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    elapsed: float = 0.0


#: How long one request may take before it counts as an error of the variant.
ANSWER_WITHIN_SECONDS = 30.0


async def closed_loop(
    session: aiohttp.ClientSession,
    requests: Request | Sequence[Request],
    concurrency: int,
    *,
    seconds: float | None = None,
    count: int | None = None,
) -> Slice:
    """Keep ``concurrency`` requests in flight for ``seconds`` (or until ``count`` are done).

    Several requests (one per server of a variant with several processes) are sent in
    turn, request by request.
    """
    turns = [requests] if isinstance(requests, Request) else list(requests)
    result = Slice()
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")
    remaining = [count if count is not None else -1]
    sent_count = [0]

    async def worker() -> None:
        while time.perf_counter() < deadline and remaining[0] != 0:
            remaining[0] -= 1
            request = turns[sent_count[0] % len(turns)]
            sent_count[0] += 1
            sent = time.perf_counter()
            try:
                # A variant that never answers is an error in the figures, not a run that
                # never ends.
                async with asyncio.timeout(ANSWER_WITHIN_SECONDS):
                    async with session.request(
                        request.method,
                        request.url,
                        data=request.body or None,
                        headers=request.headers,
                    ) as r:
                        body = await r.read()
                        status = r.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                result.errors += 1
                if result.first_error is None:
                    result.first_error = (
                        f"no answer within {ANSWER_WITHIN_SECONDS:g} s"
                        if isinstance(exc, TimeoutError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                continue
            result.latencies.append(time.perf_counter() - sent)
            # A cheap check: any GraphQL error (or HTTP failure) makes the answer an error.
            if status != 200 or b'"errors"' in body:
                result.errors += 1
                if result.first_error is None:
                    # The errors follow the data: show them, not the data's beginning.
                    where = max(0, body.find(b'"errors"'))
                    result.first_error = f"HTTP {status}: {body[where : where + 500]!r}"

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]
