"""The fan-out's producer hears only of failed deliveries, and still of every one (librdkafka, no broker)."""

from __future__ import annotations

from confluent_kafka import Producer

from borderbus.config import Settings
from borderbus_correlator.fan_out import producer_config


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
