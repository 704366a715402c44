"""What a monitoring page must never show staff: an API path or an exception's class name (issue 14 item 5; the raw
text stays in SyncRun.error_summary, UpstreamState.last_error, the log and the admin)."""

from __future__ import annotations

import re

API_PATH = re.compile(r"/v\d+/|/api/")
# "UpstreamUnavailable", "UpstreamBadResponse", "SyncLockLost", "OperationalError", "SoftTimeLimitExceeded"
CLASS_NAME = re.compile(r"\b(?:Upstream[A-Z]\w*|Sync[A-Z][a-z]+[A-Z]\w*|[A-Z][a-z]+(?:[A-Z][a-z]*)*(?:Error|Exception|"
                        r"Exceeded))\b")
UTC_TIME = re.compile(r"\d\d:\d\d(?::\d\d)? UTC\b")


def technical_leaks(html: str) -> list[str]:
    """Every API path, exception class name and UTC clock time in the page (tags included: a title attribute is read
    out too)."""
    return API_PATH.findall(html) + CLASS_NAME.findall(html) + UTC_TIME.findall(html)
