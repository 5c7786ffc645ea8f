"""The todo app's pure rules: argument checks, recipes and optimistic views."""

from __future__ import annotations

import pytest

from apps.todo import model
from hotstate_rx import RpcError, Unauthorized


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "todos.add: 'text' is required"),
        ({"text": None}, "todos.add: 'text' is required"),
        ({"text": 3}, "todos.add: 'text' must be a string, got int"),
        ({"text": "   "}, "todos.add: 'text' must not be empty"),
        ({"text": "x" * 281}, "todos.add: 'text' is too long (281 > 280 characters)"),
        ("milk", "todos.add: arguments must be an object, got str"),
        (None, "todos.add: arguments must be an object, got NoneType"),
    ],
)
def test_text_arg_says_what_is_wrong(args: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        model.text_arg(args, "todos.add")
    assert str(info.value) == message


def test_text_arg_strips() -> None:
    assert model.text_arg({"text": "  Buy milk \n"}, "todos.add") == "Buy milk"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "'id' is required"),
        ({"id": "3"}, "'id' must be an integer, got str"),
        ({"id": True}, "'id' must be an integer, got bool"),
        ({"id": 1.5}, "'id' must be an integer, got float"),
    ],
)
def test_id_arg_refuses_non_integers(args: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model.id_arg(args, "todos.toggle")


def test_room_names() -> None:
    assert model.room_arg({"room": " general "}, "room.send") == "general"
    assert model.room_arg({"room": "team-2_a"}, "room.send") == "team-2_a"
    for bad in ("General", "-x", "a b", "x" * 25, "é"):
        with pytest.raises(ValueError, match=r"room\.send: "):
            model.room_arg({"room": bad}, "room.send")


def test_theme_arg() -> None:
    assert model.theme_arg({"theme": "light"}, "config.set_theme") == "light"
    with pytest.raises(ValueError, match="'theme' must be one of dark, light, got 'blue'"):
        model.theme_arg({"theme": "blue"}, "config.set_theme")


def test_user_names() -> None:
    assert model.user_name(" ada ") == "ada"
    for bad in (None, "", "  ", "x" * 25, "a\nb"):
        with pytest.raises(Unauthorized, match="a name of 1-24 printable characters"):
            model.user_name(bad)


def test_bad_input_is_an_rpc_error_the_caller_reads() -> None:
    with pytest.raises(RpcError, match="'text' is required"):
        model.text_arg({}, "todos.add")


def test_todo_recipes() -> None:
    state: dict = {"items": []}
    model.add_todo(state, 1, "a")
    model.add_todo(state, 2, "b")
    assert model.toggle_todo(state, 2) is True
    assert model.toggle_todo(state, 2) is False
    model.remove_todo(state, 1)
    assert state == {"items": [{"id": 2, "text": "b", "done": False}]}
    with pytest.raises(ValueError, match="no todo with id 7"):
        model.toggle_todo(state, 7)
    with pytest.raises(ValueError, match="no todo with id 1"):
        model.remove_todo(state, 1)


def test_post_message_keeps_the_last_messages() -> None:
    room: dict = {"messages": []}
    for n in range(model.MAX_MESSAGES + 5):
        model.post_message(room, {"text": str(n)})
    assert len(room["messages"]) == model.MAX_MESSAGES
    assert room["messages"][0] == {"text": "5"}


def test_join_and_leave_are_idempotent() -> None:
    room: dict = {"users": []}
    assert model.join_room(room, "c1") is True
    assert model.join_room(room, "c1") is False
    assert model.leave_room(room, "c1") is True
    assert model.leave_room(room, "c1") is False
    assert room == {"users": []}


def test_add_room_keeps_a_sorted_set() -> None:
    rooms: dict = {"names": ["general"]}
    model.add_room(rooms, "design")
    model.add_room(rooms, "general")
    assert rooms == {"names": ["design", "general"]}


def test_optimistic_views_leave_the_input_alone() -> None:
    state = {"items": [{"id": 1, "text": "a", "done": False}]}
    assert model.with_todo(state, "b")["items"][-1] == {"id": -1, "text": "b", "done": False}
    assert model.with_toggled(state, 1)["items"] == [{"id": 1, "text": "a", "done": True}]
    assert model.without_todo(state, 1)["items"] == []
    assert model.with_theme({"theme": "dark"}, "light") == {"theme": "light"}
    assert state == {"items": [{"id": 1, "text": "a", "done": False}]}


def test_next_theme_flips_and_starts_from_the_dark_default() -> None:
    assert model.next_theme({"theme": "dark"}) == "light"
    assert model.next_theme({"theme": "light"}) == "dark"
    assert model.next_theme(None) == "light"
