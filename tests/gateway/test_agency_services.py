"""Need-to-know in agency files: ``relationships`` and ``[services.<id>]``.

Every problem is refused with the file, the key and what to write instead; a
service's narrower consent category must be one the sharing protocol declares.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.config.agencies import load_agencies
from gateway.config.catalogue import catalogue_of_settings
from gateway.config.settings import load_settings
from gateway.core.errors import ConfigErrors
from gateway.core.services import AGENCY, TEAM, Service
from tests.gateway.test_agencies import SQL_AGENCY, edited, only_problem, write
from tests.support import REPO

SERVICES = """\
relationships = "team"

[services.older-people]
name = "Older people's social work"
teams = ["Older People's Team (North)", "Older People's Team (South)"]
open_to = ["hospital"]

[services.hospital]
name = "Hospital social work"
teams = ["Hospital Discharge Team"]

[services.mental-health]
name = "Mental health social work"
teams = ["Mental Health Social Work Team"]
category = "health.mental"

"""


def with_services(text: str = SERVICES) -> str:
    """The test council's agency file with ``text`` inserted before its tables."""
    return edited(SQL_AGENCY, "[source]\n", text + "[source]\n")


# --------------------------------------------------------------------------- valid files


def test_services_are_read_as_written(tmp_path: Path) -> None:
    write(tmp_path, with_services())
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)
    services = agency.services

    assert services.scope == TEAM
    assert [s.id for s in services.services] == ["older-people", "hospital", "mental-health"]
    older, hospital, mental = services.services
    assert older == Service(
        "older-people",
        "Older people's social work",
        frozenset({"Older People's Team (North)", "Older People's Team (South)"}),
        open_to=frozenset({"hospital"}),
    )
    assert hospital.open_to == frozenset() and hospital.category is None
    assert mental.category == "health.mental"
    # Teams of one service relate to each other's people; open_to lets the hospital team
    # see older people's; nothing lets older people's teams see the hospital team's.
    assert services.relates("Older People's Team (North)", "Older People's Team (South)")
    assert services.relates("Hospital Discharge Team", "Older People's Team (North)")
    assert not services.relates("Older People's Team (North)", "Hospital Discharge Team")
    assert not services.relates("Mental Health Social Work Team", "Hospital Discharge Team")


def test_an_agency_file_without_services_relates_per_team(tmp_path: Path) -> None:
    write(tmp_path, SQL_AGENCY)
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)

    assert agency.services.scope == TEAM and agency.services.services == ()
    # Each team is a service of its own.
    assert agency.services.relates("Team A", "Team A")
    assert not agency.services.relates("Team A", "Team B")


def test_relationships_may_be_held_by_the_whole_agency(tmp_path: Path) -> None:
    write(tmp_path, with_services('relationships = "agency"\n\n'))
    (agency,) = load_agencies(tmp_path / "agencies", tmp_path)

    assert agency.services.scope == AGENCY
    assert agency.services.relates("Team A", "Team B")


def test_the_shipped_agencies_relate_per_team() -> None:
    agencies = load_agencies(
        REPO / "config" / "agencies",
        REPO / "config",
        catalogue=catalogue_of_settings(REPO / "config" / "gateway.toml"),
    )
    assert {agency.services.scope for agency in agencies} == {TEAM}
    trust = next(a for a in agencies if a.id == "shire-community-health")
    mental = trust.services.service_of("Adult Community Mental Health Team")
    assert mental is not None and mental.category == "health.mental"
    # A district nurse has no relationship through the mental health team's records.
    assert not trust.services.relates(
        "District Nursing (Shirebridge)", "Adult Community Mental Health Team"
    )


# --------------------------------------------------------------------------- every problem named


def test_teams_matter_is_no_longer_a_key(tmp_path: Path) -> None:
    file = write(tmp_path, "teams_matter = true\n" + SQL_AGENCY)
    error = only_problem(tmp_path, file, "teams_matter")
    assert "no longer a key" in error.problem
    assert "[services.<id>]" in error.fix and 'relationships = "agency"' in error.fix


@pytest.mark.parametrize("scope", ['"service"', '"Team"', "true"])
def test_relationships_must_be_team_or_agency(tmp_path: Path, scope: str) -> None:
    file = write(tmp_path, with_services(f"relationships = {scope}\n\n"))
    error = only_problem(tmp_path, file, "relationships")
    assert '"team"' in error.fix and '"agency"' in error.fix


def test_a_team_in_two_services_is_named(tmp_path: Path) -> None:
    text = edited(
        SERVICES,
        'teams = ["Hospital Discharge Team"]',
        'teams = ["Hospital Discharge Team", "Older People\'s Team (South)"]',
    )
    file = write(tmp_path, with_services(text))
    error = only_problem(tmp_path, file, "services.hospital.teams")
    assert "Older People's Team (South)" in error.problem and "older-people" in error.problem
    assert "one service" in error.fix


def test_open_to_naming_an_unknown_service_is_named(tmp_path: Path) -> None:
    text = edited(SERVICES, 'open_to = ["hospital"]', 'open_to = ["hospital", "housing"]')
    file = write(tmp_path, with_services(text))
    error = only_problem(tmp_path, file, "services.older-people.open_to")
    assert "'housing'" in error.problem
    assert "hospital" in error.fix and "mental-health" in error.fix


def test_open_to_that_is_not_a_list_is_named(tmp_path: Path) -> None:
    text = edited(SERVICES, 'open_to = ["hospital"]', 'open_to = "hospital"')
    file = write(tmp_path, with_services(text))
    only_problem(tmp_path, file, "services.older-people.open_to")


@pytest.mark.parametrize("teams", ["[]", '"Hospital Discharge Team"', '[""]'])
def test_a_service_without_teams_is_named(tmp_path: Path, teams: str) -> None:
    text = edited(SERVICES, 'teams = ["Hospital Discharge Team"]', f"teams = {teams}")
    file = write(tmp_path, with_services(text))
    only_problem(tmp_path, file, "services.hospital.teams")


def test_an_unknown_service_key_is_named(tmp_path: Path) -> None:
    text = edited(SERVICES, 'category = "health.mental"', 'categories = ["health.mental"]')
    file = write(tmp_path, with_services(text))
    error = only_problem(tmp_path, file, "services.mental-health.categories")
    assert "category" in error.fix


def test_a_service_category_that_is_not_text_is_named(tmp_path: Path) -> None:
    text = edited(SERVICES, 'category = "health.mental"', "category = 3")
    file = write(tmp_path, with_services(text))
    only_problem(tmp_path, file, "services.mental-health.category")


def test_a_service_category_the_protocol_does_not_declare_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    housing = config / "agencies" / "shire-housing.toml"
    housing.write_text(
        edited(
            housing.read_text(),
            "[source]\n",
            '[services.rent]\nname = "Rent recovery"\nteams = ["Rent Recovery Team"]\n'
            'category = "housing.rent"\n\n[source]\n',
        )
    )
    with pytest.raises(ConfigErrors) as caught:
        load_settings(config / "gateway.toml")
    errors = caught.value.errors
    assert [(e.file, e.key) for e in errors] == [
        (str(housing.resolve()), "services.rent.category")
    ], [str(e) for e in errors]
    assert "'housing.rent'" in errors[0].problem
    assert "housing" in errors[0].fix and "health.mental" in errors[0].fix
