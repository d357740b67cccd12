"""The operator's side of a registration story: the installed ``fame-gateway`` command
run as an IT team runs it (each command recorded), ``fame-gateway serve`` in its own
process with a pid file, and what the gateway's state database holds."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import create_engine, select

from fame_demo.synthetic import UNSHARED_MARKER
from gateway.governance.state import consents, disclosures, person_links
from tests.support import REPO, free_port


def fame_gateway() -> str:
    """The installed console script, as an operator runs it."""
    script = shutil.which("fame-gateway", path=str(Path(sys.executable).parent))
    assert script is not None, "fame-gateway is not installed beside this Python"
    return script


@dataclass(frozen=True)
class Ran:
    """One command's exit code and output."""

    code: int
    out: str
    err: str


async def run(config: Path, *args: str) -> Ran:
    """``fame-gateway --config CONFIG ARGS`` in the deployment's directory."""
    process = await asyncio.create_subprocess_exec(
        fame_gateway(),
        "--config",
        str(config),
        *args,
        cwd=config.parent.parent,
        env={**os.environ, "FAME_CONFIG": ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())


def command_of(args: tuple[str, ...]) -> str:
    """The command words of ``fame-gateway ARGS`` (``index review accept``), without
    options, paths and values."""
    words: list[str] = []
    for arg in args:
        if not re.fullmatch(r"[a-z][a-z-]*", arg):
            break
        words.append(arg)
    return " ".join(words)


def readme_walkthrough() -> list[str]:
    """The commands of the README's "Registering an agency" walkthrough, in its order."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Registering an agency\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [command_of(tuple(shlex.split(line)[1:])) for line in block.splitlines()]


@dataclass
class Operator:
    """The council's IT team at the command line: every command it runs, recorded."""

    config: Path
    commands: list[str] = field(default_factory=list)

    async def run(self, *args: str) -> Ran:
        self.commands.append(command_of(args))
        return await run(self.config, *args)


@dataclass
class Served:
    """``fame-gateway serve`` running in its own process."""

    process: asyncio.subprocess.Process
    url: str
    pid_file: Path
    log: IO[str]

    async def stop(self) -> None:
        """Stop the server if it still runs, and close its log."""
        if self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        self.log.close()


async def serve(config: Path, pid_file: Path, log: Path) -> Served:
    """Start ``fame-gateway serve --pid-file`` on a free loopback port; returns once the
    pid file says it serves."""
    port = free_port()
    log_file = log.open("w")
    process = await asyncio.create_subprocess_exec(
        fame_gateway(),
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
        "--pid-file",
        str(pid_file),
        cwd=config.parent.parent,
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    served = Served(process, f"http://127.0.0.1:{port}", pid_file, log_file)
    for _ in range(600):
        if process.returncode is not None:
            log_file.close()
            raise AssertionError(f"serve exited: {log.read_text()}")
        if pid_file.exists():
            return served
        await asyncio.sleep(0.05)
    await served.stop()
    raise AssertionError(f"serve wrote no pid file: {log.read_text()}")


@dataclass(frozen=True)
class State:
    """What the gateway's state database holds that a restart of the demo would lose."""

    links: frozenset[tuple[str, str, str, str | None]]
    consents: frozenset[str]
    chain: tuple[tuple[int, str], ...]


def state_of(database: Path) -> State:
    """Read the links, consents and audit chain of a SQLite state database."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            links = conn.execute(
                select(
                    person_links.c.person_id,
                    person_links.c.agency_id,
                    person_links.c.local_id,
                    person_links.c.team,
                )
            ).all()
            consent_ids = conn.execute(select(consents.c.id)).scalars().all()
            chain = conn.execute(
                select(disclosures.c.seq, disclosures.c.hash).order_by(disclosures.c.seq)
            ).all()
    finally:
        engine.dispose()
    return State(
        frozenset((r[0], r[1], r[2], r[3]) for r in links),
        frozenset(consent_ids),
        tuple((r[0], r[1]) for r in chain),
    )


async def ask(served: Served, token: str, query: str, person_id: str) -> dict[str, Any]:
    """POST a query about one person; the answer must be a 200 and carry no value the
    agencies never map."""
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": person_id}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    assert UNSHARED_MARKER not in response.text
    answer: dict[str, Any] = response.json()
    return answer
