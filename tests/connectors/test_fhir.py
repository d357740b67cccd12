"""The fhir connector against the demo FHIR R4 server and against small hostile servers.

The connector is configured from the shipped template agency file with only its base URL
(and, where a test needs it, a source setting) changed. What left the server is read from
the server's own record of the searches it ran and the resources it returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    ConnectorError,
    DateRange,
    FetchGroup,
    FetchRequest,
)
from connectors.fhir import FhirConnector
from connectors.registry import create_connector
from fame_demo.fhir_server import FhirCall, FhirServer
from fame_demo.fhir_synthetic import SNOMED, fhir_resources, patient_id
from fame_demo.synthetic import UNSHARED_MARKER, Population, SyntheticPerson
from tests.connectors.fhir_support import (
    ALWAYS,
    agency_text,
    mapped_elements,
    top_level,
    write_agency,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PEOPLE = 8


def people(population: Population, count: int = PEOPLE) -> list[SyntheticPerson]:
    """The first ``count`` people of the population, whom the FHIR server holds."""
    return list(population.people[:count])


def of_type(
    resources: list[dict[str, Any]], resource_type: str, person: SyntheticPerson
) -> list[dict[str, Any]]:
    """The resources of one type about one person, in server order."""
    reference = f"Patient/{patient_id(person)}"
    link = "patient" if resource_type == "EpisodeOfCare" else "subject"
    return [
        r
        for r in resources
        if r["resourceType"] == resource_type and r[link]["reference"] == reference
    ]


@pytest.fixture
def resources(population: Population) -> list[dict[str, Any]]:
    """Synthetic resources about the first people (the server validates each)."""
    return fhir_resources(people(population))


@pytest.fixture
async def server(resources: list[dict[str, Any]]) -> AsyncIterator[FhirServer]:
    """The demo FHIR server, no authorisation, on a free port."""
    async with FhirServer(resources) as running:
        yield running


async def open_connector(
    tmp_path: Path,
    base_url: str,
    *source_lines: str,
    timeout_seconds: float | None = None,
    name: str = "a",
) -> FhirConnector:
    """An open connector for the template agency pointed at ``base_url``."""
    directory = tmp_path / name
    agency = write_agency(
        directory, agency_text(base_url, source_lines=source_lines, timeout=timeout_seconds)
    )
    built = create_connector(agency)
    assert isinstance(built, FhirConnector)
    await built.open()
    return built


@pytest.fixture
async def connector(server: FhirServer, tmp_path: Path) -> AsyncIterator[FhirConnector]:
    """An open connector pointed at the running server."""
    assert server.base_url is not None
    built = await open_connector(tmp_path, server.base_url)
    try:
        yield built
    finally:
        await built.close()


def assert_projection(calls: list[FhirCall], allowed: dict[str, set[str]]) -> None:
    """No search asked for, and no returned resource held, an element beyond ``allowed``."""
    assert calls, "the server saw searches"
    for call in calls:
        assert call.status == 200, call
        permitted = allowed.get(call.resource_type)
        assert permitted is not None, f"{call.resource_type} was searched but nothing needs it"
        assert call.elements == permitted, call
        for resource in call.returned:
            sent = {top_level(key) for key in resource} - ALWAYS
            assert sent <= permitted, (call.resource_type, sorted(sent - permitted))
            assert UNSHARED_MARKER not in orjson.dumps(resource).decode()


ITEMS = frozenset(
    {
        "demographics.given_name",
        "demographics.date_of_birth",
        "timeline.kind",
        "timeline.occurred_on",
        "conditions.code",
        "conditions.onset",
        "assessments.outcome",
        "care_packages.service",
        "community_episodes.clinician",
    }
)


# --------------------------------------------------------------------------- the real server


async def test_one_batch_carries_every_search_with_only_the_needed_elements(
    connector: FhirConnector, server: FhirServer, population: Population, tmp_path: Path
) -> None:
    chosen = people(population, 3)
    nhs = tuple(p.nhs_number for p in chosen)

    result = await connector.fetch(FetchRequest.single(nhs, ITEMS))

    assert server.posts == 1, "one batch Bundle for the whole fetch"
    assert {call.via for call in server.calls} == {"batch"}
    assert sorted(call.resource_type for call in server.calls) == sorted(
        ["Patient", "Encounter", "Condition", "Observation", "CarePlan", "EpisodeOfCare"]
    )
    agency = write_agency(tmp_path / "expected", agency_text(server.base_url or ""))
    assert_projection(server.calls, mapped_elements(agency, ITEMS))
    (patients,) = [c for c in server.calls if c.resource_type == "Patient"]
    assert patients.param("identifier") == [
        ",".join(f"https://fhir.nhs.uk/Id/nhs-number|{n}" for n in nhs)
    ]
    assert set(result) == set(nhs)


async def test_rows_come_back_under_catalogue_names_with_catalogue_kinds(
    connector: FhirConnector, resources: list[dict[str, Any]], population: Population
) -> None:
    chosen = people(population, 4)
    result = await connector.fetch(FetchRequest.single(tuple(p.nhs_number for p in chosen), ITEMS))

    for person in chosen:
        records = result[person.nhs_number]
        assert records["demographics"] == [
            {"given_name": person.given_name, "date_of_birth": person.date_of_birth.isoformat()}
        ]
        assert records["timeline"] == [
            {"kind": e["type"][0]["text"], "occurred_on": e["period"]["start"][:10]}
            for e in of_type(resources, "Encounter", person)
        ]
        assert records["conditions"] == [
            {
                "code": next(c["code"] for c in r["code"]["coding"] if c["system"] == SNOMED),
                "onset": r["onsetDateTime"],
            }
            for r in of_type(resources, "Condition", person)
        ]
        assert records["assessments"] == [
            {"outcome": r["valueCodeableConcept"]["text"]}
            for r in of_type(resources, "Observation", person)
        ]
        assert records["care_packages"] == [
            {"service": r["title"]} for r in of_type(resources, "CarePlan", person)
        ]
        assert records["community_episodes"] == [
            {"clinician": r["careManager"]["display"]}
            for r in of_type(resources, "EpisodeOfCare", person)
        ]


async def test_people_with_different_permitted_items_get_separate_searches(
    connector: FhirConnector, server: FhirServer, population: Population
) -> None:
    chosen = people(population, 5)
    first = tuple(p.nhs_number for p in chosen[:3])
    second = tuple(p.nhs_number for p in chosen[3:])
    request = FetchRequest(
        groups=(
            FetchGroup(first, frozenset({"timeline.kind", "demographics.given_name"})),
            FetchGroup(second, frozenset({"conditions.code"})),
        )
    )

    result = await connector.fetch(request)

    assert server.posts == 1
    asked = {
        (
            call.resource_type,
            call.param("identifier")[0]
            if call.resource_type == "Patient"
            else call.param("patient.identifier")[0],
        ): call.elements
        for call in server.calls
    }
    first_ids = ",".join(f"https://fhir.nhs.uk/Id/nhs-number|{n}" for n in first)
    second_ids = ",".join(f"https://fhir.nhs.uk/Id/nhs-number|{n}" for n in second)
    assert asked == {
        ("Patient", first_ids): {"identifier", "name"},
        ("Encounter", first_ids): {"subject", "type"},
        ("Patient", second_ids): {"identifier"},
        ("Condition", second_ids): {"subject", "code"},
    }
    assert {n: set(result[n]) for n in first} == {n: {"demographics", "timeline"} for n in first}
    assert {n: set(result[n]) for n in second} == {n: {"conditions"} for n in second}


async def test_many_patients_are_found_by_one_search_across_pages(
    server: FhirServer, population: Population, tmp_path: Path, resources: list[dict[str, Any]]
) -> None:
    assert server.base_url is not None
    connector = await open_connector(tmp_path, server.base_url, "page_size = 3")
    everyone = people(population)
    try:
        result = await connector.fetch(
            FetchRequest.single(
                tuple(p.nhs_number for p in everyone),
                frozenset({"timeline.kind", "demographics.given_name"}),
            )
        )
    finally:
        await connector.close()

    assert server.posts == 1
    patient_calls = [c for c in server.calls if c.resource_type == "Patient"]
    assert len(patient_calls) == len(everyone) // 3 + (len(everyone) % 3 > 0), "pages followed"
    assert [c.via for c in patient_calls] == ["batch"] + ["get"] * (len(patient_calls) - 1)
    assert patient_calls[0].param("identifier")[0].count("|") == len(everyone)
    assert {n: len(result[n]["timeline"]) for n in result} == {
        p.nhs_number: len(of_type(resources, "Encounter", p)) for p in everyone
    }


async def test_unknown_people_are_absent_and_non_nhs_ids_never_sent(
    connector: FhirConnector, server: FhirServer, population: Population
) -> None:
    known = people(population, 1)[0].nhs_number
    result = await connector.fetch(
        FetchRequest.single(
            ("9999999999", known, "CH-1234", "123,456|x"), frozenset({"timeline.kind"})
        )
    )
    assert set(result) == {known}
    (patients,) = [c for c in server.calls if c.resource_type == "Patient"]
    assert patients.param("identifier") == [
        f"https://fhir.nhs.uk/Id/nhs-number|9999999999,https://fhir.nhs.uk/Id/nhs-number|{known}"
    ]


async def test_items_the_agency_does_not_map_are_never_asked_for(
    connector: FhirConnector, server: FhirServer, population: Population
) -> None:
    request = FetchRequest.single(
        (people(population, 1)[0].nhs_number,), frozenset({"medications.name", "alerts.summary"})
    )
    assert await connector.fetch(request) == {}
    assert server.posts == 0 and server.calls == []


async def test_date_range_is_searched_and_applied_to_the_rows(
    connector: FhirConnector,
    server: FhirServer,
    population: Population,
    resources: list[dict[str, Any]],
) -> None:
    everyone = people(population)
    starts = sorted(
        e["period"]["start"][:10] for p in everyone for e in of_type(resources, "Encounter", p)
    )
    bounds = DateRange(
        date.fromisoformat(starts[len(starts) // 4]),
        date.fromisoformat(starts[3 * len(starts) // 4]),
    )
    assert bounds.start is not None and bounds.end is not None and bounds.start < bounds.end
    items = frozenset({"timeline.occurred_on", "timeline.kind"})

    result = await connector.fetch(
        FetchRequest.single(tuple(p.nhs_number for p in everyone), items, {"timeline": bounds})
    )

    (encounters,) = [c for c in server.calls if c.resource_type == "Encounter"]
    assert encounters.param("date") == [f"ge{bounds.start}", f"le{bounds.end}"]
    expected = {
        p.nhs_number: [
            {"occurred_on": e["period"]["start"][:10], "kind": e["type"][0]["text"]}
            for e in of_type(resources, "Encounter", p)
            if bounds.contains(e["period"]["start"])
        ]
        for p in everyone
    }
    assert {n: records["timeline"] for n, records in result.items()} == expected
    returned = sum(len(rows) for rows in expected.values())
    assert 0 < returned < len(starts)


async def test_get_mode_sends_one_get_per_search(
    server: FhirServer, population: Population, tmp_path: Path
) -> None:
    assert server.base_url is not None
    connector = await open_connector(tmp_path, server.base_url, 'search = "get"')
    try:
        result = await connector.fetch(
            FetchRequest.single(
                (people(population, 1)[0].nhs_number,),
                frozenset({"timeline.kind", "conditions.code"}),
            )
        )
    finally:
        await connector.close()
    assert server.posts == 0
    assert sorted((c.via, c.resource_type) for c in server.calls) == [
        ("get", "Condition"),
        ("get", "Encounter"),
        ("get", "Patient"),
    ]
    assert len(result) == 1


async def test_check_passes_against_the_server(connector: FhirConnector) -> None:
    check = await connector.check()
    assert check.ok and check.reachable, check
    assert "FHIR 4.0.1" in check.detail


async def test_check_names_the_items_whose_resource_type_is_not_offered(
    resources: list[dict[str, Any]], tmp_path: Path
) -> None:
    async with FhirServer(
        resources,
        offered=("Patient", "Encounter", "Condition", "CarePlan", "EpisodeOfCare"),
        batch=False,
    ) as limited:
        assert limited.base_url is not None
        connector = await open_connector(tmp_path, limited.base_url)
        try:
            check = await connector.check()
        finally:
            await connector.close()
    assert check.reachable and not check.ok
    keys = sorted(problem.key for problem in check.problems)
    assert keys == ['items."assessments.assessor"', "source.search"]
    assert "Observation" in str(check.problems[0]) or "Observation" in str(check.problems[1])


async def test_an_outage_is_an_agency_error_and_a_failed_check(
    connector: FhirConnector, server: FhirServer, population: Population
) -> None:
    server.fail_with(500)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(
            FetchRequest.single(
                (people(population, 1)[0].nhs_number,), frozenset({"timeline.kind"})
            )
        )
    assert type(caught.value) is ConnectorError
    assert "HTTP 500" in str(caught.value)
    check = await connector.check()
    assert check.reachable and not check.ok
    assert "HTTP 500" in check.detail


async def test_an_element_that_is_a_structure_is_refused_precisely(
    server: FhirServer, population: Population, tmp_path: Path
) -> None:
    assert server.base_url is not None
    agency = write_agency(
        tmp_path, agency_text(server.base_url, items={"timeline.kind": "Encounter.type"})
    )
    connector = create_connector(agency)
    await connector.open()
    try:
        with pytest.raises(
            ConnectorError, match=r"Encounter\.type \(mapped to timeline\.kind\) is a structure"
        ):
            await connector.fetch(
                FetchRequest.single(
                    (people(population, 1)[0].nhs_number,), frozenset({"timeline.kind"})
                )
            )
    finally:
        await connector.close()


# --------------------------------------------------------------------------- hostile servers


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Hostile:
    """Small aiohttp servers answering the batch POST however a test says."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._runners: list[web.AppRunner] = []
        self._connectors: list[FhirConnector] = []
        self.release = asyncio.Event()

    async def connector(
        self, handler: Handler, *source_lines: str, timeout_seconds: float | None = None
    ) -> FhirConnector:
        """An open connector for the template agency, pointed at a server running ``handler``."""
        app = web.Application()
        app.router.add_post("/", handler)
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        built = await open_connector(
            self._tmp_path,
            base_url,
            *source_lines,
            timeout_seconds=timeout_seconds,
            name=f"h{len(self._runners)}",
        )
        self._connectors.append(built)
        return built

    async def close(self) -> None:
        """Close every connector, let hanging handlers go, stop every server."""
        self.release.set()
        for built in self._connectors:
            await built.close()
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    """A factory of hostile servers, all stopped afterwards."""
    servers = Hostile(tmp_path)
    try:
        yield servers
    finally:
        await servers.close()


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle of these resources."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def batch_of(*bundles: dict[str, Any]) -> Handler:
    """A handler answering every batch with these searchset Bundles, in order."""

    async def handler(request: web.Request) -> web.StreamResponse:
        entries = [{"resource": b, "response": {"status": "200 OK"}} for b in bundles]
        return web.json_response(
            {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
        )

    return handler


def patient(pid: str, nhs: str, given: str) -> dict[str, Any]:
    """A Patient with an NHS number and a given name."""
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": nhs}],
        "name": [{"use": "official", "given": [given]}],
    }


def encounter(pid: str, kind: str, start: str) -> dict[str, Any]:
    """An Encounter of a patient."""
    return {
        "resourceType": "Encounter",
        "id": f"{pid}-{kind}",
        "subject": {"reference": f"Patient/{pid}"},
        "type": [{"text": kind}],
        "period": {"start": start},
    }


TIMELINE = frozenset({"timeline.kind", "demographics.given_name"})


async def test_people_and_rows_not_asked_for_are_ignored(hostile: Hostile) -> None:
    connector = await hostile.connector(
        batch_of(
            searchset(
                patient("a", "9000000001", "Asked"),
                patient("b", "9000000002", "Pushed"),
                {"resourceType": "Patient", "id": "c", "name": [{"given": ["No identifier"]}]},
            ),
            searchset(
                encounter("a", "visit", "2025-01-02"),
                encounter("b", "pushed visit", "2025-01-03"),
                encounter("z", "nobody's", "2025-01-04"),
                {**encounter("a", "wrong type", "2025-01-05"), "resourceType": "Condition"},
            ),
        )
    )
    result = await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))
    assert result == {
        "9000000001": {
            "demographics": [{"given_name": "Asked"}],
            "timeline": [{"kind": "visit"}],
        }
    }


async def test_a_next_link_elsewhere_is_refused(hostile: Hostile) -> None:
    connector = await hostile.connector(
        batch_of(
            searchset(
                patient("a", "9000000001", "A"), next_url="http://elsewhere.invalid/Patient?p=2"
            ),
            searchset(),
        )
    )
    with pytest.raises(ConnectorError, match="outside"):
        await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))


async def test_a_failed_search_inside_the_batch_is_reported_with_its_diagnostics(
    hostile: Hostile,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        failed = {
            "response": {
                "status": "400 Bad Request",
                "outcome": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {
                            "severity": "error",
                            "code": "invalid",
                            "diagnostics": "chained search not supported",
                        }
                    ],
                },
            }
        }
        ok = {"resource": searchset(), "response": {"status": "200 OK"}}
        return web.json_response(
            {"resourceType": "Bundle", "type": "batch-response", "entry": [ok, failed]}
        )

    connector = await hostile.connector(handler)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))
    message = str(caught.value)
    assert "Encounter search (timeline)" in message
    assert "HTTP 400" in message and "chained search not supported" in message


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad Gateway</body></html>",
        b'{"resourceType": "Bundle", "type": "batch-response", "entry": [',
        b"",
        b'{"resourceType": "Bundle", "type": "searchset", "entry": []}',
        b'{"resourceType": "Bundle", "type": "batch-response", "entry": []}',
        b'{"resourceType": "Bundle", "type": "batch-response", "entry": ['
        b'{"response": {"status": "200 OK"}, "resource": {"resourceType": "Patient"}}, {}]}',
        b"[]",
    ],
    ids=[
        "html",
        "truncated",
        "empty",
        "not-batch-response",
        "too-few-entries",
        "entry-not-a-bundle",
        "list",
    ],
)
async def test_garbage_is_agency_error(hostile: Hostile, body: bytes) -> None:
    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/fhir+json")

    connector = await hostile.connector(garbage)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))
    assert type(caught.value) is ConnectorError
    assert caught.value.code == "AGENCY_ERROR"


async def test_body_over_the_cap_is_agency_error(hostile: Hostile) -> None:
    padding = "x" * 5000

    async def large(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"resourceType": "Bundle", "type": "batch-response", "padding": padding}
        )

    connector = await hostile.connector(large, "max_response_bytes = 1024")
    with pytest.raises(ConnectorError, match="1024-byte cap"):
        await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))


async def test_connection_refused_is_agency_unavailable(tmp_path: Path) -> None:
    connector = await open_connector(tmp_path, f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(AgencyUnavailable) as caught:
            await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))
        check = await connector.check()
    finally:
        await connector.close()
    assert caught.value.code == "AGENCY_UNAVAILABLE"
    assert not check.ok and not check.reachable


async def test_hang_beyond_the_timeout_is_agency_timeout(hostile: Hostile) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        # Deliberately slow: answers after 2 s, or when the test is over.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hostile.release.wait(), timeout=2.0)
        return web.json_response({})

    connector = await hostile.connector(hang, timeout_seconds=0.3)
    with pytest.raises(AgencyTimeout) as caught:
        await connector.fetch(FetchRequest.single(("9000000001",), TIMELINE))
    assert caught.value.code == "AGENCY_TIMEOUT"
    assert "0.3s" in str(caught.value)
    check = await connector.check()
    assert not check.ok and not check.reachable


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        ({"resourceType": "Patient"}, "not a CapabilityStatement"),
        ({"resourceType": "CapabilityStatement", "fhirVersion": "5.0.0"}, "FHIR 5.0.0"),
    ],
)
async def test_check_refuses_what_is_not_an_r4_server(
    hostile: Hostile, statement: dict[str, Any], detail: str
) -> None:
    async def metadata(request: web.Request) -> web.StreamResponse:
        return web.json_response(statement)

    connector = await hostile.connector(metadata)
    check = await connector.check()
    assert check.reachable and not check.ok
    assert detail in check.detail
