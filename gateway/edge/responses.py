"""Every error the gateway sends, turned into a GraphQL-over-HTTP JSON body here and only here.

Two kinds of refusal differ in their status code. A *request error* (a document that
does not parse or validate, a limit, an operation that cannot be chosen, variables that
do not coerce, an unknown or untrusted persisted document) is a well-formed GraphQL
request that failed: under ``application/graphql-response+json`` it is a 400, under the
legacy ``application/json`` a 200, as the GraphQL-over-HTTP specification says, because
there a status other than 200 may as well have come from a proxy. Every other refusal
(authentication, purpose of use, a malformed HTTP request, the audit being down) keeps
its own status whatever the client accepts.
"""

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
#: The GraphQL-over-HTTP response media type: its status codes can be trusted.
GRAPHQL_RESPONSE = "application/graphql-response+json"
#: Media ranges of an Accept header looked at, at most (the rest is ignored).
_MAX_MEDIA_RANGES = 32
INTERNAL_MESSAGE = "internal error; the gateway has logged it"
#: The code of a field error raised without one of its own.
FIELD_FAILED = "FIELD_FAILED"

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


def negotiate(accept: str) -> str | None:
    """The media type to answer in for this ``Accept`` header, or None (406) for neither.

    ``application/graphql-response+json`` whenever the client lists it; otherwise
    ``application/json`` when acceptable (also for ``*/*`` and no header at all, as the
    specification asks while clients move over); otherwise the newer type if a wildcard
    admits it.
    """
    if not accept.strip():
        return JSON
    weights: dict[str, float] = {}
    for media_range in accept.split(",")[:_MAX_MEDIA_RANGES]:
        media, *params = media_range.split(";")
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0  # a weight that cannot be read admits nothing
                if not 0.0 <= weight <= 1.0:
                    weight = 0.0
        media = media.strip().lower()
        if media:
            weights[media] = max(weights.get(media, 0.0), weight)

    def weight_of(media_type: str) -> float:
        # The most specific range decides (RFC 9110, 12.5.1).
        for candidate in (media_type, media_type.split("/")[0] + "/*", "*/*"):
            if candidate in weights:
                return weights[candidate]
        return 0.0

    if weights.get(GRAPHQL_RESPONSE, 0.0) > 0:
        return GRAPHQL_RESPONSE
    if weight_of(JSON) > 0:
        return JSON
    if weight_of(GRAPHQL_RESPONSE) > 0:
        return GRAPHQL_RESPONSE
    return None


def not_acceptable() -> Response:
    """406 for a client that accepts neither JSON type (the body is JSON all the same)."""
    return error_response(
        f"this endpoint answers in {GRAPHQL_RESPONSE} or {JSON}; send an Accept header "
        "listing one of them",
        "NOT_ACCEPTABLE",
        406,
    )


class Answers:
    """The responses to one request, in the media type its client accepts."""

    def __init__(self, media_type: str = JSON) -> None:
        self.media_type = media_type

    def body(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A GraphQL response body as it is."""
        return json_response(body, status, headers, self.media_type)

    def refusal(
        self, message: str, code: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A request refused outside GraphQL: the status is the same whatever is accepted."""
        return self.body({"errors": [error_entry(message, code)]}, status, headers)

    def request_errors(self, errors: Iterable[Mapping[str, Any]]) -> Response:
        """A well-formed request that failed before execution (already formatted errors):
        400 under ``application/graphql-response+json``, 200 under ``application/json``."""
        status = 400 if self.media_type == GRAPHQL_RESPONSE else 200
        return self.body({"errors": list(errors)}, status)

    def request_error(self, message: str, code: str) -> Response:
        """One request error (see :meth:`request_errors`)."""
        return self.request_errors([error_entry(message, code)])

    def unauthenticated(self, reason: str) -> Response:
        """401 with the reason in the body and, ASCII-safe, in ``WWW-Authenticate``."""
        return self.refusal(reason, "UNAUTHENTICATED", 401, _challenge(reason))

    def not_allowed(self, message: str, allow: str) -> Response:
        """405 naming the methods that are allowed (a mutation sent with GET)."""
        return self.refusal(message, "METHOD_NOT_ALLOWED", 405, {"Allow": allow})


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    media_type: str = JSON,
) -> Response:
    """A JSON response (UTF-8, as JSON always is)."""
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=headers)


def error_entry(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    """One entry of a GraphQL ``errors`` list."""
    return {"message": message, "extensions": {"code": code, **extensions}}


def error_response(
    message: str, code: str, status: int = 400, headers: Mapping[str, str] | None = None
) -> Response:
    """A request refused before execution: one error, no data."""
    return json_response({"errors": [error_entry(message, code)]}, status, headers)


def _challenge(reason: str) -> dict[str, str]:
    return {
        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{_quoted(reason)}"'
    }


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
        extensions: dict[str, Any] = dict(error.extensions or {})
        if not extensions.get("code"):
            # Every error carries a code; one raised without names only a failed field.
            formatted["extensions"] = {**extensions, "code": FIELD_FAILED}
    return formatted


def printable(text: str) -> str:
    """``text`` with everything but printable ASCII replaced by '?': safe in a log line."""
    if text.isascii() and text.isprintable():
        return text  # the usual case, checked in C: ASCII is printable from ' ' to '~'
    return "".join(c if " " <= c <= "~" else "?" for c in text)


def _quoted(text: str) -> str:
    # A header value must be Latin-1 and an RFC 7235 quoted-string must not hold '"' or
    # '\\' unescaped; printable ASCII only keeps both true whatever the token said.
    return printable(text).replace('"', "'").replace("\\", "/")
