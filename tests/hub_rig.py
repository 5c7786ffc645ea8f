"""A hub with no socket and no loop, for the tests of its rules (``server/``)
and its fuzzing (``adversarial/``): connections are plain strings, frames are
decoded back into messages so tests read like the protocol. Here, beside the
root ``conftest.py``, because that directory is on ``sys.path`` for every test."""

from __future__ import annotations

import itertools
from typing import Any

from hotstate_rx.protocol import ClientHello, ServerMessage, decode_server_message, encode
from hotstate_rx.server.functions import FunctionTable
from hotstate_rx.server.handle import StoreHandle
from hotstate_rx.server.hub import HubAction, HubCore, Transmit
from hotstate_rx.server.lifecycle import LIFECYCLE_EVENTS, LifecycleEvents
from hotstate_rx.server.limits import Limits
from hotstate_rx.server.store import StoreRegistry


class Rig:
    """A hub with its registry, functions and a log of lifecycle events;
    ``limits`` and ``options`` go to the hub (``authenticate``,
    ``expose_errors``, ...); session ids are ``t1``, ``t2``, ..."""

    def __init__(
        self, registry: StoreRegistry | None = None, *, limits: Limits | None = None, **options: Any
    ) -> None:
        self.registry = registry or StoreRegistry()
        self.functions = FunctionTable()
        self.events = LifecycleEvents()
        self.fired: list[tuple[Any, ...]] = []
        for name in sorted(LIFECYCLE_EVENTS):
            self.events.on(name, lambda *args, name=name: self.fired.append((name, *args)))
        ids = itertools.count(1)
        self.hub: HubCore[str] = HubCore(
            self.registry,
            self.functions,
            self.events,
            owner="the server",
            new_id=lambda: f"t{next(ids)}",
            limits=limits or Limits(),
            **options,
        )

    def store(self, name: str, data: Any) -> StoreHandle:
        return StoreHandle(self.registry, self.registry.define(name, data))

    def connect(self, conn: str, now: float = 0.0) -> list[HubAction[str]]:
        self.hub.open(conn, f"id-{conn}", now=now, heartbeat=30.0)
        return self.send(conn, ClientHello(), now)

    def send(self, conn: str, message: Any, now: float = 1.0) -> list[HubAction[str]]:
        return self.hub.receive(conn, encode(message), now=now)


def sent(actions: list[HubAction[str]]) -> list[tuple[tuple[str, ...], ServerMessage]]:
    """The transmissions among ``actions``, decoded, in order."""
    return [(a.targets, decode_server_message(a.frame)) for a in actions if isinstance(a, Transmit)]
