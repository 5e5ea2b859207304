"""Metrics of the duty desk (served at /metrics on the desk's port)."""

from prometheus_client import Counter, Gauge, Histogram

SUBSCRIBERS = Gauge("borderbus_desk_subscribers", "Connected Server-Sent-Events subscribers (console, CLI, other clients).")
ALERT_DELIVERY_LATENCY = Histogram(
    "borderbus_desk_alert_delivery_latency_seconds",
    "From an alert version's Kafka timestamp to its push to a live SSE subscriber.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
TIME_TO_ACKNOWLEDGE = Histogram(
    "borderbus_desk_time_to_acknowledge_seconds",
    "From an alert's creation to its acknowledgement by an officer, by severity.",
    ["severity"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
ESCALATIONS = Counter(
    "borderbus_desk_escalations_total", "Alerts escalated by the system after their acknowledgement deadline.", ["severity"]
)
ACTIONS_TAKEN = Counter(
    "borderbus_desk_actions_total", "Officer actions requested over HTTP, by action and outcome.", ["action", "outcome"]
)
ALERTS_BY_STATUS = Gauge("borderbus_desk_alerts", "Alerts the desk holds, by status.", ["status"])
ALERTS_ROUTED = Counter("borderbus_desk_alerts_routed_total", "Alert versions copied to an agency's own alert topic.", ["agency"])
WEBHOOK_DELIVERIES = Counter(
    "borderbus_desk_webhook_deliveries_total",
    "Alert changes delivered to webhooks (delivered) or given up after the last retry (failed).",
    ["agency", "outcome"],
)
WEBHOOK_ATTEMPTS = Counter(
    "borderbus_desk_webhook_attempts_total", "HTTP attempts to deliver webhooks, by result.", ["agency", "result"]
)
CONSUMER_LAG = Gauge("borderbus_desk_consumer_lag_records", "Records of a topic the desk has not applied yet.", ["topic"])
CAUGHT_UP = Gauge("borderbus_desk_caught_up", "1 once the desk has applied the alert and action logs up to their end at start.")
FAILED_SIGNINS = Counter(
    "borderbus_desk_failed_signins_total",
    "API requests refused for their credential: missing_token, invalid_token, revoked_token (401), "
    "rate_limited (429, the address had too many failures).",
    ["reason"],
)
CHECKPOINTS = Counter(
    "borderbus_desk_checkpoints_total", "Status checkpoints written to desk.alert-status with the log reader's positions."
)
RESTORED_ALERTS = Gauge("borderbus_desk_restored_alerts", "Alerts restored from desk.alert-status at start.")
SILENCES_ACTIVE = Gauge("borderbus_desk_silences_active", "Silences in force now (started, not yet ended).")
ALERTS_SUPPRESSED = Counter(
    "borderbus_desk_alerts_suppressed_total",
    "Alert versions that arrived while a silence kept the alert quiet: kept, not pushed to streams, webhooks or escalation.",
)
AUDIT_RECORDS = Counter(
    "borderbus_desk_audit_records_total", "Audit-trail records the desk wrote (or failed to write), by kind.", ["what", "outcome"]
)
