"""One route served without Starlette's router: the same answers, fewer layers per request.

A request to ``/graphql`` through Starlette passes its exception middleware, the router,
the route's body limit and the request-response wrapper, each a coroutine and most a
wrapped ``send``, before the endpoint sees it. :class:`DirectRoute` serves a ``Route``'s
endpoint in one step and answers exactly as that stack does:

- a method the route does not allow: 405 ``Method Not Allowed`` (plain text) with
  ``Allow`` listing the route's methods;
- a body over ``max_body_size``, whether its ``Content-Length`` says so or it arrives
  in chunks: 413 ``Content Too Large`` (plain text) when the endpoint reads it;
- a ``Content-Length`` over the limit: 413 instead of whatever the endpoint answered
  without reading the body;
- an ``HTTPException`` the endpoint raises: the response Starlette's default handler
  gives it. Any other exception goes to the layer outside, as it would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

#: What Starlette's body limit answers, word for word.
TOO_LARGE = "Content Too Large"

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute:
    """An ASGI app serving one ``Route``'s (asynchronous) endpoint as the router would."""

    def __init__(self, route: Route, max_body_size: int) -> None:
        self._endpoint: Endpoint = route.endpoint
        self._methods = frozenset(route.methods or ())
        # The route's own set, joined as the route joins it, so that Allow reads the same.
        self._allow = ", ".join(route.methods or ())
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request."""
        if self._methods and scope["method"] not in self._methods:
            refused = PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": self._allow}
            )
            await refused(scope, receive, send)
            return
        limit = self.max_body_size
        declared = _content_length(scope)
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise HTTPException(413, TOO_LARGE)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        try:
            response = await self._endpoint(Request(scope, receive_within_limit))
        except HTTPException as exc:
            response = _handled(exc)
        if declared is not None and declared > limit:
            # Announced too large: refused even when the endpoint answered unread.
            response = PlainTextResponse(TOO_LARGE, status_code=413)
        await response(scope, receive_within_limit, send)


def _handled(exc: HTTPException) -> Response:
    # Starlette's default handler for an HTTPException (starlette.middleware.exceptions).
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def _content_length(scope: Scope) -> int | None:
    """The first ``Content-Length`` as a number, or None when absent or unreadable (as
    Starlette's body limit reads it)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value.decode("latin-1"))
            except ValueError:
                return None
    return None
