"""The community health trust's own REST API, serving its part of the synthetic population.

The trust speaks its own JSON, not the catalogue's names::

    GET /api/v1/people?ids=CH-1,CH-2&fields=care_team.team,flags[].level&from=..&to=..

    {"people": [{"id": "CH-77120", "care_team": {"team": "..."}, "flags": [{"level": ".."}]}]}

``fields`` is required and is a comma list of dotted paths; a list is written
``flags[]`` and ``flags[].level`` projects each element. The answer holds only what
was asked for, plus each person's ``id``. ``from``/``to`` (inclusive ISO dates) filter
the ``contacts`` list. Unknown ids are left out; unknown fields are a 400.

The server records every people request in ``calls`` itself, so tests can count the
gateway's calls and measure their timing independently of the gateway's own figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from aiohttp import web

from fame_demo.local_server import LocalServer
from fame_demo.synthetic import COMMUNITY_HEALTH, UNSHARED_MARKER, Population, Row

#: Where the trust serves people.
PEOPLE_PATH = "/api/v1/people"

# The shape of one person document: a key ending "[]" is a list of objects, None a leaf.
Shape = Mapping[str, "Shape | None"]
_SHAPE: Shape = {
    "id": None,
    "patient": {"nhs_number": None, "name": None, "born": None},
    "care_team": {"team": None, "lead": None, "lead_role": None, "since": None, "state": None},
    "flags[]": {"type": None, "level": None, "date": None, "text": None},
    "assessments[]": {"tool": None, "date": None, "by": None, "summary": None, "result": None},
    "contacts[]": {"date": None, "type": None, "note": None, "staff": None},
    "episodes[]": {
        "service": None,
        "clinician": None,
        "start": None,
        "end": None,
        "next_visit": None,
    },
    "therapy[]": {"programme": None, "therapist": None, "goals": None, "review": None},
    "domains[]": {"area": None, "found": None, "plan": None, "by": None, "date": None},
    "clinical_notes": None,
}

# A parsed projection: key -> sub-projection, or None for the whole value.
Projection = dict[str, "Projection | None"]


@dataclass(frozen=True)
class ApiCall:
    """One request to the people endpoint, as the server saw it (time.monotonic times)."""

    started: float
    finished: float
    ids: tuple[str, ...]
    fields: tuple[str, ...]
    params: dict[str, str]
    status: int = 200
    #: The W3C trace context the caller sent, if any: the span this call belongs to.
    traceparent: str | None = None


@dataclass
class _State:
    """What the handlers share; mutable so tests can slow the trust down or break it."""

    documents: Mapping[str, dict[str, Any]]
    latency_seconds: float
    calls: list[ApiCall]
    failure_status: int | None = None


_STATE = web.AppKey("community_health_state", _State)


class BadRequest(ValueError):
    """A request the trust's API refuses with 400."""


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, date) else None


def person_document(population: Population, local_id: str) -> dict[str, Any]:
    """The trust's full JSON document about one person (before any projection)."""
    person = population.person_by_local_id(COMMUNITY_HEALTH, local_id)

    def rows(record_set: str) -> list[Row]:
        return population.rows(COMMUNITY_HEALTH, local_id, record_set)

    (team,) = rows("involvement")
    return {
        "id": local_id,
        "patient": {
            "nhs_number": person.nhs_number,
            "name": person.full_name,
            "born": person.date_of_birth.isoformat(),
        },
        "care_team": {
            "team": team["team"],
            "lead": team["worker"],
            "lead_role": team["role"],
            "since": _iso(team["since"]),
            "state": team["status"],
        },
        "flags": [
            {
                "type": r["category"],
                "level": r["severity"],
                "date": _iso(r["raised_on"]),
                "text": r["summary"],
            }
            for r in rows("alerts")
        ],
        "assessments": [
            {
                "tool": r["kind"],
                "date": _iso(r["completed_on"]),
                "by": r["assessor"],
                "summary": r["summary"],
                "result": r["outcome"],
            }
            for r in rows("assessments")
        ],
        "contacts": [
            {
                "date": _iso(r["occurred_on"]),
                "type": r["kind"],
                "note": r["summary"],
                "staff": r["practitioner"],
            }
            for r in rows("timeline")
        ],
        "episodes": [
            {
                "service": r["service"],
                "clinician": r["clinician"],
                "start": _iso(r["started_on"]),
                "end": _iso(r["ended_on"]),
                "next_visit": _iso(r["next_visit"]),
            }
            for r in rows("community_episodes")
        ],
        "therapy": [
            {
                "programme": r["therapy"],
                "therapist": r["therapist"],
                "goals": r["goals"],
                "review": _iso(r["next_review"]),
            }
            for r in rows("therapy_plans")
        ],
        "domains": [
            {
                "area": r["domain"],
                "found": r["summary"],
                "plan": r["needs"],
                "by": r["assessor"],
                "date": _iso(r["assessed_on"]),
            }
            for r in rows("assessment_domains")
        ],
        # The trust's own notes: never mapped, so never asked for, so never sent.
        "clinical_notes": f"{UNSHARED_MARKER} clinical notes for {person.given_name}.",
    }


def parse_fields(text: str) -> Projection:
    """Parse a ``fields`` parameter into a projection, checking every path (BadRequest)."""
    projection: Projection = {}
    paths = [p.strip() for p in text.split(",") if p.strip()]
    if not paths:
        raise BadRequest("fields must name at least one field")
    for path in paths:
        segments = path.split(".")
        shape: Shape | None = _SHAPE
        node: Projection | None = projection
        for position, segment in enumerate(segments):
            last = position == len(segments) - 1
            if shape is None or node is None:
                break
            key = segment
            if key not in shape and f"{key}[]" in shape and last:
                key = f"{key}[]"  # "flags" on its own asks for the whole list
            if key not in shape:
                if f"{key}[]" in shape:
                    raise BadRequest(f"{path}: {segment} is a list, write {segment}[].<field>")
                raise BadRequest(f"{path}: unknown field {segment}")
            sub_shape = shape[key]
            if sub_shape is None and not last:
                raise BadRequest(f"{path}: {segment} has no fields")
            if last:
                node[key] = None
            else:
                existing = node.setdefault(key, {})
                # A whole value already asked for covers any part of it.
                if existing is None:
                    break
                node = existing
            shape = sub_shape
    return projection


def project(document: Mapping[str, Any], projection: Projection) -> dict[str, Any]:
    """The parts of ``document`` the projection names, nothing else."""
    result: dict[str, Any] = {}
    for key, sub in projection.items():
        if key.endswith("[]"):
            name = key[:-2]
            items = document.get(name) or []
            result[name] = [item if sub is None else project(item, sub) for item in items]
        else:
            value = document.get(key)
            if sub is not None and isinstance(value, Mapping):
                value = project(value, sub)
            result[key] = value
    return result


def _parse_date(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO date (YYYY-MM-DD)") from None


def _split(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


async def _people(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    started = time.monotonic()
    params = {key: value for key, value in request.query.items()}
    ids = _split(params.get("ids", ""))
    fields = _split(params.get("fields", ""))
    status = 200
    try:
        if state.latency_seconds > 0:
            await asyncio.sleep(state.latency_seconds)
        if state.failure_status is not None:
            status = state.failure_status
            return web.json_response({"error": "service unavailable"}, status=status)
        try:
            if "fields" not in params:
                raise BadRequest("fields is required: name the fields you need")
            if "ids" not in params:
                raise BadRequest("ids is required")
            projection = parse_fields(params["fields"])
            low, high = _parse_date(params, "from"), _parse_date(params, "to")
        except BadRequest as error:
            status = 400
            return web.json_response({"error": str(error)}, status=status)
        # Every person carries its id, first, whatever else was asked for.
        projection = {"id": None, **projection}
        people = []
        for local_id in ids:
            document = state.documents.get(local_id)
            if document is None:
                continue
            if low is not None or high is not None:
                document = dict(document)
                document["contacts"] = [
                    contact
                    for contact in document["contacts"]
                    if (low is None or date.fromisoformat(contact["date"]) >= low)
                    and (high is None or date.fromisoformat(contact["date"]) <= high)
                ]
            people.append(project(document, projection))
        return web.json_response({"people": people})
    finally:
        state.calls.append(
            ApiCall(
                started=started,
                finished=time.monotonic(),
                ids=ids,
                fields=fields,
                params=params,
                status=status,
                traceparent=request.headers.get("traceparent"),
            )
        )


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(
    population: Population,
    *,
    latency_seconds: float = 0.0,
    calls: list[ApiCall] | None = None,
) -> web.Application:
    """The trust's aiohttp application; ``calls`` (if given) receives every people call."""
    app = web.Application()
    documents = {
        local_id: person_document(population, local_id)
        for local_id in population.local_ids[COMMUNITY_HEALTH].values()
    }
    app[_STATE] = _State(
        documents=documents,
        latency_seconds=latency_seconds,
        calls=calls if calls is not None else [],
    )
    app.router.add_get(PEOPLE_PATH, _people)
    app.router.add_get("/health", _health)
    return app


class CommunityHealthApi(LocalServer):
    """The trust's API running on a local port, for the demo, the tests and the benchmark."""

    def __init__(self, population: Population, *, latency_seconds: float = 0.0) -> None:
        self.calls: list[ApiCall] = []
        super().__init__(create_app(population, latency_seconds=latency_seconds, calls=self.calls))

    @property
    def latency_seconds(self) -> float:
        """The delay added to every people request; can be changed while running."""
        return self.app[_STATE].latency_seconds

    @latency_seconds.setter
    def latency_seconds(self, value: float) -> None:
        self.app[_STATE].latency_seconds = value

    @property
    def failure_status(self) -> int | None:
        """When set, every people request fails with this HTTP status (an outage)."""
        return self.app[_STATE].failure_status

    @failure_status.setter
    def failure_status(self, value: int | None) -> None:
        self.app[_STATE].failure_status = value
