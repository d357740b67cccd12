"""The practitioner's page at ``/``: a plain front end that talks to ``/graphql`` like any
other, served whole by the gateway.

Sign in (in demo mode by picking a sample practitioner, whose token the explorer's
demo-token logic mints; otherwise by pasting the agency's token, kept in the tab's
sessionStorage only), find a person by exact identifiers, and see their picture by
agency, the merged timeline, each withheld item with its reason in plain words, and
agencies that could not answer; record or withdraw consent, break glass or claim
safeguarding.

The page is one HTML document, one script and one stylesheet beside this module, under
a Content-Security-Policy that allows nothing but the gateway itself and no inline
script or style. What the page must not hard-code comes from ``/page/model.json``: the
person query and the record sets it shows, built from the catalogue the schema is built
from (so new record sets and agencies appear without changing the page), and the plain
words for withholding reasons and agency failures (:mod:`gateway.edge.plain_words`).
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.config.settings import Settings
from gateway.core.catalogue import STANDARD, Catalogue, RecordSetSpec
from gateway.core.catalogue_model import camel
from gateway.decide.policy import SAFEGUARDING
from gateway.edge.explorer import SamplePractitioner
from gateway.edge.plain_words import SOURCE_STATUSES, WITHHELD_REASONS
from gateway.edge.responses import error_response, json_response

PAGE_PATH = "/"
PREFIX = "/page"
MODEL_PATH = f"{PREFIX}/model.json"
DEMO_TOKEN_PATH = f"{PREFIX}/demo-token"
#: Nothing from anywhere but the gateway, no inline script or style, no plugin, no
#: framing: a token pasted into the page can only ever be sent to the gateway.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
#: Every file URL carries a digest of its content, so it never changes.
_FILE_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Vary": "Accept-Encoding",
}
CONTENT_TYPES: Mapping[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
FILES_DIRECTORY = Path(__file__).with_name("page_files")
#: The page's own files besides the HTML document.
FILES = ("page.js", "page.css")
#: Words written in capitals wherever they appear in a label.
_ACRONYMS = {"nhs": "NHS", "gp": "GP", "ehcp": "EHCP", "send": "SEND", "id": "ID", "ig": "IG"}
#: Record sets the page shows in their own place rather than under each agency.
_OWN_PLACE = {"demographics": "header", "timeline": "timeline"}

DemoToken = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes
    media_type: str


@dataclass(frozen=True)
class FieldModel:
    """One field of a record set as the page shows it."""

    name: str
    label: str
    kind: str
    item: str
    description: str


@dataclass(frozen=True)
class RecordSetModel:
    """One record set as the page shows it: where it sits in the person query's answer
    (``path`` below ``person``), its title, and its fields."""

    name: str
    path: tuple[str, ...]
    title: str
    description: str
    place: str
    fields: tuple[FieldModel, ...]


def label(snake: str) -> str:
    """A catalogue name as a label: ``nhs_number`` -> ``NHS number``."""
    words = [_ACRONYMS.get(word, word) for word in snake.split("_")]
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def record_set_model(spec: RecordSetSpec) -> RecordSetModel:
    """How the page shows one catalogue record set."""
    path = (
        (spec.graphql_field,) if spec.section is None else (camel(spec.section), spec.graphql_field)
    )
    return RecordSetModel(
        name=spec.name,
        path=path,
        title=label(spec.name),
        description=spec.description,
        place=_OWN_PLACE.get(spec.name, "agency"),
        fields=tuple(
            FieldModel(
                item.graphql_name, label(item.field), item.kind.value, item.name, item.description
            )
            for item in spec.items
        ),
    )


def person_query(catalogue: Catalogue = STANDARD) -> str:
    """The page's person query: every item of every record set, each record with the
    agency it came from, the sections' record sets inside their sections."""

    def selection(spec: RecordSetSpec) -> str:
        fields = " ".join(item.graphql_name for item in spec.items)
        return f"{spec.graphql_field} {{ agency {{ id name }} {fields} }}"

    parts = ["id", "knownTo { id name }"]
    parts += [selection(spec) for spec in catalogue.in_section(None)]
    for section in catalogue.sections:
        inside = [selection(spec) for spec in catalogue.in_section(section.name)]
        if inside:
            parts.append(f"{section.graphql_field} {{ {' '.join(inside)} }}")
    return "query PractitionerPerson($id: ID!) { person(id: $id) { " + " ".join(parts) + " } }"


@dataclass(frozen=True)
class _Practitioner:
    id: str
    name: str
    roles: tuple[str, ...]
    team: str
    agency: str
    agency_name: str


class PractitionerPage:
    """The page, its files, its model and, in demo mode, sign-in as a sample practitioner.

    ``demo_token`` is the explorer's demo-token handler, routed here too so that the page
    signs in the same way whether or not the explorer is enabled; it refuses outside demo
    mode, and the page lists no sample practitioners there.
    """

    def __init__(
        self,
        settings: Callable[[], Settings],
        practitioners: Mapping[str, SamplePractitioner],
        demo_token: DemoToken,
        *,
        directory: Path = FILES_DIRECTORY,
    ) -> None:
        # The settings in force, asked for each time: a reload may change the catalogue,
        # the protocol or the agencies, and the model follows them.
        self._settings_in_force = settings
        self._sample = practitioners
        self.demo_token = demo_token
        self._files: dict[str, _File] = {}
        self._urls: dict[str, str] = {}
        for name in FILES:
            body = (directory / name).read_bytes()
            url = f"{PREFIX}/{hashlib.sha256(body).hexdigest()[:16]}/{name}"
            self._urls[name] = url
            self._files[url] = _File(
                body, gzip.compress(body, mtime=0), CONTENT_TYPES[Path(name).suffix]
            )
        self._html = (directory / "page.html").read_text(encoding="utf-8")
        self._built: tuple[Settings, dict[str, Any]] | None = None

    def routes(self) -> list[Route]:
        """The page, its model, its files and the demo sign-in."""
        return [
            Route(PAGE_PATH, self.page, methods=["GET"]),
            Route(MODEL_PATH, self.model, methods=["GET"]),
            Route(DEMO_TOKEN_PATH, self.demo_token, methods=["POST"]),
            Route(PREFIX + "/{digest}/{name}", self.file, methods=["GET"]),
        ]

    async def page(self, _request: Request) -> Response:
        """The page itself: HTML that loads the script and stylesheet from the gateway."""
        text = self._html.replace("{{stylesheet}}", html.escape(self._urls["page.css"]))
        text = text.replace("{{script}}", html.escape(self._urls["page.js"]))
        text = text.replace("{{model}}", html.escape(MODEL_PATH))
        return HTMLResponse(text, headers=_PAGE_HEADERS)

    async def model(self, _request: Request) -> Response:
        """What the page shows and how it says it; nothing about any person."""
        settings = self._settings_in_force()
        if self._built is None or self._built[0] is not settings:
            self._built = (settings, self._build_model(settings))
        return json_response(self._built[1], headers={"Cache-Control": "no-store"})

    async def file(self, request: Request) -> Response:
        """The script or stylesheet, by its digested URL; nothing else."""
        found = self._files.get(request.url.path)
        if found is None:
            return error_response("no such page file", "NOT_FOUND", 404)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(
                found.gzipped,
                media_type=found.media_type,
                headers={**_FILE_HEADERS, "Content-Encoding": "gzip"},
            )
        return Response(found.body, media_type=found.media_type, headers=_FILE_HEADERS)

    def _practitioners(self, settings: Settings) -> tuple[_Practitioner, ...]:
        names = {agency.id: agency.name for agency in settings.agencies}
        listed = self._sample.values() if settings.demo else ()
        return tuple(
            _Practitioner(
                p.id, p.name, tuple(p.roles), p.team, p.agency, names.get(p.agency, p.agency)
            )
            for p in listed
        )

    def _build_model(self, settings: Settings) -> dict[str, Any]:
        # The schema's sharingProtocol does not carry the purposes; the page needs only
        # how to describe a safeguarding reference.
        safeguarding = settings.protocol.purposes.get(SAFEGUARDING)
        practitioners = self._practitioners(settings)
        return {
            "personQuery": person_query(settings.catalogue),
            "recordSets": [
                asdict(record_set_model(spec)) for spec in settings.catalogue.record_sets
            ],
            "reasons": {code: asdict(reason) for code, reason in WITHHELD_REASONS.items()},
            "sourceStatuses": {code: asdict(status) for code, status in SOURCE_STATUSES.items()},
            "demo": settings.demo,
            "demoTokenPath": DEMO_TOKEN_PATH if practitioners else None,
            "practitioners": [asdict(p) for p in practitioners],
            "roles": {role: label(role) for role in sorted(settings.protocol.roles)},
            "safeguardingReference": safeguarding.reference_hint if safeguarding else "",
        }
