"""Redis gone, or hung (it accepts connections and never answers), never holds a request that sends a task for more
than seconds: the broker's socket timeouts and publish retries (settings) and no result subscription on send
(core/taskqueue.py). Before them, a send waited ~19 s with Redis gone (the result backend's subscription retried 20
times, then raised "the Celery application must be restarted") and for ever with Redis hung."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest
from celery import Celery

from proctordash.core import taskqueue


@pytest.fixture
def hung_redis():
    """A TCP server that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def gone_redis():
    """A port nobody listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"redis://127.0.0.1:{port}/0"


def app_on(url: str) -> Celery:
    """A Celery app configured as the project's (the same settings), its broker and results on `url`."""
    from django.conf import settings

    conf = {name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}
    conf.update(CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    app = Celery("probe", set_as_current=False)
    app.config_from_object(SimpleNamespace(**conf), namespace="CELERY")
    assert app.conf.broker_url == url
    return app


@pytest.mark.parametrize("redis_fixture, budget", [("gone_redis", 3.0), ("hung_redis", 10.0)])
def test_a_send_fails_within_seconds_when_redis_is_gone_or_hung(request, redis_fixture, budget):
    app = app_on(request.getfixturevalue(redis_fixture))
    outcome: dict = {}

    def send():
        started = time.monotonic()
        try:
            taskqueue.send_task("proctordash.sync.tasks.sweep_abandoned_runs_task", app=app)
            outcome["sent"] = True
        except Exception as exc:  # noqa: BLE001 - whatever the broker raised: the caller records it and says so
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(budget + 30)
    assert "seconds" in outcome, f"the send still waits after {budget + 30:.0f} s"
    assert "error" in outcome, outcome
    assert outcome["seconds"] < budget, outcome
