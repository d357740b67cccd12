"""Custom scalars of the client view.

Dates and instants are bounded when they come in, once for every argument that
uses them: a year outside what any record can hold (0001, 9999 with an offset)
is the client's mistake, said as such, not arithmetic failing deep in a resolver.
"""

from __future__ import annotations

import datetime as dt
from operator import itemgetter
from typing import Any

import graphene
from graphql import GraphQLError, StringValueNode, ValueNode

from gateway.pipeline.execution import serialize_shortcuts

#: The earliest and latest year any date or instant argument may name.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2199


def _invalid(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def _check_year(year: int, written: str) -> None:
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise _invalid(
            f"{written!r} is outside the years {EARLIEST_YEAR} to {LATEST_YEAR} that the "
            "gateway accepts; give a date in that range"
        )


class Date(graphene.Scalar):  # type: ignore[misc]
    """A calendar date, ISO 8601 (``2025-03-14``), in the years 1900 to 2199."""

    @staticmethod
    def serialize(value: Any) -> str:
        """Agencies hold dates as dates or ISO text; both leave as ISO text."""
        if value.__class__ is dt.date:  # the commonest, first
            return value.isoformat()
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            return value[:10]
        raise GraphQLError(f"Date cannot represent {type(value).__name__} value")

    @staticmethod
    def parse_value(value: Any) -> dt.date:
        """A date variable, written ``YYYY-MM-DD``."""
        if not isinstance(value, str):
            raise _invalid("a Date is written as a string, YYYY-MM-DD")
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise _invalid(f"{value[:40]!r} is not a date; write YYYY-MM-DD") from exc
        _check_year(parsed.year, value)
        return parsed

    @staticmethod
    def parse_literal(node: ValueNode, _variables: Any = None) -> dt.date:
        """A date literal in a document, written ``"YYYY-MM-DD"``."""
        if not isinstance(node, StringValueNode):
            raise _invalid("a Date is written as a string, YYYY-MM-DD")
        return Date.parse_value(node.value)


# What the projector may call in place of Date.serialize, as it returns the same.
serialize_shortcuts(Date.serialize, {dt.date: dt.date.isoformat, str: itemgetter(slice(10))})


class DateTime(graphene.Scalar):  # type: ignore[misc]
    """An instant, ISO 8601 with a UTC offset (``2025-03-14T09:30:00+01:00``; without an
    offset it is taken as UTC), in the years 1900 to 2199."""

    @staticmethod
    def serialize(value: Any) -> str:
        """Instants leave as ISO 8601 text with their offset."""
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        raise GraphQLError(f"DateTime cannot represent {type(value).__name__} value")

    @staticmethod
    def parse_value(value: Any) -> dt.datetime:
        """An instant variable; always comes back aware, in UTC."""
        if not isinstance(value, str):
            raise _invalid("a DateTime is written as a string, e.g. 2025-03-14T09:30:00+00:00")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError as exc:
            raise _invalid(
                f"{value[:40]!r} is not an ISO 8601 date and time; write e.g. "
                "2025-03-14T09:30:00+00:00"
            ) from exc
        _check_year(parsed.year, value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)

    @staticmethod
    def parse_literal(node: ValueNode, _variables: Any = None) -> dt.datetime:
        """An instant literal in a document."""
        if not isinstance(node, StringValueNode):
            raise _invalid("a DateTime is written as a string, e.g. 2025-03-14T09:30:00+00:00")
        return DateTime.parse_value(node.value)
