"""Escalates alerts nobody acknowledged in time, once, by the system, across restarts; and checkpoints
the desk's state into ``desk.alert-status``.

Exactly once rests on three things. The escalator's transactional writer is initialised *before*
the desk reads the logs, which fences any predecessor with the same transactional id and settles
its open transaction; the desk decides only after it has read the action log to the end it had at
start, so every earlier escalation is known; and each escalation's action id is derived from the
alert id and the version that started its clock, so even a duplicate that slipped through would be
ignored by every reader (and a reopened alert can be escalated again).

The checkpoint is this single writer's other job: the status records of every alert changed since
the last checkpoint, and the log reader's positions as offsets of group ``borderbus-desk-state``,
in one transaction. A restarted desk loads the status records and reads the logs from those
positions, so its start-up reads what happened since the checkpoint, not the logs' whole history;
closed alerts untouched for ``keep_closed_alerts_seconds`` leave as tombstones.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC
from borderbus.transactions import Fenced, Outgoing, TransactionalWriter
from borderbus_desk import faults
from borderbus_desk.log_reader import AlertLogReader
from borderbus_desk.metrics import CHECKPOINTS, ESCALATIONS
from borderbus_desk.state import SYSTEM_ACTOR, SYSTEM_AGENCY, Action, DeskState
from borderbus_desk.status_log import StatusLog

log = logging.getLogger(__name__)

ESCALATION_NAMESPACE = uuid.UUID("6f1c2d4e-8b1a-4f3e-9c57-0e2b6d1a7c90")
_TICK_S = 0.5
_APPLY_WAIT_S = 10.0
_CHECKPOINT_CHUNK = 2000

FailureListener = Callable[[str, BaseException], None]


def escalation_action_id(alert_id: str, clock_version: int | None = None) -> str:
    """One id per acknowledgement clock: the first from creation, another per version that reopened it."""
    suffix = "" if clock_version is None else f":v{clock_version}"
    return str(uuid.uuid5(ESCALATION_NAMESPACE, f"escalation:{alert_id}{suffix}"))


class Escalator:
    def __init__(
        self,
        bus: Bus,
        state: DeskState,
        lock: threading.Lock,
        sequencer: threading.Lock,
        deadlines_s: dict[str, float | None],
        reader: AlertLogReader,
        status_log: StatusLog,
        *,
        checkpoint_interval_s: float = 5.0,
        keep_closed_s: float = 90 * 24 * 3600.0,
        on_failure: FailureListener | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        settings = bus.settings
        self.topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.schema = bus.schemas.latest("alert-action")
        self.writer = TransactionalWriter(settings, f"{settings.topic_prefix}borderbus-desk-escalator")
        # Never subscribes: only names the group whose offsets the checkpoints commit.
        self.group = Consumer(settings.consumer_config(status_log.group))
        self.state, self.lock, self.sequencer, self.deadlines_s = state, lock, sequencer, deadlines_s
        self.reader, self.status_log = reader, status_log
        self.checkpoint_interval_s, self.keep_closed_ms = checkpoint_interval_s, int(keep_closed_s * 1000)
        self.on_failure = on_failure
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.fenced = False
        self._last_checkpoint = 0.0
        self._last_positions: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="desk-escalator", daemon=True)

    def fence_predecessors(self) -> None:
        """Call before the log reader starts (see the module docstring)."""
        self.writer.init(30)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)
        if not self.fenced:
            try:
                self.checkpoint()
            except Exception:  # a last checkpoint is a courtesy: the next start reads a little more
                log.exception("final checkpoint failed")
        self.group.close()

    def _run(self) -> None:
        try:
            while not self._stop.wait(_TICK_S):
                faults.check("escalator")
                if self.reader.caught_up.is_set() and not self.fenced:
                    self.escalate_due()
                    if time.monotonic() - self._last_checkpoint >= self.checkpoint_interval_s:
                        self.checkpoint()
        except Exception as error:
            log.exception("desk escalator stopped")
            if self.on_failure is not None:
                self.on_failure("escalator", error)

    def escalate_due(self) -> int:
        """Publish one system ESCALATE per overdue alert, with their status records, in one transaction."""
        with self.sequencer:
            now = self.now_ms()
            with self.lock:
                due = self.state.due_for_escalation(now, self.deadlines_s)
                actions = [
                    Action(
                        action_id=escalation_action_id(alert.alert_id, alert.clock_version),
                        alert_id=alert.alert_id,
                        alert_version=alert.version,
                        action="ESCALATE",
                        actor=SYSTEM_ACTOR,
                        agency=SYSTEM_AGENCY,
                        note=f"not acknowledged within {self.deadlines_s[alert.severity]:g} s of "
                        + ("being raised" if alert.clock_version is None else f"reopening in version {alert.clock_version}")
                        + f" ({alert.severity})",
                        occurred_at_ms=now,
                    )
                    for alert in due
                ]
                records = [
                    Outgoing(self.topic, action.alert_id.encode(), codec.encode(self.schema, action.to_record()))
                    for action in actions
                ]
                records += [self.status_log.record(self.state.preview(action), self.deadlines_s, now) for action in actions]
                for alert in due:
                    alert.escalation_pending = True
                severities = [alert.severity for alert in due]
            if not actions:
                return 0
            try:
                self.writer.write(records)
            except (Fenced, KafkaException) as error:
                self._failed(error, [action.alert_id for action in actions])
                return 0
            self.reader.wait_applied([action.action_id for action in actions], _APPLY_WAIT_S)
        for severity in severities:
            ESCALATIONS.labels(severity).inc()
        log.info("escalated %d alert(s)", len(actions))
        return len(actions)

    def checkpoint(self) -> int:
        """Write the status of every alert changed since the last checkpoint, and commit the reader's
        positions with the last of them; returns how many status records were written."""
        with self.sequencer:
            now = self.now_ms()
            with self.lock:
                gone = self.state.forget_closed(now, self.keep_closed_ms)
                dirty = [alert for alert in self.state.take_dirty() if alert.message is not None]
                positions = self.reader.applied_positions()
                records = [self.status_log.record(alert, self.deadlines_s, now) for alert in dirty]
                records += [self.status_log.tombstone(alert_id) for alert_id in gone]
            if not records and positions == self._last_positions:
                self._last_checkpoint = time.monotonic()
                return 0
            offsets = [TopicPartition(topic, partition, offset) for (topic, partition), offset in sorted(positions.items())]
            try:
                for start in range(0, max(len(records), 1), _CHECKPOINT_CHUNK):
                    last = start + _CHECKPOINT_CHUNK >= len(records)
                    self.writer.write(
                        records[start : start + _CHECKPOINT_CHUNK],
                        offsets=offsets if last else None,
                        group_metadata=self.group.consumer_group_metadata() if last else None,
                    )
            except (Fenced, KafkaException) as error:
                with self.lock:
                    self.state.dirty.update(alert.alert_id for alert in dirty)
                if isinstance(error, Fenced):
                    self.fenced = True
                log.warning("checkpoint not written, retrying next tick: %s", error)
                return 0
            self._last_positions, self._last_checkpoint = positions, time.monotonic()
        CHECKPOINTS.inc()
        return len(records)

    def _failed(self, error: Exception, alert_ids: list[str]) -> None:
        if isinstance(error, Fenced):
            self.fenced = True
            log.error("escalator stopped: another desk took over escalation (%s)", error)
            return
        log.warning("escalation batch aborted, retrying next tick: %s", error)
        with self.lock:
            for alert_id in alert_ids:
                self.state.alerts[alert_id].escalation_pending = False
