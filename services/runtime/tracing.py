"""OpenTelemetry set-up. Off by default (OTEL_TRACES_EXPORTER=none); `console` prints spans as JSON;
`otlp` needs opentelemetry-exporter-otlp installed. Instrumentation is installed before any server or
channel is created, so W3C traceparent propagates through gRPC calls."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def configure(exporter: str, service_name: str) -> None:
    if exporter == "none":
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
        filters,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise RuntimeError(
                "OTEL_TRACES_EXPORTER=otlp needs the opentelemetry-exporter-otlp package installed"
            ) from exc
        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    # Not the health service: its servicer is the synchronous one (set() is called from sync code), which
    # the aio server runs as is but the aio instrumentation would await (TypeError on every Check).
    GrpcAioInstrumentorServer(filter_=filters.negate(filters.health_check())).instrument()
    GrpcAioInstrumentorClient().instrument()
    log.info("tracing on", extra={"exporter": exporter})
