"""Custom scalars of the client view."""

from __future__ import annotations

import datetime as dt
from typing import Any

import graphene
from graphql import GraphQLError, StringValueNode, ValueNode


class Date(graphene.Scalar):  # type: ignore[misc]
    """A calendar date, ISO 8601 (``2025-03-14``)."""

    @staticmethod
    def serialize(value: Any) -> str:
        """Agencies hold dates as dates or ISO text; both leave as ISO text."""
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
            raise GraphQLError("a Date is written as a string, YYYY-MM-DD")
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise GraphQLError(f"{value!r} is not a date; write YYYY-MM-DD") from exc

    @staticmethod
    def parse_literal(node: ValueNode, _variables: Any = None) -> dt.date:
        """A date literal in a document, written ``"YYYY-MM-DD"``."""
        if not isinstance(node, StringValueNode):
            raise GraphQLError("a Date is written as a string, YYYY-MM-DD")
        return Date.parse_value(node.value)
