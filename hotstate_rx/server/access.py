"""Who may connect, read and call: the security rules, pure (no I/O).

The types every rule is written against, one small family:

- :class:`ConnectInfo`: what ``authenticate`` sees of a connection (the token
  from ``hello``; headers, cookies, query, origin, path and remote address
  from the WebSocket upgrade). Built by the transports with
  :meth:`ConnectInfo.from_upgrade`, completed with the token by the hub.
- :class:`CallContext` (``ctx``): who is asking, wherever the server asks on a
  client's behalf: function handlers, ``access`` rules, ``server.context()``.
  ``ctx.user`` is what ``authenticate`` returned (None without it).

And the rules that use them:

- :class:`AccessRules`: the ``access=`` of stores and functions, checked
  at registration (callable, synchronous, the right arity).
- :class:`OriginPolicy`: ``allowed_origins``, decided before the WebSocket
  handshake is accepted (cross-site WebSocket hijacking).
- :func:`client_failure`: what a client may read of a server-side exception
  (``RpcError`` messages pass; anything else is ``"internal error (ref …)"``
  with the reference id that the server's log line carries).
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

from ..errors import RpcError

if TYPE_CHECKING:
    from .server import Server

__all__ = [
    "INTERNAL_ERROR",
    "AccessRules",
    "CallContext",
    "ConnectInfo",
    "FunctionRule",
    "OriginPolicy",
    "StoreRule",
    "client_failure",
    "parse_cookies",
]

INTERNAL_ERROR: Final = "internal error"
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
"""What a client reads instead of an unexpected exception's message."""


@dataclass(frozen=True, slots=True)
class ConnectInfo:
    """A connection as ``authenticate(info)`` sees it.

    Header names are lower-case (``info.headers["authorization"]``); a header
    sent several times is joined with ``", "``. ``query`` keeps the first value
    of each parameter. ``origin`` is the ``Origin`` header (None from
    non-browser clients). The token is hidden from the repr, so logging an
    ``info`` does not log a credential."""

    token: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY, repr=False)
    cookies: Mapping[str, str] = field(default_factory=lambda: _EMPTY, repr=False)
    query: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    origin: str | None = None
    path: str = "/"
    remote_address: tuple[str, int] | None = None

    @classmethod
    def from_upgrade(
        cls,
        headers: Iterable[tuple[str, str]],
        *,
        path: str,
        query: str = "",
        remote_address: Any = None,
    ) -> ConnectInfo:
        """The info of an upgrade request (no token yet: it comes with ``hello``)."""
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            previous = joined.get(key)
            if previous is None:
                joined[key] = value
            else:
                joined[key] = previous + ("; " if key == "cookie" else ", ") + value
        first: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            first.setdefault(name, value)
        address = None
        if isinstance(remote_address, Sequence) and len(remote_address) >= 2:
            address = (str(remote_address[0]), int(remote_address[1]))
        return cls(
            headers=MappingProxyType(joined),
            cookies=MappingProxyType(parse_cookies(joined.get("cookie", ""))),
            query=MappingProxyType(first),
            origin=joined.get("origin"),
            path=path or "/",
            remote_address=address,
        )


def parse_cookies(header: str) -> dict[str, str]:
    """``Cookie: a=1; b="x y"`` -> ``{"a": "1", "b": "x y"}``; lenient like
    browsers (a malformed pair is skipped, the first of a repeated name wins),
    never raising on what a peer sent."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, value)
    return cookies


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is asking: ``ctx.client_id`` (the connection's id), ``ctx.user``
    (what ``authenticate`` returned for it; None without ``authenticate``) and
    ``ctx.server``. One per connection, made when it is accepted; handlers,
    ``access`` rules and ``server.context(client_id)`` all get that one."""

    client_id: str
    server: Server
    user: Any = None


StoreRule = Callable[[CallContext, str | None], object]
"""``access(ctx, key)`` of a store: truthy lets the subscription through
(``key`` is None for a static store)."""
FunctionRule = Callable[[CallContext], object]
"""``access(ctx)`` of a function: truthy lets the call through."""


class AccessRules:
    """The ``access=`` rules of one server, by registered store name and by
    function name. A name without a rule is open to every accepted client."""

    def __init__(self) -> None:
        self._stores: dict[str, StoreRule] = {}
        self._functions: dict[str, FunctionRule] = {}

    @staticmethod
    def check_store_rule(rule: object) -> StoreRule | None:
        """``rule`` if it can be an ``access(ctx, key)`` (TypeError otherwise)."""
        return _checked(rule, "a store's access rule", "(ctx, key)", 2)

    @staticmethod
    def check_function_rule(rule: object) -> FunctionRule | None:
        """``rule`` if it can be an ``access(ctx)`` (TypeError otherwise)."""
        return _checked(rule, "a function's access rule", "(ctx)", 1)

    def set_store(self, name: str, rule: StoreRule | None) -> None:
        """Guard store ``name`` (``"Todos"``, ``"Room:*"``) with a checked ``rule``."""
        if rule is not None:
            self._stores[name] = rule

    def set_function(self, name: str, rule: FunctionRule | None) -> None:
        """Guard function ``name`` with a checked ``rule``."""
        if rule is not None:
            self._functions[name] = rule

    def store(self, name: str) -> StoreRule | None:
        return self._stores.get(name)

    def function(self, name: str) -> FunctionRule | None:
        return self._functions.get(name)


def _checked(rule: object, what: str, shape: str, arity: int) -> Any:
    """Refuse at registration what could never work at the call: a rule decides
    inline, between two frames, so it must be a plain synchronous function."""
    if rule is None:
        return None
    if not callable(rule):
        raise TypeError(f"{what} must be callable {shape}, not {type(rule).__name__}")
    if inspect.iscoroutinefunction(rule):
        raise TypeError(
            f"{what} must be synchronous: it decides between two frames; "
            "load what it needs in authenticate (ctx.user) instead"
        )
    try:
        signature = inspect.signature(rule)
    except (TypeError, ValueError):  # some builtins have none: trust them
        return rule
    try:
        signature.bind(*range(arity))
    except TypeError:
        raise TypeError(f"{what} must take {shape}; its signature is {signature}") from None
    return rule


class OriginPolicy:
    """``allowed_origins``: which browser pages may open a connection.

    - ``None`` (the default): requests without an ``Origin`` header
      (non-browser clients) and same-origin pages (the ``Origin``'s host and
      port are the request's ``Host``) only;
    - a list of origins (``"https://app.example"``): those too;
    - ``["*"]``: every origin.

    Browsers send ``Origin`` with every WebSocket upgrade and scripts cannot
    forge it, so this is what stops any web page the user opens from driving
    a server on localhost (cross-site WebSocket hijacking)."""

    __slots__ = ("_allowed", "_any")

    def __init__(self, allowed: Sequence[str] | None = None) -> None:
        if allowed is None:
            allowed = ()
        elif isinstance(allowed, str) or not isinstance(allowed, Sequence):
            raise TypeError(f"allowed_origins must be a list of origins or None, got {allowed!r}")
        self._any = "*" in allowed
        if self._any and len(allowed) > 1:
            raise ValueError(f"allowed_origins: '*' stands alone, got {list(allowed)!r}")
        self._allowed = frozenset(_origin(o) for o in allowed if o != "*")

    def allows(self, origin: str | None, host: str | None) -> bool:
        """May a request with these ``Origin`` and ``Host`` headers connect?"""
        if origin is None or self._any:
            return True
        try:
            scheme, hostname, port = _origin(origin)
        except (TypeError, ValueError):  # "null" (a sandboxed page, file://) or garbage
            return False
        if (scheme, hostname, port) in self._allowed:
            return True
        return host is not None and _host(host, _DEFAULT_PORTS[scheme]) == (hostname, port)


_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin(value: object) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an origin, lower-case, or ValueError naming it."""
    if not isinstance(value, str):
        raise TypeError(f"an origin must be a str, got {value!r}")
    parts = urlsplit(value.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"not an origin: {value!r} (expected scheme://host[:port], e.g. 'https://app.example')"
        )
    host = _host(parts.netloc, _DEFAULT_PORTS[parts.scheme])
    if host is None:
        raise ValueError(f"not an origin: {value!r} (bad host or port)")
    return (parts.scheme, *host)


def _host(netloc: str, default_port: int) -> tuple[str, int] | None:
    """``(host, port)`` of ``host[:port]`` (a ``Host`` header), or None if malformed."""
    try:
        parts = urlsplit(f"//{netloc.strip().lower()}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.username is not None:
        return None
    return parts.hostname, default_port if port is None else port


def client_failure(exc: BaseException, *, expose: bool) -> tuple[str, str | None]:
    """What a client may read of ``exc``, and the reference id the server logs
    with it (None when the message itself goes out).

    An ``RpcError`` is raised on purpose and meant for the caller: its message
    passes. Anything else may carry internals (a connection string, a path, a
    query), so the client gets ``"internal error (ref 1a2b3c4d)"`` and the
    server's log line the same ref with the traceback, unless ``expose``
    (``Hotstate(expose_errors=True)``, for development)."""
    if expose or isinstance(exc, RpcError):
        return str(exc) or type(exc).__name__, None
    ref = secrets.token_hex(4)
    return f"{INTERNAL_ERROR} (ref {ref})", ref
