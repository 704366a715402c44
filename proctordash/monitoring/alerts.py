"""Outage e-mails to SUPPORT_EMAIL: one when an upstream has been failing or its data stale for longer than
UPSTREAM_ALERT_AFTER, and one when it recovers.

`UpstreamState.alert_open_since` is the memory: it is set (by a conditional UPDATE, so two workers running the
check at once send one e-mail, not two) when the outage e-mail goes out, and cleared the same way on recovery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from proctordash.core.timezones import dashboard_zone, format_in_zone
from proctordash.sync.messages import failure_sentence
from proctordash.sync.models import SyncRun, Upstream, UpstreamState

log = logging.getLogger(__name__)


@dataclass
class Trouble:
    since: datetime
    reason: str
    detail: str = ""  # the stored technical error, for the administrator's eyes (never on a page)


def upstream_trouble(state: UpstreamState, *, now: datetime) -> Trouble | None:
    """Since when (and why) this upstream's data cannot be trusted, or None when it is healthy.

    Failing: the last error is newer than the last success; it started with the first failed run after the last
    success. Stale: the last success is older than DATA_STALE_AFTER; it started when that age was reached.
    """
    stale_after = timedelta(seconds=settings.DATA_STALE_AFTER)
    candidates: list[Trouble] = []
    failing = state.last_error_at is not None and (state.last_success_at is None
                                                   or state.last_error_at > state.last_success_at)
    if failing:
        first = SyncRun.objects.filter(upstream=state.upstream, outcome=SyncRun.Outcome.FAILED)
        if state.last_success_at is not None:
            first = first.filter(started_at__gt=state.last_success_at)
        first_run = first.order_by("started_at").values_list("started_at", flat=True).first()
        since = min(first_run, state.last_error_at) if first_run else state.last_error_at
        n = state.consecutive_failures
        label = Upstream(state.upstream).label if state.upstream in Upstream.values else state.upstream
        cause = failure_sentence(state.last_error, label)
        candidates.append(Trouble(since, f"refreshes are failing ({n} in a row); last error: {cause}"
                                  if n else f"the last refresh failed: {cause}", detail=state.last_error or ""))
    if state.last_success_at is not None and now - state.last_success_at > stale_after:
        candidates.append(Trouble(state.last_success_at + stale_after,
                                  f"no successful refresh since {format_in_zone(state.last_success_at, dashboard_zone())}"))
    if not candidates:
        return None
    return min(candidates, key=lambda t: t.since)


def _send(subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [settings.SUPPORT_EMAIL], fail_silently=False)


def support_notify(*, subject: str, body: str) -> None:
    """Send one e-mail to SUPPORT_EMAIL through the alert channel, for other parts' notices (e.g. exams' drift check).
    Raises when it cannot be sent: the caller keeps its claim only when this returns."""
    _send(subject, body)


def alerts_check(*, now: datetime | None = None) -> list[str]:
    """Send the outage and recovery e-mails that are due; returns what was sent (for logs and tests).

    Runs every MONITORING_ALERT_CHECK_INTERVAL seconds from Celery beat (alert_tasks.check_alerts_task).
    """
    now = now or timezone.now()
    after = timedelta(seconds=settings.UPSTREAM_ALERT_AFTER)
    sent = []
    for state in UpstreamState.objects.all():
        label = Upstream(state.upstream).label if state.upstream in Upstream.values else state.upstream
        trouble = upstream_trouble(state, now=now)
        if trouble is not None and state.alert_open_since is None and now - trouble.since >= after:
            claimed = UpstreamState.objects.filter(pk=state.pk, alert_open_since__isnull=True).update(
                alert_open_since=now)
            if claimed:
                try:
                    _send(
                        f"[ProctorDash] {label} data cannot be trusted",
                        f"{label}: {trouble.reason}.\n\n"
                        f"The trouble began around {format_in_zone(trouble.since, dashboard_zone())}. "
                        f"Pages show the last good data with a warning. See the health page for details.\n"
                        f"You will get one more e-mail when {label} recovers.\n"
                        + (f"\nTechnical detail for the administrator: {trouble.detail}\n" if trouble.detail else ""),
                    )
                except Exception:
                    # Unclaim so the next check tries again rather than believing support was told.
                    UpstreamState.objects.filter(pk=state.pk, alert_open_since=now).update(alert_open_since=None)
                    log.exception("could not send the %s outage e-mail", label)
                    continue
                sent.append(f"outage:{state.upstream}")
        elif trouble is None and state.alert_open_since is not None:
            opened = state.alert_open_since
            cleared = UpstreamState.objects.filter(pk=state.pk, alert_open_since=opened).update(alert_open_since=None)
            if cleared:
                try:
                    _send(
                        f"[ProctorDash] {label} recovered",
                        f"{label} refreshes succeed again (last success "
                        f"{format_in_zone(state.last_success_at, dashboard_zone())}).\n"
                        f"The outage e-mail went out at {format_in_zone(opened, dashboard_zone())}.\n",
                    )
                except Exception:
                    UpstreamState.objects.filter(pk=state.pk, alert_open_since__isnull=True).update(
                        alert_open_since=opened)
                    log.exception("could not send the %s recovery e-mail", label)
                    continue
                sent.append(f"recovery:{state.upstream}")
    return sent
