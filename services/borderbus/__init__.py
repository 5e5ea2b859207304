"""borderbus shared library: configuration, catalogue, schemas, codec and Kafka plumbing used by every service."""
