"""A server with storage on real sockets and real SQLite files: restart, durable
results, failed writes, hibernation, bad files and bad clients."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest.mock import ANY

import msgpack
import pytest
from websockets.exceptions import ConnectionClosed

from hotstate_rx import CallContext, Server, StorageError
from hotstate_rx.protocol import (
    Call,
    ErrorMessage,
    PatchMessage,
    Ping,
    Pong,
    Result,
    ServerMessage,
    Snapshot,
    Subscribe,
    Unsubscribe,
)
from hotstate_rx.server.storage import Saved, SQLiteStorage

if TYPE_CHECKING:
    from conftest import Connect, RawClient

WAIT = 5.0

App = Callable[[Server], None]
Start = Callable[..., Awaitable[Server]]


def todo_app(created: list[str | None]) -> App:
    """Todos, rooms, and functions that change them; ``created`` logs on_create keys."""

    def build(server: Server) -> None:
        todos = server.create_store("Todos", {"items": []})
        todos.on_create(created.append)
        rooms = server.create_store("Room:*", {"messages": []})
        rooms.on_create(lambda key: created.append(key) or {"name": key})

        @server.handle("add")
        def add(args: Any) -> int:
            todos.update(lambda d: d["items"].append(args))
            return len(todos.get()["items"])

        @server.handle("say")
        def say(args: Any, ctx: CallContext) -> None:
            rooms.update(args["room"], lambda d: d["messages"].append(args["text"]))

    return build


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
async def start(db: Path) -> AsyncIterator[Start]:
    """``await start(app, **options)``: a server on ``db`` (unless ``storage=`` says
    otherwise), built by ``app``, listening on a free port; all closed at the end."""
    servers: list[Server] = []

    async def run(app: App, port: int = 0, **options: Any) -> Server:
        options.setdefault("storage", SQLiteStorage(db))
        server = Server(**options)
        servers.append(server)
        app(server)
        await server.listen(port=port, host="127.0.0.1")
        return server

    yield run
    for server in servers:
        await server.close()


def url(server: Server) -> str:
    return f"ws://127.0.0.1:{server.port}"


async def call(client: RawClient, id_: int, name: str, args: Any = None) -> Any:
    await client.send(Call(id_, name, args))
    [*_, result] = await client.recv_until(lambda m: isinstance(m, Result) and m.id == id_)
    assert isinstance(result, Result) and result.error is None, result
    return result.value


async def subscribe(client: RawClient, store: str) -> ServerMessage:
    await client.send(Subscribe(store))
    return await client.recv()


async def drain(client: RawClient) -> None:
    """Read and drop everything ``client`` receives."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in client.ws:
            pass


def row(db: Path, name: str) -> tuple[int, str] | None:
    """``(version, state JSON)`` of ``name`` as another process would read the file."""
    with sqlite3.connect(db) as conn:
        found = conn.execute(
            "SELECT version, state FROM hotstate_instances WHERE name = ?", (name,)
        ).fetchone()
    return None if found is None else (found[0], found[1])


# -- restart -------------------------------------------------------------------------


async def test_a_restart_with_the_same_file_restores_states_and_versions(
    start: Start, raw_connect: Connect
) -> None:
    created: list[str | None] = []
    first = await start(todo_app(created))
    client = await raw_connect(url(first))
    assert [await call(client, i, "add", f"todo {i}") for i in range(3)] == [1, 2, 3]
    await call(client, 9, "say", {"room": "general", "text": "hi"})
    room = await subscribe(client, "Room:general")
    assert room == Snapshot("Room:general", 2, {"messages": ["hi"], "name": "general"}, ANY)
    await first.close()

    second = await start(todo_app(created), port=first.port or 0)
    assert second.epoch == first.epoch  # closed cleanly: the same history goes on
    assert sorted(second.list_stores()) == ["Room:general", "Todos"]
    again = await raw_connect(url(second))
    todos = Snapshot("Todos", 4, {"items": ["todo 0", "todo 1", "todo 2"]}, ANY)
    assert await subscribe(again, "Todos") == todos
    assert await subscribe(again, "Room:general") == room
    assert created == [None, "general"]  # on_create ran once, before the restart
    await again.send(Call(1, "add", "todo 3"))
    assert await again.recv() == PatchMessage(
        "Todos", 5, [{"op": "add", "path": "/items/-", "value": "todo 3"}], cause=ANY
    )
    assert await again.recv() == Result(1, 4)


# -- durable results -------------------------------------------------------------------------


class Gated(SQLiteStorage):
    """Writes wait while ``gate`` is closed; ``waiting`` tells that one does."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        if not self.gate.is_set():
            self.waiting.set()
            self.gate.wait(WAIT)
        super().write(saved, deleted)


async def test_a_result_leaves_only_once_its_change_is_committed(
    start: Start, raw_connect: Connect, db: Path
) -> None:
    storage = Gated(db)
    server = await start(todo_app([]), storage=storage)
    caller, watcher = await raw_connect(url(server)), await raw_connect(url(server))
    assert await call(caller, 1, "add", "bread") == 1  # answered: everything so far is on disk
    assert await subscribe(watcher, "Todos") == Snapshot("Todos", 2, {"items": ["bread"]}, ANY)
    storage.gate.clear()
    await caller.send(Call(2, "add", "milk"))
    assert await watcher.recv() == PatchMessage(  # the change went out at once...
        "Todos", 3, [{"op": "add", "path": "/items/-", "value": "milk"}], cause=ANY
    )
    assert await asyncio.to_thread(storage.waiting.wait, WAIT)
    await caller.send(Ping())  # ...its result did not: the pong overtakes it
    assert await caller.recv(answer_pings=False) == Pong()
    assert row(db, "Todos") == (2, '{"items":["bread"]}')
    storage.gate.set()
    assert await caller.recv() == Result(2, 2)
    assert row(db, "Todos") == (3, '{"items":["bread","milk"]}')  # on disk before the result


class Failing(SQLiteStorage):
    """Fails its next ``failures`` writes, as a full disk would."""

    failures = 0

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("No space left on device")
        super().write(saved, deleted)


async def test_a_failed_write_is_reported_and_the_result_waits_for_the_retry(
    start: Start, raw_connect: Connect, db: Path
) -> None:
    storage = Failing(db)
    server = await start(todo_app([]), storage=storage)
    errors: list[Any] = []
    server.on("error", lambda error, client_id: errors.append((error, client_id)))
    client = await raw_connect(url(server))
    await call(client, 1, "add", "milk")
    storage.failures = 2
    assert await call(client, 2, "add", "eggs") == 2
    assert [(type(e), cid) for e, cid in errors] == [(StorageError, None)] * 2
    assert f"SQLiteStorage('{db}')" in str(errors[0][0])
    assert "No space left on device" in str(errors[0][0])
    assert row(db, "Todos") == (3, '{"items":["milk","eggs"]}')


# -- hibernation ---------------------------------------------------------------------------


async def test_an_idle_room_hibernates_and_comes_back_without_on_create(
    start: Start, raw_connect: Connect
) -> None:
    created: list[str | None] = []
    server = await start(todo_app(created), hibernate_after=0.05)
    hibernated: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server.on("store_hibernated", hibernated.set_result)
    client = await raw_connect(url(server))
    await subscribe(client, "Room:a")
    await call(client, 1, "say", {"room": "a", "text": "hi"})
    await client.send(Unsubscribe("Room:a"))
    assert await asyncio.wait_for(hibernated, WAIT) == "Room:a"
    assert "Room:a" in server.list_stores()
    snap = await subscribe(client, "Room:a")
    assert snap == Snapshot("Room:a", 2, {"messages": ["hi"], "name": "a"}, ANY)
    assert created == ["a"]


# -- bad files, bad options ---------------------------------------------------------------


def test_a_corrupt_file_fails_the_server_at_start_naming_the_file(db: Path) -> None:
    db.write_bytes(b"definitely not SQLite " * 200)
    with pytest.raises(StorageError, match=f"cannot open storage {db}: file is not a database"):
        Server(storage=f"sqlite://{db}")


async def test_a_second_server_on_the_same_file_is_refused(start: Start, db: Path) -> None:
    await start(todo_app([]))
    with pytest.raises(StorageError, match=f"storage {db} is in use by another server"):
        Server(storage=f"sqlite://{db}")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"storage": "redis://localhost"}, ValueError),
        ({"storage": 42}, TypeError),
        ({"storage": None, "hibernate_after": 0}, ValueError),
        ({"storage": None, "hibernate_after": float("inf")}, ValueError),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], error: type[Exception]) -> None:
    name = next(iter(k for k in options if options[k] is not None))
    with pytest.raises(error, match=name):
        Server(**options)


async def test_after_close_the_stores_refuse_changes_and_close_again_is_harmless(
    start: Start,
) -> None:
    server = await start(todo_app([]))
    todos = server.stores["Todos"]
    todos.update(lambda d: d["items"].append("milk"))
    await server.close()
    await server.close()
    with pytest.raises(StorageError, match=r"closed.*'Todos'"):
        todos.update(lambda d: d["items"].append("eggs"))
    assert todos.get() == {"items": ["milk"]}


# -- bad clients, beside a healthy one -------------------------------------------------------


async def test_a_bad_row_fails_its_subscription_only(
    start: Start, raw_connect: Connect, db: Path
) -> None:
    server = await start(todo_app([]))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO hotstate_instances (name, version, initialized, state)"
            " VALUES ('Room:bad', 3, 1, '{oops')"
        )
    errors: list[Any] = []
    server.on("error", lambda error, client_id: errors.append(error))
    client = await raw_connect(url(server))
    reply = await subscribe(client, "Room:bad")
    assert isinstance(reply, ErrorMessage) and reply.code == "subscribe"
    assert reply.message.startswith("cannot serve 'Room:bad': internal error (ref ")
    [error] = errors  # the server's side has the whole story; the client not the file's path
    assert isinstance(error, StorageError) and "the row of 'Room:bad' is not JSON" in str(error)
    good = await subscribe(client, "Room:good")
    assert good == Snapshot("Room:good", 1, {"messages": [], "name": "good"}, ANY)


async def test_a_client_churning_rooms_and_sending_junk_leaves_a_healthy_client_durable(
    start: Start, raw_connect: Connect, db: Path
) -> None:
    """The abuser makes the server create and save hundreds of rooms, each
    released (and removed from storage) as its only subscriber leaves, and
    sends frames that do not decode (bytes where JSON belongs); the healthy
    client's acknowledged changes are all on disk."""
    rooms = 300
    server = await start(todo_app([]), hibernate_after=0.05)
    all_released = asyncio.Event()
    released: set[str] = set()

    def count(name: str) -> None:
        if name.startswith("Room:junk"):
            released.add(name)
        if len(released) == rooms:
            all_released.set()

    server.on("store_deleted", count)
    abuser, healthy = await raw_connect(url(server)), await raw_connect(url(server))

    async def abuse() -> None:
        for i in range(rooms):
            await abuser.send(Subscribe(f"Room:junk{i}"))
            await abuser.send(Unsubscribe(f"Room:junk{i}"))
            if i % 40 == 0:  # 8 bad frames: under the budget (10) that closes 1008
                junk = {"t": "rpc", "i": i, "n": "say", "a": {"room": "x", "text": b"\x00"}}
                await abuser.send_raw(msgpack.packb(junk))

    async def work() -> list[int]:
        return [await call(healthy, i, "add", i) for i in range(50)]

    reader = asyncio.create_task(drain(abuser))  # unread frames would stall its socket
    _, acked = await asyncio.gather(abuse(), work())
    assert acked == list(range(1, 51))
    await asyncio.wait_for(all_released.wait(), WAIT)
    stores = server.list_stores()
    assert "Room:x" not in stores  # the junk call never ran
    assert not [name for name in stores if name.startswith("Room:junk")]
    await server.close()
    await reader
    state = row(db, "Todos")
    assert state is not None and state[0] == 51
    assert state[1] == "{" + f'"items":[{",".join(map(str, range(50)))}]' + "}"
