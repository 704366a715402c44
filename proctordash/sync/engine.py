"""The sync engine's machinery: SyncRun bookkeeping, one-run-per-kind Redis locks, the shared rate-limit pause and
UpstreamState updates. The passes in passes.py run under it; pages ask for a refresh with
`passes.refresh_request` / `passes.sessions_refresh_request`.

Locks. Every running run holds a Redis key `proctordash:sync:lock:<name>` whose value is "<run id>:<token>", set with
NX and an expiry (SYNC_LOCK_TTL). A daemon thread extends it every TTL/3 while the run is alive, so a run never loses
its lock because one page was slow, and a worker killed with SIGKILL frees it within TTL. A run that finds its lock
gone (or taken) stops before writing anything more. Whoever takes a free lock marks runs of the same name still
"running" as failed ("worker lost"): a running run always holds its lock, so one without it is dead.

Rate limits. A 429 stores `proctordash:sync:pause:<upstream>` with the Retry-After as its expiry; every worker checks
it before each upstream call and waits (up to SYNC_MAX_INLINE_PAUSE seconds) or gives up with SyncPaused, which the
tasks retry after the pause.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import redis
from django.conf import settings
from django.db import reset_queries, transaction
from django.db.models import F
from django.utils import timezone

from proctordash.core import taskqueue
from proctordash.sync.models import SyncRun, Upstream, UpstreamState

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_PREFIX = "proctordash:sync:"

KIND_UPSTREAM = {
    SyncRun.Kind.APPOINTMENTS_FULL: Upstream.SMARTERPROCTORING,
    SyncRun.Kind.APPOINTMENTS_INCREMENTAL: Upstream.SMARTERPROCTORING,
    SyncRun.Kind.SESSIONS: Upstream.SMARTERPROCTORING,
    SyncRun.Kind.PROCTOREXAM: Upstream.PROCTOREXAM,
}

# The task each kind's refresh_request enqueues (dotted paths: tasks.py imports this module).
KIND_TASK = {
    SyncRun.Kind.APPOINTMENTS_FULL: "proctordash.sync.tasks.refresh_appointments_task",
    SyncRun.Kind.APPOINTMENTS_INCREMENTAL: "proctordash.sync.tasks.refresh_appointments_task",
    SyncRun.Kind.SESSIONS: "proctordash.sync.tasks.refresh_enrollment_sessions_task",
    SyncRun.Kind.PROCTOREXAM: "proctordash.sync.tasks.refresh_proctorexam_task",
}
KIND_ALIASES = {"appointments": SyncRun.Kind.APPOINTMENTS_FULL, "incremental": SyncRun.Kind.APPOINTMENTS_INCREMENTAL}


def lock_ttl() -> int:
    return int(getattr(settings, "SYNC_LOCK_TTL", 60))


def max_inline_pause() -> float:
    return float(getattr(settings, "SYNC_MAX_INLINE_PAUSE", 30))


def time_limit(kind: str) -> int:
    """Seconds a run of `kind` may take: its task's soft time limit (tasks.py), after which the run stops and is
    failed, and past which the health page and the freshness line say it is overdue. Settings
    SYNC_APPOINTMENTS_TIME_LIMIT, SYNC_SESSIONS_TIME_LIMIT, SYNC_PROCTOREXAM_TIME_LIMIT."""
    if kind in (SyncRun.Kind.APPOINTMENTS_FULL, SyncRun.Kind.APPOINTMENTS_INCREMENTAL):
        return int(getattr(settings, "SYNC_APPOINTMENTS_TIME_LIMIT", 3000))
    if kind == SyncRun.Kind.SESSIONS:
        return int(getattr(settings, "SYNC_SESSIONS_TIME_LIMIT", 120))
    return int(getattr(settings, "SYNC_PROCTOREXAM_TIME_LIMIT", 120))


def pending_ttl() -> int:
    # How long a queued request answers further requests before a new one may be made (worker down, queue lost).
    return int(getattr(settings, "SYNC_PENDING_TTL", 600))


class SyncError(Exception):
    """Base of the sync machinery's own errors."""


class AlreadyRunning(SyncError):
    """A run of the same kind (and scope) holds the lock; `.run` is that run (or None if it could not be read)."""

    def __init__(self, run: SyncRun | None):
        self.run = run
        super().__init__(f"a run of this kind is already running (run #{run.pk if run else '?'})")


class SyncLockLost(SyncError):
    """The lock expired or was taken while this run was working: stop before writing more."""


class SyncPaused(SyncError):
    """The upstream is paused by a 429 for longer than a run waits inline; retry after `.retry_after` seconds."""

    def __init__(self, upstream: str, retry_after: float):
        self.upstream = upstream
        self.retry_after = retry_after
        super().__init__(f"{Upstream(upstream).label} asked us to slow down (HTTP 429); paused for {retry_after:.0f} s")


# --- redis -----------------------------------------------------------------------------------------------------------
_redis: tuple[int, redis.Redis] | None = None


def redis_client() -> redis.Redis:
    """One client per process (re-created after fork: Celery's prefork children must not share a socket)."""
    global _redis
    if _redis is None or _redis[0] != os.getpid():
        _redis = (os.getpid(), redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5))
    return _redis[1]


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""


def lock_name(kind: str, scope: str = "") -> str:
    # Full and incremental appointment passes write the same rows and a full pass marks removals from what it saw:
    # they share one lock, so an incremental pass can never insert a row behind a full pass's back.
    base = "appointments" if kind in (SyncRun.Kind.APPOINTMENTS_FULL, SyncRun.Kind.APPOINTMENTS_INCREMENTAL) else kind
    return f"{base}:{scope}" if scope else base


def _lock_key(name: str) -> str:
    return f"{KEY_PREFIX}lock:{name}"


def _pending_key(kind: str, scope: str) -> str:
    return f"{KEY_PREFIX}pending:{kind}:{scope}"


def lock_holder(name: str) -> SyncRun | None:
    """The run holding lock `name`, if any."""
    value = redis_client().get(_lock_key(name))
    if not value:
        return None
    run_id = value.decode().split(":", 1)[0]
    return SyncRun.objects.filter(pk=int(run_id)).first() if run_id.isdecimal() else None


class LockKeeper:
    """Holds a lock and extends it from a daemon thread until released; `.lost` turns true if it slipped away."""

    def __init__(self, name: str, value: str, ttl: int):
        self.key, self.value, self.ttl = _lock_key(name), value, ttl
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sync-lock-{name}", daemon=True)

    def acquire(self) -> bool:
        if not redis_client().set(self.key, self.value, nx=True, ex=self.ttl):
            return False
        self._thread.start()
        return True

    def _run(self) -> None:
        client = redis_client()
        while not self._stop.wait(max(self.ttl / 3, 0.2)):
            try:
                if not client.eval(_EXTEND, 1, self.key, self.value, int(self.ttl * 1000)):
                    self.lost = True
                    return
            except redis.RedisError:
                log.warning("could not extend sync lock %s", self.key)

    def check(self) -> None:
        if self.lost:
            raise SyncLockLost("the run's lock expired or was taken by another run; stopped before writing more")

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        try:
            redis_client().eval(_RELEASE, 1, self.key, self.value)
        except redis.RedisError:
            log.warning("could not release sync lock %s (it expires by itself)", self.key)


# --- the shared rate-limit pause ---------------------------------------------------------------------------------
def _pause_key(upstream: str) -> str:
    return f"{KEY_PREFIX}pause:{upstream}"


def upstream_paused_for(upstream: str) -> float:
    """Seconds the upstream is still paused by a 429 (0 when it is not)."""
    ms = redis_client().pttl(_pause_key(upstream))
    return ms / 1000 if ms and ms > 0 else 0.0


def upstream_pause(upstream: str, seconds: float, *, record: bool = True) -> None:
    """Pause the upstream for every worker (a 429's Retry-After); never shortens a longer pause already set.
    `record=False` leaves UpstreamState alone (a fetcher thread, which has no database connection of its own; the
    pass records it)."""
    seconds = max(float(seconds), 1.0)
    client = redis_client()
    if upstream_paused_for(upstream) < seconds:
        client.set(_pause_key(upstream), "1", px=int(seconds * 1000))
    if not record:
        return
    until = timezone.now() + timedelta(seconds=seconds)
    UpstreamState.objects.get_or_create(upstream=upstream)
    UpstreamState.objects.filter(upstream=upstream).update(rate_limited_until=until)


def wait_if_paused(upstream: str, *, max_wait: float | None = None) -> None:
    """Wait out a short shared pause; raise SyncPaused for a long one."""
    max_wait = max_inline_pause() if max_wait is None else max_wait
    remaining = upstream_paused_for(upstream)
    if remaining > max_wait:
        raise SyncPaused(upstream, remaining)
    if remaining:
        time.sleep(remaining)


def upstream_call(upstream: str, fn: Callable[[], T], *, max_wait: float | None = None, attempts: int = 3,
                  record: bool = True) -> T:
    """Call the upstream honouring the shared pause: wait it out when short, raise SyncPaused when long.
    A 429 from the call sets the pause for everyone, then the call is tried again (up to `attempts` times).
    `record=False`: as upstream_pause's (for threads without a database connection)."""
    from proctordash.integrations.exceptions import UpstreamRateLimited

    max_wait = max_inline_pause() if max_wait is None else max_wait
    for attempt in range(attempts):
        wait_if_paused(upstream, max_wait=max_wait)
        try:
            return fn()
        except UpstreamRateLimited as e:
            retry_after = float(getattr(e, "retry_after", None) or 30)
            upstream_pause(upstream, retry_after, record=record)
            if attempt == attempts - 1 or retry_after > max_wait:
                raise
    raise AssertionError("unreachable")


# --- runs --------------------------------------------------------------------------------------------------------
def error_summary(exc: BaseException, *, kind: str | None = None) -> str:
    """One line naming the cause; the clients' messages never carry secrets."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        limit = time_limit(kind) if kind else None
        return ("Stopped: the refresh ran past its time limit"
                + (f" of {_minutes(limit)}" if limit else "") + "; the pages it wrote are kept, the next run goes on.")
    text = f"{type(exc).__name__}: {exc}".strip()
    return text[:2000]


def _minutes(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{seconds:.0f} s"
    return f"{minutes:.0f} min" if minutes >= 10 or minutes == int(minutes) else f"{minutes:.1f} min"


def upstream_state_success(upstream: str, *, at: datetime | None = None) -> None:
    at = at or timezone.now()
    UpstreamState.objects.get_or_create(upstream=upstream)
    UpstreamState.objects.filter(upstream=upstream).update(last_success_at=at, consecutive_failures=0)


def upstream_state_failure(upstream: str, summary: str, *, at: datetime | None = None) -> None:
    at = at or timezone.now()
    UpstreamState.objects.get_or_create(upstream=upstream)
    UpstreamState.objects.filter(upstream=upstream).update(
        last_error=summary, last_error_at=at, consecutive_failures=F("consecutive_failures") + 1
    )


def _abandon(run: SyncRun, now: datetime) -> bool:
    """Mark a running run whose worker is gone as abandoned (a conditional UPDATE: a run that finished meanwhile is
    left as it is)."""
    seen = run.heartbeat_at or run.started_at
    UpstreamState.objects.filter(running_run_id=run.pk).update(running_since=None, running_run_id=None)
    return bool(SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.Outcome.RUNNING).update(
        outcome=SyncRun.Outcome.ABANDONED, finished_at=now,
        error_summary=f"Worker lost: the worker running it stopped (killed or restarted) without finishing; "
                      f"last sign of life {seen:%Y-%m-%d %H:%M:%S} UTC. The pages it wrote are kept.",
    ))


def _reap(name: str, kind: str, scope: str, keep: int) -> None:
    """Runs of this lock still marked running while we hold its lock are dead (their worker was killed)."""
    kinds = [k for k in KIND_UPSTREAM if lock_name(k, scope) == name]
    now = timezone.now()
    for run in SyncRun.objects.filter(kind__in=kinds, scope=scope, outcome=SyncRun.Outcome.RUNNING).exclude(pk=keep):
        _abandon(run, now)


def abandoned_runs_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic sweep (beat entry `sync-sweep`): runs still "running" whose worker is gone become "abandoned",
    without waiting for the next run of their kind; requests no worker picked up within SYNC_PENDING_TTL are closed.

    A running run always holds its lock (extended by a thread of its worker every TTL/3), so a run older than a
    grace of 2 × SYNC_LOCK_TTL whose lock is free or held by another run has no live worker. Returns the counts."""
    now = now or timezone.now()
    grace = timedelta(seconds=2 * lock_ttl() + 5)
    abandoned = 0
    for run in SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING, started_at__lt=now - grace):
        seen = run.heartbeat_at or run.started_at
        if seen > now - grace:
            continue  # a sign of life within the grace: its lock may just be being taken
        holder = lock_holder(lock_name(run.kind, run.scope))
        if holder is None or holder.pk != run.pk:
            abandoned += _abandon(run, now)
    # a run in flight that is not running any more (its end could not be recorded): the freshness line forgets it
    for state in UpstreamState.objects.exclude(running_run_id=None):
        if not SyncRun.objects.filter(pk=state.running_run_id, outcome=SyncRun.Outcome.RUNNING).exists():
            UpstreamState.objects.filter(pk=state.pk, running_run_id=state.running_run_id).update(
                running_since=None, running_run_id=None)
    unclaimed = SyncRun.objects.filter(outcome=SyncRun.Outcome.QUEUED,
                                       started_at__lt=now - timedelta(seconds=pending_ttl())).update(
        outcome=SyncRun.Outcome.FAILED, finished_at=now,
        error_summary="No worker picked this request up (is the Celery worker running?).")
    if abandoned or unclaimed:
        log.warning("sync sweep: %s run(s) abandoned, %s request(s) never picked up", abandoned, unclaimed)
    return {"abandoned": abandoned, "unclaimed": unclaimed}


def _upstream_trouble(exc: BaseException) -> bool:
    """Whether a failure says something about the upstream's health (the freshness banner and alerts use it): a 404
    or 400 for one enrollment's sessions, or losing our own lock, does not."""
    from proctordash.integrations.exceptions import UpstreamNotFound, UpstreamValidationError

    return not isinstance(exc, (SyncLockLost, UpstreamNotFound, UpstreamValidationError))


def _fast_commits(on: bool = True) -> None:
    """Commits that do not wait for an fsync, for this connection while a run lasts: SQLite in WAL mode with
    synchronous=NORMAL, PostgreSQL with synchronous_commit off (`on=False` restores PostgreSQL's default; SQLite's
    setting is harmless to keep). The database stays consistent either way; a crash or power cut can only lose the
    last commits, i.e. the last pages written, and the next pass rewrites them (their rows still differ from the
    upstream's). A sync writes one transaction per page, and PostgreSQL's fsync per commit was a large share of
    the time on a busy disk."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off" if on else "RESET synchronous_commit")
    if on and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A page cache of 64 MiB instead of SQLite's 2 MiB: the upsert updates ten indexes at random places
            # (SIDs are random), and with 100,000 rows their pages no longer fit in 2 MiB, so every page of writes
            # re-read index pages from disk. Bounded, so a worker's peak memory still does not grow with the data.
            cursor.execute("PRAGMA cache_size=-65536")


@dataclass
class RunContext:
    """What a service gets while it runs: the SyncRun, progress reporting and the lock check."""

    run: SyncRun
    keeper: LockKeeper
    counts: dict[str, int] = field(default_factory=lambda: dict(seen=0, created=0, updated=0, removed=0))

    def check(self) -> None:
        self.keeper.check()

    def progress(self, *, pages: int = 0, requests: int = 0, seen: int = 0, created: int = 0, updated: int = 0,
                 removed: int = 0, expected: int | None = None, pages_total: int | None = None) -> None:
        """Add to the run's counters and beat its heart (one UPDATE: the health page polls it)."""
        for key, value in (("seen", seen), ("created", created), ("updated", updated), ("removed", removed)):
            self.counts[key] += value
        values: dict[str, Any] = dict(
            pages=F("pages") + pages, requests_made=F("requests_made") + requests,
            records_seen=F("records_seen") + seen, records_created=F("records_created") + created,
            records_updated=F("records_updated") + updated, records_removed=F("records_removed") + removed,
            heartbeat_at=timezone.now(),
        )
        if expected is not None:
            values["records_expected"] = expected
        if pages_total is not None:
            values["pages_total"] = pages_total
        SyncRun.objects.filter(pk=self.run.pk).update(**values)
        if settings.DEBUG:
            # DEBUG keeps every SQL statement (each bulk INSERT holds a page of JSON) until a request resets it; a
            # worker has no requests, so a long pass would hoard them all
            reset_queries()

    def skipped(self, records: list[tuple[Any, str]]) -> None:
        """Report malformed records left out of the pass: counted on the run, the first error kept (it names the
        record's key and the bad fields, never their values)."""
        if not records:
            return
        key, message = records[0]
        first = (f"{key}: {message}" if key is not None else f"(a record without an identity): {message}")[:1000]
        log.warning("sync run %s: %d malformed record(s) skipped, first: %s", self.run.pk, len(records), first)
        SyncRun.objects.filter(pk=self.run.pk).update(records_skipped=F("records_skipped") + len(records))
        SyncRun.objects.filter(pk=self.run.pk, skipped_first_error="").update(skipped_first_error=first)

    def note(self, text: str) -> None:
        log.info("sync run %s: %s", self.run.pk, text)
        self.run.notes = (self.run.notes + "\n" + text).strip()
        SyncRun.objects.filter(pk=self.run.pk).update(notes=self.run.notes)


@contextmanager
def sync_run(*, kind: str, scope: str = "", run_id: int | None = None, task_id: str = "",
             counts_as_refresh: bool = True, wait_for_lock: float = 0):
    """Run one sync of `kind` under its lock, with its SyncRun bookkeeping.

    Yields a RunContext. On success the run is marked succeeded (and, when `counts_as_refresh`, the upstream's
    last_success_at is set); on any exception it is marked failed with the cause, the upstream's error state is
    updated, and the exception propagates. Raises AlreadyRunning (before doing anything) when another run holds the
    lock; a queued run `run_id` that loses this way is marked skipped.
    """
    kind = SyncRun.Kind(kind)
    upstream = KIND_UPSTREAM[kind]
    name = lock_name(kind, scope)
    now = timezone.now()
    run = SyncRun.objects.filter(pk=run_id).first() if run_id else None
    if run is not None and run.outcome not in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING):
        run = None  # finished already (a redelivered or retried task): this attempt is a run of its own
    created = run is None
    if run is None:
        run = SyncRun.objects.create(kind=kind, upstream=upstream, scope=scope, started_at=now,
                                     outcome=SyncRun.Outcome.RUNNING, task_id=task_id[:100], heartbeat_at=now)
    keeper = LockKeeper(name, f"{run.pk}:{uuid.uuid4().hex}", lock_ttl())
    deadline = time.monotonic() + wait_for_lock
    while not keeper.acquire():
        holder = lock_holder(name)
        # A redelivered task (its worker was SIGKILLed) finds its own run's stale lock: wait for it to expire.
        own = holder is not None and holder.pk == run.pk
        if time.monotonic() < deadline or (own and time.monotonic() < deadline + lock_ttl() + 2):
            time.sleep(0.2)
            continue
        if created:
            run.delete()
        else:
            SyncRun.objects.filter(pk=run.pk).update(
                outcome=SyncRun.Outcome.SKIPPED, finished_at=timezone.now(),
                error_summary=f"Not run: run #{holder.pk if holder else '?'} of this kind was already running.")
        raise AlreadyRunning(holder)
    try:
        _fast_commits()
        _reap(name, kind, scope, keep=run.pk)
        now = timezone.now()
        SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.RUNNING, started_at=now, heartbeat_at=now,
                                                 task_id=task_id[:100] or run.task_id)
        run.refresh_from_db()
        if counts_as_refresh:
            UpstreamState.objects.get_or_create(upstream=upstream)
            UpstreamState.objects.filter(upstream=upstream).update(running_since=now, running_run_id=run.pk)
        ctx = RunContext(run=run, keeper=keeper)
        try:
            yield ctx
            keeper.check()
        except BaseException as exc:
            summary = error_summary(exc, kind=kind)
            log.warning("sync run %s (%s) failed: %s", run.pk, kind, summary)
            SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.FAILED, finished_at=timezone.now(),
                                                     error_summary=summary, heartbeat_at=timezone.now())
            if _upstream_trouble(exc):
                upstream_state_failure(upstream, f"{run.get_kind_display()}: {summary}")
            raise
        finished = timezone.now()
        SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCESS, finished_at=finished,
                                                 heartbeat_at=finished)
        if counts_as_refresh:
            # as of when the pass began: anything that changed upstream during the pass may not be in it
            upstream_state_success(upstream, at=run.started_at)
        run.refresh_from_db()
    finally:
        keeper.release()
        try:
            UpstreamState.objects.filter(upstream=upstream, running_run_id=run.pk).update(running_since=None,
                                                                                          running_run_id=None)
        except Exception:  # the database may be what failed; the sweep clears it later
            log.debug("could not clear the run in flight", exc_info=True)
        try:
            _fast_commits(False)
        except Exception:  # the connection may be broken (that is why the run failed): nothing to restore
            log.debug("could not restore synchronous_commit", exc_info=True)
        # the request key answers further requests with this run until it has finished
        try:
            redis_client().eval(_RELEASE, 1, _pending_key(kind, scope), str(run.pk))
        except redis.RedisError:
            pass


# --- requests from pages -----------------------------------------------------------------------------------------
def normalise_kind(kind: str) -> SyncRun.Kind:
    kind = KIND_ALIASES.get(kind, kind)
    try:
        return SyncRun.Kind(kind)
    except ValueError:
        raise ValueError(f"unknown sync kind {kind!r}; one of {', '.join(SyncRun.Kind.values)}") from None


def refresh_request(*, kind: str, scope: str = "", task_kwargs: dict | None = None) -> SyncRun:
    """Ask for a refresh of `kind`: returns the run already running or queued for it, or queues a new one.

    The returned SyncRun is what a progress bar polls (outcome queued → running → success/failed; pages,
    pages_total, records_expected, records_seen while it runs). The task is sent after the current transaction
    commits.
    """
    from django.utils.module_loading import import_string

    kind = normalise_kind(kind)
    name = lock_name(kind, scope)
    client = redis_client()
    pending_key = _pending_key(kind, scope)
    # The request key lives from the request until its run finishes, so it is read first: a run that has just
    # taken the lock is still found through it.
    pending = client.get(pending_key)
    if pending:
        run = SyncRun.objects.filter(pk=int(pending), outcome__in=[SyncRun.Outcome.QUEUED,
                                                                   SyncRun.Outcome.RUNNING]).first()
        holder = lock_holder(name)
        if run is not None and run.outcome == SyncRun.Outcome.RUNNING and (holder is None or holder.pk != run.pk):
            _reap(name, kind, scope, keep=holder.pk if holder else 0)  # running without its lock: its worker died
            run = None
        if run is not None:
            return run
        client.eval(_RELEASE, 1, pending_key, pending)  # that run finished (or vanished)
    holder = lock_holder(name)
    if holder is not None and holder.outcome in (SyncRun.Outcome.RUNNING, SyncRun.Outcome.QUEUED):
        return holder
    # Requests never picked up by a worker within the pending window are closed so they do not show forever (the
    # periodic sweep does the same for every kind).
    SyncRun.objects.filter(kind=kind, scope=scope, outcome=SyncRun.Outcome.QUEUED,
                           started_at__lt=timezone.now() - timedelta(seconds=pending_ttl())).update(
        outcome=SyncRun.Outcome.FAILED, finished_at=timezone.now(),
        error_summary="No worker picked this request up (is the Celery worker running?).")
    run = SyncRun.objects.create(kind=kind, upstream=KIND_UPSTREAM[kind], scope=scope, started_at=timezone.now(),
                                 outcome=SyncRun.Outcome.QUEUED)
    if not client.set(pending_key, str(run.pk), nx=True, ex=pending_ttl()):
        run.delete()  # another request won the race a moment ago: answer with its run
        other = client.get(pending_key)
        found = SyncRun.objects.filter(pk=int(other)).first() if other else None
        return found or lock_holder(name) or run
    task = import_string(KIND_TASK[kind])
    kwargs = {"run_id": run.pk, **(task_kwargs or {})}
    if kind == SyncRun.Kind.APPOINTMENTS_INCREMENTAL:
        kwargs["incremental"] = True

    def send() -> None:
        task_id = taskqueue.send_task(task.name, kwargs=kwargs)
        SyncRun.objects.filter(pk=run.pk, task_id="").update(task_id=task_id[:100])

    transaction.on_commit(send)
    return run


def run_get(run_id: int) -> SyncRun | None:
    """Selector for a progress bar: the run (fresh from the database)."""
    return SyncRun.objects.filter(pk=run_id).first()


def retry_countdown(exc: BaseException, retries: int) -> float:
    """Exponential backoff for a task whose upstream is down (30 s, 60 s, 120 s … capped at SYNC_RETRY_MAX), never
    sooner than a rate-limit pause asks."""
    base = float(getattr(settings, "SYNC_RETRY_BASE", 30))
    countdown = min(base * (2 ** retries), float(getattr(settings, "SYNC_RETRY_MAX", 900)))
    wait = getattr(exc, "retry_after", None)
    return max(countdown, float(wait)) if wait else countdown
