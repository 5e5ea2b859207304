"""The fan-out's producer hears only of failed deliveries, and still of every one; its consumer fetches in bulk
(librdkafka, no broker)."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer

from borderbus.config import Settings
from borderbus_correlator.fan_out import FETCH_MIN_BYTES, consumer_config, producer_config


def test_the_fan_out_is_told_only_of_failed_deliveries_and_of_each_of_them() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    config = producer_config(settings)
    assert config["delivery.report.only.error"] is True
    assert {key: value for key, value in config.items() if key != "delivery.report.only.error"} == settings.producer_config()
    failures: list[object] = []
    producer = Producer({**config, "message.timeout.ms": 300})  # nothing listens on port 9: every delivery fails
    for number in range(3):
        producer.produce("by-subject", key=b"k", value=b"%d" % number, on_delivery=lambda error, _m: failures.append(error))
    assert producer.flush(10) == 0
    assert len(failures) == 3 and all(error is not None for error in failures)


def test_the_fan_out_waits_for_a_fuller_fetch_and_is_otherwise_the_bus_consumer() -> None:
    """A fetch names all sixty ingest partitions: answered at the first record, it cost the broker more than the events."""
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    config = consumer_config(settings, "fan-out")
    assert config["fetch.min.bytes"] == FETCH_MIN_BYTES >= 64 * 1024
    assert config["fetch.wait.max.ms"] <= 50  # bounded: a quiet agency's event still leaves within a few tens of ms
    bus_consumer = settings.consumer_config("fan-out")
    assert {key: config[key] for key in bus_consumer if key != "fetch.wait.max.ms"} == {
        key: value for key, value in bus_consumer.items() if key != "fetch.wait.max.ms"
    }  # read_committed, offsets committed by hand: the bus's consumer
    Consumer(config).close()  # librdkafka accepts it
