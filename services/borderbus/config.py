"""The one place where settings come from.

Every Kafka client in every service is built from :class:`Settings`, so the same code runs
against the local single-node broker and against a secured multi-broker cluster: only the
environment differs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_PASSTHROUGH_PREFIX = "BORDERBUS_KAFKA_"
PIPELINE_FETCH_WAIT_MS = 20
"""fetch.wait.max.ms of the consumers on an event's way to an alert (librdkafka's default is 500): measured,
event-to-alert latency at 100 events/s went from p50 0.22 s to 0.11 s; idle, it costs each of them 50 fetches/s."""

TRANSACTION_RETRY_BACKOFF_MS = 10
"""First retry of a transactional producer's requests (librdkafka's default is 100 ms, growing to 1 s either way).
AddOffsetsToTxn sent while the coordinator still completes the previous commit is refused as CONCURRENT_TRANSACTIONS
and retried after this: on the local broker an offsets-only transaction took 83 ms (p50) with 100 ms, 12 ms with 10."""

KafkaConfig = dict[str, str | int | float | bool]
"""librdkafka properties, as confluent-kafka clients take them."""


def _is_secret(key: str) -> bool:
    return any(marker in key.lower() for marker in SECRET_MARKERS)


def redact(config: Mapping[str, object]) -> dict[str, object]:
    """A client config fit for a log line or an error message: secret values replaced by ``***``."""
    return {key: "***" if _is_secret(key) else value for key, value in config.items()}


SECRET_MARKERS = ("password", "secret", "jaas", "token")
"""librdkafka property names whose values are never shown (repr, errors, logs)."""


class CredentialsError(RuntimeError):
    """A principal's password is missing or unreadable (the message names the file, never a password)."""


@dataclass(frozen=True)
class Settings:
    """Process-wide settings, read once from the environment.

    Kafka is secured by default (SASL/SCRAM-SHA-512, as ``ops/kafka/kafka.sh`` runs it): a process
    authenticates as one *principal* (``BORDERBUS_PRINCIPAL``, or the default its command picks,
    see :meth:`with_default_principal`) whose password is the file ``<credentials_dir>/<principal>``,
    unless ``KAFKA_SASL_USERNAME``/``KAFKA_SASL_PASSWORD`` give both explicitly. ``repr()`` never
    shows a password.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str | None = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    kafka_extra: Mapping[str, str] = field(default_factory=dict, repr=False)
    config_dir: Path = REPO_ROOT / "ops" / "config"
    schema_dir: Path = REPO_ROOT / "schemas" / "avro"
    cluster_profile: str = "local"
    topic_prefix: str = ""
    principal: str | None = None
    credentials_dir: Path | None = REPO_ROOT / ".local" / "credentials"
    state_dir: Path = Path(tempfile.gettempdir()) / "borderbus-state"
    """Where stages keep their state's local copy (rebuilt from the changelogs at start: any scratch disk)."""
    state_cache_mb: float = 64.0
    """Per stage, the encoded size of the state values also kept decoded in memory (the most recently used).

    Decoded they take about 5x that (2.2 KB for a one-event history, 0.5 KB encoded)."""

    def __repr__(self) -> str:
        shown = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "principal": self.kafka_principal,
            "sasl_password": "***" if self.sasl_password else None,
            "credentials_dir": str(self.credentials_dir) if self.credentials_dir else None,
            "kafka_extra": {key: "***" if _is_secret(key) else value for key, value in self.kafka_extra.items()},
            "topic_prefix": self.topic_prefix,
            "cluster_profile": self.cluster_profile,
        }
        return "Settings(" + ", ".join(f"{key}={value!r}" for key, value in shown.items()) + ")"

    __str__ = __repr__

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
        credentials_dir = env.get("BORDERBUS_CREDENTIALS_DIR")
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", defaults.bootstrap_servers),
            security_protocol=env.get("KAFKA_SECURITY_PROTOCOL", defaults.security_protocol),
            sasl_mechanism=env.get("KAFKA_SASL_MECHANISM") or defaults.sasl_mechanism,
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
            principal=env.get("BORDERBUS_PRINCIPAL") or None,
            credentials_dir=Path(credentials_dir) if credentials_dir else defaults.credentials_dir,
            state_dir=Path(env.get("BORDERBUS_STATE_DIR") or defaults.state_dir),
            state_cache_mb=float(env.get("BORDERBUS_STATE_CACHE_MB") or defaults.state_cache_mb),
        )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.upper().startswith("SASL")

    @property
    def kafka_principal(self) -> str | None:
        """The name this process authenticates as (None without SASL, or when no command chose one yet)."""
        return self.sasl_username or self.principal

    def as_principal(self, name: str) -> Settings:
        """These settings authenticating as ``name``, with its password from the credentials folder.

        Lets one process run parts with different rights (the duty desk's reader, router and
        actions writer; the simulator publishing as each agency). Without SASL, or when the password
        was given explicitly (one identity for the whole process), nothing changes.
        """
        if not self.uses_sasl or self.sasl_password is not None:
            return self
        return replace(self, principal=name, sasl_username=None)

    def with_default_principal(self, name: str) -> Settings:
        """``as_principal(name)`` unless the environment already chose who this process is."""
        return self if self.kafka_principal else self.as_principal(name)

    def password(self) -> str | None:
        """The SASL password: given explicitly, else the principal's file in the credentials folder."""
        if self.sasl_password is not None:
            return self.sasl_password
        name = self.kafka_principal
        if not self.uses_sasl or name is None:
            return None
        if self.credentials_dir is None:
            raise CredentialsError(f"no password for principal {name!r}: set KAFKA_SASL_PASSWORD or BORDERBUS_CREDENTIALS_DIR")
        path = self.credentials_dir / name
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise CredentialsError(
                f"no password for principal {name!r}: cannot read {path} ({error.strerror}); "
                "`borderbus users apply` (as admin) makes it"
            ) from None

    def kafka_client_config(self) -> KafkaConfig:
        """Connection and security properties shared by producers, consumers and admin clients."""
        config: KafkaConfig = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.uses_sasl:
            if self.kafka_principal is None:
                raise CredentialsError(
                    "Kafka needs SASL credentials but no principal was chosen: set BORDERBUS_PRINCIPAL "
                    "(e.g. agency-uk-bf) or KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
                )
            config["sasl.mechanism"] = self.sasl_mechanism or "SCRAM-SHA-512"
            config["sasl.username"] = self.kafka_principal
            config["sasl.password"] = self.password() or ""
        optional = {
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
            # Java's (and Kafka Streams') partitioner for every producer of the bus: one key, one partition number
            "partitioner": "murmur2_random",
        }
        if transactional_id:
            config["transactional.id"] = transactional_id
            config["retry.backoff.ms"] = TRANSACTION_RETRY_BACKOFF_MS
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
