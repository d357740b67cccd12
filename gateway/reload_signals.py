"""The server's side of ``fame-gateway reload``: SIGHUP reloads each gateway process, and
each process's outcome is written where the command reads it (``gateway.run_files``).

With ``serve --workers N`` the parent process holds the pid file and passes SIGHUP on to
every worker that serves; a worker still starting reads the files as they are when it
starts, so it has nothing to reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from gateway.run_files import RunFiles
from gateway.service import Gateway


@contextlib.contextmanager
def reload_on_hangup(
    gateway: Gateway, files: RunFiles, config: Path, *, publish: bool
) -> Iterator[None]:
    """While the block runs (on the event loop), SIGHUP reloads ``gateway`` and every
    outcome is written to this process's status file; ``publish``: this process is the
    whole server, so it writes the pid file too."""
    pid = os.getpid()
    loop = asyncio.get_running_loop()

    def write(state: dict[str, object]) -> None:
        files.write_status(pid, state)

    def withdraw() -> None:
        if publish:
            files.withdraw(pid)
        files.forget_status(pid)

    loop.add_signal_handler(signal.SIGHUP, gateway.reload_in_background)
    gateway.reloader.listeners.append(write)
    write(gateway.reloader.describe(gateway.current))
    if publish:
        files.publish(pid, [pid], config)
    try:
        with _withdrawn_on_exit_signals(withdraw):
            yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        gateway.reloader.listeners.remove(write)
        withdraw()


@contextlib.contextmanager
def _withdrawn_on_exit_signals(withdraw: Callable[[], None]) -> Iterator[None]:
    # uvicorn answers SIGTERM and SIGINT by shutting down and then raising the signal
    # again under the handler it found, which by default ends the process before any
    # `finally` here runs: that handler is this one, which removes the files first.
    previous: dict[int, Any] = {}

    def on_exit(signum: int, _frame: object) -> None:
        withdraw()
        signal.signal(signum, previous[signum])
        signal.raise_signal(signum)

    for exit_signal in (signal.SIGTERM, signal.SIGINT):
        previous[exit_signal] = signal.signal(exit_signal, on_exit)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class Worker(Protocol):
    """A worker process as the parent sees it (``multiprocessing.Process``)."""

    @property
    def pid(self) -> int | None:
        """Its process id once started."""
        ...

    def is_alive(self) -> bool:
        """Whether it still runs."""
        ...


def forward_hangups(workers: Sequence[Worker], files: RunFiles) -> None:
    """In the parent: pass SIGHUP on to every worker that has said it serves (before that,
    a worker has no handler yet and the signal would end it)."""

    def forward(_signal: int, _frame: object) -> None:
        for worker in workers:
            if worker.pid is not None and worker.is_alive() and files.status(worker.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGHUP)

    signal.signal(signal.SIGHUP, forward)


def publish_when_serving(
    workers: Sequence[Worker], files: RunFiles, config: Path, timeout: float = 300.0
) -> None:
    """In the parent: write the pid file once every worker serves (or has stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        worker.is_alive() and worker.pid is not None and files.status(worker.pid) is None
        for worker in workers
    ):
        time.sleep(0.05)
    files.publish(os.getpid(), [w.pid for w in workers if w.pid is not None], config)
