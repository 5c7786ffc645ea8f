"""Stores without a loop or socket: names, handles, lifecycle, versions, watch, observe."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from unittest.mock import ANY

import pytest

from hotstate_rx import ALL, Change, Hotstate, Removed
from hotstate_rx.server.handle import StoreHandle
from hotstate_rx.server.store import StoreRegistry, parse_store_name


@pytest.fixture
def reg() -> StoreRegistry:
    return StoreRegistry()


def create_store(reg: StoreRegistry, name: str, data: object) -> StoreHandle:
    """What ``Server.create_store`` does, without a server."""
    return StoreHandle(reg, reg.define(name, data))


# -- names and registration ---------------------------------------------------


@pytest.mark.parametrize(("name", "prefix"), [("Todos", None), ("Room:*", "Room"), ("a:b", None)])
def test_valid_names(name: str, prefix: str | None) -> None:
    assert parse_store_name(name) == prefix


@pytest.mark.parametrize(
    "name", ["", " Todos", "To dos", "Todos\n", "*", "Room*", "Room:*x", "Room:a*", ":*", "A*:*"]
)
def test_malformed_names_raise_value_error(reg: StoreRegistry, name: str) -> None:
    with pytest.raises(ValueError, match="malformed store name"):
        create_store(reg, name, {})


def test_non_str_name_raises_type_error(reg: StoreRegistry) -> None:
    with pytest.raises(TypeError, match="must be a str"):
        create_store(reg, 42, {})  # type: ignore[arg-type]


def test_duplicate_and_clashing_names(reg: StoreRegistry) -> None:
    create_store(reg, "Todos", {})
    create_store(reg, "Room:*", {})
    with pytest.raises(ValueError, match="already registered"):
        create_store(reg, "Todos", {})
    with pytest.raises(ValueError, match="clashes"):
        create_store(reg, "Room:lobby", {})


def test_non_json_data_raises_type_error_naming_the_path(reg: StoreRegistry) -> None:
    with pytest.raises(TypeError, match="items"):
        create_store(reg, "Todos", {"items": [1, {2, 3}]})
    assert reg.resolve("Todos") is None


def test_resolve(reg: StoreRegistry) -> None:
    todos = create_store(reg, "Todos", {})
    rooms = create_store(reg, "Room:*", {})
    assert reg.resolve("Todos") == (todos.definition, None)
    assert reg.resolve("Room:a:b") == (rooms.definition, "a:b")
    assert reg.resolve("Room:") is None
    assert reg.resolve("Nope") is None


# -- handles ----------------------------------------------------------------------


def test_static_handle_methods(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"items": []})
    assert h.has() and not h.is_initialized()
    h.update(lambda d: d["items"].append(1))
    assert h.is_initialized() and h.get() == {"items": [1]}
    with h.mutate() as d:
        d["items"].append(2)
    h.set({"items": [], "n": 1})
    assert h.get() == {"items": [], "n": 1}
    assert h.subscriber_count() == 0


def test_dynamic_handle_needs_key_and_static_refuses_one(reg: StoreRegistry) -> None:
    todos = create_store(reg, "Todos", {})
    rooms = create_store(reg, "Room:*", {})
    with pytest.raises(TypeError, match=r"dynamic store: call update\(key, recipe\)"):
        rooms.update(lambda d: None)
    with pytest.raises(TypeError, match=r"static store: call get\(\)"):
        todos.get("k")
    with pytest.raises(TypeError, match="non-empty str key"):
        rooms.get("")
    with pytest.raises(TypeError, match="non-empty str key"):
        rooms.set(3, {})


def test_dynamic_instances_are_independent_and_lazy(reg: StoreRegistry) -> None:
    rooms = create_store(reg, "Room:*", {"messages": []})
    assert rooms.get("a") is None and not rooms.has("a")
    rooms.update("a", lambda d: d["messages"].append("hi"))
    assert rooms.get("a") == {"messages": ["hi"]}
    assert rooms.get("b") is None
    rooms.init("b")
    assert rooms.get("b") == {"messages": []}
    assert sorted(reg.names()) == ["Room:a", "Room:b"]


def test_state_is_frozen_and_shared_safely(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"items": [{"done": False}]})
    h.init()
    state = h.get()
    with pytest.raises(TypeError):
        state["items"].append(1)
    with pytest.raises(TypeError):
        state["items"][0]["done"] = True
    assert h.get() == {"items": [{"done": False}]}


def test_mutate_discards_on_exception(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"n": 0})
    h.init()
    version = h.version()
    with pytest.raises(RuntimeError, match="boom"), h.mutate() as d:
        d["n"] = 1
        raise RuntimeError("boom")
    assert h.get() == {"n": 0} and h.version() == version


def test_non_json_mutation_raises_and_changes_nothing(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"n": 0})
    with pytest.raises(TypeError):
        h.set({"n": object()})
    with pytest.raises(TypeError):
        h.update(lambda d: d.__setitem__("n", {1, 2}))
    assert h.get() == {"n": 0}


def test_versions_grow_by_one_per_change(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"n": 0})
    assert h.version() == 0
    h.init()
    assert h.version() == 1
    h.update(lambda d: d.__setitem__("n", 1))
    h.update(lambda d: None)  # no change, no version
    h.set({"n": 2})
    assert h.version() == 3


# -- lifecycle ----------------------------------------------------------------------


def test_lifecycle_create_reset_create_again(reg: StoreRegistry) -> None:
    calls: list[tuple[str, str | None]] = []
    h = create_store(reg, "Config", {"theme": "dark", "n": 0})
    h.on_create(lambda key: calls.append(("create", key)) or {"theme": "light"})
    h.on_terminate(lambda key: calls.append(("terminate", key)))
    h.get()
    h.reset()
    assert calls == []  # neither get() nor reset() of an uninitialised store is a use
    h.init()
    assert h.get() == {"theme": "light", "n": 0} and h.is_initialized()
    h.reset()
    assert h.get() == {"theme": "dark", "n": 0} and not h.is_initialized()
    h.update(lambda d: d.__setitem__("n", 1))
    assert h.get() == {"theme": "light", "n": 1}
    assert calls == [("create", None), ("terminate", None), ("create", None)]


def test_lifecycle_delete_and_recreate(reg: StoreRegistry) -> None:
    seen: list[object] = []
    rooms = create_store(reg, "Room:*", {"n": 0}).on_create(lambda key: {"name": key})
    rooms.on_terminate(lambda key: seen.append(("terminate", key, rooms.get(key))))
    rooms.set("a", {"n": 5})
    rooms.delete("a")
    assert not rooms.has("a") and rooms.get("a") is None
    assert seen == [("terminate", "a", {"n": 5})]
    rooms.init("a")
    assert rooms.get("a") == {"n": 0, "name": "a"}
    rooms.delete("zzz")  # deleting what does not exist is a no-op


def test_static_delete_then_use_recreates(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"n": 0})
    h.set({"n": 1})
    h.delete()
    assert not h.has() and h.get() is None and h.subscriber_count() == 0
    h.update(lambda d: d.__setitem__("n", 2))
    assert h.get() == {"n": 2}


def test_on_create_must_return_dict_or_none(reg: StoreRegistry) -> None:
    rooms = create_store(reg, "Room:*", {}).on_create(lambda key: [key])
    with pytest.raises(TypeError, match="must return a dict or None"):
        rooms.init("a")
    assert not rooms.has("a")


def test_on_create_using_its_own_instance_raises(reg: StoreRegistry) -> None:
    rooms = create_store(reg, "Room:*", {"n": 0})
    rooms.on_create(lambda key: rooms.update(key, lambda d: None))
    with pytest.raises(RuntimeError, match="its own on_create"):
        rooms.init("a")


def test_nested_mutation_of_the_same_instance_raises(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {"n": 0})

    def recipe(d: dict) -> None:
        d["n"] = 1
        h.update(lambda inner: inner.__setitem__("n", 2))

    with pytest.raises(RuntimeError, match="changed while"):
        h.update(recipe)
    assert h.get() == {"n": 2}


def test_hook_validation(reg: StoreRegistry) -> None:
    h = create_store(reg, "Todos", {})
    with pytest.raises(TypeError, match="callable"):
        h.on_idle("nope")  # type: ignore[arg-type]


# -- watch -----------------------------------------------------------------------------


def test_watch_reports_changes_and_removal_in_order(reg: StoreRegistry) -> None:
    rooms = create_store(reg, "Room:*", {"n": 0})
    events: list[Change | Removed] = []
    stop = rooms.watch(events.append)
    rooms.update("a", lambda d: d.__setitem__("n", 1))
    rooms.set("b", {"n": 9})
    rooms.delete("a")
    assert events == [
        Change("Room:a", "a", 1, {"n": 0}, None, ANY),
        Change("Room:a", "a", 2, {"n": 1}, [{"op": "replace", "path": "/n", "value": 1}], ANY),
        Change("Room:b", "b", 1, {"n": 0}, None, ANY),
        Change("Room:b", "b", 2, {"n": 9}, None, ANY),
        Removed("Room:a", "a"),
    ]
    stop()
    rooms.set("b", {"n": 10})
    assert len(events) == 5


def test_watch_one_key(reg: StoreRegistry) -> None:
    rooms = create_store(reg, "Room:*", {"n": 0})
    events: list[Change | Removed] = []
    rooms.watch(events.append, key="a")
    rooms.init("b")
    rooms.init("a")
    assert [e.store for e in events] == ["Room:a"]
    assert ALL is not None


def test_listener_mutations_are_delivered_after_the_current_change(reg: StoreRegistry) -> None:
    a = create_store(reg, "A", {"n": 0})
    b = create_store(reg, "B", {"n": 0})
    order: list[str] = []

    def on_a(event: Change | Removed) -> None:
        order.append(f"a{event.version}")
        if isinstance(event, Change) and event.version == 2:
            b.set({"n": 1})

    a.watch(on_a)
    a.watch(lambda e: order.append(f"a'{e.version}"))
    b.watch(lambda e: order.append(f"b{e.version}"))
    a.set({"n": 1})
    assert order == ["a1", "a'1", "a2", "a'2", "b1", "b2"]


def test_a_raising_listener_is_logged_and_others_still_run(
    reg: StoreRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    h = create_store(reg, "Todos", {})
    got: list[object] = []
    h.watch(lambda e: 1 / 0)
    h.watch(got.append)
    h.init()
    assert len(got) == 1
    assert "ZeroDivisionError" in caplog.text


def test_mutations_from_threads_are_delivered_in_version_order(reg: StoreRegistry) -> None:
    h = create_store(reg, "Counter", {"n": 0})
    h.init()
    versions: list[int] = []
    h.watch(lambda e: versions.append(e.version))

    def work() -> None:
        for _ in range(50):
            h.update(lambda d: d.__setitem__("n", d["n"] + 1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.get() == {"n": 200}
    assert versions == list(range(2, 202))


# -- observe ----------------------------------------------------------------------------


def test_observe_emits_current_then_changes_and_completes_on_delete() -> None:
    server = Hotstate()
    rooms = server.create_store("Room:*", {"n": 0})
    rooms.set("a", {"n": 1})
    states: list[object] = []
    completed: list[bool] = []
    rooms.observe("a").subscribe(on_next=states.append, on_completed=lambda: completed.append(True))
    rooms.update("a", lambda d: d.__setitem__("n", 2))
    rooms.delete("a")
    rooms.set("a", {"n": 3})
    assert states == [{"n": 1}, {"n": 2}]
    assert completed == [True]


def test_observe_does_not_initialise_and_waits_for_creation() -> None:
    server = Hotstate()
    created: list[object] = []
    config = server.create_store("Config", {"theme": "dark"}).on_create(created.append)
    rooms = server.create_store("Room:*", {"n": 0})
    config_states: list[object] = []
    room_states: list[object] = []
    config.observe().subscribe(config_states.append)
    rooms.observe("a").subscribe(room_states.append)
    assert config_states == [{"theme": "dark"}] and not config.is_initialized() and created == []
    assert room_states == []
    rooms.init("a")
    assert room_states == [{"n": 0}]


def test_observe_dispose_stops_emissions() -> None:
    server = Hotstate()
    h = server.create_store("Todos", {"n": 0})
    states: list[object] = []
    subscription = h.observe().subscribe(states.append)
    subscription.dispose()
    h.set({"n": 1})
    assert states == [{"n": 0}]


def test_store_events_without_a_loop_fire_synchronously() -> None:
    server = Hotstate()
    events: list[tuple] = []
    server.on("store_created", lambda name, key: events.append(("created", name, key)))
    server.on("store_deleted", lambda name: events.append(("deleted", name)))
    server.create_store("Todos", {})
    rooms = server.create_store("Room:*", {})
    rooms.init("a")
    server.delete_store("Room:a")
    server.delete_store("Todos")
    assert events == [
        ("created", "Todos", None),
        ("created", "Room:a", "a"),
        ("deleted", "Room:a"),
        ("deleted", "Todos"),
    ]
    assert server.list_stores() == [] and not server.has_store("Todos")
    with pytest.raises(KeyError):
        server.delete_store("Nope")


def _mutate_n(handle: Any, *key: str) -> None:
    with handle.mutate(*key) as d:
        d["n"] = 1


FIRST_USES: dict[str, Callable[..., Any]] = {
    "update": lambda handle, *key: handle.update(*key, lambda d: d.__setitem__("n", 1)),
    "mutate": _mutate_n,
    "set": lambda handle, *key: handle.set(*key, {"n": 1}),
    "init": lambda handle, *key: handle.init(*key),
}


@pytest.mark.parametrize("use", FIRST_USES)
def test_every_first_use_runs_on_create_once_per_lifetime(use: str) -> None:
    server = Hotstate()
    for name, key in (("Config", ()), ("Room:*", ("a",))):
        created: list[str | None] = []
        handle = server.create_store(name, {"n": 0}).on_create(created.append)
        assert handle.on_terminate(lambda key: None) is handle  # hooks chain
        handle.get(*key)
        handle.reset(*key)
        assert created == [] and not handle.is_initialized(*key)
        FIRST_USES[use](handle, *key)
        FIRST_USES[use](handle, *key)
        handle.init(*key)
        assert created == [key[0] if key else None] and handle.is_initialized(*key), name
        # on_create returned None: the defaults stay, under what the use changed
        assert handle.get(*key) == {"n": 0 if use == "init" else 1}


def test_defaults_are_copied_at_create_store_and_on_create_results_checked() -> None:
    server = Hotstate()
    defaults: dict[str, Any] = {"items": []}
    config = server.create_store("Config", defaults)
    rooms = server.create_store("Room:*", defaults)
    defaults["items"].append("changed later by the caller")
    rooms.init("a")
    assert config.get() == {"items": []} and rooms.get("a") == {"items": []}
    bad = server.create_store("Bad", {}).on_create(lambda key: {"bad": {1}})
    with pytest.raises(TypeError, match="/bad"):
        bad.init()


def test_the_servers_registry_by_name() -> None:
    server = Hotstate()
    terminated: list[str | None] = []
    config = server.create_store("Config", {}).on_terminate(terminated.append)
    rooms = server.create_store("Room:*", {}).on_terminate(terminated.append)
    assert server.stores["Config"] is config and server.stores["Room:*"] is rooms
    with pytest.raises(KeyError):
        server.stores["Nope"]
    assert server.list_stores() == ["Config"]  # a static instance exists from create_store
    config.init()
    rooms.init("general")
    rooms.init("random")
    assert sorted(server.list_stores()) == ["Config", "Room:general", "Room:random"]
    server.delete_store("Room:general")
    server.delete_store("Config")
    assert terminated == ["general", None]
    assert server.list_stores() == ["Room:random"]
    assert server.stores["Config"] is config  # the name stays registered


# -- the typed instance API ---------------------------------------------------------


def test_instance_handles_are_the_typed_key_less_form(reg: StoreRegistry) -> None:
    todos = create_store(reg, "Todos", {"items": []})
    rooms = create_store(reg, "Room:*", {"n": 0})
    todo = todos.instance()
    room = rooms["lobby"]
    assert (todo.name, todo.key) == ("Todos", None)
    assert (room.name, room.key) == ("Room:lobby", "lobby")
    assert rooms.instance("lobby").name == room.name
    assert not room.has() and room.get() is None and room.version() is None
    room.update(lambda d: d.update(n=1))
    with room.mutate() as d:
        d["n"] += 1
    assert room.get() == {"n": 2} == rooms.get("lobby")
    assert room.version() == rooms.version("lobby") == 3  # created, then two changes
    assert room.snapshot() == ({"n": 2}, 3)
    todo.set({"items": [1]})
    assert todos.get() == {"items": [1]} and todo.is_initialized()
    room.reset()
    assert room.get() == {"n": 0} and not room.is_initialized()
    room.delete()
    assert not rooms.has("lobby")


def test_instance_handles_check_their_key(reg: StoreRegistry) -> None:
    todos = create_store(reg, "Todos", {})
    rooms = create_store(reg, "Room:*", {})
    with pytest.raises(TypeError, match="'Todos' is a static store"):
        todos["x"]
    with pytest.raises(TypeError, match="'Todos' is a static store"):
        todos.instance("x")
    with pytest.raises(TypeError, match="'Room:\\*' is a dynamic store"):
        rooms.instance()
    with pytest.raises(TypeError, match="'Room:\\*' is a dynamic store"):
        rooms[""]


def test_a_recipe_may_return_the_new_state(reg: StoreRegistry) -> None:
    """As in Immer (API.md §1): ``update(lambda n: n + 1)`` replaces the state."""
    counter = create_store(reg, "Counter", 0)
    seen: list[Any] = []
    counter.watch(seen.append)
    counter.update(lambda n: n + 1)
    assert counter.get() == 1
    assert seen[-1].patches == [{"op": "replace", "path": "", "value": 1}]


def test_a_use_that_raises_still_delivers_what_it_queued(reg: StoreRegistry) -> None:
    """``on_create`` ran and committed before the recipe raised: watchers hear
    of the creation at once, not with some later, unrelated change."""
    rooms = create_store(reg, "Room:*", {"n": 0})
    seen: list[Any] = []
    rooms.watch(seen.append)

    def fail(draft: Any) -> None:
        raise RuntimeError("recipe failed")

    with pytest.raises(RuntimeError, match="recipe failed"):
        rooms.update("a", fail)
    assert [(e.store, e.version) for e in seen] == [("Room:a", 1)]
