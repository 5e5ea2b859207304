"""A short chaos run inside the suite: on its own three-node cluster (free ports), about two minutes of
faults (agencies, correlator workers, the desk and one broker at a time killed or paused), then every
anomaly class of the checker must be zero. ``make chaos`` is the ten-minute run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_run import ChaosOptions, run_chaos, write_outputs
from local_kafka import LocalKafkaCluster, free_cluster_port

pytestmark = pytest.mark.broker

SECONDS = float(os.environ.get("BORDERBUS_TEST_CHAOS_SECONDS", "120"))
SEED = int(os.environ.get("BORDERBUS_TEST_CHAOS_SEED", "12"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaCluster]:
    port = free_cluster_port()
    cluster = LocalKafkaCluster(tmp_path_factory.mktemp("chaos-cluster") / f"cluster-{port}", port)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.reset()


@pytest.mark.timeout(1500)
def test_a_short_chaos_run_finds_no_anomaly(cluster: LocalKafkaCluster, tmp_path: Path) -> None:
    options = ChaosOptions(seconds=SECONDS, seed=SEED, mean_gap=6.0, work_dir=tmp_path, settle_timeout=300.0)
    summary = run_chaos(options, cluster, cluster.bootstrap)
    report = write_outputs(summary, tmp_path / "chaos.json", tmp_path / "chaos.txt")
    assert summary["faults_total"] >= SECONDS / 12, report
    assert summary["faults_by_kind"].keys() & {"kill broker", "pause broker"}, report
    assert summary["clients"]["events never acknowledged"] == 0, report
    counts = {name: entry["count"] for name, entry in summary["anomalies"].items()}
    assert counts == dict.fromkeys(counts, 0), report
