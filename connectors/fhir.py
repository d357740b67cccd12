"""The ``fhir`` connector: an agency's FHIR R4 server, read with FHIR searches.

An agency file of kind ``fhir`` maps each catalogue item to an element path
(``connectors.fhir_paths``) in one of the resource types Patient, Encounter,
Condition, Observation, CarePlan and EpisodeOfCare::

    kind = "fhir"

    [source]
    base_url = "https://fhir.trust.example/R4"
    search = "batch"                 # or "get": one GET per search, sent concurrently
    page_size = 500                  # _count of every search
    max_response_bytes = 10485760

    [source.auth]                    # SMART Backend Services (connectors.fhir_auth)
    token_url = "https://auth.trust.example/token"
    client_id = "fame-gateway"
    private_key_file = "keys/fame-gateway-fhir.pem"
    key_id = "fame-gateway-2026-1"
    algorithm = "RS384"              # or "ES384"
    scope = "system/Patient.read system/Encounter.read"

    [items]
    "demographics.given_name" = "Patient.name.given"
    "timeline.occurred_on" = "Encounter.period.start"
    "conditions.code" = "Condition.code.coding.where(system='http://snomed.info/sct').code"

One-row record sets (demographics, involvement, ...) come from the Patient; a
many-row record set takes one row per resource of its one resource type.

The agency's local id for a person is their NHS number. One fetch is one FHIR
``batch`` Bundle POSTed to the base URL: per group of people with the same permitted
items, ``Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|A,...|B`` and one
search per many-row record set by ``patient.identifier`` (chained), each with
``_elements`` naming only the elements those items need, plus the element that
links the answer to the person (Patient ``identifier``, the others' patient
reference), and the record set's date range where its date is searchable. Answers
for NHS numbers not asked for are ignored. See docs/fhir-agencies.md.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    ConnectorError,
    DateRange,
    FetchRequest,
    FetchResult,
    Row,
    SourceCheck,
    outside,
)
from connectors.fhir_auth import TokenSource, load_signing_key
from connectors.fhir_config import FhirSource, parse_fhir_source
from connectors.fhir_http import Answer, exchange, outcome_text
from connectors.fhir_paths import DATE_PARAMS, PATIENT_ELEMENT
from connectors.fhir_search import NHS_NUMBER_SYSTEM, Search, plan_searches
from connectors.http_read import Caller, agency_session
from connectors.values import coerce
from gateway.core import tracing
from gateway.core.catalogue import ValueKind
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

#: Pages followed per search before the answer is refused as unbounded.
_MAX_PAGES = 50


class FhirKind:
    """Parses fhir agency files and builds their connectors."""

    name = "fhir"

    def parse_source(
        self, doc: Mapping[str, Any], config_dir: Path, problems: Problems
    ) -> FhirSource | None:
        """Validate the fhir-specific parts of an agency file (the key file is not read)."""
        return parse_fhir_source(doc, config_dir, problems)

    def create(self, agency: AgencyConfig) -> FhirConnector:
        """A connector for a validated agency."""
        return FhirConnector(agency)


class FhirConnector:
    """Reads an agency's FHIR R4 server with one aiohttp session for the connector's life."""

    def __init__(self, agency: AgencyConfig, *, clock: Callable[[], float] | None = None) -> None:
        self._agency = agency
        self._source: FhirSource = agency.source
        self._caller = Caller(
            agency.id, agency.name, agency.timeout_seconds, self._source.max_response_bytes
        )
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._tokens: TokenSource | None = None

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    async def open(self) -> None:
        """Read the signing key (ConfigError if unusable) and open the HTTP session."""
        if self._session is not None:
            return
        auth = self._source.auth
        if auth is not None:
            key = load_signing_key(auth, self._agency.file)
            extra = {"clock": self._clock} if self._clock is not None else {}
            self._tokens = TokenSource(auth, key, self._caller, **extra)
        self._session = agency_session(self._agency)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ transport

    async def _call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: bytes | None = None,
        authorise: bool = True,
    ) -> Answer:
        """One FHIR call with the current access token; a 401 gets one fresh token and retry.

        ``authorise=False`` sends no token (``/metadata`` is public, and checking it must
        not depend on the token endpoint)."""
        if self._session is None:
            raise AgencyUnavailable(self.agency_id, f"{self._agency.name}'s connector is closed")
        session = self._session
        for attempt in (1, 2):
            headers = {"Accept": "application/fhir+json", **(tracing.headers() or {})}
            token = None
            if self._tokens is not None and authorise:
                token = await self._tokens.token(session)
                headers["Authorization"] = f"Bearer {token}"
            answer = await exchange(
                session, self._caller, method, url, what=what, headers=headers, json_body=body
            )
            if answer.status != 401 or token is None or self._tokens is None:
                return answer
            self._tokens.discard(token)
            if attempt == 2:
                detail = outcome_text(answer.body)
                raise ConnectorError(
                    self.agency_id,
                    f"{self._agency.name} refused a fresh access token for {what} (HTTP 401"
                    f"{': ' + detail if detail else ''}); check the scope granted to the "
                    "gateway's client",
                )
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ fetch

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """All searches of the request in one batch Bundle (or concurrent GETs)."""
        searches = plan_searches(
            self._source.items, request, self._source.page_size, self._agency.catalogue
        )
        if not searches:
            return {}
        bundles = await self._run(searches)
        result: FetchResult = {}
        # Per group, "Patient/<id>" -> NHS number, from the group's Patient search (read first).
        links: dict[int, dict[str, str]] = defaultdict(dict)
        for search, resources in zip(searches, bundles, strict=True):
            self._read(search, resources, request.ranges, result, links[search.group])
        return result

    async def _run(self, searches: list[Search]) -> list[list[dict[str, Any]]]:
        """Each search's matching resources, all pages followed."""
        if self._source.search == "get":
            firsts = await asyncio.gather(*(self._get_search(search) for search in searches))
        else:
            firsts = await self._batch(searches)
        return list(
            await asyncio.gather(
                *(
                    self._pages(search, first)
                    for search, first in zip(searches, firsts, strict=True)
                )
            )
        )

    async def _get_search(self, search: Search) -> Any:
        answer = await self._call(
            "GET", f"{self._source.base_url}/{search.url}", what=f"the {search.describe()}"
        )
        return self._searchset(search, answer.status, answer.body)

    async def _batch(self, searches: list[Search]) -> list[Any]:
        bundle = {
            "resourceType": "Bundle",
            "type": "batch",
            "entry": [{"request": {"method": "GET", "url": s.url}} for s in searches],
        }
        name = self._agency.name
        answer = await self._call(
            "POST", self._source.base_url, what="the batch search", body=orjson.dumps(bundle)
        )
        if answer.status != 200:
            detail = outcome_text(answer.body)
            raise ConnectorError(
                self.agency_id,
                f"{name} answered the batch search with HTTP {answer.status}"
                f"{': ' + detail if detail else ''}",
            )
        body = answer.body
        if (
            not isinstance(body, dict)
            or body.get("resourceType") != "Bundle"
            or body.get("type") != "batch-response"
        ):
            raise ConnectorError(
                self.agency_id, f"{name} answered the batch search with no batch-response Bundle"
            )
        entries = body.get("entry")
        if not isinstance(entries, list) or len(entries) != len(searches):
            raise ConnectorError(
                self.agency_id,
                f"{name}'s batch-response has {len(entries) if isinstance(entries, list) else 0} "
                f"entries for {len(searches)} searches",
            )
        firsts = []
        for search, entry in zip(searches, entries, strict=True):
            response = entry.get("response") if isinstance(entry, dict) else None
            status_text = str(response.get("status", "")) if isinstance(response, dict) else ""
            status = int(status_text[:3]) if status_text[:3].isdigit() else 0
            body_of = entry.get("resource") if isinstance(entry, dict) else None
            if status != 200 and isinstance(response, dict) and response.get("outcome"):
                body_of = response.get("outcome")
            firsts.append(self._searchset(search, status, body_of))
        return firsts

    def _searchset(self, search: Search, status: int, body: Any) -> dict[str, Any]:
        name = self._agency.name
        if status != 200:
            detail = outcome_text(body)
            raise ConnectorError(
                self.agency_id,
                f"{name} answered the {search.describe()} with "
                f"{f'HTTP {status}' if status else 'no status'}{': ' + detail if detail else ''}",
            )
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise ConnectorError(
                self.agency_id, f"{name} answered the {search.describe()} with no Bundle"
            )
        return body

    async def _pages(self, search: Search, first: dict[str, Any]) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = []
        page: dict[str, Any] | None = first
        for _ in range(_MAX_PAGES):
            assert page is not None
            resources.extend(self._matches(search, page))
            next_url = _next_link(page)
            if next_url is None:
                return resources
            if not next_url.startswith(self._source.base_url + "/"):
                # The token goes to the agency's base URL only, never to a link elsewhere.
                raise ConnectorError(
                    self.agency_id,
                    f"{self._agency.name}'s {search.describe()} links its next page outside "
                    f"{self._source.base_url}",
                )
            answer = await self._call("GET", next_url, what=f"the {search.describe()}")
            page = self._searchset(search, answer.status, answer.body)
        raise ConnectorError(
            self.agency_id,
            f"{self._agency.name}'s {search.describe()} ran past {_MAX_PAGES} pages",
        )

    def _matches(self, search: Search, bundle: dict[str, Any]) -> list[dict[str, Any]]:
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            raise ConnectorError(
                self.agency_id, f"{self._agency.name}'s {search.describe()} entries are not a list"
            )
        found = []
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            mode = (entry.get("search") or {}).get("mode", "match") if resource else None
            if (
                isinstance(resource, dict)
                and mode == "match"
                and resource.get("resourceType") == search.resource_type
            ):
                found.append(resource)
        return found

    # ------------------------------------------------------------------ answers

    def _read(
        self,
        search: Search,
        resources: list[dict[str, Any]],
        ranges: Mapping[str, DateRange],
        result: FetchResult,
        links: dict[str, str],
    ) -> None:
        """Turn one search's resources into rows of the people the search asked about."""
        if search.record_set is None:
            self._read_patients(search, resources, result, links)
            return
        rs_name = search.record_set
        date_field = self._agency.catalogue.record_sets_by_name[rs_name].date_field
        bounds = ranges.get(rs_name)
        link = PATIENT_ELEMENT[search.resource_type]
        for resource in resources:
            # Only rows of the Patients this search's group found: no one else's.
            nhs = links.get(_reference(resource.get(link)) or "")
            if nhs is None:
                continue
            row: Row = {
                self._agency.catalogue.items[item].field: self._value(resource, item)
                for item in search.items
            }
            if outside(row, date_field, bounds):
                continue
            result[nhs].setdefault(rs_name, []).append(row)

    def _read_patients(
        self,
        search: Search,
        patients: list[dict[str, Any]],
        result: FetchResult,
        links: dict[str, str],
    ) -> None:
        asked = set(search.nhs_numbers)
        for patient in patients:
            nhs = _nhs_number(patient, asked)
            if nhs is None:
                continue
            records = result.setdefault(nhs, {})
            rows: dict[str, Row] = defaultdict(dict)
            present: set[str] = set()
            for item in search.items:
                spec = self._agency.catalogue.items[item]
                value = self._value(patient, item)
                rows[spec.record_set][spec.field] = value
                if value is not None:
                    present.add(spec.record_set)
            for rs_name, row in rows.items():
                if rs_name in present:
                    records[rs_name] = [row]
            for rs_name in search.many_sets:
                records.setdefault(rs_name, [])
            links[f"Patient/{patient.get('id')}"] = nhs

    def _value(self, resource: Mapping[str, Any], item: str) -> object:
        path = self._source.items[item]
        kind = self._agency.catalogue.items[item].kind
        value = path.value(resource)
        if isinstance(value, dict | list):
            raise ConnectorError(
                self.agency_id,
                f"{self._agency.name}'s {path.raw} (mapped to {item}) is a structure, not a "
                "value: map a primitive element in the agency file",
            )
        if kind is ValueKind.DATE and isinstance(value, str) and len(value) > 10:
            value = value[:10]  # a dateTime's date, as recorded
        return coerce(kind, value)

    # ------------------------------------------------------------------ check

    async def check(self) -> SourceCheck:
        """The server answers /metadata as an R4 server offering every mapped search and (for
        search = "batch") batch; the token endpoint issues a token; an empty search works."""
        name = self._agency.name
        try:
            answer = await self._call(
                "GET",
                f"{self._source.base_url}/metadata",
                what="the /metadata request",
                authorise=False,
            )
        except (AgencyTimeout, AgencyUnavailable) as exc:
            return SourceCheck(self.agency_id, ok=False, reachable=False, detail=str(exc))
        except ConnectorError as exc:
            return SourceCheck(self.agency_id, ok=False, reachable=True, detail=str(exc))
        body = answer.body
        if answer.status != 200 or not isinstance(body, dict):
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=f"{name} answered /metadata with HTTP {answer.status}, not a "
                "CapabilityStatement",
            )
        if body.get("resourceType") != "CapabilityStatement":
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=f"{name}'s /metadata is not a CapabilityStatement",
            )
        version = str(body.get("fhirVersion", ""))
        if not version.startswith("4."):
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=f"{name} serves FHIR {version or '(no version)'}; this connector reads "
                "R4 (4.0.x, or 4.3 for R4B)",
            )
        problems = self._capability_problems(body)
        if problems:
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=f"{len(problems)} mapping problem(s) against {name}'s CapabilityStatement",
                problems=tuple(problems),
            )
        probe = Search.probe(self._source.page_size)
        try:
            await self._run([probe])
        except (AgencyTimeout, AgencyUnavailable) as exc:
            return SourceCheck(self.agency_id, ok=False, reachable=False, detail=str(exc))
        except ConnectorError as exc:
            return SourceCheck(self.agency_id, ok=False, reachable=True, detail=str(exc))
        authorised = " with a SMART backend token" if self._source.auth is not None else ""
        return SourceCheck(
            self.agency_id,
            ok=True,
            reachable=True,
            detail=f"{len(self._source.items)} items in "
            f"{len(self._source.resource_types)} resource types at "
            f"{self._source.base_url} (FHIR {version}){authorised}",
        )

    def _capability_problems(self, statement: Mapping[str, Any]) -> list[ConfigError]:
        file = self._agency.file
        server = next(
            (
                rest
                for rest in statement.get("rest") or []
                if isinstance(rest, dict) and rest.get("mode") == "server"
            ),
            {},
        )
        offered: dict[str, tuple[set[str], set[str]]] = {}
        for resource in server.get("resource") or []:
            if isinstance(resource, dict) and isinstance(resource.get("type"), str):
                offered[resource["type"]] = (
                    {str(i.get("code")) for i in resource.get("interaction") or []},
                    {str(p.get("name")) for p in resource.get("searchParam") or []},
                )
        problems: list[ConfigError] = []
        first_item: dict[str, str] = {}
        for item, path in sorted(self._source.items.items()):
            first_item.setdefault(path.resource_type, item)
        for resource_type in sorted(self._source.resource_types):
            key = (
                f'items."{first_item[resource_type]}"' if resource_type in first_item else "source"
            )
            interactions, params = offered.get(resource_type, (set(), set()))
            if "search-type" not in interactions:
                problems.append(
                    ConfigError(
                        file,
                        key,
                        f"reads {resource_type}, which the server does not offer for search",
                        "Map the item to a resource type the server's CapabilityStatement "
                        "(GET /metadata) lists with search-type, or remove it.",
                    )
                )
                continue
            needed = {"identifier"} if resource_type == "Patient" else {"patient"}
            needed |= {
                param
                for path in self._source.items.values()
                if path.resource_type == resource_type
                and (param := DATE_PARAMS.get((resource_type, path.element))) is not None
            }
            for param in sorted(needed - params):
                problems.append(
                    ConfigError(
                        file,
                        key,
                        f"needs the {resource_type} search parameter {param!r}, which the server "
                        "does not list",
                        "Ask the agency to support it, or map the item elsewhere.",
                    )
                )
        if self._source.search == "batch" and "batch" not in {
            str(i.get("code")) for i in server.get("interaction") or [] if isinstance(i, dict)
        }:
            problems.append(
                ConfigError(
                    file,
                    "source.search",
                    'is "batch", but the server does not list the batch interaction',
                    'Write search = "get" to send one GET per search instead.',
                )
            )
        return problems


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None


def _nhs_number(patient: Mapping[str, Any], asked: set[str]) -> str | None:
    for identifier in patient.get("identifier") or []:
        if (
            isinstance(identifier, dict)
            and identifier.get("system") == NHS_NUMBER_SYSTEM
            and identifier.get("value") in asked
        ):
            return str(identifier["value"])
    return None


def _reference(value: object) -> str | None:
    """``Patient/<id>`` from a reference, relative or absolute."""
    reference = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(reference, str):
        return None
    parts = reference.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else None
