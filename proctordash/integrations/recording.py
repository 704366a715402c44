"""A record of every upstream call, for the health page: what was called, how it ended, how long it took.

Each record holds the upstream, the endpoint *template* ("GET /v1/installs/{installSid}/reports/appointments"),
the HTTP status or the exception class, duration, retries and time: no query strings, no bodies, no tokens, so no
personal data. Records live in one Redis sorted set per upstream (score = time), through the connection of Django's
default cache, trimmed to the last hour and to MAX_RECORDS entries on every write, so the store stays bounded.

Recording is best effort: when Redis is down a call still succeeds or fails on its own merits; the recorder backs
off for a while instead of paying a connection timeout on every call.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

KEEP = timedelta(hours=1)
MAX_RECORDS = 5000  # per upstream: about 80 calls a minute for an hour
REDIS_RETRY_AFTER = 30.0  # seconds to stop trying after Redis failed

_down_until = 0.0
_lock = threading.Lock()


@dataclass(frozen=True)
class CallRecord:
    """One upstream call. `status` is the last HTTP status (None when no response came); `error` is the
    exception class name (e.g. "UpstreamUnavailable") or None on success."""

    upstream: str
    endpoint: str
    status: int | None
    error: str | None
    duration_ms: float
    retries: int
    at: datetime

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.timestamp()
        # A random tag keeps two identical records in the same millisecond from collapsing in the sorted set.
        data["id"] = secrets.token_hex(4)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CallRecord:
        data = json.loads(raw)
        data.pop("id", None)
        data["at"] = datetime.fromtimestamp(data["at"], tz=timezone.utc)
        return cls(**data)


def _key(upstream: str) -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "proctordash")
    return f"{prefix}:upstream-calls:{upstream}"


def _redis(write: bool):
    # Django's RedisCache keeps a pooled redis-py client per cache; reuse its connection settings and pool.
    return caches["default"]._cache.get_client(None, write=write)


def _available() -> bool:
    return time.monotonic() >= _down_until


def _mark_down(error: Exception) -> None:
    global _down_until
    with _lock:
        _down_until = time.monotonic() + REDIS_RETRY_AFTER
    logger.warning("call recording paused for %.0f s: Redis unavailable (%s)", REDIS_RETRY_AFTER,
                   type(error).__name__)


# Monotonic counters for /metrics (proctordash/ops/metrics.py), in one Redis hash shared by every process that calls
# an upstream (web, workers): field "<upstream>|<endpoint>|<name>" → count; name is calls:<outcome>, retries,
# seconds (sum of durations) or le:<bucket> (cumulative histogram buckets).
METRICS_KEY_SUFFIX = "metrics:upstream-calls"
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def metrics_key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "proctordash")
    return f"{prefix}:{METRICS_KEY_SUFFIX}"


def outcome_of(record: CallRecord) -> str:
    if record.status == 429 or record.error == "UpstreamRateLimited":
        return "rate_limited"
    return "ok" if record.error is None else "error"


def _count(pipe, record: CallRecord) -> None:
    key = metrics_key()
    base = f"{record.upstream}|{record.endpoint}|"
    seconds = record.duration_ms / 1000
    pipe.hincrby(key, base + f"calls:{outcome_of(record)}", 1)
    if record.retries:
        pipe.hincrby(key, base + "retries", record.retries)
    pipe.hincrbyfloat(key, base + "seconds", seconds)
    for bound in DURATION_BUCKETS:
        if seconds <= bound:
            pipe.hincrby(key, base + f"le:{bound:g}", 1)


def record_call(record: CallRecord) -> None:
    """Store one record; never raises."""
    if not _available():
        return
    try:
        key = _key(record.upstream)
        now = record.at.timestamp()
        pipe = _redis(write=True).pipeline(transaction=False)
        _count(pipe, record)
        pipe.zadd(key, {record.to_json(): now})
        pipe.zremrangebyscore(key, "-inf", now - KEEP.total_seconds())
        pipe.zremrangebyrank(key, 0, -MAX_RECORDS - 1)
        pipe.expire(key, int(KEEP.total_seconds()) + 60)
        pipe.execute()
    except Exception as e:  # noqa: BLE001 - recording must never break the call it records
        _mark_down(e)


def calls_since(upstream: str, since: datetime) -> list[CallRecord]:
    """The recorded calls to `upstream` at or after `since` (aware), oldest first; [] when Redis is unavailable."""
    if not _available():
        return []
    try:
        raw = _redis(write=False).zrangebyscore(_key(upstream), since.timestamp(), "+inf")
    except Exception as e:  # noqa: BLE001
        _mark_down(e)
        return []
    records = []
    for item in raw:
        try:
            records.append(CallRecord.from_json(item))
        except (ValueError, TypeError, KeyError):
            continue  # a record written by another version: skip it rather than break the health page
    return records


def clear(upstream: str) -> None:
    """Forget the records of one upstream (tests, demo reset)."""
    try:
        _redis(write=True).delete(_key(upstream))
    except Exception as e:  # noqa: BLE001
        _mark_down(e)


class CallTimer:
    """Measures one call: `timer = CallTimer(upstream, endpoint)`, then `timer.finish(status=..., error=...)`."""

    def __init__(self, upstream: str, endpoint: str):
        self.upstream = upstream
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.at = datetime.now(timezone.utc)

    def finish(self, *, status: int | None, error: type[BaseException] | None, retries: int) -> CallRecord:
        record = CallRecord(
            upstream=self.upstream,
            endpoint=self.endpoint,
            status=status,
            error=error.__name__ if error is not None else None,
            duration_ms=round((time.perf_counter() - self.started) * 1000, 2),
            retries=retries,
            at=self.at,
        )
        record_call(record)
        # One line per call, carrying the request id of the page or task that made it (proctordash/core/logs.py).
        logger.log(logging.WARNING if record.error else logging.INFO,
                   "%s %s → %s in %.0f ms (%d retries)%s", record.upstream, record.endpoint,
                   record.status if record.status is not None else "no answer", record.duration_ms, record.retries,
                   f" {record.error}" if record.error else "",
                   extra={"upstream": record.upstream, "endpoint": record.endpoint, "status": record.status,
                          "error": record.error, "duration_ms": record.duration_ms, "retries": record.retries})
        return record
