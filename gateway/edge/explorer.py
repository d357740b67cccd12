"""The schema explorer: GraphiQL at ``GET /graphql``, served whole by the gateway itself.

Everything the page loads comes from the gateway's own origin, under a
Content-Security-Policy that allows nothing else and no inline script: GraphiQL
and React as pinned files fetched at set-up (:mod:`gateway.edge.explorer_assets`),
and the page's own script and style beside this module. The page asks for a
bearer token in a form field and keeps it in the tab's sessionStorage only once
given. In demo mode it lists the sample practitioners, whose demo tokens it can
mint with one click; outside demo mode that endpoint refuses.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.config.settings import Settings
from gateway.config.tokens import DemoOnlyError, mint_token
from gateway.edge.explorer_assets import (
    FETCH_COMMAND,
    Manifest,
    assets_directory,
    load_manifest,
    missing,
    verified,
)
from gateway.edge.responses import JSON, error_response, json_response

PREFIX = "/explorer"
DEMO_TOKEN_PATH = f"{PREFIX}/demo-token"
#: Nothing from anywhere but the gateway, and no inline script: a token typed into the
#: page can only ever be sent to the gateway. GraphiQL's stylesheet embeds its fonts and
#: icons as data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
#: Every asset URL names a version or a digest of the content, so it never changes.
_ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}
_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_OWN_FILES = Path(__file__).with_name("explorer_files")
#: The vendor files the page loads, in order (scripts after their dependencies).
_VENDOR = (
    ("graphiql", "graphiql.min.css"),
    ("react", "umd/react.production.min.js"),
    ("react-dom", "umd/react-dom.production.min.js"),
    ("graphiql", "graphiql.min.js"),
)
_DEFAULT_QUERY = """# Give a token above, then run this
# with the play button (Ctrl-Enter).
# Headers, e.g. {"Fame-Purpose-Of-Use":
# "direct_care"}, go in the Headers tab;
# the book icon on the left shows the
# schema's documentation.
{
  me {
    name
    agency
    team
    roles
    purpose
  }
}
"""


class SamplePractitioner(Protocol):
    """A demo practitioner the page offers to sign in as (the demo world's, in demo mode)."""

    @property
    def id(self) -> str:
        """The token's subject."""

    @property
    def name(self) -> str:
        """Shown on the button."""

    @property
    def agency(self) -> str:
        """Whose issuer signs the token."""

    @property
    def team(self) -> str:
        """The token's team claim."""

    @property
    def roles(self) -> tuple[str, ...]:
        """The token's roles claim."""


@dataclass(frozen=True)
class _Asset:
    body: bytes
    gzipped: bytes
    media_type: str


def _asset(body: bytes, suffix: str) -> _Asset:
    # Compressed once: GraphiQL's script and stylesheet are 1.4 MB, about 370 kB gzipped.
    return _Asset(body, gzip.compress(body, compresslevel=6, mtime=0), _CONTENT_TYPES[suffix])


class Explorer:
    """The page, its files and, in demo mode, the sample practitioners' tokens."""

    def __init__(
        self,
        settings: Settings,
        practitioners: Sequence[SamplePractitioner] = (),
        *,
        directory: Path | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.settings = settings
        # Offered only in demo mode: elsewhere nobody may mint tokens.
        self.practitioners = {p.id: p for p in practitioners} if settings.demo else {}
        self.directory = directory if directory is not None else assets_directory()
        self.manifest = manifest if manifest is not None else load_manifest()
        self._own: dict[str, _Asset] = {}
        for name in ("explorer.js", "explorer.css"):
            body = (_OWN_FILES / name).read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            self._own[f"{PREFIX}/{digest}/{name}"] = _asset(body, Path(name).suffix)
        self._vendor: dict[str, _Asset] | None = None

    def routes(self) -> list[Route]:
        """The explorer's own routes (the page itself is ``GET /graphql``)."""
        return [
            Route(DEMO_TOKEN_PATH, self.demo_token, methods=["POST"]),
            Route(PREFIX + "/{path:path}", self.asset, methods=["GET"]),
        ]

    def page(self) -> Response:
        """The explorer page, or one that says which command fetches its missing files."""
        vendor = self._vendor_files()
        if vendor is None:
            return HTMLResponse(self._missing_page(), 503, headers=_PAGE_HEADERS)
        return HTMLResponse(self._page(list(vendor)), headers=_PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        """One of the page's files, by its versioned or digested URL; nothing else."""
        path = request.url.path
        found = self._own.get(path) or (self._vendor_files() or {}).get(path)
        if found is None:
            return error_response("no such explorer file", "NOT_FOUND", 404)
        accepts = request.headers.get("accept-encoding", "")
        if "gzip" in accepts:
            return Response(
                found.gzipped,
                media_type=found.media_type,
                headers={**_ASSET_HEADERS, "Content-Encoding": "gzip"},
            )
        return Response(found.body, media_type=found.media_type, headers=_ASSET_HEADERS)

    async def demo_token(self, request: Request) -> Response:
        """A demo token for a listed sample practitioner; refused outside demo mode."""
        if not self.settings.demo:
            return error_response(
                "tokens are minted only in demo mode; sign in with your agency's identity "
                "provider and paste its token",
                "FORBIDDEN",
                403,
            )
        # A JSON body needs a CORS preflight from another origin, which the gateway never
        # grants: only the explorer's own page can ask.
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != JSON:
            return error_response(f"send {JSON}", "BAD_REQUEST", 415)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        chosen = body.get("practitioner") if isinstance(body, dict) else None
        who = self.practitioners.get(chosen) if isinstance(chosen, str) else None
        if who is None:
            return error_response(
                'send {"practitioner": id} with one of: '
                + (", ".join(self.practitioners) or "(no sample practitioners are listed)"),
                "NOT_FOUND",
                404,
            )
        try:
            # Reading the key and signing is file I/O and RSA: off the event loop.
            token = await asyncio.to_thread(
                mint_token,
                self.settings,
                subject=who.id,
                agency=who.agency,
                team=who.team,
                roles=who.roles,
                name=who.name,
            )
        except DemoOnlyError as exc:
            return error_response(str(exc), "UNAVAILABLE", 503)
        return json_response({"token": token}, headers={"Cache-Control": "no-store"})

    def _vendor_files(self) -> dict[str, _Asset] | None:
        """The pinned files by URL once all are on disk as pinned; None until then."""
        if self._vendor is not None:
            return self._vendor
        files: dict[str, _Asset] = {}
        for name, path in _VENDOR:
            package = self.manifest.package(name)
            body = verified(self.directory, package, path)
            if body is None:
                return None
            files[f"{PREFIX}/vendor/{package.key}/{path}"] = _asset(body, Path(path).suffix)
        self._vendor = files
        return files

    def _page(self, vendor: list[str]) -> str:
        own = {Path(url).name: url for url in self._own}
        styles = [url for url in vendor if url.endswith(".css")] + [own["explorer.css"]]
        scripts = [url for url in vendor if url.endswith(".js")] + [own["explorer.js"]]
        head = "".join(f'<link rel="stylesheet" href="{_e(url)}">\n' for url in styles)
        head += "".join(f'<script src="{_e(url)}" defer></script>\n' for url in scripts)
        return _PAGE % {
            "head": head,
            "introspection": "true" if self.settings.introspection else "false",
            "demo_token_path": _e(DEMO_TOKEN_PATH),
            "default_query": _e(_DEFAULT_QUERY),
            "notice": ""
            if self.settings.introspection
            else '<p class="fame-note">Introspection is turned off on this gateway: the '
            "explorer cannot show the schema or complete fields; queries still run.</p>",
            "demo": self._demo_section(),
        }

    def _demo_section(self) -> str:
        if not self.practitioners:
            return ""
        rows = "".join(
            f'<li><button type="button" data-practitioner="{_e(p.id)}">{_e(p.name)}</button> '
            f"<span>{_e(', '.join(p.roles))} · {_e(p.team)} · {_e(p.agency)}</span></li>\n"
            for p in self.practitioners.values()
        )
        return (
            '<details class="fame-demo" open><summary>Demo mode: sign in as a sample '
            "practitioner (mints a demo token)</summary>\n"
            f'<ul id="fame-practitioners">\n{rows}</ul></details>\n'
        )

    def _missing_page(self) -> str:
        absent = missing(self.manifest, self.directory)
        packages = ", ".join(package.key for package in self.manifest.packages)
        items = "".join(f"<li><code>{_e(name)}</code></li>" for name in absent)
        return _MISSING % {"command": _e(FETCH_COMMAND), "packages": _e(packages), "items": items}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FAME Gateway: schema explorer (GraphiQL)</title>
<link rel="icon" href="data:,">
%(head)s</head>
<body data-introspection="%(introspection)s" data-demo-token-path="%(demo_token_path)s"
 data-default-query="%(default_query)s">
<header class="fame-bar">
<strong class="fame-title">FAME Gateway</strong>
<form id="fame-token-form" autocomplete="off">
<label for="fame-token">Bearer token</label>
<input id="fame-token" name="token" type="password" autocomplete="off" spellcheck="false"
 placeholder="paste a token from your identity provider">
<button type="submit">Use token</button>
<button type="button" id="fame-token-clear">Forget token</button>
</form>
<span id="fame-token-status" role="status" aria-live="polite">Loading the explorer…</span>
</header>
%(notice)s%(demo)s<noscript><p class="fame-note">The explorer needs JavaScript. Without it,
POST queries to /graphql with a bearer token.</p></noscript>
<main id="graphiql"></main>
</body></html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>FAME Gateway: schema explorer not installed</title>
<link rel="icon" href="data:,"></head>
<body><h1>The schema explorer's files are not installed</h1>
<p>This gateway serves GraphiQL itself (%(packages)s), pinned and verified, rather than
from a CDN, and these files are missing or not as pinned:</p>
<ul>%(items)s</ul>
<p>Fetch them on the gateway's machine with</p>
<pre>%(command)s</pre>
<p>(<code>make demo</code> and <code>make test</code> run it), then reload this page.
Queries are unaffected: POST them to /graphql with a bearer token.</p>
</body></html>
"""
