"""Metrics of the agency publisher (one process per agency, so ``agency`` has a handful of values)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter(
    "borderbus_agency_events_accepted_total",
    "Events acknowledged by Kafka and reported back to the agency as accepted.",
    ["agency", "event_type"],
)
EVENTS_REJECTED = Counter(
    "borderbus_agency_events_rejected_total",
    "Events refused, by reason (invalid_field, invalid_identifier, provenance_mismatch, broker_unavailable, ...).",
    ["agency", "event_type", "reason"],
)
PRODUCE_LATENCY = Histogram(
    "borderbus_agency_produce_latency_seconds",
    "Time from a batch's publish to Kafka's acknowledgement of all its events (waiting for the transaction under way included).",
    ["agency"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BATCHES_PER_TRANSACTION = Histogram(
    "borderbus_agency_batches_per_transaction",
    "Batches (requests) written together in one transaction: those that arrived while the one before it was under way.",
    ["agency"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
)
PACING_WAIT = Histogram(
    "borderbus_agency_pacing_wait_seconds",
    "How long a transaction waited for more batches to join it, counted only under contention (the round before held "
    "several batches): fewer transactions cost the broker less, each batch waits at most the transaction interval.",
    ["agency"],
    buckets=(0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25),
)
REQUESTS_IN_FLIGHT = Gauge(
    "borderbus_agency_requests_in_flight",
    "Publish requests being validated or waiting for Kafka.",
    ["agency"],
)
LAST_ACCEPTED = Gauge(
    "borderbus_agency_last_accepted_timestamp_seconds",
    "Unix time of the agency's last accepted event, so a silent agency shows.",
    ["agency"],
)
EXPECTED_INTERVAL = Gauge(
    "borderbus_agency_expected_interval_seconds",
    "Longest silence expected of the agency (agencies.yaml), so the silence alert needs no hard-coded intervals.",
    ["agency"],
)
AUTH_FAILURES = Counter(
    "borderbus_agency_auth_failures_total",
    "Requests refused before publishing anything: missing_token, invalid_token, revoked_token (401), "
    "wrong_agency, wrong_scope (403), rate_limited (429).",
    ["agency", "reason"],
)
COMMITS_IN_DOUBT = Counter(
    "borderbus_agency_commits_in_doubt_total",
    "Batches whose commit was sent but not confirmed (unknown), and how each was settled later "
    "(committed, aborted, unresolved: the producer failed and the next one's fencing decided).",
    ["agency", "outcome"],
)
DUPLICATE_EVENTS = Counter(
    "borderbus_agency_duplicate_events_total",
    "Events sent again after they were committed (a retry), acknowledged without being written twice.",
    ["agency", "event_type"],
)
