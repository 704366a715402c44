"""Deliberately wrong ID tokens, for the dashboard's refusal tests: set through POST /_devidp/faults, applied to
every token issued until cleared. The provider is one process (threaded), so a module-level plan is shared."""

import threading
import time

_lock = threading.Lock()
_plan: dict = {}

KNOWN = {"aud", "iss", "expired", "nonce", "sub"}


def set_plan(plan: dict) -> dict:
    unknown = set(plan) - KNOWN
    if unknown:
        raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))} (known: {', '.join(sorted(KNOWN))})")
    with _lock:
        _plan.clear()
        _plan.update(plan)
        return dict(_plan)


def apply(claims: dict) -> dict:
    with _lock:
        plan = dict(_plan)
    if not plan:
        return claims
    claims = dict(claims)
    for key in ("aud", "iss", "nonce", "sub"):
        if key in plan:
            claims[key] = plan[key]
    if plan.get("expired"):
        now = int(time.time())
        claims["iat"] = now - 7200
        claims["exp"] = now - 3600
    return claims
