"""Active drift detection: notice configurations changed outside ProctorDash (in the vendor's own screens) before
someone happens to open them.

A periodic task (`exams.tasks.check_drift_task`, beat entry `exams-check-drift` every DRIFT_CHECK_INTERVAL s) reads
the configurations of the exams that matter next:

- configurations whose exam opens within the next DRIFT_CHECK_DAYS days (from the cached copy), and
- configurations named by appointments dated within the next DRIFT_CHECK_DAYS days (students sit them then, even
  when the exam opened earlier),

least recently read first, within a bounded upstream budget per run (DRIFT_CHECK_MAX_CALLS calls and
DRIFT_CHECK_MAX_SECONDS seconds; a rate-limit pause or repeated failures end the run early), so successive runs
rotate through all of them. A difference from the cached copy — which ProctorDash keeps current after its own saves —
is a change made outside: it is recorded in the history with source "outside" (shown on the exam's configuration
page and on the exams index), and every such change is e-mailed to SUPPORT_EMAIL once, through the monitoring
alerts' channel (`ConfigurationChange.notified_at`, claimed by a conditional UPDATE).

One race is closed on purpose: a save made here lands upstream a moment before ProctorDash stores its own copy. A
difference is therefore only recorded after a short pause (DRIFT_CONFIRM_DELAY), and only if nobody stored a newer
copy meanwhile; a save in between is recognised as ours.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from proctordash.exams import fields as F_
from proctordash.exams import services
from proctordash.exams.models import BulkChangeItem, CachedConfiguration, ConfigurationChange
from proctordash.integrations.exceptions import UpstreamError, UpstreamNotFound, UpstreamRateLimited

log = logging.getLogger(__name__)

LOCK_KEY = "exams:drift:lock"
LAST_RUN_KEY = "exams:drift:last-run"
NOTIFY_WINDOW = timedelta(days=7)  # an outside change older than this when first seen is history, not news
REASON = "Noticed by ProctorDash's periodic check"


def _setting(name: str, default):
    return getattr(settings, name, default)


@dataclass(frozen=True)
class Candidate:
    course_sid: str
    exam_sid: str
    sid: str
    checked_at: datetime | None  # when ProctorDash last read (or saved) it; None: never
    opens_at: datetime | None


def drift_candidates(*, days: int, now: datetime | None = None) -> list[Candidate]:
    """The configurations to read, least recently read first (never read first), then soonest opening."""
    from proctordash.appointments.models import Appointment

    now = now or timezone.now()
    until = now + timedelta(days=days)
    found: dict[str, tuple[str, str]] = {}
    for sid, course_sid, exam_sid, opens in (CachedConfiguration.objects.values_list(
            "sid", "course_sid", "exam_sid", "raw__examOpenDate")):
        opens_at = F_.parse_date(opens)
        if opens_at is not None and now <= opens_at <= until:
            found[sid] = (course_sid, exam_sid)
    for course_sid, exam_sid, sid in (Appointment.objects.live()
                                      .filter(appointment_date__gte=now, appointment_date__lt=until)
                                      .exclude(configuration_sid="").exclude(exam_sid="").exclude(course_sid="")
                                      .order_by().values_list("course_sid", "exam_sid", "configuration_sid")
                                      .distinct()):
        found.setdefault(sid, (course_sid, exam_sid))
    cached = {sid: (fetched_at, F_.parse_date(opens)) for sid, fetched_at, opens in
              CachedConfiguration.objects.filter(sid__in=list(found)).values_list(
                  "sid", "fetched_at", "raw__examOpenDate")}
    out = [Candidate(course_sid, exam_sid, sid, *cached.get(sid, (None, None)))
           for sid, (course_sid, exam_sid) in found.items()]
    far = now + timedelta(days=3650)
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    out.sort(key=lambda c: (c.checked_at or epoch, c.opens_at or far, c.sid))
    return out


@dataclass
class DriftRun:
    started_at: str
    finished_at: str = ""
    candidates: int = 0
    read: int = 0
    failed: int = 0
    changed_outside: int = 0
    notified: int = 0
    stopped: str = ""  # why the run ended before reading every candidate ("" when it read them all)
    errors: list[str] = field(default_factory=list)  # the first few, in staff language

    def as_dict(self) -> dict:
        return asdict(self)


def _client():
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    # A bounded call: one quick retry, a read timeout of at most 10 s. The run's budget covers the rest.
    return SmarterProctoringClient.from_settings(
        retries=min(1, settings.UPSTREAM_RETRIES),
        timeout=(settings.UPSTREAM_CONNECT_TIMEOUT, min(10, settings.UPSTREAM_READ_TIMEOUT)))


def _paused_for() -> float:
    from proctordash.sync.engine import upstream_paused_for

    try:
        return float(upstream_paused_for("smarterproctoring"))
    except Exception:  # noqa: BLE001 - Redis down: no pause known
        return 0.0


def drift_check(*, days: int | None = None, max_calls: int | None = None, max_seconds: float | None = None,
                client=None, now: datetime | None = None, confirm_delay: float | None = None) -> DriftRun:
    """One run of the drift check (see the module doc). Returns what it did; also kept for the exams index."""
    days = days if days is not None else _setting("DRIFT_CHECK_DAYS", 14)
    max_calls = max_calls if max_calls is not None else _setting("DRIFT_CHECK_MAX_CALLS", 50)
    max_seconds = max_seconds if max_seconds is not None else _setting("DRIFT_CHECK_MAX_SECONDS", 60)
    confirm_delay = confirm_delay if confirm_delay is not None else _setting("DRIFT_CONFIRM_DELAY", 3)
    run = DriftRun(started_at=timezone.now().isoformat())
    lock_ttl = int(max_seconds + confirm_delay + 120)
    try:
        locked = cache.add(LOCK_KEY, run.started_at, lock_ttl)
    except Exception:  # noqa: BLE001 - Redis down: run anyway (a second run at once only reads twice)
        locked = True
    if not locked:
        run.stopped = "another drift check was still running"
        return run
    own_client = client is None
    client = client or _client()
    try:
        _run(run, days=days, max_calls=max_calls, max_seconds=max_seconds, client=client, now=now,
             confirm_delay=confirm_delay)
        run.notified = drift_notify()
    finally:
        if own_client:
            client.close()
        run.finished_at = timezone.now().isoformat()
        try:
            cache.delete(LOCK_KEY)
            cache.set(LAST_RUN_KEY, run.as_dict(), None)
        except Exception:  # noqa: BLE001
            log.warning("drift check: could not record the run in the cache", exc_info=True)
    log.info("drift check: %s of %s configurations read, %s failed, %s changed outside, %s notified%s",
             run.read, run.candidates, run.failed, run.changed_outside, run.notified,
             f" (stopped: {run.stopped})" if run.stopped else "")
    return run


def _run(run: DriftRun, *, days: int, max_calls: int, max_seconds: float, client, now, confirm_delay: float):
    started = time.monotonic()
    candidates = drift_candidates(days=days, now=now)
    run.candidates = len(candidates)
    busy = set(BulkChangeItem.objects.filter(status=BulkChangeItem.Status.SENDING)
               .values_list("configuration_sid", flat=True))  # a bulk job is saving these right now
    suspects: list[tuple[dict, Candidate, object, float]] = []
    calls = consecutive_failures = 0
    for candidate in candidates:
        if candidate.sid in busy:
            continue
        if calls >= max_calls:
            run.stopped = f"budget of {max_calls} calls used"
            break
        if time.monotonic() - started >= max_seconds:
            run.stopped = f"budget of {int(max_seconds)} s used"
            break
        if _paused_for() > 0:
            run.stopped = "SmarterProctoring asked to slow down (rate limited)"
            break
        before = CachedConfiguration.objects.filter(sid=candidate.sid).values_list("fetched_at", "values_hash").first()
        calls += 1
        try:
            config = client.get_configuration(course_sid=candidate.course_sid, exam_sid=candidate.exam_sid,
                                              configuration_sid=candidate.sid)
        except UpstreamRateLimited:
            run.failed += 1
            run.stopped = "SmarterProctoring asked to slow down (rate limited)"
            break
        except UpstreamNotFound:
            run.failed += 1
            _note(run, f"{candidate.sid}: SmarterProctoring does not know this configuration")
            continue
        except UpstreamError as e:
            run.failed += 1
            consecutive_failures += 1
            _note(run, f"{candidate.sid}: {services.upstream_message(e)}")
            if consecutive_failures >= 5:
                run.stopped = "SmarterProctoring failed five times in a row"
                break
            continue
        consecutive_failures = 0
        run.read += 1
        raw = dict(config.raw)
        raw.setdefault("sid", candidate.sid)
        if before is None:  # first read: nothing to compare with yet
            services.configuration_store(raw=raw, course_sid=candidate.course_sid, exam_sid=candidate.exam_sid,
                                         detect_drift=False)
            continue
        if F_.values_hash(F_.values_of(raw)) == before[1]:
            _store_if_unchanged(raw, candidate, before[0])  # fresh copy; it goes to the end of the rotation
            continue
        suspects.append((raw, candidate, before[0], time.monotonic()))
    for raw, candidate, fetched_at, seen in suspects:
        wait = confirm_delay - (time.monotonic() - seen)
        if wait > 0:
            time.sleep(wait)
        if _record_if_still_outside(raw, candidate, fetched_at):
            run.changed_outside += 1


def _store_if_unchanged(raw: dict, candidate: Candidate, fetched_at) -> None:
    """Refresh the cached copy with what was read, unless a newer copy was stored meanwhile (never go back)."""
    with transaction.atomic():
        current = CachedConfiguration.objects.select_for_update().filter(sid=candidate.sid).first()
        if current is not None and current.fetched_at == fetched_at:
            services.configuration_store(raw=raw, course_sid=candidate.course_sid, exam_sid=candidate.exam_sid,
                                         detect_drift=False)


def _record_if_still_outside(raw: dict, candidate: Candidate, fetched_at) -> bool:
    """Record the difference as an outside change, unless ProctorDash stored a copy since it was read (its own save
    landed in between: then the difference was ours, and a newer copy must not be overwritten by an older one)."""
    with transaction.atomic():
        current = CachedConfiguration.objects.select_for_update().filter(sid=candidate.sid).first()
        if current is None or current.fetched_at != fetched_at:
            return False
        change = services.configuration_store(raw=raw, course_sid=candidate.course_sid,
                                              exam_sid=candidate.exam_sid, detect_drift=True)
        if change is None:
            return False
        ConfigurationChange.objects.filter(pk=change.pk).update(reason=services.outside_reason(REASON, raw))
    return True


def _note(run: DriftRun, text: str) -> None:
    if len(run.errors) < 5:
        run.errors.append(text)


# --- notification --------------------------------------------------------------------------------------------------
def drift_notify(*, now: datetime | None = None, limit: int = 50) -> int:
    """E-mail support about every change made outside ProctorDash not notified yet (one e-mail listing them; each
    change is in exactly one e-mail). Claimed by a conditional UPDATE so two runs never send the same change; a
    failed send is un-claimed and tried again by the next run. Returns how many changes were notified."""
    from proctordash.exams.names import names_for
    from proctordash.monitoring.alerts import support_notify

    now = now or timezone.now()
    ids = list(ConfigurationChange.objects.filter(source=ConfigurationChange.Source.OUTSIDE, notified_at__isnull=True,
                                                  created_at__gte=now - NOTIFY_WINDOW)
               .order_by("created_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    claimed = ConfigurationChange.objects.filter(pk__in=ids, notified_at__isnull=True).update(notified_at=now)
    if not claimed:
        return 0
    changes = list(ConfigurationChange.objects.filter(pk__in=ids, notified_at=now).order_by("created_at"))
    names = names_for(course_sids={c.course_sid for c in changes}, exam_sids={c.exam_sid for c in changes},
                      enrollment_sids={c.enrollment_sid for c in changes})
    n = len(changes)
    subject = (f"[ProctorDash] {n} exam configuration{'s' if n != 1 else ''} changed outside ProctorDash")
    lines = [f"ProctorDash noticed {n} change{'s' if n != 1 else ''} made outside ProctorDash (for example in "
             "SmarterProctoring's own screens). Each is recorded in the change history (source: changed outside "
             "ProctorDash).", ""]
    from proctordash.core.timezones import dashboard_zone, format_in_zone

    for c in changes:
        exam = names.exam(c.exam_sid) or f"Exam {c.exam_sid}"
        course = names.course(c.course_sid) or f"course {c.course_sid}"
        learner = names.learners.get(c.enrollment_sid, "")
        lines.append(f"- {exam} — {course}" + (f" (per-student configuration: {learner})" if learner else
                                                " (per-student configuration)" if c.enrollment_sid else ""))
        lines.append(f"  noticed {format_in_zone(c.created_at, dashboard_zone())}; "
                     f"/courses/{c.course_sid}/exams/{c.exam_sid}/configurations/{c.configuration_sid}/")
        for d in c.diff[:12]:
            lines.append(f"  {d.get('label')}: {_short(d.get('old'))} → {_short(d.get('new'))}")
        if len(c.diff) > 12:
            lines.append(f"  … and {len(c.diff) - 12} more fields")
    lines += ["", "All of them: /exams/history/?source=outside"]
    try:
        support_notify(subject=subject, body="\n".join(lines) + "\n")
    except Exception:  # noqa: BLE001 - un-claim so the next run tries again rather than believing support was told
        ConfigurationChange.objects.filter(pk__in=ids, notified_at=now).update(notified_at=None)
        log.exception("drift check: could not send the e-mail about %s outside change(s)", n)
        return 0
    return n


def _short(value) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return (text[:117] + "…") if len(text) > 120 else (text or "(empty)")


# --- what the pages show -------------------------------------------------------------------------------------------
def drift_last_run() -> dict | None:
    try:
        return cache.get(LAST_RUN_KEY)
    except Exception:  # noqa: BLE001 - Redis down: the page says nothing about the check
        return None


def recent_outside_changes(*, exam_sids, since: datetime) -> dict[str, ConfigurationChange]:
    """exam SID → its latest change made outside ProctorDash since `since` (one query)."""
    latest: dict[str, ConfigurationChange] = {}
    for change in (ConfigurationChange.objects.filter(source=ConfigurationChange.Source.OUTSIDE,
                                                      exam_sid__in=list(exam_sids), created_at__gte=since)
                   .order_by("exam_sid", "-created_at").only("exam_sid", "course_sid", "configuration_sid",
                                                             "created_at", "diff")):
        latest.setdefault(change.exam_sid, change)
    return latest
