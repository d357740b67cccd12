"""One HTTP exchange with a FHIR server or its token endpoint, turned into JSON or into the
connector error that says what went wrong (timeout, unreachable, too large, not JSON)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from connectors.base import ConnectorError
from connectors.http_read import Caller, read_capped, transport_error


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status and its body as JSON (None when the body was empty)."""

    status: int
    body: Any


async def exchange(
    session: aiohttp.ClientSession,
    caller: Caller,
    method: str,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    json_body: bytes | None = None,
) -> Answer:
    """Send one request; any status comes back, but the body must be JSON within the cap.

    ``what`` names the call in messages ("the batch search", "the token endpoint").
    """
    sent_headers = dict(headers or {})
    if json_body is not None:
        sent_headers["Content-Type"] = "application/fhir+json"
    try:
        async with session.request(
            method, url, headers=sent_headers, data=json_body if json_body is not None else data
        ) as response:
            buffer = await read_capped(response, caller, what)
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise transport_error(exc, caller, what) from exc
    if not buffer:
        return Answer(status, None)
    try:
        return Answer(status, orjson.loads(buffer))
    except orjson.JSONDecodeError as exc:
        if status >= 400:
            # An error page in HTML says no more than its status does.
            return Answer(status, None)
        raise ConnectorError(
            caller.agency_id, f"{caller.name} answered {what} with something that is not JSON"
        ) from exc


def outcome_text(body: Any) -> str:
    """The diagnostics of an OperationOutcome (or an OAuth error), for a message; may be ''."""
    if not isinstance(body, dict):
        return ""
    if body.get("resourceType") == "OperationOutcome":
        texts = [
            str(issue.get("diagnostics") or (issue.get("details") or {}).get("text") or "")
            for issue in body.get("issue") or []
            if isinstance(issue, dict)
        ]
        return "; ".join(text for text in texts if text)[:300]
    error = body.get("error")
    if isinstance(error, str):
        description = body.get("error_description")
        return f"{error}: {description}"[:300] if isinstance(description, str) else error[:300]
    return ""
