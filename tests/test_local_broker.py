"""The local Kafka broker of ops/kafka/kafka.sh: lifecycle and real produce/consume/transactions.

Each test here runs throwaway brokers in a temporary folder on free ports, so they neither need nor
disturb the developer's broker on 9092.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_kafka import LocalKafkaBroker, admin_sasl_config, free_base_port

pytestmark = pytest.mark.broker


def _new_broker(root: Path) -> LocalKafkaBroker:
    return LocalKafkaBroker(root / "instance", free_base_port(), heap="384m")


def _client(bootstrap: str) -> dict[str, str]:
    """The broker is secured: these checks of the broker itself connect as its admin (a super user)."""
    return {"bootstrap.servers": bootstrap, **admin_sasl_config()}


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    b = _new_broker(tmp_path_factory.mktemp("kafka"))
    b.start()
    try:
        yield b
    finally:
        b.reset()


def _create_topic(bootstrap: str, partitions: int = 1) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]  # not re-exported in the stubs

    topic = f"test-{uuid.uuid4().hex[:12]}"
    admin = AdminClient(_client(bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)
    return topic


def _consume(bootstrap: str, topic: str, expected: int, **extra: str) -> list[tuple[bytes | None, bytes | None]]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            **_client(bootstrap),
            "group.id": f"g-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **extra,
        }
    )
    got: list[tuple[bytes | None, bytes | None]] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.key(), msg.value()))
        # A little longer, to catch anything that should not be there.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    return got


def test_lifecycle_up_twice_stale_pid_and_down_stops_only_its_pid(tmp_path: Path, broker: LocalKafkaBroker) -> None:
    b = _new_broker(tmp_path)
    assert not b.is_running()
    b.start()
    try:
        pid = b.pid()
        assert pid is not None and _pid_alive(pid)
        assert b.is_running()

        # `up` twice is harmless: same process, exit 0.
        out = b.run("up")
        assert "already running" in out.stderr
        assert b.pid() == pid

        # `down` stops only this instance: the module's other broker keeps running.
        b.stop()
        assert not _pid_alive(pid)
        assert not b.pid_file.exists()
        assert not b.is_running()
        assert broker.is_running()
        b.stop()  # harmless when already stopped

        # A stale pid file (dead process) is removed and the broker started.
        dead = subprocess.Popen(["true"])
        dead.wait()
        b.pid_file.write_text(f"{dead.pid}\n")
        assert not b.is_running()
        b.start()
        new_pid = b.pid()
        assert new_pid is not None and new_pid != dead.pid and _pid_alive(new_pid)
        b.stop()

        # A pid file naming a live process that is not our broker: never signalled.
        decoy = subprocess.Popen(["sleep", "120"])
        try:
            b.pid_file.write_text(f"{decoy.pid}\n")
            assert not b.is_running()
            b.stop()
            assert decoy.poll() is None, "down killed a process that is not its broker"
            assert not b.pid_file.exists()
        finally:
            decoy.kill()
            decoy.wait()
    finally:
        b.reset()
    assert not b.instance_dir.exists()


def test_produce_and_consume(broker: LocalKafkaBroker) -> None:
    from confluent_kafka import Producer

    topic = _create_topic(broker.bootstrap)
    producer = Producer({**_client(broker.bootstrap), "acks": "all", "enable.idempotence": True})
    delivered: list[object] = []
    producer.produce(topic, key=b"k1", value=b"hello", on_delivery=lambda err, msg: delivered.append(err or msg))
    assert producer.flush(30) == 0
    assert len(delivered) == 1 and not isinstance(delivered[0], Exception), delivered

    assert _consume(broker.bootstrap, topic, expected=1) == [(b"k1", b"hello")]


def test_transactional_producer_commit_and_abort(broker: LocalKafkaBroker) -> None:
    from confluent_kafka import Producer

    topic = _create_topic(broker.bootstrap, partitions=3)
    producer = Producer({**_client(broker.bootstrap), "transactional.id": f"tx-{uuid.uuid4().hex[:8]}"})
    producer.init_transactions(30)

    producer.begin_transaction()
    producer.produce(topic, key=b"a", value=b"aborted")
    producer.abort_transaction(30)

    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, key=str(i).encode(), value=b"committed")
    producer.commit_transaction(30)

    got = _consume(broker.bootstrap, topic, expected=3, **{"isolation.level": "read_committed"})
    assert sorted(got) == [(b"0", b"committed"), (b"1", b"committed"), (b"2", b"committed")]


def test_auto_create_is_disabled(broker: LocalKafkaBroker) -> None:
    from confluent_kafka import KafkaException, Producer

    producer = Producer({**_client(broker.bootstrap), "message.timeout.ms": 3000})
    errors: list[object] = []
    try:
        producer.produce("never-declared", value=b"x", on_delivery=lambda err, msg: errors.append(err))
    except KafkaException as exc:  # librdkafka may refuse at once
        errors.append(exc)
    producer.flush(10)
    assert errors and errors[0] is not None
