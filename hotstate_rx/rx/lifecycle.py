"""The server's lifecycle events as values, and :func:`lifecycle_events`, their stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeAlias

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from ..server import Server
from ..server.lifecycle import check_lifecycle_event
from ._hub import registry_of

__all__ = [
    "LIFECYCLE_EVENT_TYPES",
    "ClientConnected",
    "ClientDisconnected",
    "ClientSubscribed",
    "ClientUnsubscribed",
    "LifecycleEvent",
    "ServerError",
    "StoreCreated",
    "StoreDeleted",
    "StoreHibernated",
    "lifecycle_events",
]


@dataclass(frozen=True, slots=True)
class ClientConnected:
    """``"connection"``: a client completed the handshake."""

    client_id: str


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    """``"disconnect"``: a client's connection ended."""

    client_id: str


@dataclass(frozen=True, slots=True)
class ClientSubscribed:
    """``"subscribe"``: a client subscribed to the instance ``store``."""

    store: str
    client_id: str


@dataclass(frozen=True, slots=True)
class ClientUnsubscribed:
    """``"unsubscribe"``: a client's subscription to ``store`` ended."""

    store: str
    client_id: str


@dataclass(frozen=True, slots=True)
class StoreCreated:
    """``"store_created"``: the instance ``store`` came into existence."""

    store: str
    key: str | None


@dataclass(frozen=True, slots=True)
class StoreDeleted:
    """``"store_deleted"``: the instance ``store`` was deleted."""

    store: str


@dataclass(frozen=True, slots=True)
class StoreHibernated:
    """``"store_hibernated"``: the idle instance ``store`` left memory (it is in storage)."""

    store: str


@dataclass(frozen=True, slots=True)
class ServerError:
    """``"error"``: something failed; ``client_id`` is None when no client caused it."""

    error: BaseException
    client_id: str | None


LifecycleEvent: TypeAlias = (
    ClientConnected
    | ClientDisconnected
    | ClientSubscribed
    | ClientUnsubscribed
    | StoreCreated
    | StoreDeleted
    | StoreHibernated
    | ServerError
)

LIFECYCLE_EVENT_TYPES: Final[dict[str, type[LifecycleEvent]]] = {
    "connection": ClientConnected,
    "disconnect": ClientDisconnected,
    "subscribe": ClientSubscribed,
    "unsubscribe": ClientUnsubscribed,
    "store_created": StoreCreated,
    "store_deleted": StoreDeleted,
    "store_hibernated": StoreHibernated,
    "error": ServerError,
}
"""Server event name -> the value :func:`lifecycle_events` emits for it (fields in
the order of the listener's arguments)."""


def lifecycle_events(server: Server, *names: str) -> Observable[LifecycleEvent]:
    """The server's lifecycle events named (all of them when none is), as values.

    Each event becomes the dataclass of :data:`LIFECYCLE_EVENT_TYPES` (``"subscribe"``
    with arguments ``(name, client_id)`` becomes ``ClientSubscribed(store=name,
    client_id=...)``), so one stream can carry several kinds and be filtered
    with ``isinstance`` or ``match``. Emitted on the server's loop; completes
    when the server closes. An unknown name raises ``ValueError`` here.

    .. code-block:: text

        client c1:                  connects    subscribes Todos    leaves
        lifecycle_events(s):         ---Conn(c1)----Sub(Todos, c1)------Unsub(Todos, c1)-Disc(c1)--

    """
    if not isinstance(server, Server):
        raise TypeError(f"lifecycle_events() needs a Server, not {type(server).__name__}")
    for name in names:
        check_lifecycle_event(name)
    kinds = [(name, LIFECYCLE_EVENT_TYPES[name]) for name in names or LIFECYCLE_EVENT_TYPES]

    def subscribe(
        observer: abc.ObserverBase[LifecycleEvent], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        def emitter(kind: type[LifecycleEvent]) -> Callable[..., None]:
            return lambda *args: observer.on_next(kind(*args))

        offs = [server.on(name, emitter(kind)) for name, kind in kinds]
        offs.append(registry_of(server).on_close(observer.on_completed))
        return CompositeDisposable(*map(Disposable, offs))

    return reactivex.create(subscribe)
