"""Pushes alert changes to agencies' own systems over HTTP, signed, with retries and backoff.

Signature: header ``X-Borderbus-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
so a receiver checks both authenticity and freshness (:func:`verify_signature`). Each delivery has
an id (``X-Borderbus-Delivery``) derived from the alert id, version and change
(:func:`borderbus_desk.state.delivery_id`), the same across retries, desk restarts and crashes, for
the receiver to deduplicate. Deliveries owed are kept in the alerts' status records, so a desk killed
before delivering offers them again after its restart: at least once, with the same id.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from borderbus_desk import faults
from borderbus_desk.desk_config import WebhookSubscription
from borderbus_desk.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Borderbus-Signature"
DELIVERY_HEADER = "X-Borderbus-Delivery"
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 60.0
_QUEUE_LIMIT = 10_000
_IDLE_CHECK_S = 1.0

DeliveryDone = Callable[[dict[str, Any], bool], None]
"""Called with the payload and whether it was delivered (False: given up after the last attempt)."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, tolerance_s: int = 300, now: float | None = None) -> bool:
    """What a receiver runs: the signature matches and is at most ``tolerance_s`` old."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class WebhookSender:
    """One subscription's queue and its delivery task; changes go out in order, one at a time."""

    def __init__(
        self, subscription: WebhookSubscription, session: aiohttp.ClientSession, on_done: DeliveryDone | None = None
    ) -> None:
        secret = os.environ.get(subscription.secret_env)
        if not secret:
            raise RuntimeError(f"webhook {subscription.name}: environment variable {subscription.secret_env} is not set")
        self.subscription, self.secret, self.session, self.on_done = subscription, secret, session, on_done
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE_LIMIT)
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"webhook-{self.subscription.name}")

    def offer(self, view: dict[str, Any], change: str, delivery_id: str, what: str) -> bool:
        """Queue one delivery; ``change`` is version or action, ``what`` says which (RETRACTED, ACKNOWLEDGE...)."""
        payload = {"delivery_id": delivery_id, "change": change, "what": what, "alert": view}
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            WEBHOOK_DELIVERIES.labels(self.subscription.agency, "failed").inc()
            log.error("webhook %s: queue full, change of %s dropped", self.subscription.name, view["alert_id"])
            return False
        return True

    async def _run(self) -> None:
        while True:
            if faults.ENABLED:  # tests only: wake up now and then to notice the injected fault
                faults.check("webhooks")
                try:
                    payload = await asyncio.wait_for(self.queue.get(), _IDLE_CHECK_S)
                except TimeoutError:
                    continue
            else:
                payload = await self.queue.get()
            delivered = await self._deliver(payload)
            WEBHOOK_DELIVERIES.labels(self.subscription.agency, "delivered" if delivered else "failed").inc()
            if self.on_done is not None:
                self.on_done(payload, delivered)

    async def _deliver(self, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload, separators=(",", ":")).encode()
        agency, backoff = self.subscription.agency, _FIRST_BACKOFF_S
        for attempt in range(1, self.subscription.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(self.secret, body, int(time.time())),
                DELIVERY_HEADER: payload["delivery_id"],
                "X-Borderbus-Attempt": str(attempt),
            }
            try:
                async with self.session.post(
                    self.subscription.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    if 200 <= response.status < 300:
                        WEBHOOK_ATTEMPTS.labels(agency, "ok").inc()
                        return True
                    reason = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as error:
                reason = f"{type(error).__name__}: {error}"
            WEBHOOK_ATTEMPTS.labels(agency, "error").inc()
            log.warning("webhook %s attempt %d failed: %s", self.subscription.name, attempt, reason)
            if attempt < self.subscription.max_attempts:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
        return False
