"""``wss://`` end to end: a throwaway CA (trustme) signs the server's
certificate; a client that trusts the CA works, one that does not stops with
a ``CertificateError`` naming the host and dials no more, and what travels
between them is unreadable to a proxy in the middle."""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest
import trustme
from client_helpers import (
    NODE,
    TIMEOUT,
    CuttingProxy,
    MakeClient,
    Recorder,
    StartServer,
    errors_of,
    todos_and_rooms,
)

from hotstate_rx import CertificateError, Server
from hotstate_rx.client import Client
from hotstate_rx.client.actions import Emit, EndStore, Settle, StatusChanged
from hotstate_rx.client.core import ClientCore
from hotstate_rx.client.status import ConnectionStatus
from hotstate_rx.client.tls import certificate_error

if TYPE_CHECKING:
    from conftest import Certificates  # fixture types only: several conftest modules exist

Proxy = Callable[[int], Awaitable[tuple[CuttingProxy, str]]]


# ------------------------------------------------------ the core, fed by hand


def test_a_refused_certificate_stops_the_core_like_refused_credentials() -> None:
    core = ClientCore()
    core.connect([NODE])
    core.subscribe("Todos")
    core.call("add", 1)
    error = CertificateError("the TLS certificate of db.example.test:443 was refused")
    assert core.certificate_failed(error) == [
        StatusChanged(ConnectionStatus.DISCONNECTED),
        Settle(1, error=error),
        EndStore("Todos", error),
        Emit("error", error),
    ]  # no CloseSocket: no socket opened
    assert core.failure is error
    assert core.connection_lost(0.5) == []  # and no retry
    assert core.retry_delay is None
    with pytest.raises(CertificateError):
        core.call("add", 2)
    assert core.subscribe("Other") == [EndStore("Other", error)]
    assert core.certificate_failed(error) == []  # stopped already: said once
    core.connect([NODE])  # the user may try again, with the certificate fixed
    assert core.failure is None and core.subscribe("Todos") == []


# ------------------------------------------------------ real servers and clients


def echo(server: Server) -> None:
    todos_and_rooms(server)
    server.handle("echo", lambda args: args)


def through(proxy_url: str) -> str:
    return proxy_url.replace("ws://", "wss://")


async def test_a_client_that_trusts_the_ca_is_served(
    certificates: Certificates, start_server: StartServer, make_client: MakeClient
) -> None:
    server, url = await start_server(echo, tls=certificates)
    assert url.startswith("wss://")
    client = make_client(url, ssl=certificates.client_context())
    states = Recorder()
    todos = client.subscribe("Todos", states)
    await asyncio.wait_for(todos.ready(), TIMEOUT)
    assert await client.call("echo", {"big": "x" * 200_000}) == {"big": "x" * 200_000}
    server.stores["Todos"].update(lambda d: d["items"].append("over TLS"))
    await states.until(lambda seen: seen[-1]["items"] == ["over TLS"])


async def test_a_refused_certificate_stops_the_client_with_a_clear_error(
    certificates: Certificates,
    start_server: StartServer,
    make_client: MakeClient,
    proxy: Proxy,
) -> None:
    """The default context (the system's CAs) does not know the throwaway CA:
    ``ready()``, a pending call, a subscription and ``"error"`` all say so,
    naming the host, and the client does not dial again although its retry
    delay is 20 ms."""
    _, url = await start_server(echo, tls=certificates)
    trusted = make_client(url, ssl=certificates.client_context())  # beside it, served
    counter, proxy_url = await proxy(int(url.rsplit(":", 1)[1]))
    client = make_client()
    errors = errors_of(client)
    todos = client.subscribe("Todos")
    client.connect(through(proxy_url))
    pending = asyncio.ensure_future(client.call("echo", 1))

    with pytest.raises(CertificateError) as refused:
        await asyncio.wait_for(client.ready(), TIMEOUT)
    message = str(refused.value)
    assert f"127.0.0.1:{counter.port}" in message
    assert "certificate" in message and "cafile" in message  # why, and what to do
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
    assert errors.values == [refused.value]
    with pytest.raises(CertificateError):
        await asyncio.wait_for(pending, TIMEOUT)
    with pytest.raises(CertificateError):
        await asyncio.wait_for(todos.ready(), TIMEOUT)
    with pytest.raises(CertificateError):
        await client.call("echo", 2)  # at once: nothing will be served
    assert client.status.value == "disconnected"

    # No retry storm: the client's connection task has ended (so it cannot
    # dial again), after the one attempt the proxy saw.
    assert client._driver is not None
    await asyncio.wait_for(client._driver.wait_stopped(), TIMEOUT)
    assert counter.connections == 1
    assert await asyncio.wait_for(trusted.call("echo", 3), TIMEOUT) == 3


async def test_a_certificate_refused_on_reconnect_fails_what_waited(
    certificates: Certificates, start_server: StartServer, make_client: MakeClient
) -> None:
    """The server comes back on its port with a certificate of another CA:
    the call that waited for the reconnect fails with the error."""
    first, url = await start_server(echo, tls=certificates)
    port = first.port
    client = make_client(url, ssl=certificates.client_context())
    await asyncio.wait_for(client.ready(), TIMEOUT)
    await first.close()
    impostor = trustme.CA().issue_cert("127.0.0.1")
    certificates.certfile.write_bytes(b"".join(pem.bytes() for pem in impostor.cert_chain_pems))
    impostor.private_key_pem.write_to_path(certificates.keyfile)
    await start_server(echo, port=port, tls=certificates)
    with pytest.raises(CertificateError, match=f"127.0.0.1:{port}"):
        await asyncio.wait_for(client.call("echo", 1), TIMEOUT)
    assert client.status.value == "disconnected"


async def test_a_client_certificate(certificates: Certificates, make_client: MakeClient) -> None:
    """``ssl=`` carries a client certificate to a server that requires one."""
    context = certificates.server_context()
    context.verify_mode = ssl.CERT_REQUIRED
    certificates.ca.configure_trust(context)
    seen: list[Any] = []
    server = Server(authenticate=lambda info: seen.append(info) or "ok")
    server.handle("echo", lambda args: args)
    await server.listen(port=0, host="127.0.0.1", ssl=context)
    try:
        mine = certificates.client_context()
        certificates.ca.issue_cert("client@example.test").configure_cert(mine)
        client = make_client(f"wss://127.0.0.1:{server.port}", ssl=mine)
        assert await asyncio.wait_for(client.call("echo", "mutual"), TIMEOUT) == "mutual"
        assert len(seen) == 1
    finally:
        await server.close()


def frames_in(captured: bytes) -> bytes:
    """What an eavesdropper reads in a client's bytes: the HTTP request, then
    each WebSocket frame's payload, unmasked (RFC 6455 §5.3 masking hides
    nothing from someone on the path). Bytes that are not that (TLS records)
    stay as they are."""
    head, sep, rest = captured.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"GET "):
        return captured
    out, at = bytearray(head), 0
    while at + 2 <= len(rest):
        size, at = rest[at + 1] & 0x7F, at + 2
        if size == 126:
            (size,), at = struct.unpack_from("!H", rest, at), at + 2
        elif size == 127:
            (size,), at = struct.unpack_from("!Q", rest, at), at + 8
        key, at = rest[at : at + 4], at + 4
        out += bytes(b ^ key[i % 4] for i, b in enumerate(rest[at : at + size]))
        at += size
    return bytes(out)


@pytest.mark.parametrize("scheme", ["wss", "ws"])
async def test_the_token_in_hello_is_not_visible_on_the_wire(
    scheme: str,
    certificates: Certificates,
    start_server: StartServer,
    make_client: MakeClient,
    proxy: Proxy,
) -> None:
    """A proxy in the middle reads the hello's token over ``ws://`` (the
    control: the capture and the decoding work) and nothing over ``wss://``;
    nor the resume token of the server's hello."""
    token = "tok-3f9a1c7e-secret"
    tls = certificates if scheme == "wss" else None
    _, url = await start_server(echo, tls=tls, authenticate=lambda info: info.token == token)
    tap, proxy_url = await proxy(int(url.rsplit(":", 1)[1]))
    options: dict[str, Any] = {} if tls is None else {"ssl": certificates.client_context()}
    client = make_client(proxy_url.replace("ws://", f"{scheme}://"), token=token, **options)
    assert await asyncio.wait_for(client.call("echo", "hi"), TIMEOUT) == "hi"
    resume = client._core.resume_token
    assert resume
    upstream, downstream = frames_in(bytes(tap.upstream)), bytes(tap.downstream)
    assert len(upstream) > 100 and len(downstream) > 100
    visible = scheme == "ws"
    assert (token.encode() in upstream) is visible
    assert (resume.encode() in downstream) is visible


async def test_ssl_option_checks(certificates: Certificates) -> None:
    with pytest.raises(TypeError, match=r"ssl must be an ssl\.SSLContext"):
        Client(ssl=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="server context"):
        Client(ssl=certificates.server_context())
    client = Client(ssl=certificates.client_context())
    with pytest.raises(ValueError, match=r"wss://.*ws://127\.0\.0\.1:1 is not encrypted"):
        client.connect("ws://127.0.0.1:1")
    assert client.status.value == "disconnected"


def test_only_a_refused_certificate_is_a_certificate_error() -> None:
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    refused.verify_message = "certificate has expired"
    wrapped = OSError("handshake failed")
    wrapped.__cause__ = refused
    error = certificate_error(wrapped, "wss://db.example.test/ws")
    assert error is not None and error.__cause__ is refused
    assert str(error).startswith(
        "the TLS certificate of db.example.test:443 was refused (certificate has expired)"
    )
    assert certificate_error(ConnectionRefusedError(), "wss://db.example.test") is None
    assert certificate_error(ssl.SSLError(1, "wrong version number"), "wss://x.test") is None
