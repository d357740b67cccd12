"""Parsed, validated and cost-checked documents, cached by their text.

Parsing and validating a query costs far more than executing a small one, and
front-ends send the same few documents over and over, so accepted documents are
cached, bounded by an estimate of their size in memory. A rejected document is
never cached: its rejection is cheap to repeat, and caching it would let one
client fill memory with distinct garbage.

Preparing a new document is CPU work on text a client chose; it runs on one
worker thread so that the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate

from gateway.config.settings import Limits
from gateway.edge.limits import check_limits
from gateway.edge.responses import error_entry, request_error

#: graphql-core's own guard against token floods in the parser. The README's person query
#: is 90 tokens; a flat selection costs 20-40 microseconds a token to parse on a small,
#: busy server (measured), so the limit keeps the dearest refusal near 25 ms.
MAX_TOKENS = 1_000
#: Longer text is refused before the parser sees it (long strings are few tokens).
MAX_DOCUMENT_CHARS = 24 * 1024
#: The cache's budget for parsed documents, in estimated bytes.
CACHE_BYTES = 32 * 1024 * 1024
#: Measured: a parsed document with its locations takes about 130 bytes per character.
_BYTES_PER_CHAR = 160
_ENTRY_OVERHEAD = 4096
#: Validation stops here; the client fixes the first few and asks again.
_MAX_VALIDATION_ERRORS = 10


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to execute, or the errors (formatted, without tracebacks) that stop it."""

    document: DocumentNode | None
    errors: tuple[dict[str, Any], ...]
    #: Estimated bytes the parsed document holds (what the cache budgets by).
    size: int = 0


class DocumentCache:
    """An LRU of prepared documents keyed by the exact document text, bounded in bytes."""

    def __init__(self, schema: GraphQLSchema, limits: Limits, max_bytes: int = CACHE_BYTES) -> None:
        self._schema = schema
        self._limits = limits
        self._cache: LRUCache[str, PreparedDocument] = LRUCache(
            maxsize=max_bytes, getsizeof=_size_of
        )
        self._worker: ThreadPoolExecutor | None = None

    def cached(self, text: str) -> PreparedDocument | None:
        """The prepared document for ``text`` if it was accepted before."""
        return self._cache.get(text)

    async def get(self, text: str) -> PreparedDocument:
        """The prepared document for ``text``, parsing and validating it on first sight."""
        prepared = self._cache.get(text)
        if prepared is not None:
            return prepared
        if self._worker is None:
            # One thread: a flood of new documents queues here instead of starving the loop.
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fame-documents")
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._worker, self.prepare, text)
        if prepared.document is not None and prepared.size <= self._cache.maxsize:
            self._cache[text] = prepared
        return prepared

    def prepare(self, text: str) -> PreparedDocument:
        """Parse, cost-check and validate ``text``; never raises for anything a client sends."""
        if len(text) > MAX_DOCUMENT_CHARS:
            return _rejected(
                f"the query is {len(text)} characters long; at most {MAX_DOCUMENT_CHARS} are "
                "accepted (split it into several queries)",
                "QUERY_TOO_LARGE",
            )
        try:
            document = parse(text, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return PreparedDocument(None, (request_error(_tagged(error, "GRAPHQL_PARSE_FAILED")),))
        limit_errors = check_limits(document, self._limits)
        if limit_errors:
            return PreparedDocument(None, tuple(request_error(e) for e in limit_errors))
        errors = validate(self._schema, document, max_errors=_MAX_VALIDATION_ERRORS)
        if errors:
            return PreparedDocument(None, tuple(request_error(e) for e in errors))
        return PreparedDocument(document, (), _ENTRY_OVERHEAD + _BYTES_PER_CHAR * len(text))

    def close(self) -> None:
        """Let the worker thread end once pending preparations are done."""
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None


def _size_of(prepared: PreparedDocument) -> int:
    return prepared.size


def _tagged(error: GraphQLError, code: str) -> GraphQLError:
    if not error.extensions:
        error.extensions = {"code": code}
    return error


def _rejected(message: str, code: str) -> PreparedDocument:
    return PreparedDocument(None, (error_entry(message, code),))
