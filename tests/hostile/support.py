"""What every hostile request is checked for, and the normal query that must still work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import World

#: A normal query across all four agencies: the gateway is healthy when this answers.
NORMAL = '{ person(id: "%s") { demographics { familyName } involvements { team } } }'


@dataclass(frozen=True)
class Case:
    """One hostile HTTP request and the answer it must get."""

    name: str
    body: bytes | None = None
    status: int = 400
    #: The ``extensions.code`` of the first error, where the answer has a GraphQL body.
    code: str | None = None
    #: Text the first error's message must contain.
    says: str | None = None
    method: str = "POST"
    path: str = "/graphql"
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    #: Who sends it: a sample practitioner, or None for no Authorization header.
    as_: str | None = "sw-patel"
    #: The Accept header, where not the client's (application/graphql-response+json).
    accept: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def is_json(response: httpx.Response) -> bool:
    """Whether the answer is JSON, in either GraphQL-over-HTTP media type."""
    return response.headers.get("content-type", "").startswith(
        ("application/json", "application/graphql-response+json")
    )


def problems(response: httpx.Response) -> list[str]:
    """What no answer to anything may ever contain."""
    found = []
    if response.status_code >= 500:
        found.append(f"HTTP {response.status_code}")
    text = response.text
    if "Did you mean" in text:
        found.append("a suggestion")
    if "Traceback" in text or 'File "' in text:
        found.append("a traceback")
    if is_json(response):
        body = response.json()
        if isinstance(body, dict):
            for error in body.get("errors") or []:
                if (error.get("extensions") or {}).get("code") == "INTERNAL":
                    found.append(f"an INTERNAL error: {error}")
    for name, value in response.headers.raw:
        if not value.isascii():
            found.append(f"a non-ASCII {name.decode()} header")
    if "fame-correlation-id" not in response.headers:
        found.append("no correlation id")
    return found


async def healthy(world: World) -> None:
    """The gateway still answers a normal query completely."""
    result = await world.query(NORMAL % world.person_id(0))
    assert "errors" not in result, result
    assert result["data"]["person"]["demographics"]["familyName"], result
    assert all(s["status"] == "ok" for s in result["extensions"]["sources"].values()), result


def first_error(response: httpx.Response) -> dict[str, Any]:
    """The first GraphQL error of a JSON answer."""
    body = response.json()
    assert isinstance(body, dict) and body.get("errors"), response.text
    error: dict[str, Any] = body["errors"][0]
    return error
