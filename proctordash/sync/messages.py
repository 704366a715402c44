"""Staff language for a failed refresh (issue 14 item 5): what happened, in words, never an exception class or an API
path. The full one-line summary (`engine.error_summary`: "UpstreamUnavailable: smarterproctoring GET /v1/… (HTTP 503):
…") stays in SyncRun.error_summary, UpstreamState.last_error and the log, where support staff look for it.

Every text about a refresh that reaches a page goes through here: a run's error (run_problem), an upstream's last error
(failure_sentence) and the first malformed record a pass left out (skipped_record_sentence). Times inside a stored
text (the sweep writes "last sign of life … UTC") are said in the dashboard's zone."""

from __future__ import annotations

import re
from datetime import datetime, timezone as dt_timezone

from django.conf import settings

from proctordash.core.timezones import dashboard_zone, format_in_zone

_EXCEPTION = re.compile(r"^(Upstream[A-Za-z]*|SyncPaused|SyncLockLost)(?::|$)")
_SIGN_OF_LIFE = re.compile(r"last sign of life (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC")
_TIME_LIMIT = re.compile(r"time limit of ([0-9.]+ (?:s|min))")


def _strip_kind(text: str) -> str:
    """The summary without the run kind UpstreamState.last_error starts with ("Appointments (full): Stopped: …")."""
    from proctordash.sync.models import SyncRun

    for label in SyncRun.Kind.labels:
        if text.startswith(f"{label}: "):
            return text[len(label) + 2:]
    return text


def _local_time(text: str) -> str:
    """" (last sign of life 14 Jan 09:04:05 CST)" from the UTC time the sweep wrote into `text`, or ""."""
    found = _SIGN_OF_LIFE.search(text)
    if not found:
        return ""
    try:
        at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt_timezone.utc)
    except ValueError:
        return ""
    return f"; last sign of life {format_in_zone(at, dashboard_zone(), '%d %b %H:%M:%S')}"


def failure_sentence(summary: str, label: str) -> str:
    """One sentence (no final full stop) saying what went wrong with a refresh from upstream `label`
    ("SmarterProctoring"), from the stored summary. Unknown causes get a plain sentence that points to the log."""
    text = _strip_kind((summary or "").strip())
    found = _EXCEPTION.match(text)
    kind = found.group(1) if found else ""
    lowered = text.lower()
    if kind == "UpstreamUnavailable":
        if "timed out" in lowered or "timeout" in lowered:
            return f"{label} did not answer in {settings.UPSTREAM_READ_TIMEOUT} s"
        status = re.search(r"\(HTTP (5\d\d)\)", text)
        if status:
            return f"{label} had a fault on its side (it answered with error {status.group(1)})"
        return f"{label} could not be reached"
    if kind in ("UpstreamRateLimited", "SyncPaused"):
        return f"{label} asked the dashboard to slow down; the refresh waits and tries again"
    if kind == "UpstreamAuthError":
        return f"{label} refused the dashboard's credentials; an administrator needs to check the API settings"
    if kind == "UpstreamBadResponse":
        return f"{label} sent an answer the dashboard could not read"
    if kind == "UpstreamNotFound":
        return f"{label} does not know a record the dashboard asked for"
    if kind == "UpstreamValidationError":
        return f"{label} refused the dashboard's request"
    if kind == "SyncLockLost":
        return (f"The {label} refresh stopped early because another refresh took over its turn; the pages it wrote "
                f"are kept")
    if kind:  # another upstream failure
        return f"{label} answered with an error (the details are in the log)"
    if text.startswith("Worker lost"):
        return (f"The {label} refresh stopped before it finished (the background worker went away"
                f"{_local_time(text)}); the pages it wrote are kept")
    if text.startswith("No worker picked"):
        return f"No background worker picked up the {label} refresh"
    if text.startswith("Not run"):
        return f"Another {label} refresh was already running"
    if text.startswith("Stopped:"):
        limit = _TIME_LIMIT.search(text)
        return (f"The {label} refresh ran past its time limit{f' of {limit.group(1)}' if limit else ''} and was "
                f"stopped; the pages it wrote are kept and the next refresh goes on")
    return f"The {label} refresh failed (the details are in the log)"


def run_problem(run) -> str:
    """failure_sentence for a SyncRun: "" when it has no error to tell."""
    from proctordash.sync.models import Upstream

    if run is None or not run.error_summary:
        return ""
    label = Upstream(run.upstream).label if run.upstream in Upstream.values else "upstream"
    return failure_sentence(run.error_summary, label)


# The record classes the clients parse (integrations/*/schemas.py), in words.
_RECORD_WORDS = {
    "Appointment": "appointment", "ExamSession": "exam session", "ExamConfiguration": "exam configuration",
    "CreatedExam": "created exam", "ProctorExamExam": "ProctorExam exam", "StudentSession": "student session",
    "Incident": "incident",
}
_MALFORMED = re.compile(r"^malformed (\w+): (.+)$", re.S)
_NOT_AN_OBJECT = re.compile(r"^expected a JSON object for (\w+)")
_NO_KEY = "(a record without an identity)"


def skipped_record_sentence(first_error: str) -> str:
    """The first malformed record a pass left out (RunContext.skipped: "<key>: malformed Appointment: a, b.c", or
    "(a record without an identity): …"), in words: "an appointment without a usable ID (unreadable field: sid)"."""
    text = (first_error or "").strip()
    if not text:
        return ""
    key, _, message = text.partition(": ")
    if not message:
        return "a record the dashboard could not read (the details are in the log)"
    malformed = _MALFORMED.match(message)
    not_object = _NOT_AN_OBJECT.match(message)
    name = (malformed or not_object).group(1) if (malformed or not_object) else ""
    noun = _RECORD_WORDS.get(name, "record")
    if key == _NO_KEY:
        who = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun} without a usable ID"
    else:
        who = f"{noun} {key}"
    if malformed:
        fields = [f.strip() for f in malformed.group(2).split(",") if f.strip()]
        if fields == ["(record)"]:
            return f"{who} (not readable as a whole)"
        fields = [f for f in fields if f != "(record)"]
        return f"{who} (unreadable field{'s' if len(fields) != 1 else ''}: {', '.join(fields)})"
    if not_object:
        return f"{who} (not a record at all)"
    return f"{who} (could not be read; the details are in the log)"
