"""Worker threads that take their process down when they die, so that its supervisor restarts it.

A service whose consumer thread died quietly still answers ``/healthz`` and does nothing, which is
the worst way to fail: every thread that does a service's work is started here, and an exception
that escapes it ends the process with :data:`EXIT_CODE` once it is logged. Until the exit,
:func:`dead_threads` names it, so ``/healthz`` says unhealthy. Everything these threads do is
transactional or at least once, so an abrupt exit loses nothing.

``BORDERBUS_INJECT_FAULT=<thread name>[,<name>...]`` makes those threads fail as they start: the way
tests and chaos runs prove that a death is noticed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE
INJECT_ENV = "BORDERBUS_INJECT_FAULT"

_threads: dict[str, threading.Thread] = {}
_finished: set[str] = set()


class InjectedFault(RuntimeError):
    """Raised by a thread named in ``BORDERBUS_INJECT_FAULT``."""


def start_or_exit(name: str, target: Callable[[], None], *, exit: Callable[[int], None] = os._exit) -> threading.Thread:
    """Run ``target`` in a daemon thread called ``name``; if it raises, log it and end the process."""

    def run() -> None:
        try:
            if name in {part.strip() for part in os.environ.get(INJECT_ENV, "").split(",")}:
                raise InjectedFault(f"fault injected into {name} ({INJECT_ENV})")
            target()
        except BaseException:
            log.exception("thread %s died; exiting with %d so that the supervisor restarts the service", name, EXIT_CODE)
            print(f"borderbus: thread {name} died; exiting with {EXIT_CODE}", file=sys.stderr, flush=True)
            exit(EXIT_CODE)
            return
        _finished.add(name)

    thread = threading.Thread(target=run, name=name, daemon=True)
    _threads[name] = thread
    thread.start()
    return thread


def dead_threads() -> list[str]:
    """Threads started here that ended without finishing normally (the process is about to exit)."""
    return sorted(name for name, thread in _threads.items() if not thread.is_alive() and name not in _finished)
