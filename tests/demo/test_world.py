"""The demo world: the base population unchanged, the pilots' cast after it, and each new
agency's records as its own system holds them (SQL tables, FHIR resources, CSV files)."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient

from connectors.csv_config import CsvSource
from connectors.fhir_config import FhirSource
from fame_demo.emergency import MRN_SYSTEM, NHS_NUMBER_SYSTEM, fhir_resources
from fame_demo.runner import prepare_demo
from fame_demo.school import PUPIL_REF, UNSHARED_COLUMNS, school_rows, write_school_csv
from fame_demo.stores import SQL_AGENCIES, mapped_columns
from fame_demo.synthetic import (
    ADULT_SOCIAL_CARE,
    AGENCY_IDS,
    EMERGENCY_DEPARTMENT,
    RECORD_SETS_HELD,
    SCHOOL,
    SHIRE_CHILDRENS,
    WREKIN_ADULT_SOCIAL_CARE,
    Population,
    generate_population,
)
from fame_demo.world import (
    CHILD_AT_RISK,
    CHILD_PROTECTION_PLAN,
    DISABLED_CHILD,
    HOUSING_BENEFIT_CLAIMANT,
    MOVED_BETWEEN_COUNCILS,
    PARENT,
)
from gateway.config.catalogue import catalogue_of_settings
from gateway.config.settings import load_settings
from gateway.core.catalogue import STANDARD
from tests.support import DEMO_CONFIG, build_config

#: The demo's catalogue: the standard one and the pilots' file its settings name.
DEMO_CATALOGUE = catalogue_of_settings(DEMO_CONFIG / "gateway.toml")

PILOT_RECORD_SETS = (
    "child_protection_plans",
    "childrens_cases",
    "concerns",
    "benefit_claims",
    "ed_attendances",
    "therapy_plans",
    "assessment_domains",
    "address_history",
)


def test_the_base_population_is_unchanged_by_the_cast(population: Population) -> None:
    base = generate_population()
    assert population.people[: len(base.people)] == base.people
    for agency in AGENCY_IDS:
        for nhs, local_id in base.local_ids[agency].items():
            assert population.local_ids[agency][nhs] == local_id
            assert population.records[agency][local_id] == base.records[agency][local_id]


def test_every_part_of_every_story_is_cast(population: Population) -> None:
    for part in (
        MOVED_BETWEEN_COUNCILS,
        CHILD_PROTECTION_PLAN,
        DISABLED_CHILD,
        CHILD_AT_RISK,
        HOUSING_BENEFIT_CLAIMANT,
    ):
        assert len(population.cast_as(part)) == 1, part
    children = [*population.cast_as(CHILD_PROTECTION_PLAN), *population.cast_as(DISABLED_CHILD)]
    children += population.cast_as(CHILD_AT_RISK)
    assert {p for c in children for p in population.parents[c.nhs_number]} == {
        p.nhs_number for p in population.cast_as(PARENT)
    }
    for child in children:
        (parent_nhs,) = population.parents[child.nhs_number]
        parent = population.person_by_nhs(parent_nhs)
        assert (parent.family_name, parent.address) == (child.family_name, child.address)
        assert population.gp_of(parent.nhs_number) == population.gp_of(child.nhs_number)
    nhs = [p.nhs_number for p in population.people]
    assert len(nhs) == len(set(nhs))
    names = [(p.given_name, p.family_name) for p in population.people]
    assert len(names) == len(set(names))


def test_the_mover_left_one_council_for_the_other(population: Population) -> None:
    (gemma,) = population.cast_as(MOVED_BETWEEN_COUNCILS)
    shire = population.local_id(ADULT_SOCIAL_CARE, gemma.nhs_number)
    wrekin = population.local_id(WREKIN_ADULT_SOCIAL_CARE, gemma.nhs_number)
    assert shire is not None and wrekin is not None
    (closed,) = population.rows(ADULT_SOCIAL_CARE, shire, "social_care_cases")
    (opened,) = population.rows(WREKIN_ADULT_SOCIAL_CARE, wrekin, "social_care_cases")
    assert (closed["status"], opened["status"]) == ("closed", "open")
    (old,) = population.rows(ADULT_SOCIAL_CARE, shire, "demographics")
    assert old["address"] != gemma.address
    practice = population.gp_of(gemma.nhs_number)
    registered = population.local_id(practice, gemma.nhs_number)
    assert registered is not None
    history = population.rows(practice, registered, "address_history")
    assert [row["address"] for row in history] == [old["address"], gemma.address]
    assert history[0]["moved_out"] == history[1]["moved_in"]


def test_the_child_on_a_plan_attends_the_other_councils_emergency_department(
    population: Population,
) -> None:
    (charlie,) = population.cast_as(CHILD_PROTECTION_PLAN)
    plan_held = population.local_id(SHIRE_CHILDRENS, charlie.nhs_number)
    attended = population.local_id(EMERGENCY_DEPARTMENT, charlie.nhs_number)
    assert plan_held is not None and attended is not None
    assert population.rows(SHIRE_CHILDRENS, plan_held, "child_protection_plans")
    (attendance,) = population.rows(EMERGENCY_DEPARTMENT, attended, "ed_attendances")
    assert attendance["arrived_on"] == population.as_of


def test_every_row_holds_only_its_record_sets_catalogue_fields(population: Population) -> None:
    for agency in AGENCY_IDS:
        for held in population.records[agency].values():
            assert set(held) <= set(RECORD_SETS_HELD[agency]), (agency, set(held))
            for record_set, rows in held.items():
                fields = {
                    item.field for item in DEMO_CATALOGUE.record_sets_by_name[record_set].items
                }
                for row in rows:
                    assert set(row) <= fields, (agency, record_set, set(row) - fields)


def test_each_sql_agencys_file_maps_exactly_its_systems_columns() -> None:
    for agency in SQL_AGENCIES:
        config = tomllib.loads((DEMO_CONFIG / "agencies" / f"{agency}.toml").read_text())
        assert config["kind"] == "sql"
        assert config["items"] == mapped_columns(agency), agency


def test_the_pilots_record_sets_are_in_the_standard_catalogue() -> None:
    # The pilots' record sets are part of the catalogue every deployment has (the data
    # file gateway/core/catalogue.toml), the children's services section with them.
    assert [rs.name for rs in STANDARD.record_sets[-len(PILOT_RECORD_SETS) :]] == list(
        PILOT_RECORD_SETS
    )
    assert STANDARD.sections_by_name["childrens_services"].type_name == "ChildrensServicesSection"
    assert {rs.name for rs in STANDARD.in_section("childrens_services")} <= set(PILOT_RECORD_SETS)


def test_the_emergency_departments_records_are_valid_fhir_r4(population: Population) -> None:
    resources = fhir_resources(population)
    models = {"Patient": Patient, "Encounter": Encounter, "Condition": Condition}
    for resource in resources:
        models[resource["resourceType"]].model_validate(resource)
    patients = {r["id"]: r for r in resources if r["resourceType"] == "Patient"}
    assert set(patients) == set(population.local_ids[EMERGENCY_DEPARTMENT].values())
    for nhs, local_id in population.local_ids[EMERGENCY_DEPARTMENT].items():
        (nhs_id,) = [
            i for i in patients[local_id]["identifier"] if i["system"] == NHS_NUMBER_SYSTEM
        ]
        assert nhs_id["value"] == nhs
        encounters = [
            r
            for r in resources
            if r["resourceType"] == "Encounter"
            and r["subject"]["reference"] == f"Patient/{local_id}"
        ]
        attendances = population.rows(EMERGENCY_DEPARTMENT, local_id, "ed_attendances")
        assert [
            (
                e["period"]["start"],
                e["reasonCode"][0]["text"],
                e["participant"][0]["individual"]["display"],
                e["hospitalization"]["dischargeDisposition"]["text"],
            )
            for e in encounters
        ] == [
            (str(a["arrived_on"]), a["reason"], a["clinician"], a["outcome"]) for a in attendances
        ]


def test_the_departments_agency_file_reads_its_records_from_its_fhir_resources(
    population: Population,
) -> None:
    # Every item the agency file maps, evaluated over the department's own resources as
    # the connector does, gives back exactly what the department holds about each person.
    settings = load_settings(DEMO_CONFIG / "gateway.toml")
    (agency,) = [a for a in settings.agencies if a.id == EMERGENCY_DEPARTMENT]
    source = agency.source
    assert agency.kind == "fhir" and isinstance(source, FhirSource)
    assert source.auth is not None and source.base_url == "http://127.0.0.1:8702"
    mapped = {item.partition(".")[0] for item in source.items}
    assert mapped == set(RECORD_SETS_HELD[EMERGENCY_DEPARTMENT])
    resources = fhir_resources(population)
    for nhs, local_id in population.local_ids[EMERGENCY_DEPARTMENT].items():
        (patient,) = [
            r for r in resources if r["resourceType"] == "Patient" and r["id"] == local_id
        ]
        assert {"system": MRN_SYSTEM, "value": local_id} in patient["identifier"]
        for record_set in sorted(mapped):
            items = {i: p for i, p in source.items.items() if i.startswith(f"{record_set}.")}
            (resource_type,) = {path.resource_type for path in items.values()}
            read = [
                {item.partition(".")[2]: path.value(resource) for item, path in items.items()}
                for resource in resources
                if resource["resourceType"] == resource_type
                and (
                    resource is patient
                    or resource.get("subject") == {"reference": f"Patient/{local_id}"}
                )
            ]
            held = [
                {field: _as_cell(value) for field, value in row.items()}
                for row in population.rows(EMERGENCY_DEPARTMENT, local_id, record_set)
            ]
            assert read == held, (nhs, record_set)


def test_the_schools_agency_file_maps_every_shared_column_of_its_exports(
    population: Population,
) -> None:
    settings = load_settings(DEMO_CONFIG / "gateway.toml")
    (agency,) = [a for a in settings.agencies if a.id == SCHOOL]
    source = agency.source
    assert agency.kind == "csv" and isinstance(source, CsvSource)
    assert set(source.files) == set(RECORD_SETS_HELD[SCHOOL])
    for record_set, spec in source.files.items():
        columns, _ = school_rows(population, record_set, DEMO_CATALOGUE)
        assert spec.path.name == f"{record_set}.csv" and spec.key == PUPIL_REF
        shared = set(columns) - {PUPIL_REF, UNSHARED_COLUMNS.get(record_set)}
        mapped = {
            column.column: item
            for item, column in source.items.items()
            if column.file == record_set
        }
        assert set(mapped) == shared, record_set
        assert all(item == f"{record_set}.{column}" for column, item in mapped.items())
        # What the school keeps to itself is in the export but mapped by no item.
        if record_set in UNSHARED_COLUMNS:
            assert UNSHARED_COLUMNS[record_set] in columns
            assert UNSHARED_COLUMNS[record_set] not in mapped


def _as_cell(value: object) -> str:
    """A value as the school's export writes it: ISO dates, true/false, empty for none."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_the_schools_csv_files_hold_its_records_by_pupil_reference(
    population: Population, tmp_path: Path
) -> None:
    written = write_school_csv(population, tmp_path, DEMO_CATALOGUE)
    assert set(written) == set(RECORD_SETS_HELD[SCHOOL])
    for record_set, path in written.items():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        expected = [
            (local_id, row)
            for local_id in sorted(population.local_ids[SCHOOL].values())
            for row in population.rows(SCHOOL, local_id, record_set)
        ]
        assert [row[PUPIL_REF] for row in rows] == [local_id for local_id, _ in expected]
        for row, (_, held) in zip(rows, expected, strict=True):
            assert {field: row[field] for field in held} == {
                field: _as_cell(value) for field, value in held.items()
            }, record_set
    with written["demographics"].open(encoding="utf-8") as handle:
        assert "nhs_number" not in handle.readline()


def test_the_demo_keeps_its_state_unless_asked_to_start_afresh(
    population: Population, tmp_path: Path
) -> None:
    config = build_config(tmp_path, trust_url="http://127.0.0.1:9", store_dir=tmp_path / "stores")
    settings = load_settings(config)
    state = tmp_path / "state.sqlite"
    state.write_bytes(b"links, consents and the audit")
    assert prepare_demo(settings, fresh=False).people == population.people
    assert state.read_bytes() == b"links, consents and the audit"
    assert (tmp_path / "stores" / f"{SHIRE_CHILDRENS}.sqlite").exists()
    prepare_demo(settings, fresh=True)
    assert not state.exists()
