"""TLS on the client: the ``ssl=`` option, and a refused server certificate in words.

``wss://`` URLs verify the server's certificate against the system's CAs by
default (websockets makes ``ssl.create_default_context()``); ``ssl=`` is a
context of your own: a private CA (``cafile=``), a client certificate
(``load_cert_chain``). A certificate the client refuses is a
:class:`~hotstate_rx.errors.CertificateError` naming the host: the core then
stops the client (:meth:`~hotstate_rx.client.core.ClientCore.certificate_failed`)
rather than dial again a server that will present the same certificate.
"""

from __future__ import annotations

import ssl

from websockets.uri import parse_uri

from ..errors import CertificateError

__all__ = ["certificate_error", "check_context", "check_url"]


def check_context(context: object) -> None:
    """``TypeError``/``ValueError`` unless ``context`` is None or a client context."""
    if context is None:
        return
    if not isinstance(context, ssl.SSLContext):
        raise TypeError(f"ssl must be an ssl.SSLContext, got {type(context).__name__}")
    if context.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ValueError(
            "ssl= is a server context; a client needs ssl.create_default_context() "
            "(cafile= for a private CA, load_cert_chain() for a client certificate)"
        )


def check_url(url: str, context: ssl.SSLContext | None) -> None:
    """``ssl=`` with a ``ws://`` URL would send everything in clear: refuse it."""
    if context is not None and not parse_uri(url).secure:
        raise ValueError(f"ssl= is for wss:// URLs; {url} is not encrypted (use wss://)")


def certificate_error(exc: BaseException, url: str) -> CertificateError | None:
    """The :class:`CertificateError` that ``exc`` (a failed connection to
    ``url``) stands for, or None when it was not a refused certificate."""
    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, ssl.SSLCertVerificationError):
        seen = seen.__cause__ or seen.__context__
    if seen is None:
        return None
    uri = parse_uri(url)
    why = seen.verify_message or seen.reason or str(seen)
    error = CertificateError(
        f"the TLS certificate of {uri.host}:{uri.port} was refused ({why}); not retrying: "
        "fix the certificate, or trust its CA with "
        "Hotstate(ssl=ssl.create_default_context(cafile=...)), then connect() again"
    )
    error.__cause__ = seen
    return error
