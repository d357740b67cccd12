"""Logs for operators: one JSON object per line (or plain text), each carrying the request id.

The standard library's logging with a formatter of its own, no logging framework.
Structured fields travel on a record as ``extra={"fame": {...}}``; whatever is logged
during a request also carries that request's id, from a context variable set at the
HTTP edge. Values about people are never passed to a log call in the first place: a
formatter cannot tell a name from an agency id.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

#: The id of the request being served in this context (the audit records carry it too).
REQUEST_ID: ContextVar[str | None] = ContextVar("fame_request_id", default=None)
FIELDS = "fame"


def current_request_id() -> str:
    """The id of the request being served, or a new one outside any request."""
    found = REQUEST_ID.get()
    return found if found is not None else str(uuid.uuid4())


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged in, while still in the
    request's context (a handler that formats later, elsewhere, would not see it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record, with ``request_id`` set when logged during a request."""
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
    if request_id is not None:
        fields["request_id"] = request_id
    extra = getattr(record, FIELDS, None)
    if isinstance(extra, dict):
        fields.update(extra)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line: time, level, logger, message, request id,
    the record's structured fields, and the exception's traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """A line for a person at a terminal: time, level, logger, message, then the fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The record as text, its structured fields as ``key=value`` after the message."""
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")
        pairs = " ".join(
            f"{key}={orjson.dumps(value).decode() if isinstance(value, dict | list) else value}"
            for key, value in fields.items()
        )
        return f"{head} [{pairs}]{newline}{rest}"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (so that calling it again replaces it)."""


def configure(log_format: str = "json", level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record of the process (uvicorn's too) to ``stream`` (standard error)
    in ``log_format``, from ``level`` up."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
