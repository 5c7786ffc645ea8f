"""Which event loop ``run()`` starts: uvloop when installed, else asyncio's own.

uvloop (``pip install hotstate-rx[speed]``) is a drop-in asyncio loop on
libuv; BENCHMARKS.md measures what it buys for fan-out and calls. ``run()``
owns its loop, so it can choose; ``listen()`` serves on the loop it is
awaited on (start that one with ``uvloop.run(main())`` to get it there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

__all__ = ["LOOPS", "LoopChoice", "loop_factory"]

LoopChoice = Literal["auto", "uvloop", "asyncio"]
LOOPS: tuple[LoopChoice, ...] = ("auto", "uvloop", "asyncio")
"""``"auto"``: uvloop if it can be imported, else asyncio; ``"uvloop"``: uvloop
or an ``ImportError`` saying how to install it; ``"asyncio"``: the standard loop."""


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What to pass to ``asyncio.Runner(loop_factory=...)`` for ``choice``
    (None: asyncio's default loop). ``ValueError`` for an unknown choice."""
    if choice not in LOOPS:
        raise ValueError(f"loop must be one of {', '.join(map(repr, LOOPS))}, got {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "auto":
            return None
        raise ImportError(
            "loop='uvloop' needs uvloop: pip install 'hotstate-rx[speed]' (not on Windows)"
        ) from None
    return uvloop.new_event_loop
