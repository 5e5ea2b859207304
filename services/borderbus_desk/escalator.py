"""Escalates alerts nobody acknowledged in time: once, by the system, across restarts.

Exactly once rests on three things. The escalator's transactional producer is initialised *before*
the desk reads the logs, which fences any predecessor with the same transactional id and settles
its open transaction; the desk decides only after it has read the action log to the end it had at
start, so every earlier escalation is known; and each escalation's action id is derived from the
alert id, so even a duplicate that slipped through would be ignored by every reader.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import KafkaException, Producer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC
from borderbus_desk.metrics import ESCALATIONS
from borderbus_desk.state import SYSTEM_ACTOR, SYSTEM_AGENCY, Action, DeskState

log = logging.getLogger(__name__)

ESCALATION_NAMESPACE = uuid.UUID("6f1c2d4e-8b1a-4f3e-9c57-0e2b6d1a7c90")
_TICK_S = 0.5


def escalation_action_id(alert_id: str) -> str:
    return str(uuid.uuid5(ESCALATION_NAMESPACE, f"escalation:{alert_id}"))


class Escalator:
    def __init__(
        self,
        bus: Bus,
        state: DeskState,
        lock: threading.Lock,
        deadlines_s: dict[str, float | None],
        caught_up: threading.Event,
        *,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        settings = bus.settings
        self.topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.schema = bus.schemas.latest("alert-action")
        self.producer = Producer(
            {
                **settings.producer_config(transactional_id=f"{settings.topic_prefix}borderbus-desk-escalator"),
                "transaction.timeout.ms": 10_000,
            }
        )
        self.state, self.lock, self.deadlines_s, self.caught_up = state, lock, deadlines_s, caught_up
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.fenced = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="desk-escalator", daemon=True)

    def fence_predecessors(self) -> None:
        """Call before the log reader starts (see the module docstring)."""
        self.producer.init_transactions(30)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(_TICK_S):
            if self.caught_up.is_set() and not self.fenced:
                self.escalate_due()

    def escalate_due(self) -> int:
        """Publish one system ESCALATE per overdue alert, all in one transaction; returns how many."""
        now = self.now_ms()
        with self.lock:
            due = self.state.due_for_escalation(now, self.deadlines_s)
            for alert in due:
                alert.escalation_pending = True
            actions = [
                Action(
                    action_id=escalation_action_id(alert.alert_id),
                    alert_id=alert.alert_id,
                    alert_version=alert.version,
                    action="ESCALATE",
                    actor=SYSTEM_ACTOR,
                    agency=SYSTEM_AGENCY,
                    note=f"not acknowledged within {self.deadlines_s[alert.severity]:g} s of being raised ({alert.severity})",
                    occurred_at_ms=now,
                )
                for alert in due
            ]
            severities = [alert.severity for alert in due]
        if not actions:
            return 0
        try:
            self.producer.begin_transaction()
            for action in actions:
                self.producer.produce(
                    self.topic, key=action.alert_id.encode(), value=codec.encode(self.schema, action.to_record())
                )
            self.producer.commit_transaction(30)
        except KafkaException as error:
            self._failed(error, [action.alert_id for action in actions])
            return 0
        for severity in severities:
            ESCALATIONS.labels(severity).inc()
        log.info("escalated %d alert(s)", len(actions))
        return len(actions)

    def _failed(self, error: KafkaException, alert_ids: list[str]) -> None:
        kafka_error = error.args[0] if error.args else None
        fatal = getattr(kafka_error, "fatal", lambda: False)()
        if fatal:
            self.fenced = True
            log.error("escalator stopped: another desk took over escalation (%s)", error)
            return
        log.warning("escalation batch aborted, retrying next tick: %s", error)
        try:
            self.producer.abort_transaction(30)
        except KafkaException:
            log.exception("abort failed")
        with self.lock:
            for alert_id in alert_ids:
                self.state.alerts[alert_id].escalation_pending = False
