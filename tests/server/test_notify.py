"""The ordered notification queue: order, no re-entry, one flush request at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable

from hotstate_rx.server.notify import Notifier


def notifier() -> tuple[Notifier, list[Callable[[], None]]]:
    """A notifier whose flushes are only requested (as from another thread)."""
    requests: list[Callable[[], None]] = []
    n = Notifier(threading.RLock())
    n.set_deliver(requests.append)
    return n, requests


def test_a_burst_asks_for_one_flush_that_runs_everything_in_order() -> None:
    n, requests = notifier()
    seen: list[int] = []
    for i in range(3):
        n.enqueue_call(seen.append, i)
        n.deliver()
    assert len(requests) == 1 and seen == []
    requests[0]()
    assert seen == [0, 1, 2]


def test_items_queued_after_a_flush_started_ask_again() -> None:
    n, requests = notifier()
    seen: list[str] = []
    n.enqueue_call(seen.append, "a")
    n.deliver()
    requests.pop()()
    n.enqueue_call(seen.append, "b")
    n.deliver()
    assert len(requests) == 1
    requests.pop()()
    assert seen == ["a", "b"]


def test_an_item_that_queues_more_is_followed_by_them_not_reentered() -> None:
    n = Notifier(threading.RLock())
    seen: list[str] = []

    def first() -> None:
        n.enqueue_call(seen.append, "second")
        n.deliver()  # a flush is running: it picks this up after `first` returns
        seen.append("first done")

    n.enqueue_call(first)
    n.deliver()
    n.enqueue_call(seen.append, "third")
    n.deliver()
    assert seen == ["first done", "second", "third"]


def test_nothing_queued_asks_for_nothing() -> None:
    n, requests = notifier()
    n.deliver()
    assert requests == []
