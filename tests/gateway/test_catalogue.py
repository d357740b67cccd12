"""The catalogue as data: the standard file, a deployment's own files, every problem
refused with the file, the key and what to write instead, and the schema they generate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from graphql import GraphQLList, GraphQLObjectType, get_named_type

from gateway.cli import main
from gateway.config.agencies import load_agencies
from gateway.config.catalogue import catalogue_of_settings
from gateway.config.protocol import load_protocol
from gateway.config.settings import load_settings
from gateway.core.catalogue import (
    RECORD_SETS,
    STANDARD,
    load_catalogue,
    parsing_catalogue,
    with_files,
)
from gateway.core.catalogue_model import RESERVED_PERSON_FIELDS, RESERVED_TYPE_NAMES
from gateway.core.errors import ConfigError, ConfigErrors
from resolvers.schema import build_schema, schema, schema_sdl
from tests.support import REPO

#: What the catalogue held when it was written in code: (record set, type, section,
#: Person or section field, many rows, date field, "field:Kind ..." in order).
CODED = [
    ("demographics", "Demographics", None, "demographics", False, None,
     "nhs_number:String given_name:String family_name:String date_of_birth:Date "
     "gender:String address:String postcode:String phone:String"),
    ("involvement", "Involvement", None, "involvements", False, None,
     "team:String worker:String role:String since:Date status:String"),
    ("alerts", "Alert", None, "alerts", True, None,
     "category:String severity:String raised_on:Date summary:String"),
    ("assessments", "Assessment", None, "assessments", True, None,
     "kind:String completed_on:Date assessor:String summary:String outcome:String"),
    ("timeline", "TimelineEvent", None, "timeline", True, "occurred_on",
     "occurred_on:Date kind:String summary:String practitioner:String"),
    ("gp_registration", "GpRegistration", "health", "gpRegistrations", False, None,
     "practice:String usual_gp:String registered_on:Date"),
    ("conditions", "Condition", "health", "conditions", True, None,
     "name:String code:String onset:Date status:String"),
    ("medications", "Medication", "health", "medications", True, None,
     "name:String dose:String started_on:Date"),
    ("allergies", "Allergy", "health", "allergies", True, None,
     "substance:String reaction:String"),
    ("community_episodes", "CommunityEpisode", "health", "communityEpisodes", True, None,
     "service:String clinician:String started_on:Date ended_on:Date next_visit:Date"),
    ("social_care_cases", "SocialCareCase", "social_care", "cases", False, None,
     "status:String primary_need:String eligible:Boolean review_due:Date"),
    ("care_packages", "CarePackage", "social_care", "carePackages", True, None,
     "service:String provider:String hours_per_week:Float started_on:Date"),
    ("tenancies", "Tenancy", "housing", "tenancies", True, None,
     "address:String tenure:String landlord:String started_on:Date rent_arrears_weeks:Int"),
    ("adaptations", "Adaptation", "housing", "adaptations", True, None,
     "kind:String status:String completed_on:Date"),
    ("enrolments", "Enrolment", "education", "enrolments", True, None,
     "school:String year_group:String started_on:Date attendance_percent:Float"),
    ("special_needs", "SpecialNeeds", "education", "specialNeeds", False, None,
     "ehcp:Boolean primary_need:String review_due:Date"),
]  # fmt: skip

#: A deployment's catalogue file: a record set under a section, and one on Person.
CHILDREN = """\
[record_sets.youth_justice_orders]
type_name = "YouthJusticeOrder"
section = "social_care"
graphql_field = "youthJusticeOrders"
many = true
owner = "the council's children's services"
description = "A youth justice order."
date_field = "started_on"

[record_sets.youth_justice_orders.items]
category = { kind = "String", description = "The order: referral, youth rehabilitation or detention and training." }
started_on = { kind = "Date", description = "When the order started." }

[record_sets.lead_professionals]
type_name = "LeadProfessional"
graphql_field = "leadProfessionals"
many = false
owner = "the council's children's services"
description = "The lead professional coordinating support for a child."

[record_sets.lead_professionals.items]
name = { kind = "String", description = "The lead professional's name." }
role = { kind = "String", description = "Their role, e.g. social worker, family support worker." }
"""  # noqa: E501


def write(directory: Path, text: str, name: str = "children.toml") -> Path:
    """Write one catalogue file into ``directory``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / name
    file.write_text(text)
    return file


def problems(*files: Path) -> list[ConfigError]:
    """The errors the standard catalogue with ``files`` raises (it must raise)."""
    with pytest.raises(ConfigErrors) as caught:
        load_catalogue(list(files), STANDARD)
    return caught.value.errors


def only_problem(file: Path, key: str) -> ConfigError:
    """The single error, checked to name the file, the key and a fix."""
    errors = problems(file)
    assert [e.key for e in errors] == [key], [str(e) for e in errors]
    (error,) = errors
    assert error.file == str(file)
    assert error.problem and error.fix
    assert str(error).startswith(f"{file}: {key}: ")
    return error


def edited(text: str, old: str, new: str) -> str:
    """``text`` with one exact fragment replaced (which must be there)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)


# --------------------------------------------------------------------------- the standard file


def test_the_standard_file_holds_what_the_code_held() -> None:
    shown = [
        (
            rs.name,
            rs.type_name,
            rs.section,
            rs.graphql_field,
            rs.many,
            rs.date_field,
            " ".join(f"{item.field}:{item.kind.value}" for item in rs.items),
        )
        for rs in STANDARD.record_sets
    ]
    # What the code held, then the FAME pilots' record sets, added as data.
    assert shown[: len(CODED)] == CODED
    assert [rs[0] for rs in shown[len(CODED) :]] == [
        "child_protection_plans",
        "childrens_cases",
        "concerns",
        "benefit_claims",
        "ed_attendances",
        "therapy_plans",
        "assessment_domains",
        "address_history",
    ]
    assert [s.name for s in STANDARD.sections] == [
        "health",
        "social_care",
        "housing",
        "education",
        "childrens_services",
    ]
    assert RECORD_SETS is STANDARD.record_sets
    assert list(STANDARD.items)[:3] == [
        "demographics.nhs_number",
        "demographics.given_name",
        "demographics.family_name",
    ]


def test_the_published_schema_is_the_standard_catalogues() -> None:
    assert (REPO / "schema.graphql").read_text() == schema_sdl(STANDARD)
    assert build_schema(STANDARD) is schema


def test_reserved_type_names_are_the_schemas_own_types() -> None:
    # A catalogue type must not take a name the schema already gives another type; the
    # list is kept by hand in the core, so it must follow the schema.
    graphql_schema = schema.graphql_schema
    catalogue_types = {rs.type_name for rs in STANDARD.record_sets} | {
        s.type_name for s in STANDARD.sections
    }
    own = {
        name
        for name in graphql_schema.type_map
        if not name.startswith("__") and name not in catalogue_types
    }
    assert own == RESERVED_TYPE_NAMES, "update gateway/core/catalogue_model.py"
    person = graphql_schema.get_type("Person")
    assert isinstance(person, GraphQLObjectType)
    from_catalogue = {rs.graphql_field for rs in STANDARD.in_section(None)} | {
        s.graphql_field for s in STANDARD.sections
    }
    assert set(person.fields) - from_catalogue == RESERVED_PERSON_FIELDS


# --------------------------------------------------------------------------- a deployment's files


def test_a_deployment_file_adds_record_sets_to_the_schema(tmp_path: Path) -> None:
    catalogue = with_files([write(tmp_path, CHILDREN)])
    assert catalogue == with_files([write(tmp_path, CHILDREN)])
    assert build_schema(catalogue) is build_schema(with_files([tmp_path / "children.toml"]))
    assert list(catalogue.items)[: len(STANDARD.items)] == list(STANDARD.items)
    assert list(catalogue.items)[len(STANDARD.items) :] == [
        "youth_justice_orders.category",
        "youth_justice_orders.started_on",
        "lead_professionals.name",
        "lead_professionals.role",
    ]
    graphql_schema = build_schema(catalogue).graphql_schema
    section = graphql_schema.get_type("SocialCareSection")
    assert isinstance(section, GraphQLObjectType)
    plans = section.fields["youthJusticeOrders"]
    assert set(plans.args) == {"from", "to", "agencies"}
    plan_type = get_named_type(plans.type)
    assert isinstance(plan_type, GraphQLObjectType)
    assert plan_type.name == "YouthJusticeOrder"
    assert list(plan_type.fields) == ["agency", "category", "startedOn"]
    assert "children's services" in (plan_type.fields["category"].description or "")
    person = graphql_schema.get_type("Person")
    assert isinstance(person, GraphQLObjectType)
    assert isinstance(person.fields["leadProfessionals"].type, GraphQLList)
    # The standard schema is untouched by another catalogue's.
    assert "YouthJusticeOrder" not in schema.graphql_schema.type_map


def test_a_deployment_file_may_add_items_to_a_standard_record_set(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        "[record_sets.alerts.items]\n"
        'review_on = { kind = "Date", description = "When the alert is next reviewed." }\n',
    )
    alerts = with_files([file]).record_sets_by_name["alerts"]
    assert [item.field for item in alerts.items][-2:] == ["summary", "review_on"]
    alert = build_schema(with_files([file])).graphql_schema.get_type("Alert")
    assert isinstance(alert, GraphQLObjectType)
    assert "reviewOn" in alert.fields


def test_agencies_and_the_protocol_accept_the_deployments_items(tmp_path: Path) -> None:
    catalogue = with_files([write(tmp_path / "catalogue", CHILDREN)])
    agencies = tmp_path / "agencies"
    agencies.mkdir()
    (agencies / "childrens-services.toml").write_text(
        'name = "Children\'s Services"\nkind = "sql"\n'
        '[source]\nurl = "sqlite+aiosqlite:///cs.sqlite"\n'
        '[tables.plans]\nkey = "child_ref"\n'
        '[items]\n"youth_justice_orders.category" = "plans.category"\n'
    )
    with pytest.raises(ConfigErrors) as caught:
        load_agencies(agencies, tmp_path)
    assert [e.key for e in caught.value.errors] == ['items."youth_justice_orders.category"']
    (agency,) = load_agencies(agencies, tmp_path, catalogue=catalogue)
    assert agency.items == {"youth_justice_orders.category"}
    assert agency.catalogue is catalogue
    # The kind checked its targets against the same catalogue (see parsing_catalogue).
    assert set(agency.source.items) == {"youth_justice_orders.category"}
    assert parsing_catalogue() is STANDARD
    protocol_text = (REPO / "config" / "sharing-protocol.toml").read_text() + (
        '\n[[clause]]\nid = "TEST-9.1"\ntitle = "Youth justice orders"\n'
        'agencies = ["childrens-services"]\nitems = ["youth_justice_orders.*"]\n'
        'category = "safeguarding"\nroles = ["social_worker"]\n'
        'purposes = ["safeguarding"]\nbasis = "statutory"\n'
    )
    protocol_file = tmp_path / "protocol.toml"
    protocol_file.write_text(protocol_text)
    demo = load_agencies(REPO / "config" / "agencies", REPO / "config")
    ids = {a.id for a in demo} | {agency.id}
    services = {a.id: a.services for a in demo}
    with pytest.raises(ConfigErrors) as refused:
        load_protocol(protocol_file, ids, services)
    assert [e.key for e in refused.value.errors] == ["clause TEST-9.1.items"]
    protocol = load_protocol(protocol_file, ids, services, catalogue=catalogue)
    assert protocol.covers("childrens-services", "youth_justice_orders.started_on")
    assert protocol.catalogue is catalogue


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('type_name = "YouthJusticeOrder"', 'type_name = "child plan"',
         "record_sets.youth_justice_orders.type_name", "PascalCase"),
        ('type_name = "YouthJusticeOrder"', 'type_name = "Person"',
         "record_sets.youth_justice_orders.type_name", "a type the schema already has"),
        ('type_name = "YouthJusticeOrder"', 'type_name = "Alert"',
         "record_sets.youth_justice_orders.type_name", "record_sets.alerts already uses"),
        ('type_name = "YouthJusticeOrder"', 'type_name = "LeadProfessional"',
         "record_sets.lead_professionals.type_name",
         "record_sets.youth_justice_orders already uses"),
        ('section = "social_care"', 'section = "children"',
         "record_sets.youth_justice_orders.section", "which is not a section"),
        ('graphql_field = "youthJusticeOrders"', 'graphql_field = "youth_justice_orders"',
         "record_sets.youth_justice_orders.graphql_field", "camelCase"),
        ('graphql_field = "youthJusticeOrders"', 'graphql_field = "carePackages"',
         "record_sets.youth_justice_orders.graphql_field", "section social_care the field"),
        ('graphql_field = "leadProfessionals"', 'graphql_field = "knownTo"',
         "record_sets.lead_professionals.graphql_field", "the gateway itself already gives"),
        ('graphql_field = "leadProfessionals"', 'graphql_field = "health"',
         "record_sets.lead_professionals.graphql_field", "sections.health already gives"),
        ("many = true", 'many = "yes"', "record_sets.youth_justice_orders.many", "'yes'"),
        ("many = true\n", "", "record_sets.youth_justice_orders.many", "is missing"),
        ('owner = "the council\'s children\'s services"\ndescription = "A youth j',
         'description = "A youth j',
         "record_sets.youth_justice_orders.owner", "is missing"),
        ('description = "A youth justice order."', 'description = " "',
         "record_sets.youth_justice_orders.description", "' '"),
        ('date_field = "started_on"', 'date_field = "ended_on"',
         "record_sets.youth_justice_orders.date_field", "not an item of the record set"),
        ('date_field = "started_on"', 'date_field = "category"',
         "record_sets.youth_justice_orders.date_field", "of kind String, not Date"),
        ('date_field = "started_on"', 'date_field = "started_on"\nrows = "many"',
         "record_sets.youth_justice_orders.rows", "not a key of a record set"),
        ('started_on = { kind = "Date"', 'started_on = { kind = "Timestamp"',
         "record_sets.youth_justice_orders.items.started_on.kind", "not a value kind"),
        ('started_on = { kind = "Date", ', "started_on = { ",
         "record_sets.youth_justice_orders.items.started_on.kind", "is missing"),
        ('name = { kind = "String", description = "The lead professional\'s name." }',
         'name = "The lead professional"',
         "record_sets.lead_professionals.items.name", "'The lead professional'"),
        ('name = { kind = "String", ', 'name = { kind = "String", unit = "x", ',
         "record_sets.lead_professionals.items.name.unit", "not a key of an item"),
        ('name = { kind = "String"', 'agency = { kind = "String"',
         "record_sets.lead_professionals.items.agency", "the 'agency' field every record has"),
        ('name = { kind = "String"', 'Name = { kind = "String"',
         "record_sets.lead_professionals.items.Name", "not a usable item name"),
        ("[record_sets.lead_professionals]", "[record_sets.Lead]",
         "record_sets.Lead", "not a usable record set name"),
    ],
)  # fmt: skip
def test_each_problem_has_its_own_message(
    tmp_path: Path, old: str, new: str, key: str, words: str
) -> None:
    text = edited(CHILDREN, old, new)
    if "[record_sets.Lead]" in text:
        text = text.replace("[record_sets.lead_professionals.items]", "[record_sets.Lead.items]")
    error = only_problem(write(tmp_path, text), key)
    assert words in str(error), str(error)


def test_standard_record_sets_items_and_sections_are_not_redefined(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '[sections.health]\ntype_name = "Health"\ndescription = "Ours."\n'
        '[record_sets.medications]\ntype_name = "Medicine"\ngraphql_field = "medicines"\n'
        "[record_sets.alerts.items]\n"
        'severity = { kind = "Int", description = "1 to 5." }\n',
    )
    errors = problems(file)
    assert [(e.key, e.problem) for e in errors] == [
        ("sections.health", "redefines the section 'health' of the standard catalogue"),
        (
            "record_sets.medications",
            "redefines the record set 'medications' of the standard catalogue",
        ),
        (
            "record_sets.alerts.items.severity",
            "redefines the item 'alerts.severity' of the standard catalogue",
        ),
    ]
    assert "[record_sets.medications.items]" in errors[1].fix


def test_two_deployment_files_may_not_declare_the_same_record_set(tmp_path: Path) -> None:
    first = write(tmp_path, CHILDREN, "a.toml")
    second = write(tmp_path, CHILDREN.split("[record_sets.lead_professionals]")[0], "b.toml")
    errors = problems(first, second)
    assert [(e.file, e.key) for e in errors] == [(str(second), "record_sets.youth_justice_orders")]
    assert f"of {first}" in errors[0].problem


def test_sections_are_checked_and_must_hold_a_record_set(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        '[sections.youth_justice]\ntype_name = "YouthJusticeSection"\n'
        'description = "Records from the youth justice service."\n'
        '[sections.youth]\ntype_name = "Youth Section"\n'
        '[sections.Family]\ntype_name = "FamilySection"\ndescription = "x"\n'
        '[sections.known_to]\ntype_name = "KnownSection"\ndescription = "Clashes."\n'
        "[sections.known_to.extra]\nx = 1\n",
    )
    keys = [(e.key, e.problem) for e in problems(file)]
    assert keys == [
        ("sections.youth.type_name", "is 'Youth Section'"),
        ("sections.youth.description", "is missing"),
        ("sections.Family", "'Family' is not a usable section name"),
        ("sections.known_to.extra", "is not a key of a section"),
        (
            "sections.known_to",
            "gives Person the field 'knownTo', which the gateway itself already gives it",
        ),
        ("sections.youth_justice", "holds no record set"),
        ("sections.known_to", "holds no record set"),
    ]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    broken = edited(CHILDREN, 'kind = "Date"', 'kind = "Day"')
    broken = edited(broken, 'type_name = "LeadProfessional"', 'type_name = "Me"')
    first = write(tmp_path, broken, "a.toml")
    second = write(tmp_path, "[record_sets.x\n", "b.toml")
    third = write(tmp_path, 'colour = "blue"\n', "c.toml")
    errors = problems(first, second, third)
    assert [(Path(e.file).name, e.key) for e in errors] == [
        ("b.toml", "(file)"),
        ("a.toml", "record_sets.youth_justice_orders.items.started_on.kind"),
        ("a.toml", "record_sets.lead_professionals.type_name"),
        ("c.toml", "colour"),
    ]
    assert "is not valid TOML" in errors[0].problem


def test_camel_case_spellings_may_not_collide(tmp_path: Path) -> None:
    text = edited(
        CHILDREN,
        'role = { kind = "String"',
        'plan_b2_c = { kind = "String", description = "x" }\nplan_b2c = { kind = "String"',
    )
    error = only_problem(write(tmp_path, text), "record_sets.lead_professionals.items.plan_b2c")
    assert "'planB2C'" in error.problem


# --------------------------------------------------------------------------- settings and CLI


def settings_file(directory: Path, table: str) -> Path:
    """A settings file holding only ``table`` (enough for the catalogue commands)."""
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / "gateway.toml"
    file.write_text(table)
    return file


def test_the_settings_name_the_deployment_files(tmp_path: Path) -> None:
    write(tmp_path / "catalogue", CHILDREN)
    file = settings_file(tmp_path, '[catalogue]\nfiles = ["catalogue/*.toml"]\n')
    assert catalogue_of_settings(file) == with_files([tmp_path / "catalogue" / "children.toml"])
    assert catalogue_of_settings(settings_file(tmp_path / "plain", "")) is STANDARD


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('[catalogue]\nfiles = ["nowhere/*.toml"]\n', "catalogue.files", "matches no file"),
        ('[catalogue]\nfiles = "catalogue/*.toml"\n', "catalogue.files", "List catalogue files"),
        ("[catalogue]\nfile = []\n", "catalogue.file", "is not a catalogue setting"),
        ('catalogue = "catalogue.toml"\n', "catalogue", "Write a table"),
    ],
)
def test_settings_problems_name_the_catalogue_key(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    file = settings_file(tmp_path, table)
    with pytest.raises(ConfigErrors) as caught:
        catalogue_of_settings(file)
    assert [e.key for e in caught.value.errors] == [key]
    assert words in str(caught.value.errors[0])


def test_the_shipped_configuration_with_a_deployment_catalogue(tmp_path: Path) -> None:
    # A broken catalogue file stops the settings before agencies are checked against it.
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    settings = config / "gateway.toml"
    settings.write_text('catalogue = { files = ["catalogue/*.toml"] }\n' + settings.read_text())
    write(config / "catalogue", edited(CHILDREN, "many = true", "many = 1"))
    with pytest.raises(ConfigErrors) as caught:
        load_settings(settings)
    assert [e.key for e in caught.value.errors] == ["record_sets.youth_justice_orders.many"]
    write(config / "catalogue", CHILDREN)
    loaded = load_settings(settings)
    assert "lead_professionals.role" in loaded.catalogue.items
    assert all(agency.catalogue is loaded.catalogue for agency in loaded.agencies)
    assert loaded.protocol.catalogue is loaded.catalogue


def test_schema_check_fails_on_drift_and_passes_when_regenerated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    published = tmp_path / "schema.graphql"
    published.write_text(schema_sdl(STANDARD))
    plain = settings_file(tmp_path / "plain", "")
    assert main(["--config", str(plain), "schema", "--check", str(published)]) == 0
    assert "matches" in capsys.readouterr().out

    write(tmp_path / "catalogue", CHILDREN)
    config = settings_file(tmp_path, '[catalogue]\nfiles = ["catalogue/*.toml"]\n')
    assert main(["schema", "--check", str(published), "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert f"--- {published} (published)" in out
    assert "+type YouthJusticeOrder {" in out
    assert "+  leadProfessionals: [LeadProfessional!]" in out
    assert not [line for line in out.splitlines() if line.startswith("-") and line[1:2] != "-"]
    assert f"fame-gateway --config {config} schema --write {published}" in err

    assert main(["--config", str(config), "schema", "--write", str(published)]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "schema", "--check", str(published)]) == 0
    assert published.read_text() == schema_sdl(catalogue_of_settings(config))


def test_items_lists_the_configured_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "catalogue", CHILDREN)
    config = settings_file(tmp_path, '[catalogue]\nfiles = ["catalogue/*.toml"]\n')
    assert main(["items", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "youth_justice_orders  (many rows per agency; the council's children" in out
    assert "youth_justice_orders.started_on" in out and "demographics.nhs_number" in out
