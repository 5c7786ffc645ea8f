"""Read the machine with psutil: one flat sample per call.

The dashboard server takes any ``sample()`` callable; this is the real one.
Tests pass a fake, so nothing they check depends on the machine's load.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import psutil


class PsutilSampler:
    """A ``sample()`` callable: CPU and memory percent, 1-minute load, network bytes/s, processes.

    CPU percent and network rates are measured between two calls (the first call
    reports 0 for both), which is why this is an object with memory, not a function.
    Network rates leave out the loopback interfaces (see :func:`external_bytes`).
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, int, int] | None = None
        self._loopback = loopback_interfaces()
        psutil.cpu_percent(interval=None)  # starts the CPU measurement window

    def __call__(self) -> dict[str, Any]:
        now = self._clock()
        received, sent = external_bytes(psutil.net_io_counters(pernic=True), self._loopback)
        rx = tx = 0.0
        if self._last is not None:
            then, last_rx, last_tx = self._last
            elapsed = max(now - then, 1e-6)
            rx = max(received - last_rx, 0) / elapsed
            tx = max(sent - last_tx, 0) / elapsed
        self._last = (now, received, sent)
        return {
            "ts": round(time.time(), 3),
            "cpu": psutil.cpu_percent(interval=None),
            "memory": psutil.virtual_memory().percent,
            "load": round(psutil.getloadavg()[0], 2),
            "net_rx": round(rx, 1),
            "net_tx": round(tx, 1),
            "processes": len(psutil.pids()),
        }


def external_bytes(counters: Mapping[str, Any], loopback: Collection[str]) -> tuple[int, int]:
    """Bytes received and sent by the interfaces other than ``loopback``.

    ``counters`` maps interface names to psutil's counters (``pernic=True``).
    What a machine sends to itself is counted once sent and once received, so
    with loopback included "net in" equalled "net out" on a quiet machine.
    """
    received = sent = 0
    for name, counter in counters.items():
        if name not in loopback:
            received += counter.bytes_recv
            sent += counter.bytes_sent
    return received, sent


def loopback_interfaces() -> frozenset[str]:
    """Names of the interfaces that carry a loopback address (``lo`` on Linux)."""
    names = set()
    for name, addresses in psutil.net_if_addrs().items():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(ValueError):
                    if ipaddress.ip_address(address.address.split("%")[0]).is_loopback:
                        names.add(name)
    return frozenset(names)
