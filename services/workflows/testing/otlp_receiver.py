"""A local OTLP/gRPC trace receiver (the collector's TraceService/Export), keeping every span it is
sent, so a test can check that one request's spans form one tree across processes. No collector binary
is reachable here; this is the wire format the SDK's OTLP exporter speaks.

    with OtlpReceiver.running() as receiver:   # OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint
        ... receiver.spans (trace_id hex, span_id hex, parent hex or "", name, service)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[Span] = []
        self._lock = threading.Lock()
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        found = []
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"),
                "",
            )
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    found.append(
                        Span(s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name, service)
                    )
        with self._lock:
            self.spans.extend(found)
        return trace_service_pb2.ExportTraceServiceResponse()

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[OtlpReceiver]:
        receiver = cls()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
        receiver.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield receiver
        finally:
            server.stop(1)
