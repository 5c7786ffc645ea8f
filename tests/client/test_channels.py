"""Event channel names: lifecycle channels, server channels, and the
misspellings in between (``hotstate_rx.channels``)."""

from __future__ import annotations

import pytest
from client_helpers import FakeServer, MakeClient, Recorder, ServeClient, connected, errors_of

from hotstate_rx import HotstateError
from hotstate_rx.channels import LIFECYCLE_CHANNELS, check_channel, is_reserved
from hotstate_rx.client.actions import Emit
from hotstate_rx.protocol import EventMessage

MISSPELT = [
    ("storeDeleted", "store_deleted"),  # the original library's spelling
    ("StoreDeleted", "store_deleted"),
    ("store-deleted", "store_deleted"),
    ("store.deleted", "store_deleted"),
    ("store deleted", "store_deleted"),
    ("storedeleted", "store_deleted"),
    ("STORE_DELETED", "store_deleted"),
    ("Connected", "connected"),
    ("DISCONNECTED", "disconnected"),
    ("Reconnecting", "reconnecting"),
    ("Error", "error"),
]
SERVER_CHANNELS = ["note", "notification", "user.joined", "Room:general", "error_log", "connect"]


def test_the_lifecycle_channels_are_the_documented_five() -> None:
    assert LIFECYCLE_CHANNELS == (
        "connected",
        "disconnected",
        "reconnecting",
        "error",
        "store_deleted",
    )


@pytest.mark.parametrize("name", [*LIFECYCLE_CHANNELS, *SERVER_CHANNELS])
def test_lifecycle_and_server_channel_names_are_accepted(name: str) -> None:
    assert check_channel(name) == name


@pytest.mark.parametrize(("name", "meant"), MISSPELT)
def test_a_lifecycle_channel_spelt_another_way_raises_listing_them(name: str, meant: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_channel(name)
    message = str(caught.value)
    assert repr(name) in message and f"did you mean {meant!r}" in message
    assert "connected, disconnected, reconnecting, error, store_deleted" in message


def test_reserved_names_are_the_lifecycle_channels_in_every_spelling() -> None:
    assert all(is_reserved(name) for name in LIFECYCLE_CHANNELS)
    assert all(is_reserved(name) for name, _ in MISSPELT)
    assert not any(is_reserved(name) for name in SERVER_CHANNELS)


def test_bad_types_and_empty_names() -> None:
    with pytest.raises(TypeError, match="str"):
        check_channel(None)
    with pytest.raises(ValueError, match="empty"):
        check_channel("")


def test_the_core_does_not_pass_a_server_event_off_as_a_lifecycle_event() -> None:
    core = connected()
    assert core.receive(EventMessage("note", 1)) == [Emit("note", 1)]
    for name in ("error", "connected", "storeDeleted"):
        [report] = core.receive(EventMessage(name, {"forged": True}))
        assert report.channel == "error"
        assert isinstance(report.payload, HotstateError) and repr(name) in str(report.payload)


async def test_client_on_and_events_refuse_misspelt_lifecycle_channels(
    make_client: MakeClient,
) -> None:
    client = make_client()
    for name, _ in MISSPELT:
        with pytest.raises(ValueError, match="lifecycle channels: connected"):
            client.on(name, lambda payload: None)
        with pytest.raises(ValueError, match="lifecycle channels: connected"):
            client.events(name)


async def test_server_channels_still_reach_client_on(serve_client: ServeClient) -> None:
    server, client = await serve_client()
    await client.ready()
    notes, deleted = Recorder(), Recorder()
    client.on("note", notes)
    client.on("store_deleted", deleted)
    server.emit("note", {"text": "hi"})
    await notes.value({"text": "hi"})
    assert deleted.values == []


async def test_a_server_event_on_a_reserved_name_is_reported_not_delivered(
    fake_server, make_client: MakeClient
) -> None:
    fake: FakeServer = await fake_server()
    client = make_client(fake.url)
    errors = errors_of(client)
    await fake.connected()
    await fake.send(EventMessage("error", {"forged": True}))
    await fake.send(EventMessage("note", 1))
    notes = Recorder()
    client.on("note", notes)
    await fake.send(EventMessage("note", 2))
    await notes.value(2)
    assert len(errors.values) == 1
    assert isinstance(errors.values[0], HotstateError) and "reserved" in str(errors.values[0])
