"""Read the machine with psutil: one flat sample per call.

The dashboard server takes any ``sample()`` callable; this is the real one.
Tests pass a fake, so nothing they check depends on the machine's load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil


class PsutilSampler:
    """A ``sample()`` callable: CPU and memory percent, 1-minute load, network bytes/s, processes.

    CPU percent and network rates are measured between two calls (the first call
    reports 0 for both), which is why this is an object with memory, not a function.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, int, int] | None = None
        psutil.cpu_percent(interval=None)  # starts the CPU measurement window

    def __call__(self) -> dict[str, Any]:
        now = self._clock()
        net = psutil.net_io_counters()
        rx = tx = 0.0
        if self._last is not None:
            then, last_rx, last_tx = self._last
            elapsed = max(now - then, 1e-6)
            rx = max(net.bytes_recv - last_rx, 0) / elapsed
            tx = max(net.bytes_sent - last_tx, 0) / elapsed
        self._last = (now, net.bytes_recv, net.bytes_sent)
        return {
            "ts": round(time.time(), 3),
            "cpu": psutil.cpu_percent(interval=None),
            "memory": psutil.virtual_memory().percent,
            "load": round(psutil.getloadavg()[0], 2),
            "net_rx": round(rx, 1),
            "net_tx": round(tx, 1),
            "processes": len(psutil.pids()),
        }
