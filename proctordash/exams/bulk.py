"""Bulk change: one change applied to several exam configurations, each with its own preview and outcome, done by a
Celery job the page follows.

Built on the single-configuration services, not beside them: the preview reads with `configuration_get` (live, the
cached copy when the upstream is down) and each item is saved with `configuration_update`, so every guarantee of a
single save holds per item — the complete configuration is sent (full replacement, nothing the change does not
touch is lost), nothing is sent when the configuration changed upstream since the preview (conflict) or is locked,
a lost answer is recognised on retry, and history records each save (source "bulk", linked to the bulk change).

The request never calls the upstream: `bulk_start` records the change and one "queued" item per configuration
(names from the cache) and sends the job; `bulk_apply_request`, `bulk_retry_failed`, `bulk_item_rebase` and
`bulk_cancel` only mark items and send the job again. The database is the job's queue, so a task delivered twice,
late, or to a second worker does no harm:

- One worker at a time works on a bulk change: it takes the lease (`runner`, `heartbeat_at`) with a conditional
  UPDATE and a thread keeps the heartbeat fresh. A lease whose heartbeat is older than BULK_JOB_STALE_AFTER belonged
  to a worker that died (SIGKILL, OOM, deploy) and is taken over; the task is `acks_late`, and anyone looking at the
  page (or the periodic sweep, or a worker starting) sends it again.
- An item is claimed (pending/failed/confirm/cancelled → sending) by a conditional UPDATE before its save. An item
  left "sending" by a dead worker is resolved by the next holder without sending twice: if its history row exists
  it was saved; otherwise `configuration_update` re-reads the configuration, and if the upstream already holds
  exactly this edit (the dead worker's PUT landed) it records the save without sending it again. The new values are
  always computed from the values previewed (`base_values`), never from the current ones, so "extend by 2 days" can
  never become 4.

Guard rules per exam (issue 16 item 3): a locked configuration is skipped; an exam that is open now, or opens within
24 hours (now, or after the change), is skipped unless the user confirmed that exam (or all of them) — each shown on
its row.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from proctordash.core import taskqueue
from proctordash.core.timezones import to_utc_z
from proctordash.core.vocabulary import PERMITTED_ITEMS
from proctordash.exams import fields as F_
from proctordash.exams import services
from proctordash.exams.models import BulkChange, BulkChangeItem, CachedConfiguration, ConfigurationChange

log = logging.getLogger(__name__)

MAX_ITEMS = 500  # a job, not a request: bounded so one bulk change stays reviewable on one page
S = BulkChangeItem.Status
APPLIABLE = [S.PENDING, S.FAILED, S.CONFIRM, S.CANCELLED]


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "BULK_JOB_STALE_AFTER", 60))


# --- the change itself ---------------------------------------------------------------------------------------------
def change_describe(change: dict) -> str:
    kind = change.get("kind")
    if kind == "permit":
        label = F_.PERMITTED_LABELS.get(change.get("item"), change.get("item"))
        info = change.get("information") or ""
        return f"Allow {label.lower()}" + (f" (“{info[:80]}”)" if info else "")
    if kind == "extend_close":
        return f"Extend the exam close date by {change.get('days')} day{'s' if change.get('days') != 1 else ''}"
    if kind == "duration":
        return f"Set the duration to {change.get('minutes')} minutes"
    if kind == "attempts":
        return f"Set attempts allowed to {change.get('attempts')}"
    return "Unknown change"


def change_apply(values: dict[str, Any], change: dict) -> tuple[dict[str, Any] | None, str]:
    """(new values, "") with the change applied to a configuration's normalised values, or (None, reason) when the
    change cannot apply to it (e.g. no close date to extend). Pure: the preview and every retry compute the same."""
    new = dict(values)
    kind = change.get("kind")
    if kind == "permit":
        item = change.get("item")
        if item not in PERMITTED_ITEMS:
            return None, f"Unknown permitted item {item!r}."
        new[f"permitted{item}"] = True
        if change.get("information"):
            new[f"permitted{item}Information"] = change["information"]
    elif kind == "extend_close":
        closes = F_.parse_date(values.get("examCloseDate"))
        if closes is None:
            return None, "This configuration has no exam close date to extend."
        new["examCloseDate"] = to_utc_z(closes + timedelta(days=int(change["days"])))
    elif kind == "duration":
        new["duration"] = int(change["minutes"])
    elif kind == "attempts":
        new["attempts"] = int(change["attempts"])
    else:
        return None, "Unknown change."
    return new, ""


# --- guard rules (issue 16 item 3) ---------------------------------------------------------------------------------
def exam_guard(values: dict[str, Any], *, locked: bool = False, new_values: dict[str, Any] | None = None,
               now: datetime | None = None) -> str:
    """The guard that applies to changing this configuration now, by the configuration page's rules
    (`services.configuration_guard`, the one place they live): "locked", "open" (the exam window is open now, or the
    change opens it), "soon" (it opens within 24 hours, now or after the change) or ""."""
    now = now or timezone.now()
    guard = services.configuration_guard(raw={**values, "locked": locked}, new_values=new_values, now=now)
    if guard.locked:
        return BulkChangeItem.Guard.LOCKED
    if guard.open_now:
        return BulkChangeItem.Guard.OPEN
    if guard.opens_soon:
        return BulkChangeItem.Guard.SOON
    if guard.edit_opens_soon:
        opens = F_.parse_date((new_values or {}).get("examOpenDate"))
        return BulkChangeItem.Guard.OPEN if opens is not None and opens <= now else BulkChangeItem.Guard.SOON
    return BulkChangeItem.Guard.NONE


GUARD_MESSAGE = {
    "open": "The exam is open now: students may be taking it. Applying needs your confirmation for this exam.",
    "soon": "The exam opens within 24 hours: students may be preparing. Applying needs your confirmation for this "
            "exam.",
}


# --- what can be picked --------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    course_sid: str
    exam_sid: str
    sid: str
    exam_title: str
    kind: str  # "base" (known from a fetch) or "configuration" (seen on appointments, not fetched yet)
    offerings: set[str] = field(default_factory=set)
    course_title: str = ""
    label: str = ""  # the exam's title, told apart from a same-titled exam of the course


@dataclass
class CourseGroup:
    sid: str
    title: str  # the label a person reads (courses sharing a title are told apart by code or SID)
    offerings: dict[str, str]  # sid → title
    candidates: list[Candidate]
    code: str = ""


def bulk_candidates(*, user) -> list[CourseGroup]:
    """Base configurations the user may change, grouped by course: the fetched ones from the cache, and those the
    appointment cache names (per-student configurations, known from a fetch, are left out: accommodations are
    changed one by one on purpose)."""
    from proctordash.appointments.models import Appointment, CourseOffering, Exam
    from proctordash.exams.names import course_names

    found: dict[str, Candidate] = {}
    per_student = set(CachedConfiguration.objects.exclude(enrollment_sid="").values_list("sid", flat=True))
    for sid, course_sid, exam_sid in (CachedConfiguration.objects.for_user(user).filter(enrollment_sid="")
                                      .values_list("sid", "course_sid", "exam_sid")):
        found[sid] = Candidate(course_sid, exam_sid, sid, "", "base")
    # Configurations the appointments name but nobody opened yet: the base one is shared by several learners (a
    # per-student one belongs to one enrollment); an exam with a single learner offers its one configuration.
    named = list(Appointment.objects.for_user(user).exclude(configuration_sid="").exclude(exam_sid="").order_by()
                 .values_list("course_sid", "exam_sid", "configuration_sid")
                 .annotate(learners=Count("enrollment_sid", distinct=True))[:20000])
    exams_with_base = {c.exam_sid for c in found.values()}
    by_exam: dict[str, list] = {}
    for course_sid, exam_sid, sid, learners in named:
        if sid not in per_student and sid not in found:
            by_exam.setdefault(exam_sid, []).append((learners, sid, course_sid))
    for exam_sid, configs in by_exam.items():
        shared = [c for c in configs if c[0] >= 2]
        if not shared and exam_sid not in exams_with_base:
            shared = [max(configs)]
        for _, sid, course_sid in shared:
            found[sid] = Candidate(course_sid, exam_sid, sid, "", "configuration")
    for sid, offering_sid in (Appointment.objects.filter(configuration_sid__in=list(found))
                              .exclude(course_offering_sid="").order_by()
                              .values_list("configuration_sid", "course_offering_sid").distinct()):
        found[sid].offerings.add(offering_sid)
    titles = dict(Exam.objects.filter(sid__in={c.exam_sid for c in found.values()}).values_list("sid", "title"))
    courses = course_names({c.course_sid for c in found.values()})
    offering_titles = dict(CourseOffering.objects.filter(
        sid__in={o for c in found.values() for o in c.offerings}).values_list("sid", "title"))
    groups: dict[str, CourseGroup] = {}
    for c in found.values():
        c.exam_title = titles.get(c.exam_sid, "")
        course = courses.get(c.course_sid)
        c.course_title = course.label if course else ""
        group = groups.setdefault(c.course_sid, CourseGroup(c.course_sid, c.course_title, {}, [],
                                                            course.code if course else ""))
        group.candidates.append(c)
        for o in c.offerings:
            group.offerings[o] = offering_titles.get(o, "")
    for group in groups.values():
        group.candidates.sort(key=lambda c: (c.exam_title.lower() or "~", c.sid))
        seen: dict[str, int] = {}
        for c in group.candidates:
            seen[c.exam_title] = seen.get(c.exam_title, 0) + 1
        for c in group.candidates:
            c.label = c.exam_title or "Exam not in the cache yet"
            if seen[c.exam_title] > 1:  # two exams (or configurations) of one course with one title
                c.label += f" (…{c.sid[-6:]})"
    return sorted(groups.values(), key=lambda g: (g.title.lower() or "~", g.sid))


def targets_of(groups: list[CourseGroup], *, courses: list[str], offerings: list[str],
               configurations: list[str]) -> list[Candidate]:
    """The picked configurations: whole courses, whole offerings and single ones, each once, only among those the
    user may pick (a forged SID is simply not there)."""
    picked: dict[str, Candidate] = {}
    courses_, offerings_, configurations_ = set(courses), set(offerings), set(configurations)
    for group in groups:
        for c in group.candidates:
            if group.sid in courses_ or c.sid in configurations_ or c.offerings & offerings_:
                picked.setdefault(c.sid, c)
    return list(picked.values())


# --- requests (web): mark the work, send the job; never an upstream call -------------------------------------------
JOB_TASK = "proctordash.exams.tasks.run_bulk_change_task"


def _send_job(bulk_id: int) -> None:
    """Send the job's task by name (exams.tasks imports this module, not the other way round)."""
    taskqueue.send_task(JOB_TASK, args=[bulk_id])


def _new_round(bulk_id: int, added: int) -> None:
    """Count a round of work for the progress bar: a new round when the job had nothing else left, else the work
    added makes the running round longer."""
    left = BulkChangeItem.objects.filter(bulk_id=bulk_id).filter(
        Q(status__in=[S.QUEUED, S.PREVIEWING, S.SENDING]) | Q(wanted=True, status__in=APPLIABLE)).count()
    if left <= added:
        BulkChange.objects.filter(pk=bulk_id).update(round_total=left)
    else:
        BulkChange.objects.filter(pk=bulk_id).update(round_total=F("round_total") + added)


def _enqueue(bulk_id: int, added: int, *, send: bool = True) -> None:
    """Send the job after the transaction commits. A broker that is down does not fail the request: the job stays
    recorded and the page's poll (or the sweep) sends it again."""
    _new_round(bulk_id, added)
    if not send:
        return
    BulkChange.objects.filter(pk=bulk_id).update(enqueued_at=timezone.now())

    def send_task() -> None:
        try:
            _send_job(bulk_id)
        except Exception:  # noqa: BLE001 - broker down: recorded, resent by bulk_resume_stale
            log.warning("bulk change %s: could not send the job now; it will be resent", bulk_id, exc_info=True)
            BulkChange.objects.filter(pk=bulk_id).update(enqueued_at=None)

    transaction.on_commit(send_task)


def bulk_start(*, user, change: dict, targets: list[Candidate], reason: str = "", enqueue: bool = True) -> BulkChange:
    """Record the bulk change and one queued item per configuration (named from the cache), and send the preview
    job. Nothing is read from or sent to the upstream here."""
    with transaction.atomic():
        bulk = BulkChange.objects.create(user=user if getattr(user, "pk", None) else None, change=change,
                                         description=change_describe(change)[:500], reason=reason[:300])
        BulkChangeItem.objects.bulk_create([
            BulkChangeItem(bulk=bulk, course_sid=t.course_sid, exam_sid=t.exam_sid, configuration_sid=t.sid,
                           exam_title=t.exam_title[:500], course_title=t.course_title[:500], status=S.QUEUED)
            for t in targets])
        _enqueue(bulk.pk, len(targets), send=enqueue)
    return bulk


def bulk_apply_request(*, bulk: BulkChange, user, item_ids: set[int] | None = None,
                       confirm_ids: set[int] | frozenset = frozenset(), confirm_all: bool = False,
                       enqueue: bool = True) -> int:
    """Ask to apply the change to every previewed item not done yet (or only `item_ids`): they become `wanted`, with
    who asked and which guarded exams they confirmed. Returns how many were asked for."""
    now = timezone.now()
    with transaction.atomic():
        items = bulk.items.select_for_update().filter(status__in=APPLIABLE).exclude(base_hash="")
        if item_ids is not None:
            items = items.filter(pk__in=item_ids)
        count = 0
        for item in items:
            item.wanted = True
            item.requested_by = user if getattr(user, "pk", None) else None
            if item.needs_confirmation:
                item.confirmed = item.confirmed or confirm_all or item.pk in confirm_ids
            item.save(update_fields=["wanted", "requested_by", "confirmed", "updated_at"])
            count += 1
        if count:
            BulkChange.objects.filter(pk=bulk.pk, applied_at__isnull=True).update(applied_at=now)
            BulkChange.objects.filter(pk=bulk.pk).update(cancel_requested_at=None, cancelled_at=None,
                                                         cancelled_by=None)
            _enqueue(bulk.pk, count, send=enqueue)
    return count


def bulk_retry_failed(*, bulk: BulkChange, user, enqueue: bool = True) -> tuple[int, int]:
    """Retry the failed items: those previewed are applied again (a lost answer is recognised, never sent twice),
    those whose preview failed are previewed again (they then wait for the user's Apply). (applied, previewed)."""
    again = bulk_apply_request(bulk=bulk, user=user, item_ids=set(
        bulk.items.filter(status=S.FAILED).exclude(base_hash="").values_list("pk", flat=True)), enqueue=enqueue)
    preview = bulk.items.filter(status=S.FAILED, base_hash="").update(status=S.QUEUED, message="",
                                                                      updated_at=timezone.now())
    if preview:
        BulkChange.objects.filter(pk=bulk.pk).update(cancel_requested_at=None)
        _enqueue(bulk.pk, preview, send=enqueue and not again)
    return again, preview


def bulk_item_rebase(*, item: BulkChangeItem, enqueue: bool = True) -> bool:
    """A conflict (or an item whose preview failed or was cancelled): preview it again on the configuration as it is
    now. Nothing is sent; the user applies it after looking."""
    done = BulkChangeItem.objects.filter(pk=item.pk, status__in=[S.CONFLICT, S.FAILED, S.PENDING, S.CONFIRM,
                                                                 S.CANCELLED]).update(
        status=S.QUEUED, wanted=False, confirmed=False, updated_at=timezone.now())
    if done:
        BulkChange.objects.filter(pk=item.bulk_id).update(cancel_requested_at=None)
        _enqueue(item.bulk_id, 1, send=enqueue)
    return bool(done)


def bulk_cancel(*, bulk: BulkChange, user) -> None:
    """Stop the job: nothing not yet claimed is sent. The item being saved at this moment finishes (a configuration
    is replaced whole or not at all). When no worker holds the job, the cancel is carried out here at once."""
    now = timezone.now()
    BulkChange.objects.filter(pk=bulk.pk).update(cancel_requested_at=now,
                                                 cancelled_by=user if getattr(user, "pk", None) else None)
    token = "cancel:" + uuid.uuid4().hex
    if _lease_take(bulk.pk, token, now=now):
        try:
            _cancel_rest(bulk.pk, now=now)
        finally:
            _lease_release(bulk.pk, token)


def _cancel_rest(bulk_id: int, *, now) -> None:
    with transaction.atomic():
        BulkChangeItem.objects.filter(bulk_id=bulk_id, status__in=[S.QUEUED, S.PREVIEWING]).update(
            status=S.CANCELLED, message="Not previewed: the job was cancelled.", wanted=False, updated_at=now)
        BulkChangeItem.objects.filter(bulk_id=bulk_id, wanted=True, status=S.PENDING).update(
            status=S.CANCELLED, message="Not sent: the job was cancelled before this one.", wanted=False,
            updated_at=now)
        BulkChangeItem.objects.filter(bulk_id=bulk_id, wanted=True).exclude(status=S.SENDING).update(
            wanted=False, updated_at=now)
        BulkChange.objects.filter(pk=bulk_id).update(cancelled_at=now, cancel_requested_at=None)


# --- the job (worker) ----------------------------------------------------------------------------------------------
def _lease_take(bulk_id: int, token: str, *, now=None) -> bool:
    now = now or timezone.now()
    return bool(BulkChange.objects.filter(pk=bulk_id).filter(
        Q(runner="") | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - stale_after())
    ).update(runner=token, heartbeat_at=now))


def _lease_release(bulk_id: int, token: str) -> None:
    BulkChange.objects.filter(pk=bulk_id, runner=token).update(runner="", heartbeat_at=timezone.now())


def _lease_held(bulk_id: int, token: str) -> bool:
    return BulkChange.objects.filter(pk=bulk_id, runner=token).exists()


class _Heartbeat:
    """Keeps the lease's heartbeat fresh from a thread while the job works (an item may wait long on a slow upstream;
    a heartbeat that stops means the worker died)."""

    def __init__(self, bulk_id: int, token: str):
        self.bulk_id, self.token = bulk_id, token
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"bulk-{bulk_id}-heartbeat", daemon=True)

    def _run(self) -> None:
        interval = max(0.5, stale_after().total_seconds() / 4)
        try:
            while not self.stop_event.wait(interval):
                BulkChange.objects.filter(pk=self.bulk_id, runner=self.token).update(heartbeat_at=timezone.now())
        except Exception:  # noqa: BLE001 - a missed heartbeat only lets another worker take over later
            log.warning("bulk change %s: heartbeat failed", self.bulk_id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(10)


@dataclass
class RunResult:
    held: bool  # False: another worker holds the job (it does the work)
    previewed: int = 0
    applied: int = 0
    cancelled: bool = False
    lease_lost: bool = False


def _upstream_paused_for() -> float:
    """Seconds SmarterProctoring asked everyone to wait (a 429 seen by the sync), 0 when none."""
    from proctordash.sync.engine import upstream_paused_for

    try:
        return float(upstream_paused_for("smarterproctoring"))
    except Exception:  # noqa: BLE001 - Redis down: no pause known
        return 0.0


def bulk_run(*, bulk_id: int, client=None, max_pause: float = 30.0) -> RunResult:
    """Do the job's work: preview every queued item, then save every wanted item, one at a time, until none is left,
    the job is cancelled or the lease is lost. Safe to call twice at once or after a crash (see the module doc)."""
    token = uuid.uuid4().hex
    if not _lease_take(bulk_id, token):
        return RunResult(held=False)
    result = RunResult(held=True)
    own_client = client is None
    try:
        with _Heartbeat(bulk_id, token):
            client = client or services._client()
            # Left by a worker that died: a preview is simply redone; a save is resolved below (never sent twice).
            BulkChangeItem.objects.filter(bulk_id=bulk_id, status=S.PREVIEWING).update(status=S.QUEUED)
            BulkChangeItem.objects.filter(bulk_id=bulk_id, status=S.SENDING).update(wanted=True)
            while True:
                bulk = BulkChange.objects.get(pk=bulk_id)
                if bulk.runner != token:
                    result.lease_lost = True
                    log.warning("bulk change %s: lease lost, stopping", bulk_id)
                    break
                if bulk.cancel_requested_at is not None:
                    _cancel_rest(bulk_id, now=timezone.now())
                    result.cancelled = True
                    break
                paused = _upstream_paused_for()
                if paused > max_pause:
                    break  # the task is resent after the pause (run_bulk_change_task)
                if paused > 0:
                    threading.Event().wait(paused)
                item = (bulk.items.filter(status=S.QUEUED).order_by("pk").first()
                        or bulk.items.filter(status=S.SENDING).order_by("pk").first()
                        or bulk.items.filter(wanted=True, status__in=APPLIABLE).order_by("pk").first())
                if item is None:
                    break
                if item.status == S.QUEUED:
                    if _preview_item(item, bulk, client=client):
                        result.previewed += 1
                else:
                    if _apply_item(item, bulk, client=client):
                        result.applied += 1
    finally:
        _lease_release(bulk_id, token)
        if own_client and client is not None and hasattr(client, "close"):
            client.close()
    return result


def bulk_has_work(bulk_id: int) -> bool:
    return BulkChangeItem.objects.filter(bulk_id=bulk_id).filter(
        Q(status__in=[S.QUEUED, S.PREVIEWING, S.SENDING]) | Q(wanted=True, status__in=APPLIABLE)).exists()


def _preview_item(item: BulkChangeItem, bulk: BulkChange, *, client) -> bool:
    if not BulkChangeItem.objects.filter(pk=item.pk, status=S.QUEUED).update(status=S.PREVIEWING,
                                                                             updated_at=timezone.now()):
        return False
    item.refresh_from_db()
    try:
        _preview_into(item, bulk.change, client=client)
    except Exception as e:  # noqa: BLE001 - one item's surprise must not stop the others
        log.exception("bulk change %s item %s: preview failed", bulk.pk, item.pk)
        item.status, item.message = S.FAILED, f"The preview failed unexpectedly ({type(e).__name__}); retry it."
    item.save()
    return True


def _preview_into(item: BulkChangeItem, change: dict, *, client) -> None:
    item.message, item.diff, item.guard, item.confirmed, item.wanted = "", [], "", False, False
    item.base_values, item.base_hash = {}, ""
    try:
        loaded = services.configuration_get(course_sid=item.course_sid, exam_sid=item.exam_sid,
                                            configuration_sid=item.configuration_sid, client=client)
    except services.ConfigurationNotFound:
        item.status, item.message = S.FAILED, "SmarterProctoring does not know this configuration."
        return
    except services.ConfigurationUnavailable as e:
        item.status, item.message = S.FAILED, e.message + " No preview is possible yet; retry it later."
        return
    values = loaded.values
    item.base_values, item.base_hash, item.preview_live = values, F_.values_hash(values), loaded.live
    if not loaded.live:
        item.message = (f"Previewed from the copy fetched at {loaded.fetched_at:%Y-%m-%d %H:%M} UTC "
                        f"({loaded.error}) The save checks the live configuration first.")
    if loaded.raw.get("locked"):
        item.status, item.guard = S.LOCKED, BulkChangeItem.Guard.LOCKED
        item.message = "SmarterProctoring has locked this configuration; it will not be changed."
        return
    new, why = change_apply(values, change)
    if new is None:
        item.status, item.message = S.FAILED, why
        item.base_hash = ""  # nothing to apply: retrying means previewing again
        return
    item.diff = F_.diff_rows(values, new)
    if not item.diff:
        item.status, item.message = S.UNCHANGED, "Already so: nothing to change."
        return
    item.status = S.PENDING
    item.guard = exam_guard(values, new_values=new)
    if item.guard in GUARD_MESSAGE:
        item.message = (item.message + " " if item.message else "") + GUARD_MESSAGE[item.guard]


def _claim(item: BulkChangeItem, now) -> bool:
    """pending/failed/confirm/cancelled (asked for) → sending; a "sending" item is only here when its worker died
    (the lease is ours now), so it is taken as it is."""
    return bool(BulkChangeItem.objects.filter(pk=item.pk).filter(
        Q(wanted=True, status__in=APPLIABLE) | Q(status=S.SENDING)
    ).exclude(base_hash="").update(status=S.SENDING, attempts=F("attempts") + 1, updated_at=now))


OUTCOME_STATUS = {
    "saved": S.SAVED, "unchanged": S.UNCHANGED, "conflict": S.CONFLICT, "locked": S.LOCKED, "confirm": S.CONFIRM,
    "invalid": S.FAILED, "failed": S.FAILED,
}


def _bulk_reason(bulk: BulkChange) -> str:
    return (f"Bulk change #{bulk.pk}: {bulk.description}" + (f" — {bulk.reason}" if bulk.reason else ""))[:500]


def _apply_item(item: BulkChangeItem, bulk: BulkChange, *, client) -> bool:
    now = timezone.now()
    interrupted = item.status == S.SENDING
    if not _claim(item, now):
        if item.status == S.SENDING and not item.base_hash:  # cannot be applied: back to a preview
            BulkChangeItem.objects.filter(pk=item.pk).update(status=S.QUEUED, wanted=False)
        else:
            BulkChangeItem.objects.filter(pk=item.pk, wanted=True).update(wanted=False)
        return False
    item.refresh_from_db()
    if interrupted:
        item.attempts = max(item.attempts - 1, 1)  # the same attempt, resumed
        BulkChangeItem.objects.filter(pk=item.pk).update(attempts=item.attempts)
        recorded = ConfigurationChange.objects.filter(bulk=bulk, configuration_sid=item.configuration_sid).first()
        if recorded is None:  # the dead worker may have been stopped between the save and the link
            recorded = ConfigurationChange.objects.filter(
                configuration_sid=item.configuration_sid, reason__startswith=f"Bulk change #{bulk.pk}:").first()
            if recorded is not None:
                ConfigurationChange.objects.filter(pk=recorded.pk).update(bulk=bulk, source="bulk")
        if recorded is not None:
            _finish(item, S.SAVED, "Changed. (The worker that saved it stopped before it could say so.)",
                    changed_at=recorded.created_at)
            return True
    new, why = change_apply(item.base_values, bulk.change)
    if new is None:
        _finish(item, S.FAILED, why)
        return True
    guard = exam_guard(item.base_values, new_values=new, now=now)
    if guard in GUARD_MESSAGE and not item.confirmed:
        BulkChangeItem.objects.filter(pk=item.pk).update(guard=guard)
        _finish(item, S.CONFIRM, GUARD_MESSAGE[guard].replace("Applying needs",
                                                              "Not sent: applying needs"))
        return True
    try:
        outcome = services.configuration_update(
            user=item.requested_by, course_sid=item.course_sid, exam_sid=item.exam_sid,
            configuration_sid=item.configuration_sid, base_hash=item.base_hash, base_values=item.base_values,
            new_values=new, reason=_bulk_reason(bulk), confirmed=item.confirmed, client=client,
            source=ConfigurationChange.Source.BULK)
    except services.ConfigurationNotFound:
        _finish(item, S.FAILED, "SmarterProctoring does not know this configuration.")
        return True
    except Exception as e:  # noqa: BLE001 - one item's surprise must not leave it "sending" nor stop the rest
        log.exception("bulk change %s item %s failed", bulk.pk, item.pk)
        _finish(item, S.FAILED, f"Unexpected error ({type(e).__name__}); retry it: ProctorDash checks first and "
                                "never applies a change twice.")
        return True
    if outcome.change is not None:
        ConfigurationChange.objects.filter(pk=outcome.change.pk).update(bulk=bulk)
    message = outcome.message
    if outcome.field_errors:
        message += " " + "; ".join(f"{k}: {v}" for k, v in outcome.field_errors.items())
    status = OUTCOME_STATUS.get(outcome.kind, S.FAILED)
    _finish(item, status, message, changed_at=timezone.now() if status == S.SAVED else None)
    return True


def _finish(item: BulkChangeItem, status: str, message: str, *, changed_at=None) -> None:
    item.status, item.message, item.wanted = status, message[:1000], False
    fields = ["status", "message", "wanted", "updated_at"]
    if changed_at is not None:
        item.changed_at = changed_at
        fields.append("changed_at")
    item.save(update_fields=fields)


def bulk_resume_stale(*, bulk_id: int | None = None, now=None) -> list[int]:
    """Send the job again for bulk changes that have work but no live worker: a lease whose heartbeat stopped, or
    no lease and no task sent for a while (the broker was down, or the worker that had the task was killed).
    Called by the page's poll, the periodic sweep and a worker starting. Returns the ids sent."""
    now = now or timezone.now()
    limit = now - stale_after()
    qs = BulkChange.objects.filter(Q(runner="", enqueued_at__isnull=True) | Q(runner="", enqueued_at__lt=limit)
                                   | Q(heartbeat_at__lt=limit) & ~Q(runner=""))
    if bulk_id is not None:
        qs = qs.filter(pk=bulk_id)
    else:
        qs = qs.filter(created_at__gte=now - timedelta(days=7))
    sent = []
    for pk, enqueued_at in qs.values_list("pk", "enqueued_at")[:50]:
        if not bulk_has_work(pk):
            continue
        if BulkChange.objects.filter(pk=pk, enqueued_at=enqueued_at).update(enqueued_at=now):
            try:
                _send_job(pk)
            except Exception:  # noqa: BLE001 - broker down: try again next time
                log.warning("bulk change %s: could not resend the job", pk, exc_info=True)
                BulkChange.objects.filter(pk=pk).update(enqueued_at=enqueued_at)
                continue
            sent.append(pk)
    return sent


# --- progress (pages) ----------------------------------------------------------------------------------------------
@dataclass
class Progress:
    total: int
    states: dict[str, int]  # pending / changed / failed / skipped
    statuses: dict[str, int]
    queued: int  # waiting for a preview (or being previewed)
    wanted: int  # asked to apply, not tried yet (or being applied)
    running: bool  # a worker holds the job now
    waiting: bool  # work is left but no worker holds the job (queued behind others, or being resent)
    stalled: bool  # work is left and the worker holding it stopped giving signs of life
    round_total: int  # items in this round of work
    version: str  # changes whenever anything on the page would
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        return self.queued > 0 or self.wanted > 0

    @property
    def phase(self) -> str:
        return "preview" if self.queued else "apply" if self.wanted else "idle"

    @property
    def left(self) -> int:
        return self.queued + self.wanted

    @property
    def done(self) -> int:
        return max(self.round_total - self.left, 0)


def bulk_progress(bulk: BulkChange, *, now=None) -> Progress:
    """Counts by state and whether the job runs, in one query on the items (the page polls this every second)."""
    now = now or timezone.now()
    rows = list(bulk.items.order_by().values("status", "wanted").annotate(n=Count("id"), last=Max("updated_at")))
    statuses: dict[str, int] = {}
    states = {"pending": 0, "changed": 0, "failed": 0, "skipped": 0}
    queued = wanted = 0
    stamps = []
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + r["n"]
        states[BulkChangeItem.STATE.get(r["status"], "pending")] += r["n"]
        if r["status"] in (S.QUEUED, S.PREVIEWING):
            queued += r["n"]
        if r["status"] == S.SENDING or (r["wanted"] and r["status"] in APPLIABLE):
            wanted += r["n"]
        if r["last"]:
            stamps.append(r["last"].timestamp())
    active = queued > 0 or wanted > 0
    live = bool(bulk.runner) and bulk.heartbeat_at is not None and bulk.heartbeat_at >= now - stale_after()
    return Progress(
        total=sum(statuses.values()), states=states, statuses=statuses, queued=queued, wanted=wanted,
        running=live and active, waiting=active and not bulk.runner, stalled=active and bool(bulk.runner) and not live,
        round_total=max(bulk.round_total, queued + wanted),
        version=f"{queued}.{wanted}.{int(live)}.{max(stamps, default=0):.6f}.{len(rows)}."
                f"{int(bool(bulk.cancel_requested_at))}{int(bool(bulk.cancelled_at))}",
        cancel_requested=bulk.cancel_requested_at is not None)


def bulk_summary(bulk: BulkChange) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in bulk.items.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def bulk_recent_states(bulk_ids: list[int]) -> dict[int, dict[str, int]]:
    """bulk id → counts by state (pending, changed, failed, skipped) for a list of bulk changes, in one query."""
    out: dict[int, dict[str, int]] = {pk: {} for pk in bulk_ids}
    for bulk_id, status, n in (BulkChangeItem.objects.filter(bulk_id__in=bulk_ids).order_by()
                               .values_list("bulk_id", "status").annotate(n=Count("id"))):
        state = BulkChangeItem.STATE.get(status, "pending")
        out[bulk_id][state] = out[bulk_id].get(state, 0) + n
    return out
