"""Fault injection: a plan, per endpoint, of what goes wrong and how often, deterministic under a seed.

The plan is the JSON body of `POST /_sandbox/faults` (or `runsandbox --faults`), documented in docs/architecture.md:

    {"seed": 7, "appointments": {"error_rate": 0.5}, "proctorexam": {"latency": 0.2}, "*": {"truncated": 0.1}}

Keys are endpoint names, group names or "*"; the most specific key wins (endpoint, then group, then "*").
Each request to an endpoint draws one number from that endpoint's own `random.Random` (seeded from the plan's seed
and the endpoint's name), so the same sequence of requests meets the same faults in every run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

SP_ENDPOINTS = ["appointments", "sessions", "configuration", "configuration_update", "create_exam"]
PE_ENDPOINTS = ["pe_exams", "pe_student_sessions"]
ENDPOINTS = SP_ENDPOINTS + PE_ENDPOINTS
GROUPS = {"*": ENDPOINTS, "smarterproctoring": SP_ENDPOINTS, "proctorexam": PE_ENDPOINTS}

# The outcome kinds in the order their shares are stacked on the one draw per request.
KINDS = ["expired_token", "rate_limit", "error_rate", "hang", "malformed", "truncated"]
SHARES = KINDS + ["missing_fields"]
DEFAULT_MISSING = {
    "appointments": ["sid", "status"], "sessions": ["sid", "status"], "configuration": ["sid", "editDate"],
    "configuration_update": ["sid", "editDate"], "create_exam": ["sid"], "pe_exams": ["id", "status"],
    "pe_student_sessions": ["id", "status"],
}
SPEC_KEYS = set(SHARES) | {"latency", "latency_jitter", "error_statuses", "retry_after", "hang_seconds",
                           "missing_field_names", "times", "after"}


class FaultSpecError(ValueError):
    """The plan is not valid; the message names the offending key."""


@dataclass
class Decision:
    """What happens to one request."""

    kind: str | None = None  # one of KINDS or None
    latency: float = 0.0
    status: int = 200
    retry_after: int = 1
    hang_seconds: float = 35.0
    missing_share: float = 0.0
    missing_names: list = field(default_factory=list)
    rng: random.Random | None = None  # draws for missing_fields, per record


def _share(where: str, value) -> float:
    if value is True:
        return 1.0
    if value is False or value is None:
        return 0.0
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise FaultSpecError(f"{where} must be a share between 0 and 1 (or true/false)")
    return float(value)


def _number(where: str, value, *, minimum: float = 0.0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise FaultSpecError(f"{where} must be a number >= {minimum:g}")
    if integer and int(value) != value:
        raise FaultSpecError(f"{where} must be a whole number")
    return int(value) if integer else float(value)


def validate(plan) -> dict:
    """Check a plan and return it normalised (shares as floats, defaults filled in)."""
    if not isinstance(plan, dict):
        raise FaultSpecError("the fault plan must be a JSON object")
    out: dict = {"seed": 0, "rules": {}}
    for key, spec in plan.items():
        if key == "seed":
            out["seed"] = _number("seed", spec, integer=True)
            continue
        if key not in ENDPOINTS and key not in GROUPS:
            raise FaultSpecError(f"unknown endpoint {key!r}; use one of {', '.join(ENDPOINTS + list(GROUPS))}")
        if not isinstance(spec, dict):
            raise FaultSpecError(f"{key} must be an object of fault settings")
        unknown = set(spec) - SPEC_KEYS
        if unknown:
            raise FaultSpecError(f"{key}.{sorted(unknown)[0]} is not a fault setting; use {', '.join(sorted(SPEC_KEYS))}")
        rule = {name: _share(f"{key}.{name}", spec.get(name)) for name in SHARES}
        if sum(rule[k] for k in KINDS) > 1 + 1e-9:
            raise FaultSpecError(f"{key}: the shares of {', '.join(KINDS)} add up to more than 1")
        rule["latency"] = _number(f"{key}.latency", spec.get("latency", 0))
        rule["latency_jitter"] = _number(f"{key}.latency_jitter", spec.get("latency_jitter", 0))
        rule["retry_after"] = _number(f"{key}.retry_after", spec.get("retry_after", 1), integer=True)
        rule["hang_seconds"] = _number(f"{key}.hang_seconds", spec.get("hang_seconds", 35), minimum=0.001)
        statuses = spec.get("error_statuses", [500, 502, 503])
        if (not isinstance(statuses, list) or not statuses
                or not all(isinstance(s, int) and not isinstance(s, bool) and 500 <= s <= 599 for s in statuses)):
            raise FaultSpecError(f"{key}.error_statuses must be a non-empty list of 5xx status codes")
        rule["error_statuses"] = statuses
        names = spec.get("missing_field_names")
        if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
            raise FaultSpecError(f"{key}.missing_field_names must be a list of field names")
        rule["missing_field_names"] = names
        times = spec.get("times")
        rule["times"] = None if times is None else _number(f"{key}.times", times, minimum=1, integer=True)
        # the first `after` requests the rule covers pass untouched (a fault mid-pass: "page 6 onwards fails")
        rule["after"] = _number(f"{key}.after", spec.get("after", 0), integer=True)
        out["rules"][key] = rule
    return out


class FaultPlan:
    """The plan in force; `decide(endpoint)` is called once per request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.set({})

    def set(self, plan) -> dict:
        normalised = validate(plan)
        with self.lock:
            self.plan = plan if isinstance(plan, dict) else {}
            self.seed = normalised["seed"]
            self.rules = normalised["rules"]
            self.remaining = {key: rule["times"] for key, rule in self.rules.items()}
            self.untouched = {key: rule["after"] for key, rule in self.rules.items()}
            self.rngs: dict[str, random.Random] = {}
            self.counter = 0
        return normalised

    def _rule_key(self, endpoint: str) -> str | None:
        if endpoint in self.rules:
            return endpoint
        group = "smarterproctoring" if endpoint in SP_ENDPOINTS else "proctorexam"
        if group in self.rules:
            return group
        return "*" if "*" in self.rules else None

    def decide(self, endpoint: str) -> Decision:
        with self.lock:
            key = self._rule_key(endpoint)
            if key is None:
                return Decision()
            if self.untouched.get(key):
                self.untouched[key] -= 1
                return Decision()
            remaining = self.remaining.get(key)
            if remaining is not None:
                if remaining <= 0:
                    return Decision()
                self.remaining[key] = remaining - 1
            rule = self.rules[key]
            rng = self.rngs.get(endpoint)
            if rng is None:
                rng = self.rngs[endpoint] = random.Random(f"{self.seed}:{endpoint}")
            draw = rng.random()
            jitter = rng.random()
            status_pick = rng.random()
            record_seed = rng.getrandbits(64)
        decision = Decision(
            latency=rule["latency"] + rule["latency_jitter"] * jitter,
            retry_after=rule["retry_after"],
            hang_seconds=rule["hang_seconds"],
            missing_share=rule["missing_fields"],
            missing_names=rule["missing_field_names"] or DEFAULT_MISSING[endpoint],
            rng=random.Random(record_seed) if rule["missing_fields"] else None,
        )
        edge = 0.0
        for kind in KINDS:
            edge += rule[kind]
            if draw < edge:
                decision.kind = kind
                break
        if decision.kind == "error_rate":
            statuses = rule["error_statuses"]
            decision.status = statuses[min(int(status_pick * len(statuses)), len(statuses) - 1)]
        return decision

    def describe(self) -> dict:
        with self.lock:
            return {"plan": self.plan, "remaining": {k: v for k, v in self.remaining.items() if v is not None}}
