"""Documents: limits that cannot recurse, rejections never cached, the cache bounded in bytes."""

from __future__ import annotations

import itertools
import sys
from types import FrameType
from typing import Any

from graphql import DocumentNode, parse

from gateway.config.settings import Limits
from gateway.edge.documents import DocumentCache
from gateway.edge.limits import MAX_FRAGMENT_NESTING, check_limits
from resolvers.schema import schema

LIMITS = Limits(max_depth=10, max_aliases=30, max_fields=400)


def _codes(text: str) -> list[str]:
    document = parse(text, max_tokens=None)
    return [error.extensions["code"] for error in check_limits(document, LIMITS)]


def _chain(length: int) -> str:
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(length - 1))
    return f"{{ ...F0 }} {fragments} fragment F{length - 1} on Query {{ me {{ agency }} }}"


def _lines_run(document: DocumentNode) -> int:
    """How many lines of Python checking ``document`` runs: a measure of the work that is
    the same on any machine, however loaded, unlike a time."""
    lines = 0

    def trace(frame: FrameType, event: str, _arg: object) -> Any:
        nonlocal lines
        lines += event == "line"
        return trace

    sys.settrace(trace)
    try:
        check_limits(document, LIMITS)
    finally:
        sys.settrace(None)
    return lines


def test_a_chain_of_ten_thousand_fragments_is_answered_not_a_crash() -> None:
    assert _codes(_chain(10_000)) == ["QUERY_TOO_DEEP"]
    assert _codes(_chain(MAX_FRAGMENT_NESTING)) == []
    # Linear: ten times the fragments cost about ten times the work (a quadratic check
    # would cost a hundred times, and a hostile document could stall the gateway).
    short, long = (parse(_chain(length), max_tokens=None) for length in (1_000, 10_000))
    assert _lines_run(long) / _lines_run(short) < 12


def test_cycles_of_any_length_are_found() -> None:
    long_cycle = _chain(5_000).replace("fragment F4999 on Query { me { agency } }", "")
    long_cycle += " fragment F4999 on Query { ...F0 }"
    assert _codes(long_cycle) == ["FRAGMENT_CYCLE"]
    assert _codes("{ ...A } fragment A on Query { ...A }") == ["FRAGMENT_CYCLE"]


def test_fragment_fans_are_priced_by_what_they_expand_to() -> None:
    names = [f"F{i}" for i in range(12)]
    fan = " ".join(
        f"fragment {a} on Query {{ ...{b} ...{b} ...{b} }}" for a, b in itertools.pairwise(names)
    )
    text = f"{{ ...F0 }} {fan} fragment F11 on Query {{ me {{ agency }} }}"
    # 3^11 copies of two fields: counted (saturating), never expanded.
    assert _codes(text) == ["QUERY_TOO_COSTLY"]


def test_depth_counts_through_fragments_and_aliases_through_spreads() -> None:
    deep = "{ ...A } fragment A on Query { a { b { c { d { e { ...B } } } } } } "
    deep += "fragment B on Query { f { g { h { i { j { k } } } } } }"
    assert _codes(deep) == ["QUERY_TOO_DEEP"]
    aliased = "{ ...A ...B } fragment A on Query { %s } fragment B on Query { %s }" % (
        " ".join(f"a{i}: me {{ agency }}" for i in range(16)),
        " ".join(f"b{i}: me {{ agency }}" for i in range(16)),
    )
    assert _codes(aliased) == ["TOO_MANY_ALIASES"]


async def test_rejected_documents_are_never_cached() -> None:
    cache = DocumentCache(schema.graphql_schema, LIMITS)
    try:
        rejected = ["{ nosuch%d }" % i for i in range(50)] + ["{ me { agency } "]
        for text in rejected:
            prepared = await cache.get(text)
            assert prepared.document is None and prepared.errors
            assert cache.cached(text) is None
        accepted = await cache.get("{ me { agency } }")
        assert accepted.document is not None
        assert cache.cached("{ me { agency } }") is accepted
    finally:
        cache.close()


async def test_the_cache_is_bounded_in_bytes() -> None:
    cache = DocumentCache(schema.graphql_schema, LIMITS, max_bytes=300_000)
    try:
        texts = ["{ me { agency } } # %s" % ("x" * 1000 + str(i)) for i in range(100)]
        for text in texts:
            assert (await cache.get(text)).document is not None
        kept = [text for text in texts if cache.cached(text) is not None]
        assert 0 < len(kept) < len(texts)
        assert kept == texts[-len(kept) :], "the least recently used went first"
        assert sum(cache.cached(t).size for t in kept)  # type: ignore[union-attr] <= 300_000
    finally:
        cache.close()


async def test_suggestions_are_stripped_from_every_message() -> None:
    cache = DocumentCache(schema.graphql_schema, LIMITS)
    try:
        for text in ["{ mee { agency } }", "{ me { agencyy } }", "{ caseload(frist: 1) { id } }"]:
            prepared = await cache.get(text)
            assert prepared.errors
            for error in prepared.errors:
                assert "Did you mean" not in error["message"]
                assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    finally:
        cache.close()
