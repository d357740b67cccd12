"""GraphQL over HTTP conformance, judged by an audit written by others.

The ``graphql-http`` package's ``auditServer`` (pinned in ``package.json``, locked by the
committed ``package-lock.json``) runs against the gateway served on a free loopback
port, with a valid demo token on every request. Every MUST and every SHOULD must pass;
the MAY results are printed. Without Node.js 18 or newer the test skips and says so,
except in CI (``FAME_TEST_REQUIRE_SERVERS=1``), where it fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bench.peers.hive import node_major
from gateway.app import create_app
from tests.support import World, free_port

HERE = Path(__file__).resolve().parent
#: ``fetch``, which the audit script uses, is built into Node.js from 18 on.
NODE_MAJOR = 18
#: In node_modules: the sha256 of the lock file that ``npm ci`` last installed.
_STAMP = ".fame-lock.sha256"


def _unavailable(reason: str) -> None:
    message = f"the graphql-http audit needs {reason}"
    if os.environ.get("FAME_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _install() -> Path:
    """Node on PATH with the pinned packages installed (``npm ci`` once per lock file)."""
    major = node_major()
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or major is None:
        _unavailable(f"Node.js {NODE_MAJOR} or newer, and node is not installed")
    elif major < NODE_MAJOR:
        _unavailable(f"Node.js {NODE_MAJOR} or newer, and node is {major}")
    if npm is None:
        _unavailable("npm, which is not installed")
    assert node is not None and npm is not None
    lock = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()
    stamp = HERE / "node_modules" / _STAMP
    if not (stamp.exists() and stamp.read_text().strip() == lock):
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            _unavailable(f"`npm ci` in {HERE.name} to succeed (exit {done.returncode}): {tail}")
        stamp.write_text(lock + "\n")
    return Path(node)


async def _audit(node: Path, url: str, token: str) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        str(node),
        str(HERE / "audit.mjs"),
        cwd=HERE,
        env={**os.environ, "FAME_AUDIT_URL": url, "FAME_AUDIT_TOKEN": token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    results: list[dict[str, Any]] = json.loads(out)
    return results


async def test_the_graphql_http_audit_passes_every_must_and_should(world: World) -> None:
    node = _install()
    assert world.gateway is not None
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(world.gateway), host="127.0.0.1", port=port, log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "the gateway did not start serving"
        results = await _audit(node, f"http://127.0.0.1:{port}/graphql", world.token("sw-patel"))
    finally:
        server.should_exit = True
        await serving

    def level(result: dict[str, Any]) -> str:
        return str(result["name"]).split(" ")[0]

    total = Counter(level(r) for r in results)
    passed = Counter(level(r) for r in results if r["status"] == "ok")
    print(
        "graphql-http audit: "
        + ", ".join(f"{lvl} {passed[lvl]}/{total[lvl]}" for lvl in ("MUST", "SHOULD", "MAY"))
    )
    failed = [
        f"{r['id']} {r['name']}: {r['reason']}"
        for r in results
        if r["status"] != "ok" and level(r) in {"MUST", "SHOULD"}
    ]
    assert total["MUST"] and total["SHOULD"], results
    assert not failed, "\n".join(failed)
