"""Run a callback on an event loop's thread, whichever thread calls.

The UI bindings apply every value on the UI's loop. A client on that same
loop emits on the loop's thread, so the value is applied at once, in order
with everything else the loop does; a client on a loop of its own, in another
thread, has it handed over with ``loop.call_soon_threadsafe``, which never
blocks the emitter (unlike waiting for the UI, as ``App.call_from_thread``
does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVarTuple

Ts = TypeVarTuple("Ts")


class LoopHandover:
    """``handover(fn, *args)`` runs ``fn(*args)`` on ``loop``'s thread: at once
    when called there, else soon, through ``loop.call_soon_threadsafe``.

    Make it on the loop's thread (where the loop runs): it takes the thread it
    is made on for the loop's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.thread = threading.get_ident()

    def __call__(self, fn: Callable[[*Ts], object], *args: *Ts) -> None:
        if threading.get_ident() == self.thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)


__all__ = ["LoopHandover"]
