"""Run an aiohttp application on a real loopback port in a background thread, for tests."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web


@contextmanager
def serve_in_thread(app: web.Application) -> Iterator[str]:
    """Yield the base URL of ``app`` served on 127.0.0.1 at a free port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        started.set()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def request(
    method: str,
    url: str,
    body: Any = None,
    raw: bytes | None = None,
    timeout: float = 60,
    token: str | None = None,
    headers_out: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """``(status, parsed JSON or text)`` for one HTTP request; 4xx and 5xx are returned, not raised.
    ``token`` goes in ``Authorization: Bearer``; ``headers_out`` receives the response headers."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            status, payload, received = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, payload, received = error.code, error.read(), error.headers
    if headers_out is not None:
        headers_out.update(received.items())
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()
