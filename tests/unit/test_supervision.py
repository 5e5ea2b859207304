"""A thread that hangs in a call that should have returned ends its process, as one that dies does."""

from __future__ import annotations

import threading
import time

from borderbus import supervision


def test_a_bounded_call_past_its_time_ends_the_process_and_one_on_time_does_not() -> None:
    exits: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def hanging() -> None:
        with supervision.bounded("stage: commit_transaction", 5.0):
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=hanging)
    thread.start()
    try:
        assert entered.wait(5)
        now = time.monotonic()
        supervision.exit_if_overdue(exits.append, now=now)
        assert exits == [] and supervision.overdue_calls(now) == []
        assert supervision.overdue_calls(now + 6) == ["stage: commit_transaction"]
        supervision.exit_if_overdue(exits.append, now=now + 6)
        assert exits == [supervision.EXIT_CODE]
    finally:
        release.set()
        thread.join(10)
    assert supervision.overdue_calls(time.monotonic() + 60) == [], "a call that returned is no longer watched"


def test_the_watchdog_runs_once_per_process() -> None:
    for what in ("a", "b"):
        with supervision.bounded(what, 60.0):
            pass
    assert len(supervision._watchdog) == 1 and supervision._watchdog[0].is_alive()
