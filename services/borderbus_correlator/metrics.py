"""Metrics of a correlator worker (served on the worker's web port at /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_CONSUMED = Counter(
    "borderbus_correlator_events_consumed_total",
    "Agency events decoded from ingest topics by the correlator.",
    ["agency", "event_type"],
)
ALERTS_EMITTED = Counter(
    "borderbus_correlator_alert_versions_emitted_total",
    "Alert versions published to the shared alerts topic, by rule and severity.",
    ["rule", "severity"],
)
EVENT_TO_ALERT_LATENCY = Histogram(
    "borderbus_correlator_event_to_alert_latency_seconds",
    "From the reported_at of the newest evidence event to the publication of the alert version it caused.",
    # fine around the 100 ms objective, so its p99 is read off buckets rather than guessed between 0.1 and 0.25
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 20.0, 30.0, 60.0),
)
LATE_EVENTS = Counter(
    "borderbus_correlator_late_events_total",
    "Observations older than a subject's watermark minus the allowed lateness (sent to the dead-letter topic).",
    ["event_type"],
)
TABLE_ENTRIES = Gauge(
    "borderbus_correlator_table_entries",
    "Entries of each state table held by this worker's active partitions.",
    ["table"],
)
CONSUMER_LAG = Gauge(
    "borderbus_correlator_consumer_lag_records",
    "Records not yet processed on this worker's assigned partitions, by topic.",
    ["topic"],
)
ROUTES_PROCESSED = Counter(
    "borderbus_correlator_routes_processed_total",
    "Messages of the by-subject topic processed: an event delivered to one subject's history, directly or through a link.",
    ["mode", "outcome"],
)
HUBS_DETECTED = Counter(
    "borderbus_correlator_hubs_detected_total",
    "Subjects that went over the links cap (max_links in rules.yaml): they stop sharing events and raise hub_detected.",
    ["kind"],
)
STAGE_WAITING = Gauge(
    "borderbus_correlator_stage_waiting_records",
    "By-subject records waiting for this worker's correlate stage (end offsets against where it has read).",
)
