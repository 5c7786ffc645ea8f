"""Hot Observables owned by the client: state, status and event streams.

Everything here runs on the client's event loop, the one thread that touches
the client, so no locks. An observer that raises (a UI callback with a bug)
is logged (on this module's logger) and never stops delivery to the others
nor the client itself — unlike a bare ``Subject``, where it would.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import Disposable

from .status import ConnectionStatus

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_NOTHING: Any = object()


class HotStream(Observable[_T], Generic[_T]):
    """A hot, multicast Observable: a ``Subject`` that guards its observers.

    With ``replay`` a new observer first gets the latest value (if any). Ends
    once, by completion or error; late observers then get that end at once,
    after the latest value when replaying (as a ``ReplaySubject(1)`` does), so
    ``client.status`` still starts with ``"disconnected"`` after ``destroy()``."""

    def __init__(self, label: str, *, replay: bool = False, initial: Any = _NOTHING) -> None:
        super().__init__()
        self._label = label
        self._replay = replay
        self._latest = initial
        self._observers: list[abc.ObserverBase[_T]] = []
        self._ended = False
        self._error: Exception | None = None

    @property
    def observed(self) -> bool:
        """Whether anyone observes it now (an unheard ``"error"`` event is logged instead)."""
        return bool(self._observers)

    def _subscribe_core(
        self, observer: abc.ObserverBase[_T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        if self._ended:
            if self._replay and self._latest is not _NOTHING:
                self._guard(observer.on_next, self._latest)
            if self._error is not None:
                self._tell(observer, self._error)
            else:
                self._guard(observer.on_completed)
            return Disposable()
        # Listed before the replay, so a change caused by the replayed value
        # (an observer that makes an optimistic call) reaches it too.
        self._observers.append(observer)
        if self._replay and self._latest is not _NOTHING:
            self._guard(observer.on_next, self._latest)

        def remove() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return Disposable(remove)

    def on_next(self, value: _T) -> None:
        if self._ended:
            return
        self._latest = value
        for observer in list(self._observers):
            self._guard(observer.on_next, value)

    def on_completed(self) -> None:
        self._end(None)

    def on_error(self, error: Exception) -> None:
        self.fail(error)

    def fail(self, error: Exception) -> bool:
        """End with ``error``; whether an observer handled it (one that
        subscribed without ``on_error`` did not), so the caller knows if it
        still has to report it."""
        return self._end(error)

    def _end(self, error: Exception | None) -> bool:
        if self._ended:
            return False
        self._ended, self._error = True, error
        observers, self._observers = self._observers, []
        handled = False
        for observer in observers:
            if error is None:
                self._guard(observer.on_completed)
            else:
                handled = self._tell(observer, error) or handled
        return handled

    def _tell(self, observer: abc.ObserverBase[_T], error: Exception) -> bool:
        try:
            observer.on_error(error)
        except Exception as raised:
            # reactivex's default on_error raises the error itself: that
            # observer has no handler, which is not a bug to log.
            if raised is not error:
                log.exception("an observer of %s raised", self._label)
            return False
        return True

    def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("an observer of %s raised", self._label)


class StatusStream(HotStream[ConnectionStatus]):
    """``client.status``: the connection status as an Observable that starts
    with the current value; ``.value`` reads it synchronously."""

    def __init__(self) -> None:
        super().__init__(
            "the connection status", replay=True, initial=ConnectionStatus.DISCONNECTED
        )

    @property
    def value(self) -> ConnectionStatus:
        return self._latest


class StoresStream(HotStream[Mapping[str, Any]]):
    """``client.stores``: ``{full store name: visible state}`` of every store
    the client subscribes to that has data, as an Observable that starts with
    the current mapping; ``.value`` reads it synchronously."""

    def __init__(self, initial: Mapping[str, Any]) -> None:
        super().__init__("the subscribed stores", replay=True, initial=initial)

    @property
    def value(self) -> Mapping[str, Any]:
        return self._latest


class EventChannels:
    """Server events and lifecycle events by channel, as Observables and as
    ``on(channel, handler)`` callbacks (which are just observers)."""

    def __init__(self) -> None:
        self._channels: dict[str, HotStream[Any]] = {}
        self._ended = False

    def stream(self, channel: str) -> HotStream[Any]:
        found = self._channels.get(channel)
        if found is None:
            found = self._channels[channel] = HotStream(f"event channel {channel!r}")
            if self._ended:
                found.on_completed()
        return found

    def on(self, channel: str, handler: Callable[..., Any]) -> Callable[[], None]:
        """Call ``handler(payload)`` (or ``handler()`` if it takes no argument)
        for each event on ``channel``; returns the function that stops it."""
        call = (lambda _payload: handler()) if _takes_no_argument(handler) else handler
        return self.stream(channel).subscribe(on_next=call).dispose

    def emit(self, channel: str, payload: Any, *, reported: bool = False) -> None:
        """Deliver ``payload`` on ``channel``. An ``"error"`` nobody listens to
        is logged, unless it was ``reported`` already (a ``ready()`` raised it):
        one report per error, never none."""
        stream = self._channels.get(channel)
        if stream is not None and stream.observed:
            stream.on_next(payload)
        elif channel == "error" and not reported:
            log.warning("client error with no 'error' listener: %s", payload)

    def complete(self) -> None:
        self._ended = True
        for stream in self._channels.values():
            stream.on_completed()


def _takes_no_argument(fn: Callable[..., Any]) -> bool:
    """Lifecycle handlers are often written ``lambda: ...``; accept them."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins: assume the usual shape
        return False
    try:
        signature.bind(None)
    except TypeError:
        return True
    return False


__all__ = ["EventChannels", "HotStream", "StatusStream", "StoresStream"]
