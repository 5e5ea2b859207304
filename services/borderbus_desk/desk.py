"""The duty desk process: state from the logs, officers' actions to the log, live pushes out.

Kafka threads (log reader, escalator, agency router) feed the state; the asyncio side (HTTP, SSE,
webhooks) reads it. Changes cross from the reader thread to the event loop through
``call_soon_threadsafe``, in the order the state applied them.

Every action (an officer's or the escalator's) is written together with the alert's new status
record in one Kafka transaction, one at a time per desk (``sequencer``) and only against the state
that includes every earlier action of this desk, so the status records agree with the action log.

Nothing dies quietly: if a worker thread or webhook task dies, ``/healthz`` answers 503 and the
process exits non-zero shortly after, for its supervisor to restart it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.web_runner import GracefulExit
from confluent_kafka import KafkaException

from borderbus import codec, limits
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC
from borderbus.schema_registry import SchemaRegistry
from borderbus.transactions import Fenced, Outgoing, TransactionalWriter
from borderbus_desk.desk_config import DeskConfig
from borderbus_desk.escalator import Escalator
from borderbus_desk.log_reader import AlertLogReader
from borderbus_desk.metrics import ACTIONS_TAKEN
from borderbus_desk.officers import Officer, OfficerDirectory
from borderbus_desk.router import AgencyAlertRouter
from borderbus_desk.state import (
    ACTIONS,
    Action,
    ActionOutcome,
    AlertFilter,
    Change,
    DeskAlert,
    DeskState,
    IllegalTransition,
    PendingDelivery,
    next_status,
    visible_to,
)
from borderbus_desk.status_log import StatusLog
from borderbus_desk.webhooks import WebhookSender

log = logging.getLogger(__name__)

_ACTION_APPLY_TIMEOUT_S = 10.0
_SUBSCRIBER_QUEUE_LIMIT = 20_000
EXIT_GRACE_ENV = "BORDERBUS_DESK_EXIT_GRACE_S"
"""Seconds between a worker's death and the process's exit (default 2): time for probes to see the 503."""
EXIT_CODE_WORKER_DIED = 70
_HARD_EXIT_AFTER_S = 30.0


class DeskError(Exception):
    """An error the HTTP layer returns as ``{"error": code, "field": ..., "message": ...}``."""

    def __init__(self, status: int, code: str, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.field = status, code, field_name


@dataclass(eq=False)
class Subscriber:
    """One live stream: the changes the desk applied since it connected, in order."""

    officer: Officer
    filter: AlertFilter
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(_SUBSCRIBER_QUEUE_LIMIT))
    overflowed: bool = False


class DutyDesk:
    def __init__(
        self, bus: Bus, officers: OfficerDirectory, config: DeskConfig, *, instance_id: str, route_agency_topics: bool = True
    ) -> None:
        self.bus, self.officers, self.config = bus, officers, config
        self.state = DeskState()
        self.lock = threading.Lock()
        self.sequencer = threading.Lock()
        self.epoch = uuid.uuid4().hex[:10]
        self.failure: str | None = None
        # Each part authenticates as its own Kafka principal (ops/config/topics.yaml says what each may do).
        reader_bus, actions_bus = bus.as_principal("desk-reader"), bus.as_principal("desk-actions")
        self.registry = SchemaRegistry(actions_bus.settings, known=bus.schemas)
        self.status_log = StatusLog(reader_bus, self.registry)
        self.reader = AlertLogReader(
            reader_bus,
            self.state,
            self.lock,
            self._on_changes,
            self.status_log,
            on_failure=self.fail,
            on_caught_up=self._on_caught_up,
        )
        self.escalator = Escalator(
            actions_bus,
            self.state,
            self.lock,
            self.sequencer,
            config.deadlines_s,
            self.reader,
            self.status_log,
            checkpoint_interval_s=config.checkpoint_interval_s,
            keep_closed_s=config.keep_closed_s,
            on_failure=self.fail,
        )
        self.router = (
            AgencyAlertRouter(bus.as_principal("desk-router"), instance_id=instance_id, on_failure=self.fail)
            if route_agency_topics
            else None
        )
        self.actions_topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.action_schema = bus.schemas.latest("alert-action")
        # Per instance: officers' actions and their status records, one transaction each.
        self.writer = TransactionalWriter(
            actions_bus.settings, f"{bus.settings.topic_prefix}borderbus-desk-actions-{instance_id}"
        )
        self.subscribers: set[Subscriber] = set()
        self.webhooks: list[WebhookSender] = []
        self._in_flight: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def caught_up(self) -> bool:
        return self.reader.caught_up.is_set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self.webhooks = [WebhookSender(subscription, self._session, self._delivered) for subscription in self.config.webhooks]
        for sender in self.webhooks:
            sender.start()
            assert sender.task is not None
            sender.task.add_done_callback(self._webhook_task_ended)
        await asyncio.to_thread(self._start_kafka)

    def _start_kafka(self) -> None:
        for schema in (self.action_schema, self.status_log.schema):
            self.registry.register(schema)
        self.writer.init(30)
        self.escalator.fence_predecessors()
        self.reader.start()
        self.escalator.start()
        if self.router is not None:
            self.router.start()

    async def stop(self) -> None:
        for worker in (self.router, self.reader, self.escalator):
            if worker is not None:
                await asyncio.to_thread(worker.stop)
        for sender in self.webhooks:
            if sender.task is not None:
                sender.task.cancel()
        if self._session is not None:
            await self._session.close()

    # -- supervision ---------------------------------------------------------------------------------

    def fail(self, worker: str, error: BaseException) -> None:
        """A worker died: report unhealthy, then exit so the supervisor restarts the desk (any thread)."""
        if self.failure is not None:
            return
        self.failure = f"{worker} died: {type(error).__name__}: {error}"
        log.critical("desk %s; exiting with %d", self.failure, EXIT_CODE_WORKER_DIED)
        grace = float(os.environ.get(EXIT_GRACE_ENV, "2"))
        hard_exit = threading.Timer(grace + _HARD_EXIT_AFTER_S, os._exit, (EXIT_CODE_WORKER_DIED,))  # if shutdown hangs
        hard_exit.daemon = True
        hard_exit.start()
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.call_later, grace, _graceful_exit)

    def _webhook_task_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.fail(f"webhooks ({task.get_name()})", task.exception() or RuntimeError("ended"))

    def unhealthy(self) -> str | None:
        """Why the desk is unhealthy, or None."""
        if self.failure is not None:
            return self.failure
        threads = [self.reader.thread, self.escalator.thread] + ([self.router.thread] if self.router else [])
        for thread in threads:
            if thread.ident is not None and not thread.is_alive():
                return f"{thread.name} is not running"
        for sender in self.webhooks:
            if sender.task is not None and sender.task.done():
                return f"{sender.task.get_name()} is not running"
        return None

    # -- from the reader thread to the event loop ------------------------------------------------

    def _on_changes(self, changes: list[Change], outcomes: list[ActionOutcome], offer: bool) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dispatch, changes, offer)

    def _on_caught_up(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._offer_owed)

    def _dispatch(self, changes: list[Change], offer: bool) -> None:
        for subscriber in list(self.subscribers):
            for change in changes:
                try:
                    subscriber.queue.put_nowait(change)
                except asyncio.QueueFull:
                    subscriber.overflowed = True
                    break
        if offer and self.webhooks:
            self._offer_webhooks(changes)

    def _offer_webhooks(self, changes: list[Change]) -> None:
        for change in changes:
            with self.lock:
                alert = self.state.alerts.get(change.alert_id)
                if alert is None:
                    continue
                view = alert.to_json()
                chosen = []
                for sender in self.webhooks:
                    subscription = sender.subscription
                    if visible_to(subscription.agency, alert.record) and subscription.filter.matches(alert):
                        owed = PendingDelivery(subscription.name, change.delivery_id, change.kind, change.detail)
                        alert.pending_deliveries.setdefault(owed.key, owed)
                        self.state.dirty.add(alert.alert_id)
                        chosen.append((sender, owed))
            for sender, owed in chosen:
                self._offer(sender, view, owed)

    def _offer_owed(self) -> None:
        """After catching up: offer again what the status records say was owed when the desk stopped."""
        senders = {sender.subscription.name: sender for sender in self.webhooks}
        owed: list[tuple[dict[str, Any], PendingDelivery]] = []
        with self.lock:
            for alert in sorted(self.state.alerts.values(), key=lambda alert: alert.seq):
                for key, item in list(alert.pending_deliveries.items()):
                    if item.subscription in senders:
                        owed.append((alert.to_json(), item))
                    else:  # the subscription left desk.yaml: nobody to deliver to
                        del alert.pending_deliveries[key]
                        self.state.dirty.add(alert.alert_id)
        for view, item in owed:
            self._offer(senders[item.subscription], view, item)

    def _offer(self, sender: WebhookSender, view: dict[str, Any], owed: PendingDelivery) -> None:
        if owed.key in self._in_flight:
            return
        if sender.offer(view, owed.kind, owed.delivery_id, owed.what):
            self._in_flight.add(owed.key)

    def _delivered(self, payload: dict[str, Any], delivered: bool) -> None:
        """A delivery is done (delivered, or given up): no longer owed."""
        for sender in self.webhooks:
            key = PendingDelivery(sender.subscription.name, payload["delivery_id"], payload["change"]).key
            if key not in self._in_flight:
                continue
            self._in_flight.discard(key)
            with self.lock:
                alert = self.state.alerts.get(payload["alert"]["alert_id"])
                if alert is not None and alert.pending_deliveries.pop(key, None) is not None:
                    self.state.dirty.add(alert.alert_id)
            return

    # -- queries -----------------------------------------------------------------------------------

    def authenticate(self, token: str) -> Officer | None:
        return self.officers.authenticate(token)

    def _visible(self, officer: Officer, alert_id: str) -> DeskAlert:
        alert = self.state.alerts.get(alert_id)
        if alert is None or not visible_to(officer.agency, alert.record):
            raise DeskError(404, "unknown_alert", f"no alert {alert_id!r}", "alert_id")
        return alert

    def get(self, officer: Officer, alert_id: str) -> dict[str, Any]:
        with self.lock:
            return self._visible(officer, alert_id).to_json()

    def view_for(self, subscriber: Subscriber, alert_id: str, *, matching_only: bool = True) -> tuple[int, dict[str, Any]] | None:
        """``(seq, view)`` if the subscriber may see the alert and (when ``matching_only``) it passes their
        filter. A stream sends an alert it already showed even when it no longer matches (acknowledged
        under a ``status=new`` filter), so the client can drop it."""
        with self.lock:
            alert = self.state.alerts.get(alert_id)
            if alert is None or not visible_to(subscriber.officer.agency, alert.record):
                return None
            if matching_only and not subscriber.filter.matches(alert):
                return None
            return alert.seq, alert.to_json()

    def matching(self, officer: Officer, alert_filter: AlertFilter, limit: int) -> list[dict[str, Any]]:
        with self.lock:
            chosen = [
                alert
                for alert in self.state.alerts.values()
                if visible_to(officer.agency, alert.record) and alert_filter.matches(alert)
            ]
            chosen.sort(key=lambda alert: (alert.updated_ms, alert.seq), reverse=True)
            return [alert.to_json() for alert in chosen[:limit]]

    def cursor(self, seq: int) -> str:
        return f"{self.epoch}:{seq}"

    def backlog(self, subscriber: Subscriber, last_event_id: str | None) -> list[tuple[int, dict[str, Any]]]:
        """What a (re)connecting stream must be sent first: the changes after its cursor when this desk
        still has them, else every matching alert (a client upserts by alert id, so repeats are harmless)."""
        with self.lock:
            alerts: list[DeskAlert] | None = None
            if last_event_id:
                epoch, _, seq = last_event_id.partition(":")
                if epoch == self.epoch and seq.isascii() and seq.isdigit():
                    alerts = self.state.changed_since(int(seq))
            if alerts is None:
                alerts = sorted(self.state.alerts.values(), key=lambda alert: alert.seq)
            return [
                (alert.seq, alert.to_json())
                for alert in alerts
                if visible_to(subscriber.officer.agency, alert.record) and subscriber.filter.matches(alert)
            ]

    # -- actions -----------------------------------------------------------------------------------

    async def act(self, officer: Officer, alert_id: str, action_name: str, note: str | None) -> tuple[int, dict[str, Any]]:
        """Publish an officer's action (with the alert's new status) and return once the desk has applied it."""
        try:
            action = self._validated_action(officer, alert_id, action_name, note)
        except DeskError:
            ACTIONS_TAKEN.labels(action_name if action_name in ACTIONS else "unknown", "rejected").inc()
            raise
        try:
            outcome = await asyncio.to_thread(self._record, action)
        except DeskError:
            ACTIONS_TAKEN.labels(action.action, "rejected").inc()
            raise
        if outcome is None:
            ACTIONS_TAKEN.labels(action.action, "accepted").inc()
            return 202, {"status": "recorded", "action_id": action.action_id, "message": "recorded in Kafka, not yet applied"}
        if not outcome.applied:
            ACTIONS_TAKEN.labels(action.action, "rejected").inc()
            raise DeskError(409, "illegal_transition", outcome.reason or "the alert changed first", "action")
        ACTIONS_TAKEN.labels(action.action, "accepted").inc()
        return 200, self.get(officer, alert_id)

    def _record(self, action: Action) -> ActionOutcome | None:
        """The action and the alert's status after it, in one transaction; then wait for the reader to apply
        it. One at a time, so each is checked against a state holding every earlier action of this desk."""
        with self.sequencer:
            with self.lock:
                try:
                    after = self.state.preview(action)
                except IllegalTransition as error:
                    raise DeskError(409, "illegal_transition", str(error), "action") from None
                status = self.status_log.record(after, self.config.deadlines_s, int(time.time() * 1000))
            value = codec.encode(self.action_schema, action.to_record())
            try:
                self.writer.write([Outgoing(self.actions_topic, action.alert_id.encode(), value), status])
            except (Fenced, KafkaException) as error:
                raise DeskError(503, "kafka_unavailable", f"the action was not recorded: {error}") from error
            if not self.reader.wait_applied([action.action_id], _ACTION_APPLY_TIMEOUT_S):
                return None
            return self.state.outcomes[action.action_id]

    def _validated_action(self, officer: Officer, alert_id: str, action_name: str, note: str | None) -> Action:
        if action_name not in ACTIONS:
            raise DeskError(422, "invalid_action", f"action must be one of {', '.join(ACTIONS)}", "action")
        note = note.strip() if isinstance(note, str) and note.strip() else None
        if note is not None and len(note) > limits.MAX_NOTE:
            raise DeskError(422, "note_too_long", f"note is longer than {limits.MAX_NOTE} characters", "note")
        with self.lock:
            alert = self._visible(officer, alert_id)
            try:
                next_status(alert.status, action_name)
            except ValueError as error:
                raise DeskError(409, "illegal_transition", str(error), "action") from None
            version = alert.version
        if note is None and action_name in self.config.note_required:
            raise DeskError(422, "note_required", f"a note is required to {action_name}", "note")
        return Action(
            action_id=str(uuid.uuid4()),
            alert_id=alert_id,
            alert_version=version,
            action=action_name,
            actor=officer.officer_id,
            agency=officer.agency,
            note=note,
            occurred_at_ms=int(time.time() * 1000),
        )


def _graceful_exit() -> None:
    raise GracefulExit()
