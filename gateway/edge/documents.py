"""Parsed, validated and cost-checked documents, cached by their text; trusted documents.

Parsing and validating a query costs far more than executing a small one, and
front-ends send the same few documents over and over, so accepted documents are
cached, bounded by an estimate of their size in memory. A rejected document is
never cached: its rejection is cheap to repeat, and caching it would let one
client fill memory with distinct garbage.

Preparing a new document is CPU work on text a client chose; it runs on one
worker thread so that the event loop keeps serving other requests meanwhile.

Trusted documents are registered by the sha256 of their text in a manifest file beside
the settings (``fame-gateway documents add``), not in the state database: which
documents a deployment's front-ends send is part of what is deployed and reviewed, like
the sharing protocol, not state that changes while the gateway runs; a file travels with
the release that needs it, reads without a database round trip, and has the
``{hash: document}`` shape that client build tools already write.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cachetools import LRUCache
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, validate

from gateway.config.settings import Limits
from gateway.core.errors import ConfigError
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

#: A sha256 as manifests and ``persistedQuery.sha256Hash`` write it: 64 lower-case hex digits.
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

log = logging.getLogger(__name__)


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


def document_hash(text: str) -> str:
    """The sha256 (hex) of a document's exact text, as UTF-8: its id as a trusted or
    persisted document (Apollo's ``persistedQuery.sha256Hash`` is the same)."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """The trusted documents in a manifest file: a JSON object of sha256 -> document text.

    No file is no documents. A manifest whose entries do not hash to their keys is
    refused whole: a document must never run under another's id.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        entries = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(path, "(the whole file)", f"is not JSON: {exc}", _REWRITE) from None
    if not isinstance(entries, dict):
        raise ConfigError(path, "(the whole file)", "is not a JSON object", _REWRITE)
    for key, text in entries.items():
        if not isinstance(text, str) or not SHA256_HEX.fullmatch(key) or document_hash(text) != key:
            raise ConfigError(path, key[:80], "is not the sha256 of its document", _REWRITE)
    return entries


def write_manifest(path: Path, documents: Mapping[str, str]) -> None:
    """Write the manifest, sorted (reviewable diffs), replacing the file in one rename so
    that a gateway reading it meanwhile sees the old set or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(
        orjson.dumps(dict(sorted(documents.items())), option=orjson.OPT_INDENT_2) + b"\n"
    )
    os.replace(temporary, path)


class TrustedDocuments:
    """The documents registered in the manifest, by hash.

    Read at start-up; a lookup that misses reads the file again if it has changed since,
    so ``fame-gateway documents add`` takes effect without a restart. A manifest that
    has become unreadable is logged and the documents read before stay in force.
    """

    def __init__(self, manifest: Path | None) -> None:
        self._path = manifest
        self._stamp: tuple[int, int] | None = None
        self._documents: dict[str, str] = {}
        if manifest is not None:
            self._stamp = _stamp(manifest)
            self._documents = read_manifest(manifest)

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, sha256: str) -> str | None:
        """The registered document with this hash, or None."""
        found = self._documents.get(sha256)
        if found is None and self._changed():
            found = self._documents.get(sha256)
        return found

    def trusts(self, sha256: str) -> bool:
        """Whether the document with this hash is registered."""
        return self.get(sha256) is not None

    def _changed(self) -> bool:
        if self._path is None:
            return False
        stamp = _stamp(self._path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            self._documents = read_manifest(self._path)
        except (ConfigError, OSError) as exc:
            log.error("the trusted documents manifest was not reloaded: %s", exc)
            return False
        log.info("trusted documents reloaded: %d registered", len(self._documents))
        return True


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


_REWRITE = "Rewrite it with `fame-gateway documents add FILE...`."
