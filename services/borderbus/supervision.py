"""Worker threads that take their process down when they die, so that its supervisor restarts it.

A service whose consumer thread died quietly still answers ``/healthz`` and does nothing, which is
the worst way to fail: every thread that does a service's work is started here, and an exception
that escapes it ends the process with :data:`EXIT_CODE` once it is logged. Until the exit,
:func:`dead_threads` names it, so ``/healthz`` says unhealthy. Everything these threads do is
transactional or at least once, so an abrupt exit loses nothing.

A thread can also hang where no exception comes: :func:`bounded` marks a blocking call that must return
in time, and a watchdog ends the process the same way when one does not.

``BORDERBUS_INJECT_FAULT=<thread name>[,<name>...]`` makes those threads fail as they start: the way
tests and chaos runs prove that a death is noticed.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE
INJECT_ENV = "BORDERBUS_INJECT_FAULT"

_threads: dict[str, threading.Thread] = {}
_finished: set[str] = set()
_calls: dict[int, tuple[str, float]] = {}  # per thread: the bounded call it is in, and when that is overdue
_calls_lock = threading.Lock()
_watchdog: list[threading.Thread] = []


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


@contextmanager
def bounded(what: str, seconds: float) -> Iterator[None]:
    """Mark a blocking call that must return within ``seconds``; past that, the process ends with :data:`EXIT_CODE`.

    librdkafka's transactional calls take a timeout, yet one can wait forever after a broker restart
    (confluentinc/librdkafka#5456, #5511): a chaos run found both alert publishers of a worker in
    ``send_offsets_to_transaction`` minutes after its 30 s timeout, every alert after that unpublished and
    ``/healthz`` still ok. Such a call cannot be interrupted; a new process starts clean from the commits.
    """
    with _calls_lock:
        if not _watchdog:
            _watchdog.append(threading.Thread(target=_watch, name="watchdog", daemon=True))
            _watchdog[0].start()
        _calls[threading.get_ident()] = (what, time.monotonic() + seconds)
    try:
        yield
    finally:
        with _calls_lock:
            _calls.pop(threading.get_ident(), None)


def overdue_calls(now: float | None = None) -> list[str]:
    """The bounded calls still running past their time."""
    at = time.monotonic() if now is None else now
    with _calls_lock:
        return sorted(what for what, due in _calls.values() if at > due)


def exit_if_overdue(exit: Callable[[int], None] = os._exit, now: float | None = None) -> None:
    """One look of the watchdog."""
    overdue = overdue_calls(now)
    if overdue:
        log.error("%s did not return in time; exiting with %d so that the supervisor restarts the service", overdue, EXIT_CODE)
        print(f"borderbus: {', '.join(overdue)} did not return in time; exiting with {EXIT_CODE}", file=sys.stderr, flush=True)
        exit(EXIT_CODE)


def _watch() -> None:
    while True:
        time.sleep(1.0)
        exit_if_overdue()
