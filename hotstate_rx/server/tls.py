"""TLS for the standalone server: the ``ssl=`` / ``certfile=`` / ``keyfile=`` of ``listen()``.

Checked when ``listen()`` is called, so a wrong argument or a certificate
that does not load is an exception naming it then, not a handshake that
fails for every client later. ``attach`` has no TLS settings: there the ASGI
server (uvicorn's ``--ssl-certfile``/``--ssl-keyfile``) owns the socket.
"""

from __future__ import annotations

import os
import ssl

__all__ = ["HANDSHAKE_TIMEOUT", "server_context"]

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client has to finish the TLS handshake (asyncio's default is 60):
the same bound websockets puts on the HTTP upgrade that follows, so a peer
that connects and stays silent holds a socket no longer over TLS than without."""

StrPath = str | os.PathLike[str]


def server_context(
    context: ssl.SSLContext | None, certfile: StrPath | None, keyfile: StrPath | None
) -> ssl.SSLContext | None:
    """The context to serve ``wss://`` with, or None for plain ``ws://``.

    ``context`` is used as given (a custom CA for client certificates, your
    own ciphers); ``certfile`` (PEM: the certificate, then its chain) and
    ``keyfile`` (its private key; None when it is in ``certfile``) make a
    default server context. Raises ``TypeError``/``ValueError`` naming the
    argument or the file that is wrong."""
    if context is not None:
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, got {type(context).__name__}")
        if certfile is not None or keyfile is not None:
            raise ValueError("pass ssl= or certfile=/keyfile=, not both")
        if context.protocol == ssl.PROTOCOL_TLS_CLIENT:
            raise ValueError(
                "ssl= is a client context; a server needs "
                "ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) with load_cert_chain()"
            )
        return context
    if certfile is None:
        if keyfile is not None:
            raise ValueError("keyfile= needs certfile= (the certificate it belongs to)")
        return None
    made = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        made.load_cert_chain(certfile, keyfile, password=_no_password)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        key = f" and key {os.fspath(keyfile)!r}" if keyfile is not None else ""
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(
            f"cannot load certificate {os.fspath(certfile)!r}{key}: {reason} "
            "(expected PEM files: the certificate and its chain, and the private key "
            "unless it is in the same file)"
        ) from exc
    return made


def _no_password() -> str:
    # Without a callback, OpenSSL would prompt on the terminal and block the server.
    raise ValueError(
        "the private key is encrypted: decrypt it, or load it into an SSLContext "
        "with its password and pass ssl="
    )
