"""``StoreHandle.observe()``: one store instance as an RxPY Observable.

Built on :meth:`StoreHandle.watch`, the seam the Rx layer (:mod:`hotstate_rx.rx`)
also builds on::

    update ------x-----------x--------- delete
    observe()  s0-s1---------s2--------|

- At subscription it emits the current state, raw defaults included if the
  instance exists but is uninitialised. Observing is not a *use*: it never runs
  ``on_create`` (subscribe a client or call ``init()`` for that). An instance
  that does not exist yet emits nothing until something creates it.
- Then every new state, in mutation order, on the server's event loop when one
  runs (the initial value is emitted in the subscribing thread). A change that
  leaves the very same state object (initialising a store whose ``on_create``
  adds nothing) emits nothing.
- It completes when the instance is deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import reactivex
from reactivex import abc
from reactivex.disposable import Disposable

from ..server.store import Change, Removed
from ._hub import registry_of

if TYPE_CHECKING:
    from ..server.handle import InstanceHandle

__all__ = ["observe"]


def observe(instance: InstanceHandle) -> reactivex.Observable[Any]:
    """The states of ``instance`` (see the module docstring)."""

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        last: list[Any] = []

        def emit(state: Any) -> None:
            if not last or last[0] is not state:
                last[:] = [state]
                observer.on_next(state)

        def on_event(event: Change | Removed) -> None:
            if isinstance(event, Removed):
                stop()
                observer.on_completed()
            else:
                emit(event.state)

        # Under the lock, registering and reading are one step: no change is
        # missed between them and none is delivered twice.
        with registry_of(instance).lock:
            stop = instance.watch(on_event)
            current = instance.snapshot()
            if current is not None:
                emit(current[0])
        return Disposable(stop)

    return reactivex.create(subscribe)
