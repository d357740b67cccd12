"""Edits of a running gateway's configuration files, for the reload tests: each checks
that the text it changes is there, so a change to the demo configuration shows here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

#: ISP-7.1 (tenancies) as the demo protocol has it, and without social workers.
TENANCY_ROLES = (
    'items = ["tenancies.address", "tenancies.tenure", "tenancies.landlord", '
    '"tenancies.started_on"]\ncategory = "housing"\n'
    'roles = ["social_worker", "occupational_therapist", "housing_officer"]'
)
TENANCY_ROLES_WITHOUT_SOCIAL_WORKERS = TENANCY_ROLES.replace('"social_worker", ', "")
DEMO_VERSION = 'version = "2026.1"'


def edit(file: Path, before: str, after: str) -> None:
    """Replace the one occurrence of ``before`` in ``file``."""
    text = file.read_text()
    assert text.count(before) == 1, f"{before!r} is not in {file} exactly once"
    file.write_text(text.replace(before, after))


def protocol_version(config: Path, version: str) -> None:
    """Give the protocol in ``config`` (a config directory) another version."""
    file = config / "sharing-protocol.toml"
    text = file.read_text()
    file.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', text, count=1))


def without_agency(config: Path, agency: str, categories: tuple[str, ...] = ()) -> None:
    """Deregister ``agency``: its file, its issuer, its place in the protocol, and the
    protocol's ``categories`` only it carried."""
    (config / "agencies" / f"{agency}.toml").unlink()
    protocol = config / "sharing-protocol.toml"
    head, *clauses = protocol.read_text().split("[[clause]]")
    for category in categories:
        head, found = re.subn(rf'(?m)^"?{re.escape(category)}"? = .*\n', "", head)
        assert found == 1, f"no category {category} in {protocol}"
    kept = [
        re.sub(rf'\s*"{agency}",?', "", clause)
        for clause in clauses
        if tomllib.loads(clause)["agencies"] != [agency]
    ]
    protocol.write_text("[[clause]]".join([head, *kept]))
    settings = config / "gateway.toml"
    text, removed = re.subn(
        rf'\[\[issuers\]\]\nagency = "{agency}"\n(?:.+\n)*', "", settings.read_text()
    )
    assert removed == 1, f"no issuer of {agency} in {settings}"
    settings.write_text(text)
