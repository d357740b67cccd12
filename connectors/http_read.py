"""An agency's aiohttp session, reading one answer under a size cap, and naming what went
wrong on the way.

Both HTTP-speaking kinds (``http`` and ``fhir``) open their sessions alike, read bodies
the same way and tell a timeout, an unreachable host, a truncated answer and an
unreadable one apart with the same connector errors; only the words differ, by what the
call was (``what``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from connectors.base import AgencyTimeout, AgencyUnavailable, ConnectorError
from gateway.core.registration import AgencyConfig


def agency_session(
    agency: AgencyConfig, headers: Mapping[str, str] | None = None
) -> aiohttp.ClientSession:
    """The session a connector calls ``agency`` through: at most ``max_concurrent_calls``
    connections, the agency's timeouts, and no cookie jar. The gateway calls for every
    practitioner over one session: a cookie that one call brought back must never ride
    along on another's (and keeping none spares every call a pass over the jar)."""
    return aiohttp.ClientSession(
        headers=headers,
        timeout=aiohttp.ClientTimeout(
            total=agency.timeout_seconds,
            sock_connect=agency.resilience.connect_timeout_seconds,
        ),
        connector=aiohttp.TCPConnector(limit=agency.resilience.max_concurrent_calls),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


@dataclass(frozen=True)
class Caller:
    """Who is calling and within what bounds, for the messages and the size cap."""

    agency_id: str
    name: str
    timeout_seconds: float
    max_response_bytes: int


def _to(what: str) -> str:
    # " the batch search" after a verb, or nothing when the call needs no naming.
    return f" {what}" if what else ""


async def read_capped(response: aiohttp.ClientResponse, caller: Caller, what: str = "") -> bytes:
    """The whole body, refused with a ConnectorError once it passes the caller's cap."""
    cap = caller.max_response_bytes
    length = response.content_length
    if length is not None and length > cap:
        raise ConnectorError(
            caller.agency_id, f"{caller.name} sent{_to(what)} a body larger than the {cap}-byte cap"
        )
    if length is not None and "Content-Encoding" not in response.headers:
        # Within the cap as announced, and not compressed (a compressed body's length says
        # nothing of what it unpacks to): aiohttp reads no more than the Content-Length it
        # parsed, so the body is read in one go (a shorter one is a ClientPayloadError).
        return await response.read()
    buffer = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        buffer += chunk
        if len(buffer) > cap:
            raise ConnectorError(
                caller.agency_id,
                f"{caller.name} sent{_to(what)} a body larger than the {cap}-byte cap",
            )
    return bytes(buffer)


def transport_error(
    exc: TimeoutError | aiohttp.ClientError, caller: Caller, what: str = ""
) -> ConnectorError:
    """The connector error for a failed exchange: timed out, unreachable, cut off or unreadable.

    Raise it ``from exc``; ``what`` names the call in the message ("the token endpoint").
    """
    name = caller.name
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return AgencyTimeout(
            caller.agency_id,
            f"{name} did not answer{_to(what)} within {caller.timeout_seconds:g}s",
        )
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return ConnectorError(caller.agency_id, f"{name} sent{_to(what)} a truncated answer")
    if isinstance(exc, aiohttp.ClientConnectionError):
        where = f" ({what})" if what else ""
        return AgencyUnavailable(caller.agency_id, f"{name} could not be reached{where}")
    answer = f"answer to {what}" if what else "answer"
    return ConnectorError(caller.agency_id, f"{name}'s {answer} could not be read")
