"""``agency check`` reads the agency file and the sharing protocol against the catalogue
the settings configure (``[catalogue] files``), not the standard one alone: a deployment
whose protocol names its own record sets can check a new agency mapping them."""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
from pathlib import Path

from gateway.cli import main
from tests.support import REPO

AGENCY = "clunbury-childrens-services"
PLANS = """
create table plans (child_ref varchar(12), plan_category varchar(30), start_date varchar(10));
insert into plans values ('C1', 'neglect', '2026-02-14');
"""
MAPPING = """[tables.plans]
key = "child_ref"

[items]
"child_protection_plans.category" = "plans.plan_category"
"child_protection_plans.started_on" = "plans.start_date"
"""


def cli(settings: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(["--config", str(settings), *args])
    return code, out.getvalue()


def test_an_item_of_the_deployments_own_catalogue_is_checked_and_a_clause_proposed(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    settings = config / "gateway.toml"
    assert 'files = ["catalogue/*.toml"]' in settings.read_text(), "the demo has its own"
    database = tmp_path / "plans.sqlite"
    with sqlite3.connect(database) as conn:
        conn.executescript(PLANS)
    assert cli(settings, "agency", "new", "--kind", "sql", AGENCY)[0] == 0
    file = config / "agencies" / f"{AGENCY}.toml"
    text = file.read_text().split("[tables.people]", 1)[0] + MAPPING
    text = text.replace(
        'url_env = "FAME_CLUNBURY_CHILDRENS_SERVICES_DSN"',
        f'url = "sqlite+aiosqlite:///{database}"',
    )
    file.write_text(text)

    code, output = cli(settings, "agency", "check", str(file))

    assert code == 1, output
    assert "the protocol cannot be read" not in output, output
    assert "ok    child_protection_plans.started_on -> plans.start_date" in output
    assert "the sharing protocol does not list 2 of the 2 mapped items" in output
    assert "# as clause ISP-3.5 (Child protection plans and safeguarding warnings)" in output
    assert 'items = ["child_protection_plans.category", "child_protection_plans.started_on"]' in (
        output
    )
