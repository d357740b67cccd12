"""``fame-gateway agency new --kind KIND NAME``: a commented starting file, never an overwrite."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.config.agencies import load_agencies
from gateway.config.agency_new import template_kinds
from tests.support import REPO

TEMPLATES = REPO / "gateway" / "config" / "agency_templates"


def cli(*args: str) -> tuple[int, str]:
    """Run ``fame-gateway args``; its exit code and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse refusing an argument
            code = int(exc.code or 0)
    return code, out.getvalue()


def test_the_kinds_are_the_templates_present() -> None:
    assert set(template_kinds()) == {file.stem for file in TEMPLATES.glob("*.toml")}
    assert {"sql", "http"} <= set(template_kinds())


@pytest.mark.parametrize("kind", ["sql", "http"])
def test_the_starting_file_loads_and_says_what_to_do_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.delenv("FAME_SHIRE_LIBRARIES_DSN", raising=False)
    directory = tmp_path / "agencies"
    directory.mkdir()

    code, output = cli("agency", "new", "--kind", kind, "shire-libraries", "--dir", str(directory))

    assert code == 0, output
    file = directory / "shire-libraries.toml"
    assert f"wrote {file}" in output and "agency check" in output
    written = file.read_text()
    for step in ("agency check", "[[clause]]", "index import", "reload", "fame-gateway items"):
        assert step in written, step
    assert "__" not in written, "every placeholder filled in"
    # It loads as it stands (its variable unset: read only when the connector opens).
    (agency,) = load_agencies(directory, tmp_path)
    assert agency.id == "shire-libraries" and agency.kind == kind
    assert agency.name == "Shire Libraries"


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    existing = tmp_path / "shire-housing.toml"
    existing.write_text("# the agency's own work\n")

    code, output = cli("agency", "new", "--kind", "sql", "shire-housing", "--dir", str(tmp_path))

    assert code == 2
    assert f"{existing} already exists" in output
    assert "agency check" in output
    assert existing.read_text() == "# the agency's own work\n"


@pytest.mark.parametrize("name", ["Shire_Housing", "1st-agency", "shire housing", ""])
def test_a_name_that_cannot_be_an_agency_id_is_refused(tmp_path: Path, name: str) -> None:
    code, output = cli("agency", "new", "--kind", "sql", name, "--dir", str(tmp_path))

    assert code == 2
    assert f"{name!r} is not a usable agency id" in output
    assert "lower-case letters, digits and hyphens" in output
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    code, output = cli("agency", "new", "--kind", "ftp", "x-agency", "--dir", str(tmp_path))

    assert code == 2
    assert "invalid choice: 'ftp'" in output
    for kind in template_kinds():
        assert f"'{kind}'" in output


def test_the_default_directory_is_the_settings_agencies_dir(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)

    code, output = cli(
        "--config",
        str(config / "gateway.toml"),
        "agency",
        "new",
        "--kind",
        "http",
        "shire-libraries",
    )

    assert code == 0, output
    assert (config / "agencies" / "shire-libraries.toml").exists()
