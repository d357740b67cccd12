"""The schema explorer over HTTP: one origin, no inline script, pinned files with long-lived
caching, a page that says how to fetch what is missing, and demo tokens in demo mode only."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from fame_demo.practitioners import PRACTITIONERS
from gateway.app import create_app
from gateway.edge.explorer import CONTENT_SECURITY_POLICY, DEMO_TOKEN_PATH, Explorer
from gateway.edge.explorer_assets import (
    FETCH_COMMAND,
    Manifest,
    asset_path,
    assets_directory,
    load_manifest,
    missing,
)
from tests.support import World

HTML = {"Accept": "text/html"}


class _Page(HTMLParser):
    """What a page loads and runs: script and stylesheet URLs, inline code, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on") or name == "style"]
        if tag == "script":
            self._in_script = True
            self.scripts.append(named.get("src") or "")
        if tag == "link" and named.get("rel") == "stylesheet":
            self.styles.append(named.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
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
def assets() -> Path:
    """The pinned files, as `make` fetches them; the test skips (saying how) without them."""
    directory = assets_directory()
    if missing(load_manifest(), directory):
        pytest.skip(f"the explorer's files are not fetched; run {FETCH_COMMAND}")
    return directory


@pytest.fixture
async def demo(world: World, assets: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The demo gateway's app with the sample practitioners listed."""
    assert world.gateway is not None
    async with _client(create_app(world.gateway, PRACTITIONERS)) as client:
        yield client


async def test_the_page_loads_only_its_own_files_and_runs_no_inline_script(
    demo: httpx.AsyncClient,
) -> None:
    page = await demo.get("/graphql", headers=HTML)
    assert page.status_code == 200 and "GraphiQL" in page.text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    parsed = _parsed(page.text)
    assert parsed.inline == [] and parsed.handlers == []
    assert "prompt(" not in page.text
    loaded = parsed.scripts + parsed.styles
    assert len(parsed.scripts) == 4 and len(parsed.styles) == 2
    for url in loaded:
        assert url.startswith("/explorer/"), url
        asset = await demo.get(url, headers={"Accept-Encoding": "identity"})
        assert asset.status_code == 200, url
        kind = "text/javascript" if url.endswith(".js") else "text/css"
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        zipped = await demo.get(url, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == asset.content  # httpx decodes it
    # Pinned versions in the URLs: react, react-dom and graphiql as the manifest says.
    manifest = load_manifest()
    for package in manifest.packages:
        assert any(f"/{package.key}/" in url for url in loaded), package.key


async def test_only_the_explorer_files_are_served(demo: httpx.AsyncClient) -> None:
    for path in (
        "/explorer/vendor/graphiql@3.9.0/LICENSE",
        "/explorer/vendor/graphiql@3.9.0/../../../etc/passwd",
        "/explorer/vendor/graphiql@3.8.0/graphiql.min.js",
        "/explorer/explorer.js",
        "/explorer/",
    ):
        response = await demo.get(path)
        assert response.status_code == 404, path


async def test_demo_mode_lists_the_sample_practitioners_and_mints_their_tokens(
    demo: httpx.AsyncClient,
) -> None:
    page = (await demo.get("/graphql", headers=HTML)).text
    for who in PRACTITIONERS:
        assert f'data-practitioner="{who.id}"' in page
    minted = await demo.post(DEMO_TOKEN_PATH, json={"practitioner": "dn-hughes"})
    assert minted.status_code == 200 and minted.headers["cache-control"] == "no-store"
    token = minted.json()["token"]
    me = await demo.post(
        "/graphql",
        json={"query": "{ me { practitioner name roles } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert me.json()["data"]["me"] == {
        "practitioner": "dn-hughes",
        "name": "Gareth Hughes",
        "roles": ["nurse"],
    }
    unknown = await demo.post(DEMO_TOKEN_PATH, json={"practitioner": "mallory"})
    assert unknown.status_code == 404 and "sw-patel" in unknown.text
    # A form post (which another site could make without asking) is refused.
    form = await demo.post(DEMO_TOKEN_PATH, data={"practitioner": "sw-patel"})
    assert form.status_code == 415


async def test_production_mode_mints_nothing_and_lists_no_one(world: World, assets: Path) -> None:
    assert world.gateway is not None
    demo_settings = world.gateway.settings
    world.gateway.settings = dataclasses.replace(
        demo_settings,
        mode="production",
        limits=dataclasses.replace(demo_settings.limits, introspection=False),
    )
    try:
        app = create_app(world.gateway, PRACTITIONERS)
    finally:
        world.gateway.settings = demo_settings
    async with _client(app) as client:
        page = await client.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert "data-practitioner" not in page.text and "Demo mode" not in page.text
        # GraphiQL is told not to ask for the schema, and the page says why it has none.
        assert 'data-introspection="false"' in page.text
        assert "Introspection is turned off" in page.text
        refused = await client.post(DEMO_TOKEN_PATH, json={"practitioner": "sw-patel"})
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "token" not in refused.json()


async def test_missing_files_give_a_page_naming_the_command(world: World, tmp_path: Path) -> None:
    assert world.gateway is not None
    manifest = load_manifest()
    explorer = Explorer(world.gateway.settings, directory=tmp_path / "nothing-here")
    page = explorer.page()
    text = bytes(page.body).decode()
    assert page.status_code == 503
    assert FETCH_COMMAND in text and "graphiql@3.9.0/graphiql.min.js" in text
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert _parsed(text).scripts == []
    # A file that is there but not as pinned counts as missing.
    react = manifest.package("react")
    for path in react.files:
        target = asset_path(tmp_path / "tampered", react, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("alert('not react')")
    assert len(missing(manifest, tmp_path / "tampered")) == sum(
        len(p.files) for p in manifest.packages
    )


async def test_the_page_serves_what_a_small_manifest_pins(world: World, tmp_path: Path) -> None:
    # The explorer reads whichever files the manifest pins: fake ones stand in for GraphiQL.
    assert world.gateway is not None
    packages = []
    for package in load_manifest().packages:
        files = {}
        for path in package.files:
            body = f"/* {package.key} {path} */".encode()
            target = asset_path(tmp_path, package, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            files[path] = hashlib.sha256(body).hexdigest()
        packages.append(dataclasses.replace(package, files=files))
    explorer = Explorer(
        world.gateway.settings,
        directory=tmp_path,
        manifest=Manifest("https://registry.invalid", tuple(packages)),
    )
    page = explorer.page()
    assert page.status_code == 200
    scripts = _parsed(bytes(page.body).decode()).scripts
    assert scripts[:3] == [
        "/explorer/vendor/react@18.3.1/umd/react.production.min.js",
        "/explorer/vendor/react-dom@18.3.1/umd/react-dom.production.min.js",
        "/explorer/vendor/graphiql@3.9.0/graphiql.min.js",
    ]
    async with _client(Starlette(routes=explorer.routes())) as client:
        served = await client.get(scripts[0], headers={"Accept-Encoding": "gzip"})
        assert served.headers["content-encoding"] == "gzip"
        assert served.content == b"/* react@18.3.1 umd/react.production.min.js */"


async def test_without_graphiql_there_is_no_explorer(world: World) -> None:
    assert world.gateway is not None
    demo_settings = world.gateway.settings
    world.gateway.settings = dataclasses.replace(demo_settings, graphiql=False)
    try:
        async with _client(create_app(world.gateway, PRACTITIONERS)) as client:
            # No page: a browser asking only for HTML is told no such answer is offered.
            page = await client.get("/graphql", headers=HTML)
            assert page.status_code == 406 and "GraphiQL" not in page.text
            minted = await client.post(DEMO_TOKEN_PATH, json={"practitioner": "sw-patel"})
            assert minted.status_code == 404
    finally:
        world.gateway.settings = demo_settings
