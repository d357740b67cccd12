"""Reload without restart: read the configuration files again and, only if every one of
them is valid, put the new configuration in force at once.

    read and validate (a worker thread) -> build beside the old one -> open and check new
    agencies, load new issuers' keys -> swap the one reference (``Gateway.install``) ->
    close what was replaced once the requests begun under it have finished

A broken file changes nothing: the configuration in force keeps serving, and the
outcome (kept in ``/readyz``, the metrics, the log and, under ``serve``, the status file
``fame-gateway reload`` reads) names each problem with its file, key and fix. Settings
that only a restart can change (the listen address, the state database, ...) keep their
running values and are reported as waiting for a restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from connectors.base import Connector
from gateway.config.catalogue import catalogue_files
from gateway.config.settings import Settings, load_settings
from gateway.configuration import Configuration, ProcessParts, configure, served_schema
from gateway.core.errors import ConfigError, ConfigErrors, Problems
from gateway.core.times import Clock

log = logging.getLogger(__name__)

#: Settings a running process cannot change (its socket, database, signing key, HTTP
#: routes and middleware, telemetry), by field, with the key the operator wrote.
RESTART_ONLY = {
    "mode": "mode",
    "state_database": "state_database",
    "graphiql": "graphiql",
    "host": "listen",
    "port": "listen",
    "audit_signing_key_file": "audit_signing_key_file",
    "metrics_token_env": "metrics_token_env",
    "http": "http / documents",
    "tracing": "tracing",
    "logging": "logging",
}


def configuration_files(file: Path) -> list[Path]:
    """Every file the settings in ``file`` are read from: the settings, each agency file,
    the sharing protocol, the catalogue's files and the issuers' key files (in a fixed
    order)."""
    file = file.resolve()
    directory = file.parent
    try:
        doc = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return [file]  # loading says what is wrong with it
    files = [file]
    agencies = doc.get("agencies_dir", "agencies")
    if isinstance(agencies, str):
        files += sorted((directory / agencies).glob("*.toml"))
    protocol = doc.get("protocol_file", "sharing-protocol.toml")
    if isinstance(protocol, str):
        files.append(directory / protocol)
    # Problems with [catalogue] are loading's to report; here only the files count.
    files += catalogue_files(doc.get("catalogue"), directory, Problems(file))
    issuers = doc.get("issuers")
    for issuer in issuers if isinstance(issuers, list) else ():
        jwks = issuer.get("jwks_file") if isinstance(issuer, dict) else None
        if isinstance(jwks, str):
            files.append(directory / jwks)
    return [path.resolve() for path in files]


def configuration_digest(file: Path) -> str:
    """sha256 over the names and contents of ``configuration_files(file)``: the same for
    the same files wherever it is computed (every worker, and the ``reload`` command)."""
    digest = hashlib.sha256()
    for path in configuration_files(file):
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0(missing)")
        digest.update(b"\0")
    return digest.hexdigest()


def keep_restart_only(running: Settings, loaded: Settings) -> tuple[Settings, tuple[str, ...]]:
    """``loaded`` with the running values of what only a restart changes, and the keys of
    those that differ (reported, not applied)."""
    differ = {
        key for name, key in RESTART_ONLY.items() if getattr(running, name) != getattr(loaded, name)
    }
    if running.limits.max_body_bytes != loaded.limits.max_body_bytes:
        differ.add("limits.max_body_bytes")
    kept = replace(
        loaded,
        config_dir=running.config_dir,
        limits=replace(loaded.limits, max_body_bytes=running.limits.max_body_bytes),
        **{name: getattr(running, name) for name in RESTART_ONLY},
    )
    return kept, tuple(sorted(differ))


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload attempt came to."""

    attempt: int
    #: Whether the configuration on file is the one in force now (taken, or unchanged).
    ok: bool
    #: Whether a new configuration was put in force.
    changed: bool
    #: The generation and digest in force after the attempt.
    generation: int
    digest: str
    at: str
    #: Each problem as "file: key: problem. Fix." (a refused reload); none when ok.
    problems: tuple[str, ...] = ()
    #: Keys changed on file that wait for a restart (see ``RESTART_ONLY``).
    restart_needed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The outcome as JSON for ``/readyz`` and the status file."""
        return {
            "attempt": self.attempt,
            "ok": self.ok,
            "changed": self.changed,
            "generation": self.generation,
            "digest": self.digest,
            "at": self.at,
            "problems": list(self.problems),
            "restartNeeded": list(self.restart_needed),
            "agencies": {
                "added": list(self.added),
                "removed": list(self.removed),
                "replaced": list(self.replaced),
            },
        }


class Reloadable(Protocol):
    """What a reload needs of the running gateway (``gateway.service.Gateway``)."""

    @property
    def current(self) -> Configuration:
        """The configuration in force."""
        ...

    @property
    def parts(self) -> ProcessParts:
        """What every configuration shares."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock decisions are made with."""
        ...

    @property
    def http(self) -> aiohttp.ClientSession | None:
        """The session issuers' keys are fetched with."""
        ...

    def install(self, configuration: Configuration) -> None:
        """Put ``configuration`` in force, and retire the old one once it has drained."""
        ...


@dataclass
class Reloader:
    """One process's reloads of the configuration file: one at a time, each outcome kept,
    counted in the metrics, logged, and told to ``listeners``."""

    file: Path | None
    registry: CollectorRegistry
    attempts: int = 0
    last: ReloadOutcome | None = None
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()
        self._generation = Gauge(
            "fame_config_generation",
            "The configuration in force: 1 at start-up, one more per reload that changed it.",
            registry=self.registry,
        )
        self._last_ok = Gauge(
            "fame_config_last_reload_ok",
            "1 unless the last reload was refused (then the previous configuration serves).",
            registry=self.registry,
        )
        self._last_ok.set(1)
        self._reloads = Counter(
            "fame_config_reloads",
            "Reload attempts by outcome: taken, unchanged or refused.",
            ["outcome"],
            registry=self.registry,
        )

    def started(self, configuration: Configuration) -> None:
        """Note the configuration the process started with."""
        self._generation.set(configuration.generation)

    def describe(self, configuration: Configuration) -> dict[str, Any]:
        """The configuration in force and the last reload, as JSON."""
        return {
            "generation": configuration.generation,
            "digest": configuration.digest,
            "attempts": self.attempts,
            "lastReload": self.last.describe() if self.last is not None else None,
        }

    async def reload(self, gateway: Reloadable) -> ReloadOutcome:
        """Read the configuration file again and put it in force if it is wholly valid."""
        async with self._lock:
            self.attempts += 1
            try:
                outcome = await self._attempt(gateway)
            except Exception as exc:  # never leave the gateway without an answer to give
                log.exception("reload failed unexpectedly; the configuration in force is kept")
                outcome = self._refused(
                    gateway.current, [f"the reload failed unexpectedly: {type(exc).__name__}"]
                )
            self.last = outcome
            self._reloads.labels(
                "refused" if not outcome.ok else "taken" if outcome.changed else "unchanged"
            ).inc()
            self._last_ok.set(1 if outcome.ok else 0)
            self._generation.set(outcome.generation)
            _log(outcome)
            state = self.describe(gateway.current)
            for listener in self.listeners:
                listener(state)
            return outcome

    async def _attempt(self, gateway: Reloadable) -> ReloadOutcome:
        current = gateway.current
        if self.file is None:
            return self._refused(
                current,
                ["this gateway was not started from a settings file, so there is none to reload"],
            )
        try:
            digest, loaded = await asyncio.to_thread(_read, self.file)
        except ConfigErrors as exc:
            return self._refused(current, [str(error) for error in exc.errors])
        except ConfigError as exc:
            return self._refused(current, [str(exc)])
        if digest == current.digest:
            return self._outcome(current, ok=True, changed=False)
        settings, restart = keep_restart_only(current.settings, loaded)
        candidate = configure(
            settings,
            served_schema(settings),
            gateway.parts,
            gateway.clock,
            previous=current,
            generation=current.generation + 1,
            digest=digest,
        )
        fresh = {
            agency_id: connector
            for agency_id, connector in candidate.connectors.items()
            if current.connectors.get(agency_id) is not connector
        }
        try:
            problems = await _prepare(candidate, current, fresh, gateway)
        except BaseException:
            await _discard(candidate, current, fresh)
            raise
        if problems:
            await _discard(candidate, current, fresh)
            return self._refused(current, problems, restart)
        gateway.install(candidate)
        before, after = set(current.connectors), set(candidate.connectors)
        return self._outcome(
            candidate,
            ok=True,
            changed=True,
            restart=restart,
            added=tuple(sorted(after - before)),
            removed=tuple(sorted(before - after)),
            replaced=tuple(sorted(set(fresh) & before)),
        )

    def _refused(
        self, current: Configuration, problems: Sequence[str], restart: tuple[str, ...] = ()
    ) -> ReloadOutcome:
        return self._outcome(
            current, ok=False, changed=False, problems=tuple(problems), restart=restart
        )

    def _outcome(
        self,
        configuration: Configuration,
        *,
        ok: bool,
        changed: bool,
        problems: tuple[str, ...] = (),
        restart: tuple[str, ...] = (),
        added: tuple[str, ...] = (),
        removed: tuple[str, ...] = (),
        replaced: tuple[str, ...] = (),
    ) -> ReloadOutcome:
        return ReloadOutcome(
            attempt=self.attempts,
            ok=ok,
            changed=changed,
            generation=configuration.generation,
            digest=configuration.digest,
            at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            problems=problems,
            restart_needed=restart,
            added=added,
            removed=removed,
            replaced=replaced,
        )


def _read(file: Path) -> tuple[str, Settings]:
    """The files' digest and the settings read from them (on a worker thread)."""
    before = configuration_digest(file)
    settings = load_settings(file)
    if configuration_digest(file) != before:
        raise ConfigError(
            file,
            "(files)",
            "changed while they were being read",
            "Finish editing, then reload again.",
        )
    return before, settings


async def _prepare(
    candidate: Configuration,
    current: Configuration,
    fresh: dict[str, Connector],
    gateway: Reloadable,
) -> list[str]:
    """Open the new and changed agencies' connectors and check them against their sources,
    and load new issuers' keys: the problems that stop the reload (an agency that is merely
    unreachable does not, as at start-up)."""
    problems: list[str] = []
    for connector in fresh.values():
        try:
            await connector.open()  # secrets (url_env) are read here
        except ConfigErrors as exc:
            problems += [str(error) for error in exc.errors]
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        return problems
    checks = await asyncio.gather(*(connector.check() for connector in fresh.values()))
    for check in checks:
        problems += [str(problem) for problem in check.problems]
        if not check.reachable:
            log.warning("agency %s is not reachable yet: %s", check.agency, check.detail)
    if candidate.authenticator is not current.authenticator:
        try:
            await candidate.authenticator.load_keys(gateway.http)
        except ConfigError as exc:
            problems.append(str(exc))
    if not problems:
        for check in checks:
            gateway.parts.status[check.agency] = (
                "ok" if check.ok else ("unreachable" if not check.reachable else "misconfigured")
            )
    return problems


async def _discard(
    candidate: Configuration, current: Configuration, fresh: dict[str, Connector]
) -> None:
    """Close what a refused candidate opened; the configuration in force is untouched."""
    for connector in fresh.values():
        await connector.close()
    if candidate.documents is not current.documents:
        candidate.documents.close()


def _log(outcome: ReloadOutcome) -> None:
    if not outcome.ok:
        log.error(
            "reload refused: the configuration in force (generation %s) is kept; %s",
            outcome.generation,
            "; ".join(outcome.problems),
        )
    elif outcome.changed:
        log.info(
            "reload took generation %s (agencies added: %s; removed: %s; replaced: %s)",
            outcome.generation,
            ", ".join(outcome.added) or "none",
            ", ".join(outcome.removed) or "none",
            ", ".join(outcome.replaced) or "none",
        )
    else:
        log.info(
            "reload: the configuration files are unchanged (generation %s)", outcome.generation
        )
    if outcome.restart_needed:
        log.warning(
            "changed on file but applied only at the next restart: %s",
            ", ".join(outcome.restart_needed),
        )
