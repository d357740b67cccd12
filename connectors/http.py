"""The ``http`` connector: an agency's own REST API returning JSON.

One GET per fetch carries the batch of local ids and a projection naming the
agency's own fields for the permitted items only, so the agency never sends
what the gateway may not show. The agency file maps each catalogue item to a
JSON path in the agency's person object: ``care_team.lead`` for a single
record, ``flags[].level`` for a field of each element of a list.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from yarl import URL

from connectors.base import (
    AgencyTimeout,
    AgencyUnavailable,
    ConnectorError,
    DateRange,
    FetchRequest,
    FetchResult,
    SourceCheck,
)
from connectors.http_check import AnsweredStatus, answer_problem, unreachable
from connectors.http_config import HttpSource, parse_http_source
from connectors.http_read import Caller, agency_session, read_capped, transport_error
from connectors.http_shape import Shape, date_range, read_people, shape_of
from gateway.core import tracing
from gateway.core.errors import ConfigError, Problems
from gateway.core.registration import AgencyConfig

#: How many projections a connector keeps worked out (each a few small tuples).
_SHAPES_KEPT = 64


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
        return parse_http_source(doc, problems)

    def create(self, agency: AgencyConfig) -> HttpConnector:
        """A connector for a validated agency."""
        return HttpConnector(agency)


class HttpConnector:
    """Reads an agency's REST API with one aiohttp session for the connector's life."""

    def __init__(self, agency: AgencyConfig) -> None:
        self._agency = agency
        self._source: HttpSource = agency.source
        self._catalogue = agency.catalogue
        self._session: aiohttp.ClientSession | None = None
        self._caller = Caller(
            agency.id, agency.name, agency.timeout_seconds, self._source.max_response_bytes
        )
        self._url = URL(self._source.endpoint)
        #: Items asked for together (sorted) -> how to ask and read: a handful of sets in
        #: practice; bounded all the same.
        self._shapes: dict[tuple[str, ...], Shape] = {}

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
            self._session = agency_session(self._agency, headers)

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
            result.update(await self._fetch_batch(local_ids, wanted, request.ranges))
        return result

    async def _fetch_batch(
        self, local_ids: list[str], wanted: tuple[str, ...], ranges: Mapping[str, DateRange]
    ) -> FetchResult:
        shape = self._shape(wanted)
        source = self._source
        params = {source.ids_param: ",".join(local_ids), source.fields_param: shape.fields_param}
        bounds = date_range(shape, ranges) if ranges else None
        if bounds is not None:
            if bounds.start is not None and source.date_from_param:
                params[source.date_from_param] = bounds.start.isoformat()
            if bounds.end is not None and source.date_to_param:
                params[source.date_to_param] = bounds.end.isoformat()
        body = await self._get(params)
        return read_people(
            body, shape, set(local_ids), ranges, source, self.agency_id, self._agency.name
        )

    def _shape(self, wanted: tuple[str, ...]) -> Shape:
        found = self._shapes.get(wanted)
        if found is None:
            if len(self._shapes) >= _SHAPES_KEPT:
                self._shapes.clear()
            found = self._shapes[wanted] = shape_of(self._source, self._catalogue, wanted)
        return found

    async def _get(self, params: Mapping[str, str]) -> Any:
        if self._session is None:
            raise AgencyUnavailable(self.agency_id, f"{self._agency.name}'s connector is closed")
        try:
            # The agency call's span continues in the agency's own traces (W3C traceparent).
            async with self._session.get(
                self._url, params=params, headers=tracing.headers()
            ) as response:
                if response.status != 200:
                    raise AnsweredStatus(
                        self.agency_id, self._agency.name, response.status, response.reason
                    )
                raw = await read_capped(response, self._caller)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(exc, self._caller) from exc
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(
                self.agency_id, f"{self._agency.name} sent an answer that is not JSON"
            ) from exc

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
