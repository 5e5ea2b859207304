"""Make the cluster's topics match the catalogue, idempotently, and say what changed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    TopicMetadata,
)

from borderbus.catalogue import TopicSpec

TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class TopicChange:
    topic: str
    action: str  # created | altered | partitions | cannot
    detail: str

    def __str__(self) -> str:
        return f"{self.action:<10} {self.topic}: {self.detail}"


def apply_topics(admin: AdminClient, specs: list[TopicSpec]) -> list[TopicChange]:
    """Create missing topics, raise partition counts, set differing configs. Empty list = nothing to do.

    Shrinking partitions or changing replication cannot be done in place; those are reported as
    ``cannot`` rather than silently ignored.
    """
    changes = _create_missing(admin, specs)
    existing = _wait_until_visible(admin, [spec.name for spec in specs])
    _wait_until_led(admin, existing, [change.topic for change in changes if change.action == "created"])
    for spec in specs:
        metadata = existing[spec.name]
        partitions = len(metadata.partitions)
        replication = len(next(iter(metadata.partitions.values())).replicas)
        if spec.partitions > partitions:
            admin.create_partitions([NewPartitions(spec.name, spec.partitions)])[spec.name].result()
            changes.append(TopicChange(spec.name, "partitions", f"{partitions} -> {spec.partitions}"))
        elif spec.partitions < partitions:
            changes.append(
                TopicChange(
                    spec.name,
                    "cannot",
                    f"has {partitions} partitions, catalogue says {spec.partitions}; Kafka cannot shrink a topic",
                )
            )
        if replication != spec.replication_factor:
            changes.append(
                TopicChange(
                    spec.name,
                    "cannot",
                    f"replication is {replication}, catalogue says {spec.replication_factor}; reassign partitions to change it",
                )
            )
    changes += _converge_configs(admin, specs)
    return changes


def _create_missing(admin: AdminClient, specs: list[TopicSpec]) -> list[TopicChange]:
    existing = admin.list_topics(timeout=TIMEOUT_SECONDS).topics
    missing = [spec for spec in specs if spec.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=s.replication_factor, config=s.config)
            for s in missing
        ],
        operation_timeout=TIMEOUT_SECONDS,
    )
    changes = []
    for spec in missing:
        try:
            futures[spec.name].result()
        except KafkaException as error:
            if error.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # created meanwhile by another applier; converged below like any existing topic
            raise
        changes.append(TopicChange(spec.name, "created", f"{spec.partitions} partitions, replication {spec.replication_factor}"))
    return changes


def _wait_until_visible(admin: AdminClient, names: list[str]) -> dict[str, TopicMetadata]:
    """Metadata of every named topic, waiting for just-created ones to reach the metadata cache with a leader
    for every partition (before that, reads of a new topic fail with NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        topics = admin.list_topics(timeout=TIMEOUT_SECONDS).topics
        absent = [
            name
            for name in names
            if name not in topics
            or not topics[name].partitions
            or any(p.leader < 0 or p.error is not None for p in topics[name].partitions.values())
        ]
        if not absent:
            return {name: topics[name] for name in names}
        if time.monotonic() > deadline:
            raise KafkaException(f"topics not visible after creation: {', '.join(absent)}")
        time.sleep(0.2)


def _wait_until_led(admin: AdminClient, metadata: dict[str, TopicMetadata], created: list[str]) -> None:
    """Until every partition of the just-created topics answers ListOffsets at its leader.

    The metadata cache names a leader slightly before that broker acts as one; a reader that came
    in between would get NOT_LEADER_FOR_PARTITION.
    """
    pending = [TopicPartition(name, p) for name in created for p in metadata[name].partitions]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while pending:
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        futures = admin.list_offsets(dict.fromkeys(pending, latest), request_timeout=TIMEOUT_SECONDS)
        failed = []
        for tp, future in futures.items():
            try:
                future.result()
            except KafkaException:
                failed.append(tp)
        pending = failed
        if pending:
            if time.monotonic() > deadline:
                raise KafkaException(f"new topics have no working leader yet: {sorted({tp.topic for tp in pending})}")
            time.sleep(0.2)


def _converge_configs(admin: AdminClient, specs: list[TopicSpec]) -> list[TopicChange]:
    resources = [ConfigResource(ConfigResource.Type.TOPIC, spec.name) for spec in specs]
    described = admin.describe_configs(resources)
    changes = []
    for spec, resource in zip(specs, resources, strict=True):
        actual = {name: entry.value for name, entry in described[resource].result().items()}
        differing = {key: value for key, value in spec.config.items() if actual.get(key) != value}
        if not differing:
            continue
        alter = ConfigResource(
            ConfigResource.Type.TOPIC,
            spec.name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET) for key, value in differing.items()
            ],
        )
        admin.incremental_alter_configs([alter])[alter].result()
        detail = ", ".join(f"{key} {actual.get(key)} -> {value}" for key, value in sorted(differing.items()))
        changes.append(TopicChange(spec.name, "altered", detail))
    return changes
