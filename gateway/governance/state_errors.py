"""Every failure of the state database logged: which operation, never which data.

Two hooks, so that each failure is logged once:

- an SQLAlchemy ``handle_error`` listener on every state engine logs a failed
  statement as its verb and table (``INSERT disclosures``) or a failed connect, with
  the error's class and code. Never the statement's parameters, nor the error's
  message, which on some servers quotes the offending values.
- :class:`~gateway.governance.state_db.StateDatabase` logs an operation that failed
  without the listener seeing it (the request path's statements that run on
  ``sqlite3`` directly), naming the operation's function.

Neither costs anything until something fails.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

log = logging.getLogger("gateway.state")

_VERB = re.compile(r"\s*(\w+)")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|TABLE)\s+[\"`]?(\w+)", re.IGNORECASE)
#: Set on an exception once it is logged, so that it is logged once.
_LOGGED = "_fame_state_logged"


def statement_kind(statement: str | None) -> str:
    """A statement's verb and first table, e.g. ``SELECT consents``; never its values."""
    if not statement:
        return "connect"
    verb = _VERB.match(statement)
    table = _TABLE.search(statement)
    words = [verb.group(1).upper() if verb else "statement"]
    if table:
        words.append(table.group(1))
    return " ".join(words)


def error_kind(exc: BaseException) -> dict[str, str]:
    """The error's class and, where the driver gives one, its code (no message)."""
    kind = {"error": f"{type(exc).__module__}.{type(exc).__qualname__}"}
    for attribute in ("sqlstate", "pgcode", "sqlite_errorname"):
        code = getattr(exc, attribute, None)
        if isinstance(code, str) and code:
            kind["code"] = code
            break
    return kind


def _mark(*errors: BaseException | None) -> None:
    for error in errors:
        if error is not None:
            # An exception without attributes of its own is logged again if seen again.
            with contextlib.suppress(AttributeError, TypeError):
                setattr(error, _LOGGED, True)


def _on_error(context: ExceptionContext) -> None:
    original = context.original_exception
    operation = statement_kind(context.statement)
    fields = {"event": "state_database_error", "operation": operation, **error_kind(original)}
    log.error("state database: %s failed (%s)", operation, fields["error"], extra={"fame": fields})
    _mark(original, context.sqlalchemy_exception)


def watch(engine: Engine) -> None:
    """Log every failed statement or connect of ``engine``."""
    if not event.contains(engine, "handle_error", _on_error):
        event.listen(engine, "handle_error", _on_error)


def operation_failed(kind: str, fn: Callable[..., object], exc: BaseException) -> None:
    """Log that operation ``fn`` (a ``read`` or ``write``) failed, unless already logged."""
    if getattr(exc, _LOGGED, False) or getattr(exc.__cause__, _LOGGED, False):
        return
    operation = f"{kind} {getattr(fn, '__qualname__', type(fn).__name__)}"
    fields = {"event": "state_database_error", "operation": operation, **error_kind(exc)}
    log.error("state database: %s failed (%s)", operation, fields["error"], extra={"fame": fields})
    _mark(exc)
