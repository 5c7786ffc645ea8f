"""The inspector's channel: built-in, read-only stores about the server itself.

``Server(inspect=...)`` decides which connections may read them: ``None``
(default) refuses everyone, ``True`` allows everyone (development), a rule
``fn(ctx) -> bool`` decides per connection like a store's ``access``. They
are instances of the reserved dynamic store ``"$inspect:*"``:

- ``"$inspect:clients"``: ``{client_id: {user, address, subscriptions,
  parked, send_buffer}}`` (``send_buffer``: bytes waiting in the transport,
  None where the transport cannot tell);
- ``"$inspect:instances"``: ``{name: {version, subscribers, size}}`` (``size``:
  bytes of the encoded state) for every instance in memory;
- ``"$inspect:functions"``: ``{"functions": {name: {calls, errors, rate,
  p50, p90, p99}}, "errors": [...]}`` (rates per second over the last
  :data:`RATE_WINDOW` seconds, latencies in milliseconds over the last
  :data:`LATENCY_SAMPLES` calls; the server's recent ``error`` events);
- ``"$inspect:state:<instance>"``: ``{name, version, state, log}``, the live
  state of one instance and its last :data:`LOG_SIZE` changes (``ops``: the
  JSON Patch, None for a snapshot).

The first three are sampled every ``interval`` seconds while someone reads
them; the last follows its instance change by change while someone reads it.
Nothing is sampled or watched without a reader: an instance of ``$inspect``
leaves memory with its last subscriber. No client can write them (clients
only call functions), and a user cannot register a store under ``$inspect``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import RpcError
from ..protocol import pack_value
from .access import AccessRules, CallContext
from .handle import StoreHandle
from .presence import user_name
from .store import Change, StoreEvent

if TYPE_CHECKING:
    from .driver import PeerLink
    from .hub import HubCore
    from .store import StoreRegistry

__all__ = ["INSPECT_PREFIX", "InspectRule", "Inspection", "check_inspect"]

log = logging.getLogger(__name__)

INSPECT_PREFIX: Final = "$inspect"
SAMPLED: Final = ("clients", "instances", "functions")
STATE: Final = "state:"
LOG_SIZE: Final = 50
RATE_WINDOW: Final = 10.0
LATENCY_SAMPLES: Final = 500
ERRORS_KEPT: Final = 20

InspectRule = Callable[[CallContext], object]


def check_inspect(inspect: object) -> InspectRule:
    """The rule of ``Server(inspect=...)``: None refuses all, True allows all."""
    if inspect is None or inspect is False:
        return lambda ctx: False
    if inspect is True:
        return lambda ctx: True
    rule: InspectRule | None = AccessRules.check_function_rule(inspect)
    if rule is None:  # unreachable: None was handled above
        raise TypeError("inspect must be None, True or fn(ctx) -> bool")
    return rule


class _Calls:
    """One function's recent calls: counts, start times, durations."""

    __slots__ = ("calls", "durations", "errors", "starts")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.starts: deque[float] = deque()
        self.durations: deque[float] = deque(maxlen=LATENCY_SAMPLES)

    def summary(self, now: float) -> dict[str, Any]:
        starts = self.starts
        while starts and starts[0] < now - RATE_WINDOW:
            starts.popleft()
        ordered = sorted(self.durations)

        def percentile(p: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

        return {
            "calls": self.calls,
            "errors": self.errors,
            "rate": round(len(starts) / RATE_WINDOW, 2),
            "p50": percentile(0.5),
            "p90": percentile(0.9),
            "p99": percentile(0.99),
        }


class Inspection:
    """The ``$inspect`` stores of one server (see the module docstring)."""

    def __init__(
        self,
        registry: StoreRegistry,
        hub: HubCore[PeerLink],
        access: AccessRules,
        rule: InspectRule,
        *,
        interval: float = 1.0,
    ) -> None:
        self._registry = registry
        self._hub = hub
        self._interval = interval
        name = f"{INSPECT_PREFIX}:*"
        self.store = StoreHandle(registry, registry.define(name, {}, local=True))
        access.set_store(name, lambda ctx, key: rule(ctx))
        self.store.on_create(self._create).on_idle(self._idle)
        self._calls: dict[str, _Calls] = {}
        self._errors: deque[dict[str, Any]] = deque(maxlen=ERRORS_KEPT)
        self._sizes: dict[str, tuple[int, int]] = {}
        self._mirrors: dict[str, Callable[[], None]] = {}
        self._timer: asyncio.TimerHandle | None = None
        registry.on_close(self._stop)

    # -- what the server reports -------------------------------------------------

    def called(self, name: str, seconds: float, failed: bool) -> None:
        """The driver ran function ``name`` for ``seconds``."""
        stats = self._calls.get(name)
        if stats is None:
            stats = self._calls[name] = _Calls()
        stats.calls += 1
        stats.errors += failed
        stats.starts.append(time.monotonic() - seconds)
        stats.durations.append(seconds)

    def error(self, exc: Exception, client_id: str | None) -> None:
        """An ``error`` event of the server."""
        text = f"{type(exc).__name__}: {exc}"[:200]
        self._errors.append({"at": round(time.time(), 3), "client": client_id, "error": text})

    # -- the stores ---------------------------------------------------------------

    def _create(self, key: str | None) -> dict[str, Any]:
        if key in SAMPLED:
            self._arm()
            return self._sample(key)
        target = key[len(STATE) :] if key is not None and key.startswith(STATE) else ""
        resolved = self._registry.resolve(target) if target else None
        found = None
        if resolved is not None and not target.startswith(INSPECT_PREFIX + ":"):
            found = self._registry.snapshot(*resolved)
        if resolved is None or found is None:
            raise RpcError(
                f"nothing to inspect at {key!r}: use clients, instances, functions "
                "or state:<an instance that exists>"
            )
        view = STATE + target
        mirror = self.store.instance(view)
        log_: deque[dict[str, Any]] = deque(maxlen=LOG_SIZE)

        def follow(event: StoreEvent) -> None:
            if not isinstance(event, Change):
                mirror.delete()  # the instance was deleted: so is its view
                return
            ops = None if event.patches is None else list(event.patches)
            log_.append({"version": event.version, "ops": ops, "cause": event.cause is not None})
            doc = {"name": target, "version": event.version, "state": event.state}
            mirror.assign({**doc, "log": list(log_)})

        self._mirrors[view] = self._registry.watch(follow, resolved[0].name, resolved[1])
        return {"name": target, "version": found[1], "state": found[0], "log": []}

    def _idle(self, key: str | None) -> None:
        """Nobody reads it any more: it leaves memory, its instance is unwatched."""
        off = self._mirrors.pop(key or "", None)
        if off is not None:
            off()
        self.store.delete(key)

    def _sample(self, key: str) -> dict[str, Any]:
        if key == "clients":
            return self._clients()
        if key == "instances":
            return self._instances()
        now = time.monotonic()
        functions = {name: stats.summary(now) for name, stats in sorted(self._calls.items())}
        return {"functions": functions, "errors": list(self._errors)}

    def _clients(self) -> dict[str, Any]:
        clients: dict[str, Any] = {}
        for record in self._hub.clients():
            link = record.conn
            info = link.info
            address = None
            if info is not None and info.remote_address is not None:
                address = "{}:{}".format(*info.remote_address)
            clients[record.client_id] = {
                "user": _user(record.context.user),
                "address": address,
                "subscriptions": sorted(record.session.subscriptions),
                "parked": record.parked_until is not None,
                "send_buffer": _send_buffer(link.peer),
            }
        return clients

    def _instances(self) -> dict[str, Any]:
        sizes, seen = self._sizes, {}
        for inst in self._registry.resident():
            name, version = inst.name, inst.version
            if name.startswith(INSPECT_PREFIX + ":"):
                continue
            cached = sizes.get(name)
            if cached is None or cached[0] != version:
                cached = sizes[name] = (version, len(pack_value(inst.state)))
            seen[name] = {"version": version, "subscribers": inst.subscribers, "size": cached[1]}
        for gone in sizes.keys() - seen.keys():
            del sizes[gone]
        return dict(sorted(seen.items()))

    # -- sampling ---------------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # created outside the server's loop: sampled when read
                return
            self._timer = loop.call_later(self._interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        live = [key for key in SAMPLED if self.store.has(key)]
        for key in live:
            sample = self._sample(key)
            self.store.instance(key).assign(sample)
        if live:
            self._arm()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _user(user: Any) -> str | None:
    """A short label of ``ctx.user``: its name, else its repr, cut."""
    if user is None:
        return None
    name = user_name(user)
    return name if name is not None else repr(user)[:60]


def _send_buffer(peer: Any) -> int | None:
    """Bytes waiting for the peer, everything counted (the transports' one
    count, :attr:`~hotstate_rx.server.transports.Peer.queued`); None for a
    peer that cannot tell."""
    queued = getattr(peer, "queued", None)
    return queued if isinstance(queued, int) else None
