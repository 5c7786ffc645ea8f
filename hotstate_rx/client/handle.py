"""Subscription handles: what ``client.subscribe(name)`` returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc

from ..errors import HotstateError, SubscriptionError
from .streams import HotStream


class SubscriptionHandle(Observable[Any]):
    """One subscription to a store, independent of any other handle on it.

    Read it (``get_state()``, ``get_server_state()``, ``has_data()``, ``await
    ready()``) or observe it: the handle is an Observable of the store's
    visible state that emits the current state first when there is one, then
    every change, and completes when the handle is released, the store is
    deleted or the client destroyed (it errors with ``SubscriptionError`` when
    the server refuses the subscription). States are immutable snapshots that
    share unchanged subtrees, so identity tells what changed.

    Two concepts, one name each:

    - ``handle.subscribe(observer)`` is Rx's: it adds an observer of the
      states and returns a disposable that removes that observer only; the
      store subscription stays.
    - :meth:`release` ends the store subscription this handle holds (the
      last handle on a store ends it on the wire). ``unsubscribe()`` is the
      same method under the original library's name (API.md §3), and
      ``dispose()`` the same again, so that a handle is a reactivex
      ``Disposable``. The library uses ``release()``.
    """

    def __init__(
        self,
        name: str,
        on_release: Callable[[SubscriptionHandle], None],
        on_change: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self._on_release = on_release
        self._states: HotStream[Any] = HotStream(f"store {name!r}", replay=True)
        self._state: Any = None
        self._server_state: Any = None
        self._has_data = False
        self._active = True
        self._failure: HotstateError | None = None
        self._ready: asyncio.Future[None] | None = None
        if on_change is not None:
            self._states.subscribe(on_next=on_change)

    def __repr__(self) -> str:
        status = "active" if self._active else "ended"
        return f"<SubscriptionHandle {self.name!r} {status} has_data={self._has_data}>"

    @property
    def active(self) -> bool:
        """False once released, deleted, refused or the client destroyed."""
        return self._active

    def get_state(self) -> Any:
        """The visible state, optimistic overlays included; None before the first snapshot."""
        return self._state

    def get_server_state(self) -> Any:
        """The last state the server confirmed, without optimistic overlays."""
        return self._server_state

    def has_data(self) -> bool:
        """Whether a first snapshot arrived (a ``None`` state counts as data)."""
        return self._has_data

    async def ready(self) -> None:
        """Return once the first snapshot arrived; raise ``SubscriptionError``
        if the server refused the store or the subscription ended first."""
        if self._has_data:
            return
        if self._failure is not None:
            raise self._failure
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
        # Shielded: one waiter cancelled must not cancel the others.
        await asyncio.shield(self._ready)
        if self._failure is not None:
            raise self._failure

    def release(self) -> None:
        """End this handle's subscription (idempotent): its stream completes,
        and the last handle of a store ends the wire subscription."""
        if not self._active:
            return
        self._end(None)
        self._on_release(self)

    unsubscribe = release
    """The original library's name for :meth:`release` (API.md §3)."""

    dispose = release
    """:meth:`release`, as a reactivex ``Disposable``."""

    def _subscribe_core(
        self, observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        return self._states.subscribe(observer, scheduler=scheduler)

    # Called by the client while it dispatches the core's actions.

    def _deliver(self, state: Any, server_state: Any) -> None:
        if not self._active:
            return
        self._server_state = server_state
        if self._has_data and state is self._state:
            return
        self._state, self._has_data = state, True
        self._wake()
        self._states.on_next(state)

    def _end(self, error: HotstateError | None, *, fail_stream: bool = False) -> bool:
        """Stop receiving. A pending ``ready()`` raises ``error`` (or a
        ``SubscriptionError``); the stream errors when ``fail_stream``, else
        completes. Returns whether ``error`` reached someone: a waiting
        ``ready()`` or an observer's ``on_error``."""
        if not self._active:
            return False
        self._active = False
        told = False
        if not self._has_data:
            told = self._ready is not None and not self._ready.done()
            self._failure = error or SubscriptionError(
                f"the subscription to {self.name!r} ended before its first snapshot", self.name
            )
            self._wake()
        if fail_stream and error is not None:
            told = self._states.fail(error) or told
        else:
            self._states.on_completed()
        return told

    def _wake(self) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(None)


__all__ = ["SubscriptionHandle"]
