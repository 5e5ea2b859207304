"""How the agency publisher reads a failed commit: certainly aborted (503) or unknown (504), and whether
an unknown one can be resumed. Real KafkaError values, as librdkafka raises them."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from borderbus_agency.publisher import ABORTED, PENDING, UNRESOLVED, RecentIds, failed_commit_outcome


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        pytest.param(KafkaError(KafkaError._TIMED_OUT, retriable=True), PENDING, id="commit-timed-out"),
        pytest.param(KafkaError(KafkaError._TIMED_OUT), PENDING, id="timed-out-not-flagged-retriable"),
        pytest.param(KafkaError(KafkaError._TRANSPORT, retriable=True), PENDING, id="connection-lost"),
        pytest.param(KafkaError(KafkaError._FENCED, fatal=True), UNRESOLVED, id="fenced"),
        pytest.param(KafkaError(KafkaError._STATE), UNRESOLVED, id="neither-retriable-nor-abortable"),
        pytest.param(None, UNRESOLVED, id="not-a-kafka-error"),
        pytest.param(KafkaError(KafkaError._MSG_TIMED_OUT, txn_requires_abort=True), ABORTED, id="record-timed-out"),
        pytest.param(KafkaError(KafkaError.INVALID_PRODUCER_EPOCH, txn_requires_abort=True), ABORTED, id="broker-requires-abort"),
    ],
)
def test_only_an_abortable_error_means_nothing_was_committed(error: KafkaError | None, outcome: str) -> None:
    assert failed_commit_outcome(error) == outcome


def test_recent_ids_keep_the_newest() -> None:
    ids = RecentIds(capacity=3)
    ids.add(["a", "b", "c"])
    ids.add(["a"])  # seen again: newest now
    ids.add(["d"])
    assert "b" not in ids and {"a", "c", "d"} == {i for i in "abcd" if i in ids}
    assert len(ids) == 3
