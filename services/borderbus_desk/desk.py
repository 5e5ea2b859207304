"""The duty desk process: state from the logs, officers' actions to the log, live pushes out.

Kafka threads (log reader, escalator, agency router) feed the state; the asyncio side (HTTP, SSE,
webhooks) reads it. Changes cross from the reader thread to the event loop through
``call_soon_threadsafe``, in the order the state applied them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from confluent_kafka import KafkaException, Producer

from borderbus import codec
from borderbus.bus import Bus
from borderbus.catalogue import ALERT_ACTIONS_TOPIC
from borderbus.schema_registry import SchemaRegistry
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
    next_status,
    visible_to,
)
from borderbus_desk.webhooks import WebhookSender

log = logging.getLogger(__name__)

_ACTION_APPLY_TIMEOUT_S = 10.0
_SUBSCRIBER_QUEUE_LIMIT = 20_000


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
        self.epoch = uuid.uuid4().hex[:10]
        # Each part authenticates as its own Kafka principal (ops/config/topics.yaml says what each may do).
        actions_bus = bus.as_principal("desk-actions")
        self.reader = AlertLogReader(bus.as_principal("desk-reader"), self.state, self.lock, self._on_changes)
        self.escalator = Escalator(actions_bus, self.state, self.lock, config.deadlines_s, self.reader.caught_up)
        self.router = AgencyAlertRouter(bus.as_principal("desk-router"), instance_id=instance_id) if route_agency_topics else None
        self.actions_topic = bus.catalogue.topic(ALERT_ACTIONS_TOPIC)
        self.action_schema = bus.schemas.latest("alert-action")
        self.registry = SchemaRegistry(actions_bus.settings, known=bus.schemas)
        # A delivery either succeeds or fails within the publish wait, so a 503 never hides a late write.
        self.producer = Producer({**actions_bus.settings.producer_config(), "message.timeout.ms": 9_000})
        self.subscribers: set[Subscriber] = set()
        self.webhooks: list[WebhookSender] = []
        self._waiters: dict[str, asyncio.Future[ActionOutcome]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def caught_up(self) -> bool:
        return self.reader.caught_up.is_set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession()
        self.webhooks = [WebhookSender(subscription, self._session) for subscription in self.config.webhooks]
        for sender in self.webhooks:
            sender.start()
        await asyncio.to_thread(self._start_kafka)

    def _start_kafka(self) -> None:
        self.registry.register(self.action_schema)
        self.escalator.fence_predecessors()
        self.reader.start()
        self.escalator.start()
        if self.router is not None:
            self.router.start()

    async def stop(self) -> None:
        for worker in (self.escalator, self.router, self.reader):
            if worker is not None:
                await asyncio.to_thread(worker.stop)
        for sender in self.webhooks:
            if sender.task is not None:
                sender.task.cancel()
        if self._session is not None:
            await self._session.close()
        self.producer.flush(10)

    # -- from the reader thread to the event loop ------------------------------------------------

    def _on_changes(self, changes: list[Change], outcomes: list[ActionOutcome], live: bool) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._dispatch, changes, outcomes, live)

    def _dispatch(self, changes: list[Change], outcomes: list[ActionOutcome], live: bool) -> None:
        for outcome in outcomes:
            waiter = self._waiters.pop(outcome.action.action_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)
        for subscriber in list(self.subscribers):
            for change in changes:
                try:
                    subscriber.queue.put_nowait(change)
                except asyncio.QueueFull:
                    subscriber.overflowed = True
                    break
        if live and self.webhooks:
            self._offer_webhooks(changes)

    def _offer_webhooks(self, changes: list[Change]) -> None:
        for change in changes:
            with self.lock:
                alert = self.state.alerts.get(change.alert_id)
                if alert is None:
                    continue
                view = alert.to_json()
            for sender in self.webhooks:
                subscription = sender.subscription
                if visible_to(subscription.agency, alert.record) and subscription.filter.matches(alert):
                    sender.offer(view, change.kind)

    # -- queries -----------------------------------------------------------------------------------

    def authenticate(self, token: str) -> Officer | None:
        return self.officers.authenticate(token)

    def _visible(self, officer: Officer, alert_id: str) -> DeskAlert:
        alert = self.state.alerts.get(alert_id)
        if alert is None or not visible_to(officer.agency, alert.record):
            raise DeskError(404, "unknown_alert", f"no alert {alert_id!r}")
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
                if epoch == self.epoch and seq.isdigit():
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
        """Publish an officer's action and return once the desk has applied it from the log."""
        try:
            action = self._validated_action(officer, alert_id, action_name, note)
        except DeskError:
            ACTIONS_TAKEN.labels(action_name if action_name in ACTIONS else "unknown", "rejected").inc()
            raise
        assert self._loop is not None
        waiter: asyncio.Future[ActionOutcome] = self._loop.create_future()
        self._waiters[action.action_id] = waiter
        try:
            await asyncio.to_thread(self._publish, action)
        except KafkaException as error:
            self._waiters.pop(action.action_id, None)
            ACTIONS_TAKEN.labels(action.action, "rejected").inc()
            raise DeskError(503, "kafka_unavailable", f"the action was not recorded: {error}") from error
        try:
            outcome = await asyncio.wait_for(waiter, _ACTION_APPLY_TIMEOUT_S)
        except TimeoutError:
            self._waiters.pop(action.action_id, None)
            ACTIONS_TAKEN.labels(action.action, "accepted").inc()
            return 202, {"status": "recorded", "action_id": action.action_id, "message": "recorded in Kafka, not yet applied"}
        if not outcome.applied:
            ACTIONS_TAKEN.labels(action.action, "rejected").inc()
            raise DeskError(409, "illegal_transition", outcome.reason or "the alert changed first")
        ACTIONS_TAKEN.labels(action.action, "accepted").inc()
        return 200, self.get(officer, alert_id)

    def _validated_action(self, officer: Officer, alert_id: str, action_name: str, note: str | None) -> Action:
        if action_name not in ACTIONS:
            raise DeskError(422, "invalid_action", f"action must be one of {', '.join(ACTIONS)}", "action")
        note = note.strip() if isinstance(note, str) and note.strip() else None
        if note is not None and len(note) > 2000:
            raise DeskError(422, "note_too_long", "note is longer than 2000 characters", "note")
        with self.lock:
            alert = self._visible(officer, alert_id)
            try:
                next_status(alert.status, action_name)
            except ValueError as error:
                raise DeskError(409, "illegal_transition", str(error)) from None
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

    def _publish(self, action: Action) -> None:
        """Produce and wait for Kafka's acknowledgement (idempotent producer, acks=all)."""
        failures: list[str] = []

        def on_delivery(error: object, _message: object) -> None:
            if error is not None:
                failures.append(str(error))

        self.producer.produce(
            self.actions_topic,
            key=action.alert_id.encode(),
            value=codec.encode(self.action_schema, action.to_record()),
            on_delivery=on_delivery,
        )
        if self.producer.flush(15) or failures:
            raise KafkaException(failures[0] if failures else "no acknowledgement within 15 s")
