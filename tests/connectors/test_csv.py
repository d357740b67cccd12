"""The csv connector on real files: its agency file, parsing, projection, re-reading on
change, keeping the last good copy, its check, and a school's exports served end to end
through ``/graphql`` with a real token."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import AgencyUnavailable, DateRange, FetchGroup, FetchRequest
from connectors.csv import CsvConnector
from connectors.csv_table import CsvFile, FileMalformed, Layout, read_snapshot
from connectors.csv_values import BadValue, parse_cell
from connectors.registry import create_connector
from fame_demo.synthetic import UNSHARED_MARKER, Population
from gateway.config.agencies import load_agencies
from gateway.core.catalogue import ValueKind
from gateway.core.errors import ConfigErrors
from gateway.core.registration import AgencyConfig
from tests.connectors.agency_world import (
    link_people,
    protocol_with_clauses,
    record_fetches,
    withheld,
)
from tests.support import REPO, World

AGENCY = "shire-schools"
TEMPLATE = REPO / "gateway" / "config" / "agency_templates" / "csv.toml"
AGENCY_FILE = """
name = "Shire Schools"
kind = "csv"

[files.enrolments]
path = "exports/enrolments.csv"
key = "upn"
order_by = "start_date"

[files.send]
path = "exports/send-register.csv"
key = "pupil_upn"
delimiter = ";"

[items]
"enrolments.school" = "enrolments.school"
"enrolments.year_group" = "enrolments.year_group"
"enrolments.started_on" = "enrolments.start_date"
"enrolments.attendance_percent" = "enrolments.attendance"
"special_needs.ehcp" = "send.ehcp"
"special_needs.primary_need" = "send.primary_need"
"special_needs.review_due" = "send.review_date"
"""
# Synthetic pupils. The notes column is mapped by no item: it must never leave the file.
ENROLMENTS = f"""upn,school,year_group,start_date,attendance,notes
UPN-A,Brook Lane Primary,Year 6,01/09/2019,96.5,{UNSHARED_MARKER}
UPN-A,Hillside Academy,Year 7,2025-09-03,91.0,{UNSHARED_MARKER}
UPN-B,Brook Lane Primary,Year 4,02/09/2021,,{UNSHARED_MARKER}
"""
SEND = """pupil_upn;ehcp;primary_need;review_date
UPN-A;yes;Speech, language and communication;15/03/2026
UPN-B;no;;
"""


def write_agency(root: Path, enrolments: str = ENROLMENTS, send: str = SEND) -> Path:
    """The agency file and its exports under ``root/agencies``; returns the directory."""
    directory = root / "agencies"
    (directory / "exports").mkdir(parents=True, exist_ok=True)
    (directory / f"{AGENCY}.toml").write_text(AGENCY_FILE)
    replace_file(directory / "exports" / "enrolments.csv", enrolments)
    replace_file(directory / "exports" / "send-register.csv", send)
    return directory


def replace_file(path: Path, text: str) -> None:
    """Write a new export as agencies should: beside it, then renamed into place."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text)
    os.replace(fresh, path)


def agency_at(directory: Path) -> AgencyConfig:
    (agency,) = load_agencies(directory)
    return agency


@pytest.fixture
async def connector(tmp_path: Path) -> AsyncIterator[CsvConnector]:
    made = create_connector(agency_at(write_agency(tmp_path)))
    assert isinstance(made, CsvConnector)
    await made.open()
    yield made
    await made.close()


ALL = frozenset(
    {
        "enrolments.school",
        "enrolments.year_group",
        "enrolments.started_on",
        "enrolments.attendance_percent",
        "special_needs.ehcp",
        "special_needs.primary_need",
        "special_needs.review_due",
    }
)


# -- the agency file ------------------------------------------------------------------


def test_paths_are_relative_to_the_agency_file(tmp_path: Path) -> None:
    agency = agency_at(write_agency(tmp_path))
    assert agency.kind == "csv"
    files = agency.source.files
    assert files["enrolments"].path == tmp_path / "agencies" / "exports" / "enrolments.csv"
    assert files["send"].delimiter == ";"
    assert agency.items == ALL


def test_every_mapping_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "agencies"
    directory.mkdir()
    (directory / f"{AGENCY}.toml").write_text(
        """
name = "Shire Schools"
kind = "csv"
[tables.pupils]
key = "upn"
[files.enrolments]
path = "exports/enrolments.csv"
key = "upn"
delimiter = ",,"
encoding = "klingon-8"
sheet = 2
[files.unused]
path = "exports/unused.csv"
key = "upn"
[files.nokey]
path = "exports/nokey.csv"
[items]
"enrolments.school" = "enrolments.school"
"enrolments.year_group" = "pupils.year_group"
"enrolments.started_on" = "no dot here"
"special_needs.ehcp" = "send.ehcp"
"""
    )
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory)
    found = {(error.key, error.problem) for error in caught.value.errors}
    keys = {key for key, _ in found}
    assert {
        "tables",
        "files.enrolments.delimiter",
        "files.enrolments.encoding",
        "files.enrolments.sheet",
        "files.nokey.key",
        'items."enrolments.year_group"',
        'items."enrolments.started_on"',
        'items."special_needs.ehcp"',
    } <= keys
    messages = {key: problem for key, problem in found}
    assert "klingon-8" in messages["files.enrolments.encoding"]
    assert "no [files.pupils] section" in messages['items."enrolments.year_group"']
    assert all(error.fix for error in caught.value.errors)


def test_one_record_set_maps_to_one_file(tmp_path: Path) -> None:
    directory = write_agency(tmp_path)
    text = (directory / f"{AGENCY}.toml").read_text()
    (directory / f"{AGENCY}.toml").write_text(
        text.replace(
            '"enrolments.year_group" = "enrolments.year_group"',
            '"enrolments.year_group" = "send.year_group"',
        )
    )
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory)
    (error,) = caught.value.errors
    assert error.key == 'items."enrolments.year_group"'
    assert "record set 'enrolments'" in error.problem and "'enrolments'" in error.problem


def test_a_file_no_item_maps_is_reported(tmp_path: Path) -> None:
    directory = write_agency(tmp_path)
    text = (directory / f"{AGENCY}.toml").read_text()
    (directory / f"{AGENCY}.toml").write_text(
        text + '\n[files.extra]\npath = "exports/extra.csv"\nkey = "upn"\n'
    )
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory)
    (error,) = caught.value.errors
    assert (error.key, error.problem) == ("files.extra", "is mapped by no item")


async def test_the_template_loads_and_checks_against_exports_of_its_shape(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "agencies"
    (directory / "exports").mkdir(parents=True)
    (directory / f"{AGENCY}.toml").write_text(TEMPLATE.read_text())
    (directory / "exports" / "enrolments.csv").write_text(ENROLMENTS)
    (directory / "exports" / "send-register.csv").write_text(
        "upn,ehcp,primary_need,review_date\nUPN-A,y,Autism,2026-01-31\n"
    )
    agency = agency_at(directory)
    assert agency.items == ALL
    check = await create_connector(agency).check()
    assert (check.ok, check.problems) == (True, ())


# -- values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cell", "value"),
    [
        (ValueKind.DATE, "2024-09-03", dt.date(2024, 9, 3)),
        (ValueKind.DATE, "03/09/2024", dt.date(2024, 9, 3)),
        (ValueKind.DATE, "3.9.2024", dt.date(2024, 9, 3)),
        (ValueKind.DATE, "2024-09-03T08:45:00Z", dt.date(2024, 9, 3)),
        (ValueKind.DATE, "  ", None),
        (ValueKind.BOOLEAN, "Yes", True),
        (ValueKind.BOOLEAN, "0", False),
        (ValueKind.INT, "-4", -4),
        (ValueKind.FLOAT, "92.5", 92.5),
        (ValueKind.STRING, " Year 7 ", "Year 7"),
    ],
)
def test_cells_are_read_as_their_items_kind(kind: ValueKind, cell: str, value: object) -> None:
    assert parse_cell(kind, cell) == value


@pytest.mark.parametrize(
    ("kind", "cell"),
    [
        (ValueKind.DATE, "09/13/2024"),  # month first: never guessed
        (ValueKind.DATE, "03/09/24"),  # two-digit year: which century?
        (ValueKind.DATE, "31/02/2024"),  # no such day
        (ValueKind.DATE, "next week"),
        (ValueKind.INT, "4.5"),
        (ValueKind.FLOAT, "nan"),
        (ValueKind.FLOAT, "92%"),
        (ValueKind.BOOLEAN, "maybe"),
    ],
)
def test_bad_cells_are_refused_not_passed_on(kind: ValueKind, cell: str) -> None:
    with pytest.raises(BadValue):
        parse_cell(kind, cell)


@given(st.dates(min_value=dt.date(1000, 1, 1)))
def test_iso_and_uk_dates_read_as_the_same_day(day: dt.date) -> None:
    uk = f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    assert parse_cell(ValueKind.DATE, day.isoformat()) == day
    assert parse_cell(ValueKind.DATE, uk) == day


# -- reading a file -----------------------------------------------------------------------


def test_only_mapped_columns_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "enrolments.csv"
    path.write_text(ENROLMENTS)
    spec = CsvFile("enrolments", path, key="upn")
    copy = read_snapshot(spec, Layout(slots=(("school", ValueKind.STRING),), unique_keys=False))
    assert copy.rows == {
        "UPN-A": (("Brook Lane Primary",), ("Hillside Academy",)),
        "UPN-B": (("Brook Lane Primary",),),
    }
    assert copy.row_count == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("upn,school\nA,x,y\n", "line 2: has 3 fields, the header has 2"),
        ("upn,school\n,x\n", "line 2, column 'upn': is empty"),
        ("upn,school\nA,x\nA,y\n", "line 3, column 'upn': repeats the key of an earlier row"),
        ("pupil,school\nA,x\n", "line 1, column 'upn': is not in the header"),
        ("", "is empty: it has no header line"),
    ],
)
def test_a_malformed_file_says_where(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "send.csv"
    path.write_text(text)
    layout = Layout(slots=(("school", ValueKind.STRING),), unique_keys=True)
    with pytest.raises(FileMalformed) as caught:
        read_snapshot(CsvFile("send", path, key="upn"), layout)
    assert expected in str(caught.value)


def test_encodings_and_byte_order_marks(tmp_path: Path) -> None:
    layout = Layout(slots=(("school", ValueKind.STRING),), unique_keys=False)
    excel = tmp_path / "excel.csv"
    excel.write_bytes("upn,school\r\nA,École Sainte-Anne\r\n".encode("utf-8-sig"))
    read = read_snapshot(CsvFile("excel", excel, key="upn"), layout)
    assert read.rows == {"A": (("École Sainte-Anne",),)}
    windows = tmp_path / "windows.csv"
    windows.write_bytes("upn,school\nA,École\n".encode("cp1252"))
    with pytest.raises(FileMalformed, match="is not valid utf-8"):
        read_snapshot(CsvFile("windows", windows, key="upn"), layout)
    read = read_snapshot(CsvFile("windows", windows, key="upn", encoding="cp1252"), layout)
    assert read.rows == {"A": (("École",),)}


# -- fetch --------------------------------------------------------------------------------


async def test_each_group_gets_only_its_items(connector: CsvConnector) -> None:
    request = FetchRequest(
        groups=(
            FetchGroup(("UPN-A",), frozenset({"enrolments.school", "special_needs.ehcp"})),
            FetchGroup(("UPN-B", "UPN-UNKNOWN"), frozenset({"enrolments.year_group"})),
        )
    )
    assert await connector.fetch(request) == {
        "UPN-A": {
            # Ordered by start_date, which reads 01/09/2019 as a date, before 2025-09-03.
            "enrolments": [{"school": "Brook Lane Primary"}, {"school": "Hillside Academy"}],
            "special_needs": [{"ehcp": True}],
        },
        "UPN-B": {"enrolments": [{"year_group": "Year 4"}]},
    }


async def test_values_come_back_as_their_kinds(connector: CsvConnector) -> None:
    result = await connector.fetch(FetchRequest.single(("UPN-A", "UPN-B"), ALL))
    assert result["UPN-A"]["special_needs"] == [
        {
            "ehcp": True,
            "primary_need": "Speech, language and communication",
            "review_due": dt.date(2026, 3, 15),
        }
    ]
    assert result["UPN-B"]["enrolments"] == [
        {
            "school": "Brook Lane Primary",
            "year_group": "Year 4",
            "started_on": dt.date(2021, 9, 2),
            "attendance_percent": None,
        }
    ]
    assert UNSHARED_MARKER not in repr(result)


async def test_items_not_asked_for_read_nothing(connector: CsvConnector) -> None:
    assert await connector.fetch(FetchRequest.single(("UPN-A",), frozenset())) == {}
    # An item the agency does not map is not asked of it.
    unmapped = frozenset({"alerts.severity"})
    assert await connector.fetch(FetchRequest.single(("UPN-A",), unmapped)) == {}


async def test_date_ranges_apply_to_the_record_sets_date(tmp_path: Path) -> None:
    directory = tmp_path / "agencies"
    (directory / "exports").mkdir(parents=True)
    (directory / "visits.toml").write_text(
        'name = "Visits"\nkind = "csv"\n[files.visits]\npath = "exports/visits.csv"\n'
        'key = "ref"\norder_by = "seen"\n[items]\n"timeline.occurred_on" = "visits.seen"\n'
        '"timeline.kind" = "visits.what"\n'
    )
    (directory / "exports" / "visits.csv").write_text(
        "ref,seen,what\nR1,05/01/2026,visit\nR1,20/02/2026,review\nR1,2026-03-30,visit\n"
    )
    made = create_connector(agency_at(directory))
    ranges = {"timeline": DateRange(dt.date(2026, 2, 1), dt.date(2026, 3, 1))}
    request = FetchRequest.single(("R1",), frozenset({"timeline.kind"}), ranges)
    assert await made.fetch(request) == {"R1": {"timeline": [{"kind": "review"}]}}


# -- changes, and files gone bad ------------------------------------------------------------


async def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    directory = write_agency(tmp_path)
    made = create_connector(agency_at(directory))
    school = FetchRequest.single(("UPN-B",), frozenset({"enrolments.school"}))
    assert await made.fetch(school) == {"UPN-B": {"enrolments": [{"school": "Brook Lane Primary"}]}}
    replace_file(
        directory / "exports" / "enrolments.csv",
        ENROLMENTS.replace("UPN-B,Brook Lane Primary", "UPN-B,Meadow Junior"),
    )
    assert await made.fetch(school) == {"UPN-B": {"enrolments": [{"school": "Meadow Junior"}]}}


async def test_a_malformed_version_keeps_the_last_good_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = write_agency(tmp_path)
    made = create_connector(agency_at(directory))
    assert isinstance(made, CsvConnector)
    school = FetchRequest.single(("UPN-B",), frozenset({"enrolments.school"}))
    before = await made.fetch(school)
    assert made.degraded is None
    # A US-dated export: every date is refused, none served as the wrong day.
    replace_file(
        directory / "exports" / "enrolments.csv",
        ENROLMENTS.replace("02/09/2021", "09/22/2021").replace("Brook", "Changed"),
    )
    assert await made.fetch(school) == before
    assert made.degraded is not None
    assert "files.enrolments: enrolments.csv has 1 problem(s)" in made.degraded
    assert "line 4, column 'start_date': a value shaped '99/99/9999' is not a date" in made.degraded
    assert "serving the copy read at" in made.degraded
    # Logged once, by its shape: the value itself (about a person) goes nowhere.
    assert caplog.text.count("file enrolments cannot be used") == 1
    assert "09/22/2021" not in caplog.text + made.degraded
    await made.fetch(school)
    assert caplog.text.count("file enrolments cannot be used") == 1
    # Fixed: served again, no longer degraded.
    replace_file(directory / "exports" / "enrolments.csv", ENROLMENTS.replace("Brook", "Fixed"))
    assert await made.fetch(school) == {"UPN-B": {"enrolments": [{"school": "Fixed Lane Primary"}]}}
    assert made.degraded is None


async def test_a_vanished_file_keeps_the_last_good_copy(tmp_path: Path) -> None:
    directory = write_agency(tmp_path)
    made = create_connector(agency_at(directory))
    assert isinstance(made, CsvConnector)
    need = FetchRequest.single(("UPN-A",), frozenset({"special_needs.ehcp"}))
    before = await made.fetch(need)
    (directory / "exports" / "send-register.csv").unlink()
    assert await made.fetch(need) == before
    assert made.degraded is not None
    assert "send-register.csv cannot be read (No such file or directory)" in made.degraded


async def test_with_no_good_copy_ever_the_fetch_fails_as_unavailable(tmp_path: Path) -> None:
    directory = write_agency(
        tmp_path, send="pupil_upn;ehcp;primary_need;review_date\nUPN-A;perhaps;;\n"
    )
    made = create_connector(agency_at(directory))
    assert isinstance(made, CsvConnector)
    with pytest.raises(AgencyUnavailable) as caught:
        await made.fetch(FetchRequest.single(("UPN-A",), frozenset({"special_needs.ehcp"})))
    message = str(caught.value)
    assert "export 'send' has not been read yet" in message
    assert "line 2, column 'ehcp': a value shaped 'AAAAAAA' is not true/false" in message
    assert "fame-gateway check shire-schools" in message
    # The other file is fine and still serves.
    school = FetchRequest.single(("UPN-B",), frozenset({"enrolments.school"}))
    assert await made.fetch(school) == {"UPN-B": {"enrolments": [{"school": "Brook Lane Primary"}]}}
    assert made.degraded is None  # nothing served from an older copy


# -- check ----------------------------------------------------------------------------------


async def test_check_passes_on_good_exports(connector: CsvConnector) -> None:
    check = await connector.check()
    assert (check.ok, check.reachable, check.problems) == (True, True, ())
    assert check.detail == "7 items in 2 files"


async def test_check_names_each_missing_column(tmp_path: Path) -> None:
    enrolments = ENROLMENTS.replace("upn,school,year_group,start_date", "pupil,school,yr,start")
    made = create_connector(agency_at(write_agency(tmp_path, enrolments=enrolments)))
    check = await made.check()
    assert not check.ok and check.reachable
    found = {error.key: error for error in check.problems}
    assert set(found) == {
        "files.enrolments.key",
        "files.enrolments.order_by",
        'items."enrolments.year_group"',
        'items."enrolments.started_on"',
    }
    assert found["files.enrolments.key"].problem == (
        "names column 'upn', which enrolments.csv does not have"
    )
    assert (
        "'pupil', 'school', 'yr', 'start', 'attendance', 'notes'"
        in found["files.enrolments.key"].fix
    )


async def test_check_reports_values_that_do_not_parse(tmp_path: Path) -> None:
    send = "pupil_upn;ehcp;primary_need;review_date\nUPN-A;Y;Autism;March 2026\n"
    made = create_connector(agency_at(write_agency(tmp_path, send=send)))
    check = await made.check()
    (problem,) = check.problems
    assert problem.key == 'items."special_needs.review_due"'
    assert problem.problem == (
        "send-register.csv line 2, column 'review_date': a value shaped 'AAAAA 9999' is not a "
        "date as "
        "2024-09-03 or 03/09/2024 (day first, four-digit year)"
    )


async def test_check_of_a_missing_file_is_unreachable_not_misconfigured(tmp_path: Path) -> None:
    directory = write_agency(tmp_path)
    (directory / "exports" / "enrolments.csv").unlink()
    check = await create_connector(agency_at(directory)).check()
    assert (check.ok, check.reachable, check.problems) == (False, False, ())
    assert "enrolments.csv cannot be read (No such file or directory)" in check.detail


# -- end to end ------------------------------------------------------------------------------

QUERY = """{ person(id: "%s") {
    education {
        enrolments { agency { id } school yearGroup startedOn attendancePercent }
        specialNeeds { ehcp primaryNeed reviewDue } } } }"""
SHARED = (
    "enrolments.school",
    "enrolments.year_group",
    "enrolments.started_on",
    "special_needs.ehcp",
)


@pytest.fixture
async def schools_world(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, Path]]:
    directory = write_agency(tmp_path / "school-exports")
    text = AGENCY_FILE.replace('path = "exports/', f'path = "{(directory / "exports").as_posix()}/')
    world = World(tmp_path / "world", population, store_dir)
    try:
        await world.start(
            agencies={AGENCY: text},
            protocol=protocol_with_clauses(AGENCY, SHARED, ALL - set(SHARED)),
        )
        yield world, directory
    finally:
        await world.stop()


async def test_a_school_serves_its_exports_through_graphql(
    schools_world: tuple[World, Path],
) -> None:
    world, _ = schools_world
    ids = await link_people(world, AGENCY, "Inclusion Team", {0: "UPN-A", 1: "UPN-B"})
    fetches = record_fetches(world, AGENCY)
    result = await world.query(QUERY % ids[0], as_="sw-patel")
    assert "errors" not in result, result
    education = result["data"]["person"]["education"]
    assert education["enrolments"] == [
        {
            "agency": {"id": AGENCY},
            "school": "Brook Lane Primary",
            "yearGroup": "Year 6",
            "startedOn": "2019-09-01",
            "attendancePercent": None,
        },
        {
            "agency": {"id": AGENCY},
            "school": "Hillside Academy",
            "yearGroup": "Year 7",
            "startedOn": "2025-09-03",
            "attendancePercent": None,
        },
    ]
    assert education["specialNeeds"] == [{"ehcp": True, "primaryNeed": None, "reviewDue": None}]
    assert withheld(result, AGENCY) == {
        "enrolments.attendance_percent": "ROLE_NOT_PERMITTED",
        "special_needs.primary_need": "ROLE_NOT_PERMITTED",
        "special_needs.review_due": "ROLE_NOT_PERMITTED",
    }
    assert result["extensions"]["sources"][AGENCY]["status"] == "ok"
    # At the connector: asked for the shared items only, and handed back nothing else.
    assert fetches.items_asked() == set(SHARED)
    assert fetches.fields_returned() == set(SHARED)
    assert UNSHARED_MARKER not in repr(fetches.calls)


async def test_a_bad_new_export_is_served_stale_and_shown_degraded(
    schools_world: tuple[World, Path],
) -> None:
    world, directory = schools_world
    ids = await link_people(world, AGENCY, "Inclusion Team", {0: "UPN-B"})
    first = await world.query(QUERY % ids[0])
    assert first["data"]["person"]["education"]["enrolments"][0]["school"] == "Brook Lane Primary"
    replace_file(directory / "exports" / "enrolments.csv", "upn;school\nUPN-B;Elsewhere\n")
    again = await world.query(QUERY % ids[0])
    assert "errors" not in again
    assert again["data"] == first["data"]
    status = await world.query("{ agencies { id status detail } }")
    (school,) = [a for a in status["data"]["agencies"] if a["id"] == AGENCY]
    assert school["status"] == "degraded"
    assert school["detail"].startswith("files.enrolments: enrolments.csv has ")
    assert "column 'upn': is not in the header" in school["detail"]
    assert world.client is not None
    ready = (await world.client.get("/readyz")).json()
    assert ready["agencies"][AGENCY]["detail"] == school["detail"]
