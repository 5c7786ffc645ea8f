"""The client's options, validated once at construction, and its server
URLs, validated at each ``connect()``."""

from __future__ import annotations

import math
import ssl as _ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from .tls import check_context, check_url

Token = str | Callable[[], str | Awaitable[str | None] | None]
"""A credential for the server's ``authenticate``: a string, or a function
(plain or async) asked for a fresh one before every (re)connect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Keyword options of :class:`~hotstate_rx.client.Client`; times in seconds.

    ``compression`` is ``None`` (off, the default: MessagePack frames of
    patches are small and deflate costs CPU on both ends) or ``"deflate"``.
    The server's heartbeat interval comes from its hello; the client treats a
    server silent for 2.5 intervals as gone. ``token`` goes in the ``hello``
    (hidden from the repr); ``headers`` are added to the WebSocket upgrade
    request (a cookie, an ``Authorization``). ``ssl`` is the context for
    ``wss://`` URLs (None: verify against the system's CAs).
    """

    reconnect: bool = True
    reconnect_delay: float = 1.0
    reconnect_max: float = 10.0
    rpc_timeout: float = 10.0
    open_timeout: float = 10.0
    close_timeout: float = 2.0
    max_message_size: int | None = 2**24
    compression: str | None = None
    token: Token | None = field(default=None, repr=False)
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    ssl: _ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.reconnect, bool):
            raise TypeError(f"reconnect must be a bool, got {self.reconnect!r}")
        for name in ("reconnect_delay", "reconnect_max", "rpc_timeout", "open_timeout"):
            check_seconds(getattr(self, name), name)
        check_seconds(self.close_timeout, "close_timeout", allow_zero=True)
        if self.reconnect_max < self.reconnect_delay:
            raise ValueError(
                f"reconnect_max ({self.reconnect_max}) must be >= "
                f"reconnect_delay ({self.reconnect_delay})"
            )
        size = self.max_message_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ValueError(f"max_message_size must be a positive int or None, got {size!r}")
        if self.compression not in (None, "deflate"):
            raise ValueError(f"compression must be None or 'deflate', got {self.compression!r}")
        if self.token is not None and not isinstance(self.token, str) and not callable(self.token):
            raise TypeError(
                f"token must be a str or a function returning one, got {type(self.token).__name__}"
            )
        if self.headers is not None and (
            not isinstance(self.headers, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items())
        ):
            raise TypeError(f"headers must be a mapping of str to str, got {self.headers!r}")
        check_context(self.ssl)


def check_urls(url: object, urls: object, context: _ssl.SSLContext | None) -> tuple[str, ...]:
    """The server URLs that ``connect(url)`` or ``connect(urls=[...])`` names,
    in order, or a ``TypeError``/``ValueError`` naming the problem: both or
    neither given, an empty list, a URL that is not ``ws://``/``wss://``, a
    URL given twice (the same host, port and path, however spelt), or
    ``ssl=`` with an unencrypted URL."""
    if url is not None and urls is not None:
        raise TypeError("give url or urls=[...], not both")
    if url is None and urls is None:
        raise TypeError("no server URL: give url, or urls=[...] to fail over between servers")
    if urls is None:
        listed: Sequence[object] = [url]
        names = ["url"]
    else:
        if isinstance(urls, str) or not isinstance(urls, Sequence):
            raise TypeError(
                f"urls must be a list of URLs, got {type(urls).__name__}"
                + (" (for one URL, pass it as url)" if isinstance(urls, str) else "")
            )
        if not urls:
            raise ValueError("urls is empty: give at least one server URL")
        listed = urls
        names = [f"urls[{i}]" for i in range(len(urls))]
    seen: dict[tuple[bool, str, int, str], str] = {}
    checked: list[str] = []
    for name, item in zip(names, listed, strict=True):
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a str, got {type(item).__name__}")
        try:
            uri = parse_uri(item)
        except InvalidURI as exc:
            raise ValueError(f"{name} is not a WebSocket URL: {exc}") from None
        check_url(item, context)
        key = (uri.secure, uri.host, uri.port, uri.resource_name)
        if key in seen:
            raise ValueError(f"{name} ({item}) is the same server as {seen[key]}: list each once")
        seen[key] = f"{name} ({item})"
        checked.append(item)
    return tuple(checked)


def check_seconds(value: object, name: str, *, allow_zero: bool = False) -> float:
    """``value`` as a duration, or a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


__all__ = ["ClientOptions", "Token", "check_seconds", "check_urls"]
