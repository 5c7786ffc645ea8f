"""Each instance's recent changes, and the bounds on them."""

from __future__ import annotations

import pytest

from hotstate_rx.server.history import History, PatchLogs


def logs_with(name: str, epoch: str, versions: range, size: int = 10) -> PatchLogs:
    logs = PatchLogs(History())
    for v in versions:
        logs.record(name, epoch, v, bytes([v % 256]) * size)
    return logs


def test_the_frames_since_a_version_in_order() -> None:
    logs = logs_with("Todos", "e1", range(1, 6))
    frames = logs.since("Todos", "e1", 2, 5)
    assert frames == [bytes([3]) * 10, bytes([4]) * 10, bytes([5]) * 10]
    assert logs.since("Todos", "e1", 5, 5) == []  # up to date: nothing to send


def test_another_epoch_or_a_gap_is_not_covered() -> None:
    logs = logs_with("Todos", "e1", range(1, 6))
    assert logs.since("Todos", "e0", 2, 5) is None  # another lifetime of the instance
    assert logs.since("Todos", "e1", 2, 7) is None  # the log lags behind the instance
    assert logs.since("Todos", "e1", 7, 9) is None  # a version from the future
    assert logs.since("Nope", "e1", 2, 5) is None


def test_old_changes_fall_out_by_count_and_bytes() -> None:
    logs = PatchLogs(History(patches=3, bytes=1000, total_bytes=10_000))
    for v in range(1, 11):
        logs.record("Todos", "e1", v, b"x" * 10)
    assert logs.since("Todos", "e1", 7, 10) == [b"x" * 10] * 3
    assert logs.since("Todos", "e1", 6, 10) is None
    logs = PatchLogs(History(patches=100, bytes=25, total_bytes=10_000))
    for v in range(1, 11):
        logs.record("Todos", "e1", v, b"x" * 10)
    assert logs.since("Todos", "e1", 8, 10) is not None
    assert logs.since("Todos", "e1", 7, 10) is None
    assert logs.size == 20


def test_a_change_bigger_than_the_bound_empties_the_log() -> None:
    logs = PatchLogs(History(patches=100, bytes=100, total_bytes=10_000))
    logs.record("Todos", "e1", 1, b"x" * 10)
    logs.record("Todos", "e1", 2, b"x" * 500)
    assert logs.since("Todos", "e1", 1, 2) is None
    assert logs.size == 0
    logs.record("Todos", "e1", 3, b"x" * 10)  # and it starts again from there
    assert logs.since("Todos", "e1", 2, 3) == [b"x" * 10]


def test_the_total_bound_drops_the_least_recently_changed_logs() -> None:
    logs = PatchLogs(History(patches=100, bytes=1000, total_bytes=300))
    for name in ("A", "B", "C"):
        logs.record(name, "e", 1, b"x" * 100)
    logs.record("A", "e", 2, b"x" * 100)  # A changed last: B goes first
    assert logs.size <= 300
    assert logs.since("B", "e", 0, 1) is None
    assert logs.since("A", "e", 0, 2) is not None


def test_a_new_lifetime_or_a_hole_restarts_the_log() -> None:
    logs = logs_with("Todos", "e1", range(1, 4))
    logs.record("Todos", "e2", 1, b"new")
    assert logs.since("Todos", "e1", 1, 3) is None
    assert logs.since("Todos", "e2", 0, 1) == [b"new"]
    logs.record("Todos", "e2", 5, b"after a hole")
    assert logs.since("Todos", "e2", 0, 5) is None
    assert logs.since("Todos", "e2", 4, 5) == [b"after a hole"]
    logs.forget("Todos")
    assert logs.size == 0 and logs.since("Todos", "e2", 4, 5) is None


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match=r"History\.patches must be an int >= 0"):
        History(patches=-1)
    with pytest.raises(ValueError, match=r"History\.bytes"):
        History(bytes=1.5)  # type: ignore[arg-type]
