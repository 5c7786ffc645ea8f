"""A FastAPI app that signs people in with its own session cookie, and a
hotstate server on the same port that trusts that cookie.

``POST /login {"name", "password"}`` sets an HttpOnly ``session`` cookie. The
hotstate server is attached to the same app at ``/ws``, so the upgrade request
carries that cookie: ``authenticate`` finds the session from
``info.cookies["session"]`` and the person is ``ctx.user``. Each person has a
private ``Notes:<name>`` store (its ``access`` lets only the owner subscribe,
decided before the instance exists) and ``notes.add``; ``POST /logout`` ends
the session and disconnects that session's connections at once (they come
back, are refused by ``authenticate``, and stop).

Browsers send cookies with WebSocket upgrades to this host whatever page
opens them; the server's origin check (no ``allowed_origins``: same-origin
pages only) is what keeps another site's page from riding on the cookie, with
``SameSite=Strict`` as a second line.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel

from hotstate_rx import CallContext, ConnectInfo, RpcError, Server

USERS = {"ana": "correct horse", "bob": "battery staple"}
"""Demo accounts (a real app checks hashed passwords in its user store)."""
COOKIE = "session"


class Login(BaseModel):
    name: str
    password: str


def build_app(users: Mapping[str, str] = USERS) -> tuple[FastAPI, Server]:
    """The web app and its hotstate server, attached at ``/ws``, closed with the app."""
    sessions: dict[str, str] = {}
    """Session id (the cookie) -> the name of who signed in."""
    connected: dict[str, str] = {}
    """Client id -> its session, to disconnect a session's clients at logout."""

    def authenticate(info: ConnectInfo) -> dict[str, str] | None:
        session = info.cookies.get(COOKIE, "")
        name = sessions.get(session)
        return None if name is None else {"name": name, "session": session}

    server = Server(authenticate=authenticate)
    notes = server.create_store(
        "Notes:*", {"items": []}, access=lambda ctx, key: key == ctx.user["name"]
    )

    @server.handle("notes.add")
    def add(args: Any, ctx: CallContext) -> int:
        text = args.get("text") if isinstance(args, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise RpcError("notes.add: 'text' must be a non-empty string")
        owner = ctx.user["name"]
        notes.update(owner, lambda d: d["items"].append(text.strip()))
        return len(notes.get(owner)["items"])

    def on_connection(client_id: str) -> None:
        ctx = server.context(client_id)
        if ctx is not None:
            connected[client_id] = ctx.user["session"]

    server.on("connection", on_connection)
    server.on("disconnect", lambda client_id: connected.pop(client_id, None))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await server.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/login")
    def login(form: Login, response: Response) -> dict[str, str]:
        expected = users.get(form.name)
        if expected is None or not hmac.compare_digest(expected, form.password):
            raise HTTPException(status_code=401, detail="wrong name or password")
        session = secrets.token_urlsafe(32)
        sessions[session] = form.name
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict")
        return {"name": form.name}

    @app.post("/logout")
    def logout(request: Request, response: Response) -> dict[str, str | None]:
        session = request.cookies.get(COOKIE, "")
        name = sessions.pop(session, None)
        for client_id, owner in list(connected.items()):
            if owner == session:
                server.disconnect(client_id, reason="logged out")
        response.delete_cookie(COOKIE)
        return {"name": name}

    server.attach(app, path="/ws")
    return app, server
