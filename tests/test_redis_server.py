"""The real ``redis-server`` the cluster tests stand on (tests/redis_server.py):
it starts, answers redis-py, keeps its AOF across a restart, pauses like a
network and never outlives its test."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis_server import RedisServer, gone, send_command

TIMEOUT = 5.0


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_redis_py_talks_to_it(shared_redis: RedisServer) -> None:
    assert shared_redis.url == f"redis://127.0.0.1:{shared_redis.port}/0"
    with redis.Redis.from_url(shared_redis.url, socket_timeout=TIMEOUT) as client:
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"


async def test_redis_asyncio_talks_to_it(shared_redis: RedisServer) -> None:
    client = redis.asyncio.Redis.from_url(shared_redis.url, socket_timeout=TIMEOUT)
    try:
        assert await client.ping() is True
        await client.xadd("log", {"op": "add"})
        assert await client.xlen("log") == 1
    finally:
        await client.aclose()


@pytest.mark.parametrize("turn", [1, 2])
def test_the_shared_server_is_empty_at_each_test(shared_redis: RedisServer, turn: int) -> None:
    """Each turn leaves a key behind; whichever runs second must not see it."""
    with redis.Redis.from_url(shared_redis.url, socket_timeout=TIMEOUT) as client:
        assert client.dbsize() == 0
        client.set(f"left by turn {turn}", 1)


@pytest.mark.parametrize("restart", ["stop", "kill"])
def test_a_restart_keeps_the_port_directory_and_aof_data(
    redis_server: RedisServer, restart: str
) -> None:
    with redis.Redis.from_url(redis_server.url, socket_timeout=TIMEOUT) as client:
        client.set("kept", "yes")
        # A kill loses what was not yet written out: FSYNC-like certainty before it.
        client.execute_command("CONFIG", "SET", "appendfsync", "always")
        client.set("also kept", "yes")
        first = redis_server.pid
        assert first is not None
        getattr(redis_server, restart)()
        assert gone(first) and refuses(redis_server.port)
        redis_server.start()
        assert redis_server.pid != first
        assert client.get("kept") == b"yes"  # redis-py reconnects by itself
        assert client.get("also kept") == b"yes"
    assert any(redis_server.dir.rglob("*.aof"))


async def test_a_pause_times_clients_out_and_resume_lets_them_go_on(
    redis_server: RedisServer,
) -> None:
    impatient = redis.asyncio.Redis.from_url(redis_server.url, socket_timeout=0.2)
    patient = redis.asyncio.Redis.from_url(redis_server.url, socket_timeout=TIMEOUT)
    try:
        await impatient.set("n", 1)
        await patient.ping()
        redis_server.pause()
        with pytest.raises(redis.exceptions.TimeoutError):
            await impatient.incr("n")
        waiting = asyncio.create_task(patient.incr("n"))
        done, _ = await asyncio.wait([waiting], timeout=0.3)
        assert not done  # nothing answers while paused
        redis_server.resume()
        # The timed-out INCR may or may not have been applied: redis read it when it woke.
        assert await asyncio.wait_for(waiting, TIMEOUT) in {2, 3}
        assert await impatient.ping() is True
    finally:
        redis_server.resume()
        await impatient.aclose()
        await patient.aclose()


def test_stop_ends_a_paused_server(redis_server: RedisServer) -> None:
    pid = redis_server.pid
    assert pid is not None
    redis_server.pause()
    redis_server.stop()
    assert gone(pid)
    assert redis_server.returncode == 0  # a clean shutdown, not the SIGKILL fallback


def test_kill_leaves_no_process(redis_server: RedisServer) -> None:
    pid = redis_server.pid
    assert pid is not None and not gone(pid)
    redis_server.kill()
    assert gone(pid) and redis_server.pid is None
    assert redis_server.returncode == -signal.SIGKILL
    assert refuses(redis_server.port)
    with pytest.raises(OSError):
        send_command(redis_server.port, "PING")


def test_no_process_survives_a_failing_test_or_a_lost_object(redis_binary: Path) -> None:
    with pytest.raises(ZeroDivisionError), RedisServer(redis_binary) as failing:
        pid = failing.pid
        assert pid is not None
        1 / 0  # noqa: B018 - the test body failing
    assert gone(pid)

    forgotten = RedisServer(redis_binary).start()
    pid = forgotten.pid
    assert pid is not None
    del forgotten
    gc.collect()
    assert gone(pid)


def test_a_start_that_fails_says_why(redis_binary: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = RedisServer(redis_binary, port=port)
        try:
            with pytest.raises(RuntimeError, match=r"(?s)exited with status 1.*already in use"):
                taken.start()
        finally:
            taken.close()


def test_start_twice_is_an_error(redis_server: RedisServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        redis_server.start()
