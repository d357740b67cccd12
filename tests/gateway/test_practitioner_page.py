"""The practitioner's page over HTTP: served at ``/`` under a policy that allows only the
gateway itself, its two files with the right types and long-lived caching, nothing named
from elsewhere, a model whose person query the schema accepts and whose words cover every
reason and failure, and sample practitioners in demo mode only."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from graphql import parse, validate

from connectors.base import ConnectorError
from fame_demo.practitioners import PRACTITIONERS
from gateway.app import create_app
from gateway.core.catalogue import ITEMS, RECORD_SETS
from gateway.decide.policy import Reason
from gateway.edge.plain_words import QUIET_REASON, SOURCE_STATUSES, WITHHELD_REASONS
from gateway.edge.practitioner_page import (
    CONTENT_SECURITY_POLICY,
    DEMO_TOKEN_PATH,
    FILES_DIRECTORY,
    MODEL_PATH,
    label,
    person_query,
)
from resolvers.schema import schema
from tests.support import World

IDENTITY = {"Accept-Encoding": "identity"}


class _Page(HTMLParser):
    """What a page loads and runs: script and stylesheet URLs, inline code and style."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self.attributes: list[str] = []
        self.tags: list[str] = []
        self._inside: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.tags.append(tag)
        self.attributes += [n for n, _ in attrs if n.startswith("on") or n == "style"]
        if tag in {"script", "style"}:
            self._inside = tag
        if tag == "script":
            self.scripts.append(named.get("src") or "")
        if tag == "link" and named.get("rel") == "stylesheet":
            self.styles.append(named.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._inside:
            self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside and data.strip():
            self.inline.append(data)


def _parsed(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://gateway.test",
    )


@pytest.fixture
async def demo(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The demo gateway's app with the sample practitioners listed."""
    assert world.gateway is not None
    async with _client(create_app(world.gateway, PRACTITIONERS)) as client:
        yield client


@pytest.fixture
def production(world: World) -> Iterator[Any]:
    """The same gateway's app as production mode builds it (settings restored after)."""
    assert world.gateway is not None
    demo_settings = world.gateway.settings
    world.gateway.settings = dataclasses.replace(demo_settings, mode="production")
    try:
        yield create_app(world.gateway, PRACTITIONERS)
    finally:
        world.gateway.settings = demo_settings


async def test_the_page_is_served_at_the_root_and_loads_only_its_own_files(
    demo: httpx.AsyncClient,
) -> None:
    page = await demo.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    # Only the gateway itself, for everything, and no inline script or style at all.
    sources = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert sources["default-src"] == "'none'"
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        assert sources[directive] == "'self'", directive
    assert sources["frame-ancestors"] == "'none'" and "unsafe" not in CONTENT_SECURITY_POLICY
    parsed = _parsed(page.text)
    assert parsed.inline == [] and parsed.attributes == [] and "style" not in parsed.tags
    assert "{{" not in page.text
    assert len(parsed.scripts) == 1 and len(parsed.styles) == 1
    for url, kind, name in (
        (parsed.scripts[0], "text/javascript", "page.js"),
        (parsed.styles[0], "text/css", "page.css"),
    ):
        body = (FILES_DIRECTORY / name).read_bytes()
        # The URL names the content, so it may be cached for good.
        assert url == f"/page/{hashlib.sha256(body).hexdigest()[:16]}/{name}"
        served = await demo.get(url, headers=IDENTITY)
        assert served.status_code == 200, url
        assert served.headers["content-type"] == f"{kind}; charset=utf-8"
        assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert served.content == body
        zipped = await demo.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == body  # httpx decodes it


async def test_only_the_page_files_are_served(demo: httpx.AsyncClient) -> None:
    script = _parsed((await demo.get("/")).text).scripts[0]
    digest = script.split("/")[2]
    for path in (
        "/page/0000000000000000/page.js",
        f"/page/{digest}/page.css",
        f"/page/{digest}/page.html",
        f"/page/{digest}/../../gateway.toml",
        "/page/page.js",
        "/page/",
    ):
        response = await demo.get(path)
        assert response.status_code == 404, path
    # The page answers GET only.
    assert (await demo.post("/")).status_code == 405


def test_the_files_name_nothing_from_elsewhere() -> None:
    texts = {
        name: (FILES_DIRECTORY / name).read_text(encoding="utf-8")
        for name in ("page.html", "page.js", "page.css")
    }
    for name, text in texts.items():
        # No absolute or protocol-relative URL, no import: everything is the gateway's own.
        assert re.search(r"\b[a-z][a-z0-9+.-]*://", text, re.I) is None, name
        assert re.search(r"""(src|href|url)\s*[=(]\s*["']?//""", text, re.I) is None, name
        assert "@import" not in text and "@font-face" not in text, name
    css = texts["page.css"]
    assert "url(" not in css
    script = texts["page.js"]
    # Everything shown is set as text: nothing from an answer can become markup or code.
    for risky in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert risky not in script, risky
    assert "new Function" not in script
    # The only addresses it calls are the gateway's own paths.
    assert re.findall(r"""fetch\(\s*["']([^"']+)""", script) == ["/graphql"]
    assert "localStorage" not in script  # the token stays in the tab (sessionStorage)


async def test_the_person_query_is_the_whole_catalogue_and_the_schema_accepts_it(
    demo: httpx.AsyncClient, world: World
) -> None:
    model = (await demo.get(MODEL_PATH)).json()
    query = model["personQuery"]
    assert query == person_query()
    assert validate(schema.graphql_schema, parse(query)) == []
    shown = {field["item"] for rs in model["recordSets"] for field in rs["fields"]}
    assert shown == set(ITEMS)
    assert [rs["name"] for rs in model["recordSets"]] == [rs.name for rs in RECORD_SETS]
    places = {rs["name"]: rs["place"] for rs in model["recordSets"]}
    assert places.pop("demographics") == "header" and places.pop("timeline") == "timeline"
    assert set(places.values()) == {"agency"}
    # Run as the page runs it: every record set sits at its path in the answer.
    answer = await world.query(query, variables={"id": world.person_id(0)})
    person = answer["data"]["person"]
    assert person is not None and person["knownTo"]
    for rs in model["recordSets"]:
        value: Any = person
        for key in rs["path"]:
            assert isinstance(value, dict) and key in value, rs["path"]
            value = value[key]
        rows = value if isinstance(value, list) else [value] if value else []
        for row in rows:
            assert row["agency"]["id"] and row["agency"]["name"], rs["name"]
            assert {f["name"] for f in rs["fields"]} <= set(row), rs["name"]
    assert "errors" not in answer


async def test_every_reason_and_agency_failure_has_plain_words(demo: httpx.AsyncClient) -> None:
    model = (await demo.get(MODEL_PATH)).json()
    assert set(model["reasons"]) == {reason.value for reason in Reason} | {QUIET_REASON}

    def codes(kind: type[ConnectorError]) -> set[str]:
        found = {kind.code}
        for sub in kind.__subclasses__():
            found |= codes(sub)
        return found

    assert set(model["sourceStatuses"]) == codes(ConnectorError)
    for code, reason in WITHHELD_REASONS.items():
        assert model["reasons"][code] == dataclasses.asdict(reason)
        assert reason.title and len(reason.text) > 40, code
        assert code not in reason.text and "_" not in reason.text, code  # words, not codes
        assert reason.action in {"", "consent", "break_glass", "safeguarding"}, code
    for code, status in SOURCE_STATUSES.items():
        assert model["sourceStatuses"][code] == dataclasses.asdict(status)
        assert "missing from this picture, not absent" in status.text, code


def test_labels_read_as_words() -> None:
    assert label("nhs_number") == "NHS number"
    assert label("gp_registration") == "GP registration"
    assert label("hours_per_week") == "Hours per week"
    assert label("ehcp") == "EHCP"


async def test_demo_mode_lists_the_sample_practitioners_and_signs_them_in(
    demo: httpx.AsyncClient, world: World
) -> None:
    model = (await demo.get(MODEL_PATH)).json()
    assert model["demo"] is True and model["demoTokenPath"] == DEMO_TOKEN_PATH
    assert world.settings is not None
    names = {agency.id: agency.name for agency in world.settings.agencies}
    assert model["practitioners"] == [
        {
            "id": who.id,
            "name": who.name,
            "roles": list(who.roles),
            "team": who.team,
            "agency": who.agency,
            "agency_name": names[who.agency],
        }
        for who in PRACTITIONERS
    ]
    minted = await demo.post(DEMO_TOKEN_PATH, json={"practitioner": "ho-evans"})
    assert minted.status_code == 200 and minted.headers["cache-control"] == "no-store"
    me = await demo.post(
        "/graphql",
        json={"query": "{ me { practitioner name agency } }"},
        headers={"Authorization": f"Bearer {minted.json()['token']}"},
    )
    assert me.json()["data"]["me"] == {
        "practitioner": "ho-evans",
        "name": "Megan Evans",
        "agency": "shire-housing",
    }
    # A form post (which another site could make without asking) is refused.
    assert (await demo.post(DEMO_TOKEN_PATH, data={"practitioner": "sw-patel"})).status_code == 415


async def test_without_graphiql_the_page_still_signs_in(world: World) -> None:
    assert world.gateway is not None
    demo_settings = world.gateway.settings
    world.gateway.settings = dataclasses.replace(demo_settings, graphiql=False)
    try:
        app = create_app(world.gateway, PRACTITIONERS)
    finally:
        world.gateway.settings = demo_settings
    async with _client(app) as client:
        assert (await client.get("/")).status_code == 200
        minted = await client.post(DEMO_TOKEN_PATH, json={"practitioner": "sw-patel"})
        assert minted.status_code == 200 and minted.json()["token"].count(".") == 2


async def test_production_mode_lists_no_one_and_mints_nothing(production: Any) -> None:
    async with _client(production) as client:
        page = await client.get("/")
        assert page.status_code == 200
        model = (await client.get(MODEL_PATH)).json()
        assert model["demo"] is False
        assert model["practitioners"] == [] and model["demoTokenPath"] is None
        refused = await client.post(DEMO_TOKEN_PATH, json={"practitioner": "sw-patel"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
