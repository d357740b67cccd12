"""Connector kinds from plug-ins: the installed example distribution found through its real
entry point, what an agency file naming an unknown or broken kind is told, and the example
kind serving an agency end to end through ``/graphql``.

Broken plug-ins are real distributions too: a package and its ``.dist-info`` written into
a directory put on ``sys.path``, found by ``importlib.metadata`` as pip-installed ones are.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from importlib import metadata
from pathlib import Path

import orjson
import pytest

from connectors.base import AgencyUnavailable, FetchGroup, FetchRequest
from connectors.registry import ENTRY_POINT_GROUP, KINDS, find_kind, installed_kinds
from connectors.sql import SqlKind
from fame_connector_example import JsonLinesConnector, JsonLinesKind
from fame_demo.synthetic import UNSHARED_MARKER, Population
from gateway.config.agencies import load_agencies
from gateway.core.errors import ConfigErrors
from tests.connectors.agency_world import (
    link_people,
    protocol_with_clauses,
    record_fetches,
    withheld,
)
from tests.support import World

AGENCY = "shire-carers-centre"
MAPPING = """
[items]
"involvement.team" = "caseworker.team"
"involvement.worker" = "caseworker.name"
"involvement.since" = "opened"
"involvement.status" = "status"
"timeline.occurred_on" = "contacts[].date"
"timeline.kind" = "contacts[].type"
"timeline.summary" = "contacts[].note"
"""
SHARED = ("involvement.team", "involvement.status", "timeline.occurred_on", "timeline.kind")
GP_ONLY = ("involvement.worker", "involvement.since", "timeline.summary")
# Synthetic clients of a carers' centre, as its case system exports them, one per line.
# The "private" members are mapped by no item.
CLIENTS = [
    {
        "client_ref": "CC-101",
        "status": "open",
        "opened": "2024-05-14",
        "caseworker": {"name": "Dana Whitfield", "team": "Carers Support"},
        "private": {"counselling_notes": UNSHARED_MARKER},
        "contacts": [
            {"date": "2026-01-08", "type": "home visit", "note": "Respite options discussed."},
            {"date": "2026-02-19", "type": "phone call", "note": "Carer's assessment booked."},
        ],
    },
    {
        "client_ref": "CC-102",
        "status": "closed",
        "opened": "2022-11-02",
        "caseworker": {"name": "Omar Price", "team": "Young Carers"},
        "contacts": [],
    },
]


def agency_file(export: Path) -> str:
    return (
        f'name = "Shire Carers Centre"\nkind = "jsonl"\n\n[source]\n'
        f'path = "{export.as_posix()}"\nid_field = "client_ref"\n{MAPPING}'
    )


def write_export(path: Path, people: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_suffix(".new")
    fresh.write_bytes(b"\n".join(orjson.dumps(person) for person in people) + b"\n")
    fresh.replace(path)


def agency_dir(root: Path, kind_line: str) -> Path:
    """An agencies directory with one agency file of the given ``kind = ...`` line."""
    directory = root / "agencies"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "shire-carers-centre.toml").write_text(
        f'name = "Shire Carers Centre"\n{kind_line}\n[source]\npath = "clients.jsonl"\n{MAPPING}'
    )
    return directory


def kind_errors(directory: Path) -> list[str]:
    """The problems reported at ``kind`` when the directory's agencies are loaded."""
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory)
    return [f"{e.problem}. {e.fix}" for e in caught.value.errors if e.key == "kind"]


def install_distribution(
    site: Path, name: str, version: str, entry_points: Mapping[str, str], modules: Mapping[str, str]
) -> None:
    """Write a distribution as pip leaves one in site-packages: modules and a dist-info."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{kind} = {target}\n" for kind, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")


@pytest.fixture
def broken_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two more distributions on sys.path: one with broken kinds, one clashing with the
    example's and a built-in's names."""
    site = tmp_path / "site-packages"
    install_distribution(
        site,
        "fame-broken-kinds",
        "0.3.0",
        {
            "unimportable": "fame_broken_unimportable:Kind",
            "notakind": "fame_broken_shapes:NotAKind",
            "misnamed": "fame_broken_shapes:Misnamed",
        },
        {
            "fame_broken_unimportable": "import fame_module_that_is_not_installed\n",
            "fame_broken_shapes": (
                "class NotAKind:\n"
                "    name = 'notakind'\n"
                "    def parse_source(self, doc, config_dir, problems):\n"
                "        return None\n"
                "class Misnamed:\n"
                "    name = 'other'\n"
                "    def parse_source(self, doc, config_dir, problems):\n"
                "        return None\n"
                "    def create(self, agency):\n"
                "        return None\n"
            ),
        },
    )
    install_distribution(
        site,
        "fame-rival-kinds",
        "1.0.0",
        {"jsonl": "fame_broken_shapes:Misnamed", "sql": "fame_broken_shapes:Misnamed"},
        {},
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [name for name in sys.modules if name.startswith("fame_broken")]:
        del sys.modules[name]


# -- discovery ---------------------------------------------------------------------------


def test_the_installed_example_is_found_through_its_entry_point() -> None:
    (entry,) = [e for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name == "jsonl"]
    assert entry.value == "fame_connector_example:JsonLinesKind"
    assert entry.dist is not None and entry.dist.name == "fame-connector-example"
    kinds = installed_kinds()
    assert kinds["jsonl"] == "the distribution fame-connector-example 0.1.0"
    assert {kinds[name] for name in KINDS} == {"built in"}
    kind = find_kind("jsonl")
    assert isinstance(kind, JsonLinesKind)
    assert find_kind("jsonl") is kind  # loaded once


def test_an_agency_file_names_the_plugin_kind(tmp_path: Path) -> None:
    (agency,) = load_agencies(agency_dir(tmp_path, 'kind = "jsonl"'))
    assert agency.kind == "jsonl"
    assert agency.source.path == tmp_path / "agencies" / "clients.jsonl"
    assert agency.source.id_field == "id"


def test_an_unknown_kind_lists_the_installed_ones_and_how_to_install(tmp_path: Path) -> None:
    (message,) = kind_errors(agency_dir(tmp_path, 'kind = "fhirr"'))
    assert message.startswith("is 'fhirr', which is not an installed connector kind. ")
    assert "'csv' (built in)" in message and "'sql' (built in)" in message
    assert "'jsonl' (the distribution fame-connector-example 0.1.0)" in message
    assert "pip install <distribution>" in message
    assert ENTRY_POINT_GROUP in message and "docs/connectors.md" in message


def test_a_kind_is_never_code_loaded_by_path(tmp_path: Path) -> None:
    planted = tmp_path / "planted_kind.py"
    marker = tmp_path / "imported"
    planted.write_text(f"open({str(marker)!r}, 'w').close()\nclass Kind:\n    name = 'x'\n")
    for kind in (f"{planted}", "planted_kind:Kind", "planted_kind.Kind"):
        (message,) = kind_errors(agency_dir(tmp_path / kind.replace("/", "_"), f"kind = {kind!r}"))
        assert "which is not an installed connector kind" in message
        if ":" in kind or "/" in kind:
            assert "never a module or file to load code from" in message
    assert not marker.exists()
    assert "planted_kind" not in sys.modules


def test_the_example_kind_reports_every_problem_of_its_part_at_once(tmp_path: Path) -> None:
    directory = tmp_path / "agencies"
    directory.mkdir()
    (directory / f"{AGENCY}.toml").write_text(
        'name = "Shire Carers Centre"\nkind = "jsonl"\n[source]\npath = 42\n'
        'id_feild = "client_ref"\n[items]\n"involvement.team" = "caseworker[].team"\n'
        '"timeline.occurred_on" = "contacts[].date"\n"timeline.kind" = "visits[].type"\n'
    )
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(directory)
    found = {error.key: f"{error.problem}. {error.fix}" for error in caught.value.errors}
    assert set(found) == {
        "source.path",
        "source.id_feild",
        'items."involvement.team"',
        'items."timeline.kind"',
    }
    assert found["source.path"].startswith("is 42, not text. ")
    assert "Did you mean id_field?" in found["source.id_feild"]
    assert "'involvement' has one row per person" in found['items."involvement.team"']
    assert found['items."timeline.kind"'].startswith(
        "reads list 'visits', but 'timeline.occurred_on' reads 'contacts'. "
    )


# -- broken plug-ins -----------------------------------------------------------------------


def test_a_plugin_that_fails_to_import_is_named(broken_site: Path, tmp_path: Path) -> None:
    (message,) = kind_errors(agency_dir(tmp_path, 'kind = "unimportable"'))
    assert message.startswith(
        "names the connector kind 'unimportable' from the distribution fame-broken-kinds "
        "0.3.0, which failed to load (ModuleNotFoundError: No module named "
        "'fame_module_that_is_not_installed')"
    )
    assert "pip install --force-reinstall fame-broken-kinds" in message


def test_a_plugin_that_is_not_a_connector_kind_is_named(broken_site: Path, tmp_path: Path) -> None:
    (message,) = kind_errors(agency_dir(tmp_path / "a", 'kind = "notakind"'))
    assert "from the distribution fame-broken-kinds 0.3.0, which is not a ConnectorKind" in message
    assert "it has no method create" in message
    (message,) = kind_errors(agency_dir(tmp_path / "b", 'kind = "misnamed"'))
    assert "its name is 'other', not 'misnamed' as its entry point says" in message


def test_two_distributions_with_one_kind_name_are_both_named(
    broken_site: Path, tmp_path: Path
) -> None:
    (message,) = kind_errors(agency_dir(tmp_path, 'kind = "jsonl"'))
    assert "several installed distributions register" in message
    assert "fame-connector-example 0.1.0" in message and "fame-rival-kinds 1.0.0" in message


def test_broken_plugins_stop_only_the_agencies_naming_them(
    broken_site: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "agencies"
    directory.mkdir()
    (directory / "schools.toml").write_text(
        'name = "Schools"\nkind = "csv"\n[files.pupils]\npath = "pupils.csv"\nkey = "upn"\n'
        '[items]\n"enrolments.school" = "pupils.school"\n'
    )
    (agency,) = load_agencies(directory)
    assert agency.kind == "csv"
    assert not [name for name in sys.modules if name.startswith("fame_broken")]
    # A plug-in cannot take a built-in's name; it is ignored, and the log says so.
    assert isinstance(find_kind("sql"), SqlKind)
    assert installed_kinds()["sql"] == "built in"
    assert "the connector kind 'sql' of the distribution fame-rival-kinds 1.0.0 is ignored" in (
        caplog.text
    )


# -- the example kind -------------------------------------------------------------------------


async def test_the_example_kind_projects_each_group(tmp_path: Path) -> None:
    export = tmp_path / "exports" / "clients.jsonl"
    write_export(export, CLIENTS)
    directory = tmp_path / "agencies"
    directory.mkdir()
    (directory / f"{AGENCY}.toml").write_text(agency_file(export))
    (agency,) = load_agencies(directory)
    connector = find_kind("jsonl").create(agency)
    assert isinstance(connector, JsonLinesConnector)
    request = FetchRequest(
        groups=(
            FetchGroup(("CC-101",), frozenset({"timeline.kind", "involvement.status"})),
            FetchGroup(("CC-102", "CC-999"), frozenset({"involvement.since"})),
        )
    )
    assert await connector.fetch(request) == {
        "CC-101": {
            "involvement": [{"status": "open"}],
            "timeline": [{"kind": "home visit"}, {"kind": "phone call"}],
        },
        "CC-102": {"involvement": [{"since": dt.date(2022, 11, 2)}]},
    }
    check = await connector.check()
    assert (check.ok, check.detail) == (True, "2 people, 7 items mapped")
    # A broken new export: the last good one is served, and the connector says why.
    export.write_text(export.read_text() + '{"client_ref": "CC-103", "opened": 2024}\n')
    assert (await connector.fetch(request))["CC-101"]["involvement"] == [{"status": "open"}]
    assert connector.degraded is not None
    assert (
        "clients.jsonl line 3: involvement.since holds int where Date is expected"
        in connector.degraded
    )
    export.unlink()
    fresh = find_kind("jsonl").create(agency)
    with pytest.raises(AgencyUnavailable, match=r"clients\.jsonl cannot be read"):
        await fresh.fetch(request)


# -- end to end --------------------------------------------------------------------------------

QUERY = """{ person(id: "%s") {
    involvements { agency { id } team worker since status }
    timeline(agencies: ["shire-carers-centre"]) { agency { id } occurredOn kind summary } } }"""


@pytest.fixture
async def carers_world(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[World]:
    export = tmp_path / "carers" / "clients.jsonl"
    write_export(export, CLIENTS)
    world = World(tmp_path / "world", population, store_dir)
    try:
        await world.start(
            agencies={AGENCY: agency_file(export)},
            protocol=protocol_with_clauses(AGENCY, SHARED, GP_ONLY),
        )
        yield world
    finally:
        await world.stop()


async def test_the_example_plugin_serves_an_agency_through_graphql(carers_world: World) -> None:
    world = carers_world
    ids = await link_people(world, AGENCY, "Carers Support", {0: "CC-101"})
    fetches = record_fetches(world, AGENCY)
    result = await world.query(QUERY % ids[0], as_="sw-patel")
    assert "errors" not in result, result
    person = result["data"]["person"]
    assert [row for row in person["involvements"] if row["agency"]["id"] == AGENCY] == [
        {
            "agency": {"id": AGENCY},
            "team": "Carers Support",
            "worker": None,
            "since": None,
            "status": "open",
        }
    ]
    assert person["timeline"] == [
        {
            "agency": {"id": AGENCY},
            "occurredOn": "2026-01-08",
            "kind": "home visit",
            "summary": None,
        },
        {
            "agency": {"id": AGENCY},
            "occurredOn": "2026-02-19",
            "kind": "phone call",
            "summary": None,
        },
    ]
    assert withheld(result, AGENCY) == dict.fromkeys(GP_ONLY, "ROLE_NOT_PERMITTED")
    assert result["extensions"]["sources"][AGENCY]["status"] == "ok"
    # At the connector: asked for the shared items only, and handed back nothing else.
    assert fetches.items_asked() == set(SHARED)
    assert fetches.fields_returned() == set(SHARED)
    assert UNSHARED_MARKER not in repr(fetches.calls)
    status = await world.query("{ agencies { id kind status } }")
    assert {"id": AGENCY, "kind": "jsonl", "status": "ok"} in status["data"]["agencies"]
