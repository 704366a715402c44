"""The data-freshness line every data page shows: "Data as of 10:42 CST (3 min ago)", or a warning saying why the
data may not be trusted (never refreshed, older than DATA_STALE_AFTER, or the last refresh failed), and whether
refreshes are paused because Redis (the task queue and the sync locks) is unreachable."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from proctordash.sync.models import Upstream, UpstreamState


@dataclass
class Freshness:
    upstream: str
    label: str
    state: str  # fresh / stale / failed / never
    as_of: datetime | None
    error: str = ""
    error_at: datetime | None = None
    rate_limited_until: datetime | None = None
    paused: str = ""  # why refreshes cannot run now ("" when they can); see refreshes_paused_reason()
    running_since: datetime | None = None  # a refresh of this upstream is in flight since then
    time_limit: int = 0  # seconds that refresh may take (engine.time_limit)
    now: datetime | None = None

    @property
    def running_seconds(self) -> float | None:
        if self.running_since is None:
            return None
        return max(0.0, ((self.now or timezone.now()) - self.running_since).total_seconds())

    @property
    def running_for(self) -> str:
        """"3 min", "45 s": how long the refresh in flight has been running."""
        seconds = self.running_seconds
        if seconds is None:
            return ""
        return f"{seconds:.0f} s" if seconds < 90 else f"{seconds // 60:.0f} min"

    @property
    def time_limit_text(self) -> str:
        return f"{self.time_limit // 60} min" if self.time_limit >= 120 else f"{self.time_limit} s"

    @property
    def overdue(self) -> bool:
        """A refresh in flight past its time limit: hung or dead. Never shown as healthy."""
        seconds = self.running_seconds
        return seconds is not None and bool(self.time_limit) and seconds > self.time_limit

    @property
    def problem(self) -> str:
        """What went wrong with the last refresh, in staff language (no exception class, no API path)."""
        from proctordash.sync.messages import failure_sentence

        return failure_sentence(self.error, self.label) if self.error else ""

    @property
    def is_warning(self) -> bool:
        return self.state != "fresh" or bool(self.paused) or self.overdue


PAUSE_PROBE_EVERY = 5.0  # seconds a process trusts its last Redis probe (pages must not pay a probe each)
_pause_probe: tuple[int, float, str] | None = None  # (pid, monotonic time, reason)


def refreshes_paused_reason() -> str:
    """Why refreshes are paused now, or "" when they are not: Redis (broker, locks) unreachable. The pages keep
    serving the database; the failure drill tests/ops/test_drills.py shows this and that refreshes resume by
    themselves when Redis returns. Probed with /healthz's short timeouts, at most every PAUSE_PROBE_EVERY s."""
    global _pause_probe
    now = time.monotonic()
    if _pause_probe and _pause_probe[0] == os.getpid() and now - _pause_probe[1] < PAUSE_PROBE_EVERY:
        return _pause_probe[2]
    import redis

    from proctordash.core.redisprobe import describe_redis_error, redis_probe_client

    client = redis_probe_client()
    try:
        client.ping()
        reason = ""
    except redis.RedisError as exc:
        reason = describe_redis_error(exc)
    finally:
        client.close()
    _pause_probe = (os.getpid(), now, reason)
    return reason


_UNSET = object()


def freshness_get(upstream: str, *, now: datetime | None = None, state=_UNSET) -> Freshness:
    """Selector: the freshness of one upstream's cached data (one query; none when the caller already read the
    upstream's UpstreamState row, or None for no row, and passes it as `state`)."""
    from proctordash.sync.engine import time_limit

    now = now or timezone.now()
    label = Upstream(upstream).label
    if state is _UNSET:
        state = UpstreamState.objects.filter(upstream=upstream).first()
    paused = refreshes_paused_reason()
    # the refresh in flight and the time it may take (a full appointments pass; ProctorExam's pass)
    running = dict(running_since=state.running_since if state else None, now=now,
                   time_limit=time_limit(UPSTREAM_KIND[upstream]))
    if state is None or state.last_success_at is None:
        return Freshness(upstream, label, "never", None, error=state.last_error if state else "",
                         error_at=state.last_error_at if state else None, paused=paused, **running)
    failed = state.last_error_at is not None and state.last_error_at > state.last_success_at
    stale = now - state.last_success_at > timedelta(seconds=settings.DATA_STALE_AFTER)
    kind = "failed" if failed else "stale" if stale else "fresh"
    return Freshness(upstream, label, kind, state.last_success_at, error=state.last_error if failed else "",
                     error_at=state.last_error_at if failed else None, rate_limited_until=state.rate_limited_until,
                     paused=paused, **running)


# the kind whose time limit applies to an upstream's refresh in flight
UPSTREAM_KIND = {Upstream.SMARTERPROCTORING: "appointments_full", Upstream.PROCTOREXAM: "proctorexam"}
