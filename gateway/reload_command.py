"""``fame-gateway reload``: check the configuration files here, then have the running
``fame-gateway serve`` take them, and say whether every gateway process did.

Exit status: 0 when every process serves the files checked here; 1 when a process
refused them (its old configuration keeps serving), another configuration was found
in force, the server could not be found, or it did not answer in time; 2 when the files
are broken here, in which case the server is not signalled at all.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from gateway.config.settings import load_settings
from gateway.core.errors import ConfigError, ConfigErrors
from gateway.edge.auth import Authenticator
from gateway.reload import configuration_digest
from gateway.run_files import RunFiles, ServerRecord, alive

#: How often the status files are read while waiting.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Streams:
    """Where the command writes: its report, and its problems."""

    out: TextIO
    err: TextIO


def request_reload(config: Path, pid_file: Path, timeout: float, streams: Streams) -> int:
    """Check ``config``, signal the server that ``pid_file`` names, and wait for every one
    of its gateway processes to report the outcome."""
    problems = check_files(config)
    if problems:
        streams.err.write(
            f"fame-gateway: the configuration has {len(problems)} problem(s); nothing was "
            "reloaded, and the running gateway keeps its configuration:\n"
        )
        streams.err.writelines(f"  - {problem}\n" for problem in problems)
        return 2
    digest = configuration_digest(config)
    files = RunFiles(pid_file)
    record = _server(files, config, streams)
    if record is None:
        return 1
    before = {worker: _attempts(files.status(worker)) for worker in record.workers}
    os.kill(record.pid, signal.SIGHUP)
    answers = _wait(files, record, before, digest, timeout)
    return _report(record, answers, digest, timeout, streams)


def check_files(config: Path) -> list[str]:
    """Every problem of the settings, agency, protocol and key files, as the server would
    find them (the environment variables they name must be set here too)."""
    try:
        settings = load_settings(config)
    except ConfigErrors as exc:
        return [str(error) for error in exc.errors]
    except ConfigError as exc:
        return [str(exc)]
    try:
        # Key files only: keys behind a URL are fetched by the server.
        asyncio.run(Authenticator(settings.issuers, settings.default_purpose).load_keys())
    except ConfigError as exc:
        return [str(exc)]
    return []


def _server(files: RunFiles, config: Path, streams: Streams) -> ServerRecord | None:
    record = files.read()
    if record is None:
        streams.err.write(
            f"fame-gateway: no running gateway found: {files.pid_file} does not exist. "
            "`fame-gateway serve` writes it once it serves; start the gateway, or name its "
            "pid file with --pid-file.\n"
        )
        return None
    if record.config != config.resolve():
        streams.err.write(
            f"fame-gateway: the gateway in {files.pid_file} (pid {record.pid}) serves "
            f"{record.config}, not {config.resolve()}; reload it with --config {record.config}.\n"
        )
        return None
    if not alive(record.pid):
        streams.err.write(
            f"fame-gateway: {files.pid_file} names pid {record.pid}, which is not running "
            "(the gateway stopped without removing it); start the gateway.\n"
        )
        return None
    return record


def _attempts(status: dict[str, Any] | None) -> int | None:
    if status is None:
        return None
    attempts = status.get("attempts")
    return attempts if isinstance(attempts, int) else None


def _wait(
    files: RunFiles,
    record: ServerRecord,
    before: dict[int, int | None],
    digest: str,
    timeout: float,
) -> dict[int, dict[str, Any] | None]:
    """Each gateway process's status once it has answered this signal (None: it stopped);
    a process that did not answer in time is absent."""
    answers: dict[int, dict[str, Any] | None] = {}
    deadline = time.monotonic() + timeout
    while len(answers) < len(record.workers) and time.monotonic() < deadline:
        for worker in set(record.workers) - set(answers):
            status = files.status(worker)
            if status is not None and _answered(status, before[worker], digest):
                answers[worker] = status
            elif not alive(worker):
                answers[worker] = None
        time.sleep(_POLL_SECONDS)
    return answers


def _answered(status: dict[str, Any], earlier: int | None, digest: str) -> bool:
    """Whether ``status`` answers the signal just sent. A reload under way when it was
    sent read the files before they were checked here: its outcome counts only if it
    serves these files, or refused them; the next attempt is surely this signal's."""
    attempts = _attempts(status)
    if attempts is None:
        return False
    if earlier is None:  # it started after the signal, reading the files as they are now
        return True
    if attempts >= earlier + 2:
        return True
    last = status.get("lastReload") or {}
    return attempts > earlier and (status.get("digest") == digest or not last.get("ok"))


def _report(
    record: ServerRecord,
    answers: dict[int, dict[str, Any] | None],
    digest: str,
    timeout: float,
    streams: Streams,
) -> int:
    taken = 0
    restart: set[str] = set()
    for worker in record.workers:
        if worker not in answers:
            streams.err.write(
                f"process {worker}: did not answer within {timeout:g} s; see its log\n"
            )
            continue
        status = answers[worker]
        if status is None:
            streams.err.write(f"process {worker}: stopped before it answered; see its log\n")
            continue
        last = status.get("lastReload") or {}
        restart.update(last.get("restartNeeded") or ())
        generation = status.get("generation")
        if last and not last.get("ok"):
            streams.err.write(
                f"process {worker}: refused the new configuration and still serves generation "
                f"{generation}:\n"
            )
            streams.err.writelines(f"  - {problem}\n" for problem in last.get("problems", ()))
            continue
        if status.get("digest") != digest:
            streams.err.write(
                f"process {worker}: serves generation {generation}, read from files other "
                "than those checked here (they changed meanwhile); run reload again\n"
            )
            continue
        taken += 1
        streams.out.write(f"process {worker}: {_taken(last, generation)}\n")
    if restart:
        streams.out.write(
            f"changed on file but applied only at the next restart: {', '.join(sorted(restart))}\n"
        )
    if taken == len(record.workers):
        streams.out.write(f"the configuration is in force in every gateway process ({taken})\n")
        return 0
    streams.err.write(
        f"fame-gateway: {len(record.workers) - taken} of {len(record.workers)} gateway "
        "process(es) did not take the configuration\n"
    )
    return 1


def _taken(last: dict[str, Any], generation: object) -> str:
    if not last:
        return f"started with this configuration (generation {generation})"
    if not last.get("changed"):
        return f"unchanged (generation {generation})"
    agencies = last.get("agencies") or {}
    changes = [
        f"{what} {', '.join(ids)}"
        for what, ids in (
            ("added", agencies.get("added")),
            ("removed", agencies.get("removed")),
            ("replaced", agencies.get("replaced")),
        )
        if ids
    ]
    detail = f" (agencies {'; '.join(changes)})" if changes else ""
    return f"took generation {generation}{detail}"
