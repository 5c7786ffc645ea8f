"""The FastAPI cookie sign-in example under uvicorn: the app's own session
cookie authenticates hotstate clients, ``access`` keeps notes private, logout
disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest
from app_helpers import TIMEOUT

from apps.cookie_login.app import build_app
from hotstate_rx import AuthError, RpcError, SubscriptionError
from hotstate_rx.client import Client

if TYPE_CHECKING:
    from conftest import ServeApp


@pytest.fixture
async def site(serve_app: ServeApp) -> AsyncIterator[tuple[httpx.AsyncClient, str, list[Client]]]:
    """``(http, ws_url, clients)``: the app served, an HTTP client with a cookie
    jar, and a list whose hotstate clients are closed at teardown."""
    app, _server = build_app()
    port = await serve_app(app)
    clients: list[Client] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        yield http, f"ws://127.0.0.1:{port}/ws", clients
    for client in clients:
        await client.close()


async def test_the_session_cookie_signs_in_and_logout_disconnects(
    site: tuple[httpx.AsyncClient, str, list[Client]],
) -> None:
    http, url, clients = site
    wrong = await http.post("/login", json={"name": "ana", "password": "guess"})
    assert wrong.status_code == 401
    assert (await http.post("/login", json={"name": "ana", "password": "correct horse"})).is_success
    ana = Client(url, headers={"Cookie": f"session={http.cookies['session']}"})
    stranger = Client(url, headers={"Cookie": "session=forged"})
    clients += [ana, stranger]

    await asyncio.wait_for(ana.subscribe("Notes:ana").ready(), TIMEOUT)
    assert await ana.call("notes.add", {"text": " buy milk "}) == 1
    with pytest.raises(SubscriptionError, match="forbidden"):
        await asyncio.wait_for(ana.subscribe("Notes:bob").ready(), TIMEOUT)
    with pytest.raises(RpcError, match="'text' must be a non-empty string"):
        await ana.call("notes.add", {})
    with pytest.raises(AuthError):
        await asyncio.wait_for(stranger.ready(), TIMEOUT)

    stopped = asyncio.Event()
    ana.status.subscribe(lambda status: status == "disconnected" and stopped.set())
    errors: list[Exception] = []
    ana.on("error", errors.append)
    assert (await http.post("/logout")).json() == {"name": "ana"}
    await asyncio.wait_for(stopped.wait(), TIMEOUT)  # kicked, came back, refused, stopped
    assert [type(e) for e in errors] == [AuthError]


async def test_another_sites_page_cannot_ride_on_the_cookie(
    site: tuple[httpx.AsyncClient, str, list[Client]],
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    http, url, _ = site
    await http.post("/login", json={"name": "bob", "password": "battery staple"})
    cookie = {"Cookie": f"session={http.cookies['session']}"}
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="https://evil.example", additional_headers=cookie)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
