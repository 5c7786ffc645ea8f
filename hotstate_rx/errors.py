"""The one error hierarchy of hotstate_rx.

::

    HotstateError                 base of everything this library raises on purpose
    ├── PatchError(ValueError)    a JSON Patch that does not apply (RFC 6902 §5)
    ├── ProtocolError             a peer broke the wire protocol (bad frame, version mismatch)
    ├── RpcError                  the server's function raised; carries its message
    │   └── RpcTimeout(TimeoutError)  no answer within the timeout ("RPC timeout: ...")
    ├── Disconnected              the connection dropped before the answer ("Disconnected: ...")
    ├── SubscriptionError         the server cannot serve a subscription
    ├── Unauthorized              raised by a server's ``authenticate`` to refuse a connection
    ├── AuthError                 what a client reports when the server refused its credentials
    ├── CertificateError          what a client reports when it refused the server's certificate
    ├── StorageError              storage cannot be opened, read or written (names the file)
    └── ClusterError              the cluster (Redis) could not carry out a change
        ├── ClusterUnavailable    Redis is down, paused or too slow (within ``cluster_timeout``)
        └── ClusterConflict       another node changed the instance first (``mutate()``)

Errors caused by the caller's own code (a non-JSON value, an unknown store
name) are the built-in ``TypeError`` / ``ValueError`` / ``KeyError`` raised at
the call, as Python users expect.

The client's ``RpcTimeout`` and ``Disconnected`` keep the original library's
messages as their first words and go on to say what a person needs to act:
the function, the URL, and why the connection is not there ("Disconnected:
could not connect to ws://127.0.0.1:4400: connection refused (is the server
running?)").
"""

from __future__ import annotations


class HotstateError(Exception):
    """Base class of the errors hotstate_rx raises on purpose."""


class PatchError(HotstateError, ValueError):
    """A JSON Patch operation could not be applied to the document."""


class ProtocolError(HotstateError):
    """The peer sent something the wire protocol does not allow."""


class RpcError(HotstateError):
    """A server function raised; ``str(err)`` is the server's message and
    ``err.function`` the name of the function that was called (the message
    alone rarely says which of several concurrent calls failed)."""

    def __init__(self, message: str, *, function: str | None = None) -> None:
        super().__init__(message)
        self.function = function


class RpcTimeout(RpcError, TimeoutError):
    """A function call got no answer in time (also a built-in ``TimeoutError``)."""

    def __init__(self, message: str = "RPC timeout", *, function: str | None = None) -> None:
        super().__init__(message, function=function)


class Disconnected(HotstateError):
    """The connection closed while the operation was pending."""

    def __init__(self, message: str = "Disconnected") -> None:
        super().__init__(message)


class SubscriptionError(HotstateError):
    """The server refused or could not serve a subscription."""

    def __init__(self, message: str, store: str | None = None) -> None:
        super().__init__(message)
        self.store = store


class Unauthorized(HotstateError):
    """Raised by the server's ``authenticate`` to refuse a connection: the
    message is sent to the client (``err`` ``unauthorized``, close 4401)."""

    def __init__(self, message: str = "unauthorized") -> None:
        super().__init__(message)


class AuthError(HotstateError):
    """The server refused this client's credentials; ``str(err)`` is its reason."""


class CertificateError(HotstateError):
    """The client refused the TLS certificate of the server it dialled; the
    message names the host and why (an unknown CA, a name the certificate
    does not cover, an expired one). A certificate does not fix itself, so the
    client stops instead of retrying; the ``ssl.SSLCertVerificationError``
    is the ``__cause__``."""


class StorageError(HotstateError):
    """The server's storage cannot be opened, read or written; the message names
    the storage (its file, for SQLite) and what is wrong with it."""


class ClusterError(HotstateError):
    """A change (or an event, a call's claim) could not be made through the
    cluster (``Server(cluster=...)``); the message names what and why.
    Nothing was applied."""


class ClusterUnavailable(ClusterError):
    """Redis did not answer within ``cluster_timeout`` (stopped, paused,
    unreachable), or the node already knows it is down. The change was not
    acknowledged; a change whose request Redis received before it stopped
    answering may still be applied when it answers again (every node then
    hears of it, so nothing diverges)."""


class ClusterConflict(ClusterError):
    """Another node changed the instance between the read and the write of a
    ``mutate()`` block, which cannot run twice: nothing was applied (the local
    copy is current again). ``update()`` re-runs its recipe instead; use it for
    instances that several nodes write at once."""

    def __init__(self, message: str, store: str | None = None) -> None:
        super().__init__(message)
        self.store = store


__all__ = [
    "AuthError",
    "CertificateError",
    "ClusterConflict",
    "ClusterError",
    "ClusterUnavailable",
    "Disconnected",
    "HotstateError",
    "PatchError",
    "ProtocolError",
    "RpcError",
    "RpcTimeout",
    "StorageError",
    "SubscriptionError",
    "Unauthorized",
]
