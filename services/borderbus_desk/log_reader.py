"""Restores the desk's state from ``desk.alert-status``, then reads the alert and action logs, in one thread.

Every desk instance reads every partition itself (assigned, not subscribed): each needs the whole
state. At start it loads the status records, then reads each log partition from the offset the last
checkpoint committed (group ``borderbus-desk-state``), or from the start of what is retained when
there is none or it has been deleted since: start-up reads what changed since the checkpoint, and an
acknowledgement that aged out of ``alerts.actions`` is still in its status record.

The desk is *caught up* once it has applied both logs up to the ends they had when it started;
only then does it serve /readyz and escalate. Webhooks get live changes, and, when the desk resumed
from a checkpoint, also the changes it read since (receivers deduplicate by delivery id), so a crash
loses no delivery. An undecodable alert is skipped here and dead-lettered once by the router (which
commits its position); an undecodable action is dead-lettered here when the desk is live.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from borderbus import codec
from borderbus.batches import next_batch
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC, ALERTS_TOPIC, DESK_SILENCES_TOPIC
from borderbus.codec import DecodeError
from borderbus.dead_letter import DeadLetters
from borderbus.partition_reader import watermarks
from borderbus.schema_registry import SchemaRegistry
from borderbus_desk import faults, silences
from borderbus_desk.metrics import (
    ALERTS_BY_STATUS,
    ALERTS_SUPPRESSED,
    CAUGHT_UP,
    CONSUMER_LAG,
    RESTORED_ALERTS,
    SILENCES_ACTIVE,
    TIME_TO_ACKNOWLEDGE,
)
from borderbus_desk.state import Action, ActionOutcome, Change, DeskState
from borderbus_desk.status_log import StatusLog

log = logging.getLogger(__name__)

ChangeListener = Callable[[list[Change], list[ActionOutcome], bool], None]
"""Called after each batch with the changes, the action outcomes, and whether to offer them to webhooks."""
FailureListener = Callable[[str, BaseException], None]
SilenceListener = Callable[[list[str]], None]
"""Called with the ids of silences that changed (a new version, began, ended, or is about to end)."""

_LAG_INTERVAL_S = 5.0


class AlertLogReader:
    def __init__(
        self,
        bus: Bus,
        state: DeskState,
        lock: threading.Lock,
        listener: ChangeListener,
        status_log: StatusLog,
        *,
        on_failure: FailureListener | None = None,
        on_caught_up: Callable[[], None] | None = None,
        on_silences: SilenceListener | None = None,
        silence_warning_ms: int = 300_000,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        settings = bus.settings
        self.silences_topic = bus.catalogue.topic(DESK_SILENCES_TOPIC)
        self.silence_schema = bus.schemas.latest("desk-silence")
        self.on_silences, self.silence_warning_ms = on_silences, silence_warning_ms
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._silence_marks: dict[str, tuple[str, bool]] = {}
        """Per silence: (state, expires soon) when last reported, to report only what moved."""
        self.alerts_topic = bus.catalogue.topic(ALERTS_TOPIC)
        self.actions_topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.alert_schema = bus.schemas.latest("alert")
        self.action_schema = bus.schemas.latest("alert-action")
        self.registry = SchemaRegistry(settings, known=bus.schemas)
        self.status_log = status_log
        # Assigned, never subscribed: the group only holds the checkpoints' committed positions.
        self.consumer = Consumer(settings.consumer_config(status_log.group))
        self.dead_letters = DeadLetters(settings, "desk")
        self.state, self.lock, self.listener = state, lock, listener
        self.on_failure, self.on_caught_up = on_failure, on_caught_up
        self.caught_up = threading.Event()
        self.resumed = False
        """Whether the logs are read from a checkpoint (then what is read was not necessarily offered yet)."""
        self._applied: dict[tuple[str, int], int] = {}
        self._applied_changed = threading.Condition()
        self._targets: dict[tuple[str, int], int] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="desk-log-reader", daemon=True)
        self._last_lag = 0.0

    def start(self) -> None:
        """Restore the status records, then assign every log partition from the checkpoint (or the start)."""
        restored = self.status_log.load()
        with self.lock:
            for status, record, message in restored:
                self.state.restore(status, record, message)
        RESTORED_ALERTS.set(len(restored))
        metadata = self.consumer.list_topics(timeout=30)
        partitions = []
        for topic in (self.alerts_topic, self.actions_topic, self.silences_topic):
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise RuntimeError(f"topic {topic} does not exist: run 'borderbus topics apply'")
        for topic in (self.alerts_topic, self.actions_topic):
            partitions += [TopicPartition(topic, partition) for partition in metadata.topics[topic].partitions]
        committed = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.committed(partitions, timeout=30)}
        assignment = []
        for tp in partitions:
            key = (tp.topic, tp.partition)
            low, high = watermarks(self.consumer, tp)
            checkpoint = committed.get(key, -1)
            self.resumed |= checkpoint >= 0
            start = checkpoint if checkpoint >= low else low
            if high > start:
                self._targets[key] = high
            self._applied[key] = start
            assignment.append(TopicPartition(tp.topic, tp.partition, start if checkpoint >= low else OFFSET_BEGINNING))
        # Silences are read whole at every start (compacted, small) and are no part of the checkpoints.
        for partition in metadata.topics[self.silences_topic].partitions:
            tp = TopicPartition(self.silences_topic, partition)
            _low, high = watermarks(self.consumer, tp)
            if high > 0:
                self._targets[(self.silences_topic, partition)] = high
            assignment.append(TopicPartition(self.silences_topic, partition, OFFSET_BEGINNING))
        log.info(
            "desk restored %d alert(s) from %s; reading the logs from %s",
            len(restored),
            self.status_log.topic,
            "the last checkpoint" if self.resumed else "the start of what is retained",
        )
        self.consumer.assign(assignment)
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)

    def applied_positions(self) -> dict[tuple[str, int], int]:
        """Next offset to read per log partition, consistent with the state (call holding the state lock)."""
        return {key: offset for key, offset in self._applied.items() if key[0] != self.silences_topic}

    def wait_applied(self, action_ids: Iterable[str], timeout: float) -> bool:
        """Wait until the reader has applied (or refused) each action; False on timeout."""
        wanted = list(action_ids)
        with self._applied_changed:
            return self._applied_changed.wait_for(lambda: all(i in self.state.outcomes for i in wanted), timeout)

    def wait_silence(self, silence_id: str, version: int, timeout: float) -> bool:
        """Wait until the reader has applied this version of the silence (or a later one); False on timeout."""

        def applied() -> bool:
            current = self.state.silences.get(silence_id)
            return current is not None and current.version >= version

        with self._applied_changed:
            return self._applied_changed.wait_for(applied, timeout)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                faults.check("log-reader")
                messages = next_batch(self.consumer, 500, 0.2)
                if messages:
                    self._apply(messages)
                else:
                    self._follow_silences([], [])
                if not self.caught_up.is_set():
                    self._check_caught_up()
                if time.monotonic() - self._last_lag >= _LAG_INTERVAL_S:
                    self._update_lag()
        except Exception as error:
            log.exception("desk log reader stopped")
            if self.on_failure is not None:
                self.on_failure("log-reader", error)
        finally:
            self.consumer.close()

    def _apply(self, messages: list[Message]) -> None:
        live = self.caught_up.is_set()
        changes: list[Change] = []
        outcomes: list[ActionOutcome] = []
        dead = 0
        for message in messages:
            topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
            if topic == self.silences_topic:
                self._apply_silence(message)
                continue
            is_alert = topic == self.alerts_topic
            value = message.value() or b""
            try:
                record = codec.decode(value, self.alert_schema if is_alert else self.action_schema, self.registry.lookup)
            except DecodeError as error:
                log.warning("skipping %s[%s]@%s: %s", topic, partition, offset, error)
                if live and not is_alert:
                    self.dead_letters.send(
                        value=value,
                        key=message.key(),
                        source_topic=topic,
                        partition=partition,
                        offset=offset,
                        reason=error.reason,
                        detail=error.detail,
                    )
                    dead += 1
                with self.lock:
                    self._applied[(topic, partition)] = offset + 1
                continue
            with self.lock:
                if is_alert:
                    _, published_ms = message.timestamp()
                    changes += self.state.apply_alert(record, published_ms, value)
                else:
                    outcome = self.state.apply_action(Action.from_record(record))
                    outcomes.append(outcome)
                    if outcome.change is not None:
                        changes.append(outcome.change)
                    if live and outcome.applied and outcome.action.action == "ACKNOWLEDGE":
                        alert = self.state.alerts[outcome.action.alert_id]
                        TIME_TO_ACKNOWLEDGE.labels(alert.severity).observe(
                            max(0.0, (outcome.action.occurred_at_ms - alert.created_ms) / 1000)
                        )
                self._applied[(topic, partition)] = offset + 1
        if dead:
            self.dead_letters.flush()
        changes = self._follow_silences(changes, outcomes, notify=False)
        with self.lock:
            counts = self.state.status_counts()
        for status, count in counts.items():
            ALERTS_BY_STATUS.labels(status).set(count)
        with self._applied_changed:
            self._applied_changed.notify_all()
        self.listener(changes, outcomes, live or self.resumed)

    def _apply_silence(self, message: Message) -> None:
        value = message.value()
        with self.lock:
            self._applied[(self.silences_topic, message.partition() or 0)] = (message.offset() or 0) + 1
        if value is None:
            return
        try:
            record = codec.decode(value, self.silence_schema, self.registry.lookup)
        except DecodeError as error:
            log.warning("skipping undecodable silence at offset %s: %s", message.offset(), error)
            return
        with self.lock:
            silences.apply_silence(self.state, silences.Silence.from_record(record))

    def _follow_silences(self, changes: list[Change], outcomes: list[ActionOutcome], *, notify: bool = True) -> list[Change]:
        """Which alerts silences keep quiet now: new alert versions, and every alert when the silences in force
        changed (one began, ended, was edited). Silence changes are reported to the desk (about to expire too)."""
        now = self.now_ms()
        with self.lock:
            fresh = {change.alert_id for change in changes if change.kind == "version"}
            alerts = [self.state.alerts[alert_id] for alert_id in fresh if alert_id in self.state.alerts]
            extra = silences.follow(self.state, alerts, now) + silences.refresh(self.state, now)
            suppressed = sum(1 for alert in alerts if alert.silenced_by)
            marks = {
                silence.silence_id: (
                    f"{silence.version}:{silence.state(now)}",
                    silence.expires_soon(now, self.silence_warning_ms),
                )
                for silence in self.state.silences.values()
            }
            active = len(self.state.active_silences)
        moved = [silence_id for silence_id, mark in marks.items() if self._silence_marks.get(silence_id) != mark]
        self._silence_marks = marks
        SILENCES_ACTIVE.set(active)
        if suppressed and self.caught_up.is_set():
            ALERTS_SUPPRESSED.inc(suppressed)
        if moved and self.on_silences is not None:
            self.on_silences(moved)
        if notify and extra:
            self.listener(extra, [], self.caught_up.is_set() or self.resumed)
        return changes + [change for change in extra if change not in changes]

    def _positions(self) -> dict[tuple[str, int], int]:
        return {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(self.consumer.assignment())}

    def _check_caught_up(self) -> None:
        positions = self._positions()
        if all(positions.get(key, -1) >= target for key, target in self._targets.items()):
            self.caught_up.set()
            CAUGHT_UP.set(1)
            log.info("desk caught up: %d alerts", len(self.state.alerts))
            if self.on_caught_up is not None:
                self.on_caught_up()

    def _update_lag(self) -> None:
        self._last_lag = time.monotonic()
        lag = {self.alerts_topic: 0, self.actions_topic: 0, self.silences_topic: 0}
        for (topic, partition), position in self._positions().items():
            _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True) or (0, 0)
            lag[topic] += max(0, high - max(position, 0))
        for topic, records in lag.items():
            CONSUMER_LAG.labels(topic).set(records)
