"""The Mailbox that carries values onto the app's loop: coalescing, threads, end of stream."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hotstate_textual.pump import Mailbox


async def test_keeps_only_the_latest_value() -> None:
    box: Mailbox[int] = Mailbox(asyncio.get_running_loop())
    for i in range(100):
        box.put(i)
    assert await asyncio.wait_for(box.get(), 1) == 99


async def test_a_value_put_before_completion_is_delivered_then_the_end() -> None:
    box: Mailbox[str] = Mailbox(asyncio.get_running_loop())
    box.put("last")
    box.complete()
    assert await asyncio.wait_for(box.get(), 1) == "last"
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(box.get(), 1)


async def test_an_error_is_raised_to_the_reader() -> None:
    box: Mailbox[str] = Mailbox(asyncio.get_running_loop())
    box.fail(LookupError("unknown store"))
    with pytest.raises(LookupError, match="unknown store"):
        await asyncio.wait_for(box.get(), 1)


async def test_values_from_another_thread_are_handed_to_the_loop() -> None:
    box: Mailbox[tuple[str, int]] = Mailbox(asyncio.get_running_loop())
    loop_thread = threading.get_ident()
    seen_on: list[int] = []

    def emit() -> None:
        box.put(("from thread", threading.get_ident()))

    thread = threading.Thread(target=emit)
    thread.start()
    value, emitter = await asyncio.wait_for(box.get(), 1)
    seen_on.append(threading.get_ident())
    thread.join(1)
    assert value == "from thread"
    assert emitter != loop_thread
    assert seen_on == [loop_thread]
