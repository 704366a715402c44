"""Staff language for a failed refresh (issue 14 item 5): what happened, in words, never an exception class or an API
path. The full one-line summary (`engine.error_summary`: "UpstreamUnavailable: smarterproctoring GET /v1/… (HTTP 503):
…") stays in SyncRun.error_summary, UpstreamState.last_error and the log, where support staff look for it."""

from __future__ import annotations

import re

from django.conf import settings


def failure_sentence(summary: str, label: str) -> str:
    """One sentence (no final full stop) saying what went wrong with a refresh from upstream `label`
    ("SmarterProctoring"), from the stored summary. Unknown causes get a plain sentence that points to the log."""
    text = summary or ""
    kind = text.split(":", 1)[0].strip()
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
    if text.startswith("Worker lost"):
        return f"The {label} refresh stopped before it finished (the background worker went away)"
    if text.startswith("No worker picked"):
        return f"No background worker picked up the {label} refresh"
    if text.startswith("Not run"):
        return f"Another {label} refresh was already running"
    return f"The {label} refresh failed (the details are in the log)"
