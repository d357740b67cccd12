"""The files through which ``fame-gateway reload`` finds a running ``fame-gateway serve``
and learns what each of its gateway processes made of a reload.

    <pid file>                      {"pid": ..., "workers": [...], "config": "..."}
    <pid file>.status/<pid>.json    one per gateway process: the configuration in force
                                    (generation, digest) and its last reload's outcome

``serve`` writes the pid file once every gateway process serves, and removes it (and
the status files) when it stops. Each file is replaced whole (written beside, then
renamed), so a reader never sees half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_pid_file(config: Path) -> Path:
    """Beside the settings file, named after it: ``config/gateway.toml`` ->
    ``config/gateway.pid``."""
    return config.resolve().with_suffix(".pid")


@dataclass(frozen=True)
class ServerRecord:
    """What the pid file says: the process to signal, its gateway processes, its settings."""

    pid: int
    workers: tuple[int, ...]
    config: Path


@dataclass(frozen=True)
class RunFiles:
    """A served gateway's pid file and its processes' status files."""

    pid_file: Path

    @property
    def status_dir(self) -> Path:
        """Where each gateway process writes its status."""
        return self.pid_file.with_name(self.pid_file.name + ".status")

    def publish(self, pid: int, workers: list[int], config: Path) -> None:
        """Say that ``pid`` serves ``config`` with these gateway processes."""
        body = {"pid": pid, "workers": workers, "config": str(config.resolve())}
        _replace(self.pid_file, body)

    def withdraw(self, pid: int) -> None:
        """Remove the pid file if it still names ``pid`` (a later server may own it)."""
        record = self.read()
        if record is not None and record.pid == pid:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()

    def read(self) -> ServerRecord | None:
        """The pid file's record; None when there is none (or it is not one)."""
        body = _load(self.pid_file)
        if body is None:
            return None
        try:
            return ServerRecord(
                int(body["pid"]), tuple(int(w) for w in body["workers"]), Path(body["config"])
            )
        except (KeyError, TypeError, ValueError):
            return None

    def write_status(self, pid: int, state: dict[str, Any]) -> None:
        """Replace gateway process ``pid``'s status."""
        self.status_dir.mkdir(parents=True, exist_ok=True)
        _replace(self.status_dir / f"{pid}.json", {"pid": pid, **state})

    def status(self, pid: int) -> dict[str, Any] | None:
        """Gateway process ``pid``'s last status; None before it has written one."""
        return _load(self.status_dir / f"{pid}.json")

    def forget_status(self, pid: int) -> None:
        """Remove ``pid``'s status (it is stopping), and the directory once empty."""
        with contextlib.suppress(FileNotFoundError):
            (self.status_dir / f"{pid}.json").unlink()
        with contextlib.suppress(OSError):
            self.status_dir.rmdir()


def _replace(path: Path, body: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(body, indent=1) + "\n")
    os.replace(temporary, path)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def alive(pid: int) -> bool:
    """Whether a process with this id exists (and may be signalled by us)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
