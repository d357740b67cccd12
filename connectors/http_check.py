"""Why an http agency's check failed, as file, key, problem and what to do.

The connector's own errors say what a practitioner's request met ("could not be
reached"); an integrator needs more: which host and port, what the operating system or
the server said, and which key of the agency file to look at.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from connectors.base import AgencyTimeout, ConnectorError
from gateway.core.errors import ConfigError


class AnsweredStatus(ConnectorError):
    """The agency answered with an HTTP status other than 200."""

    def __init__(self, agency: str, name: str, status: int, reason: str | None) -> None:
        self.status = status
        self.reason = reason or ""
        super().__init__(agency, f"{name} answered HTTP {status}")


def _cause(exc: BaseException) -> str:
    found: BaseException = exc
    while found.__cause__ is not None:
        found = found.__cause__
    return f"{type(found).__name__}: {found}"


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        os_error = getattr(current, "os_error", None)
        current = os_error if isinstance(os_error, OSError) else current.__cause__
    return chain


def unreachable(file: Path, endpoint: str, exc: ConnectorError) -> ConfigError:
    """The agency's API could not be reached: unknown host, refused, timed out."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    chain = _chain(exc)
    cause = _cause(exc)
    if isinstance(exc, AgencyTimeout):
        problem = f"points at {host}:{port}, which did not answer in time ({exc})"
        fix = "Check the host and port, and that no firewall drops the connection."
    elif any(isinstance(e, socket.gaierror) for e in chain):
        problem = f"names the host {host!r}, which could not be found ({cause})"
        fix = "Check the host name, and that this machine's DNS can resolve it."
    elif any(isinstance(e, ConnectionRefusedError) for e in chain):
        problem = f"points at {host}:{port}, which refused the connection: nothing listens there"
        fix = "Check the host and port, and that the agency's API is running."
    else:
        problem = f"points at {host}:{port}, which could not be reached ({cause})"
        fix = "Check the URL and the network between the gateway and the agency."
    return ConfigError(file, "source.base_url", problem, fix)


def answer_problem(
    file: Path, endpoint: str, token_env: str | None, exc: ConnectorError
) -> ConfigError:
    """The API answered, but not as the gateway needs: which key to look at."""
    if isinstance(exc, AnsweredStatus):
        said = f"HTTP {exc.status} {exc.reason}".strip()
        if exc.status in (404, 405):
            return ConfigError(
                file,
                "source.path",
                f"names the endpoint {endpoint}, which answered {said}: there is no such endpoint",
                "Check base_url and path against the agency's API documentation: path is the "
                "endpoint that looks people up by id (e.g. /v2/people).",
            )
        if exc.status in (401, 403):
            key = "source.token_env"
            fix = (
                f"Check the token in {token_env} with the agency: it was refused."
                if token_env
                else 'The API wants a token: write token_env = "FAME_<AGENCY>_TOKEN" and set '
                "that variable."
            )
            return ConfigError(file, key, f"{endpoint} answered {said}", fix)
        return ConfigError(
            file,
            "source.base_url",
            f"{endpoint} answered {said}",
            "Ask the agency why its API refuses the gateway's request.",
        )
    return ConfigError(
        file,
        "source.path",
        f"{endpoint} gave an answer the gateway cannot use ({exc})",
        "Check that path names the agency's JSON people endpoint.",
    )
