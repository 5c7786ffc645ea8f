"""The standalone server over TLS: ``listen(certfile=, keyfile=)`` / ``listen(ssl=)``
serve ``wss://`` (frames still written straight to the transport, now a TLS
one), bad TLS settings are named when ``listen()`` is called, peers that do
not speak TLS (or stall in its handshake) never disturb a healthy client,
and ``attach`` gets TLS from uvicorn."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trustme
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidMessage

from hotstate_rx import Server
from hotstate_rx.protocol import PatchMessage, Ping, Pong, Snapshot, Subscribe
from hotstate_rx.server.transports import websocket

if TYPE_CHECKING:
    from conftest import Certificates, Connect, ServeApp

TIMEOUT = 5.0


@pytest.fixture
async def wss_url(server: Server, certificates: Certificates) -> str:
    await server.listen(
        port=0, host="127.0.0.1", certfile=certificates.certfile, keyfile=certificates.keyfile
    )
    return f"wss://127.0.0.1:{server.port}"


async def test_wss_fans_out_the_same_patch_to_every_subscriber(
    server: Server, wss_url: str, certificates: Certificates, raw_connect: Connect
) -> None:
    big = {"blob": "x" * 300_000}  # many TLS records
    store = server.create_store("Big", big)
    readers = [await raw_connect(wss_url, ssl=certificates.client_context()) for _ in range(2)]
    for reader in readers:
        await reader.send(Subscribe("Big"))
        snapshot = await reader.recv()
        assert isinstance(snapshot, Snapshot) and (snapshot.version, snapshot.data) == (1, big)
    store.update(lambda d: d.__setitem__("blob", "y"))
    patch = PatchMessage("Big", 2, [{"op": "replace", "path": "/blob", "value": "y"}])
    for reader in readers:
        assert await reader.recv() == patch
    assert readers[0].frames[-1] == readers[1].frames[-1]  # one frame for all


async def test_listen_takes_an_ssl_context(
    server: Server, certificates: Certificates, raw_connect: Connect
) -> None:
    await server.listen(port=0, host="127.0.0.1", ssl=certificates.server_context())
    client = await raw_connect(f"wss://127.0.0.1:{server.port}", ssl=certificates.client_context())
    await client.send(Ping())
    assert await client.recv() == Pong()


def encrypted_key(certificates: Certificates) -> Path:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certificates.keyfile.read_bytes(), None)
    path = certificates.keyfile.with_name("encrypted.pem")
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    return path


async def test_bad_tls_settings_are_named_when_listen_is_called(
    server: Server, certificates: Certificates, tmp_path: Path, raw_connect: Connect
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    other_key = tmp_path / "other-key.pem"
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(other_key)
    cert, key = certificates.certfile, certificates.keyfile
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"ssl": "cert.pem"}, TypeError, r"ssl must be an ssl\.SSLContext, got str"),
        ({"ssl": certificates.client_context()}, ValueError, "client context"),
        ({"ssl": certificates.server_context(), "certfile": cert}, ValueError, "not both"),
        ({"keyfile": key}, ValueError, "keyfile= needs certfile="),
        ({"certfile": tmp_path / "missing.pem"}, ValueError, "missing.pem.*No such file"),
        ({"certfile": garbage}, ValueError, "garbage.pem.*PEM"),
        ({"certfile": cert, "keyfile": other_key}, ValueError, "other-key.pem.*mismatch"),
        ({"certfile": cert, "keyfile": encrypted_key(certificates)}, ValueError, "encrypted"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            await server.listen(port=0, host="127.0.0.1", **options)
        assert server.port is None  # nothing half-started
    await server.listen(port=0, host="127.0.0.1", certfile=cert, keyfile=key)
    client = await raw_connect(f"wss://127.0.0.1:{server.port}", ssl=certificates.client_context())
    assert client.client_id


async def test_peers_that_do_not_speak_tls_never_disturb_a_healthy_client(
    server: Server,
    certificates: Certificates,
    raw_connect: Connect,
    loop_errors: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_TIMEOUT", 0.3)  # 10 s in production
    await server.listen(port=0, host="127.0.0.1", ssl=certificates.server_context())
    url = f"wss://127.0.0.1:{server.port}"
    healthy = await raw_connect(url, ssl=certificates.client_context())

    # A peer that opens a socket and never starts the handshake is dropped.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    # Plain bytes (a ws:// client, garbage) on the TLS port: the socket is closed.
    with pytest.raises(InvalidMessage, match="did not receive a valid HTTP response"):
        await raw_connect(url.replace("wss://", "ws://"))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"\x16\x03\x01\x00\x05garbage" * 100)
    assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    writer.close()
    # A client that does not trust the certificate leaves during the handshake.
    with pytest.raises(ssl.SSLCertVerificationError):
        await connect(url, open_timeout=TIMEOUT)

    await healthy.send(Ping())
    assert await healthy.recv() == Pong()
    assert (await raw_connect(url, ssl=certificates.client_context())).client_id
    assert loop_errors == []


async def test_attach_gets_tls_from_uvicorn(
    certificates: Certificates, serve_app: ServeApp, raw_connect: Connect
) -> None:
    """What the README says for ``attach``: the ASGI server owns TLS."""
    from starlette.applications import Starlette

    server = Server()
    app = Starlette()
    server.attach(app, path="/ws")
    try:
        port = await serve_app(
            app, ssl_certfile=str(certificates.certfile), ssl_keyfile=str(certificates.keyfile)
        )
        client = await raw_connect(f"wss://127.0.0.1:{port}/ws", ssl=certificates.client_context())
        await client.send(Ping())
        assert await client.recv() == Pong()
    finally:
        await server.close()
