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
VIBER_OUT_OF_SESSION = Counter(
    "klokot_viber_out_of_session_messages_total",
    "Messages the bot started on Viber more than 24 hours after the citizen last wrote "
    "(Viber bills these), sent by this process, by purpose (document_decision, "
    "booking_cancelled, …: what the law requires goes whatever the profile says)",
    ["purpose"], registry=REGISTRY,
)
HANDLING_SECONDS = Histogram(
    "klokot_update_handling_seconds", "Time to handle one update (engine, one transaction)",
    ["channel"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

# What needs a human (deploy/prometheus/klokot-bot.rules.yml), read at scrape time
# from the database — so any web process answers for the whole installation.
OUTBOX_OLDEST_DUE = Gauge(
    "klokot_outbox_oldest_queued_seconds",
    "How long the longest-waiting queued message has been due (its next attempt time "
    "passed without a send); 0 when none is waiting. Growing: no sender is sending",
    registry=REGISTRY,
)
SENDER_LEASE_HELD = Gauge(
    "klokot_sender_lease_held",
    "1 when some process holds the sender's lease (and so sends and runs the timers), else 0",
    registry=REGISTRY,
)
VIBER_OUT_OF_SESSION_MONTH = Gauge(
    "klokot_viber_out_of_session_messages_this_month",
    "Billed Viber messages (started by the bot outside the 24-hour session) sent since the "
    "first of this month in Klokot, by purpose, from the database: the monthly numbers",
    ["purpose"], registry=REGISTRY,
)
DOCUMENTS_OVERDUE = Gauge(
    "klokot_document_requests_overdue",
    "Requests for public documents past their legal deadline and not yet decided",
    registry=REGISTRY,
)
# Telegram's own view of our webhook (getWebhookInfo), asked at most once a minute.
TELEGRAM_WEBHOOK_PENDING = Gauge(
    "klokot_telegram_webhook_pending_updates",
    "Updates Telegram holds for us, not yet accepted by the webhook", registry=REGISTRY,
)
TELEGRAM_WEBHOOK_LAST_ERROR = Gauge(
    "klokot_telegram_webhook_last_error_timestamp_seconds",
    "When Telegram last failed to deliver to the webhook (Unix time; 0: never)",
    registry=REGISTRY,
)
TELEGRAM_WEBHOOK_UP = Gauge(
    "klokot_telegram_webhook_info_up",
    "1 when Telegram answered getWebhookInfo at the last try, 0 when it did not",
    registry=REGISTRY,
)
