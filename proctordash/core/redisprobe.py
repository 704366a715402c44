"""A Redis probe with short timeouts, for pages that must say quickly that Redis is gone (/healthz, the health page,
the freshness line's "refreshes are paused")."""

from __future__ import annotations

import redis
from django.conf import settings

HEALTH_REDIS_TIMEOUT = 0.5  # seconds, connect and read: /healthz must answer fast when Redis is gone


def redis_probe_client() -> redis.Redis:
    """A fresh client on the Redis of the default cache (the same server as the broker), with short timeouts."""
    location = settings.CACHES["default"]["LOCATION"]
    if isinstance(location, (list, tuple)):
        location = location[0]
    return redis.Redis.from_url(location, socket_timeout=HEALTH_REDIS_TIMEOUT,
                                socket_connect_timeout=HEALTH_REDIS_TIMEOUT, retry_on_timeout=False)


def describe_redis_error(exc: BaseException) -> str:
    """A reason fit for an unauthenticated page: the kind of failure, never the URL (it may carry a password)."""
    if isinstance(exc, redis.TimeoutError):
        return f"Redis did not answer within {HEALTH_REDIS_TIMEOUT:g} s"
    if isinstance(exc, redis.AuthenticationError):
        return "Redis refused the credentials"
    if isinstance(exc, redis.ConnectionError):
        text = str(exc).lower()
        if "refused" in text or "no such file" in text or "not found" in text:
            return "Redis unreachable: connection refused"
        return "Redis unreachable: connection failed"
    if isinstance(exc, redis.ResponseError):
        return "Redis answered with an error (it may be full, read-only or misconfigured)"
    return "Redis could not be used"
