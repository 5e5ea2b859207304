"""A correlator worker: three stages, each a thread with its own consumer group, and a small web server.

ingest.<agency>.<type> ─FanOut─▶ correlator.by-subject ─CorrelateStage─▶ correlator.decisions ─AlertPublisher─▶ alerts.shared
                                  (key: subject)   [correlator.subject-history]  (key: alert id)   [correlator.alert-state]

How a killed worker loses and duplicates nothing:

- :class:`~borderbus_correlator.fan_out.FanOut` runs at least once and is idempotent: a replayed
  event is a duplicate in the subject's history, and replaying it only re-sends what it caused
  downstream, where that adds nothing.
- :class:`~borderbus_correlator.correlate_stage.CorrelateStage` and :class:`AlertPublisher` are
  exactly once (:mod:`borderbus.exactly_once`): state, output and offsets commit together.
- Whatever order a replay delivers in, the standing alerts are the same: histories are a function
  of the set of events, lateness is bounded by the retention only, and a finding that an event
  takes away is retracted (:func:`~borderbus_correlator.pipeline.findings`). Alert ids are
  deterministic, so even a replay from scratch finds the same alerts.
- Every consumer reads ``read_committed``: an agency batch that Kafka aborted never counts.
- A thread that dies ends the process (status 70) so that its supervisor restarts it.
"""

from __future__ import annotations

import logging
import threading

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from borderbus.bus import Bus
from borderbus.supervision import dead_threads, start_or_exit
from borderbus_correlator.alert_publisher import AlertPublisher
from borderbus_correlator.correlate_stage import BY_SUBJECT_TOPIC, CorrelateStage
from borderbus_correlator.fan_out import FanOut

STOP_SECONDS = 30.0  # a stage finishes (commits or aborts) its batch before the process ends


STAGES = ("fan-out", "correlate", "alert-publisher")


class Worker:
    """One correlator worker's stages; several workers with the same settings share the work.

    By default one process runs all three stages, each in its thread. ``stages`` runs only some: the
    stages share nothing but topics, so a fan-out process beside a correlate and alert-publisher process
    is the same correlator with Python's one-core-per-process limit lifted.
    """

    def __init__(self, bus: Bus, *, instance_id: str, stages: tuple[str, ...] = STAGES) -> None:
        group = app_id(bus)
        self.fan_out = (
            FanOut(bus, group_id=f"{group}-fan-out", by_subject_topic=bus.catalogue.topic(BY_SUBJECT_TOPIC))
            if "fan-out" in stages
            else None
        )
        self.correlate = CorrelateStage(bus, group_id=group, instance_id=instance_id) if "correlate" in stages else None
        self.publisher = (
            AlertPublisher(bus, group_id=f"{group}-alerts", instance_id=instance_id) if "alert-publisher" in stages else None
        )
        self.threads: list[threading.Thread] = []

    def _stages(self) -> list[tuple[str, FanOut | CorrelateStage | AlertPublisher]]:
        named = (("fan-out", self.fan_out), ("correlate", self.correlate), ("alert-publisher", self.publisher))
        return [(name, stage) for name, stage in named if stage is not None]

    def start(self) -> None:
        self.threads = [start_or_exit(name, stage.run) for name, stage in self._stages()]

    def stop(self) -> None:
        for _name, stage in self._stages():
            stage.stop()
        for thread in self.threads:
            thread.join(STOP_SECONDS)

    def web_app(self) -> web.Application:
        """/metrics, /healthz, and /assignment (source partitions held: tests and operators wait for a settled group)."""

        async def assignment(_request: web.Request) -> web.Response:
            held = [stage.assigned() for name, stage in self._stages() if name != "alert-publisher"]
            return web.json_response({"partitions": sum(held)})

        async def healthz(_request: web.Request) -> web.Response:
            dead = dead_threads()
            if dead:
                return web.json_response({"status": "unhealthy", "dead": dead}, status=503)
            return web.json_response({"status": "ok"})

        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler())
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/assignment", assignment)
        return app


def app_id(bus: Bus) -> str:
    return f"{bus.settings.topic_prefix}borderbus-correlator"


def run_worker(
    bus: Bus, *, web_host: str, web_port: int, instance_id: str, loglevel: str = "warning", stages: tuple[str, ...] = STAGES
) -> None:
    """Run one worker until SIGTERM/SIGINT, serving its web endpoints on ``web_host:web_port``."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = Worker(bus, instance_id=instance_id, stages=stages)
    worker.start()
    try:
        web.run_app(worker.web_app(), host=web_host, port=web_port, print=None, access_log=None)
    finally:
        worker.stop()
