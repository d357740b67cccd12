"""Element paths and the fhir agency file: what is accepted, what each path reads, and the
configuration errors (all of a file at once, each with a fix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given
from hypothesis import strategies as st

from connectors.fhir_paths import CHOICES, ELEMENTS, PathError, parse_path
from fame_demo.fhir_store import DATE_SEARCHES
from gateway.config.agencies import load_agencies
from gateway.core.errors import ConfigErrors
from tests.connectors.fhir_support import TEMPLATE, agency_text

CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "code": {
        "coding": [
            {"system": "http://read.info/readv2", "code": "C10F."},
            {"system": "http://snomed.info/sct", "code": "44054006"},
        ],
        "text": "Type 2 diabetes mellitus",
    },
    "onsetDateTime": "2019-03-04",
}
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [
        {"use": "usual", "given": ["Bobby"]},
        {"use": "official", "given": ["Robert", "James"], "family": "Example"},
    ],
}


@pytest.mark.parametrize(
    ("raw", "resource", "value"),
    [
        ("Condition.code.text", CONDITION, "Type 2 diabetes mellitus"),
        (
            "Condition.code.coding.where(system='http://snomed.info/sct').code",
            CONDITION,
            "44054006",
        ),
        ("Condition.code.coding.code", CONDITION, "C10F."),
        ("Condition.onset", CONDITION, "2019-03-04"),
        ("Condition.onsetDateTime", CONDITION, "2019-03-04"),
        ("Condition.onsetPeriod.start", CONDITION, None),
        ("Condition.recordedDate", CONDITION, None),
        ("Patient.name.given", PATIENT, "Bobby"),
        ("Patient.name.where(use='official').given", PATIENT, "Robert"),
        ("Patient.name.where(use='official').given.join(' ')", PATIENT, "Robert James"),
        ("Patient.name.given.join(', ')", PATIENT, "Bobby, Robert, James"),
        ("Patient.name.where(use='official').first().family", PATIENT, "Example"),
        ("Patient.name.where(use='old').family", PATIENT, None),
    ],
)
def test_a_path_reads_its_value(raw: str, resource: dict[str, Any], value: object) -> None:
    assert parse_path(raw).value(resource) == value


@pytest.mark.parametrize(
    ("raw", "element"),
    [
        ("Condition.onsetDateTime", "onset"),
        ("Observation.valueQuantity.value", "value"),
        ("Observation.effective", "effective"),
        ("EpisodeOfCare.careManager.display", "careManager"),
        ("Encounter.class.code", "class"),
    ],
)
def test_elements_names_the_top_level_element(raw: str, element: str) -> None:
    assert parse_path(raw).element == element


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("MedicationRequest.medicationCodeableConcept.text", "does not read"),
        ("patient.name", "resource type"),
        ("Patient", "names no element"),
        ("Patient.nmae.given", "not an element of Patient"),
        ("Condition.onsetQuantity", "not an element of Condition"),
        ("Patient.name.where(use=official).given", "not an element name"),
        ("Patient.name.where(use='official'", "unclosed"),
        ("Patient.where(use='official').name", "element"),
        ("Patient.name.given.join(' ').first()", "join"),
        ("Patient.name.given[0]", "not an element name"),
        ("Patient.name..given", "not an element name"),
        ("Patient.name.given.exists()", "not an element name"),
    ],
)
def test_malformed_paths_are_refused_with_a_reason(raw: str, says: str) -> None:
    with pytest.raises(PathError, match=says.replace("(", r"\(")):
        parse_path(raw)


_STEPS = st.from_regex(
    r"[a-z][A-Za-z]{0,8}|where\([a-z]{1,6}='[a-z ]{0,6}'\)|first\(\)", fullmatch=True
)
_PATHS = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda head, steps: ".".join([head, *steps]),
        st.sampled_from(sorted(ELEMENTS)),
        st.lists(_STEPS, min_size=1, max_size=4),
    ),
)


@given(_PATHS)
def test_any_text_is_a_checked_path_or_a_path_error(raw: str) -> None:
    try:
        path = parse_path(raw)
    except PathError as exc:
        assert str(exc)
        return
    assert path.resource_type in ELEMENTS
    assert path.element in ELEMENTS[path.resource_type]
    assert path.value({"resourceType": path.resource_type}) is None


@pytest.mark.parametrize("resource_type", sorted(ELEMENTS))
def test_element_table_matches_the_r4_models(resource_type: str) -> None:
    """The connector's own table (it does not depend on fhir.resources) against the models."""
    names = set(get_fhir_model_class(resource_type).elements_sequence()) - {"contained"}
    choices = CHOICES.get(resource_type, {})
    expected = {
        next((base for base, types in choices.items() for t in types if name == base + t), name)
        for name in names
    }
    assert set(ELEMENTS[resource_type]) == expected


def test_date_parameters_are_ones_the_demo_server_searches() -> None:
    from connectors.fhir_paths import DATE_PARAMS

    assert {(rt, param): element for (rt, element), param in DATE_PARAMS.items()} == DATE_SEARCHES


# --------------------------------------------------------------------------- agency files


def load(tmp_path: Path, text: str) -> None:
    directory = tmp_path / "agencies"
    directory.mkdir(exist_ok=True)
    (directory / "wrekin-community-fhir.toml").write_text(text)
    load_agencies(directory, tmp_path)


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigErrors) as caught:
        load(tmp_path, text)
    return {error.key: f"{error.problem}. {error.fix}" for error in caught.value.errors}


def test_the_template_loads_without_its_key_file(tmp_path: Path) -> None:
    """Parsing does not read the private key: commands that never call the agency work."""
    text = TEMPLATE.read_text()
    assert 'private_key_file = "keys/fame-gateway-fhir.pem"' in text
    assert not (tmp_path / "keys").exists()
    load(tmp_path, text)


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = agency_text(
        "ftp://fhir.example",
        source_lines=('token_env = "X"', "page_size = 0", 'search = "parallel"'),
        items={
            "demographics.given_name": "Patient.nmae.given",
            "involvement.team": "EpisodeOfCare.team.display",
            "alerts.category": "Patient.extension.valueString",
            "timeline.kind": "Encounter.type.text",
            "timeline.occurred_on": "Observation.effective",
            "conditions.code": "Condition.code.coding.where(system=snomed).code",
            "medications.name": "MedicationRequest.medicationCodeableConcept.text",
        },
    )
    found = problems(tmp_path, text)
    assert set(found) == {
        "source.base_url",
        "source.token_env",
        "source.page_size",
        "source.search",
        'items."demographics.given_name"',
        'items."involvement.team"',
        'items."alerts.category"',
        'items."timeline.occurred_on"',
        'items."conditions.code"',
        'items."medications.name"',
    }
    assert "Secrets never go in agency files" in found["source.token_env"]
    assert "not an element of Patient" in found['items."demographics.given_name"']
    assert "one row per person" in found['items."involvement.team"']
    assert "row per resource" in found['items."alerts.category"']
    assert "'timeline.kind' reads Encounter" in found['items."timeline.occurred_on"']
    assert "does not read" in found['items."medications.name"']
    assert "docs/fhir-agencies.md" in found['items."conditions.code"']


def test_auth_problems_are_reported_with_the_rest(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    text = text.replace('client_id = "fame-gateway"', 'client_secret = "hunter2"')
    text = text.replace('algorithm = "RS384"', 'algorithm = "HS256"')
    text = text.replace(
        'token_url = "https://auth.agency.example/oauth2/token"', 'token_url = "token"'
    )
    found = problems(tmp_path, text)
    assert set(found) == {
        "source.auth.client_secret",
        "source.auth.client_id",
        "source.auth.algorithm",
        "source.auth.token_url",
    }
    assert "Secrets never go in agency files" in found["source.auth.client_secret"]
    assert "RS384" in found["source.auth.algorithm"] and "ES384" in found["source.auth.algorithm"]
