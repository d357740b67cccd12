"""OpenTelemetry spans for operators: per request, policy step, agency call and audit append.

Off unless ``[tracing]`` names an exporter, and then the request path pays nothing
that shows: every hook first reads one module global (``_tracer``), and while it is
None a hook returns at once, the awaitable it was handed or a shared do-nothing
context manager; no span, context or attribute is made, and the OpenTelemetry SDK is
not even imported. The Judge's decisions of a request get one span between them, not
one per item: a caseload decides thousands of items, and a span each would cost more
than the decisions.

The tracer is this module's own, not OpenTelemetry's global one, so that a test (or
an embedding application) can trace into an exporter of its choosing and stop again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

T = TypeVar("T")

#: None while tracing is off: the one thing every hook reads.
_tracer: Tracer | None = None
_provider: TracerProvider | None = None
_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()

#: The scope of the spans, as OpenTelemetry names the instrumenting library.
SCOPE = "fame-gateway"


def enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def start(
    exporter: str,
    *,
    endpoint: str | None = None,
    service_name: str = "fame-gateway",
    sample_ratio: float = 1.0,
) -> None:
    """Trace into ``exporter``: ``"otlp"`` (OTLP over HTTP, batched), ``"console"``
    (standard output) or ``"none"`` (stays off)."""
    if exporter == "none":
        return
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    span_exporter: SpanExporter
    if exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter(endpoint=endpoint)
    elif exporter == "console":
        span_exporter = ConsoleSpanExporter(service_name=service_name)
    else:
        raise ValueError(f"no such span exporter: {exporter!r}")
    # Batched, on the processor's own thread: exporting never waits on the request path.
    _install(BatchSpanProcessor(span_exporter), service_name, sample_ratio)


def start_with(exporter: SpanExporter, *, service_name: str = "fame-gateway") -> None:
    """Trace into ``exporter``, each span exported as it ends (for tests and tools)."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    _install(SimpleSpanProcessor(exporter), service_name, 1.0)


def _install(processor: Any, service_name: str, sample_ratio: float) -> None:
    global _tracer, _provider
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    stop()
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service_name}),
        # A trace begun upstream (a traceparent on the request) keeps its own decision.
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    provider.add_span_processor(processor)
    _provider, _tracer = provider, provider.get_tracer(SCOPE)
    log.info("tracing on: service %s", service_name)


def stop() -> None:
    """Stop tracing, exporting the spans still held."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def span(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
    """A span around a block, current within it; a shared no-op while tracing is off."""
    tracer = _tracer
    if tracer is None:
        return _NOTHING
    return tracer.start_as_current_span(name, attributes=attributes)


def policy(people: int) -> AbstractContextManager[Any]:
    """The span of one policy step: the facts read and every item of every person decided."""
    if _tracer is None:
        return _NOTHING
    return span("fame.policy", {"fame.people": people})


def agency_call(agency: str, people: int, call: Awaitable[T]) -> Awaitable[T]:
    """``call`` (one agency's fetch) inside a client span that its HTTP request carries."""
    if _tracer is None:
        return call
    return _traced(
        "fame.agency_call", {"fame.agency": agency, "fame.people": people}, call, client=True
    )


def audit_append(records: int, kind: str, written: Awaitable[T]) -> Awaitable[T]:
    """Waiting for ``written`` (the append's records durable) inside a span."""
    if _tracer is None:
        return written
    return _traced("fame.audit_append", {"fame.records": records, "fame.kind": kind}, written)


async def _traced(
    name: str, attributes: Mapping[str, Any], call: Awaitable[T], *, client: bool = False
) -> T:
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        try:
            return await call
        except Exception as exc:
            # A connector's error code (TIMEOUT, UNAVAILABLE...) says more than its class.
            current.set_attribute("fame.error", str(getattr(exc, "code", type(exc).__name__)))
            raise


def headers() -> dict[str, str] | None:
    """The W3C ``traceparent`` of the current span, for an outgoing request; None when off."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier or None


def server_span(
    method: str, path: str, request_id: str, incoming: Iterable[tuple[bytes, bytes]]
) -> AbstractContextManager[Span | None]:
    """The span of one HTTP request, continuing a trace whose ``traceparent`` it carries;
    a shared no-op (yielding None) while tracing is off."""
    if _tracer is None:
        return _NOTHING
    return _server_span(
        f"{method} {path}",
        incoming,
        {"http.request.method": method, "url.path": path, "fame.request_id": request_id},
    )


@contextlib.contextmanager
def _server_span(
    name: str, incoming: Iterable[tuple[bytes, bytes]], attributes: Mapping[str, Any]
) -> Iterator[Span]:
    tracer = _tracer
    assert tracer is not None
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {
        key.decode("latin-1"): value.decode("latin-1")
        for key, value in incoming
        if key in (b"traceparent", b"tracestate")
    }
    parent = TraceContextTextMapPropagator().extract(carrier) if carrier else None
    with tracer.start_as_current_span(
        name, context=parent, kind=SpanKind.SERVER, attributes=attributes
    ) as current:
        yield current
