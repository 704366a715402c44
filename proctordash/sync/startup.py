"""Beat's start-up refresh: queue a refresh for every upstream whose cached data are missing or not fresh.

Beat's interval schedules first fire one interval after beat starts, so without this a fresh deployment (or the demo)
would show no appointments for up to SYNC_APPOINTMENTS_FULL_INTERVAL. refresh_request() answers with the run already
queued or running, so a second beat or a restart cannot double the work. proctordash/celery.py calls
`start_refresh_when_ready` from beat's `beat_init` signal: beat often starts before the database (or Redis) is ready
(a deployment brings everything up at once), so the refresh is retried with backoff until it goes through, in a
thread, while beat goes on ticking.
"""

from __future__ import annotations

import logging
import threading
import time

from proctordash.sync.freshness import freshness_get
from proctordash.sync.passes import refresh_request

# Kinds refreshed at once when beat starts and the upstream's data are missing or not fresh.
STARTUP_REFRESHES = {"smarterproctoring": "appointments_full", "proctorexam": "proctorexam"}


def refresh_stale_data() -> list[str]:
    """Queue a refresh for every upstream whose data are missing or not fresh; returns the kinds queued."""
    queued = []
    for upstream, kind in STARTUP_REFRESHES.items():
        if freshness_get(upstream).state != "fresh":
            refresh_request(kind=kind)
            queued.append(kind)
    return queued


log = logging.getLogger(__name__)


def refresh_stale_data_when_ready(*, first_delay: float = 1.0, max_delay: float = 30.0,
                                  give_up_after: float | None = None, sleep=time.sleep) -> list[str] | None:
    """refresh_stale_data(), retried with exponential backoff (1 s, 2 s, 4 s … at most `max_delay`) while the
    database or the broker is not ready. Returns the kinds queued, or None when it gave up (`give_up_after` s;
    None: never)."""
    import redis
    from django.db import DatabaseError, close_old_connections, connections
    from kombu.exceptions import OperationalError as BrokerError

    started = time.monotonic()
    delay = first_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            queued = refresh_stale_data()
        except (DatabaseError, redis.RedisError, BrokerError, OSError) as exc:
            log.warning("Start-up refresh: not ready yet (attempt %d: %s); trying again in %.0f s",
                        attempt, type(exc).__name__, delay)
            # a connection that failed is broken: the next attempt opens a new one
            for connection in connections.all(initialized_only=True):
                connection.close_if_unusable_or_obsolete()
                try:
                    connection.close()
                except DatabaseError:
                    pass
            if give_up_after is not None and time.monotonic() - started + delay > give_up_after:
                log.error("Start-up refresh: gave up after %d attempts; the schedule will refresh later", attempt)
                return None
            sleep(delay)
            delay = min(delay * 2, max_delay)
            continue
        finally:
            close_old_connections()
        log.info("Start-up refresh: queued %s (attempt %d)", ", ".join(queued) or "nothing (data are fresh)", attempt)
        return queued


def start_refresh_when_ready() -> threading.Thread:
    """Beat's start-up hook: refresh_stale_data_when_ready() in a daemon thread (beat keeps ticking meanwhile)."""
    thread = threading.Thread(target=refresh_stale_data_when_ready, name="startup-refresh", daemon=True)
    thread.start()
    return thread
