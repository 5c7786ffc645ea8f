"""``LoopHandover``: a call on the loop's thread runs at once, one from another thread is
handed to the loop and never runs on the caller's thread."""

from __future__ import annotations

import asyncio
import threading

from client_helpers import TIMEOUT, Recorder

from hotstate_rx.client.handover import LoopHandover


async def test_on_the_loops_thread_it_runs_at_once() -> None:
    handover = LoopHandover(asyncio.get_running_loop())
    seen = Recorder()
    handover(seen, "now")
    assert seen.values == ["now"]  # before any turn of the loop


async def test_from_another_thread_it_is_handed_to_the_loop_in_order() -> None:
    handover = LoopHandover(asyncio.get_running_loop())
    loop_thread = threading.get_ident()
    calls: list[tuple[str, int, int]] = []
    done = asyncio.Event()

    def record(value: str, emitter: int) -> None:
        calls.append((value, emitter, threading.get_ident()))
        if len(calls) == 2:
            done.set()

    def emit() -> None:
        handover(record, "first", threading.get_ident())
        handover(record, "second", threading.get_ident())

    thread = threading.Thread(target=emit)
    thread.start()
    await asyncio.wait_for(done.wait(), TIMEOUT)
    thread.join(TIMEOUT)
    assert [value for value, _, _ in calls] == ["first", "second"]
    assert {ran_on for _, _, ran_on in calls} == {loop_thread}
    assert all(emitter != loop_thread for _, emitter, _ in calls)
