"""The http connector against the trust's real API and against small hostile servers.

The connector is configured from the trust's real file in ``config/agencies`` with
only its base URL (and, where a test needs it, its timeout or size cap) changed.
What the trust received is read from the trust's own log of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import time
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
from connectors.http import HttpConnector
from connectors.http_check import AnsweredStatus
from connectors.registry import create_connector
from fame_demo.community_api import PEOPLE_PATH, CommunityHealthApi
from fame_demo.synthetic import COMMUNITY_HEALTH, Population
from gateway.config.agencies import load_agencies
from gateway.core.catalogue import RECORD_SETS_BY_NAME, record_set_of
from gateway.core.registration import AgencyConfig
from tests.support import REPO

AGENCY = COMMUNITY_HEALTH
AGENCY_FILE = REPO / "config" / "agencies" / f"{AGENCY}.toml"
SHIPPED_BASE_URL = 'base_url = "http://127.0.0.1:8701"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def write_agency(
    directory: Path, base_url: str, *, timeout: float | None = None, cap: int | None = None
) -> AgencyConfig:
    """The trust's real agency file pointed at ``base_url``, loaded as the gateway loads it."""
    original = AGENCY_FILE.read_text()
    assert original.count(SHIPPED_BASE_URL) == 1
    changed = original.replace(SHIPPED_BASE_URL, f'base_url = "{base_url}"')
    if timeout is not None:
        assert "timeout_seconds = 2.0" in changed
        changed = changed.replace("timeout_seconds = 2.0", f"timeout_seconds = {timeout}")
    if cap is not None:
        changed = changed.replace("[source]\n", f"[source]\nmax_response_bytes = {cap}\n", 1)
    agencies = directory / "agencies"
    agencies.mkdir(exist_ok=True)
    (agencies / f"{AGENCY}.toml").write_text(changed)
    (agency,) = load_agencies(agencies, directory)
    return agency


def local_ids(population: Population) -> list[str]:
    """The trust's local ids, in population order."""
    return [population.local_ids[AGENCY][p.nhs_number] for p in population.people_of(AGENCY)]


def iso(value: object) -> object:
    """Dates as the trust's JSON carries them."""
    return value.isoformat() if isinstance(value, date) else value


def expected_records(
    population: Population,
    local_id: str,
    items: frozenset[str],
    ranges: dict[str, DateRange] | None = None,
) -> dict[str, list[dict[str, object]]]:
    """What the trust holds about one person for these items, keyed by catalogue field."""
    fields: dict[str, list[str]] = {}
    for item in sorted(items):
        fields.setdefault(record_set_of(item), []).append(item.partition(".")[2])
    records: dict[str, list[dict[str, object]]] = {}
    for rs_name, names in fields.items():
        rows = population.rows(AGENCY, local_id, rs_name)
        bounds = (ranges or {}).get(rs_name)
        date_field = RECORD_SETS_BY_NAME[rs_name].date_field
        if bounds is not None and date_field is not None:
            rows = [row for row in rows if bounds.contains(row[date_field])]
        records[rs_name] = [{name: iso(row[name]) for name in names} for row in rows]
    return records


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def api(population: Population) -> AsyncIterator[CommunityHealthApi]:
    """The trust's real API on a free local port."""
    async with CommunityHealthApi(population) as running:
        yield running


@pytest.fixture
async def connector(api: CommunityHealthApi, tmp_path: Path) -> AsyncIterator[HttpConnector]:
    """An open connector for the trust, pointed at its running API."""
    assert api.base_url is not None
    built = create_connector(write_agency(tmp_path, api.base_url))
    assert isinstance(built, HttpConnector)
    await built.open()
    try:
        yield built
    finally:
        await built.close()


class Hostile:
    """Starts small aiohttp servers that answer the people path however a test says."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._runners: list[web.AppRunner] = []
        self._connectors: list[HttpConnector] = []
        self.release = asyncio.Event()
        self.queries: list[dict[str, str]] = []

    async def serve(self, handler: Handler) -> str:
        """Serve ``handler`` at the people path; returns the base URL."""

        async def recorded(request: web.Request) -> web.StreamResponse:
            self.queries.append(dict(request.query))
            return await handler(request)

        app = web.Application()
        app.router.add_get(PEOPLE_PATH, recorded)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def connector(
        self,
        handler: Handler,
        *,
        timeout_seconds: float | None = None,
        cap: int | None = None,
        host: str | None = None,
    ) -> HttpConnector:
        """An open connector for the trust's file, pointed at a server running ``handler``
        (by ``host``'s name when given)."""
        base_url = await self.serve(handler)
        if host is not None:
            base_url = base_url.replace("127.0.0.1", host)
        directory = self._tmp_path / f"hostile-{len(self._runners)}"
        directory.mkdir()
        agency = write_agency(directory, base_url, timeout=timeout_seconds, cap=cap)
        built = create_connector(agency)
        assert isinstance(built, HttpConnector)
        await built.open()
        self._connectors.append(built)
        return built

    async def close(self) -> None:
        """Close every connector, let any hanging handler go, stop every server."""
        self.release.set()
        for built in self._connectors:
            await built.close()
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    """A factory of hostile servers and connectors to them, all stopped afterwards."""
    servers = Hostile(tmp_path)
    try:
        yield servers
    finally:
        await servers.close()


def people(*documents: dict[str, Any]) -> Handler:
    """A handler answering with these person documents, whoever was asked for."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"people": list(documents)})

    return handler


ALERT_ITEMS = frozenset({"alerts.severity", "alerts.category"})
TIMELINE_ITEMS = frozenset({"timeline.occurred_on", "timeline.kind"})


# --------------------------------------------------------------------------- the real API


async def test_projection_carries_only_the_requested_fields(
    connector: HttpConnector, api: CommunityHealthApi, population: Population
) -> None:
    batch = tuple(local_ids(population)[:3])
    items = frozenset({"alerts.severity", "involvement.worker", "timeline.kind"})

    await connector.fetch(FetchRequest.single(batch, items))

    call = api.calls[-1]
    assert len(api.calls) == 1, "one GET for the whole batch"
    assert sorted(call.fields) == ["care_team.lead", "contacts[].type", "flags[].level"]
    assert call.ids == batch
    assert call.status == 200
    assert "from" not in call.params and "to" not in call.params


async def test_rows_come_back_under_catalogue_field_names(
    connector: HttpConnector, population: Population
) -> None:
    batch = tuple(local_ids(population)[:6])
    items = frozenset(
        {
            "involvement.team",
            "involvement.worker",
            "involvement.since",
            "alerts.category",
            "alerts.raised_on",
            "community_episodes.service",
            "community_episodes.next_visit",
        }
    )

    result = await connector.fetch(FetchRequest.single(batch, items))

    assert result == {local_id: expected_records(population, local_id, items) for local_id in batch}
    assert any(result[i]["alerts"] for i in batch), "some of the batch have alerts"


async def test_each_group_gets_its_own_projection(
    connector: HttpConnector, api: CommunityHealthApi, population: Population
) -> None:
    ids = local_ids(population)
    first, second = tuple(ids[:2]), tuple(ids[2:3])
    request = FetchRequest(
        groups=(
            FetchGroup(first, frozenset({"involvement.worker"})),
            FetchGroup(second, frozenset({"alerts.severity"})),
        )
    )

    result = await connector.fetch(request)

    seen = {call.ids: sorted(call.fields) for call in api.calls}
    assert seen == {first: ["care_team.lead"], second: ["flags[].level"]}
    assert {i: set(result[i]) for i in (*first, *second)} == {
        **{i: {"involvement"} for i in first},
        **{i: {"alerts"} for i in second},
    }


async def test_unknown_ids_are_omitted(connector: HttpConnector, population: Population) -> None:
    known = local_ids(population)[0]
    result = await connector.fetch(
        FetchRequest.single(("CH-00000", known, "nobody"), frozenset({"involvement.team"}))
    )
    assert set(result) == {known}


async def test_items_the_trust_does_not_map_are_never_asked_for(
    connector: HttpConnector, api: CommunityHealthApi, population: Population
) -> None:
    request = FetchRequest.single(
        tuple(local_ids(population)[:2]), frozenset({"medications.name", "demographics.phone"})
    )
    assert await connector.fetch(request) == {}
    assert api.calls == []


async def test_date_range_is_sent_as_from_and_to(
    connector: HttpConnector, api: CommunityHealthApi, population: Population
) -> None:
    everyone = tuple(local_ids(population))
    dates = sorted(
        row["occurred_on"] for i in everyone for row in population.rows(AGENCY, i, "timeline")
    )
    assert isinstance(dates[0], date)
    bounds = DateRange(dates[len(dates) // 4], dates[3 * len(dates) // 4])
    assert bounds.start is not None and bounds.end is not None and bounds.start < bounds.end
    ranges = {"timeline": bounds}

    result = await connector.fetch(FetchRequest.single(everyone, TIMELINE_ITEMS, ranges))

    call = api.calls[-1]
    assert call.params["from"] == bounds.start.isoformat()
    assert call.params["to"] == bounds.end.isoformat()
    assert result == {i: expected_records(population, i, TIMELINE_ITEMS, ranges) for i in everyone}
    returned = sum(len(records["timeline"]) for records in result.values())
    assert 0 < returned < len(dates)


async def test_check_passes_against_the_real_api(
    connector: HttpConnector, api: CommunityHealthApi
) -> None:
    check = await connector.check()
    assert check.ok and check.reachable, check
    assert api.calls[-1].ids == ()
    assert api.calls[-1].status == 200


async def test_an_outage_is_an_agency_error_and_a_failed_check(
    connector: HttpConnector, api: CommunityHealthApi, population: Population
) -> None:
    api.failure_status = 503
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(
            FetchRequest.single((local_ids(population)[0],), frozenset({"involvement.team"}))
        )
    assert type(caught.value) in (ConnectorError, AnsweredStatus), "an agency error, not an outage"
    assert caught.value.code == "AGENCY_ERROR"
    assert "503" in str(caught.value)
    check = await connector.check()
    assert check.reachable and not check.ok
    assert "503" in check.detail


# --------------------------------------------------------------------------- hostile agencies


async def test_people_we_did_not_ask_for_are_ignored(hostile: Hostile) -> None:
    asked = {"id": "CH-1", "care_team": {"lead": "Ann Example"}}
    pushed = [
        {"id": "CH-2", "care_team": {"lead": "Not Asked"}},
        {"id": "ch-1", "care_team": {"lead": "Wrong Case"}},
        {"care_team": {"lead": "No Id"}},
    ]
    connector = await hostile.connector(people(*pushed, asked))

    result = await connector.fetch(
        FetchRequest.single(("CH-1",), frozenset({"involvement.worker"}))
    )

    assert result == {"CH-1": {"involvement": [{"worker": "Ann Example"}]}}


async def test_a_cookie_an_answer_sets_is_never_sent_with_a_later_call(
    hostile: Hostile,
) -> None:
    # Every practitioner's calls share the connector's session: what one call's answer
    # set must not ride along on the next, whoever makes it.
    cookies: list[str | None] = []

    async def sets_a_cookie(request: web.Request) -> web.StreamResponse:
        cookies.append(request.headers.get("Cookie"))
        response = web.json_response({"people": [{"id": "CH-1"}]})
        response.set_cookie("session", "first-practitioner", path="/")
        return response

    # By name: aiohttp's own jar keeps no cookie from a bare IP address.
    connector = await hostile.connector(sets_a_cookie, host="localhost")
    for _ in range(2):
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert cookies == [None, None]


async def test_date_range_is_re_applied_when_the_agency_ignores_it(hostile: Hostile) -> None:
    contacts = [
        {"date": "2024-12-31", "type": "before"},
        {"date": "2025-01-01", "type": "first day"},
        {"date": "2025-03-01", "type": "inside"},
        {"date": "2025-06-30", "type": "last day"},
        {"date": "2025-07-01", "type": "after"},
        {"date": None, "type": "undated"},
    ]
    connector = await hostile.connector(people({"id": "CH-1", "contacts": contacts}))
    ranges = {"timeline": DateRange(date(2025, 1, 1), date(2025, 6, 30))}

    result = await connector.fetch(FetchRequest.single(("CH-1",), TIMELINE_ITEMS, ranges))

    assert hostile.queries[-1]["from"] == "2025-01-01"
    assert hostile.queries[-1]["to"] == "2025-06-30"
    assert [row["kind"] for row in result["CH-1"]["timeline"]] == [
        "first day",
        "inside",
        "last day",
    ]


async def test_connection_refused_is_agency_unavailable(tmp_path: Path) -> None:
    connector = create_connector(write_agency(tmp_path, f"http://127.0.0.1:{free_port()}"))
    await connector.open()
    try:
        with pytest.raises(AgencyUnavailable) as caught:
            await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
        check = await connector.check()
    finally:
        await connector.close()
    assert caught.value.code == "AGENCY_UNAVAILABLE"
    assert caught.value.agency == AGENCY
    assert not check.ok and not check.reachable


async def test_http_500_is_agency_error(hostile: Hostile) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, text="Internal Server Error")

    connector = await hostile.connector(broken)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert type(caught.value) in (ConnectorError, AnsweredStatus), "an agency error, not an outage"
    assert caught.value.code == "AGENCY_ERROR"
    assert "HTTP 500" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Gateway Timeout</body></html>",
        b'{"people": [{"id": "CH-1"',
        b"",
        b'{"people": {"id": "CH-1"}}',
        b'{"results": []}',
        b'["people"]',
        b'{"people": ["CH-1"]}',
        b'{"people": [{"id": "CH-1", "flags": "high"}]}',
    ],
    ids=[
        "html",
        "truncated-json",
        "empty",
        "people-not-a-list",
        "no-people-key",
        "top-level-list",
        "person-not-an-object",
        "list-field-not-a-list",
    ],
)
async def test_garbage_is_agency_error(hostile: Hostile, body: bytes) -> None:
    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    connector = await hostile.connector(garbage)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert type(caught.value) in (ConnectorError, AnsweredStatus), "an agency error, not an outage"
    assert caught.value.code == "AGENCY_ERROR"


def _oversized(cap: int) -> bytes:
    padding = "x" * (cap * 3)
    return orjson.dumps({"people": [{"id": "CH-1", "flags": [{"level": padding}]}]})


async def test_body_over_the_cap_with_a_length_is_agency_error(hostile: Hostile) -> None:
    cap = 1024

    async def large(request: web.Request) -> web.StreamResponse:
        return web.Response(body=_oversized(cap), content_type="application/json")

    connector = await hostile.connector(large, cap=cap)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert type(caught.value) in (ConnectorError, AnsweredStatus), "an agency error, not an outage"
    assert caught.value.code == "AGENCY_ERROR"
    assert "1024-byte cap" in str(caught.value)


async def test_streamed_body_over_the_cap_is_agency_error(hostile: Hostile) -> None:
    cap = 1024
    body = _oversized(cap)

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 512):
            await response.write(body[start : start + 512])
        await response.write_eof()
        return response

    connector = await hostile.connector(streamed, cap=cap)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert type(caught.value) in (ConnectorError, AnsweredStatus), "an agency error, not an outage"
    assert caught.value.code == "AGENCY_ERROR"


async def test_a_compressed_body_that_unpacks_past_the_cap_is_agency_error(
    hostile: Hostile,
) -> None:
    cap = 1024
    packed = gzip.compress(_oversized(cap * 4))
    assert len(packed) < cap  # its Content-Length is within the cap; what it unpacks to is not

    async def bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=packed,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    connector = await hostile.connector(bomb, cap=cap)
    with pytest.raises(ConnectorError) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert caught.value.code == "AGENCY_ERROR"
    assert "1024-byte cap" in str(caught.value)


async def test_a_large_valid_answer_under_the_cap_is_read_whole(hostile: Hostile) -> None:
    flags = [{"level": "high", "text": "y" * 1000} for _ in range(2000)]
    body = orjson.dumps({"people": [{"id": "CH-1", "flags": flags}]})
    assert 1_000_000 < len(body) < 10 * 1024 * 1024  # under the default cap

    async def large(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    connector = await hostile.connector(large)
    result = await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    assert len(result["CH-1"]["alerts"]) == len(flags)


async def test_hang_beyond_the_timeout_is_agency_timeout(hostile: Hostile) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        # Deliberately slow: answers after 2 s, or when the test is over.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hostile.release.wait(), timeout=2.0)
        return web.json_response({"people": []})

    connector = await hostile.connector(hang, timeout_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(AgencyTimeout) as caught:
        await connector.fetch(FetchRequest.single(("CH-1",), ALERT_ITEMS))
    elapsed = time.monotonic() - started
    assert caught.value.code == "AGENCY_TIMEOUT"
    assert "0.3s" in str(caught.value)
    assert 0.25 < elapsed < 1.5
    check = await connector.check()
    assert not check.ok and not check.reachable


async def test_check_fails_when_the_answer_has_no_people_list(hostile: Hostile) -> None:
    async def wrong(request: web.Request) -> web.StreamResponse:
        return web.json_response({"results": []})

    connector = await hostile.connector(wrong)
    check = await connector.check()
    assert check.reachable and not check.ok
    assert "'people'" in check.detail
