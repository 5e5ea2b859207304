"""Thread death and stalls end the process, so that its supervisor starts a fresh one."""

from __future__ import annotations

from borderbus.supervision import ProgressWatch


def test_a_stage_with_work_waiting_and_no_progress_is_stalled_only_after_the_limit() -> None:
    watch = ProgressWatch(30.0)
    assert not watch.stalled(5, waiting=True, now=0.0)
    assert not watch.stalled(5, waiting=True, now=29.0)
    assert watch.stalled(5, waiting=True, now=30.0)


def test_progress_or_an_empty_queue_resets_the_clock() -> None:
    watch = ProgressWatch(30.0)
    watch.stalled(5, waiting=True, now=0.0)
    assert not watch.stalled(6, waiting=True, now=40.0), "it moved"
    assert not watch.stalled(6, waiting=False, now=80.0), "nothing to do is not a stall"
    assert not watch.stalled(6, waiting=True, now=100.0)
    assert watch.stalled(6, waiting=True, now=130.0)
