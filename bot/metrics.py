"""Prometheus metrics on a registry of our own (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES_RECEIVED = Counter(
    "klokot_updates_received_total", "Inbound updates by channel", ["channel"], registry=REGISTRY
)
UPDATES_DUPLICATE = Counter(
    "klokot_updates_duplicate_total", "Redelivered updates acknowledged", ["channel"],
    registry=REGISTRY,
)
HANDLER_ERRORS = Counter(
    "klokot_handler_errors_total", "Updates whose handler raised", ["channel"], registry=REGISTRY
)
OUTBOX_EVENTS = Counter(
    "klokot_outbox_messages_total", "Outbox messages by outcome", ["channel", "status"],
    registry=REGISTRY,
)
OUTBOX_RETRIES = Counter(
    "klokot_outbox_retries_total",
    "Outbox messages put back to wait after a platform fault, by kind: rate_limited (429), "
    "server_error (5xx), timeout, connection (refused or reset), other",
    ["channel", "reason"], registry=REGISTRY,
)
OUTBOX_NOW = Gauge(
    "klokot_outbox_current", "Outbox messages by channel and status, read at scrape time",
    ["channel", "status"], registry=REGISTRY,
)
HANDLING_SECONDS = Histogram(
    "klokot_update_handling_seconds", "Time to handle one update (engine, one transaction)",
    ["channel"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
