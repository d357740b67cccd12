"""`fame-gateway demo` (what `make demo` runs) serves every agency of the world, SQL, REST,
FHIR R4 and CSV alike, and takes a changed agency file with `fame-gateway reload` without a
restart, as a served gateway does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import REPO, build_config, free_port


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
        check=False,
    )


def _up(url: str, proc: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the demo exited: {log.read_text()}"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the demo did not come up: {log.read_text()}")


def test_the_demo_serves_every_agency_and_reloads_without_a_restart(tmp_path: Path) -> None:
    config = build_config(
        tmp_path,
        trust_url=f"http://127.0.0.1:{free_port()}",
        fhir_url=f"http://127.0.0.1:{free_port()}",
        store_dir=tmp_path / "stores",
    )
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "gateway.cli", "--config", str(config)),
                *("demo", "--port", str(port)),
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _up(url, proc, log)
        token = _cli(config, "token", "ed-singh").stdout.strip()
        answer = httpx.post(
            f"{url}/graphql",
            json={"query": "{ agencies { id kind status } }"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        agencies = {a["id"]: (a["kind"], a["status"]) for a in answer["data"]["agencies"]}
        assert {kind for kind, _ in agencies.values()} == {"sql", "http", "fhir", "csv"}
        assert {status for _, status in agencies.values()} == {"ok"}, agencies

        school = config.parent / "agencies" / "severnford-school.toml"
        school.write_text(
            school.read_text().replace("timeout_seconds = 2.0", "timeout_seconds = 2.5")
        )
        reloaded = _cli(config, "reload")
        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        assert "agencies replaced severnford-school" in reloaded.stdout
        assert proc.poll() is None  # the same process serves the new configuration
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not (config.parent / "gateway.pid").exists()  # withdrawn when it stopped
