"""Test-only fault injection, so tests can show that a dying desk worker takes the process down.

``BORDERBUS_DESK_FAULT=<worker>:<path>`` makes that worker (``log-reader``, ``router``,
``escalator``, ``webhooks``) raise once ``path`` exists; the test creates the file when it wants
the failure. Unset in production, where :func:`check` is one dictionary lookup.
"""

from __future__ import annotations

import os

WORKERS = ("log-reader", "router", "escalator", "webhooks")
_worker, _, _path = os.environ.get("BORDERBUS_DESK_FAULT", "").partition(":")
ENABLED = bool(_worker and _path)


class InjectedFault(RuntimeError):
    pass


def check(worker: str) -> None:
    if _worker == worker and _path and os.path.exists(_path):
        raise InjectedFault(f"fault injected into the desk's {worker} (BORDERBUS_DESK_FAULT)")
