"""What the health page and /healthz report: per upstream figures, Celery's pulse, the queue, and reachability.

Every probe of Redis here uses its own short-timeout client (HEALTH_REDIS_TIMEOUT) so that a dead Redis makes the
health pages say so quickly instead of hanging for the cache's two-second timeouts.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from proctordash.core.redisprobe import HEALTH_REDIS_TIMEOUT, describe_redis_error, redis_probe_client  # noqa: F401
from proctordash.sync.freshness import Freshness, freshness_get
from proctordash.sync.models import SyncRun, Upstream, UpstreamState

log = logging.getLogger(__name__)

WORKER_PING_TIMEOUT = 0.5
WORKERS_KEY = "proctordash:monitoring:workers"  # hash: worker name -> ISO time last seen answering a ping
BEAT_TICK_KEY = "proctordash:monitoring:beat-tick"  # ISO time the beat-scheduled alert check last ran
PING_CACHE_KEY = "proctordash:monitoring:ping-at"  # a ping is sent at most every PING_EVERY seconds
PING_EVERY = 10
QUEUE_NAME = "celery"  # Celery's default queue: a Redis list of that name on the broker


# --- /healthz ------------------------------------------------------------------------------------------------------
def healthz_report(*, now: datetime | None = None) -> tuple[bool, dict]:
    """(healthy, JSON body). Healthy means the database and Redis answer; stale data is reported but does not
    make the instance unhealthy (a load balancer would only take every web node out for an upstream's outage)."""
    now = now or timezone.now()
    body: dict = {"status": "ok", "checks": {}, "data": {}}
    reasons = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        body["checks"]["database"] = {"ok": True}
        db_ok = True
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"; the reason names only its kind
        db_ok = False
        reason = f"database unreachable ({type(exc).__name__})"
        body["checks"]["database"] = {"ok": False, "error": reason}
        reasons.append(reason)
    client = redis_probe_client()
    try:
        client.ping()
        body["checks"]["redis"] = {"ok": True}
    except redis.RedisError as exc:
        reason = describe_redis_error(exc)
        body["checks"]["redis"] = {"ok": False, "error": reason}
        reasons.append(reason)
    finally:
        client.close()
    if db_ok:
        for upstream in Upstream.values:
            fresh = freshness_get(upstream, now=now)
            body["data"][upstream] = {
                "state": fresh.state,
                "age_seconds": int((now - fresh.as_of).total_seconds()) if fresh.as_of else None,
            }
    healthy = not reasons
    if not healthy:
        body["status"] = "unavailable"
        body["reasons"] = reasons
    return healthy, body


# --- /health/ ------------------------------------------------------------------------------------------------------
@dataclass
class CallFigures:
    calls: int = 0
    errors: int = 0
    retries: int = 0
    rate_limited: int = 0
    median_ms: float | None = None
    available: bool = True  # False when the recorded calls could not be read


def call_figures(upstream: str, *, since: datetime) -> CallFigures:
    """Counts and median latency of the calls the clients recorded since `since` (see integrations/recording.py).
    A call that ended in an error counts once as an error; `retries` adds up the retries inside calls."""
    try:
        from proctordash.integrations.recording import calls_since
    except ImportError:  # the clients part not installed: say so rather than invent zeros
        return CallFigures(available=False)
    calls = calls_since(upstream, since)
    figures = CallFigures(calls=len(calls))
    durations = []
    for call in calls:
        if call.error is not None:
            figures.errors += 1
        if call.status == 429:
            figures.rate_limited += 1
        figures.retries += int(call.retries or 0)
        durations.append(float(call.duration_ms))
    figures.median_ms = round(statistics.median(durations), 1) if durations else None
    return figures


@dataclass
class UpstreamHealth:
    upstream: str
    label: str
    freshness: Freshness
    state: UpstreamState | None
    calls: CallFigures
    last_run: SyncRun | None  # the last finished full pass (for completeness)
    rate_limited_until: datetime | None
    running: SyncRun | None = None
    why: list[str] = field(default_factory=list)  # what makes this upstream's data untrustworthy now
    last_completed: SyncRun | None = None  # the last refresh of this upstream that ended, whatever its outcome

    @property
    def completeness(self) -> tuple[int, int | None, float | None]:
        """(records fetched, records announced, percent) of the last finished pass."""
        if self.last_run is None:
            return 0, None, None
        seen, expected = self.last_run.records_seen, self.last_run.records_expected
        if not expected:
            return seen, expected, None if expected is None else 100.0
        return seen, expected, round(100.0 * seen / expected, 1)


# The passes whose completeness the page reports: those that fetch everything the upstream announces.
FULL_KINDS = {
    Upstream.SMARTERPROCTORING: [SyncRun.Kind.APPOINTMENTS_FULL],
    Upstream.PROCTOREXAM: [SyncRun.Kind.PROCTOREXAM],
}
# Every refresh that (re)builds an upstream's cache, for "last completed run" and "in flight".
REFRESH_KINDS = {
    Upstream.SMARTERPROCTORING: [SyncRun.Kind.APPOINTMENTS_FULL, SyncRun.Kind.APPOINTMENTS_INCREMENTAL],
    Upstream.PROCTOREXAM: [SyncRun.Kind.PROCTOREXAM],
}
FINISHED = [SyncRun.Outcome.SUCCESS, SyncRun.Outcome.FAILED, SyncRun.Outcome.ABANDONED]
FAILING_SEVERAL = 3  # consecutive failures that count as "failing several times in a row"


def upstream_health(*, now: datetime | None = None) -> list[UpstreamHealth]:
    now = now or timezone.now()
    since = now - timedelta(hours=1)
    states = {s.upstream: s for s in UpstreamState.objects.all()}
    result = []
    for upstream in Upstream:
        state = states.get(upstream.value)
        fresh = freshness_get(upstream.value, now=now)
        last_run = SyncRun.objects.filter(kind__in=FULL_KINDS[upstream], outcome__in=FINISHED).order_by(
            "-started_at").first()
        # the refreshes that make the data (not one learner's sessions): the last that ended and any in flight
        last_completed = SyncRun.objects.filter(kind__in=REFRESH_KINDS[upstream], outcome__in=FINISHED).order_by(
            "-finished_at", "-started_at").first()
        running = SyncRun.objects.filter(kind__in=REFRESH_KINDS[upstream], outcome__in=[
            SyncRun.Outcome.RUNNING, SyncRun.Outcome.QUEUED]).order_by("-started_at").first()
        limited = state.rate_limited_until if state and state.rate_limited_until and state.rate_limited_until > now \
            else None
        health = UpstreamHealth(upstream.value, upstream.label, fresh, state, call_figures(upstream.value, since=since),
                                last_run, limited, running, last_completed=last_completed)
        if fresh.overdue:
            health.why.append(f"a refresh has been running for {fresh.running_for}, past its time limit of "
                              f"{fresh.time_limit_text}")
        if fresh.state == "never":
            health.why.append("no refresh has completed yet")
        elif fresh.state == "stale":
            health.why.append(f"the last good refresh is older than {settings.DATA_STALE_AFTER // 60} minutes")
        elif fresh.state == "failed":
            health.why.append("the last refresh failed")
        if state and state.consecutive_failures >= FAILING_SEVERAL:
            health.why.append(f"{state.consecutive_failures} refreshes in a row failed")
        if limited:
            health.why.append("the upstream is rate-limiting us")
        result.append(health)
    return result


@dataclass
class CeleryHealth:
    redis_ok: bool
    redis_error: str = ""
    queue_length: int | None = None
    workers: list[tuple[str, datetime | None, bool]] = field(default_factory=list)  # (name, last seen, alive now)
    beat_tick: datetime | None = None


def _parse_iso(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def ping_workers(client: redis.Redis, *, now: datetime) -> set[str]:
    """Ask the workers to answer (at most every PING_EVERY s across all pages) and remember who answered when."""
    if not client.set(PING_CACHE_KEY, now.isoformat(), nx=True, ex=PING_EVERY):
        return set()
    from proctordash.celery import app

    try:
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT) or []
    except Exception as exc:  # noqa: BLE001 - a broker hiccup must not break the health page
        log.warning("worker ping failed: %s", type(exc).__name__)
        return set()
    alive = {name for reply in replies for name in reply}
    if alive:
        client.hset(WORKERS_KEY, mapping={name: now.isoformat() for name in alive})
        client.expire(WORKERS_KEY, 7 * 86400)
    return alive


def celery_health(*, now: datetime | None = None, ping: bool = True) -> CeleryHealth:
    now = now or timezone.now()
    client = redis_probe_client()
    try:
        client.ping()
        alive = ping_workers(client, now=now) if ping else set()
        seen = {k.decode(): _parse_iso(v) for k, v in client.hgetall(WORKERS_KEY).items()}
        fresh_after = now - timedelta(seconds=PING_EVERY * 3)
        workers = sorted(((name, at, name in alive or (at is not None and at >= fresh_after))
                          for name, at in seen.items()), key=lambda w: w[0])
        return CeleryHealth(True, "", client.llen(QUEUE_NAME), workers, _parse_iso(client.get(BEAT_TICK_KEY)))
    except redis.RedisError as exc:
        return CeleryHealth(False, describe_redis_error(exc))
    finally:
        client.close()


def beat_tick_record(*, at: datetime | None = None) -> None:
    """Called by the beat-scheduled alert check: the time beat last got a task to a worker."""
    client = redis_probe_client()
    try:
        client.set(BEAT_TICK_KEY, (at or timezone.now()).isoformat(), ex=7 * 86400)
    except redis.RedisError:
        pass
    finally:
        client.close()


def recent_runs(*, limit: int = 20) -> list[SyncRun]:
    return list(SyncRun.objects.order_by("-started_at")[:limit])
