"""Hive Gateway over the same HTTP agencies: install, compose, serve, ask.

The packages are pinned in ``bench/peers/hive/package.json`` and locked by its committed
``package-lock.json``; the bench installs them with ``npm ci`` (once per lock file: a
stamp in ``node_modules`` remembers which lock was installed). The agencies' OpenAPI
documents are written from ``bench.world`` with the URLs the agencies listen on in this
run, composed by Mesh Compose (``@graphql-mesh/compose-cli`` with ``@omnigraph/openapi``)
into a supergraph, and served by ``hive-gateway supergraph`` in one process.

Hive has no person index: the client names each agency's own id of the person (and the
fields it wants) in the query. That is what a client of a supergraph composed from these
APIs has to do, and it spares Hive the index lookup the FAME gateway makes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.load import Server
from bench.peers.openapi import documents, operation_id
from bench.world import AGENCIES, Agency, Person

HIVE_DIR = Path(__file__).resolve().parent / "hive"
#: The Node major version the pinned packages need.
NODE_MAJOR = 20
_STAMP = ".fame-bench-lock.sha256"


class HiveUnavailable(RuntimeError):
    """Hive Gateway cannot run here; the message says why (it goes into RESULTS.md)."""


def subgraph_name(agency: Agency) -> str:
    """The agency's subgraph in the supergraph (also the alias of its root field)."""
    return agency.id.removeprefix("bench-").replace("-", "_")


def projection(agency: Agency) -> str:
    """Every field the agency maps, as its ``fields`` parameter names them."""
    return ",".join(sorted(agency.items.values()))


def _selection(agency: Agency) -> str:
    parts = [agency.id_field]
    for part in agency.documents:
        fields = " ".join(field for field, item in part.fields if item is not None)
        parts.append(f"{part.key} {{ {fields} }}")
    return " ".join(parts)


def _variable(agency: Agency) -> str:
    return "".join(p.title() for p in subgraph_name(agency).split("_"))


def query(agencies: Sequence[Agency]) -> str:
    """The Hive document asking each agency for one person's every field."""
    params = []
    roots = []
    for agency in agencies:
        var = _variable(agency)
        params += [f"$ids{var}: String!", f"$fields{var}: String!"]
        roots.append(
            f"{subgraph_name(agency)}: {operation_id(agency)}(ids: $ids{var}, fields: $fields{var})"
            f" {{ {agency.results_key} {{ {_selection(agency)} }} }}"
        )
    return f"query Person({', '.join(params)}) {{ {' '.join(roots)} }}"


def variables(person: Person, agencies: Sequence[Agency]) -> dict[str, str]:
    """The Hive document's variables for ``person``: each agency's id and projection."""
    values: dict[str, str] = {}
    for agency in agencies:
        var = _variable(agency)
        values[f"ids{var}"] = person.local_ids[agency.id]
        values[f"fields{var}"] = projection(agency)
    return values


def node_version() -> str | None:
    """``node --version`` of the node on PATH (e.g. ``v20.11.1``), or None when there is none."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def node_major() -> int | None:
    """The major version of the node on PATH, or None when there is none."""
    found = re.match(r"v(\d+)\.", node_version() or "")
    return int(found.group(1)) if found else None


def install(directory: Path = HIVE_DIR) -> None:
    """``npm ci`` in ``directory`` unless this lock file is installed there already."""
    major = node_major()
    if major is None:
        raise HiveUnavailable("node is not installed")
    if major < NODE_MAJOR:
        raise HiveUnavailable(f"node {major} is older than the {NODE_MAJOR} the packages need")
    npm = shutil.which("npm")
    if npm is None:
        raise HiveUnavailable("npm is not installed")
    lock = hashlib.sha256((directory / "package-lock.json").read_bytes()).hexdigest()
    stamp = directory / "node_modules" / _STAMP
    if stamp.exists() and stamp.read_text().strip() == lock:
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=directory,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise HiveUnavailable(f"npm ci failed (exit {done.returncode}): {' / '.join(tail)}")
    stamp.write_text(lock + "\n")


#: The packages whose versions RESULTS.md names.
PACKAGES = ("@graphql-hive/gateway", "@graphql-mesh/compose-cli", "@omnigraph/openapi")


def versions(directory: Path = HIVE_DIR) -> dict[str, str]:
    """Package -> the version installed in ``directory``."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        manifest = directory / "node_modules" / package / "package.json"
        found[package] = str(json.loads(manifest.read_text())["version"])
    return found


def _bin(directory: Path, name: str) -> Path:
    return directory / "node_modules" / ".bin" / name


def compose(work: Path, urls: Mapping[str, str], directory: Path = HIVE_DIR) -> Path:
    """Write the agencies' OpenAPI documents under ``work`` and compose the supergraph."""
    work.mkdir(parents=True, exist_ok=True)
    sources: dict[str, str] = {}
    for agency_id, body in documents(dict(urls)).items():
        file = work / f"{agency_id}.openapi.json"
        file.write_text(json.dumps(body, indent=2))
        sources[subgraph_name(_agency(agency_id))] = str(file)
    supergraph = work / "supergraph.graphql"
    done = subprocess.run(
        [str(_bin(directory, "mesh-compose"))],
        cwd=directory,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "FAME_BENCH_OPENAPI": json.dumps(sources),
            "FAME_BENCH_SUPERGRAPH": str(supergraph),
        },
    )
    (work / "compose.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not supergraph.exists():
        raise HiveUnavailable(
            f"mesh-compose failed (exit {done.returncode}); see {work / 'compose.log'}"
        )
    return supergraph


def _agency(agency_id: str) -> Agency:
    return next(a for a in AGENCIES if a.id == agency_id)


def server(supergraph: Path, log: Path, directory: Path = HIVE_DIR) -> Server:
    """``hive-gateway supergraph`` on 127.0.0.1, one process (``--fork 1``), production mode.

    It runs in the supergraph's directory: in ``directory`` it would take the compose
    configuration for a gateway configuration of its own.
    """
    return Server(
        "hive",
        ["supergraph", str(supergraph), "--host", "127.0.0.1", "--fork", "1"],
        log,
        {"NODE_ENV": "production"},
        supergraph.parent,
        program=[str(_bin(directory, "hive-gateway"))],
        health="/healthcheck",
    )


def prepare(work: Path, urls: Mapping[str, str]) -> tuple[Path, dict[str, str]]:
    """Install and compose; the supergraph and the installed packages' versions.

    Raises HiveUnavailable saying why Hive cannot run here.
    """
    install()
    return compose(work, urls), versions()
