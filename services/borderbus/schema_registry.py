"""Writer schemas kept in the compacted schema topic, keyed by fingerprint.

Writers register before their first use of a schema; readers that meet an unknown fingerprint
re-read the topic. The topic is the registry: no extra server to run, and it replicates and
survives like any other topic.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any, cast

import fastavro
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from borderbus.catalogue import SCHEMA_TOPIC
from borderbus.config import Settings
from borderbus.partition_reader import watermarks
from borderbus.schemas import SchemaCatalogue, SchemaVersion, fingerprint

REFRESH_INTERVAL_SECONDS = 0.5


class SchemaRegistry:
    """Register writer schemas and resolve fingerprints through the schema topic."""

    def __init__(self, settings: Settings, *, timeout: float = 10.0, known: SchemaCatalogue | None = None) -> None:
        """``known``: this build's own schemas, resolved locally without reading the topic."""
        self._settings = settings
        self._topic = settings.topic_prefix + SCHEMA_TOPIC
        self._timeout = timeout
        self._schemas: dict[bytes, dict[str, Any]] = {v.fingerprint: v.parsed for v in known or ()}
        self._registered: set[bytes] = set()
        self._next_offset = 0
        self._last_refresh = 0.0
        self._lock = threading.Lock()

    def register(self, schema: SchemaVersion) -> None:
        """Publish ``schema`` under its fingerprint (once per process); raises KafkaException on failure."""
        if schema.fingerprint in self._registered:
            return
        producer = Producer(self._settings.producer_config())
        failures: list[str] = []

        def on_delivery(error: object, _message: object) -> None:
            if error is not None:
                failures.append(str(error))

        producer.produce(
            self._topic,
            key=schema.fingerprint.hex().encode(),
            value=schema.json().encode(),
            headers={"schema": schema.label},
            on_delivery=on_delivery,
        )
        remaining = producer.flush(self._timeout)
        if remaining or failures:
            raise KafkaException(f"could not register {schema.label} in {self._topic}: {failures or 'timed out'}")
        self._registered.add(schema.fingerprint)
        self._schemas[schema.fingerprint] = schema.parsed

    def lookup(self, fp: bytes) -> dict[str, Any] | None:
        """The parsed writer schema for ``fp``, reading new entries of the schema topic if needed."""
        found = self._schemas.get(fp)
        if found is not None:
            return found
        with self._lock:
            if fp not in self._schemas and time.monotonic() - self._last_refresh >= REFRESH_INTERVAL_SECONDS:
                self._refresh()
        return self._schemas.get(fp)

    def _refresh(self) -> None:
        """Read the schema topic from where the last refresh stopped up to its current end."""
        self._last_refresh = time.monotonic()
        consumer = Consumer(
            self._settings.consumer_config(f"{self._settings.topic_prefix}borderbus-schema-reader-{uuid.uuid4()}")
        )
        try:
            partition = TopicPartition(self._topic, 0, self._next_offset)
            deadline = time.monotonic() + self._timeout
            _low, high = watermarks(consumer, partition, retry_for=self._timeout, call_timeout=self._timeout)
            if high <= self._next_offset:
                return
            consumer.assign([partition])
            while self._next_offset < high and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None:
                    continue
                if message.error():
                    raise KafkaException(message.error())
                self._next_offset = (message.offset() or 0) + 1
                self._accept(message.key(), message.value())
        finally:
            consumer.close()

    def _accept(self, key: bytes | None, value: bytes | None) -> None:
        """Keep an entry only if its key is the true fingerprint of its schema (a wrong key would mis-decode)."""
        if key is None or value is None:
            return
        try:
            definition = json.loads(value)
            fp = fingerprint(definition)
        except (ValueError, fastavro.schema.SchemaParseException):
            return
        if fp.hex().encode() == key:
            self._schemas[fp] = cast(dict[str, Any], fastavro.parse_schema(definition))
