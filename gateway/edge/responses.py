"""Every error the gateway sends, turned into a GraphQL-over-HTTP JSON body here and only here."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.responses import Response

log = logging.getLogger(__name__)

JSON = "application/json"
INTERNAL_MESSAGE = "internal error; the gateway has logged it"

_SUGGESTION = re.compile(r"\s*Did you mean .*\Z", re.DOTALL)


def without_suggestions(message: str) -> str:
    """The message without graphql-core's "Did you mean ...?" tail.

    Suggestions name fields, arguments, types and enum values close to what was
    typed, which maps the schema for anyone probing it; the gateway never sends them.
    """
    return _SUGGESTION.sub("", message)


def request_error(error: GraphQLError) -> dict[str, Any]:
    """A document's parse, limit or validation error as the client receives it."""
    body = dict(error.formatted)
    body["message"] = without_suggestions(error.message)
    body.setdefault("extensions", {"code": "GRAPHQL_VALIDATION_FAILED"})
    return body


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_entry(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """One entry of a GraphQL ``errors`` list."""
    return {"message": message, "extensions": {"code": code, **extensions}}


def error_response(
    message: str, code: str, status: int = 400, headers: Mapping[str, str] | None = None
) -> Response:
    """A request refused before execution: one error, no data."""
    return json_response({"errors": [error_entry(message, code)]}, status, headers)


def errors_response(errors: Iterable[Mapping[str, Any]], status: int = 400) -> Response:
    """A document refused before execution with several errors (already formatted)."""
    return json_response({"errors": list(errors)}, status)


def unauthenticated(reason: str) -> Response:
    """401 with the reason in the body and, ASCII-safe, in ``WWW-Authenticate``."""
    challenge = f'Bearer error="invalid_token", error_description="{_quoted(reason)}"'
    return error_response(reason, "UNAUTHENTICATED", 401, {"WWW-Authenticate": challenge})


def internal_error(correlation_id: str) -> Response:
    """500 for an unexpected exception: no detail beyond the id the log line carries."""
    return json_response(
        {
            "errors": [
                error_entry(
                    f"{INTERNAL_MESSAGE} under correlation id {correlation_id}; try again, "
                    "and quote the id if it persists",
                    "INTERNAL",
                    correlationId=correlation_id,
                )
            ]
        },
        500,
    )


def execution_error(error: GraphQLError) -> dict[str, Any]:
    """An error raised while executing: resolver exceptions are logged, never shown."""
    formatted = dict(error.formatted)
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        log.error("resolver failed", exc_info=error.original_error)
        formatted["message"] = INTERNAL_MESSAGE
        formatted["extensions"] = {"code": "INTERNAL"}
    else:
        formatted["message"] = without_suggestions(error.message)
    return formatted


def printable(text: str) -> str:
    """``text`` with everything but printable ASCII replaced by '?': safe in a log line."""
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _quoted(text: str) -> str:
    # A header value must be Latin-1 and an RFC 7235 quoted-string must not hold '"' or
    # '\\' unescaped; printable ASCII only keeps both true whatever the token said.
    return printable(text).replace('"', "'").replace("\\", "/")
