"""Throwaway redis-server processes on loopback ports, for the tests that kill or fail over Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

NO_PERSISTENCE = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(port: int, timeout: float = 10) -> None:
    """Until something on `port` answers PING (AssertionError after `timeout` seconds)."""
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                assert time.monotonic() < deadline, f"nothing answers on {port}"
                time.sleep(0.05)
    finally:
        client.close()


def start_redis(*args: str, port: int | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """redis-server with `args` (on `port`, without persistence, when a port is given), once it answers."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not on PATH"
    server = [] if port is None else ["--port", str(port), *NO_PERSISTENCE]
    proc = subprocess.Popen([binary, *args, *server], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if port is not None:
        wait_ping(port)
    return proc


def kill(proc: subprocess.Popen | None) -> None:
    """Abruptly, like a crash (Redis keeps nothing)."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
