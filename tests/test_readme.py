"""The README's Python examples run as written: the one README harness.

README.md carries the examples of the original JavaScript README, translated,
so running README.md's blocks runs those too.

Every ``python`` block of README.md is compiled; the runnable ones are
executed against real sockets. The only edits the harness makes are the ones
a test must: ``server.run(port=4400)`` becomes ``listen(port=0)``, the URL
points at that port, ``asyncio.run(main())`` becomes a task of the test's loop,
and ``print`` is recorded so the test can wait for what a reader would see.
"""

from __future__ import annotations

import ast
import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from reactivex import operators as ops

from hotstate_rx import Server
from hotstate_rx.client import Client

if TYPE_CHECKING:
    from conftest import Certificates
    from redis_server import RedisServer

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
RUN = "server.run(port=4400)"
URL = "ws://localhost:4400"
REALISTIC = "## A realistic example: collaborative todos with rooms"


def block(first_line: str, nth: int = 0) -> str:
    """The nth python block whose first line is ``first_line``."""
    found = [b for b in BLOCKS if b.splitlines()[0] == first_line]
    assert len(found) > nth, f"README has no python block starting with {first_line!r}"
    return found[nth]


def section(heading: str) -> list[str]:
    """The python blocks under the Markdown heading ``heading`` (up to the next
    heading outside a code fence), in order."""
    blocks: list[str] = []
    inside, fence, current = False, None, []
    for line in README.splitlines():
        if fence is None and line.startswith("#"):
            if inside:
                break
            inside = line == heading
        elif line.startswith("```"):
            if fence is None:
                fence, current = line, []
            else:
                if inside and fence == "```python":
                    blocks.append("\n".join(current) + "\n")
                fence = None
        elif fence is not None:
            current.append(line)
    assert blocks, f"README has no python block under {heading!r}"
    return blocks


class Printed:
    """Stands in for ``print``: records lines and wakes waiters on the loop."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()

    def __call__(self, *args: Any, **_: Any) -> None:
        self.lines.append(" ".join(map(str, args)))
        self._loop.call_soon_threadsafe(self._changed.set)

    async def wait_for(self, match: Callable[[str], bool], timeout: float = 10.0) -> str:
        async def first() -> str:
            while True:
                for line in self.lines:
                    if match(line):
                        return line
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            raise AssertionError(f"never printed; printed so far: {self.lines}") from None


def run(code: str, namespace: dict[str, Any], name: str) -> Any:
    """Execute a README block; top-level ``await`` returns a coroutine to await."""
    compiled = compile(code, f"README:{name}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return eval(compiled, namespace)


@pytest.fixture
async def printed() -> Printed:
    return Printed()


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[str, Printed], Any]]:
    started: list[Server] = []

    async def start(code: str, printed: Printed) -> dict[str, Any]:
        assert RUN in code, "a server example ends with server.run(port=4400)"
        namespace: dict[str, Any] = {"print": printed, "__name__": "readme_server"}
        run(code.replace(RUN, ""), namespace, "server")
        server: Server = namespace["server"]
        started.append(server)
        await server.listen(port=0, host="127.0.0.1")
        namespace["url"] = f"ws://127.0.0.1:{server.port}"
        return namespace

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def mains() -> AsyncIterator[Callable[[str, str, Printed], asyncio.Task[Any]]]:
    tasks: list[asyncio.Task[Any]] = []

    def start(code: str, url: str, printed: Printed) -> asyncio.Task[Any]:
        assert "asyncio.run(main())" in code and URL in code
        namespace: dict[str, Any] = {"print": printed, "__name__": "readme_client"}
        run(code.replace(URL, url).replace("asyncio.run(main())", ""), namespace, "client")
        task = asyncio.create_task(namespace["main"]())
        tasks.append(task)
        return task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_python_block_compiles(index: int) -> None:
    compile(BLOCKS[index], f"README block {index}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def test_quick_example_stores(servers: Any, mains: Any, printed: Printed) -> None:
    server_code, client_code = section("### Stores")
    ns = await servers(server_code, printed)
    await asyncio.wait_for(mains(client_code, ns["url"], printed), 10)
    item = {"id": 1, "text": "Buy milk", "done": False}
    assert printed.lines == [f"Todos changed: { ({'items': [item]}) }", str({"items": [item]})]


def test_drafts_example_prints_its_patches() -> None:
    printed: list[str] = []
    record = {"print": lambda *args: printed.append(" ".join(map(str, args)))}
    run(section("### Drafts and patches (pure, no I/O)")[0], record, "drafts")
    assert printed == [
        str(
            [
                {"op": "replace", "path": "/items/0/done", "value": True},
                {
                    "op": "add",
                    "path": "/items/-",
                    "value": {"id": 2, "text": "Ship it", "done": False},
                },
            ]
        )
    ]


async def test_quick_example_functions_and_events(servers: Any, printed: Printed) -> None:
    ns = await servers(section("### Stores")[0], printed)
    run(block("# server", 0), ns, "functions server")
    async with Client(ns["url"]) as client:
        client_ns = {"client": client, "print": printed}
        await run(block("# client", 0), client_ns, "functions client")
        assert isinstance(client_ns["result"]["id"], int)
        assert [t["text"] for t in ns["todos"].get()["items"]] == ["Buy milk", "Buy milk"]

        run(block("# client", 1), client_ns, "events client")
        alert: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        client.on("alert", lambda data: alert.done() or alert.set_result(data))
        await client.ready()
        run(
            block("# server: broadcast to all, or to one client"),
            {**ns, "client_id": client.client_id},
            "events server",
        )
        assert await printed.wait_for(lambda line: line == "Deployed")
        assert await asyncio.wait_for(alert, 5) == {"message": "Your build finished"}


async def test_realistic_example(servers: Any, mains: Any, printed: Printed) -> None:
    server_code, client_code = section(REALISTIC)[:2]
    ns = await servers(server_code, printed)
    mains(client_code, ns["url"], printed)
    await printed.wait_for(lambda line: line.startswith("todos:") and "Ship it" in line)
    await printed.wait_for(lambda line: line.startswith("chat:") and "Hello!" in line)
    async with Client(ns["url"]) as other:
        await other.ready()
        await printed.wait_for(lambda line: line == f"{other.client_id} joined")
        await other.call("todos.toggle", {"id": 1})
        await printed.wait_for(lambda line: "'done': True" in line)


async def test_realistic_example_rooms_live_while_someone_is_in_them(
    servers: Any, printed: Printed
) -> None:
    ns = await servers(section(REALISTIC)[0], printed)
    rooms = ns["rooms"]
    reset: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    async with Client(ns["url"]) as client:
        room = client.subscribe("Room:general")
        await room.ready()
        assert room.get_state() == {"messages": [], "users": [], "name": "general"}  # on_create
        await client.call("room.send", {"room": "general", "text": "Hello!"})
        [message] = room.get_state()["messages"]  # the patch came before the result
        assert (message["from"], message["text"]) == (client.client_id, "Hello!")

        def on_state(state: Any) -> None:
            if not state["messages"] and not reset.done():
                reset.set_result(state)

        rooms.observe("general").subscribe(on_state)
    # the last subscriber left: on_idle reset the room to the raw defaults
    assert await asyncio.wait_for(reset, 5) == {"messages": [], "users": []}
    assert rooms.has("general") and not rooms.is_initialized("general")


async def test_optimistic_example(servers: Any, printed: Printed) -> None:
    ns = await servers(section(REALISTIC)[0], printed)
    async with Client(ns["url"]) as client:
        example: dict[str, Any] = {"client": client}
        await run(section("### Optimistic updates")[0], example, "optimistic")
        # the server's patch arrived before the result: the temporary item is gone
        assert example["todos"].get_state()["items"] == [{"id": 1, "text": "New", "done": False}]
        assert example["todos"].get_server_state() == example["todos"].get_state()


async def test_rx_examples(servers: Any, mains: Any, printed: Printed) -> None:
    server_code, client_code = (
        section("### Server: compose two stores into a third, feed a store from a sensor")[0],
        section("### Client: streams piped through operators")[0],
    )
    ns = await servers(server_code, printed)
    mains(client_code, ns["url"], printed)
    await printed.wait_for(lambda line: line == "status: connected")
    await printed.wait_for(lambda line: line == "open todos: 0")
    with ns["todos"].mutate() as draft:
        draft["items"].append({"id": 1, "text": "Write docs", "done": False})
    await printed.wait_for(lambda line: line == "open todos: 1")
    await printed.wait_for(lambda line: line.startswith("Todos [{'op': 'add'"))
    # the sensor feed runs on interval's thread and still reaches the store
    await printed.wait_for(lambda line: line.startswith("Sensor [{'op': 'replace'"), timeout=5)


async def test_security_example(servers: Any, mains: Any, printed: Printed) -> None:
    server_code, client_code = section("### Authenticate with a token, authorize with `access`")
    ns = await servers(server_code, printed)
    await asyncio.wait_for(mains(client_code, ns["url"], printed), 10)
    assert printed.lines == [
        str({"messages": [["ana", "hi"]]}),
        "bob: forbidden",
        "bob: forbidden",
        "intruder: bad token",
    ]
    assert ns["server"].list_stores() == ["Config", "Room:general"]  # bob created nothing


async def test_storage_example_finds_its_todos_after_a_restart(
    servers: Any, printed: Printed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the example's "sqlite:todos.db" is relative
    code = section("## Storage: stores that survive a restart")[0]
    first = await servers(code, printed)
    async with Client(first["url"]) as client:
        assert await client.call("todos.add", {"text": "Buy milk"}) == {"count": 1}
        assert await client.call("todos.add", {"text": "Ship it"}) == {"count": 2}
    await first["server"].close()
    await servers(code, printed)
    assert printed.lines == [
        "version 0 {'items': []}",
        "version 3 {'items': ['Buy milk', 'Ship it']}",
    ]


async def test_tls_examples(certificates: Certificates, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's block serves wss:// from cert.pem and key.pem, and the
    client's, trusting ca.pem, calls it (the files of the README, in a
    directory of their own)."""
    server_code, client_code = section("### TLS: `wss://`")
    monkeypatch.chdir(certificates.cafile.parent)
    assert {p.name for p in certificates.cafile.parent.iterdir()} >= {"cert.pem", "key.pem"}
    server = Server()
    server.handle("echo", lambda args: args)
    try:
        listen = "await server.listen(port=0, host='127.0.0.1', "
        await run(server_code.replace("server.run(port=4400, ", listen), {"server": server}, "tls")
        url = f"wss://127.0.0.1:{server.port}"
        namespace: dict[str, Any] = {}
        run(client_code.replace("wss://localhost:4400", url), namespace, "tls client")
        client: Client = namespace["client"]
        try:
            assert await asyncio.wait_for(client.call("echo", "over TLS"), 10) == "over TLS"
        finally:
            await client.close()
    finally:
        await server.close()


async def test_fastapi_example(serve_app: Any) -> None:
    """The FastAPI block under a real uvicorn: a POST reaches a subscribed client."""
    import httpx

    namespace: dict[str, Any] = {"__name__": "readme_fastapi"}
    run(section("### On FastAPI (or any Starlette app): `attach`")[0], namespace, "fastapi")
    port = await serve_app(namespace["app"])
    async with Client(f"ws://127.0.0.1:{port}/ws", reconnect=False) as client:
        todos = client.subscribe("Todos")
        await todos.ready()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            response = await http.post("/todos", params={"text": "Buy milk"})
        assert response.json() == {"count": 1}
        item = {"text": "Buy milk", "done": False}
        seen = await asyncio.wait_for(
            todos.pipe(ops.filter(lambda s: bool(s["items"])), ops.first()), 5
        )
        assert seen == {"items": [item]}


async def test_cluster_example_two_nodes_share_the_todos(
    servers: Any, printed: Printed, shared_redis: RedisServer
) -> None:
    """The cluster's node block run twice on the run's redis-server: a todo added
    through one node is on the other, and each node counts both; the client
    block's URLs point at the two nodes."""
    node, client_block = section("## Cluster: several servers, one truth, on Redis")
    code = node.replace("redis://127.0.0.1:6379/0", shared_redis.url)
    one, two = [await servers(code, printed) for _ in range(2)]
    client_block = client_block.replace("ws://node1:4400", one["url"])
    namespace: dict[str, Any] = {"__name__": "readme_cluster_client"}
    run(client_block.replace("ws://node2:4400", two["url"]), namespace, "cluster client")
    async with namespace["client"] as first, Client(two["url"]) as second:
        assert await first.call("todos.add", {"text": "Buy milk"}) == {"count": 1}
        assert await second.call("todos.add", {"text": "Ship it"}) == {"count": 2}
        todos = first.subscribe("Todos")
        await asyncio.wait_for(todos.ready(), 10)
        assert todos.get_state() == {"items": ["Buy milk", "Ship it"]}
        assert first.url == one["url"]


async def test_failover_example(printed: Printed) -> None:
    """The failover block with two real servers for its two nodes: node1 stops,
    the client goes on on node2 (a fresh session: they share nothing) and
    shows node2's todos."""
    [code] = section("### Several servers: failover")
    nodes: list[Server] = []
    urls = []
    for todo in ("from node1", "from node2"):
        server = Server()
        server.create_store("Todos", {"items": [todo]})
        await server.listen(port=0, host="127.0.0.1")
        nodes.append(server)
        urls.append(f"ws://127.0.0.1:{server.port}")
    code = code.replace("ws://node1:4400", urls[0]).replace("ws://node2:4400", urls[1])
    namespace: dict[str, Any] = {"print": printed, "__name__": "readme_failover"}
    run(code.replace("asyncio.run(main())", ""), namespace, "failover")
    task = asyncio.create_task(namespace["main"]())
    try:
        await printed.wait_for(lambda line: line == f"on {urls[0]}, session resumed: False")
        await printed.wait_for(lambda line: "from node1" in line)
        await nodes[0].close()
        await printed.wait_for(lambda line: line == f"on {urls[1]}, session resumed: False")
        await printed.wait_for(lambda line: "from node2" in line)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for server in nodes:
            await server.close()
    # Cancelled, the block's `async with` closed its client: nothing is left running.
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("hotstate client")]
