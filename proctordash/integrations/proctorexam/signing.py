"""ProctorExam v3 request signing (shared/upstream-api/README.md, proctorexam-list-student-sessions.txt).

Every request carries `timestamp` (ms), `nonce` (a number unique across the calls of the last 24 hours) and
`signature`: HMAC-SHA256, hex, keyed with the account's secret key, over all the other parameters as `name=value`,
sorted by name, joined with `?`, values not URL-encoded. The documented example: params `page=1, nonce=1527500365,
timestamp=1527500365052` sign the string `nonce=1527500365?page=1?timestamp=1527500365052`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings

from ..base import Secret


def signing_string(params: Mapping[str, Any]) -> str:
    """`name=value` pairs of every parameter except `signature`, sorted by name, joined with `?`, unencoded."""
    return "?".join(f"{name}={_text(value)}" for name, value in sorted(params.items()) if name != "signature")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def signature(params: Mapping[str, Any], secret_key: str | Secret) -> str:
    key = secret_key.reveal() if isinstance(secret_key, Secret) else secret_key
    return hmac.new(key.encode(), signing_string(params).encode(), hashlib.sha256).hexdigest()


def signed_params(params: Mapping[str, Any], *, secret_key: str | Secret, nonce: int,
                  timestamp_ms: int | None = None) -> dict[str, Any]:
    """`params` plus timestamp, nonce and signature, ready for the query string."""
    signed = {name: _text(value) for name, value in params.items()}
    signed["timestamp"] = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signed["nonce"] = str(nonce)
    signed["signature"] = signature(signed, secret_key)
    return signed


# --- nonces --------------------------------------------------------------------------------------------------------
# Why Redis INCR and not "timestamp + something per process": a nonce must never repeat within 24 hours across
# every worker process on every machine, and a per-process component derived from pid/host/random can collide (two
# containers both running pid 7; two random draws). All processes of a deployment already share one Redis (the
# Celery broker and cache), and one atomic script there makes collisions impossible by construction:
#
#   nonce = max(previous nonce + 1, now_ms * 1000)
#
# Each call returns a value strictly greater than every value returned before (INCR is atomic; the floor only
# ever raises it). The time floor keeps the guarantee through a lost or flushed Redis key: after a restart the
# counter starts again from the current time × 1000, above everything issued earlier (unless more than 1000
# nonces per millisecond were ever drawn, far beyond our call rate, or the clock went back by more than the gap).
# The values stay below 2**53 until the year 2255, so they survive even a JSON/float round trip upstream.
# Without Redis no nonce is issued: the call fails as UpstreamUnavailable instead of risking a reused nonce.
NONCE_KEY = "proctorexam:nonce"
_NONCE_SCRIPT = """
local floor = tonumber(ARGV[1])
local value = redis.call('INCR', KEYS[1])
if value < floor then
  redis.call('SET', KEYS[1], ARGV[1])
  value = floor
end
return value
"""


class NonceUnavailable(Exception):
    """No nonce could be drawn (Redis unreachable)."""


class NonceSource:
    """Draws nonces from Redis (the default cache's connection), see the comment above."""

    def __init__(self, redis_client_factory: Callable[[], Any] | None = None, *, clock: Callable[[], float] = time.time):
        self._factory = redis_client_factory or _default_redis
        self._clock = clock
        self._script = None

    def __call__(self) -> int:
        try:
            client = self._factory()
            if self._script is None:
                self._script = client.register_script(_NONCE_SCRIPT)
            floor = int(self._clock() * 1000) * 1000
            return int(self._script(keys=[_key()], args=[floor], client=client))
        except Exception as e:  # noqa: BLE001 - any Redis failure means "no nonce", never a guessed one
            raise NonceUnavailable(f"could not draw a nonce ({type(e).__name__})") from e


def _key() -> str:
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "proctordash")
    return f"{prefix}:{NONCE_KEY}"


def _default_redis():
    from django.core.cache import caches

    return caches["default"]._cache.get_client(None, write=True)
