"""Serve the sandbox with gunicorn's threaded worker: one worker process (the state lives in it), many threads.

The data are generated before the port is bound (`preload_app`), so a client that can connect gets answers: the
test fixture polls /_sandbox/health until the connection is accepted.
"""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


def _warm_up(worker) -> None:
    # Threads must not cross the fork: the JSON warm-up starts in the worker, once it runs.
    app = getattr(worker, "wsgi", None)
    if hasattr(app, "start_warmup"):
        app.start_warmup()


class SandboxServer(BaseApplication):
    def __init__(self, app_factory, *, host: str, port: int, threads: int = 32):
        self.app_factory = app_factory
        self.options = {
            "bind": f"{host}:{port}",
            "workers": 1,  # the sandbox's state is in memory: exactly one process may own it
            "worker_class": "gthread",
            "threads": threads,
            "preload_app": True,
            "timeout": 0,  # hanging requests are a feature here; never kill the worker (and lose the state)
            "graceful_timeout": 3,
            "keepalive": 5,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "proc_name": "proctordash-sandbox",
            "post_worker_init": _warm_up,
        }
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.app_factory()
