"""Spans for operators: one per request, policy step, agency call and audit append, and
the agency call's trace context carried to an HTTP agency; nothing at all when off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fame_demo.synthetic import Population
from gateway.config.settings import load_settings
from gateway.core import tracing
from tests.support import SqlTrace, World, build_config, permissive_protocol, traced_world

TRUST = "shire-community-health"
QUERY = """{ person(id: "%s") {
    involvements { team agency { id } }
    health { medications { name } communityEpisodes { service } }
    socialCare { carePackages { service } }
    housing { tenancies { tenure } } } }"""


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Spans of this test, kept in memory; tracing is off again afterwards."""
    spans = InMemorySpanExporter()
    tracing.start_with(spans)
    try:
        yield spans
    finally:
        tracing.stop()


@pytest.fixture
async def traced(
    tmp_path: Path, population: Population, store_dir: Path
) -> AsyncIterator[tuple[World, SqlTrace]]:
    async with traced_world(
        tmp_path, population, store_dir, protocol=permissive_protocol()
    ) as running:
        yield running


def _named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_one_span_per_agency_call_and_the_http_agency_continues_its_trace(
    traced: tuple[World, SqlTrace], exporter: InMemorySpanExporter
) -> None:
    world, _ = traced
    world.trust.calls.clear()
    result = await world.query(QUERY % world.person_id(0))
    assert "errors" not in result, result
    spans = tuple(exporter.get_finished_spans())

    calls = _named(spans, "fame.agency_call")
    called = sorted(
        agency for agency, source in result["extensions"]["sources"].items() if source["calls"]
    )
    assert len(called) == 4
    assert sorted(str(span.attributes["fame.agency"]) for span in calls) == called
    (request,) = _named(spans, "POST /graphql")
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    (policy,) = _named(spans, "fame.policy")
    appends = _named(spans, "fame.audit_append")
    assert sorted(str(span.attributes["fame.kind"]) for span in appends) == [
        "disclosure",
        "intent",
    ]
    # Every span is of the request's trace, under its span.
    trace_id = request.context.trace_id
    for span in (*calls, policy, *appends):
        assert span.context.trace_id == trace_id
        assert span.parent is not None
    assert policy.parent is not None and policy.parent.span_id == request.context.span_id

    # The trust's API received the traceparent of its own agency call's span.
    (trust_span,) = [span for span in calls if span.attributes["fame.agency"] == TRUST]
    (received,) = world.trust.calls
    assert received.traceparent is not None
    version, trace_hex, span_hex, flags = received.traceparent.split("-")
    assert int(trace_hex, 16) == trust_span.context.trace_id
    assert int(span_hex, 16) == trust_span.context.span_id
    assert version == "00" and int(flags, 16) & 1  # sampled


async def test_off_by_default_no_spans_and_no_traceparent(traced: tuple[World, SqlTrace]) -> None:
    world, _ = traced
    assert not tracing.enabled()
    assert tracing.headers() is None
    world.trust.calls.clear()
    result = await world.query(QUERY % world.person_id(0))
    assert "errors" not in result, result
    (received,) = world.trust.calls
    assert received.traceparent is None


def test_tracing_settings(tmp_path: Path, store_dir: Path) -> None:
    config = build_config(
        tmp_path,
        trust_url="http://127.0.0.1:9",
        store_dir=store_dir,
        settings_edits={
            "[limits]": '[tracing]\nexporter = "otlp"\nendpoint = "http://127.0.0.1:4318/v1/traces"'
            '\nservice_name = "fame-gateway-test"\nsample_ratio = 0.5\n\n[limits]'
        },
    )
    settings = load_settings(config).tracing
    assert settings.enabled and settings.exporter == "otlp"
    assert settings.endpoint == "http://127.0.0.1:4318/v1/traces"
    assert (settings.service_name, settings.sample_ratio) == ("fame-gateway-test", 0.5)
    default = build_config(tmp_path / "plain", trust_url="http://127.0.0.1:9", store_dir=store_dir)
    assert not load_settings(default).tracing.enabled
