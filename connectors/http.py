"""The ``http`` connector: an agency's own REST API returning JSON.

One GET per fetch carries the batch of local ids and a projection naming the
agency's own fields for the permitted items only, so the agency never sends
what the gateway may not show. The agency file maps each catalogue item to a
JSON path in the agency's person object: ``care_team.lead`` for a single
record, ``flags[].level`` for a field of each element of a list.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
)
from connectors.http_check import AnsweredStatus, answer_problem, unreachable
from connectors.values import coerce
from gateway.core import tracing
from gateway.core.catalogue import Catalogue, ValueKind, parsing_catalogue, record_set_of
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

_SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SOURCE_KEYS = {
    "base_url",
    "path",
    "ids_param",
    "fields_param",
    "results_key",
    "id_field",
    "date_from_param",
    "date_to_param",
    "token_env",
    "max_response_bytes",
}


@dataclass(frozen=True)
class JsonPath:
    """Where an item lives in the agency's person object.

    ``list_key`` is set for many-row record sets (``flags`` in ``flags[].level``);
    ``path`` is then relative to each element.
    """

    raw: str
    list_key: str | None
    path: tuple[str, ...]


@dataclass(frozen=True)
class HttpSource:
    """The validated ``[source]`` and ``[items]`` of an http agency."""

    base_url: str
    path: str
    ids_param: str
    fields_param: str
    results_key: str
    id_field: str
    date_from_param: str | None
    date_to_param: str | None
    token_env: str | None
    max_response_bytes: int
    items: Mapping[str, JsonPath]

    @property
    def endpoint(self) -> str:
        """The full URL of the people endpoint."""
        return self.base_url.rstrip("/") + self.path


class HttpKind:
    """Parses http agency files and builds their connectors."""

    name = "http"

    def parse_source(
        self,
        doc: Mapping[str, Any],
        config_dir: Path,
        problems: Problems,
    ) -> HttpSource | None:
        """Validate the http-specific parts of an agency file."""
        del config_dir  # an http source has no paths to resolve
        source = doc.get("source")
        if not isinstance(source, dict):
            problems.add(
                "source",
                "is missing",
                'Add [source] with base_url = "https://api.agency.example" and path = "/people".',
            )
            return None
        if "tables" in doc:
            problems.add(
                "tables", "is for sql agencies", "Remove it; an http agency maps JSON paths."
            )
        ok = True
        for key in sorted(set(source) - _SOURCE_KEYS):
            hint = (
                'Secrets never go in agency files: write token_env = "FAME_<AGENCY>_TOKEN" and '
                "set that variable."
                if key in {"token", "password", "api_key", "secret"}
                else f"Remove it; an http source takes: {', '.join(sorted(_SOURCE_KEYS))}."
            )
            problems.add(f"source.{key}", "is not a key an http source takes", hint)
            ok = False
        base_url = source.get("base_url")
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in {"http", "https"} or not parts.hostname:
            problems.add(
                "source.base_url",
                f"is {base_url!r}, which is not an http(s) URL",
                'Write e.g. base_url = "https://api.agency.example".',
            )
            ok = False
        elif parts.password or parts.username:
            problems.add(
                "source.base_url",
                "holds credentials written inline",
                'Remove them; write token_env = "FAME_<AGENCY>_TOKEN" and set that variable.',
            )
            ok = False
        elif parts.query or parts.fragment:
            problems.add(
                "source.base_url", "has a query or fragment", "Write only scheme, host and path."
            )
            ok = False
        strings: dict[str, str | None] = {}
        defaults = {
            "path": "/people",
            "ids_param": "ids",
            "fields_param": "fields",
            "results_key": "results",
            "id_field": "id",
            "date_from_param": None,
            "date_to_param": None,
            "token_env": None,
        }
        for key, default in defaults.items():
            value = source.get(key, default)
            if value is not None and (not isinstance(value, str) or not value):
                problems.add(f"source.{key}", f"is {value!r}", "Write a non-empty string.")
                ok = False
                continue
            strings[key] = value
        path = strings["path"] or "/"
        if not path.startswith("/"):
            problems.add("source.path", f"is {path!r}", f'Start it with a slash: "/{path}".')
            ok = False
        # The variable itself is read when the connector opens: commands that never call
        # the agency run where its token is not set.
        token_env = strings["token_env"]
        cap = source.get("max_response_bytes", 10 * 1024 * 1024)
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1024:
            problems.add(
                "source.max_response_bytes", f"is {cap!r}", "Write a whole number of bytes >= 1024."
            )
            ok = False
        items = self._parse_items(doc.get("items"), problems, parsing_catalogue())
        if not ok or items is None:
            return None
        assert isinstance(base_url, str) and isinstance(cap, int)
        return HttpSource(
            base_url=base_url,
            path=path,
            ids_param=strings["ids_param"] or "ids",
            fields_param=strings["fields_param"] or "fields",
            results_key=strings["results_key"] or "results",
            id_field=strings["id_field"] or "id",
            date_from_param=strings["date_from_param"],
            date_to_param=strings["date_to_param"],
            token_env=token_env,
            max_response_bytes=cap,
            items=items,
        )

    def create(self, agency: AgencyConfig) -> HttpConnector:
        """A connector for a validated agency."""
        return HttpConnector(agency)

    @staticmethod
    def _parse_items(
        raw: Any, problems: Problems, catalogue: Catalogue
    ) -> dict[str, JsonPath] | None:
        if not isinstance(raw, dict):
            return None
        items: dict[str, JsonPath] = {}
        list_of_set: dict[str, tuple[str | None, str]] = {}
        ok = True
        for item, target in raw.items():
            if item not in catalogue.items:
                ok = False
                continue
            where = f'items."{item}"'
            many = catalogue.record_sets_by_name[record_set_of(item)].many
            parsed = _parse_path(target) if isinstance(target, str) else None
            if parsed is None:
                problems.add(
                    where,
                    f"is {target!r}, which is not a JSON path",
                    'Write dotted keys, e.g. "care_team.lead", or "flags[].level" for lists.',
                )
                ok = False
                continue
            if many and parsed.list_key is None:
                problems.add(
                    where,
                    f"belongs to {record_set_of(item)!r}, which has many rows per person",
                    'Point it into a list, e.g. "flags[].level".',
                )
                ok = False
                continue
            if not many and parsed.list_key is not None:
                problems.add(
                    where,
                    f"belongs to {record_set_of(item)!r}, which has one row per person",
                    'Point it at a single value, e.g. "care_team.lead".',
                )
                ok = False
                continue
            rs = record_set_of(item)
            first = list_of_set.setdefault(rs, (parsed.list_key, item))
            if first[0] != parsed.list_key:
                problems.add(
                    where,
                    f"reads list {parsed.list_key!r} but {first[1]!r} reads {first[0]!r}",
                    "Map every item of one record set into the same list.",
                )
                ok = False
                continue
            items[item] = parsed
        return items if ok else None


def _parse_path(raw: str) -> JsonPath | None:
    list_key: str | None = None
    rest = raw
    if "[]" in raw:
        head, sep, tail = raw.partition("[].")
        if not sep or "[]" in tail or not _SEGMENT.match(head):
            return None
        list_key, rest = head, tail
    segments = tuple(rest.split("."))
    if not all(_SEGMENT.match(segment) for segment in segments):
        return None
    return JsonPath(raw=raw, list_key=list_key, path=segments)


def _dig(value: Any, path: tuple[str, ...]) -> tuple[bool, object]:
    for segment in path:
        if not isinstance(value, dict) or segment not in value:
            return False, None
        value = value[segment]
    return True, value


class HttpConnector:
    """Reads an agency's REST API with one aiohttp session for the connector's life."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: HttpSource = agency.source
        self._catalogue = agency.catalogue
        self._session: aiohttp.ClientSession | None = None

    @property
    def agency_id(self) -> str:
        """The agency this connector reads from."""
        return self._agency.id

    async def open(self) -> None:
        """Open the connector's HTTP session."""
        if self._session is None:
            headers = {"Accept": "application/json"}
            if self._source.token_env:
                headers["Authorization"] = f"Bearer {self._token(self._source.token_env)}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=self._agency.timeout_seconds,
                    sock_connect=self._agency.resilience.connect_timeout_seconds,
                ),
                connector=aiohttp.TCPConnector(limit=self._agency.resilience.max_concurrent_calls),
            )

    def _token(self, variable: str) -> str:
        token = os.environ.get(variable)
        if not token:
            raise ConfigError(
                self._agency.file,
                "source.token_env",
                f"names the environment variable {variable}, which is not set",
                f"Set {variable} to the agency's API token (export {variable}=...) where the "
                "gateway runs `serve` or `agency check`; commands that do not call the agency "
                "run without it.",
            )
        return token

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """One GET per distinct projection (normally one), each for its people only."""
        batches: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for group in request.groups:
            wanted = tuple(sorted(item for item in group.items if item in self._source.items))
            if wanted and group.local_ids:
                batches[wanted].extend(group.local_ids)
        result: FetchResult = {}
        for wanted, local_ids in batches.items():
            result.update(await self._fetch_batch(local_ids, list(wanted), request.ranges))
        return result

    async def _fetch_batch(
        self, local_ids: list[str], wanted: list[str], ranges: Mapping[str, DateRange]
    ) -> FetchResult:
        params = {
            self._source.ids_param: ",".join(local_ids),
            self._source.fields_param: ",".join(
                dict.fromkeys(self._source.items[item].raw for item in wanted)
            ),
        }
        date_range = self._date_range(ranges, wanted)
        if date_range is not None:
            if date_range.start is not None and self._source.date_from_param:
                params[self._source.date_from_param] = date_range.start.isoformat()
            if date_range.end is not None and self._source.date_to_param:
                params[self._source.date_to_param] = date_range.end.isoformat()
        body = await self._get(params)
        return self._parse(body, set(local_ids), wanted, ranges)

    def _date_range(self, ranges: Mapping[str, DateRange], wanted: list[str]) -> DateRange | None:
        for rs_name in {record_set_of(item) for item in wanted}:
            if self._catalogue.record_sets_by_name[rs_name].date_field is not None:
                bounds = ranges.get(rs_name)
                if bounds is not None and not bounds.open:
                    return bounds
        return None

    async def _get(self, params: Mapping[str, str]) -> Any:
        if self._session is None:
            raise AgencyUnavailable(self.agency_id, f"{self._agency.name}'s connector is closed")
        name = self._agency.name
        cap = self._source.max_response_bytes
        try:
            # The agency call's span continues in the agency's own traces (W3C traceparent).
            async with self._session.get(
                self._source.endpoint, params=params, headers=tracing.headers()
            ) as response:
                if response.status != 200:
                    raise AnsweredStatus(self.agency_id, name, response.status, response.reason)
                if response.content_length is not None and response.content_length > cap:
                    raise ConnectorError(
                        self.agency_id, f"{name} sent a body larger than the {cap}-byte cap"
                    )
                buffer = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    buffer += chunk
                    if len(buffer) > cap:
                        raise ConnectorError(
                            self.agency_id, f"{name} sent a body larger than the {cap}-byte cap"
                        )
                raw = bytes(buffer)
        except TimeoutError as exc:
            raise AgencyTimeout(
                self.agency_id, f"{name} did not answer within {self._agency.timeout_seconds:g}s"
            ) from exc
        except aiohttp.ClientConnectionError as exc:
            if isinstance(exc, aiohttp.ServerTimeoutError):
                raise AgencyTimeout(
                    self.agency_id,
                    f"{name} did not answer within {self._agency.timeout_seconds:g}s",
                ) from exc
            if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
                raise ConnectorError(self.agency_id, f"{name} sent a truncated answer") from exc
            raise AgencyUnavailable(self.agency_id, f"{name} could not be reached") from exc
        except aiohttp.ClientPayloadError as exc:
            raise ConnectorError(self.agency_id, f"{name} sent a truncated answer") from exc
        except aiohttp.ClientError as exc:
            raise ConnectorError(self.agency_id, f"{name}'s answer could not be read") from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(self.agency_id, f"{name} sent an answer that is not JSON") from exc

    def _parse(
        self,
        body: Any,
        asked: set[str],
        wanted: list[str],
        ranges: Mapping[str, DateRange],
    ) -> FetchResult:
        name = self._agency.name
        people = body.get(self._source.results_key) if isinstance(body, dict) else None
        if not isinstance(people, list):
            raise ConnectorError(
                self.agency_id,
                f"{name}'s answer has no {self._source.results_key!r} list",
            )
        by_set: dict[str, list[tuple[str, ValueKind, JsonPath]]] = defaultdict(list)
        for item in wanted:
            by_set[record_set_of(item)].append(
                (
                    self._catalogue.items[item].field,
                    self._catalogue.items[item].kind,
                    self._source.items[item],
                )
            )
        result: FetchResult = {}
        for person in people:
            if not isinstance(person, dict):
                raise ConnectorError(self.agency_id, f"{name}'s answer holds a non-object person")
            local_id = person.get(self._source.id_field)
            if local_id is None or str(local_id) not in asked:
                # Only ids we asked for are accepted: an agency cannot push other people at us.
                continue
            records: dict[str, list[Row]] = {}
            for rs_name, fields in by_set.items():
                spec = self._catalogue.record_sets_by_name[rs_name]
                list_key = fields[0][2].list_key
                if list_key is None:
                    row: Row = {}
                    present = False
                    for field, kind, path in fields:
                        found, value = _dig(person, path.path)
                        present = present or found
                        row[field] = coerce(kind, value)
                    if present:
                        records[rs_name] = [row]
                    continue
                elements = person.get(list_key)
                if elements is None:
                    continue
                if not isinstance(elements, list):
                    raise ConnectorError(self.agency_id, f"{name}'s {list_key!r} is not a list")
                rows: list[Row] = []
                bounds = ranges.get(rs_name)
                for element in elements:
                    row = {
                        field: coerce(kind, _dig(element, path.path)[1])
                        for field, kind, path in fields
                    }
                    if (
                        bounds is not None
                        and spec.date_field is not None
                        and spec.date_field in row
                        and not bounds.contains(row[spec.date_field])
                    ):
                        continue
                    rows.append(row)
                records[rs_name] = rows
            result[str(local_id)] = records
        return result

    async def check(self) -> SourceCheck:
        """Ask the API for no one, with every mapped field: it must answer with the list.

        Each failure is told apart (token variable unset, host unknown or refusing, no
        such endpoint, token refused, no results list) with the key to fix.
        """
        if self._session is None:
            try:
                await self.open()
            except ConfigError as exc:
                return SourceCheck(
                    self.agency_id, ok=False, reachable=False, detail=exc.problem, cause=exc
                )
        params = {
            self._source.ids_param: "",
            self._source.fields_param: ",".join(
                sorted({path.raw for path in self._source.items.values()})
            ),
        }
        try:
            body = await self._get(params)
        except (AgencyTimeout, AgencyUnavailable) as exc:
            cause = unreachable(self._agency.file, self._source.endpoint, exc)
            return SourceCheck(
                self.agency_id, ok=False, reachable=False, detail=str(exc), cause=cause
            )
        except ConnectorError as exc:
            problem = answer_problem(
                self._agency.file, self._source.endpoint, self._source.token_env, exc
            )
            # No such endpoint is a broken registration (it stops the gateway's start);
            # an outage or a refused token may pass, and is the source's state for now.
            wrong_path = isinstance(exc, AnsweredStatus) and exc.status in (404, 405)
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=str(exc),
                problems=(problem,) if wrong_path else (),
                cause=None if wrong_path else problem,
            )
        reached = f"{self._source.endpoint} answered"
        if not isinstance(body, dict) or not isinstance(body.get(self._source.results_key), list):
            return SourceCheck(
                self.agency_id,
                ok=False,
                reachable=True,
                detail=f"the answer has no {self._source.results_key!r} list",
                problems=(
                    ConfigError(
                        self._agency.file,
                        "source.results_key",
                        f"is {self._source.results_key!r}, but the answer of "
                        f"{self._source.endpoint} has no such list",
                        "Write the key under which the API lists people (results_key), or "
                        "check path: it must be the endpoint that looks people up by id.",
                    ),
                ),
                passed=(reached,),
            )
        return SourceCheck(
            self.agency_id,
            ok=True,
            reachable=True,
            detail=f"{len(self._source.items)} items at {self._source.endpoint}",
            passed=(reached, f"the answer lists people under {self._source.results_key!r}"),
        )
