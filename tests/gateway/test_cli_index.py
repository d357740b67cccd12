"""``fame-gateway index``: an agency's file imported, links made and removed by hand, the
review queue decided, each change audited; every mistake refused saying what to fix."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from gateway.audit.index_events import IndexRecord, index_records
from gateway.cli import main
from gateway.cli_index import STATUSES
from gateway.config.settings import load_settings
from gateway.config.tokens import generate_demo_keys
from gateway.governance import linkage_reviews
from gateway.governance.index_file import COLUMNS, write_index_file
from gateway.governance.state import create_state_engine
from tests.gateway.linkage_set import linkage_set
from tests.support import build_config


@pytest.fixture
def config(tmp_path: Path, store_dir: Path) -> str:
    file = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=store_dir)
    generate_demo_keys(load_settings(file))
    return str(file)


def _audit(config: str) -> list[IndexRecord]:
    async def read() -> list[IndexRecord]:
        engine = create_state_engine(load_settings(Path(config)).state_database)
        try:
            return await index_records(engine)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _count(out: str, label: str) -> int:
    found = re.search(rf"{label}\s+(\d+)", out)
    assert found is not None, out
    return int(found.group(1))


def test_import_link_unlink_and_review(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert linkage_reviews.STATUSES == STATUSES
    files = linkage_set(people=120, seed=7)
    paths = {}
    for agency in ("riverside-gp", "shire-housing"):
        paths[agency] = tmp_path / f"{agency}.csv"
        write_index_file(paths[agency], [row.record for row in files[agency]])
    command = ["--config", config, "index"]
    # In production, before the schema is made, the command says what to run.
    production = Path(config).with_name("production.toml")
    production.write_text(Path(config).read_text().replace('mode = "demo"', 'mode = "production"'))
    importing = ["import", str(paths["riverside-gp"]), "--agency", "riverside-gp"]
    assert main(["--config", str(production), "index", *importing]) == 2
    assert "fame-gateway db upgrade" in capsys.readouterr().err
    assert main(["--config", config, "db", "upgrade"]) == 0
    capsys.readouterr()

    first = [*command, "import", str(paths["riverside-gp"]), "--agency", "riverside-gp"]
    assert main([*first, "--actor", "Ann Admin"]) == 0
    out = capsys.readouterr().out
    rows = len(files["riverside-gp"])
    assert f"imported {rows} record(s) of riverside-gp" in out
    # The index was empty and the agency holds each person once: nothing links, though
    # twins in the same file wait for review.
    assert _count(out, "linked on a valid NHS number") == 0
    assert _count(out, "new people") + _count(out, "queued for review") == rows
    first_queued = _count(out, "queued for review")
    invalid = [r.record for r in files["riverside-gp"] if r.record.nhs_problem is not None]
    assert invalid, "the synthetic file has mistyped NHS numbers"
    for record in invalid:
        assert f"line {record.line}: {record.nhs_number!r} {record.nhs_problem}" in out
    assert "fails the modulus 11 check" in out

    second = [*command, "import", str(paths["shire-housing"]), "--agency", "shire-housing"]
    assert main([*second, "--actor", "Ann Admin"]) == 0
    out = capsys.readouterr().out
    linked = _count(out, "linked on a valid NHS number") + _count(
        out, r"linked on a score >= 28\.0"
    )
    queued = _count(out, "queued for review")
    assert linked > 0
    assert linked + queued + _count(out, "new people") == len(files["shire-housing"])
    # Again: everything is already linked or waiting.
    assert main([*second, "--actor", "Ann Admin"]) == 0
    out = capsys.readouterr().out
    assert _count(out, "already linked") == len(files["shire-housing"]) - queued
    assert _count(out, "new people") == 0

    audit = _audit(config)
    # One record per record imported: its link, or its place in the queue.
    assert len(audit) == rows + len(files["shire-housing"])
    assert {(r.practitioner, r.roles) for r in audit} == {("Ann Admin", ("index_operator",))}
    assert {r.method for r in audit if r.action == "link"} <= {
        "deterministic",
        "probabilistic",
        "new",
    }

    # The review queue, listed and decided.
    assert main([*command, "review", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{first_queued + queued} review(s) pending" in out
    if first_queued + queued:
        review_id = out.split()[0]
        assert main([*command, "review", "reject", review_id, "--actor", "Bea Admin"]) == 0
        assert "is a new person" in capsys.readouterr().out
        assert main([*command, "review", "accept", review_id, "--actor", "Bea Admin"]) == 2
        assert "already decided (rejected by Bea Admin" in capsys.readouterr().err
        assert _audit(config)[-1].action == "review_rejected"

    # By hand: unlink a housing record, then link it again.
    housing = next(r for r in audit if r.agency_id == "shire-housing" and r.action == "link")
    where = [housing.person_id, "shire-housing", housing.local_id]
    with pytest.raises(SystemExit) as usage:
        main([*command, "unlink", *where])
    assert usage.value.code == 2
    assert "the following arguments are required: --reason" in capsys.readouterr().err
    assert main([*command, "unlink", *where, "--reason", "not the same man", "--actor", "C"]) == 0
    assert f"unlinked shire-housing record {housing.local_id}" in capsys.readouterr().out
    assert main([*command, "unlink", *where, "--reason", "again", "--actor", "C"]) == 2
    assert "is not linked to person" in capsys.readouterr().err
    assert main([*command, "link", *where, "--team", "North", "--actor", "C"]) == 0
    assert "linked shire-housing record" in capsys.readouterr().out
    last = _audit(config)[-2:]
    assert [(r.action, r.method, r.practitioner) for r in last] == [
        ("unlink", "manual", "C"),
        ("link", "manual", "C"),
    ]
    assert main(["--config", config, "audit", "verify"]) == 0


def test_mistakes_are_refused_saying_what_to_fix(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", config, "db", "upgrade"]) == 0
    capsys.readouterr()
    command = ["--config", config, "index"]
    good = tmp_path / "good.csv"
    good.write_text(",".join(COLUMNS) + "\nriverside-gp,R1,,Ann,Lee,1950-01-02,SY1 4AB,\n")
    assert main([*command, "import", str(good), "--agency", "nowhere"]) == 2
    error = capsys.readouterr().err
    assert "unknown agency 'nowhere'" in error
    assert "`fame-gateway agency new --kind KIND nowhere`" in error

    bad_header = tmp_path / "header.csv"
    bad_header.write_text("agency,local_id,name\nriverside-gp,R1,Ann\n")
    assert main([*command, "import", str(bad_header), "--agency", "riverside-gp"]) == 2
    error = capsys.readouterr().err
    assert "line 1: the header must name the columns " + ",".join(COLUMNS) in error
    assert "missing: agency_id, nhs_number" in error and "not known: agency, name" in error

    bad_rows = tmp_path / "rows.csv"
    bad_rows.write_text(
        ",".join(COLUMNS)
        + "\nriverside-gp,R1,,Ann,Lee,31/02/1950,,"
        + "\nriverside-gp,,,Bob,Lee,1950-01-02,,"
        + "\noakfield-gp,O1,,Cat,Lee,1950-01-02,,"
        + "\nriverside-gp,R2,,Dan,Lee,02/01/1950,,"
        + "\nriverside-gp,R2,,Dan,Lee,1950-01-02,,\n"
    )
    assert main([*command, "import", str(bad_rows), "--agency", "riverside-gp"]) == 2
    error = capsys.readouterr().err
    assert "nothing imported; 4 problem(s)" in error
    assert "line 2: date_of_birth '31/02/1950' is not a date" in error
    assert "line 3: local_id is empty" in error
    assert "line 4: agency_id is 'oakfield-gp', but this import is for riverside-gp" in error
    assert "line 6: local_id R2 (team none) is on line 5 too" in error
    assert _audit(config) == []

    assert main([*command, "link", "nobody", "riverside-gp", "R1"]) == 2
    assert "no person nobody in the index" in capsys.readouterr().err
    assert main([*command, "review", "accept"]) == 2
    assert "say which review to accept" in capsys.readouterr().err
    assert main([*command, "review", "accept", "no-such-review"]) == 2
    assert "no review no-such-review" in capsys.readouterr().err
