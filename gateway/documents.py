"""Parsed, validated and cost-checked documents, cached by their text.

Parsing and validating a query costs far more than executing a small one, and
front-ends send the same few documents over and over; a hostile document is
rejected once and its rejection is cached too.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate

from gateway.limits import check_limits
from gateway.settings import Limits

#: graphql-core's own guard against token floods in the parser.
_MAX_TOKENS = 20_000


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to execute, or the errors that stop it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class DocumentCache:
    """An LRU of prepared documents keyed by the exact document text."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 1024) -> None:
        self._schema = schema
        self._limits = limits
        self._cache: LRUCache[str, PreparedDocument] = LRUCache(maxsize=size)

    def get(self, text: str) -> PreparedDocument:
        """The prepared document for ``text``, parsing and validating it on first sight."""
        prepared = self._cache.get(text)
        if prepared is None:
            prepared = self._prepare(text)
            self._cache[text] = prepared
        return prepared

    def _prepare(self, text: str) -> PreparedDocument:
        try:
            document = parse(text, max_tokens=_MAX_TOKENS)
        except GraphQLError as error:
            return PreparedDocument(None, (error,))
        limit_errors = check_limits(document, self._limits)
        if limit_errors:
            return PreparedDocument(None, tuple(limit_errors))
        errors = validate(self._schema, document, max_errors=10)
        if errors:
            return PreparedDocument(None, tuple(errors))
        return PreparedDocument(document, ())
