"""Prometheus metrics, served on LEARNFLOW_METRICS_ADDR (/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_TOTAL = Counter("learnflow_rpc_total", "RPCs handled", ["method", "code"])
RPC_SECONDS = Histogram(
    "learnflow_rpc_duration_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("learnflow_events_published_total", "Events relayed from an outbox", ["context"])
EVENTS_HANDLED = Counter(
    "learnflow_events_handled_total", "Events handled by consumers", ["consumer", "outcome"]
)
# Set by the health monitor (every LEARNFLOW_HEALTH_INTERVAL_SECONDS) from each worker's stall probe.
OUTBOX_LAG = Gauge("learnflow_outbox_pending", "Outbox rows not yet relayed", ["context"])
OUTBOX_OLDEST_AGE = Gauge(
    "learnflow_outbox_oldest_age_seconds", "Age of the oldest outbox row not yet relayed", ["context"]
)
CONSUMER_PENDING = Gauge(
    "learnflow_consumer_pending", "Messages of a durable consumer not yet delivered", ["consumer"]
)
CONSUMER_ACK_PENDING = Gauge(
    "learnflow_consumer_ack_pending",
    "Messages of a durable consumer delivered, not yet acknowledged",
    ["consumer"],
)
WORKER_RESTARTS = Counter(
    "learnflow_worker_restarts_total", "Supervised workers restarted after a crash", ["worker", "context"]
)
SINGLETON_LEADER = Gauge(
    "learnflow_singleton_leader", "1 while this replica holds a singleton work item's lease", ["work"]
)
HEALTH = Gauge("learnflow_dependency_up", "1 when a dependency answers", ["dependency"])
# 1 while the context's gRPC health is SERVING, 0 while NOT_SERVING (read by the ContextNotServing
# alert, deploy/prometheus/rules.yml).
CONTEXT_SERVING = Gauge("learnflow_context_serving", "1 while a hosted context is SERVING", ["context"])


def serve(addr: str) -> None:
    if not addr:
        return
    host, _, port = addr.rpartition(":")
    start_http_server(int(port), addr=host)
