"""The SQLite backend: one file, WAL mode, one writer, group commits.

``Server(storage="sqlite:///var/lib/app/state.db")`` or
``Server(storage=SQLiteStorage(path))``. The file holds two tables:
``hotstate_instances`` (one row per instance: name, version, initialized,
state as JSON text) and ``hotstate_meta`` (schema version, epoch, and whether
the last run closed cleanly), so it can live beside an application's own
tables and be read with any SQLite tool.

- Durability: ``journal_mode=WAL`` with ``synchronous=FULL``: a commit is on
  disk when :meth:`SQLiteStorage.write` returns, and the writer thread puts a
  whole group of changes in one commit, so there is one sync per group, not
  per change. ``SQLiteStorage(path, synchronous="normal")`` skips the sync of
  each commit: a killed process still loses nothing (the commit is in the
  operating system's hands), a power cut may lose the last commits; a call
  waits for a write instead of a sync (BENCHMARKS.md has both).
- Two connections: the writer thread's, and one for the point reads of
  :meth:`~SQLiteStorage.load` (WAL lets them read while a commit is on its
  way), guarded by a lock.
- One server per file: :meth:`~SQLiteStorage.open` takes an exclusive
  ``flock`` on the file, so a second server gets a clear error instead of a
  second history. The lock goes with the process, ``kill -9`` included.
- Bad files fail at open, naming the file: not a database, corrupt
  (``PRAGMA quick_check``), written by a newer schema, a directory, a missing
  directory. A row that does not parse fails when it is read, naming the row.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ...errors import StorageError
from .base import Saved, Storage

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: no lock, one server per file is on you
    fcntl = None  # type: ignore[assignment]

__all__ = ["SQLiteStorage"]

SCHEMA = 1
_TABLES = """
CREATE TABLE IF NOT EXISTS hotstate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hotstate_instances (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    initialized INTEGER NOT NULL,
    state TEXT NOT NULL,
    lifetime TEXT NOT NULL DEFAULT ''
);
"""
_SAVE = (
    "INSERT INTO hotstate_instances (name, version, initialized, state, lifetime) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
    "version = excluded.version, initialized = excluded.initialized, state = excluded.state, "
    "lifetime = excluded.lifetime"
)
_SET_META = (
    "INSERT INTO hotstate_meta (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class SQLiteStorage(Storage):
    """Instances saved in the SQLite file at ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "full") -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError(f"synchronous must be 'full' or 'normal', got {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self._write: sqlite3.Connection | None = None
        self._read: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"SQLiteStorage('{self.path}')"

    # -- open and close ----------------------------------------------------------

    def open(self) -> str:
        if self._write is not None:
            raise StorageError(f"storage {self.path} is already open")
        self._check_path()
        self._take_lock()
        try:
            self._write = self._connect()
            self._prepare(self._write)
            epoch = self._begin_epoch(self._write)
            self._read = self._connect()
            self._read.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            self._release()
            raise StorageError(f"cannot open storage {self.path}: {exc}") from exc
        except BaseException:
            self._release()
            raise
        return epoch

    def close(self) -> None:
        if self._write is None:
            return
        try:
            self._write.execute(_SET_META, ("clean", "1"))
        except sqlite3.Error as exc:
            raise StorageError(f"cannot close storage {self.path}: {exc}") from exc
        finally:
            self._release()

    def _check_path(self) -> None:
        if self.path.is_dir():
            raise StorageError(f"cannot open storage {self.path}: it is a directory")
        if not self.path.parent.is_dir():
            raise StorageError(
                f"cannot open storage {self.path}: the directory {self.path.parent} does not exist"
            )

    def _take_lock(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot open storage {self.path}: {exc.strerror}") from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StorageError(
                    f"storage {self.path} is in use by another server (one server per file)"
                ) from None
        self._lock_fd = fd

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are exactly the BEGIN/COMMIT below.
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    def _prepare(self, db: sqlite3.Connection) -> None:
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StorageError(f"cannot open storage {self.path}: WAL mode refused ({mode})")
        db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise StorageError(f"storage {self.path} is corrupt: {'; '.join(problems[:3])}")
        db.executescript(_TABLES)
        row = db.execute("SELECT value FROM hotstate_meta WHERE key = 'schema'").fetchone()
        if row is None:
            db.execute(_SET_META, ("schema", str(SCHEMA)))
        elif row[0] != str(SCHEMA):
            raise StorageError(
                f"storage {self.path} has schema {row[0]}; this hotstate_rx reads schema {SCHEMA}"
            )

    def _begin_epoch(self, db: sqlite3.Connection) -> str:
        """The previous epoch if the last run closed cleanly, else a new one; the
        file is marked as in use until :meth:`close`."""
        db.execute("BEGIN IMMEDIATE")
        try:
            meta = dict(db.execute("SELECT key, value FROM hotstate_meta"))
            epoch = meta.get("epoch")
            if epoch is None or meta.get("clean") != "1":
                epoch = secrets.token_hex(8)
                db.execute(_SET_META, ("epoch", epoch))
            db.execute(_SET_META, ("clean", "0"))
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # keep the first error
                db.execute("ROLLBACK")
            raise
        return epoch

    def _release(self) -> None:
        with self._read_lock:
            for db in (self._read, self._write):
                if db is not None:
                    db.close()
            self._read = self._write = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- reads ----------------------------------------------------------------------

    def load(self, name: str) -> Saved | None:
        row = self._query(
            "SELECT version, initialized, state, lifetime FROM hotstate_instances WHERE name = ?",
            (name,),
        )
        if not row:
            return None
        version, initialized, text, lifetime = row[0]
        try:
            state = json.loads(text, parse_constant=_no_constant)
        except (TypeError, ValueError) as exc:
            raise StorageError(
                f"storage {self.path}: the row of {name!r} is not JSON: {exc}"
            ) from None
        if type(version) is not int or version < 0:
            raise StorageError(f"storage {self.path}: the row of {name!r} has version {version!r}")
        return Saved(name, version, state, bool(initialized), str(lifetime))

    def names(self) -> list[str]:
        return [row[0] for row in self._query("SELECT name FROM hotstate_instances", ())]

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        with self._read_lock:
            if self._read is None:
                raise StorageError(f"storage {self.path} is not open")
            try:
                return self._read.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"cannot read storage {self.path}: {exc}") from exc

    # -- writes (the writer thread) -----------------------------------------------

    def write(self, saved: Sequence[Saved], deleted: Sequence[str]) -> None:
        db = self._write
        if db is None:
            raise StorageError(f"storage {self.path} is not open")
        rows = [(s.name, s.version, int(s.initialized), _dumps(s), s.lifetime) for s in saved]
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(_SAVE, rows)
                db.executemany(
                    "DELETE FROM hotstate_instances WHERE name = ?", [(n,) for n in deleted]
                )
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # keep the first error
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"cannot write storage {self.path}: {exc}") from exc


def _dumps(saved: Saved) -> str:
    """The state as compact JSON; a value JSON cannot carry raises here, before
    anything reaches the file (states are validated when made: it cannot happen)."""
    try:
        return json.dumps(saved.state, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise StorageError(f"the state of {saved.name!r} is not JSON: {exc}") from None


def _no_constant(token: str) -> NoReturn:
    raise ValueError(f"{token} is not a JSON value")
