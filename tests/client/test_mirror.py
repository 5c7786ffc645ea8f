"""``StoreMirror``: the ``{name: state}`` a UI binding shows, and the handles it owns.

First the rules, fed by hand through a fake client whose handles are Subjects
(no loop, no socket); then the mirror on a real client against a real server
on 127.0.0.1, its streams bound the simplest way (subscribing on the client's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from client_helpers import TIMEOUT, Recorder, ServeClient
from reactivex import Observable
from reactivex.subject import Subject

from hotstate_rx import Server
from hotstate_rx.client import Client
from hotstate_rx.client.mirror import StoreMirror
from hotstate_rx.frozen import FrozenDict, freeze


class FakeHandle(Subject[Any]):
    """What the mirror uses of a ``SubscriptionHandle``: an Observable of states,
    ``active`` and ``release()``, which ends it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.active = True

    def end(self) -> None:
        self.active = False
        self.on_completed()

    release = end


class FakeClient:
    def __init__(self) -> None:
        self.stores: Subject[Any] = Subject()
        self.handles: list[FakeHandle] = []

    def subscribe(self, name: str) -> FakeHandle:
        handle = FakeHandle(name)
        self.handles.append(handle)
        return handle


def bind_directly(
    source: Observable[Any],
    on_value: Callable[[Any], None],
    on_completed: Callable[[], None] | None,
    label: str,
) -> None:
    """A ``BindObservable`` that subscribes to ``source``: values come on the
    thread that emits (the test's loop)."""
    source.subscribe(on_next=on_value, on_completed=on_completed)


class Fixture:
    """A mirror over a fake client; ``shown`` lists every mapping it reported,
    ``bound`` the labels of the streams it asked to bind."""

    def __init__(self) -> None:
        self.client = FakeClient()
        self.shown: list[FrozenDict] = []
        self.bound: list[str] = []
        self.mirror = StoreMirror(
            self.client,  # type: ignore[arg-type]
            self.shown.append,
            bind_observable=self.bind_observable,
        )

    def bind_observable(
        self,
        source: Observable[Any],
        on_value: Callable[[Any], None],
        on_completed: Callable[[], None] | None,
        label: str,
    ) -> None:
        self.bound.append(label)
        bind_directly(source, on_value, on_completed, label)


TODOS = freeze({"items": []})
CONFIG = freeze({"theme": "dark"})


# ------------------------------------------------- start: bind_client(stores=...)


def test_start_follows_for_none_and_subscribes_names_otherwise() -> None:
    follower, named, bare = Fixture(), Fixture(), Fixture()
    follower.mirror.start(None)
    named.mirror.start(["Todos", "Config"])
    bare.mirror.start(())
    assert (follower.mirror.following, follower.bound) == (True, ["stores"])
    assert (named.mirror.following, named.bound) == (False, ["store Todos", "store Config"])
    assert (bare.mirror.following, bare.bound, bare.client.handles) == (False, [], [])


# -------------------------------------------------------------- explicit stores


def test_a_store_appears_with_its_first_state_and_unchanged_entries_are_shared() -> None:
    f = Fixture()
    todos = f.mirror.subscribe("Todos")
    config = f.mirror.subscribe("Config")
    assert f.bound == ["store Todos", "store Config"]
    assert f.mirror.stores == {} and f.shown == []  # nothing until a first state

    todos.on_next(TODOS)
    config.on_next(CONFIG)
    more = freeze({"items": ["milk"]})
    todos.on_next(more)

    assert f.shown == [
        {"Todos": TODOS},
        {"Todos": TODOS, "Config": CONFIG},
        {"Todos": more, "Config": CONFIG},
    ]
    assert all(type(stores) is FrozenDict for stores in f.shown)
    assert f.shown[2]["Config"] is f.shown[1]["Config"] is CONFIG
    assert f.shown[2]["Todos"] is more
    assert f.shown[1] == {"Todos": TODOS, "Config": CONFIG}  # an old mapping never changes
    assert f.mirror.stores is f.shown[-1]


def test_the_same_state_again_reports_nothing() -> None:
    f = Fixture()
    todos = f.mirror.subscribe("Todos")
    todos.on_next(TODOS)
    todos.on_next(TODOS)
    assert f.shown == [{"Todos": TODOS}]


def test_one_handle_per_name() -> None:
    f = Fixture()
    assert f.mirror.subscribe("Todos") is f.mirror.subscribe("Todos")
    assert len(f.client.handles) == 1
    assert f.bound == ["store Todos"]
    assert not f.mirror.following


def test_an_ended_handle_takes_its_store_away_and_a_new_subscribe_takes_a_new_handle() -> None:
    f = Fixture()
    todos = f.mirror.subscribe("Todos")
    config = f.mirror.subscribe("Config")
    todos.on_next(TODOS)
    config.on_next(CONFIG)
    todos.end()  # deleted on the server, say
    assert f.shown[-1] == {"Config": CONFIG}
    assert f.shown[-1]["Config"] is CONFIG

    again = f.mirror.subscribe("Todos")
    assert again is not todos and again.active
    assert f.bound == ["store Todos", "store Config", "store Todos"]
    again.on_next(TODOS)
    assert f.shown[-1] == {"Config": CONFIG, "Todos": TODOS}


def test_a_handle_that_ends_before_any_state_changes_nothing_shown() -> None:
    f = Fixture()
    f.mirror.subscribe("Nope").end()  # refused by the server
    assert f.shown == []
    assert f.mirror.subscribe("Nope") is f.client.handles[-1]
    assert len(f.client.handles) == 2


def test_release_releases_every_handle_and_forgets_them() -> None:
    f = Fixture()
    todos = f.mirror.subscribe("Todos")
    config = f.mirror.subscribe("Config")
    todos.on_next(TODOS)
    f.mirror.release()
    assert not todos.active and not config.active
    assert f.mirror.subscribe("Todos") is not todos
    f.mirror.release()
    assert [h.active for h in f.client.handles] == [False, False, False]


# -------------------------------------------------------------------- following


def test_following_shows_the_clients_mappings_as_they_are() -> None:
    f = Fixture()
    f.mirror.follow()
    assert f.mirror.following
    assert f.bound == ["stores"]
    first = freeze({"Todos": TODOS})
    f.client.stores.on_next(first)
    f.client.stores.on_next(first)  # the same mapping again: nothing to report
    second = freeze({"Todos": TODOS, "Config": CONFIG})
    f.client.stores.on_next(second)
    assert f.shown == [first, second]
    assert f.shown[0] is first and f.shown[1] is second
    assert f.mirror.stores is second


def test_following_handles_only_keep_stores_subscribed_and_an_ended_one_is_replaced() -> None:
    f = Fixture()
    f.mirror.follow()
    todos = f.mirror.subscribe("Todos")
    assert f.mirror.subscribe("Todos") is todos
    assert f.bound == ["stores"]  # the client's stores show it; the handle is not bound
    todos.on_next(TODOS)
    assert f.shown == []
    todos.end()  # the store was deleted
    replacement = f.mirror.subscribe("Todos")
    assert replacement is not todos and replacement.active
    f.mirror.release()
    assert not replacement.active


# ------------------------------------------------------------ the real thing


async def eventually(condition: Callable[[], bool]) -> None:
    """Poll a server-side counter (no event tells when the server saw an unsubscribe)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.01)


def mirror_of(client: Client) -> tuple[StoreMirror, Recorder]:
    """A mirror over a real client, its streams bound directly; and what it showed."""
    shown = Recorder()
    return StoreMirror(client, shown, bind_observable=bind_directly), shown


def todos_and_config(server: Server) -> None:
    server.create_store("Todos", {"items": []})
    server.create_store("Config", {"theme": "dark"})
    server.create_store("Other:*", {})


async def test_explicit_stores_follow_the_server_and_leave_when_deleted(
    serve_client: ServeClient,
) -> None:
    server, client = await serve_client(todos_and_config)
    mirror, shown = mirror_of(client)
    todos = mirror.subscribe("Todos")
    mirror.subscribe("Config")
    await shown.until(lambda v: len(v) > 0 and set(v[-1]) == {"Todos", "Config"})
    other = client.subscribe("Other:x")  # the client's, not the mirror's
    assert set(mirror.stores) == {"Todos", "Config"}

    server.stores["Todos"].update(lambda d: d["items"].append("milk"))
    await shown.until(lambda v: v[-1]["Todos"]["items"] == ["milk"])
    last, previous = shown.values[-1], shown.values[-2]
    assert last["Config"] is previous["Config"]
    assert last["Todos"] is todos.get_state()

    server.delete_store("Todos")
    await shown.until(lambda v: list(v[-1]) == ["Config"])
    assert not todos.active
    again = mirror.subscribe("Todos")  # the instance is made anew, with its defaults
    assert again is not todos
    await shown.until(lambda v: v[-1] == {"Config": {"theme": "dark"}, "Todos": {"items": []}})

    mirror.release()
    assert not again.active
    assert client.subscriptions() == ["Other:x"]
    other.release()
    await eventually(lambda: server.stores["Config"].subscriber_count() == 0)


async def test_following_shows_what_the_client_shows_and_releases_its_handles(
    serve_client: ServeClient,
) -> None:
    _, client = await serve_client(todos_and_config)
    mirror, shown = mirror_of(client)
    mirror.follow()
    assert shown.values == [{}]  # the client's current mapping first
    config = client.subscribe("Config")  # anyone's subscription shows
    todos = mirror.subscribe("Todos")
    await shown.until(lambda v: set(v[-1]) == {"Config", "Todos"})
    assert mirror.stores is client.stores.value

    mirror.release()
    assert not todos.active
    await shown.until(lambda v: list(v[-1]) == ["Config"])
    config.release()
    await shown.until(lambda v: v[-1] == {})
    assert client.subscriptions() == []
