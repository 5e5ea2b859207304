"""The one place where settings come from.

Every Kafka client in every service is built from :class:`Settings`, so the same code runs
against the local single-node broker and against a secured multi-broker cluster: only the
environment differs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_PASSTHROUGH_PREFIX = "BORDERBUS_KAFKA_"

KafkaConfig = dict[str, str | int | float | bool]
"""librdkafka properties, as confluent-kafka clients take them."""


@dataclass(frozen=True)
class Settings:
    """Process-wide settings, read once from the environment."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    kafka_extra: Mapping[str, str] = field(default_factory=dict)
    config_dir: Path = REPO_ROOT / "ops" / "config"
    schema_dir: Path = REPO_ROOT / "schemas" / "avro"
    cluster_profile: str = "local"
    topic_prefix: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``KAFKA_*`` and ``BORDERBUS_*`` variables.

        ``BORDERBUS_KAFKA_<NAME>`` passes any other librdkafka property through, with ``_``
        standing for ``.`` (``BORDERBUS_KAFKA_SOCKET_TIMEOUT_MS`` -> ``socket.timeout.ms``).
        """
        env = os.environ if env is None else env
        extra = {
            name[len(KAFKA_PASSTHROUGH_PREFIX) :].lower().replace("_", "."): value
            for name, value in env.items()
            if name.startswith(KAFKA_PASSTHROUGH_PREFIX)
        }
        defaults = cls()
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", defaults.bootstrap_servers),
            security_protocol=env.get("KAFKA_SECURITY_PROTOCOL", defaults.security_protocol),
            sasl_mechanism=env.get("KAFKA_SASL_MECHANISM") or None,
            sasl_username=env.get("KAFKA_SASL_USERNAME") or None,
            sasl_password=env.get("KAFKA_SASL_PASSWORD") or None,
            ssl_ca_location=env.get("KAFKA_SSL_CA_LOCATION") or None,
            ssl_certificate_location=env.get("KAFKA_SSL_CERTIFICATE_LOCATION") or None,
            ssl_key_location=env.get("KAFKA_SSL_KEY_LOCATION") or None,
            kafka_extra=extra,
            config_dir=Path(env.get("BORDERBUS_CONFIG_DIR", defaults.config_dir)),
            schema_dir=Path(env.get("BORDERBUS_SCHEMA_DIR", defaults.schema_dir)),
            cluster_profile=env.get("BORDERBUS_CLUSTER_PROFILE", defaults.cluster_profile),
            topic_prefix=env.get("BORDERBUS_TOPIC_PREFIX", defaults.topic_prefix),
        )

    def kafka_client_config(self) -> KafkaConfig:
        """Connection and security properties shared by producers, consumers and admin clients."""
        config: KafkaConfig = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        config.update(self.kafka_extra)
        return config

    def producer_config(self, *, transactional_id: str | None = None) -> KafkaConfig:
        """A producer that neither loses nor duplicates: idempotent, acknowledged by all replicas."""
        config: KafkaConfig = {
            **self.kafka_client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
        }
        if transactional_id:
            config["transactional.id"] = transactional_id
        return config

    def consumer_config(self, group_id: str, **overrides: str | int | float | bool) -> KafkaConfig:
        """A consumer that sees only committed transactions and commits offsets itself."""
        config: KafkaConfig = {
            **self.kafka_client_config(),
            "group.id": group_id,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        config.update(overrides)
        return config
