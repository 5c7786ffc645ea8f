"""What every backend promises (memory and SQLite alike), then SQLite's own file handling."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hotstate_rx import StorageError
from hotstate_rx.server.storage import MemoryStorage, Saved, SQLiteStorage, Storage, storage_from

Make = Callable[[], Storage]


@pytest.fixture(params=["memory", "sqlite"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Make]:
    """A factory of the same storage, as a restarted server would open it again."""
    opened: list[Storage] = []
    shared = MemoryStorage()

    def new() -> Storage:
        storage = shared if request.param == "memory" else SQLiteStorage(tmp_path / "state.db")
        opened.append(storage)
        return storage

    yield new
    for storage in opened:  # a test that failed half-way must not leave a lock behind
        storage.close()


STATE = {"items": [{"id": 1, "text": "Café ☕", "done": False}], "big": 2**70, "pi": 3.25}


def test_records_round_trip_and_deletions_remove_them(make: Make) -> None:
    storage = make()
    storage.open()
    storage.write([Saved("Todos", 3, STATE), Saved("Room:a", 2, {}, initialized=False)], [])
    assert storage.load("Todos") == Saved("Todos", 3, STATE)
    assert storage.load("Room:a") == Saved("Room:a", 2, {}, initialized=False)
    assert storage.load("Room:b") is None
    storage.write([Saved("Todos", 4, {"items": []})], ["Room:a"])
    assert storage.load("Todos") == Saved("Todos", 4, {"items": []})
    assert storage.names() == ["Todos"]


def test_a_clean_close_keeps_records_and_epoch(make: Make) -> None:
    storage = make()
    epoch = storage.open()
    storage.write([Saved("Todos", 7, STATE)], [])
    storage.close()
    again = make()
    assert again.open() == epoch
    assert again.load("Todos") == Saved("Todos", 7, STATE)


def test_one_server_at_a_time(make: Make) -> None:
    make().open()
    with pytest.raises(StorageError, match="in use by another server"):
        make().open()


# -- SQLite: the file ----------------------------------------------------------------------


def test_sqlite_rows_are_plain_json_any_tool_can_read(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    storage = SQLiteStorage(path)
    storage.open()
    storage.write([Saved("Todos", 3, STATE)], [])
    storage.close()
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT name, version, initialized, state FROM hotstate_instances")
        name, version, initialized, text = row.fetchone()
    assert (name, version, initialized, json.loads(text)) == ("Todos", 3, 1, STATE)


def test_sqlite_after_a_crash_keeps_what_was_committed_under_a_new_epoch(tmp_path: Path) -> None:
    """A process that dies without close() (``os._exit``: no cleanup runs)."""
    path = tmp_path / "state.db"
    storage = SQLiteStorage(path)
    epoch = storage.open()
    storage.close()
    crash = (
        "import os, sys\n"
        "from hotstate_rx.server.storage import SQLiteStorage, Saved\n"
        "s = SQLiteStorage(sys.argv[1]); print(s.open(), flush=True)\n"
        "s.write([Saved('Todos', 9, {'n': 9})], [])\n"
        "os._exit(0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", crash, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == epoch  # it had been closed cleanly before
    after = SQLiteStorage(path)
    try:
        assert after.open() != epoch
        assert after.load("Todos") == Saved("Todos", 9, {"n": 9})
    finally:
        after.close()


def corrupt_pages(path: Path) -> None:
    storage = SQLiteStorage(path)
    storage.open()
    storage.write([Saved(f"Room:{i}", 1, {"text": "x" * 500}) for i in range(2000)], [])
    storage.close()
    data = bytearray(path.read_bytes())
    for page in (5, 50, 100):
        data[page * 4096 : (page + 1) * 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))


def newer_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE hotstate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO hotstate_meta VALUES ('schema', '2')")


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda p: p.write_bytes(b"not a database, just bytes " * 100), "file is not a database"),
        (corrupt_pages, "malformed"),
        (newer_schema, "has schema 2; this hotstate_rx reads schema 1"),
        (lambda p: p.mkdir(), "it is a directory"),
    ],
    ids=["garbage", "corrupt pages", "newer schema", "directory"],
)
def test_sqlite_bad_files_fail_at_open_naming_the_file(
    tmp_path: Path, spoil: Callable[[Path], object], problem: str
) -> None:
    path = tmp_path / "state.db"
    spoil(path)
    storage = SQLiteStorage(path)
    with pytest.raises(StorageError, match=problem) as raised:
        storage.open()
    assert str(path) in str(raised.value)
    storage.close()  # nothing to close: the failed open released everything


def test_sqlite_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "state.db"
    with pytest.raises(StorageError, match=f"the directory {tmp_path / 'nope'} does not exist"):
        SQLiteStorage(path).open()
    assert not path.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_sqlite_an_unreadable_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    path.chmod(0)
    with pytest.raises(StorageError, match=f"cannot open storage {path}: Permission denied"):
        SQLiteStorage(path).open()


@pytest.mark.parametrize(
    ("text", "version", "problem"),
    [
        ("{not json", 1, "is not JSON"),
        ('{"t": NaN}', 1, "is not JSON: NaN is not a JSON value"),
        ("{}", -1, "has version -1"),
    ],
)
def test_sqlite_a_bad_row_fails_when_read_naming_it(
    tmp_path: Path, text: str, version: int, problem: str
) -> None:
    path = tmp_path / "state.db"
    storage = SQLiteStorage(path)
    storage.open()
    try:
        with sqlite3.connect(path) as db:
            db.execute(
                "INSERT INTO hotstate_instances (name, version, initialized, state)"
                " VALUES ('Todos', ?, 1, ?)",
                (version, text),
            )
        with pytest.raises(StorageError, match=f"{path}: the row of 'Todos' {problem}"):
            storage.load("Todos")
    finally:
        storage.close()


# -- Server(storage=...) ----------------------------------------------------------------------


def test_storage_from_urls_and_objects(tmp_path: Path) -> None:
    memory = MemoryStorage()
    assert storage_from(memory) is memory
    absolute = storage_from(f"sqlite://{tmp_path}/state.db")
    assert isinstance(absolute, SQLiteStorage) and absolute.path == tmp_path / "state.db"
    relative = storage_from("sqlite:data/state.db")
    assert isinstance(relative, SQLiteStorage) and relative.path == Path("data/state.db")


@pytest.mark.parametrize(
    "spec", ["sqlite://host/state.db", "postgres:///db", "sqlite:", "state.db"]
)
def test_storage_from_refuses_other_urls(spec: str) -> None:
    with pytest.raises(ValueError, match="unsupported storage"):
        storage_from(spec)


def test_storage_from_refuses_other_types() -> None:
    with pytest.raises(TypeError, match=r"a URL string or a Storage, not \w+Path"):
        storage_from(Path("state.db"))


def test_sqlite_synchronous_is_full_or_normal(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be 'full' or 'normal', got 'off'"):
        SQLiteStorage(tmp_path / "state.db", synchronous="off")
    storage = SQLiteStorage(tmp_path / "state.db", synchronous="normal")
    storage.open()
    try:
        storage.write([Saved("Todos", 1, {})], [])
        assert storage.load("Todos") == Saved("Todos", 1, {})
    finally:
        storage.close()
