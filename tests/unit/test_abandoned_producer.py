"""A producer that failed for good is discarded quietly: its batch is refused as broker_unavailable (503), not 500."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException

from borderbus_agency.publisher import AgencyPublisher


class FailedForGood:
    """Every call on it says the transaction state is invalid (FATAL), as librdkafka did after a broker kill."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _fail(self, name: str) -> None:
        self.calls.append(name)
        raise KafkaException(KafkaError(KafkaError.INVALID_TXN_STATE, "invalid state", fatal=True))

    def abort_transaction(self, _timeout: float) -> None:
        self._fail("abort_transaction")

    def purge(self, **_options: bool) -> None:
        self.calls.append("purge")

    def flush(self, _timeout: float) -> int:
        self._fail("flush")
        return 0


def test_a_producer_failed_for_good_is_dropped_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    producer = FailedForGood()
    publisher = SimpleNamespace(_producer=producer, timeout=10.0)
    with caplog.at_level(logging.WARNING, logger="borderbus_agency.publisher"):
        AgencyPublisher._abandon_transaction(publisher)  # type: ignore[arg-type]
    assert publisher._producer is None
    assert producer.calls == ["abort_transaction", "purge", "flush"]
    assert "discarding a failed producer" in caplog.text
