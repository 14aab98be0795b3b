"""OpenTelemetry tracing, on only when the standard OTEL_* variables ask for it: Starlette, GraphQL, asyncpg spans."""

from __future__ import annotations

import os
from typing import Any

_provider: Any = None


def tracing_requested() -> bool:
    """Whether OTEL_* variables ask for traces (an exporter or an OTLP endpoint), and the SDK is not disabled."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporter_from_env() -> Any:
    """The exporter OTEL_TRACES_EXPORTER names: otlp (the default; OTLP over HTTP) or console."""
    kind = os.environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower().split(",")[0]
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={kind!r}: this server supports otlp, console or none")
    # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def tracer_provider(exporter: Any = None) -> Any:
    """The process's tracer provider, made once and set as the global one.

    With `exporter` given spans go to it synchronously (tests pass an in-memory exporter); otherwise
    they are batched to the exporter the environment names.
    """
    global _provider
    if _provider is None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "churns-gql"})
        provider = TracerProvider(resource=resource)
        processor = SimpleSpanProcessor(exporter) if exporter is not None else BatchSpanProcessor(_exporter_from_env())
        provider.add_span_processor(processor)
        trace.set_tracer_provider(provider)
        _provider = provider
    return _provider


def instrument_app(app: Any) -> None:
    """Trace the app's requests (Starlette) and every asyncpg query of this process."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.starlette import StarletteInstrumentor

    provider = tracer_provider()
    StarletteInstrumentor.instrument_app(app, tracer_provider=provider)
    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)


def uninstrument_asyncpg() -> None:
    """Undo the asyncpg patch (tests that turned tracing on)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
