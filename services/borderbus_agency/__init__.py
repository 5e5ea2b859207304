"""The agency microservice: one instance per agency publishes that agency's events to its own ingest topics."""
